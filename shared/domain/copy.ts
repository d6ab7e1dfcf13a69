/**
 * Copy-to-region: copy the keyring documents, then the packs and manifest parts a region's vault
 * lacks, then one index naming the packs copied, then the manifest root, then record the copy. The
 * target may also be an isolated vault (`task.region` is then `vault:<name>`): the same steps.
 * Sealed bytes are copied as they are (no re-encryption), in the same part size, so a copied pack
 * is byte-identical and S3 reports the same checksum for it in both regions.
 * @see ../../docs/format.md#isolated-vaults
 * @see ../../docs/format.md#read-and-write-ordering
 * @see ../../docs/format.md#packs
 * @see ../../docs/format.md#index
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { IntegrityError, NotFoundError, TransientError } from './errors.ts';
import { type PipelineDeps, recordTaskFailure, throttled, tuningOf, vaultIn } from './pipeline.ts';
import type { VaultStore } from './ports.ts';
import { referencedDocuments } from './repository/manifest-entries.ts';
import { readManifest } from './repository/read-documents.ts';
import { VaultIndex } from './repository/vault-index.ts';
import { writeIndex } from './repository/write.ts';
import { type CopyTask, jobIdOf, taskIdOf } from './tasks.ts';
import { type ContentId, contentIdOf, type IndexedPack, type PackedBlob, VaultLayout } from './vault.ts';

/**
 * Packs copied at once. A pack is about 16 MiB and is held whole between its GET and its put, so
 * this bounds the copy's memory at about 4 × 16 MiB (plus the SDK's part buffers).
 */
const PACKS_IN_FLIGHT = 4;

/**
 * How long a copy holds the region's vault against garbage collection: longer than a copy can take
 * (the copy function's timeout is at most 15 minutes), so a live copy's hold never lapses; a copy
 * that died holding it blocks garbage collection no longer.
 */
export const COPY_HOLD_SECONDS = 1800;

/** What a copy task did. Counts are of this task's writes; documents already in the region are not counted. */
export interface CopyResult {
  status: 'COPIED' | 'SKIPPED';
  region: string;
  /** Distinct blobs the snapshot references. */
  blobsReferenced?: number;
  /** Packs holding them (in the primary's index). */
  packsReferenced?: number;
  /** Packs copied (those the region lacked). */
  packsCopied?: number;
  /** Blobs in the packs copied (a pack may hold blobs of other snapshots too). */
  blobsCopied?: number;
  /** Manifest parts copied (those the region lacked; a part shared with the parent is there already). */
  partsCopied?: number;
  /** Bytes of the packs, parts and root copied (sealed, as stored). */
  bytesCopied?: number;
  seconds?: number;
  reason?: string;
}

/**
 * Run a copy task: load the primary's index, find the snapshot's packs and parts, hold the region's
 * vault against garbage collection (`Catalog.acquireVaultHold`, given back at the end, whatever
 * happens), list the region's `packs/` and `parts/<plan>/` once and load its index, rescue the
 * region's marks of the packs the copy relies on there (those the region locates the snapshot's
 * blobs in, and those it copies or indexes), copy the packs it lacks (GET and put, byte for byte, checked
 * against their pack id), write one index document there naming them (and any pack the region holds
 * but does not index yet, e.g. left by a copy that crashed before its index), then the parts it
 * lacks, then the root last. Idempotent: a redelivery copies only what is still missing.
 * SKIPPED for a snapshot that failed or was forgotten (also when its record is already removed).
 * @throws NotFoundError (not retryable) for an unknown plan, snapshot or region.
 * @throws TransientError (retryable) when the snapshot is not committed yet, a garbage-collection
 *   run holds the region's vault (it is bounded by its lease: the redelivery finds it done), or
 *   storage fails.
 * @throws IntegrityError (not retryable) when the primary does not hold the snapshot intact: a blob
 *   no index locates, or a pack whose bytes do not hash to its id.
 * @example
 * ```ts
 * await copyToRegion(deps, { kind: 'copy', planId: 'photos', snapshotId, region: 'eu-west-1' });
 * ```
 * @see ../../docs/format.md#packs
 * @see ../../docs/format.md#index
 * @see ../../docs/format.md#manifests
 * @see ../../docs/format.md#manifest-parts
 */
