/**
 * `strongbox`: the command line for the embedded stack (and, through the same use cases, for a
 * deployment). `npm start` runs `strongbox start`; other commands talk to the running stack.
 *
 *   strongbox start [--data-dir DIR]              start the embedded stack and keep it running
 *   strongbox plans apply FILE                    validate and store plans (YAML)
 *   strongbox plans list
 *   strongbox backup PLAN [--tag T]...            start an on-demand snapshot (tagged, for keepTag)
 *   strongbox forget PLAN [--dry-run]             what retention keeps and forgets; enqueue a prune
 *   strongbox hold PLAN SNAPSHOT [--reason R]     place a legal hold: retention never forgets it
 *   strongbox release PLAN SNAPSHOT               clear a legal hold
 *   strongbox drill PLAN                          enqueue a restore drill of a plan now
 *   strongbox status [PLAN]                       plans, snapshots, jobs and their tasks
 *   strongbox restore --plan P [--target-bucket B] restore a snapshot, whole or in part (see --help);
 *                                                 a large one runs as a restore job it follows
 *   strongbox restore-status [JOB]                recent restore jobs, or follow one (= restore --attach JOB)
 *   strongbox versions PLAN KEY                   the versions of one object: snapshots and journaled
 *                                                 captures (restore --key K --point-in-time T)
 *   strongbox cost [PLAN] [--price CLASS=USD]     stored bytes, dedup, compression, USD/month per plan and region
 *   strongbox prune PLAN                          prune a plan now; print what retention and GC did
 *   strongbox capture replay [--max N] [--dry-run] run capture again on the S3 events it failed after
 *                                                 Lambda's retries (its failure queue); delete each once captured
 *
 * With `--stage STAGE [--aws-region REGION]` the same commands talk to a deployed stack instead
 * (AWS credentials from the environment): plans, backup and status use its state table and queues
 * (their names come from the restore function's configuration), and restore invokes the deployed
 * restore function, so the restore runs with that function's role and nothing else.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import YAML from 'yaml';
import { applyPlans } from '#domain/apply-plans.ts';
import { replayCaptureFailures } from '#domain/capture-replay.ts';
import { costReport, gatherCostInputs } from '#domain/cost.ts';
import { NotFoundError, StrongboxError } from '#domain/errors.ts';
import { decideRetention, type ForgetDecision, type ForgetResult } from '#domain/forget.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { Catalog } from '#domain/ports.ts';
import type {
  DrillRecord,
  JournalEntry,
  PlanRecord,
  RestoreJobRecord,
  SnapshotRecord,
  Verification,
} from '#domain/records.ts';
import { describeCatalogRepair, repairCatalog } from '#domain/repair.ts';
import { reportOfRestoreJob, startRestore } from '#domain/restore/jobs.ts';
import { OVERWRITE_POLICIES, type OverwritePolicy } from '#domain/restore/overwrite.ts';
import type { RestoreReport } from '#domain/restore/report.ts';
import type { RestoreOptions, RestoreRequest } from '#domain/restore/request.ts';
import { type KeyVersion, listVersions } from '#domain/restore/versions.ts';
import { formatZonedTime } from '#domain/retention.ts';
import { abandonSnapshot } from '#domain/retry.ts';
import { recoveryPoint } from '#domain/rpo.ts';
import { retrySnapshot, startDrillNow, startSnapshotNow } from '#domain/scheduling.ts';
import { describeFailure, regionProblems, VERIFICATION_TIERS } from '#domain/verify.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';
import { deployedCaptureReplay, formatCaptureReplay, localCaptureReplay } from './capture-replay.ts';
import { formatBytes, formatRate, formatSeconds, formatTable } from './format.ts';
import { formatCostReport, formatPruneRun, parsePrice, pruneNow } from './reports.ts';
import { PROJECT_ROOT, startLocalStack } from './stack.ts';

const DEFAULT_DATA_DIR = join(PROJECT_ROOT, '.strongbox', 'data');

interface StackFile {
  pid: number;
  endpoints: Record<string, unknown>;
  env: Record<string, Record<string, string>>;
}

/** A deployed stack: its stage and primary region (`--stage`, `--aws-region`). */
interface Deployment {
  stage: string;
  region: string;
}

/** The deployed restore function of a stage (serverless.yml names functions `<service>-<stage>-<name>`). */
export function restoreFunctionName(stage: string): string {
  return `strongbox-${stage}-restore`;
}

/**
 * A container for a deployed stack, built from its restore function's environment (the same
 * configuration the functions read), with the operator's credentials.
 */
