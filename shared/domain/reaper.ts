/**
 * The reaper: on every scheduler tick, finds work held by a dead worker (a function killed, timed out,
 * out of memory, or a host lost: nothing caught, nothing recorded) and re-drives it, or fails it for
 * good with its reason. Its invariant: no RUNNING record outlives its deadline.
 *
 * 1. Every RUNNING task (the catalog's running-task index) whose heartbeat — or, without one, its
 *    start — is older than `staleSeconds` is dead. Its message is rebuilt from the catalog (job,
 *    partition index, region, tier) and sent again, after a conditional mark on the task record
 *    ({@link Catalog.redriveTask}), so a tick delivered twice re-drives it once. Every task is
 *    idempotent; a partition re-driven without its `resume` starts its range over, and the packs it
 *    already stored dedupe by the index.
 * 2. A RUNNING snapshot with no live task (its plan task's message lost, a crash between a partition
 *    and the enqueue of the next, or before the seal) gets its plan task again: it re-enqueues the
 *    partitions not done, or seals.
 * 3. A task re-driven `maxRedrives` times that goes silent again is FAILED with its reason, and so are
 *    its job and (for a snapshot task) its snapshot, so `strongbox backup --retry` can take it up.
 * 4. A task record left RUNNING whose work the catalog shows done (its partition summarized, its
 *    snapshot committed or failed, its copy recorded) is closed without a re-drive.
 * 5. A RUNNING restore job silent for `staleSeconds` (the latest of its heartbeat, beaten by its
 *    restore-slice workers, and its last update) gets its slices not done sent again, after a
 *    conditional mark on the job ({@link Catalog.redriveRestoreJob}); re-driven `maxRedrives` times
 *    it ends FAILED with its reason; with every slice done it ends SUCCEEDED.
 * 6. A RUNNING drill (in its plan's drill history) silent for `staleSeconds` is sent again after a
 *    conditional mark on its record (the history's version), or FAILED with its reason after
 *    `maxRedrives`. A drill is idempotent: its id seeds its draws, and a finished record is final.
 * @see ../../docs/format.md#tasks
 */
import { changeRunningDrill } from './drill.ts';
import { reasonOf } from './errors.ts';
import type { PipelineDeps } from './pipeline.ts';
import type { DrillRecord, RestoreJobRecord, SnapshotRecord, TaskRecord } from './records.ts';
import { sliceRanges } from './restore/slices.ts';
import { jobIdOf, partitionTask, queueOf, type SnapshotPlanTask, type Task } from './tasks.ts';

/** How the reaper judges silence. @see docs/format.md#tasks */
export interface ReaperOptions {
  /** Seconds without a heartbeat after which a RUNNING task counts as dead. @default 180 */
  staleSeconds: number;
  /** Re-drives of one task before the reaper fails it for good. @default 3 */
  maxRedrives: number;
}

export const DEFAULT_REAPER_OPTIONS: ReaperOptions = { staleSeconds: 180, maxRedrives: 3 };

/** What the reaper did with one dead (or finished but unclosed) task, restore job or drill. */
export interface ReapedTask {
  /** The snapshot job (`<plan>/<snapshotId>`), the restore job's id, or a drill's plan. */
  jobId: string;
  /** The task's id; `restore` for a restore job; `drill:<drillId>` for a drill. */
  taskId: string;
  /**
   * `redriven`: its message was sent again; `failed`: failed for good (`reason`); `closed`: the catalog
   * shows its work ended, the record is closed; `raced`: another tick re-drove it first.
   */
  action: 'redriven' | 'failed' | 'closed' | 'raced';
  /** Seconds since its last heartbeat (or start). */
  silentSeconds: number;
  reason?: string;
}

/** What one reaper pass did, and the work it could not handle (retried by the next tick). */
export interface ReapResult {
  reaped: ReapedTask[];
  failed: { jobId: string; taskId: string; reason: string }[];
}

type Deps = Pick<PipelineDeps, 'catalog' | 'queue' | 'clock'>;

/**
 * Re-drive or fail the work held by dead workers at tick time `at` (see the module comment).
 * Idempotent: a tick delivered twice re-drives each task once.
 * @param at the tick's time, ISO-8601 UTC.
 * @returns one entry per task acted on; per-task errors are collected, not thrown.
 * @throws TransientError (retryable) when the running tasks or the plans cannot be listed.
 * @example
 * ```ts
 * const { reaped } = await reapStaleWork(deps, event.time, { staleSeconds: 180, maxRedrives: 3 });
 * ```
 */
