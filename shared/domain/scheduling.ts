/**
 * The scheduler's use cases: on each tick, start exactly one snapshot job per plan and scheduled
 * time (idempotent on plan + scheduled time), by enqueueing a snapshot-plan task; and enqueue the
 * verification tiers a plan schedules on its own (`verification.schedules`) for its newest
 * committed snapshot, and its restore drills (`drill.schedule`), once per plan and occurrence.
 */
import { drillIdFor, updateDrillHistory } from './drill.ts';
import { ConflictError, isRetryable, NotFoundError, reasonOf } from './errors.ts';
import type { PipelineDeps } from './pipeline.ts';
import { DEFAULT_REAPER_OPTIONS } from './reaper.ts';
import type { PlanRecord, VerificationTier } from './records.ts';
import { checkTag } from './retention/policy.ts';
import { FAILED_SNAPSHOT_RETRY_DAYS, isAbandoned } from './retry.ts';
import { latestOccurrence, parseSchedule } from './schedule.ts';
import { jobIdOf } from './tasks.ts';
import { snapshotIdFor } from './vault.ts';

/** A job the scheduler started (or found already started). */
export interface StartedJob {
  planId: string;
  snapshotId: string;
  scheduledAt: string;
  created: boolean;
}

type Deps = Pick<PipelineDeps, 'catalog' | 'queue' | 'clock'>;

/**
 * Start the due snapshot job of every enabled plan at tick time `at`: the latest occurrence of the
 * plan's schedule at or before `at` (missed occurrences are not replayed one by one).
 * @param at the tick's time (the EventBridge event's `time`), ISO-8601 UTC.
 * @example
 * ```ts
 * const { started, failed } = await startDueSnapshots(deps, event.time);
 * ```
 */
export async function startDueSnapshots(deps: Deps, at: string): Promise<TickResult> {
  const result: TickResult = { started: [], failed: [] };
  for (const plan of await deps.catalog.listPlans()) {
    if (!plan.enabled) continue;
    try {
      const anchor = new Date(Math.floor(Date.parse(plan.createdAt) / 1000) * 1000);
      const due = latestOccurrence(parseSchedule(plan.schedule), anchor, new Date(at));
      if (due) result.started.push(await startSnapshotJob(deps, plan, due));
    } catch (error) {
      // One plan's failure must not keep the others from their schedule.
      result.failed.push({ planId: plan.id, reason: reasonOf(error), retryable: isRetryable(error) });
    }
  }
  return result;
}

/** What one tick did: the jobs it started (or found started), and the plans it could not start. */
export interface TickResult {
  started: StartedJob[];
  failed: { planId: string; reason: string; retryable: boolean }[];
}

/** A scheduled verification the tick enqueued (`created`), or found enqueued for that time already. */
export interface StartedVerification {
  planId: string;
  snapshotId: string;
  tier: VerificationTier;
  /** ISO-8601 UTC: the occurrence of the tier's schedule. */
  scheduledAt: string;
  created: boolean;
}

/**
 * Enqueue the due verification tiers of every enabled plan at tick time `at`: for each tier the plan
 * schedules (`verification.schedules`), when the latest occurrence at or before `at` is later than
 * the plan's newest committed snapshot's commit (the pipeline verified it then) and was not
 * enqueued yet, a verify-tier task of that tier for that snapshot (a scheduled deep tier checks every
 * blob). The occurrence is recorded on the snapshot (`scheduledVerification`) after the send, so a
 * tick delivered twice enqueues it once, and a failed send is retried by the next tick.
 * @param at the tick's time, ISO-8601 UTC.
 * @see docs/format.md#verification
 */