async function connectDeployed({ stage, region }: Deployment): Promise<Container> {
  const functionName = restoreFunctionName(stage);
  let variables: Record<string, string>;
  try {
    const out = await new LambdaClient({ region }).send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName }),
    );
    variables = out.Environment?.Variables ?? {};
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      throw new StrongboxError(
        `no function ${functionName} in ${region}: is stage '${stage}' deployed there?`,
      );
    }
    throw error;
  }
  return createContainer(loadConfig(variables));
}

/**
 * Invoke the deployed restore function with a restore request and return its report, or the
 * record of the restore job it started (a selection large enough to fan out).
 */
export async function invokeRestore(
  deployment: Deployment,
  request: RestoreRequest,
  client = new LambdaClient({ region: deployment.region }),
): Promise<RestoreReport | RestoreJobRecord> {
  const functionName = restoreFunctionName(deployment.stage);
  const out = await client.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(request)) }),
  );
  const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
  let payload: Record<string, unknown> = {};
  try {
    payload = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON: reported below
  }
  if (out.FunctionError) {
    const reason = typeof payload.errorMessage === 'string' ? payload.errorMessage : text;
    throw new StrongboxError(
      `${functionName} failed: ${typeof payload.errorType === 'string' ? `${payload.errorType}: ` : ''}${reason}`,
    );
  }
  if (typeof payload.snapshotId !== 'string') {
    throw new StrongboxError(`${functionName} returned no restore report: ${text.slice(0, 500)}`);
  }
  return payload as unknown as RestoreReport | RestoreJobRecord;
}

async function connect(dataDir: string, deployment?: Deployment): Promise<Container> {
  if (deployment) return connectDeployed(deployment);
  const file = await readStackFile(dataDir);
  return createContainer(loadConfig(file.env.restore));
}

/** The running embedded stack's stack.json (endpoints, each function's environment). */
async function readStackFile(dataDir: string): Promise<StackFile> {
  let file: StackFile;
  try {
    file = JSON.parse(await readFile(join(dataDir, 'stack.json'), 'utf8')) as StackFile;
  } catch {
    throw new StrongboxError(`no embedded stack is running for ${dataDir}: start one with 'npm start'`);
  }
  try {
    process.kill(file.pid, 0);
  } catch {
    throw new StrongboxError(
      `the embedded stack (pid ${file.pid}) is not running any more: start it with 'npm start'`,
    );
  }
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  return file;
}

/** `strongbox status`: plans, their snapshots and recent jobs. */
export async function printStatus(c: Container, planId?: string): Promise<void> {
  const { catalog } = c.pipeline;
  const plans = (await catalog.listPlans()).filter((p) => !planId || p.id === planId);
  if (plans.length === 0) {
    console.log(
      planId ? `no plan '${planId}'` : "no plans yet: apply some with 'strongbox plans apply FILE'",
    );
    return;
  }
  for (const plan of plans) {
    console.log(
      `\nplan ${plan.id}: s3://${plan.source.bucket}/${plan.source.prefix}  ${plan.schedule}  copies: ${plan.copyRegions.join(', ') || 'none'}${plan.enabled ? '' : '  (disabled)'}`,
    );
    const snapshots = await catalog.listSnapshots(plan.id);
    for (const line of recoveryLines(
      plan,
      snapshots,
      await catalog.listJournal(plan.id, {
        capturedAfter: new Date(c.pipeline.clock.now().getTime() - 3_600_000).toISOString(),
      }),
      c.pipeline.clock.now(),
    ))
      console.log(line);
    console.log(
      formatTable(
        ['snapshot', 'status', 'objects', 'size', 'copies', 'verification', 'error'],
        snapshots.map((s) => [
          s.snapshotId,
          s.status,
          s.objectCount ?? '-',
          s.logicalBytes === undefined ? '-' : formatBytes(s.logicalBytes),
          Object.entries(s.regions ?? {})
            .map(([r, x]) => `${r}:${x.status}`)
            .join(' ') || '-',
          s.verification?.status ?? '-',
          s.error ?? '',
        ]),
      ),
    );
    for (const s of snapshots) {
      if (s.verification)
        for (const line of verificationLines(s.snapshotId, s.verification)) console.log(line);
    }
    const drills = (await catalog.getDrillHistory(plan.id))?.drills ?? [];
    for (const drill of drills.slice(-3)) console.log(drillLine(drill));
    const jobs = (await catalog.listJobs(plan.id)).slice(-5);
    for (const job of jobs) {
      const tasks = await catalog.listTasks(job.jobId);
      const line = tasks
        .map(
          (t) =>
            `${t.taskId}:${t.status}${t.attempts > 1 ? `(x${t.attempts})` : ''}${t.progress ? ` ${t.progress.done}/${t.progress.total ?? '?'}` : ''}`,
        )
        .join('  ');
      console.log(`  job ${job.jobId} ${job.status}  ${line}${job.error ? `  reason: ${job.error}` : ''}`);
    }
  }
}