export async function reapStaleWork(
  deps: Deps,
  at: string,
  options: ReaperOptions = DEFAULT_REAPER_OPTIONS,
): Promise<ReapResult> {
  const result: ReapResult = { reaped: [], failed: [] };
  const now = Date.parse(at);
  const silentSeconds = (t: { heartbeatAt?: string; startedAt?: string }) =>
    Math.round((now - Date.parse(t.heartbeatAt ?? t.startedAt ?? at)) / 1000);
  const guarded = async (task: { jobId: string; taskId: string }, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (error) {
      result.failed.push({ jobId: task.jobId, taskId: task.taskId, reason: reasonOf(error) });
    }
  };

  const byJob = new Map<string, TaskRecord[]>();
  for (const t of await deps.catalog.listRunningTasks()) {
    byJob.set(t.jobId, [...(byJob.get(t.jobId) ?? []), t]);
  }

  // Snapshots still RUNNING: their partitions one by one, then the snapshot as a whole.
  const plans = await deps.catalog.listPlans();
  for (const plan of plans) {
    for (const snapshot of await deps.catalog.listSnapshots(plan.id)) {
      if (snapshot.status !== 'RUNNING') continue;
      const jobId = jobIdOf(snapshot);
      const running = byJob.get(jobId) ?? [];
      byJob.delete(jobId);
      await guarded({ jobId, taskId: 'snapshot' }, () =>
        reapSnapshot(deps, snapshot, running, at, options, silentSeconds, result),
      );
    }
  }

  // Every other RUNNING task: copies, verifications, prune and GC, and snapshot tasks whose snapshot ended.
  for (const [jobId, tasks] of byJob) {
    for (const task of tasks) {
      await guarded(task, async () => {
        const silent = silentSeconds(task);
        if (task.taskId.startsWith('snapshot')) {
          const snapshot = await getSnapshotOfJob(deps, jobId);
          if (snapshot?.status === 'RUNNING') return; // started since the listing: next tick
          await close(deps, task, snapshot, at, silent, result);
          return;
        }
        if (silent <= options.staleSeconds) return;
        if (task.taskId.startsWith('copy:')) {
          const snapshot = await getSnapshotOfJob(deps, jobId);
          const copy = snapshot?.regions?.[task.taskId.slice('copy:'.length)];
          if (!snapshot || copy?.status === 'COPIED' || copy?.status === 'FAILED') {
            await close(deps, task, snapshot, at, silent, result, copy?.status, copy?.error);
            return;
          }
        }
        const message = await messageOf(deps, task);
        await redriveOrFail(deps, task, message, labelOf(task.taskId), at, silent, options, result);
      });
    }
  }

  // Restore jobs and drills: their records carry their heartbeat and redrive count.
  for (const job of await deps.catalog.listRestoreJobs(REAPED_RESTORE_JOBS)) {
    if (job.status !== 'RUNNING') continue;
    await guarded({ jobId: job.restoreJobId, taskId: 'restore' }, () =>
      reapRestoreJob(deps, job, at, options, silentSeconds, result),
    );
  }
  for (const plan of plans) {
    await guarded({ jobId: plan.id, taskId: 'drill' }, async () => {
      const history = await deps.catalog.getDrillHistory(plan.id);
      for (const drill of history?.drills ?? []) {
        if (drill.status !== 'RUNNING') continue;
        await guarded({ jobId: plan.id, taskId: `drill:${drill.drillId}` }, () =>
          reapDrill(deps, plan.id, drill, at, options, silentSeconds(drill), result),
        );
      }
    });
  }
  return result;
}

/**
 * Restore jobs the reaper reads on each tick: the newest (a job RUNNING for longer is re-driven or
 * failed within a few ticks, long before this many newer ones start).
 */
export const REAPED_RESTORE_JOBS = 100;

/**
 * A RUNNING restore job: silent for the threshold, it gets its slices not done sent again (or ends
 * SUCCEEDED when every slice is done: its last slice was killed before it ended the job), or FAILED
 * once it was re-driven `maxRedrives` times.
 */
