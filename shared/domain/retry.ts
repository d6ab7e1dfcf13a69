/**
 * The work of a snapshot that has not committed: which snapshots keep it (for their retry), when a
 * FAILED snapshot is abandoned, and how a retry finds kept work that is no longer whole.
 *
 * - A RUNNING snapshot, and a FAILED one that is not abandoned (retryable), keep their work: the parts
 *   of their finished partitions (summaries) and of their partitions' checkpoints, and the blobs those
 *   parts name, are live for garbage collection.
 * - A FAILED snapshot is abandoned when an operator abandons it (`strongbox backup PLAN --abandon ID`),
 *   or once {@link FAILED_SNAPSHOT_RETRY_DAYS} days have passed since it was scheduled and a newer
 *   snapshot of its plan has committed. It can no longer be retried, and its work is garbage.
 * - Before a retry keeps a partition's work it checks it: every part is stored, and every blob a part
 *   names is in a pack garbage collection has not marked. A partition whose work is not whole runs
 *   again from its first key.
 *
 * @see ../../docs/format.md#partitions
 * @see ../../docs/format.md#garbage-collection
 */
import pLimit from 'p-limit';
import { ConflictError, isRetryable, NotFoundError } from './errors.ts';
import { nowIso, type PipelineDeps, tuningOf } from './pipeline.ts';
import type { SnapshotRecord } from './records.ts';
import { readPart } from './repository/read-documents.ts';
import { VaultIndex } from './repository/vault-index.ts';
import { jobIdOf } from './tasks.ts';
import { type ContentId, type PartRef, VaultLayout } from './vault.ts';

/**
 * Days after its scheduled time a FAILED snapshot stays retryable once a newer snapshot of its plan
 * has committed. Without a newer committed snapshot it stays retryable until abandoned by hand.
 */
export const FAILED_SNAPSHOT_RETRY_DAYS = 7;

/**
 * Whether a FAILED snapshot is abandoned: by an operator (`abandonedAt`), or
 * {@link FAILED_SNAPSHOT_RETRY_DAYS} days after its `scheduledAt` when a newer snapshot of its plan
 * (a greater snapshot id) is COMMITTED. Pure: `now` is the caller's clock.
 * @param ofPlan every snapshot record of the snapshot's plan (any status).
 * @returns false for any snapshot that is not FAILED.
 * @example
 * ```ts
 * if (isAbandoned(record, await catalog.listSnapshots(record.planId), clock.now())) …
 * ```
 */
export function isAbandoned(snapshot: SnapshotRecord, ofPlan: readonly SnapshotRecord[], now: Date): boolean {
  if (snapshot.status !== 'FAILED') return false;
  if (snapshot.abandonedAt) return true;
  const windowEndMs = Date.parse(snapshot.scheduledAt) + FAILED_SNAPSHOT_RETRY_DAYS * 86_400_000;
  if (now.getTime() < windowEndMs) return false;
  return ofPlan.some((s) => s.status === 'COMMITTED' && s.snapshotId > snapshot.snapshotId);
}

/**
 * Whether a snapshot's uncommitted work (partition summaries and checkpoints) is live for garbage
 * collection: it is RUNNING, or FAILED, uncommitted and not abandoned (retryable).
 */
export function keepsWork(snapshot: SnapshotRecord, ofPlan: readonly SnapshotRecord[], now: Date): boolean {
  if (snapshot.status === 'RUNNING') return true;
  return snapshot.status === 'FAILED' && !snapshot.manifestId && !isAbandoned(snapshot, ofPlan, now);
}

/**
 * Abandon a FAILED snapshot (`strongbox backup PLAN --abandon ID`): it is never retried, and the next
 * garbage collections delete what only its partitions wrote. Idempotent.
 * @returns the record after the write.
 * @throws NotFoundError for an unknown snapshot; ConflictError (not retryable) when it is not a
 *   failed, uncommitted snapshot (a RUNNING one must fail first).
 * @example
 * ```ts
 * await abandonSnapshot(deps, 'photos', '20261122T010000Z');
 * ```
 */