/**
 * The status lines of a snapshot's verification: the overall status (with what failed, e.g.
 * `verification 20261121T234500Z FAILED (deep us-east-1: 1 corrupt blob(s) (5f70…))`), then one line
 * per tier and region with its status and figures.
 * @see docs/format.md#verification
 */
/**
 * The recovery point lines of `strongbox status`: the newest snapshot's age against the plan's RPO,
 * the last reconcile's finding, and (under capture) the lag of the last hour's captures.
 */
export function recoveryLines(
  plan: PlanRecord,
  snapshots: readonly SnapshotRecord[],
  lastHour: readonly JournalEntry[],
  now: Date,
): string[] {
  const point = recoveryPoint(plan, snapshots, now);
  const rpo =
    point.rpoMinutes === undefined
      ? ''
      : point.exceeded
        ? ` — RPO ${point.rpoMinutes} min EXCEEDED`
        : ` — within RPO ${point.rpoMinutes} min`;
  const lines = [
    `  recovery point: ${point.newestSnapshotTime ? `newest snapshot ${formatDuration(point.ageMinutes * 60)} old` : 'no committed snapshot yet'}${rpo}`,
  ];
  const reconciled = snapshots.filter((s) => s.mode === 'reconcile' && s.status === 'COMMITTED').at(-1);
  if (reconciled) {
    lines.push(
      `  reconcile ${reconciled.snapshotId}: ${reconciled.reconcileMissed ?? 0} change(s) the journal had missed${reconciled.reconcileMissed ? ' (repaired)' : ''}`,
    );
  }
  if (lastHour.length > 0) {
    const lags = lastHour.map((e) => (Date.parse(e.capturedAt) - Date.parse(e.eventTime)) / 1000);
    const lost = lastHour.filter((e) => e.outcome === 'lost-before-capture').length;
    lines.push(
      `  capture (last hour): ${lastHour.length} change(s), lag max ${Math.max(...lags).toFixed(1)} s${lost ? `, ${lost} lost before capture` : ''}`,
    );
  }
  return lines;
}

export function verificationLines(snapshotId: string, v: Verification): string[] {
  const tiers = v.tiers ?? {};
  const failure = describeFailure(tiers);
  const lines = [
    `  verification ${snapshotId} ${v.status}${failure ? ` (${failure.replace(/^verification failed: /, '')})` : ''}`,
  ];
  for (const tier of VERIFICATION_TIERS) {
    const t = tiers[tier];
    if (!t) continue;
    for (const [region, r] of Object.entries(t.regions)) {
      const figures =
        tier === 'catalog'
          ? `${r.referencedBlobs - r.missingBlobs.length}/${r.referencedBlobs} blobs listed`
          : tier === 'checksum'
            ? r.checkedPacks !== undefined
              ? `${r.checkedPacks - (r.mismatchedPacks?.length ?? 0)}/${r.referencedPacks ?? '?'} pack checksums match`
              : `${r.checkedBlobs - (r.mismatchedBlobs?.length ?? 0) - (r.uncheckedBlobs ?? 0)}/${r.referencedBlobs} checksums match${r.uncheckedBlobs ? `, ${r.uncheckedBlobs} without a recorded checksum` : ''}`
            : `${r.checkedBlobs}/${r.totalBlobs ?? '?'} ${t.scope === 'all' ? 'blobs' : 'sampled blobs'} hashed (${formatBytes(r.checkedBytes ?? 0)})`;
      const problems = regionProblems(r);
      const status =
        problems.length > 0
          ? 'FAILED'
          : t.status === 'RUNNING' && (r.cursor ?? 0) < (r.totalBlobs ?? 0)
            ? 'RUNNING'
            : 'PASSED';
      lines.push(
        `    ${tier.padEnd(8)} ${region.padEnd(12)} ${status.padEnd(7)} ${figures}${problems.length > 0 ? `: ${problems.join(', ')}` : ''}  at ${t.checkedAt}`,
      );
    }
  }
  return lines;
}