export async function copyToRegion(deps: PipelineDeps, task: CopyTask): Promise<CopyResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  const snapshot = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!snapshot) {
    // A late redelivery after prune forgot the snapshot and removed its record (its job stays).
    if (await catalog.getJob(jobId)) return { status: 'SKIPPED', region: task.region, reason: 'FORGOTTEN' };
    throw new NotFoundError(`snapshot ${jobId} does not exist`);
  }
  if (snapshot.status === 'FORGOTTEN' || snapshot.status === 'FAILED') {
    return { status: 'SKIPPED', region: task.region, reason: snapshot.status };
  }
  if (snapshot.status !== 'COMMITTED' || !snapshot.manifestId) {
    throw new TransientError(`snapshot ${jobId} is not committed yet`);
  }
  const manifestId = snapshot.manifestId;
  const primary = vaults.primary;
  const target = vaultIn(vaults, task.region);
  const started = clock.now();
  await catalog.startTask(jobId, taskId, started.toISOString());
  /** This copy's hold on the region's vault, once taken. */
  let held: string | undefined;
  /** The indexes this copy loaded: their local disk is freed when it ends. */
  const opened: VaultIndex[] = [];
  try {
    const manifest = await readManifest(primary, envelope, task.planId, manifestId);
    const index = await VaultIndex.load(primary, envelope, deps);
    opened.push(index);
    const referenced = await referencedDocuments(primary, envelope, index, manifestId, manifest);
    if (referenced.unlocatedBlobs.length > 0) {
      throw new IntegrityError(
        `snapshot ${jobId}: ${referenced.unlocatedBlobs.length} blob(s) are in no index of ${primary.bucket} (${referenced.unlocatedBlobs[0]}…); not copied`,
      );
    }
    // Fence: no garbage-collection run of the region's vault overlaps what follows. A run that read
    // its live set before this snapshot committed could otherwise delete a pack, part or index
    // document this copy found there (and so did not copy again) after the copy looked; a run that
    // starts after the hold reads a live set holding this snapshot. A run holding the vault is
    // bounded (its lease): the copy is retried later (docs/format.md#garbage-collection).
    const holder = randomUUID();
    const heldAt = clock.now();
    const heldUntil = new Date(heldAt.getTime() + COPY_HOLD_SECONDS * 1000).toISOString();
    if (!(await catalog.acquireVaultHold(target.bucket, holder, heldAt.toISOString(), heldUntil))) {
      throw new TransientError(`garbage collection of ${target.bucket} is running; the copy is retried`);
    }
    held = holder;
    const [packsThere, partsThere, targetIndex] = await Promise.all([
      idsListed(target, VaultLayout.packsPrefix, VaultLayout.packIdOf),
      idsListed(target, VaultLayout.partsPrefix(task.planId), VaultLayout.partIdOf),
      VaultIndex.load(target, envelope, deps),
    ]);
    opened.push(targetIndex);
    // Packs to copy: the primary's packs of the referenced blobs the region does not hold. A blob
    // the region's index locates in a pack the region lists is there already, whatever pack holds
    // it: each vault repacks and consolidates its own packs (docs/format.md#garbage-collection,
    // step 6), so the region may hold it in a pack the primary never had. Copying the primary's
    // pack again would store it twice, and bring back a pack the region consolidated and swept.
    const reliedOn = new Set<ContentId>();
    const needed = new Set<ContentId>();
    for (const blobId of referenced.blobs) {
      const where = targetIndex.locate(blobId);
      if (where) reliedOn.add(where.packId);
      if (where && packsThere.has(where.packId)) continue;
      const from = index.locate(blobId);
      if (from) needed.add(from.packId);
    }
    // The region's entry of a pack this copy copies or indexes lists every referenced blob the
    // primary locates in it, not only what `index.pack` names: a pack the primary's GC is repacking
    // (its new index document written, the old one not yet deleted, or a run that crashed between
    // the two) has a shrunk entry beside its full one, and a copy that wrote the shrunk one left the
    // region without the blobs it relied on.
    const toCopy = [...referenced.packs.values()].filter(
      (p) => needed.has(p.packId) && !packsThere.has(p.packId),
    );
    // Held by the region but named by none of its indexes (a copy that crashed before its index).
    const toIndex = [...referenced.packs.values()].filter(
      (p) => packsThere.has(p.packId) && !targetIndex.pack(p.packId),
    );
    const entries = withReferencedBlobs([...toCopy, ...toIndex], referenced.blobs, index);
    const missingPacks = toCopy.map((p) => entries.get(p.packId) as IndexedPack);
    const unindexed = toIndex.map((p) => entries.get(p.packId) as IndexedPack);
    // Rescue, still holding the vault: a pack this copy relies on in the region (one the region's
    // index locates a blob of this snapshot in, or one it copies or indexes) loses its mark, so no
    // later run deletes it as unreferenced. A pack the primary locates a blob in but the region does
    // not (the region repacked it: its entry keeps only unreferenced blobs) keeps its mark: rescuing
    // it would keep that garbage as long as copies come more often than the grace period
    // (docs/format.md#garbage-collection).
    for (const p of [...missingPacks, ...unindexed]) reliedOn.add(p.packId);
    const marked = (await catalog.listGcMarks(target.bucket)).filter((m) => reliedOn.has(m.packId));
    if (marked.length > 0)
      await catalog.deleteGcMarks(
        target.bucket,
        marked.map((m) => m.packId),
      );
    let packsCopied = 0;
    let blobsCopied = 0;
    // The keyring first: a pack copied must never be in the target without what unwraps its data keys.
    let bytesCopied = await copyKeyDocuments(primary, target);
    const report = throttled(clock, tuningOf(deps).progressIntervalMs, () =>
      catalog.updateTask(jobId, taskId, {
        progress: { done: packsCopied, total: missingPacks.length, bytes: bytesCopied },
      }),
    );
    const limit = pLimit(Math.max(1, Math.min(tuningOf(deps).concurrency, PACKS_IN_FLIGHT)));
    const copied = await Promise.all(
      missingPacks.map((pack) =>
        limit(async (): Promise<IndexedPack> => {
          const key = VaultLayout.packKey(pack.packId);
          const body = await primary.get(key);
          const actual = contentIdOf(body);
          if (actual !== pack.packId) {
            throw new IntegrityError(
              `pack ${pack.packId} in ${primary.bucket} hashes to ${actual}; not copied`,
            );
          }
          // Same bytes, same part size: the same checksum as recorded in the primary.
          const stored = await target.put(key, body);
          packsCopied += 1;
          blobsCopied += pack.blobs.length;
          bytesCopied += body.length;
          await report();
          return { ...pack, stored };
        }),
      ),
    );
    // One index naming the packs now in the region; before any part naming their blobs.
    await writeIndex(target, envelope, [...copied, ...unindexed]);
    const missingParts = manifest.parts.filter((ref) => !partsThere.has(ref.partId));
    let partsCopied = 0;
    const partLimit = pLimit(tuningOf(deps).concurrency);
    await Promise.all(
      missingParts.map((ref) =>
        partLimit(async () => {
          const key = VaultLayout.partKey(task.planId, ref.partId);
          const sealed = await primary.get(key);
          await target.put(key, sealed);
          partsCopied += 1;
          bytesCopied += sealed.length;
        }),
      ),
    );
    // The root last, as in the primary region.
    const rootKey = VaultLayout.manifestKey(task.planId, manifestId);
    const root = await primary.get(rootKey);
    // The keyring again, for the key documents the primary gained while this copy read its documents:
    // a part or pack written again meanwhile (same id, content-addressed) under a newer data key is
    // copied as read, and the target must unwrap it alone (found by the simulation, seed 33).
    bytesCopied += await copyKeyDocuments(primary, target, { missingOnly: true });
    await target.put(rootKey, root);
    bytesCopied += root.length;

    const finished = clock.now();
    const seconds = (finished.getTime() - started.getTime()) / 1000;
    const regions = await catalog.setRegionCopy(task.planId, task.snapshotId, task.region, {
      status: 'COPIED',
      copiedAt: finished.toISOString(),
      packsCopied,
      blobsCopied,
      bytesCopied,
      seconds,
    });
    const counts = {
      blobsReferenced: referenced.blobCount,
      packsReferenced: referenced.packs.size,
      packsCopied,
      blobsCopied,
      partsCopied,
      bytesCopied,
      seconds,
    };
    await catalog.updateTask(jobId, taskId, {
      status: 'SUCCEEDED',
      finishedAt: finished.toISOString(),
      progress: { done: packsCopied, total: missingPacks.length, bytes: bytesCopied },
      result: counts,
    });
    if (Object.values(regions).every((r) => r.status === 'COPIED')) {
      await deps.queue.send({ kind: 'verify', planId: task.planId, snapshotId: task.snapshotId });
    }
    return { status: 'COPIED', region: task.region, ...counts };
  } catch (error) {
    await recordTaskFailure(deps, jobId, taskId, error);
    throw error;
  } finally {
    for (const loaded of opened) loaded.close();
    // A hold not given back (the catalog failed) lapses at its end: garbage collection waits longer,
    // and nothing is lost, so it does not fail a copy that is done.
    if (held) await catalog.releaseVaultHold(target.bucket, held).catch(() => undefined);
  }
}

