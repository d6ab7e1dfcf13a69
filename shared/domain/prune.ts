/**
 * Prune: apply a plan's retention and forget the snapshots it drops, then fan garbage collection out
 * to one task per region; each takes its vault's lease and collects it (gc/: read, plan, execute —
 * two-phase mark and sweep with rescue, and repacking of packs that are mostly unreferenced).
 *
 * Safety (docs/format.md#read-and-write-ordering, docs/format.md#garbage-collection):
 * - the newest committed snapshot of a plan, the parent of a running snapshot, a snapshot that
 *   failed verification and a snapshot still running are never forgotten (forget.ts);
 * - forgetting only marks a record FORGOTTEN: the record stays as a tombstone, which garbage
 *   collection deletes once no vault holds its root (see gc/collect.ts for the collection's rules).
 *
 * @see ../../docs/format.md#garbage-collection
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError } from './errors.ts';
import { decideRetention } from './forget.ts';
import { collectGarbage } from './gc/collect.ts';
import { MarkCheckpoint } from './gc/mark-checkpoint.ts';
import { emptyGcResult, type VaultGcResult } from './gc/result.ts';
import { allVaults } from './gc/store.ts';
import { extendRetentionForPlan } from './immutability.ts';
import { journalExpiryCutoff } from './journal-expiry.ts';
import { nowIso, type PipelineDeps, recordTaskFailure, tuningOf, vaultIn } from './pipeline.ts';
import { quarantineBlocksGc } from './quarantine.ts';
import type { RetentionDecision } from './retention/apply.ts';
import { type ForgetTask, type GcTask, jobIdOf, type PruneTask, taskIdOf } from './tasks.ts';

/** What a prune task did. */
export interface PruneResult {
  decisions: RetentionDecision[];
  kept: number;
  forgotten: string[];
  /** Per region: what garbage collection did in that region's vault (a region task fills its own). */
  gc: Record<string, VaultGcResult>;
  /** The regions a forget task enqueued a `gc` task for (task ids `prune:<region>`). */
  gcRegions: string[];
}

/**
 * Run a task of the prune queue. `forget`: apply the plan's retention (mark what it drops FORGOTTEN:
 * the records stay as tombstones, which garbage collection deletes once their roots are gone) and
 * enqueue `{kind:'gc', planId, snapshotId, region}` for every region. `gc`: collect garbage in that
 * region's vault (every plan sharing it).
 * @throws NotFoundError (not retryable) for an unknown plan, or a region without a vault.
 * @throws TransientError (retryable) on storage or catalog failures; a rerun picks up where it stopped
 *   (every step is idempotent: deleting a missing key succeeds, a rewritten index is content-addressed,
 *   a mark put twice only moves later).
 * @example
 * ```ts
 * const { forgotten, gcRegions } = await prunePlan(deps, { kind: 'forget', planId: 'photos', snapshotId });
 * const { gc } = await prunePlan(deps, { kind: 'gc', planId: 'photos', snapshotId, region: 'us-east-1' });
 * console.log(gc['us-east-1']?.packsMarked, gc['us-east-1']?.packsDeleted);
 * ```
 */
export async function prunePlan(deps: PipelineDeps, task: PruneTask): Promise<PruneResult> {
  return task.kind === 'gc' ? collectRegion(deps, task) : forget(deps, task);
}

/** Restore jobs looked at (newest first) for one still replaying a plan's journal. */
const RESTORE_JOBS_CONSIDERED = 1000;

