/** `strongbox drill PLAN`: a restore drill now (its results show in `strongbox status`). */
import type { Command } from 'commander';
import { startDrillNow } from '#domain/scheduling.ts';
import { type CliContext, connect } from './context.ts';

export function registerDrill(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('drill <plan>')
    .description(
      'enqueue a restore drill of a plan now: a sample of a recent snapshot restored to scratch, checked, timed, deleted',
    )
    .action(async (planId: string) => {
      const c = await connect(dataDir(), deployment());
      const drill = await startDrillNow(c.pipeline, planId);
      console.log(`enqueued: drill ${drill.drillId} of plan ${planId} (see 'strongbox status ${planId}')`);
    });
}