async function reapRestoreJob(
  deps: Deps,
  job: RestoreJobRecord,
  at: string,
  options: ReaperOptions,
  silentSeconds: (t: { heartbeatAt?: string; startedAt?: string }) => number,
  result: ReapResult,
): Promise<void> {
  const { catalog } = deps;
  const signs = [job.heartbeatAt, job.updatedAt, job.createdAt].filter((s): s is string => !!s);
  const last = signs.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b), signs[0] ?? at);
  const silent = silentSeconds({ heartbeatAt: last });
  if (silent <= options.staleSeconds) return;
  const base = { jobId: job.restoreJobId, taskId: 'restore', silentSeconds: silent };
  const done = new Set(await catalog.listRestoreSlicesDone(job.restoreJobId));
  const missing = Array.from({ length: job.slicesTotal }, (_, slice) => slice).filter((s) => !done.has(s));
  if (missing.length === 0) {
    if (await catalog.finishRestoreJob(job.restoreJobId, { status: 'SUCCEEDED', at })) {
      result.reaped.push({ ...base, action: 'closed' });
    }
    return;
  }
  const redrives = job.redrives ?? 0;
  if (redrives >= options.maxRedrives) {
    const slices =
      missing.length === 1
        ? `restore slice ${missing[0]}`
        : `restore slices ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`;
    const reason = `${slices}: no heartbeat for ${silent} s after ${redrives} redrives`;
    await catalog.finishRestoreJob(job.restoreJobId, { status: 'FAILED', at, error: reason });
    result.reaped.push({ ...base, action: 'failed', reason });
    return;
  }
  if (!(await catalog.redriveRestoreJob(job.restoreJobId, redrives, at))) {
    result.reaped.push({ ...base, action: 'raced' });
    return;
  }
  // Marked first, then sent: a send that fails is re-driven by a later tick, counted once more.
  const counts = job.slicesCutByBytes ? await catalog.getRestoreSliceCounts(job.restoreJobId) : undefined;
  await deps.queue.sendBatch(
    sliceRanges(job, missing, counts).map((range) => ({
      kind: 'restore-slice' as const,
      restoreJobId: job.restoreJobId,
      manifestId: job.manifestId,
      ...range,
    })),
  );
  result.reaped.push({ ...base, action: 'redriven' });
}

/** A RUNNING drill silent for the threshold: sent again, or FAILED after `maxRedrives`. */
async function reapDrill(
  deps: Deps,
  planId: string,
  drill: DrillRecord,
  at: string,
  options: ReaperOptions,
  silent: number,
  result: ReapResult,
): Promise<void> {
  if (silent <= options.staleSeconds) return;
  const base = { jobId: planId, taskId: `drill:${drill.drillId}`, silentSeconds: silent };
  const redrives = drill.redrives ?? 0;
  // Only the record as this tick read it: a concurrent tick's change (or the drill's end) wins.
  const same = (d: DrillRecord) => (d.redrives ?? 0) === redrives;
  if (redrives >= options.maxRedrives) {
    const reason = `drill ${drill.drillId}: no heartbeat for ${silent} s after ${redrives} redrives`;
    const failed = await changeRunningDrill(deps, planId, drill.drillId, (d) =>
      same(d) ? { ...d, status: 'FAILED', finishedAt: at, reason } : undefined,
    );
    result.reaped.push({ ...base, ...(failed ? { action: 'failed', reason } : { action: 'raced' }) });
    return;
  }
  const marked = await changeRunningDrill(deps, planId, drill.drillId, (d) =>
    same(d) ? { ...d, redrives: redrives + 1, heartbeatAt: at } : undefined,
  );
  if (!marked) {
    result.reaped.push({ ...base, action: 'raced' });
    return;
  }
  await deps.queue.send({ kind: 'drill', planId, drillId: drill.drillId, scheduledAt: drill.scheduledAt });
  result.reaped.push({ ...base, action: 'redriven' });
}

