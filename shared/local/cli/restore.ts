/**
 * `strongbox restore` (whole or in part, at a snapshot or a point in time, in-process or as a restore
 * job it follows), `strongbox restore-status [JOB]` and `strongbox versions PLAN KEY`.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { VersionsAnswer } from '#domain/browse/remote.ts';
import { isolatedLocation } from '#domain/pipeline.ts';
import type { Catalog } from '#domain/ports.ts';
import type { RestoreJobRecord } from '#domain/records.ts';
import { reportOfRestoreJob, startRestore } from '#domain/restore/jobs.ts';
import { OVERWRITE_POLICIES, type OverwritePolicy } from '#domain/restore/overwrite.ts';
import type { RestoreReport } from '#domain/restore/report.ts';
import type { RestoreRequest } from '#domain/restore/request.ts';
import { listVersions } from '#domain/restore/versions.ts';
import { formatBytes } from '../format.ts';
import { type CliContext, collect, connect, positiveInteger } from './context.ts';
import { type Deployment, invokeBrowse, invokeRestore, restoreFunctionName } from './deployed.ts';
import { followRestoreJob, restoreProgress } from './format/progress.ts';
import { formatRestoreReport, formatVersions, restoreJobLine } from './format/restore.ts';
import { readKeyList, runsOfKeys } from './key-list.ts';
import { runTableRestore, type TableRestoreCliOptions, tableRestoreRequest } from './restore-table.ts';

/** Follow a restore job (unless `follow` is false) and print its report; a FAILED job sets the exit code. */
export async function attachToRestore(
  catalog: Pick<Catalog, 'getRestoreJob'>,
  restoreJobId: string,
  follow: boolean,
): Promise<void> {
  const job = await followRestoreJob(catalog, restoreJobId, { follow });
  if (job.status === 'RUNNING') {
    console.log(restoreJobLine(job));
    console.log(`follow it with: strongbox restore --attach ${job.restoreJobId}`);
    return;
  }
  console.log(`restore job ${job.restoreJobId} ${job.status}`);
  console.log(formatRestoreReport(reportOfRestoreJob(job)));
  if (job.status === 'FAILED') process.exitCode = 1;
}

/** The options of `strongbox restore`, as commander parses them. */
interface RestoreCliOptions extends Omit<TableRestoreCliOptions, 'key' | 'overwrite'> {
  plan?: string;
  fanOut?: boolean;
  attach?: string;
  follow: boolean;
  snapshot: string;
  pointInTime?: string;
  /** Repeatable: one object (or, for a table, item keys). */
  key?: string[];
  prefix?: string;
  include?: string[];
  exclude?: string[];
  targetBucket?: string;
  targetPrefix: string;
  overwrite: OverwritePolicy;
  archiveTier: 'Expedited' | 'Standard' | 'Bulk';
  region?: string;
  vault?: string;
  dryRun: boolean;
  fromFile?: string;
}

/** JSON bytes of listed keys per deployed restore: a Lambda invocation's payload is at most 6 MB. */
const DEPLOYED_KEY_BYTES = 5 * 1024 * 1024;

/** The restore request of `strongbox restore`'s options (options left out stay out of it). */
function restoreRequest(plan: string, opts: RestoreCliOptions, keys?: string[]): RestoreRequest {
  return {
    plan,
    ...(keys ? { keys } : {}),
    ...(opts.fanOut ? { fanOut: true } : {}),
    snapshot: opts.snapshot,
    targetPrefix: opts.targetPrefix,
    overwrite: opts.overwrite,
    archiveTier: opts.archiveTier,
    dryRun: opts.dryRun,
    ...(opts.targetBucket ? { targetBucket: opts.targetBucket } : {}),
    ...(opts.pointInTime ? { pointInTime: opts.pointInTime } : {}),
    ...(opts.key?.length === 1 ? { key: opts.key[0] } : {}),
    ...(opts.key && opts.key.length > 1 ? { keys: opts.key } : {}),
    ...(opts.prefix ? { prefix: opts.prefix } : {}),
    ...(opts.include ? { include: opts.include } : {}),
    ...(opts.exclude ? { exclude: opts.exclude } : {}),
    ...(opts.region ? { region: opts.region } : {}),
    // An isolated vault is read as the location its copies are recorded under.
    ...(opts.vault ? { region: isolatedLocation(opts.vault) } : {}),
  };
}

