/**
 * Planning a snapshot: its partitions' key ranges (at the parent's part boundaries, or from a first
 * listing), recorded once on the snapshot record, and the first partitions enqueued.
 */

import { nowIso, type PipelineDeps, tuningOf } from '../pipeline.ts';
import { DEFAULT_MAX_PARALLEL_PARTITIONS, DEFAULT_PARTITION_OBJECTS, isTableSource } from '../plan.ts';
import type { ListingLeg, PartitionPlan, PlanRecord, SnapshotRecord } from '../records.ts';
import { readManifest } from '../repository/read-documents.ts';
import { resetLostWork } from '../retry.ts';
import { sourceOf } from '../source/index.ts';
import { segmentBoundaries } from '../table/scan-partition.ts';
import { jobIdOf, partitionTask, type SnapshotTask } from '../tasks.ts';
import type { Manifest } from '../vault.ts';
import { continuousMode, journalBuilt } from './mode.ts';
import { latestCommittedBefore } from './parent.ts';
import type { SnapshotResult } from './result.ts';
import { seal } from './seal.ts';

/**
 * Plan a snapshot: record its partition plan (once) and enqueue the partitions not done yet, at most
 * the plan's `maxParallelPartitions` of them; each finishing partition enqueues the next.
 */
export async function planSnapshot(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
): Promise<SnapshotResult> {
  const { catalog, clock } = deps;
  const jobId = jobIdOf(record);
  await catalog.startTask(jobId, 'snapshot', nowIso(clock));
  let recorded: PartitionPlan;
  if (record.partitionBoundaries) {
    // Planned before (a retry, or this task delivered again): keep only work that is still whole.
    await resetLostWork(deps, plan.id, record.snapshotId);
    recorded = {
      boundaries: record.partitionBoundaries,
      parentSnapshotId: record.parentSnapshotId ?? null,
      time: record.time ?? nowIso(clock),
    };
  } else {
    const time = nowIso(clock);
    const parent = await latestCommittedBefore(deps, plan.id, record.snapshotId);
    if (plan.continuous && parent?.manifestId) {
      const mode = await continuousMode(deps, plan, parent);
      if (mode === 'journal') return journalBuilt(deps, plan, record, parent);
      await catalog.updateSnapshot(plan.id, record.snapshotId, { mode }, ['RUNNING']);
      record.mode = mode;
    }
    const target = plan.snapshot?.partitionObjects ?? DEFAULT_PARTITION_OBJECTS;
    const boundaries = isTableSource(plan.source)
      ? await segmentBoundaries(deps, plan)
      : parent?.manifestId
        ? boundariesFromParent(
            await readManifest(deps.vaults.primary, deps.envelope, plan.id, parent.manifestId),
            target,
          )
        : await boundariesFromListing(deps, plan, record, task, target);
    if (!Array.isArray(boundaries)) return boundaries; // the listing goes on in another invocation
    recorded = await catalog.planPartitions(plan.id, record.snapshotId, {
      boundaries,
      parentSnapshotId: parent?.snapshotId ?? null,
      time,
    });
  }
  const total = recorded.boundaries.length + 1;
  const done = new Set((await catalog.listPartitions(plan.id, record.snapshotId)).map((p) => p.partition));
  const window = plan.snapshot?.maxParallelPartitions ?? DEFAULT_MAX_PARALLEL_PARTITIONS;
  const todo = [...Array(total).keys()].filter((i) => !done.has(i)).slice(0, window);
  await deps.queue.sendBatch(todo.map((index) => partitionTask(task, index)));
  await catalog.updateTask(jobId, 'snapshot', { progress: { done: done.size, total } });
  if (todo.length === 0 && done.size === total) {
    // Every partition is done (a redelivered plan task after a crash before the seal): seal now.
    return seal(deps, plan, record.snapshotId);
  }
  return { status: 'PLANNED', snapshotId: record.snapshotId, partitions: total };
}

/** Boundaries at the parent's part boundaries, grouping parts until a group holds `target` objects. */
export function boundariesFromParent(parent: Pick<Manifest, 'parts'>, target: number): string[] {
  const boundaries: string[] = [];
  let objects = 0;
  for (const [i, part] of parent.parts.entries()) {
    objects += part.objectCount;
    if (objects >= target && i < parent.parts.length - 1) {
      boundaries.push(part.lastKey);
      objects = 0;
    }
  }
  return boundaries;
}

/**
 * Boundaries every `target` keys of one listing (the first snapshot of a plan). Keeps only the keys.
 * A listing longer than the invocation's time budget is carried across invocations in legs: with
 * less than the time reserve left, this invocation records its leg (where it stopped, the boundaries
 * it found), enqueues the plan task again and stops; the next one lists on from there. Of two
 * deliveries that listed the same leg, the second to record it stops (SKIPPED).
 * @returns the boundaries, or what this task did when the listing goes on elsewhere.
 * @see ../../../docs/format.md#partitions
 */
async function boundariesFromListing(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
  target: number,
): Promise<string[] | SnapshotResult> {
  const { catalog } = deps;
  const legs = await catalog.listListingLegs(plan.id, record.snapshotId);
  const last = legs.at(-1);
  const fresh: string[] = [];
  let n = last?.keysListed ?? 0;
  let pending = last?.pendingBoundary;
  let listed = 0;
  const reserveMs = tuningOf(deps).timeReserveSeconds * 1000;
  const every = tuningOf(deps).partitionBatchObjects;
  for await (const o of sourceOf(deps, plan.source).list(last ? { startAfter: last.afterKey } : {})) {
    if (pending !== undefined) {
      fresh.push(pending); // only a boundary when some key follows it
      pending = undefined;
    }
    n += 1;
    listed += 1;
    if (n % target === 0) pending = o.key;
    if (listed % every === 0 && deps.remainingTimeMs && deps.remainingTimeMs() < reserveMs) {
      const leg: ListingLeg = {
        leg: legs.length,
        afterKey: o.key,
        partitionBoundaries: fresh,
        keysListed: n,
        ...(pending === undefined ? {} : { pendingBoundary: pending }),
        recordedAt: nowIso(deps.clock),
      };
      const snapshotId = record.snapshotId;
      if (!(await catalog.putListingLeg(plan.id, snapshotId, leg))) {
        return {
          status: 'SKIPPED',
          snapshotId,
          reason: `another delivery recorded leg ${leg.leg} of the first listing`,
        };
      }
      await deps.queue.send(task);
      await catalog.updateTask(jobIdOf(record), 'snapshot', { progress: { done: n } });
      return {
        status: 'CONTINUED',
        snapshotId,
        reason: `first listing: ${n} keys listed, going on after ${o.key}`,
      };
    }
  }
  return [...legs.flatMap((l) => l.partitionBoundaries), ...fresh];
}
