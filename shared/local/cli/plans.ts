/** `strongbox plans apply FILE` and `strongbox plans list`. */

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import YAML from 'yaml';
import { applyPlans } from '#domain/apply-plans.ts';
import { sourceUriOf } from '#domain/plan.ts';
import { formatTable } from '../format.ts';
import { type CliContext, connect } from './context.ts';

export function registerPlans(program: Command, { dataDir, deployment }: CliContext): void {
  const plans = program.command('plans').description('manage backup plans');
  plans
    .command('apply <file>')
    .description(
      'validate a YAML plans file and store every plan in it (nothing is written if any is invalid)',
    )
    .action(async (file: string) => {
      const c = await connect(dataDir(), deployment());
      const doc = YAML.parse(await readFile(file, 'utf8')) as unknown;
      const applied = await applyPlans(c.pipeline, doc, [...c.config.copyVaults.keys()], {
        drillBucket: c.config.drillBucket,
      });
      console.log(`applied ${applied.length} plan(s): ${applied.map((p) => p.id).join(', ')}`);
    });
  plans
    .command('list')
    .description('list plans')
    .action(async () => {
      const c = await connect(dataDir(), deployment());
      const all = await c.pipeline.catalog.listPlans();
      console.log(
        formatTable(
          ['plan', 'source', 'schedule', 'retention', 'copies'],
          all.map((p) => [
            p.id,
            sourceUriOf(p.source),
            p.schedule,
            JSON.stringify(p.retention),
            p.copyRegions.join(',') || '-',
          ]),
        ),
      );
    });
}
