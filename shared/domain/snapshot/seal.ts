/** Sealing a snapshot: the manifest root last, the conditional commit, then the next stage. */

import { NotFoundError, TransientError } from '../errors.ts';
import { holdingVault } from '../gc/hold.ts';
import { copyTargetsOf, type PipelineDeps } from '../pipeline.ts';
import { isTableSource } from '../plan.ts';
import type { PartitionSummary, PlanRecord, SnapshotRecord } from '../records.ts';
import { writeManifest } from '../repository/write.ts';
import { missingParts } from '../retry.ts';
import { sealTable } from '../table/seal.ts';
import { jobIdOf, type Task } from '../tasks.ts';
import { manifestRoot } from '../vault.ts';
import type { SnapshotResult } from './result.ts';

/**
 * Seal: every partition is done, so write the manifest root (last) and commit RUNNING → COMMITTED.
 * Two sealers (a duplicate delivery, a crash after counting) may both write a root; the conditional
 * commit lets one win, and the other root is never visible (garbage collection removes it). From
 * the check that every part is stored to the commit, the sealer holds the primary vault against
 * garbage collection (docs/format.md#garbage-collection, step 9).
 * @throws TransientError (retryable) when not every partition is done, or a garbage-collection run
 *   holds the vault (the task is delivered again).
 */
export async function seal(
  deps: PipelineDeps,
  plan: PlanRecord,
  snapshotId: string,
): Promise<SnapshotResult> {
  // A table's segments stored sorted runs, not key ranges: its seal merges them (table/seal.ts).
  if (isTableSource(plan.source)) return sealTable(deps, plan, snapshotId);
  const { catalog, vaults } = deps;
  const record = await catalog.getSnapshot(plan.id, snapshotId);
  if (!record) throw new NotFoundError(`snapshot ${plan.id}/${snapshotId} does not exist`);
  if (record.status === 'COMMITTED') return { status: 'ALREADY_COMMITTED', snapshotId };
  if (record.status !== 'RUNNING') return { status: 'SKIPPED', snapshotId, reason: record.status };
  const summaries = await catalog.listPartitions(plan.id, snapshotId);
  const total = (record.partitionBoundaries?.length ?? 0) + 1;
  if (summaries.length !== total)
    throw new TransientError(`snapshot ${plan.id}/${snapshotId}: not every partition is done`);
  // Held from the check to the commit: parts are content-addressed, so a partition may have written
  // a part again that a run listed as garbage before; that run cannot delete it after the check.
  const sealed = await holdingVault(deps, vaults.primary, `seal:${plan.id}/${snapshotId}`, async () => {
    // Never a root naming a part the vault lacks (garbage collection deleted the work of a snapshot
    // that was failed long enough): the partitions that wrote such parts run again.
    const missing = await missingParts(
      deps,
      plan.id,
      summaries.flatMap((s) => s.parts),
    );
    if (missing.size > 0) return rerunPartitions(deps, plan, record, summaries, missing);
    return commitRoot(deps, plan, record, summaries);
  });
  if ('status' in sealed) return sealed;
  const { committed, completedAt, seconds, totals } = sealed;
  if (!committed) return { status: 'ALREADY_COMMITTED', snapshotId };
  await catalog.updateTask(jobIdOf(record), 'snapshot', {
    status: 'SUCCEEDED',
    finishedAt: completedAt.toISOString(),
    progress: { done: totals.objectCount, total: totals.objectCount, bytes: totals.logicalBytes },
    result: { status: 'COMMITTED', partitions: total, seconds, ...totals },
  });
  await fanOutAfterCommit(deps, plan, snapshotId);
  return { status: 'COMMITTED', snapshotId, partitions: total, seconds, ...totals };
}

/** Reset the partitions that wrote a missing part and send them again: the snapshot goes on. */
export async function rerunPartitions(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  summaries: readonly PartitionSummary[],
  missing: ReadonlySet<string>,
): Promise<SnapshotResult> {
  const { snapshotId } = record;
  const rerun = summaries.filter((s) => s.parts.some((p) => missing.has(p.partId))).map((s) => s.partition);
  for (const index of rerun) {
    await deps.catalog.resetPartition(plan.id, snapshotId, index);
    await deps.queue.send({
      kind: 'snapshot-partition',
      planId: plan.id,
      snapshotId,
      scheduledAt: record.scheduledAt,
      partition: { index },
    });
  }
  return {
    status: 'CONTINUED',
    snapshotId,
    reason: `partition(s) ${rerun.join(', ')} run again: ${missing.size} part(s) are missing`,
  };
}

/** Write the manifest root over every partition's parts (last), then commit RUNNING → COMMITTED. */
async function commitRoot(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  summaries: readonly PartitionSummary[],
) {
  const { catalog, clock, envelope, vaults } = deps;
  const { snapshotId } = record;
  const completedAt = clock.now();
  const time = record.time ?? completedAt.toISOString();
  const manifest = manifestRoot(
    {
      planId: plan.id,
      snapshotId,
      parentSnapshotId: record.parentSnapshotId ?? null,
      source: plan.source,
      scheduledAt: record.scheduledAt,
      time,
      completedAt: completedAt.toISOString(),
    },
    summaries.flatMap((s) => s.parts),
  );
  // Manifest root last: every part, index and pack it depends on is stored by now.
  const { manifestId } = await writeManifest(vaults.primary, envelope, manifest);
  const sum = (f: (s: PartitionSummary) => number) => summaries.reduce((n, s) => n + f(s), 0);
  const seconds = (completedAt.getTime() - Date.parse(time)) / 1000;
  const totals = {
    objectCount: manifest.totals.objectCount,
    logicalBytes: manifest.totals.logicalBytes,
    objectsRead: sum((s) => s.objectsRead),
    blobsWritten: sum((s) => s.blobsWritten),
    packsWritten: sum((s) => s.packsWritten),
    storedBytesWritten: sum((s) => s.storedBytesWritten),
    objectsVanished: sum((s) => s.objectsVanished),
  };
  const committed = await catalog.updateSnapshot(
    plan.id,
    snapshotId,
    {
      status: 'COMMITTED',
      startedAt: time,
      committedAt: completedAt.toISOString(),
      manifestId,
      objectCount: totals.objectCount,
      logicalBytes: totals.logicalBytes,
      objectsRead: totals.objectsRead,
      blobsWritten: totals.blobsWritten,
      packsWritten: totals.packsWritten,
      storedBytesWritten: totals.storedBytesWritten,
      seconds,
      // The listing ran after `time`: every change captured up to then is in it.
      ...(plan.continuous ? { journalUntil: time } : {}),
      ...(record.mode === 'reconcile' ? { reconcileMissed: sum((s) => s.reconcileMissed ?? 0) } : {}),
      regions: Object.fromEntries(
        copyTargetsOf(plan).map((region) => [region, { status: 'PENDING' as const }]),
      ),
    },
    ['RUNNING'],
  );
  return { committed, completedAt, seconds, totals };
}

/**
 * Ask for the stage after a commit: a copy task per copy region and isolated vault, or verification
 * when the plan copies nowhere. Safe to repeat: every downstream task is idempotent.
 */
export async function fanOutAfterCommit(
  deps: PipelineDeps,
  plan: PlanRecord,
  snapshotId: string,
): Promise<void> {
  const targets = copyTargetsOf(plan);
  const next: Task[] =
    targets.length > 0
      ? targets.map((region) => ({ kind: 'copy', planId: plan.id, snapshotId, region }))
      : [{ kind: 'verify', planId: plan.id, snapshotId }];
  for (const task of next) await deps.queue.send(task);
}