/**
 * Run a restore: a deployed one in the restore function (with its role), a local one in-process with
 * a progress bar. Returns its report, or the record of the restore job it started.
 */
async function runRestore(
  dataDir: string,
  deployed: Deployment | undefined,
  request: RestoreRequest,
): Promise<RestoreReport | RestoreJobRecord> {
  if (deployed) {
    process.stderr.write(`invoking ${restoreFunctionName(deployed.stage)} in ${deployed.region}…\n`);
    return invokeRestore(deployed, request);
  }
  const c = await connect(dataDir);
  const progress = restoreProgress();
  try {
    const started = await startRestore(c.pipeline, request, progress.options);
    return started.job ?? started.report;
  } finally {
    progress.stop();
  }
}

export function registerRestore(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('restore')
    .description(
      "restore a snapshot (whole or in part) into a bucket: the plan's source bucket unless --target-bucket; a table plan's into a table (--to-table NEW or --to-original)",
    )
    .option('--plan <plan>', 'plan id (required unless --attach)')
    .option('--snapshot <id>', 'snapshot id, or "latest"', 'latest')
    .option(
      '--point-in-time <iso>',
      'restore the source as it was at this ISO-8601 time: the newest snapshot at or before it plus the changes captured since, key by key',
    )
    .option(
      '--key <key>',
      "one object (with --snapshot: that snapshot's version of it; with --point-in-time: its version at that time, see 'strongbox versions'); repeatable: these keys (a table: item keys, pk or pk/sk)",
      collect,
    )
    .option('--at <iso>', 'the same as --point-in-time')
    .option(
      '--to-table <table>',
      'a table plan: restore into this new table, created with the recorded definition',
    )
    .option('--to-original', "a table plan: restore into the plan's own table (see --overwrite never|always)")
    .option(
      '--key-prefix <prefix>',
      'a table restore: item keys under this prefix (customer#42/ = one partition key)',
    )
    .option(
      '--filter <expression>',
      'a table restore: a DynamoDB filter expression on the items, e.g. "status = :s"',
    )
    .option('--values <json>', 'the filter\'s values in DynamoDB JSON, e.g. \'{":s":{"S":"open"}}\'')
    .option('--names <json>', 'the filter\'s #names, e.g. \'{"#s":"status"}\'')
    .option(
      '--target-region <region>',
      "a table restore: the target table's region [default: the source table's]",
    )
    .option('--prefix <prefix>', 'only keys under this prefix')
    .option('--include <glob>', 'only keys matching this glob (repeatable)', collect)
    .option('--exclude <glob>', 'leave out keys matching this glob (repeatable)', collect)
    .option(
      '--from-file <file>',
      'only the keys listed in this file (- for standard input): the --json output of find, diff or ls, or a JSON list of keys; no limit on their number',
    )
    .option(
      '--target-bucket <bucket>',
      "bucket to write into (never a vault) [default: the plan's source bucket]",
    )
    .option('--target-prefix <prefix>', 'prefix to write under', '')
    .addOption(
      new Option('--overwrite <policy>', 'keys the target already holds')
        .choices(OVERWRITE_POLICIES)
        .default('never'),
    )
    .addOption(
      new Option(
        '--archive-tier <tier>',
        'retrieval tier for blobs in GLACIER / DEEP_ARCHIVE (DEEP_ARCHIVE has no Expedited)',
      )
        .choices(['Expedited', 'Standard', 'Bulk'])
        .default('Standard'),
    )
    .option('--region <region>', 'read from this region’s vault')
    .option(
      '--vault <name>',
      'read from this isolated vault (another account or provider), e.g. when the primary vault is lost',
    )
    .option('--dry-run', 'list what would be restored and skipped, write nothing', false)
    .option('--fan-out', 'run as a restore job through the restore queue, whatever the selection’s size')
    .option('--attach <jobId>', 'follow a running restore job (or print the report of one that ended)')
    .option('--no-follow', 'print the restore job id and return at once')
    .action(async (opts: RestoreCliOptions) => {
      const deployed = deployment();
      if (opts.attach) {
        const c = await connect(dataDir(), deployed);
        await attachToRestore(c.pipeline.catalog, opts.attach, opts.follow);
        return;
      }
      if (!opts.plan) throw new InvalidArgumentError("required option '--plan <plan>' not specified");
      if (opts.region && opts.vault)
        throw new InvalidArgumentError('--region and --vault cannot be combined');
      if (opts.toTable || opts.toOriginal) {
        // A table restore runs whole in one invocation (or in-process): no restore job.
        const request = tableRestoreRequest(opts.plan, opts);
        await runTableRestore(dataDir(), deployed, request);
        return;
      }
      if (opts.at) opts.pointInTime ??= opts.at;
      if (opts.fromFile && opts.key)
        throw new InvalidArgumentError('--from-file and --key cannot be combined');
      const listed = opts.fromFile ? await readKeyList(opts.fromFile) : undefined;
      // A deployed restore's request travels in one invocation: a longer list runs as several.
      const runs = listed && deployed ? runsOfKeys(listed, DEPLOYED_KEY_BYTES) : [listed];
      for (const [i, keys] of runs.entries()) {
        if (runs.length > 1)
          console.log(
            `restore ${i + 1} of ${runs.length}: ${keys?.length} of the ${listed?.length} listed keys`,
          );
        await restoreAndReport(dataDir(), deployed, restoreRequest(opts.plan, opts, keys), opts.follow);
      }
    });
}

