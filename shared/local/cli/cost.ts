/** `strongbox cost [PLAN] [--price CLASS=USD]... [--json]`. */
import type { Command } from 'commander';
import { costReport, gatherCostInputs } from '#domain/cost.ts';
import { formatCostReport, parsePrice } from '../reports.ts';
import { type CliContext, connect } from './context.ts';

export function registerCost(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('cost [plan]')
    .description(
      'estimate what each plan stores per region: logical, unique and stored bytes, dedup and compression, USD/month by storage class',
    )
    .option(
      '--price <class=usd>',
      'USD per GB-month of a storage class (repeatable), e.g. GLACIER_IR=0.004',
      (v: string, previous: Record<string, number> = {}) => {
        const [name, price] = parsePrice(v);
        return { ...previous, [name]: price };
      },
    )
    .option('--json', 'print the report as JSON')
    .action(async (planId: string | undefined, opts: { price?: Record<string, number>; json?: boolean }) => {
      const c = await connect(dataDir(), deployment());
      const report = costReport(await gatherCostInputs(c.pipeline, planId), {
        ...(opts.price ? { prices: opts.price } : {}),
      });
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatCostReport(report));
    });
}
