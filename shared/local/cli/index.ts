/**
 * `strongbox`: the command line for the embedded stack (and, through the same use cases, for a
 * deployment). `npm start` runs `strongbox start`; other commands talk to the running stack.
 *
 *   strongbox start [--data-dir DIR]              start the embedded stack and keep it running (and the
 *                                                 web console: --console-port N, --no-console)
 *   strongbox console [--port N]                  the web console on 127.0.0.1 (with --stage: a deployed stage)
 *   strongbox plans apply FILE                    validate and store plans (YAML)
 *   strongbox plans list
 *   strongbox backup PLAN [--tag T]...            start an on-demand snapshot (tagged, for keepTag)
 *   strongbox forget PLAN [--dry-run]             what retention keeps and forgets; enqueue a prune
 *   strongbox hold PLAN SNAPSHOT [--reason R]     place a legal hold: retention never forgets it
 *   strongbox release PLAN SNAPSHOT               clear a legal hold
 *   strongbox quarantine PLAN --reason R [--since T]  an attack: hold the clean snapshot, pause forget and GC
 *   strongbox release PLAN                        lift a plan's quarantine
 *   strongbox clean-point PLAN [PREFIX]           per prefix, the moment before the attack touched it
 *   strongbox drill PLAN                          enqueue a restore drill of a plan now
 *   strongbox status [PLAN]                       plans, snapshots, jobs and their tasks
 *   strongbox restore --plan P [--target-bucket B] restore a snapshot, whole or in part (see --help);
 *                                                 a large one runs as a restore job it follows
 *   strongbox restore-status [JOB]                recent restore jobs, or follow one (= restore --attach JOB)
 *   strongbox versions PLAN KEY                   the versions of one object: snapshots and journaled
 *                                                 captures (restore --key K --point-in-time T)
 *   strongbox ls PLAN[@SNAPSHOT|@TIME] [PREFIX]   the objects of a snapshot or of any point in time (--json)
 *   strongbox diff PLAN A B [--prefix P]          keys added, removed and modified from A to B (--json)
 *   strongbox find PLAN PATTERN [--since --until --size --etag]
 *                                                 every version of matching keys, first and last seen (--json)
 *   strongbox serve-s3 PLAN[@SNAPSHOT|@TIME]       a read-only S3 endpoint on loopback onto that tree
 *   strongbox cost [PLAN] [--price CLASS=USD]     stored bytes, dedup, compression, USD/month per plan and region
 *   strongbox prune PLAN                          prune a plan now; print what retention and GC did
 *   strongbox capture replay [--max N] [--dry-run] run capture again on the S3 events it failed after
 *                                                 Lambda's retries (its failure queue); delete each once captured
 *   strongbox keys list | rotate --to KEY | retire KEY  the vault keyring: wrap every data key to a new
 *                                                 master key (key documents only), then drop the old one
 *
 * With `--stage STAGE [--aws-region REGION]` the same commands talk to a deployed stack instead
 * (AWS credentials from the environment): plans, backup and status use its state table and queues
 * (their names come from the restore function's configuration), and restore invokes the deployed
 * restore function, so the restore runs with that function's role and nothing else.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { registerBackup } from './backup.ts';
import { registerBrowse } from './browse.ts';
import { registerCapture } from './capture.ts';
import { registerConsole } from './console.ts';
import { type CliContext, DEFAULT_DATA_DIR } from './context.ts';
import { registerCost } from './cost.ts';
import type { Deployment } from './deployed.ts';
import { registerDrill } from './drill.ts';
import { registerKeys } from './keys.ts';
import { registerPlans } from './plans.ts';
import { registerQuarantine } from './quarantine.ts';
import { registerRepair } from './repair.ts';
import { registerRestore, registerRestoreStatus, registerVersions } from './restore.ts';
import { registerForget, registerLegalHold, registerPrune } from './retention.ts';
import { registerStart } from './start.ts';
import { registerStatus } from './status.ts';

export function buildCli(): Command {
  const program = new Command('strongbox')
    .description('Strongbox: serverless backups for S3, on the embedded stack')
    .option('--data-dir <dir>', 'state of the embedded stack', DEFAULT_DATA_DIR)
    .option('--stage <stage>', 'talk to this deployed stage instead (AWS credentials from the environment)')
    .option(
      '--aws-region <region>',
      'primary region of the deployed stage',
      process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    )
    .showHelpAfterError();
  const dataDir = () => resolve(program.opts<{ dataDir: string }>().dataDir);
  const deployment = (): Deployment | undefined => {
    const { stage, awsRegion } = program.opts<{ stage?: string; awsRegion: string }>();
    return stage ? { stage, region: awsRegion } : undefined;
  };

  const cli: CliContext = { dataDir, deployment };

  // In the order `strongbox --help` lists them.
  registerStart(program, cli);
  registerConsole(program, cli);
  registerPlans(program, cli);
  registerBackup(program, cli);
  registerCapture(program, cli);
  registerForget(program, cli);
  registerLegalHold(program, cli);
  registerQuarantine(program, cli);
  registerDrill(program, cli);
  registerStatus(program, cli);
  registerRestore(program, cli);
  registerRestoreStatus(program, cli);
  registerVersions(program, cli);
  registerBrowse(program, cli);
  registerCost(program, cli);
  registerRepair(program, cli);
  registerPrune(program, cli);
  registerKeys(program, cli);

  return program;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(`strongbox: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
}
