/**
 * Taking a snapshot: list the source, store new or changed objects as blobs, write the manifest
 * last, then commit the snapshot in the catalog. Idempotent: a task delivered twice, or crashed and
 * redelivered, ends with one complete snapshot.
 * @see ../../docs/format.md#read-and-write-ordering
 */
import pLimit from 'p-limit';
import { IntegrityError, NotFoundError, reasonOf, SourceUnavailableError } from './errors.ts';
import { readManifest, writeManifest } from './manifests.ts';
import { nowIso, type PipelineDeps, recordTaskFailure, throttled } from './pipeline.ts';
import type { PlanRecord, SnapshotRecord } from './ports.ts';
import { jobIdOf, type SnapshotTask, type Task } from './tasks.ts';
import {
  blobAssociatedData,
  contentIdOf,
  type Manifest,
  type ManifestEntry,
  type StoredBlob,
  VAULT_FORMAT_VERSION,
  VaultLayout,
} from './vault.ts';

/** What a snapshot task did. */
export interface SnapshotResult {
  status: 'COMMITTED' | 'ALREADY_COMMITTED' | 'FAILED' | 'SKIPPED';
  snapshotId: string;
  objectCount?: number;
  logicalBytes?: number;
  objectsRead?: number;
  blobsWritten?: number;
  storedBytesWritten?: number;
  /** Objects listed but gone before they could be read (deleted meanwhile). */
  objectsVanished?: number;
  seconds?: number;
  reason?: string;
}

/**
 * Run a snapshot task.
 * @throws NotFoundError (not retryable) when the plan or the job does not exist.
 * @throws TransientError (retryable) on storage or catalog failures that may pass; the next
 *   delivery starts over, reusing the blobs already stored.
 * A missing or unreadable source bucket is not thrown: the job and snapshot are marked FAILED
 * with the reason, and the previous snapshots stay intact.
 * @example
 * ```ts
 * const result = await takeSnapshot(deps, { kind: 'snapshot', planId: 'photos', snapshotId, scheduledAt });
 * ```
 */
export async function takeSnapshot(deps: PipelineDeps, task: SnapshotTask): Promise<SnapshotResult> {
  const { catalog, clock } = deps;
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

  const started = clock.now();
  await catalog.startTask(jobId, 'snapshot', started.toISOString());
  try {
    const result = await storeAndCommit(deps, plan, record, started);
    await catalog.updateTask(jobId, 'snapshot', {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      progress: {
        done: result.objectCount ?? 0,
        total: result.objectCount ?? 0,
        bytes: result.logicalBytes ?? 0,
      },
      result: { ...result, status: result.status },
    });
    if (result.status === 'COMMITTED') await fanOutAfterCommit(deps, plan, task.snapshotId);
    return result;
  } catch (error) {
    if (!(error instanceof SourceUnavailableError)) {
      await recordTaskFailure(deps, jobId, 'snapshot', error);
      throw error;
    }
    const reason = reasonOf(error);
    await catalog.updateSnapshot(task.planId, task.snapshotId, { status: 'FAILED', error: reason }, [
      'RUNNING',
    ]);
    await catalog.updateJob(jobId, { status: 'FAILED', error: reason, updatedAt: nowIso(clock) });
    await catalog.updateTask(jobId, 'snapshot', {
      status: 'FAILED',
      error: reason,
      finishedAt: nowIso(clock),
    });
    return { status: 'FAILED', snapshotId: task.snapshotId, reason };
  }
}