/** Where a vault keeps its keyring documents (the data keys' recipients), when it has them. */
export const KEYS_PREFIX = 'keys/';

/**
 * Copy the primary's keyring documents (`keys/…`) that the target lacks or holds with other bytes
 * (a key rewrapped since), byte for byte; a primary without a keyring copies nothing. Keyring
 * documents are few and small: each is read whole.
 * @param options.missingOnly copy only the documents the target lacks (two listings, no read of
 *   what both hold). @default false
 * @returns the bytes copied.
 * @throws TransientError (retryable) when storage fails.
 * @example
 * ```ts
 * const bytes = await copyKeyDocuments(vaults.primary, vaultIn(vaults, 'vault:offsite'));
 * ```
 */
export async function copyKeyDocuments(
  primary: VaultStore,
  target: VaultStore,
  options: { missingOnly?: boolean } = {},
): Promise<number> {
  const there = new Set<string>();
  for await (const object of target.list(KEYS_PREFIX)) there.add(object.key);
  let bytes = 0;
  for await (const object of primary.list(KEYS_PREFIX)) {
    if (options.missingOnly && there.has(object.key)) continue;
    const body = await primary.get(object.key);
    if (there.has(object.key) && Buffer.from(await target.get(object.key)).equals(body)) continue;
    await target.put(object.key, body);
    bytes += body.length;
  }
  return bytes;
}