export async function abandonSnapshot(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  planId: string,
  snapshotId: string,
): Promise<SnapshotRecord> {
  const { catalog, clock } = deps;
  const snapshot = await catalog.getSnapshot(planId, snapshotId);
  if (!snapshot) throw new NotFoundError(`snapshot ${planId}/${snapshotId} does not exist`);
  if (snapshot.status !== 'FAILED' || snapshot.manifestId) {
    throw new ConflictError(
      `snapshot ${planId}/${snapshotId} is ${snapshot.status}: only a failed, uncommitted snapshot can be abandoned`,
    );
  }
  if (snapshot.abandonedAt) return snapshot;
  const abandonedAt = nowIso(clock);
  if (!(await catalog.updateSnapshot(planId, snapshotId, { abandonedAt }, ['FAILED']))) {
    throw new ConflictError(`snapshot ${planId}/${snapshotId} changed meanwhile; try again`);
  }
  await catalog.updateJob(jobIdOf({ planId, snapshotId }), { error: 'abandoned', updatedAt: abandonedAt });
  return { ...snapshot, abandonedAt };
}

/**
 * Check the work a RUNNING snapshot already holds (done partitions' summaries, checkpoints of the
 * others) before it is kept, and reset ({@link Catalog.resetPartition}) every partition whose work is
 * not whole: a part is not stored (or does not open), or a blob a part names is in no pack of the
 * primary's index that garbage collection has not marked. Reads each part once.
 * @returns the partitions reset, in order.
 * @throws TransientError (retryable) on storage or catalog failures.
 */
export async function resetLostWork(
  deps: PipelineDeps,
  planId: string,
  snapshotId: string,
): Promise<number[]> {
  const { catalog, envelope, vaults } = deps;
  const summaries = await catalog.listPartitions(planId, snapshotId);
  const done = new Set(summaries.map((s) => s.partition));
  const checkpoints = (await catalog.listPartitionCheckpoints(planId, snapshotId)).filter(
    (c) => !done.has(c.partition),
  );
  const work = [...summaries, ...checkpoints];
  if (work.length === 0) return [];
  // Marks first, then the index (the order a partition loads them in).
  const marked = new Set((await catalog.listGcMarks(vaults.primary.bucket)).map((m) => m.packId));
  const index = await VaultIndex.load(vaults.primary, envelope, { ...deps, cached: true, exclude: marked });
  const limit = pLimit(tuningOf(deps).concurrency);
  const whole = async (ref: PartRef): Promise<boolean> => {
    try {
      const part = await readPart(vaults.primary, envelope, planId, ref.partId);
      return part.entries.every((e) => e.blobs.every((blobId) => index.locate(blobId) !== undefined));
    } catch (error) {
      if (isRetryable(error)) throw error;
      return false; // missing or unreadable: the partition's work is lost
    }
  };
  const lost: number[] = [];
  try {
    for (const w of work) {
      const checks = await Promise.all(w.parts.map((ref) => limit(() => whole(ref))));
      if (checks.some((ok) => !ok)) lost.push(w.partition);
    }
  } finally {
    index.close();
  }
  for (const partition of lost) await catalog.resetPartition(planId, snapshotId, partition);
  return lost.sort((a, b) => a - b);
}

/**
 * The parts of `parts` the vault does not hold (HEAD each distinct part).
 * @throws TransientError (retryable) on storage failures.
 */
export async function missingParts(
  deps: PipelineDeps,
  planId: string,
  parts: readonly PartRef[],
): Promise<Set<ContentId>> {
  const vault = deps.vaults.primary;
  const limit = pLimit(tuningOf(deps).concurrency);
  const missing = new Set<ContentId>();
  const ids = [...new Set(parts.map((p) => p.partId))];
  await Promise.all(
    ids.map((partId) =>
      limit(async () => {
        try {
          await vault.checksum(VaultLayout.partKey(planId, partId));
        } catch (error) {
          if (error instanceof NotFoundError) missing.add(partId);
          else throw error;
        }
      }),
    ),
  );
  return missing;
}