export async function startDueVerifications(
  deps: Deps,
  at: string,
): Promise<{ started: StartedVerification[]; failed: TickResult['failed'] }> {
  const started: StartedVerification[] = [];
  const failed: TickResult['failed'] = [];
  for (const plan of await deps.catalog.listPlans()) {
    const schedules = plan.verification.schedules;
    if (!plan.enabled || !schedules) continue;
    try {
      const snapshot = (await deps.catalog.listSnapshots(plan.id))
        .filter((s) => s.status === 'COMMITTED')
        .at(-1);
      if (!snapshot) continue;
      const anchor = new Date(Math.floor(Date.parse(plan.createdAt) / 1000) * 1000);
      let recorded = { ...(snapshot.scheduledVerification ?? {}) };
      for (const tier of ['catalog', 'checksum', 'deep'] as const) {
        const schedule = schedules[tier];
        if (!schedule) continue;
        const due = latestOccurrence(parseSchedule(schedule), anchor, new Date(at));
        if (!due || due.getTime() <= Date.parse(snapshot.committedAt ?? snapshot.scheduledAt)) continue;
        const scheduledAt = due.toISOString();
        const item = { planId: plan.id, snapshotId: snapshot.snapshotId, tier, scheduledAt };
        if (recorded[tier] === scheduledAt) {
          started.push({ ...item, created: false });
          continue;
        }
        await deps.queue.send({
          kind: 'verify-tier',
          planId: plan.id,
          snapshotId: snapshot.snapshotId,
          tier,
          ...(tier === 'deep' ? { all: true } : {}),
        });
        recorded = { ...recorded, [tier]: scheduledAt };
        await deps.catalog.updateSnapshot(plan.id, snapshot.snapshotId, { scheduledVerification: recorded }, [
          'COMMITTED',
        ]);
        started.push({ ...item, created: true });
      }
    } catch (error) {
      failed.push({ planId: plan.id, reason: reasonOf(error), retryable: isRetryable(error) });
    }
  }
  return { started, failed };
}

/** A drill the tick enqueued (`created`), or found enqueued for that occurrence already. */
export interface StartedDrill {
  planId: string;
  drillId: string;
  /** ISO-8601 UTC: the occurrence of the plan's drill schedule (or the request time). */
  scheduledAt: string;
  created: boolean;
}

/**
 * Enqueue the due restore drill of every enabled plan with a `drill` schedule at tick time `at`:
 * when the schedule's latest occurrence at or before `at` was not enqueued yet and the plan has a
 * committed snapshot, a drill task named after the occurrence. The occurrence is recorded on the
 * plan's drill history (`scheduledAt`) after the send, so a tick delivered twice enqueues it once
 * (and a drill delivered twice runs once: its id is recorded), and a failed send is retried by the
 * next tick.
 * @param at the tick's time, ISO-8601 UTC.
 * @see docs/format.md#restore-drills
 */
export async function startDueDrills(
  deps: Deps,
  at: string,
): Promise<{ started: StartedDrill[]; failed: TickResult['failed'] }> {
  const started: StartedDrill[] = [];
  const failed: TickResult['failed'] = [];
  for (const plan of await deps.catalog.listPlans()) {
    if (!plan.enabled || !plan.drill) continue;
    try {
      const anchor = new Date(Math.floor(Date.parse(plan.createdAt) / 1000) * 1000);
      const due = latestOccurrence(parseSchedule(plan.drill.schedule), anchor, new Date(at));
      if (!due) continue;
      const committed = (await deps.catalog.listSnapshots(plan.id)).some((s) => s.status === 'COMMITTED');
      if (!committed) continue;
      const scheduledAt = due.toISOString();
      const item = { planId: plan.id, drillId: drillIdFor(due), scheduledAt };
      if ((await deps.catalog.getDrillHistory(plan.id))?.scheduledAt === scheduledAt) {
        started.push({ ...item, created: false });
        continue;
      }
      await deps.queue.send({ kind: 'drill', ...item });
      await updateDrillHistory(deps, plan.id, (previous) => ({
        planId: plan.id,
        drills: [],
        ...previous,
        version: (previous?.version ?? 0) + 1,
        scheduledAt,
      }));
      started.push({ ...item, created: true });
    } catch (error) {
      failed.push({ planId: plan.id, reason: reasonOf(error), retryable: isRetryable(error) });
    }
  }
  return { started, failed };
}

/**
 * Enqueue a restore drill of a plan now (`strongbox drill`), named after the current millisecond
 * (`20261122T010000.123Z`: two requests in one second are two drills).
 * @throws NotFoundError (not retryable) for an unknown plan, or one without a committed snapshot.
 * @example
 * ```ts
 * const { drillId } = await startDrillNow(deps, 'photos');
 * ```
 */