/**
 * The status line of a restore drill, e.g. `drill 2026-11-22T01:00Z snapshot 20261121T234500Z PASSED:
 * us-east-1 20 objects 1.2 MiB 35.0 MiB/s TTFB 12 ms RTO ≈ 18 s; eu-west-1 …`, with the reason when
 * it FAILED.
 * @see docs/format.md#restore-drills
 */
export function drillLine(drill: DrillRecord): string {
  const at = `${drill.scheduledAt.slice(0, 16)}Z`;
  const regions = Object.entries(drill.regions)
    .map(
      ([region, r]) =>
        `${region} ${r.objects} objects ${formatBytes(r.bytes)} ${formatBytes(r.throughputBytesPerSecond)}/s TTFB ${Math.round(r.timeToFirstByteMs)} ms RTO ≈ ${formatDuration(r.estimatedRtoSeconds)}${r.status === 'FAILED' ? ' FAILED' : ''}`,
    )
    .join('; ');
  return `  drill ${at} snapshot ${drill.snapshotId} ${drill.status}: ${regions}${drill.reason ? `  reason: ${drill.reason}` : ''}`;
}

/** `18` → `18 s`, `5400` → `1.5 h`: a duration for people. */
function formatDuration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * The table of `strongbox forget --dry-run`: every snapshot of the plan, newest first, with its time in
 * the plan's time zone (`YYYY-MM-DD HH:MM:SS±HH:MM`), its status, keep or remove, and the reasons
 * (restic's wording, plus 'legal hold', 'minimum retention', 'parent of a running snapshot', 'failed
 * verification', 'running', 'failed', 'forgotten').
 * @param result what {@link decideRetention} decided.
 * @param timeZone the plan's `retention.timeZone`. @default 'UTC'
 * @see docs/format.md#retention
 */
export function formatForgetTable(result: ForgetResult, timeZone = 'UTC'): string {
  const rows = [...result.decisions, ...result.others].sort(
    (a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.snapshotId < b.snapshotId ? -1 : 1),
  );
  return formatTable(
    ['snapshot', `time (${timeZone})`, 'status', 'decision', 'reasons'],
    rows.map((d: ForgetDecision) => [
      d.snapshotId,
      formatZonedTime(d.time, timeZone),
      d.status,
      d.keep ? 'keep' : 'remove',
      d.reasons.join(', ') || '-',
    ]),
  );
}

/**
 * `strongbox forget PLAN [--dry-run]`: decide retention for the plan now; with `dryRun`, return the
 * table and a summary and change nothing; otherwise enqueue a prune task for the plan (named after its
 * newest committed snapshot), which forgets and collects garbage, and say so.
 * @returns the lines to print.
 * @throws NotFoundError (not retryable) for an unknown plan, or (without `dryRun`) a plan without a
 *   committed snapshot; RetentionPolicyError for an invalid stored policy; TransientError (retryable)
 *   from the catalog or the queue.
 * @example
 * ```ts
 * console.log((await forgetCommand(c.pipeline, 'photos', { dryRun: true })).join('\n'));
 * ```
 * @see docs/format.md#retention
 */
export async function forgetCommand(
  deps: Pick<PipelineDeps, 'catalog' | 'queue' | 'clock'>,
  planId: string,
  options: { dryRun: boolean },
): Promise<string[]> {
  const plan = await deps.catalog.getPlan(planId);
  if (!plan) throw new NotFoundError(`plan '${planId}' does not exist`);
  const snapshots = await deps.catalog.listSnapshots(planId);
  const result = decideRetention(snapshots, plan, deps.clock.now());
  const removed = result.remove.map((d) => d.snapshotId);
  if (options.dryRun) {
    return [
      formatForgetTable(result, plan.retention.timeZone ?? 'UTC'),
      `dry run: would keep ${result.keep.length} and forget ${removed.length} committed snapshot(s)${removed.length ? ` (${removed.join(', ')})` : ''}; nothing was changed`,
    ];
  }
  const newest = snapshots.filter((s) => s.status === 'COMMITTED').at(-1);
  if (!newest) throw new NotFoundError(`plan '${planId}' has no committed snapshot: nothing to forget`);
  await deps.queue.send({ kind: 'prune', planId, snapshotId: newest.snapshotId });
  return [
    `enqueued: prune of plan ${planId} (task of snapshot ${newest.snapshotId}); it would forget ${removed.length} snapshot(s) now${removed.length ? `: ${removed.join(', ')}` : ''}, then collect garbage (see 'strongbox status ${planId}')`,
  ];
}

/**
 * `strongbox hold PLAN SNAPSHOT [--reason R]` and `strongbox release PLAN SNAPSHOT`: place or clear a
 * snapshot's legal hold (a held snapshot is never forgotten).
 * @param hold `{ reason? }` to place a hold (since the clock's now), undefined to release it.
 * @returns the line to print.
 * @throws NotFoundError (not retryable) when the snapshot does not exist or is already forgotten;
 *   TransientError (retryable) from the catalog.
 * @example
 * ```ts
 * console.log(await legalHoldCommand(c.pipeline, 'photos', '20261121T234500Z', { reason: 'case 17' }));
 * ```
 * @see docs/format.md#retention
 */
export async function legalHoldCommand(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  planId: string,
  snapshotId: string,
  hold: { reason?: string } | undefined,
): Promise<string> {
  const record = hold
    ? { since: deps.clock.now().toISOString(), ...(hold.reason ? { reason: hold.reason } : {}) }
    : undefined;
  if (!(await deps.catalog.setLegalHold(planId, snapshotId, record))) {
    throw new NotFoundError(
      `snapshot ${planId}/${snapshotId} does not exist or is forgotten ('strongbox status ${planId}' lists the snapshots)`,
    );
  }
  return record
    ? `held: snapshot ${snapshotId} of plan ${planId} is under legal hold since ${record.since}${record.reason ? ` (${record.reason})` : ''}; retention will not forget it`
    : `released: snapshot ${snapshotId} of plan ${planId} has no legal hold; retention applies again`;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * A progress bar on stderr for a restore: objects, bytes, rate and ETA while it writes (and a
 * count while it checks the target), plus a line per look at archived packs.
 */
export function restoreProgress(stream: NodeJS.WriteStream = process.stderr): {
  options: RestoreOptions;
  stop(): void;
} {
  const bar = new cliProgress.SingleBar(
    {
      format:
        '{phase} [{bar}] {percentage}% | {value}/{total} objects | {done} of {size} | {rate}/s | ETA {eta_formatted}',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 100,
      stream,
    },
    cliProgress.Presets.shades_classic,
  );
  let phase: 'check' | 'write' | undefined;
  let started = 0;
  const payload = (bytes: number, totalBytes: number) => {
    const seconds = (performance.now() - started) / 1000;
    return {
      phase: phase === 'check' ? 'checking target' : 'restoring',
      done: formatBytes(bytes),
      size: phase === 'check' ? '-' : formatBytes(totalBytes),
      rate: seconds > 0 ? formatBytes(bytes / seconds) : '-',
    };
  };
  return {
    options: {
      onProgress: (p) => {
        if (p.phase !== phase) {
          if (phase) bar.stop();
          phase = p.phase;
          started = performance.now();
          bar.start(p.total, 0, payload(0, p.totalBytes));
        }
        bar.update(p.objects, payload(p.bytes, p.totalBytes));
      },
      onArchive: ({ pending, total, tier }) => {
        stream.write(
          `archive: ${pending} of ${total} archived pack(s) still being restored (tier ${tier})${pending ? '; checking again in 5 min' : ''}\n`,
        );
      },
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
    stop: () => {
      if (phase) bar.stop();
    },
  };
}

/**
 * Follow a restore job until it ends, with a progress bar on `stream`: objects done (written or
 * skipped) of those selected, bytes written, the rate since attaching, ETA and parts done. Returns at
 * once for a job that has ended, or with `follow: false`.
 * @param options.pollMs milliseconds between reads of the job. @default 1000
 * @throws StrongboxError (not retryable) for an unknown job.
 * @example
 * ```ts
 * const job = await followRestoreJob(c.pipeline.catalog, 'restore-20261122T010000Z-1a2b3c4d');
 * console.log(formatRestoreReport(reportOfRestoreJob(job)));
 * ```
 */
export async function followRestoreJob(
  catalog: Pick<Catalog, 'getRestoreJob'>,
  restoreJobId: string,
  options: {
    stream?: NodeJS.WriteStream;
    pollMs?: number;
    follow?: boolean;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<RestoreJobRecord> {
  const stream = options.stream ?? process.stderr;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let job = await catalog.getRestoreJob(restoreJobId);
  if (!job) {
    throw new StrongboxError(
      `no restore job '${restoreJobId}' ('strongbox restore-status' lists the recent ones)`,
    );
  }
  if (job.status !== 'RUNNING' || options.follow === false) return job;
  const bar = new cliProgress.SingleBar(
    {
      format:
        'restoring [{bar}] {percentage}% | {value}/{total} objects | {done} of {size} | {rate}/s | ETA {eta_formatted} | parts {parts}',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 20,
      stream,
    },
    cliProgress.Presets.shades_classic,
  );
  const attachedAt = performance.now();
  const attachedBytes = job.bytes;
  const done = (j: RestoreJobRecord) => j.objects + j.skippedExists + j.skippedUnchanged;
  const payload = (j: RestoreJobRecord) => {
    const seconds = (performance.now() - attachedAt) / 1000;
    return {
      done: formatBytes(j.bytes),
      size: formatBytes(j.selectedBytes),
      rate: seconds > 0 ? formatBytes((j.bytes - attachedBytes) / seconds) : '-',
      parts: `${j.partsDone}/${j.partsTotal}`,
    };
  };
  bar.start(job.selected, done(job), payload(job));
  try {
    while (job.status === 'RUNNING') {
      await sleep(options.pollMs ?? 1000);
      job = (await catalog.getRestoreJob(restoreJobId)) ?? job;
      bar.update(done(job), payload(job));
    }
  } finally {
    bar.stop();
  }
  return job;
}

/** One line per restore job for `strongbox restore-status`. */
export function restoreJobLine(job: RestoreJobRecord): string {
  const done = job.objects + job.skippedExists + job.skippedUnchanged;
  return `${job.restoreJobId} ${job.status} plan ${job.planId} snapshot ${job.snapshotId} → s3://${job.targetBucket}: ${done}/${job.selected} objects, ${formatBytes(job.bytes)} of ${formatBytes(job.selectedBytes)}, parts ${job.partsDone}/${job.partsTotal}${job.error ? ` — ${job.error}` : ''}`;
}

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

/**
 * The versions of one object as a table, newest first: where each comes from (a run of snapshots,
 * or a journaled change), its time, how to restore it, size, ETag and what happened.
 */
export function formatVersions(versions: readonly KeyVersion[]): string {
  return formatTable(
    ['version', 'time', 'size', 'etag', 'outcome', 'restore with'],
    versions.map((v) =>
      v.source === 'snapshot'
        ? [
            v.firstSnapshotId === v.snapshotId
              ? `snapshot ${v.snapshotId}`
              : `snapshots ${v.firstSnapshotId}…${v.snapshotId}`,
            v.time,
            formatBytes(v.sizeBytes),
            v.etag,
            `in snapshot (modified ${v.lastModified})`,
            `--snapshot ${v.snapshotId}`,
          ]
        : [
            `journal ${v.sequencer}`,
            v.time,
            v.sizeBytes === undefined ? '' : formatBytes(v.sizeBytes),
            v.etag ?? '',
            v.outcome === 'lost-before-capture'
              ? `lost before capture${v.reason ? `: ${v.reason}` : ''}`
              : v.outcome,
            v.pointInTime ? `--point-in-time ${v.pointInTime}` : '',
          ],
    ),
  );
}

/** The final report of a restore, for people: what was written, what was skipped and why, warnings. */
export function formatRestoreReport(report: RestoreReport): string {
  const lines = [
    `${report.dryRun ? 'would restore' : 'restored'} ${report.objects} object(s), ${formatBytes(report.bytes)} from ${report.pointInTime ? `${report.pointInTime} (snapshot ${report.snapshotId}${report.fromJournal ? ` + ${report.fromJournal} journaled version(s)` : ''}, ${report.region})` : `snapshot ${report.snapshotId} (${report.region})`} into s3://${report.targetBucket}/${report.targetPrefix} in ${formatSeconds(report.seconds)}${report.dryRun || !report.seconds ? '' : ` (${formatRate(report.objects, report.seconds)})`}`,
  ];
  const skipped = report.skipped ?? { exists: 0, unchanged: 0 };
  if (skipped.exists + skipped.unchanged > 0) {
    lines.push(
      `${report.dryRun ? 'would skip' : 'skipped'} ${skipped.exists} object(s) the target already holds (overwrite: never) and ${skipped.unchanged} unchanged one(s) (overwrite: ifChanged)`,
    );
    for (const s of (report.skippedObjects ?? []).slice(0, 20)) lines.push(`  skipped ${s.key}: ${s.reason}`);
    const listed = Math.min(20, report.skippedObjects?.length ?? 0);
    if (skipped.exists + skipped.unchanged > listed) {
      lines.push(
        `  … and ${skipped.exists + skipped.unchanged - listed} more (the report lists the first 1000)`,
      );
    }
  }
  if (report.archive) {
    lines.push(
      `archive: ${report.archive.packs} archived pack(s) holding ${report.archive.blobs} blob(s), ${report.archive.requested} restore(s) requested (tier ${report.archive.tier})`,
    );
  }
  for (const warning of report.warnings ?? []) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}

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

  program
    .command('start')
    .description('start the embedded stack (S3, SQS, DynamoDB, the functions) and keep it running')
    .option(
      '--port <port>',
      'port of the primary region S3+SQS endpoint (the copy region uses the next one)',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port');
        return n;
      },
      4566,
    )
    .option('--log-level <level>', 'functions log level', 'INFO')
    .action(async (opts: { port: number; logLevel: string }) => {
      const dir = dataDir();
      const stack = await startLocalStack({
        dataDir: dir,
        ports: { primaryS3Sqs: opts.port, copyS3: opts.port + 1, dynamodb: opts.port + 2 },
        logLevel: opts.logLevel,
      });
      const env = Object.fromEntries(Object.keys(stack.serverless.functions).map((f) => [f, stack.env(f)]));
      await writeFile(
        join(dir, 'stack.json'),
        JSON.stringify({ pid: process.pid, endpoints: stack.endpoints, env }, null, 2),
      );
      console.log(`Strongbox embedded stack running (state in ${dir})`);
      console.log(
        formatTable(
          ['service', 'endpoint'],
          [
            ...Object.entries(stack.endpoints.s3).map(([r, e]) => [`S3 ${r}`, e]),
            ['SQS', stack.endpoints.sqs],
            ['DynamoDB', stack.endpoints.dynamodb],
          ],
        ),
      );
      console.log(`protected bucket(s): ${stack.protectedBuckets.join(', ') || 'none'}`);
      console.log('Ctrl-C stops it.');
      const stop = async () => {
        await rm(join(dir, 'stack.json'), { force: true });
        await stack.stop();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

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
            `s3://${p.source.bucket}/${p.source.prefix}`,
            p.schedule,
            JSON.stringify(p.retention),
            p.copyRegions.join(',') || '-',
          ]),
        ),
      );
    });

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
      console.log(
        `${job.created ? 'started' : 'already running'}: snapshot ${job.snapshotId} of plan ${planId}${job.created && opts.tag?.length ? ` tagged ${opts.tag.join(', ')}` : ''}`,
      );
    });

  program
    .command('capture')
    .description("capture's failures: S3 events capture failed after Lambda's retries")
    .command('replay')
    .description(
      "run capture again on each event in capture's failure queue; delete each once capture succeeded (failures stay queued)",
    )
    .option('--max <n>', 'replay at most this many events', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
      return n;
    })
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

  program
    .command('forget <plan>')
    .description(
      "apply the plan's retention: list what it keeps and forgets (--dry-run), or enqueue a prune that forgets and collects garbage",
    )
    .option('--dry-run', 'print the decision for every snapshot and change nothing', false)
    .action(async (planId: string, opts: { dryRun: boolean }) => {
      const c = await connect(dataDir(), deployment());
      for (const line of await forgetCommand(c.pipeline, planId, { dryRun: opts.dryRun })) console.log(line);
    });

  program
    .command('hold <plan> <snapshotId>')
    .description('place a legal hold on a snapshot: retention never forgets it until it is released')
    .option('--reason <reason>', 'why (e.g. a case number), shown by forget --dry-run')
    .action(async (planId: string, snapshotId: string, opts: { reason?: string }) => {
      const c = await connect(dataDir(), deployment());
      console.log(await legalHoldCommand(c.pipeline, planId, snapshotId, { reason: opts.reason }));
    });

  program
    .command('release <plan> <snapshotId>')
    .description('clear the legal hold of a snapshot')
    .action(async (planId: string, snapshotId: string) => {
      const c = await connect(dataDir(), deployment());
      console.log(await legalHoldCommand(c.pipeline, planId, snapshotId, undefined));
    });

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

  program
    .command('status [plan]')
    .description('plans, snapshots, jobs and tasks')
    .action(async (planId?: string) => printStatus(await connect(dataDir(), deployment()), planId));

  program
    .command('restore')
    .description(
      "restore a snapshot (whole or in part) into a bucket: the plan's source bucket unless --target-bucket",
    )
    .option('--plan <plan>', 'plan id (required unless --attach)')
    .option('--snapshot <id>', 'snapshot id, or "latest"', 'latest')
    .option(
      '--point-in-time <iso>',
      'restore the source as it was at this ISO-8601 time: the newest snapshot at or before it plus the changes captured since, key by key',
    )
    .option(
      '--key <key>',
      "one object (with --snapshot: that snapshot's version of it; with --point-in-time: its version at that time, see 'strongbox versions')",
    )
    .option('--prefix <prefix>', 'only keys under this prefix')
    .option('--include <glob>', 'only keys matching this glob (repeatable)', collect)
    .option('--exclude <glob>', 'leave out keys matching this glob (repeatable)', collect)
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
    .option('--dry-run', 'list what would be restored and skipped, write nothing', false)
    .option('--fan-out', 'run as a restore job through the restore queue, whatever the selection’s size')
    .option('--attach <jobId>', 'follow a running restore job (or print the report of one that ended)')
    .option('--no-follow', 'print the restore job id and return at once')
    .action(
      async (opts: {
        plan?: string;
        fanOut?: boolean;
        attach?: string;
        follow: boolean;
        snapshot: string;
        pointInTime?: string;
        key?: string;
        prefix?: string;
        include?: string[];
        exclude?: string[];
        targetBucket?: string;
        targetPrefix: string;
        overwrite: OverwritePolicy;
        archiveTier: 'Expedited' | 'Standard' | 'Bulk';
        region?: string;
        dryRun: boolean;
      }) => {
        const deployed = deployment();
        if (opts.attach) {
          const c = await connect(dataDir(), deployed);
          await attachToRestore(c.pipeline.catalog, opts.attach, opts.follow);
          return;
        }
        if (!opts.plan) throw new InvalidArgumentError("required option '--plan <plan>' not specified");
        const request: RestoreRequest = {
          plan: opts.plan,
          ...(opts.fanOut ? { fanOut: true } : {}),
          snapshot: opts.snapshot,
          targetPrefix: opts.targetPrefix,
          overwrite: opts.overwrite,
          archiveTier: opts.archiveTier,
          dryRun: opts.dryRun,
          ...(opts.targetBucket ? { targetBucket: opts.targetBucket } : {}),
          ...(opts.pointInTime ? { pointInTime: opts.pointInTime } : {}),
          ...(opts.key ? { key: opts.key } : {}),
          ...(opts.prefix ? { prefix: opts.prefix } : {}),
          ...(opts.include ? { include: opts.include } : {}),
          ...(opts.exclude ? { exclude: opts.exclude } : {}),
          ...(opts.region ? { region: opts.region } : {}),
        };
        // A deployed restore runs in the restore function (with its role); a local one in-process.
        let result: RestoreReport | RestoreJobRecord;
        if (deployed) {
          process.stderr.write(`invoking ${restoreFunctionName(deployed.stage)} in ${deployed.region}…\n`);
          result = await invokeRestore(deployed, request);
        } else {
          const c = await connect(dataDir());
          const progress = restoreProgress();
          try {
            const started = await startRestore(c.pipeline, request, progress.options);
            result = started.job ?? started.report;
          } finally {
            progress.stop();
          }
        }
        if ('restoreJobId' in result) {
          console.log(
            `restore job ${result.restoreJobId}: ${result.selected} object(s), ${formatBytes(result.selectedBytes)} in ${result.partsTotal} part(s)`,
          );
          const { catalog } = (await connect(dataDir(), deployed)).pipeline;
          await attachToRestore(catalog, result.restoreJobId, opts.follow);
          return;
        }
        const report = result;
        for (const key of report.keys ?? []) console.log(key);
        console.log(formatRestoreReport(report));
      },
    );

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
    .option(
      '--limit <n>',
      'at most this many versions',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
        return n;
      },
      20,
    )
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
        const c = await connect(dataDir(), deployment());
        const versions = await listVersions(c.pipeline, {
          plan,
          key,
          limit: opts.limit,
          journal: true,
          ...(opts.region ? { region: opts.region } : {}),
        });
        if (versions.length === 0) {
          console.log(`no snapshot or journal entry of plan '${plan}' holds '${key}'`);
          return;
        }
        console.log(formatVersions(versions));
      },
    );

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

  program
    .command('prune <plan>')
    .description(
      'prune a plan now: apply its retention, collect garbage in every region, and print what it did',
    )
    .option('--timeout <seconds>', 'give up following after this long', (v) => Number(v), 900)
    .action(async (planId: string, opts: { timeout: number }) => {
      const c = await connect(dataDir(), deployment());
      const run = await pruneNow(c.pipeline, planId, { timeoutMs: opts.timeout * 1000 });
      console.log(formatPruneRun(run));
      if (run.prune.status === 'FAILED' || run.regions.some((t) => t.status === 'FAILED'))
        process.exitCode = 1;
    });

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