/**
 * The ids of the documents stored under `prefix` in a vault, from one listing (not one request per
 * document); `idOf` maps a key to its id, or undefined for a key to skip.
 * @example
 * ```ts
 * const packs = await idsListed(vault, VaultLayout.packsPrefix, VaultLayout.packIdOf);
 * ```
 * @throws whatever the vault's listing throws (TransientError, retryable, when S3 fails).
 */
export async function idsListed(
  vault: VaultStore,
  prefix: string,
  idOf: (key: string) => ContentId | undefined,
): Promise<Set<ContentId>> {
  const ids = new Set<ContentId>();
  for await (const object of vault.list(prefix)) {
    const id = idOf(object.key);
    if (id) ids.add(id);
  }
  return ids;
}

/**
 * Each of `packs`' entries with every blob of `blobs` that `index` locates in it added (in offset
 * order): the blobs a copy relies on in that pack, whatever entry `index.pack` returned. One pass
 * over `blobs`; holds 8 bytes per listed blob (its offset, to look it up) and the blobs added.
 */
function withReferencedBlobs(
  packs: readonly IndexedPack[],
  blobs: ReadonlySet<ContentId>,
  index: Pick<VaultIndex, 'locate'>,
): Map<ContentId, IndexedPack> {
  const byPack = new Map(
    packs.map((p) => [
      p.packId,
      { offsets: Float64Array.from(p.blobs, (b) => b.offsetBytes).sort(), added: [] as PackedBlob[] },
    ]),
  );
  for (const blobId of blobs) {
    const where = index.locate(blobId);
    const pack = where && byPack.get(where.packId);
    if (!where || !pack || hasOffset(pack.offsets, where.offsetBytes)) continue;
    const { packId: _packId, ...blob } = where;
    pack.added.push(blob);
  }
  return new Map(
    packs.map((p) => {
      const { added } = byPack.get(p.packId) as { added: PackedBlob[] };
      if (added.length === 0) return [p.packId, p];
      return [
        p.packId,
        { ...p, blobs: [...p.blobs, ...added].sort((a, b) => a.offsetBytes - b.offsetBytes) },
      ];
    }),
  );
}

/** Whether the sorted `offsets` hold `offset` (a blob of a pack is known by where it starts). */
function hasOffset(offsets: Float64Array, offset: number): boolean {
  let lo = 0;
  let hi = offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((offsets[mid] as number) < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo < offsets.length && offsets[lo] === offset;
}