/** A forget task: retention, Object Lock extensions, then one `gc` task per region (see {@link prunePlan}). */
async function forget(deps: PipelineDeps, task: ForgetTask): Promise<PruneResult> {
  const { catalog, clock } = deps;
  const jobId = jobIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  await catalog.startTask(jobId, 'prune', nowIso(clock));
  try {
    const snapshots = await catalog.listSnapshots(plan.id);
    const { decisions } = decideRetention(snapshots, plan, clock.now());
    // A plan in quarantine forgets nothing and keeps its journal: what was taken before the attack
    // must not age out while the attacker's changes come in (quarantine.ts).
    const quarantine = await catalog.getQuarantine(plan.id);
    const forgotten: string[] = [];
    for (const d of decisions) {
      if (d.keep || quarantine) continue;
      const ok = await catalog.updateSnapshot(
        plan.id,
        d.snapshotId,
        { status: 'FORGOTTEN', forgottenAt: nowIso(clock) },
        ['COMMITTED'],
      );
      if (ok) forgotten.push(d.snapshotId);
    }
    // Object Lock: extend the retain-until dates of what the kept snapshots reference (a no-op
    // without a lock), before any garbage collection looks at dates.
    const remaining = await catalog.listSnapshots(plan.id);
    const extensions = await extendRetentionForPlan(deps, plan, remaining);
    // Journal expiry: the entries no reader will ask for again (see journal-expiry.ts).
    const restoring = (await catalog.listRestoreJobs(RESTORE_JOBS_CONSIDERED)).filter(
      (j) => j.planId === plan.id,
    );
    const expireBefore = quarantine ? undefined : journalExpiryCutoff(remaining, clock.now(), restoring);
    const journalExpired = expireBefore ? await catalog.expireJournal(plan.id, expireBefore) : 0;
    // Garbage collection: one task per region, each collecting its own vault.
    const gcRegions = allVaults(deps).map((v) => v.region);
    for (const region of gcRegions) {
      await deps.queue.send({
        kind: 'gc',
        planId: plan.id,
        snapshotId: task.snapshotId,
        region,
        ...(task.force ? { force: true } : {}),
      });
    }
    // The FORGOTTEN records stay: they are the tombstones that let garbage collection delete the
    // roots (and it deletes them once no vault holds their root).
    const result: PruneResult = {
      decisions,
      kept: quarantine ? decisions.length : decisions.filter((d) => d.keep).length,
      forgotten,
      gc: {},
      gcRegions,
    };
    await catalog.updateTask(jobId, 'prune', {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      result: {
        kept: result.kept,
        forgotten: forgotten.length,
        retentionExtended: extensions.reduce((n, r) => n + r.extended, 0),
        journalExpired,
        gcRegions: gcRegions.join(','),
        ...(quarantine
          ? { paused: `quarantine since ${quarantine.since}: nothing forgotten or expired` }
          : {}),
      },
    });
    const job = await catalog.getJob(jobId);
    if (job && job.status === 'RUNNING')
      await catalog.updateJob(jobId, { status: 'SUCCEEDED', updatedAt: nowIso(clock) });
    return result;
  } catch (error) {
    await recordTaskFailure(deps, jobId, 'prune', error);
    throw error;
  }
}

/**
 * A gc task: collect the vault of `task.region` against the live set, recording the figures on the
 * task `prune:<region>` of the job that asked.
 * @throws NotFoundError (not retryable) when no vault is configured in `region`.
 * @throws TransientError (retryable) on storage or catalog failures.
 */