async function storeAndCommit(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  started: Date,
): Promise<SnapshotResult> {
  const { catalog, clock, envelope, objects, vaults } = deps;
  const jobId = jobIdOf(record);
  const parent = await latestCommittedBefore(deps, plan.id, record.snapshotId);
  const parentEntries = new Map<string, ManifestEntry>();
  if (parent?.manifestId) {
    const manifest = await readManifest(vaults.primary, envelope, plan.id, parent.manifestId);
    for (const entry of manifest.entries) parentEntries.set(entry.key, entry);
  }

  const time = clock.now().toISOString();
  const listed = [];
  for await (const object of objects.list(plan.source.bucket, plan.source.prefix)) listed.push(object);

  // Blobs this run has stored or seen referenced by the parent, with what the vault stored (when known).
  const stored = new Map<string, StoredBlob | undefined>();
  for (const entry of parentEntries.values()) {
    if (!stored.get(entry.blobId)) stored.set(entry.blobId, entry.stored);
  }
  const entries: ManifestEntry[] = [];
  let objectsRead = 0;
  let blobsWritten = 0;
  let storedBytesWritten = 0;
  let objectsVanished = 0;
  let bytesDone = 0;
  const reportProgress = throttled(clock, deps.progressIntervalMs ?? 2000, () =>
    catalog.updateTask(jobId, 'snapshot', {
      progress: { done: entries.length, total: listed.length, bytes: bytesDone },
    }),
  );
  const limit = pLimit(deps.concurrency ?? 16);
  const writing = new Map<string, Promise<void>>(); // one PUT per blob id at a time

  await Promise.all(
    listed.map((object) =>
      limit(async () => {
        const previous = parentEntries.get(object.key);
        if (previous && previous.etag === object.etag && previous.sizeBytes === object.sizeBytes) {
          entries.push({ ...previous, lastModified: object.lastModified });
        } else {
          let fetched: Awaited<ReturnType<typeof objects.get>>;
          try {
            fetched = await objects.get(plan.source.bucket, object.key);
          } catch (error) {
            if (error instanceof NotFoundError) {
              objectsVanished += 1; // deleted after the listing: not part of this snapshot
              return;
            }
            throw error;
          }
          objectsRead += 1;
          const blobId = contentIdOf(fetched.body);
          if (!stored.has(blobId)) {
            let pending = writing.get(blobId);
            if (!pending) {
              pending = (async () => {
                const key = VaultLayout.blobKey(blobId);
                const kept = await rewriteStoredBlob(deps, key, blobId);
                if (kept) {
                  stored.set(blobId, kept);
                  return;
                }
                const sealed = await envelope.seal(fetched.body, blobAssociatedData(blobId));
                const written = await vaults.primary.put(key, sealed);
                blobsWritten += 1;
                storedBytesWritten += sealed.length;
                stored.set(blobId, written);
              })();
              writing.set(blobId, pending);
              pending.finally(() => writing.delete(blobId)).catch(() => {});
            }
            await pending;
          }
          const storedBlob = stored.get(blobId);
          entries.push({
            key: object.key,
            sizeBytes: fetched.body.length,
            etag: fetched.etag,
            lastModified: fetched.lastModified,
            ...(fetched.contentType === undefined ? {} : { contentType: fetched.contentType }),
            ...(fetched.metadata === undefined || Object.keys(fetched.metadata).length === 0
              ? {}
              : { metadata: fetched.metadata }),
            blobId,
            ...(storedBlob ? { stored: storedBlob } : {}),
          });
        }
        bytesDone += object.sizeBytes;
        await reportProgress();
      }),
    ),
  );

  const completedAt = clock.now();
  const manifest: Manifest = {
    version: VAULT_FORMAT_VERSION,
    type: 'manifest',
    planId: plan.id,
    snapshotId: record.snapshotId,
    parentSnapshotId: parent?.snapshotId ?? null,
    source: { bucket: plan.source.bucket, prefix: plan.source.prefix },
    scheduledAt: record.scheduledAt,
    time,
    completedAt: completedAt.toISOString(),
    totals: {
      objectCount: entries.length,
      logicalBytes: entries.reduce((sum, e) => sum + e.sizeBytes, 0),
    },
    entries,
  };
  // Manifest last: every blob it names is stored by now.
  const { manifestId } = await writeManifest(vaults.primary, envelope, manifest);
  const seconds = (completedAt.getTime() - started.getTime()) / 1000;
  const committed = await catalog.updateSnapshot(
    plan.id,
    record.snapshotId,
    {
      status: 'COMMITTED',
      time,
      startedAt: started.toISOString(),
      committedAt: completedAt.toISOString(),
      manifestId,
      parentSnapshotId: parent?.snapshotId ?? null,
      objectCount: manifest.totals.objectCount,
      logicalBytes: manifest.totals.logicalBytes,
      objectsRead,
      blobsWritten,
      storedBytesWritten,
      uniqueBlobs: new Set(entries.map((e) => e.blobId)).size,
      seconds,
      regions: Object.fromEntries(plan.copyRegions.map((region) => [region, { status: 'PENDING' as const }])),
    },
    ['RUNNING'],
  );
  return {
    status: committed ? 'COMMITTED' : 'ALREADY_COMMITTED',
    snapshotId: record.snapshotId,
    objectCount: manifest.totals.objectCount,
    logicalBytes: manifest.totals.logicalBytes,
    objectsRead,
    blobsWritten,
    storedBytesWritten,
    objectsVanished,
    seconds,
  };
}

/**
 * A blob the parent does not reference may still be in the vault (an older snapshot's, or one
 * awaiting garbage collection), and older manifests may record its checksum. Sealing it again would
 * store other bytes (a new nonce and data key) under its key and break those records, so when it
 * is stored with a checksum and opens to its id, store the same bytes again instead: the checksum
 * stays, and the new upload time keeps it from garbage collection while this snapshot runs.
 * @returns what was stored, or undefined when the blob must be sealed and stored afresh (absent,
 *   stored before checksums were recorded, or corrupt).
 */
async function rewriteStoredBlob(
  deps: PipelineDeps,
  key: string,
  blobId: string,
): Promise<StoredBlob | undefined> {
  const vault = deps.vaults.primary;
  let existing: Uint8Array;
  try {
    if ((await vault.checksum(key)).checksumSha256 === '') return undefined;
    existing = await vault.get(key);
    if (contentIdOf(await deps.envelope.open(existing, blobAssociatedData(blobId))) !== blobId)
      return undefined;
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof IntegrityError) return undefined;
    throw error;
  }
  return vault.put(key, existing);
}

/** The newest COMMITTED snapshot of a plan older than `snapshotId` (ids sort by time). */
async function latestCommittedBefore(
  deps: PipelineDeps,
  planId: string,
  snapshotId: string,
): Promise<SnapshotRecord | undefined> {
  const all = await deps.catalog.listSnapshots(planId);
  return all.filter((s) => s.status === 'COMMITTED' && s.snapshotId < snapshotId).at(-1);
}

/**
 * Ask for the stage after a commit: a copy task per copy region, or verification when the plan
 * copies nowhere. Safe to repeat: every downstream task is idempotent.
 */
async function fanOutAfterCommit(deps: PipelineDeps, plan: PlanRecord, snapshotId: string): Promise<void> {
  const next: Task[] =
    plan.copyRegions.length > 0
      ? plan.copyRegions.map((region) => ({ kind: 'copy', planId: plan.id, snapshotId, region }))
      : [{ kind: 'verify', planId: plan.id, snapshotId }];
  for (const task of next) await deps.queue.send(task);
}