/** A RUNNING snapshot: re-drive its dead partitions; with no live task left, its plan task. */
async function reapSnapshot(
  deps: Deps,
  snapshot: SnapshotRecord,
  running: TaskRecord[],
  at: string,
  options: ReaperOptions,
  silentSeconds: (t: { heartbeatAt?: string; startedAt?: string }) => number,
  result: ReapResult,
): Promise<void> {
  const { catalog } = deps;
  const jobId = jobIdOf(snapshot);
  const base: SnapshotPlanTask = {
    kind: 'snapshot-plan',
    planId: snapshot.planId,
    snapshotId: snapshot.snapshotId,
    scheduledAt: snapshot.scheduledAt,
  };
  const partitions = running.filter((t) => /^snapshot:p\d+$/.test(t.taskId));
  // Read before this pass closes any record: what it writes is no sign of life.
  const tasks = await catalog.listTasks(jobId);
  let live = false;
  if (partitions.length > 0) {
    const done = new Set(
      (await catalog.listPartitions(snapshot.planId, snapshot.snapshotId)).map((p) => p.partition),
    );
    for (const task of partitions) {
      const index = Number(task.taskId.slice('snapshot:p'.length));
      const silent = silentSeconds(task);
      if (done.has(index)) {
        // Killed after its summary was counted, before its record was closed.
        await close(deps, task, { ...snapshot, status: 'COMMITTED' }, at, silent, result);
        continue;
      }
      if (silent <= options.staleSeconds) {
        live = true;
        continue;
      }
      const redriven = await redriveOrFail(
        deps,
        task,
        partitionTask(base, index),
        `partition ${index}`,
        at,
        silent,
        options,
        result,
      );
      if (redriven) live = true;
    }
  }
  if (live) return;
  // No partition is at work: the snapshot moves only if a task of it showed life lately.
  const job = await catalog.getJob(jobId);
  const signs = [
    job?.updatedAt,
    job?.createdAt,
    ...tasks.flatMap((t) => [t.heartbeatAt, t.startedAt, t.finishedAt]),
  ].filter((s): s is string => s !== undefined);
  const last = signs.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b), signs[0] ?? at);
  const silent = silentSeconds({ heartbeatAt: last });
  if (silent <= options.staleSeconds) return;
  const plan: TaskRecord = tasks.find((t) => t.taskId === 'snapshot') ?? {
    jobId,
    taskId: 'snapshot',
    status: 'RUNNING',
    attempts: 0,
  };
  // The last error a task of the snapshot recorded says why it keeps stopping.
  const lastError = tasks
    .filter((t) => t.error && t.finishedAt)
    .sort((a, b) => Date.parse(a.finishedAt ?? '') - Date.parse(b.finishedAt ?? ''))
    .at(-1);
  const label = lastError
    ? `snapshot (last error: ${labelOf(lastError.taskId)}: ${lastError.error})`
    : 'snapshot';
  await redriveOrFail(deps, plan, base, label, at, silent, options, result);
}

/**
 * Re-drive a dead task (conditionally on its redrive count), or fail it for good once it was re-driven
 * `maxRedrives` times. @returns whether it was re-driven (by this tick or a concurrent one).
 */
async function redriveOrFail(
  deps: Deps,
  task: TaskRecord,
  message: Task,
  label: string,
  at: string,
  silentSeconds: number,
  options: ReaperOptions,
  result: ReapResult,
): Promise<boolean> {
  const redrives = task.redrives ?? 0;
  const base = { jobId: task.jobId, taskId: task.taskId, silentSeconds };
  if (redrives >= options.maxRedrives) {
    const reason = `${label}: no heartbeat for ${silentSeconds} s after ${redrives} redrives`;
    await failForGood(deps, task, message, reason, at);
    result.reaped.push({ ...base, action: 'failed', reason });
    return false;
  }
  if (!(await deps.catalog.redriveTask(task.jobId, task.taskId, redrives, at))) {
    result.reaped.push({ ...base, action: 'raced' });
    return true;
  }
  // Marked first, then sent: a send that fails is re-driven by a later tick, counted once more.
  await deps.queue.send(message);
  result.reaped.push({ ...base, action: 'redriven' });
  return true;
}

/** The task, its job and (a snapshot task) its snapshot end FAILED with the reason. */
async function failForGood(deps: Deps, task: TaskRecord, message: Task, reason: string, at: string) {
  const { catalog } = deps;
  await catalog.updateTask(task.jobId, task.taskId, { status: 'FAILED', error: reason, finishedAt: at });
  if (message.kind === 'restore-slice' || message.kind === 'drill') return;
  if (await catalog.getJob(task.jobId)) {
    await catalog.updateJob(task.jobId, { status: 'FAILED', error: reason, updatedAt: at });
  }
  if (queueOf(message.kind) === 'snapshot') {
    await catalog.updateSnapshot(message.planId, message.snapshotId, { status: 'FAILED', error: reason }, [
      'RUNNING',
    ]);
  }
}

