/** `strongbox repair catalog [--dry-run]`: snapshot records rebuilt from the vaults' manifest roots. */
import type { Command } from 'commander';
import { describeCatalogRepair, repairCatalog } from '#domain/repair.ts';
import { type CliContext, connect } from './context.ts';

export function registerRepair(program: Command, { dataDir, deployment }: CliContext): void {
  const repair = program.command('repair').description('rebuild catalog state from the vaults');
  repair
    .command('catalog')
    .description(
      'recreate the records of snapshots whose manifest roots the vaults hold but the catalog lost (e.g. after a restore of the state table to an earlier point); records it knows are left alone',
    )
    .option('--dry-run', 'print what it would recreate and change nothing', false)
    .action(async (opts: { dryRun: boolean }) => {
      const c = await connect(dataDir(), deployment());
      for (const line of describeCatalogRepair(await repairCatalog(c.pipeline, { dryRun: opts.dryRun })))
        console.log(line);
    });
}
