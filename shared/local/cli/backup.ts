/** `strongbox backup PLAN [--tag T]... [--retry SNAPSHOT | --abandon SNAPSHOT]`. */
import type { Command } from 'commander';
import { abandonSnapshot } from '#domain/retry.ts';
import { retrySnapshot, startSnapshotNow } from '#domain/scheduling.ts';
import { type CliContext, collect, connect } from './context.ts';

export function registerBackup(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('backup <plan>')
    .description('start an on-demand snapshot of a plan now')
    .option(
      '--retry <snapshotId>',
      'retry a failed snapshot (or a RUNNING one whose tasks are all silent, their workers dead) instead: only its partitions that did not finish run again',
    )
    .option(
      '--abandon <snapshotId>',
      'abandon a failed snapshot instead: it is never retried, and garbage collection deletes what only it wrote',
    )
    .option('--tag <tag>', 'tag the snapshot, for the keepTag retention rule (repeatable)', collect)
    .action(async (planId: string, opts: { retry?: string; abandon?: string; tag?: string[] }) => {
      const c = await connect(dataDir(), deployment());
      if (opts.abandon) {
        const abandoned = await abandonSnapshot(c.pipeline, planId, opts.abandon);
        console.log(
          `abandoned: snapshot ${abandoned.snapshotId} of plan ${planId} (at ${abandoned.abandonedAt}); the next garbage collections delete what only it wrote`,
        );
        return;
      }
      if (opts.retry) {
        const job = await retrySnapshot(c.pipeline, planId, opts.retry, {
          staleSeconds: c.config.reaper.staleSeconds,
        });
        console.log(
          `retrying: snapshot ${job.snapshotId} of plan ${planId} (see 'strongbox status ${planId}')`,
        );
        return;
      }
      const job = await startSnapshotNow(c.pipeline, planId, { tags: opts.tag ?? [] });
      if (!job.created) {
        // On-demand ids are to the millisecond: only a request in the same millisecond lands here.
        console.log(
          `already started: snapshot ${job.snapshotId} of plan ${planId} was started in this same millisecond, and this request is that snapshot${opts.tag?.length ? ` (its tags are left as they were: ${opts.tag.join(', ')} not added)` : ''}; see 'strongbox status ${planId}'`,
        );
        return;
      }
      console.log(
        `started: snapshot ${job.snapshotId} of plan ${planId}${opts.tag?.length ? ` tagged ${opts.tag.join(', ')}` : ''}`,
      );
    });
}