/** Close a RUNNING task record whose work has ended: as its snapshot (or copy) ended. */
async function close(
  deps: Deps,
  task: TaskRecord,
  snapshot: SnapshotRecord | undefined,
  at: string,
  silentSeconds: number,
  result: ReapResult,
  copyStatus?: string,
  copyError?: string,
): Promise<void> {
  const ok = copyStatus ? copyStatus === 'COPIED' : snapshot?.status === 'COMMITTED';
  const error = copyError ?? snapshot?.error ?? `snapshot is ${snapshot?.status ?? 'gone'}`;
  await deps.catalog.updateTask(task.jobId, task.taskId, {
    status: ok ? 'SUCCEEDED' : 'FAILED',
    finishedAt: at,
    ...(ok ? {} : { error }),
  });
  result.reaped.push({
    jobId: task.jobId,
    taskId: task.taskId,
    action: 'closed',
    silentSeconds,
    ...(ok ? {} : { reason: error }),
  });
}

async function getSnapshotOfJob(deps: Deps, jobId: string): Promise<SnapshotRecord | undefined> {
  const { planId, snapshotId } = splitJobId(jobId);
  return deps.catalog.getSnapshot(planId, snapshotId);
}

function splitJobId(jobId: string): { planId: string; snapshotId: string } {
  const i = jobId.indexOf('/');
  return { planId: jobId.slice(0, i), snapshotId: jobId.slice(i + 1) };
}

/**
 * The message of a task, rebuilt from its ids: `copy:<region>` (copy), `verify` (verify),
 * `verify:<tier>` (verify-tier), `prune` (forget), `prune:<region>` (gc), `snapshot` (snapshot-plan),
 * `snapshot:p<index>` (snapshot-partition). (The reaper rebuilds a RUNNING snapshot's tasks in
 * {@link reapSnapshot}, which knows their scheduled time.)
 */
async function messageOf(deps: Deps, task: TaskRecord): Promise<Task> {
  const { planId, snapshotId } = splitJobId(task.jobId);
  const [kind, arg] = task.taskId.split(':') as [string, string | undefined];
  if (kind === 'copy' && arg) return { kind: 'copy', planId, snapshotId, region: arg };
  if (kind === 'verify') {
    const tier = arg as 'catalog' | 'checksum' | 'deep' | undefined;
    if (!tier) return { kind: 'verify', planId, snapshotId };
    if (tier === 'deep') {
      // A deep pass goes on from its cursor; `all` as the pass in progress recorded it.
      const snapshot = await deps.catalog.getSnapshot(planId, snapshotId);
      const all = snapshot?.verification?.tiers.deep?.scope === 'all';
      return { kind: 'verify-tier', planId, snapshotId, tier, ...(all ? { all } : {}) };
    }
    return { kind: 'verify-tier', planId, snapshotId, tier };
  }
  if (kind === 'prune')
    return arg ? { kind: 'gc', planId, snapshotId, region: arg } : { kind: 'forget', planId, snapshotId };
  if (kind === 'snapshot') {
    const snapshot = await deps.catalog.getSnapshot(planId, snapshotId);
    const scheduledAt = snapshot?.scheduledAt ?? new Date(0).toISOString();
    const index = arg?.startsWith('p') ? Number(arg.slice(1)) : undefined;
    const plan: Task = { kind: 'snapshot-plan', planId, snapshotId, scheduledAt };
    return index !== undefined ? partitionTask(plan, index) : plan;
  }
  throw new Error(`task ${task.jobId} ${task.taskId} cannot be re-driven: unknown task id`);
}

/** Words for a task in a reason: `partition 3`, `copy to eu-west-1`, `verify:deep`. */
function labelOf(taskId: string): string {
  if (taskId.startsWith('snapshot:p')) return `partition ${taskId.slice('snapshot:p'.length)}`;
  if (taskId.startsWith('copy:')) return `copy to ${taskId.slice('copy:'.length)}`;
  if (taskId.startsWith('prune:')) return `garbage collection in ${taskId.slice('prune:'.length)}`;
  return taskId;
}