export async function startDrillNow(deps: Deps, planId: string): Promise<StartedDrill> {
  const plan = await deps.catalog.getPlan(planId);
  if (!plan) throw new NotFoundError(`plan '${planId}' does not exist`);
  const snapshots = await deps.catalog.listSnapshots(planId);
  if (!snapshots.some((s) => s.status === 'COMMITTED')) {
    throw new NotFoundError(`plan '${planId}' has no committed snapshot to drill yet`);
  }
  const at = deps.clock.now();
  const item = { planId, drillId: drillIdFor(at, 'millisecond'), scheduledAt: at.toISOString() };
  await deps.queue.send({ kind: 'drill', ...item });
  return { ...item, created: true };
}

/**
 * Start an on-demand snapshot of a plan now (`strongbox backup [--tag t]…`): its id is the current
 * millisecond (`20261121T234500.123Z`), so two requests in one second are two snapshots; a request in
 * the millisecond of an existing snapshot is that snapshot's job (`created: false`).
 * @param options.tags tags recorded on the new snapshot (for the `keepTag` retention rule), duplicates
 *   dropped; ignored when a snapshot of this millisecond already exists.
 * @throws NotFoundError (not retryable) for an unknown plan.
 * @throws RetentionPolicyError (a ValidationError, not retryable; field `tags[i]`) for an invalid tag.
 * @example
 * ```ts
 * await startSnapshotNow(deps, 'photos', { tags: ['before-migration'] });
 * ```
 * @see docs/format.md#retention
 */
export async function startSnapshotNow(
  deps: Deps,
  planId: string,
  options: { tags?: readonly string[] } = {},
): Promise<StartedJob> {
  const tags = [...new Set((options.tags ?? []).map((t, i) => checkTag(t, `tags[${i}]`)))];
  const plan = await deps.catalog.getPlan(planId);
  if (!plan) throw new NotFoundError(`plan '${planId}' does not exist`);
  return startSnapshotJob(deps, plan, deps.clock.now(), tags, 'millisecond');
}

/**
 * Retry a snapshot whose job failed (a partition failed on its last receive, or a source was
 * unavailable), or a RUNNING one whose every task went silent (its workers died: no heartbeat, start
 * or finish for `staleSeconds`; the reaper would re-drive it on its own, this does it now): back to
 * RUNNING and planned again. The partitions that finished keep their work — only those without a
 * done summary run again (from their checkpoint when they have one) — unless planning finds that
 * work no longer whole (see `resetLostWork` in retry.ts): those run again too.
 * @param options.staleSeconds silence after which a RUNNING snapshot counts as abandoned by its workers. @default 180
 * @throws NotFoundError for an unknown snapshot; ConflictError (not retryable) when the snapshot is not
 *   a failed, uncommitted one, nor a RUNNING one whose tasks are all stale (a committed snapshot that
 *   failed verification is never retried), or is abandoned (see `isAbandoned` in retry.ts).
 * @example
 * ```ts
 * await retrySnapshot(deps, 'photos', '20261122T010000Z');
 * ```
 * @see docs/format.md#tasks
 */