/** Run one restore request and print its report, or start its restore job and follow it. */
async function restoreAndReport(
  dataDir: string,
  deployed: Deployment | undefined,
  request: RestoreRequest,
  follow: boolean,
): Promise<void> {
  // A deployed restore runs in the restore function (with its role); a local one in-process.
  const result = await runRestore(dataDir, deployed, request);
  if ('restoreJobId' in result) {
    console.log(
      `restore job ${result.restoreJobId}: ${result.selected} object(s), ${formatBytes(result.selectedBytes)} in ${result.slicesTotal} slice(s)`,
    );
    const { catalog } = (await connect(dataDir, deployed)).pipeline;
    await attachToRestore(catalog, result.restoreJobId, follow);
    return;
  }
  for (const key of result.keys ?? []) console.log(key);
  console.log(formatRestoreReport(result));
}

export function registerRestoreStatus(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('restore-status [jobId]')
    .description('the recent restore jobs, or follow one until it ends and print its report')
    .option('--no-follow', 'print the job’s state and return at once')
    .action(async (jobId: string | undefined, opts: { follow: boolean }) => {
      const { catalog } = (await connect(dataDir(), deployment())).pipeline;
      if (jobId) return attachToRestore(catalog, jobId, opts.follow);
      const jobs = await catalog.listRestoreJobs(20);
      if (jobs.length === 0) console.log('no restore job yet');
      for (const job of jobs) console.log(restoreJobLine(job));
    });
}

export function registerVersions(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('versions [plan] [key]')
    .description(
      'the versions of one object, newest first: from the snapshots (restore one with --snapshot) and captured between them (restore one with --point-in-time)',
    )
    .option('--plan <plan>', 'plan id (or the first argument)')
    .option('--key <key>', 'the object’s original key (or the second argument)')
    .option(
      '--region <region>',
      'read from this region’s vault (journaled versions are in the primary’s only)',
    )
    .option('--limit <n>', 'at most this many versions', positiveInteger, 20)
    .action(
      async (
        planArg: string | undefined,
        keyArg: string | undefined,
        opts: { plan?: string; key?: string; region?: string; limit: number },
      ) => {
        const plan = opts.plan ?? planArg;
        const key = opts.key ?? keyArg;
        if (!plan || !key)
          throw new InvalidArgumentError('name the plan and the key: strongbox versions <plan> <key>');
        const query = { plan, key, limit: opts.limit, ...(opts.region ? { region: opts.region } : {}) };
        // A deployed stage's manifests are opened by its browse function (only function roles decrypt).
        const deployed = deployment();
        const versions = deployed
          ? (await invokeBrowse<VersionsAnswer>(deployed, { op: 'versions', ...query })).versions
          : await listVersions((await connect(dataDir())).pipeline, { ...query, journal: true });
        if (versions.length === 0) {
          console.log(`no snapshot or journal entry of plan '${plan}' holds '${key}'`);
          return;
        }
        console.log(formatVersions(versions));
      },
    );
}
