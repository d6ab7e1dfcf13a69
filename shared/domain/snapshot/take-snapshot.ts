/**
 * Taking a snapshot, fanned out by key range (docs/format.md#partitions):
 *
 * 1. The snapshot task (no `partition`) plans: it splits the source into key ranges — at the
 *    boundaries of the parent's manifest parts, or from a first listing — records the plan once on
 *    the snapshot record (boundaries, parent, time), and enqueues the first partitions.
 * 2. Each partition task lists its range, reuses the parent's entries for unchanged objects, reads
 *    changed ones chunk by chunk into packs, then stores packs → index → manifest parts, and counts
 *    itself done with its summary in one conditional transaction. When its time budget runs low it
 *    stores what it has and re-enqueues itself from the last key done.
 * 3. The partition whose count completes the plan seals: manifest root last, then the conditional
 *    RUNNING → COMMITTED (exactly once, whatever is delivered twice).
 * @see ../../../docs/format.md#read-and-write-ordering
 */

import { NotFoundError, reasonOf, SourceUnavailableError } from '../errors.ts';
import { nowIso, type PipelineDeps, recordTaskFailure } from '../pipeline.ts';
import { isTableSource } from '../plan.ts';
import type { SnapshotRecord } from '../records.ts';
import { runTablePartition } from '../table/scan-partition.ts';
import { jobIdOf, type SnapshotTask } from '../tasks.ts';
import { resumeOf, runPartition } from './partition.ts';
import { planSnapshot } from './plan-partitions.ts';
import type { SnapshotResult } from './result.ts';
import { fanOutAfterCommit } from './seal.ts';

export type { SnapshotResult } from './result.ts';

/**
 * Run a snapshot task: `snapshot-plan` plans the snapshot, `snapshot-partition` stores one partition.
 * @throws NotFoundError (not retryable) when the plan or the job does not exist.
 * @throws TransientError (retryable) on storage or catalog failures that may pass; a redelivered
 *   partition starts its range over (or from its last checkpoint), reusing what the index holds.
 * A missing or unreadable source bucket is not thrown: the job and snapshot are marked FAILED with
 * the reason, and the previous snapshots stay intact.
 * @example
 * ```ts
 * await takeSnapshot(deps, { kind: 'snapshot-plan', planId: 'photos', snapshotId, scheduledAt });
 * await takeSnapshot(deps, { kind: 'snapshot-partition', planId: 'photos', snapshotId, scheduledAt, partition: { index: 0 } });
 * ```
 */
export async function takeSnapshot(deps: PipelineDeps, task: SnapshotTask): Promise<SnapshotResult> {
  const { catalog } = deps;
  const jobId = jobIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  const record = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!record)
    throw new NotFoundError(
      `snapshot ${jobId} has no job: start it with the scheduler or 'strongbox backup'`,
    );
  if (record.status === 'COMMITTED') {
    // A redelivery after the commit: make sure the next stage was asked for, then stop.
    await fanOutAfterCommit(deps, plan, task.snapshotId);
    return { status: 'ALREADY_COMMITTED', snapshotId: task.snapshotId };
  }
  if (record.status !== 'RUNNING')
    return { status: 'SKIPPED', snapshotId: task.snapshotId, reason: record.status };

  const taskId = task.kind === 'snapshot-partition' ? `snapshot:p${task.partition.index}` : 'snapshot';
  try {
    if (task.kind === 'snapshot-plan') return await planSnapshot(deps, plan, record, task);
    const resume = await resumeOf(deps, record, task.partition.index, task.partition.resume);
    const run = isTableSource(plan.source) ? runTablePartition : runPartition;
    return await run(deps, plan, record, task, task.partition.index, resume);
  } catch (error) {
    if (!(error instanceof SourceUnavailableError)) {
      await recordTaskFailure(deps, jobId, taskId, error);
      throw error;
    }
    const reason = reasonOf(error);
    await failSnapshot(deps, record, taskId, reason);
    return { status: 'FAILED', snapshotId: task.snapshotId, reason };
  }
}

async function failSnapshot(deps: PipelineDeps, record: SnapshotRecord, taskId: string, reason: string) {
  const { catalog, clock } = deps;
  const jobId = jobIdOf(record);
  await catalog.updateSnapshot(record.planId, record.snapshotId, { status: 'FAILED', error: reason }, [
    'RUNNING',
  ]);
  await catalog.updateJob(jobId, { status: 'FAILED', error: reason, updatedAt: nowIso(clock) });
  await catalog.updateTask(jobId, taskId, { status: 'FAILED', error: reason, finishedAt: nowIso(clock) });
}