async function collectRegion(deps: PipelineDeps, task: GcTask): Promise<PruneResult> {
  const { catalog, clock } = deps;
  const region = task.region;
  const vault = vaultIn(deps.vaults, region);
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  await catalog.startTask(jobId, taskId, nowIso(clock));
  try {
    // The run's time is taken BEFORE the live set is read: a mark older than the grace period at
    // this time was already old when the live set was read.
    const startedMs = clock.now().getTime();
    // One run per vault at a time: a run's index rewrite from a stale read could bring back an
    // entry another run dropped (and then deleted the pack of).
    const owner = randomUUID();
    const until = new Date(startedMs + GC_LEASE_SECONDS * 1000).toISOString();
    let gc: VaultGcResult;
    const paused =
      (await quarantineBlocksGc(deps)) ?? (task.force ? undefined : await gcNotDue(deps, vault.bucket));
    if (paused) {
      gc = { ...emptyGcResult(), deferred: paused };
    } else if (
      !(await catalog.acquireGcLease(vault.bucket, owner, new Date(startedMs).toISOString(), until))
    ) {
      gc = { ...emptyGcResult(), deferred: `another garbage collection or a copy holds ${vault.bucket}` };
    } else {
      let completedAt: string | undefined;
      try {
        gc = await collectGarbage(deps, vault, startedMs, {
          checkpoint: new MarkCheckpoint(vault, deps.envelope),
          ...markBudget(deps),
        });
        // Only a run that did all its work counts as the last one: one that deferred (an unreadable
        // index, an incomplete live set) or goes on in another invocation leaves that to later.
        if (!gc.deferred && !gc.continued) completedAt = nowIso(clock);
      } finally {
        await catalog.releaseGcLease(vault.bucket, owner, completedAt);
      }
    }
    if (gc.continued) {
      // The lease is given back between invocations (sealers and copies may go on meanwhile): the
      // next invocation takes it again, with its own time, and decides what is live afresh.
      await deps.queue.send(task);
      await catalog.updateTask(jobId, taskId, { result: gcFigures(gc) });
      return { decisions: [], kept: 0, forgotten: [], gc: { [region]: gc }, gcRegions: [] };
    }
    await catalog.updateTask(jobId, taskId, {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      result: gcFigures(gc),
    });
    return { decisions: [], kept: 0, forgotten: [], gc: { [region]: gc }, gcRegions: [] };
  } catch (error) {
    await recordTaskFailure(deps, jobId, taskId, error);
    throw error;
  }
}

/**
 * When a run's mark stops reading parts: once the invocation's time left falls under half of what
 * it had when the run began (the other half is for reading the index documents, planning and
 * deleting), or under `timeReserveSeconds`; no budget without `remainingTimeMs`.
 */
function markBudget(deps: PipelineDeps): { outOfTime?: () => boolean } {
  const remaining = deps.remainingTimeMs;
  const began = remaining?.();
  if (!remaining || began === undefined) return {};
  const stopUnderMs = Math.max(tuningOf(deps).timeReserveSeconds * 1000, began / 2);
  return { outOfTime: () => remaining() < stopUnderMs };
}

/**
 * Why a prune after a snapshot leaves the vault bucket `bucket` alone: its last completed
 * garbage-collection run ended less than `gcIntervalSeconds` ago (docs/format.md#garbage-collection);
 * undefined when a run is due (or the interval is 0).
 * @throws TransientError (retryable) from the catalog.
 */
export async function gcNotDue(deps: PipelineDeps, bucket: string): Promise<string | undefined> {
  const intervalSeconds = tuningOf(deps).gcIntervalSeconds;
  if (intervalSeconds <= 0) return undefined;
  const last = await deps.catalog.lastGcCompletedAt(bucket);
  if (!last) return undefined;
  const ageMs = deps.clock.now().getTime() - Date.parse(last);
  // A last run in the future (a clock that went back) does not hold collection off for ever.
  if (ageMs < 0 || ageMs >= intervalSeconds * 1000) return undefined;
  return `last GC ${last} (< ${formatSeconds(intervalSeconds)} ago; gcIntervalSeconds)`;
}

/** `21600` → `6h`, `90` → `90s`, `5400` → `90m`. */
function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/**
 * How long a garbage-collection run holds its vault's lease: longer than a run can take (the prune
 * function's timeout is at most 15 minutes); a run that died holding it blocks others no longer.
 */
export const GC_LEASE_SECONDS = 1800;

/** A region's figures for its task record (numbers, and `deferred` when set). */
function gcFigures(gc: VaultGcResult): Record<string, number | string> {
  const figures: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(gc)) if (typeof v === 'number' || typeof v === 'string') figures[k] = v;
  return figures;
}