export async function retrySnapshot(
  deps: Deps,
  planId: string,
  snapshotId: string,
  options: { staleSeconds?: number } = {},
): Promise<StartedJob> {
  const snapshot = await deps.catalog.getSnapshot(planId, snapshotId);
  if (!snapshot) throw new NotFoundError(`snapshot ${planId}/${snapshotId} does not exist`);
  const jobId = jobIdOf({ planId, snapshotId });
  const now = deps.clock.now().toISOString();
  if (snapshot.status === 'RUNNING' && !snapshot.manifestId) {
    const staleSeconds = options.staleSeconds ?? DEFAULT_REAPER_OPTIONS.staleSeconds;
    const silent = await silentSeconds(deps, jobId);
    if (silent <= staleSeconds) {
      throw new ConflictError(
        `snapshot ${planId}/${snapshotId} is RUNNING and a task of it showed life ${silent} s ago: it is still at work (a RUNNING snapshot can be retried once every task is silent for ${staleSeconds} s)`,
      );
    }
  } else {
    if (snapshot.status !== 'FAILED' || snapshot.manifestId) {
      throw new ConflictError(
        `snapshot ${planId}/${snapshotId} is ${snapshot.status}${snapshot.manifestId ? ' (committed)' : ''}: only a failed, uncommitted snapshot (or a RUNNING one whose tasks are all stale) can be retried`,
      );
    }
    if (isAbandoned(snapshot, await deps.catalog.listSnapshots(planId), deps.clock.now())) {
      throw new ConflictError(
        `snapshot ${planId}/${snapshotId} is abandoned (${snapshot.abandonedAt ? `at ${snapshot.abandonedAt}` : `failed more than ${FAILED_SNAPSHOT_RETRY_DAYS} days ago, and a newer snapshot committed`}): its work may be deleted; start a new snapshot instead`,
      );
    }
    const resumed = await deps.catalog.updateSnapshot(planId, snapshotId, { status: 'RUNNING' }, ['FAILED']);
    if (!resumed) throw new ConflictError(`snapshot ${planId}/${snapshotId} changed meanwhile; try again`);
  }
  await deps.catalog.updateJob(jobId, { status: 'RUNNING', updatedAt: now });
  await deps.queue.send({ kind: 'snapshot-plan', planId, snapshotId, scheduledAt: snapshot.scheduledAt });
  return { planId, snapshotId, scheduledAt: snapshot.scheduledAt, created: false };
}

/** Seconds since the last sign of life of a job: its tasks' heartbeats, starts and ends, its own updates. */
async function silentSeconds(deps: Deps, jobId: string): Promise<number> {
  const job = await deps.catalog.getJob(jobId);
  const tasks = await deps.catalog.listTasks(jobId);
  const signs = [
    job?.createdAt,
    job?.updatedAt,
    ...tasks.flatMap((t) => [t.heartbeatAt, t.startedAt, t.finishedAt]),
  ]
    .filter((s): s is string => s !== undefined)
    .map((s) => Date.parse(s));
  const last = signs.length > 0 ? Math.max(...signs) : 0;
  return Math.round((deps.clock.now().getTime() - last) / 1000);
}

async function startSnapshotJob(
  deps: Deps,
  plan: PlanRecord,
  scheduledAt: Date,
  tags: readonly string[] = [],
  precision: 'second' | 'millisecond' = 'second',
): Promise<StartedJob> {
  const snapshotId = snapshotIdFor(scheduledAt, precision);
  const now = deps.clock.now().toISOString();
  const created = await deps.catalog.createJob(
    {
      jobId: jobIdOf({ planId: plan.id, snapshotId }),
      planId: plan.id,
      snapshotId,
      status: 'RUNNING',
      createdAt: now,
      updatedAt: now,
    },
    {
      planId: plan.id,
      snapshotId,
      status: 'RUNNING',
      scheduledAt: scheduledAt.toISOString(),
      ...(tags.length > 0 ? { tags: [...tags] } : {}),
    },
  );
  if (created || (await needsResend(deps, plan.id, snapshotId))) {
    await deps.queue.send({
      kind: 'snapshot-plan',
      planId: plan.id,
      snapshotId,
      scheduledAt: scheduledAt.toISOString(),
    });
  }
  return { planId: plan.id, snapshotId, scheduledAt: scheduledAt.toISOString(), created };
}

/** A job created earlier whose snapshot task never started (the send after the create failed). */
async function needsResend(deps: Deps, planId: string, snapshotId: string): Promise<boolean> {
  const snapshot = await deps.catalog.getSnapshot(planId, snapshotId);
  if (snapshot?.status !== 'RUNNING') return false;
  const tasks = await deps.catalog.listTasks(jobIdOf({ planId, snapshotId }));
  if (tasks.some((t) => t.taskId === 'snapshot')) return false;
  const job = await deps.catalog.getJob(jobIdOf({ planId, snapshotId }));
  const ageMs = deps.clock.now().getTime() - Date.parse(job?.createdAt ?? deps.clock.now().toISOString());
  return ageMs > 5 * 60_000;
}
