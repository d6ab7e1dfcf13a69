/** `strongbox capture replay [--max N] [--dry-run]`: capture's failure queue, run again. */
import type { Command } from 'commander';
import { replayCaptureFailures } from '#domain/capture-replay.ts';
import { deployedCaptureReplay, formatCaptureReplay, localCaptureReplay } from '../capture-replay.ts';
import { type CliContext, positiveInteger, readStackFile } from './context.ts';

export function registerCapture(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('capture')
    .description("capture's failures: S3 events capture failed after Lambda's retries")
    .command('replay')
    .description(
      "run capture again on each event in capture's failure queue; delete each once capture succeeded (failures stay queued)",
    )
    .option('--max <n>', 'replay at most this many events', positiveInteger)
    .option('--dry-run', 'list the failed events and change nothing', false)
    .action(async (opts: { max?: number; dryRun: boolean }) => {
      const deployed = deployment();
      const deps = deployed
        ? await deployedCaptureReplay(deployed)
        : await localCaptureReplay((await readStackFile(dataDir())).env.capture);
      const report = await replayCaptureFailures(deps, {
        dryRun: opts.dryRun,
        ...(opts.max === undefined ? {} : { max: opts.max }),
      });
      for (const line of formatCaptureReplay(report)) console.log(line);
      if (report.failed > 0) process.exitCode = 1;
    });
}
