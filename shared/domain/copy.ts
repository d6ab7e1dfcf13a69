/**
 * Copy-to-region: copy the blobs a region's vault lacks, then the manifest, then record the copy.
 * Sealed bytes are copied as they are (no re-encryption), so a copy is byte-identical.
 * @see ../../docs/format.md#read-and-write-ordering
 */
import pLimit from 'p-limit';
import { NotFoundError, TransientError } from './errors.ts';
import { readManifest } from './manifests.ts';
import { type PipelineDeps, recordTaskFailure, throttled, vaultIn } from './pipeline.ts';
import type { VaultStore } from './ports.ts';
import { type CopyTask, jobIdOf, taskIdOf } from './tasks.ts';
import { VaultLayout } from './vault.ts';

/** What a copy task did. */
export interface CopyResult {
  status: 'COPIED' | 'SKIPPED';
  region: string;
  blobsReferenced?: number;
  blobsCopied?: number;
  bytesCopied?: number;
  seconds?: number;
  reason?: string;
}

/**
 * Run a copy task.
 * @throws NotFoundError (not retryable) for an unknown plan, snapshot or region.
 * @throws TransientError (retryable) when the snapshot is not committed yet, or storage fails.
 * @example
 * ```ts
 * await copyToRegion(deps, { kind: 'copy', planId: 'photos', snapshotId, region: 'eu-west-1' });
 * ```
 */
export async function copyToRegion(deps: PipelineDeps, task: CopyTask): Promise<CopyResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  const snapshot = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!snapshot) throw new NotFoundError(`snapshot ${jobId} does not exist`);
  if (snapshot.status === 'FORGOTTEN' || snapshot.status === 'FAILED') {
    return { status: 'SKIPPED', region: task.region, reason: snapshot.status };
  }
  if (snapshot.status !== 'COMMITTED' || !snapshot.manifestId) {
    throw new TransientError(`snapshot ${jobId} is not committed yet`);
  }
  const target = vaultIn(vaults, task.region);
  const started = clock.now();
  await catalog.startTask(jobId, taskId, started.toISOString());
  try {
    const manifestKey = VaultLayout.manifestKey(task.planId, snapshot.manifestId);
    const manifest = await readManifest(vaults.primary, envelope, task.planId, snapshot.manifestId);
    const referenced = [...new Set(manifest.entries.map((e) => e.blobId))];
    const present = await blobIdsIn(target);
    const missing = referenced.filter((id) => !present.has(id));
    let blobsCopied = 0;
    let bytesCopied = 0;
    const report = throttled(clock, deps.progressIntervalMs ?? 2000, () =>
      catalog.updateTask(jobId, taskId, {
        progress: { done: blobsCopied, total: missing.length, bytes: bytesCopied },
      }),
    );
    const limit = pLimit(deps.concurrency ?? 16);
    await Promise.all(
      missing.map((blobId) =>
        limit(async () => {
          const key = VaultLayout.blobKey(blobId);
          const sealed = await vaults.primary.get(key);
          await target.put(key, sealed);
          blobsCopied += 1;
          bytesCopied += sealed.length;
          await report();
        }),
      ),
    );
    // Manifest last, as in the primary region.
    await target.put(manifestKey, await vaults.primary.get(manifestKey));
    const finished = clock.now();
    const seconds = (finished.getTime() - started.getTime()) / 1000;
    const regions = await catalog.setRegionCopy(task.planId, task.snapshotId, task.region, {
      status: 'COPIED',
      copiedAt: finished.toISOString(),
      blobsCopied,
      bytesCopied,
      seconds,
    });
    await catalog.updateTask(jobId, taskId, {
      status: 'SUCCEEDED',
      finishedAt: finished.toISOString(),
      progress: { done: blobsCopied, total: missing.length, bytes: bytesCopied },
      result: { blobsReferenced: referenced.length, blobsCopied, bytesCopied, seconds },
    });
    if (Object.values(regions).every((r) => r.status === 'COPIED')) {
      await deps.queue.send({ kind: 'verify', planId: task.planId, snapshotId: task.snapshotId });
    }
    return {
      status: 'COPIED',
      region: task.region,
      blobsReferenced: referenced.length,
      blobsCopied,
      bytesCopied,
      seconds,
    };
  } catch (error) {
    await recordTaskFailure(deps, jobId, taskId, error);
    throw error;
  }
}

/** The ids of every blob stored in a vault, from one listing (not one request per blob). */
export async function blobIdsIn(vault: VaultStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const object of vault.list(VaultLayout.blobsPrefix)) {
    const id = VaultLayout.blobIdOf(object.key);
    if (id) ids.add(id);
  }
  return ids;
}
