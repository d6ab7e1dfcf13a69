/**
 * Garbage collection, executed: carry a plan (plan.ts) out in the spec's order. Roots, parts and
 * tombstones; then, unless the plan is deferred: the repack (new packs, then the index naming them,
 * before any index stops naming the old packs); the old-marked orphans (their headers read, then the
 * rescued ones re-indexed); the marks (new ones, rescues); the marks read again and Object Lock
 * asked before anything is swept; the index documents (new ones first, then the old deleted); the
 * packs; then their marks.
 * @see ../../../docs/format.md#garbage-collection
 */
import pLimit from 'p-limit';
import { isRetryable } from '../errors.ts';
import { NoKeyError } from '../keyring.ts';
import { nowIso, type PipelineDeps, tuningOf } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';
import { type BlobLocation, readBlob } from '../repository/read-blobs.ts';
import { PackWriter, writeIndex } from '../repository/write.ts';
import { type ContentId, type IndexedPack, VaultLayout } from '../vault.ts';
import { runIdSet } from './live-set.ts';
import { cutDocuments, keptBlobs, planIndexRewrite, settleOrphans } from './plan.ts';
import { emptyGcResult, type VaultGcResult } from './result.ts';
import { allVaults, deleteKeys, holds, readPackHeaders } from './store.ts';
import type { GcOrphanVerdict, GcPlan, GcRepack, GcSweep, GcTombstone } from './types.ts';

/** A vault whose store may report Object Lock retention (an optional capability of VaultStore). */
type MaybeLockedVault = VaultStore & { retainUntil?: (key: string) => Promise<string | undefined> };

/** What the repack did: repacked pack → the blobs its index entries stop listing; the new packs. */
interface Repacked {
  moved: Map<ContentId, Set<ContentId>>;
  newPacks: IndexedPack[];
}

/**
 * Carry out `plan` (made by `planGc` from what this run read) in `vault`, and report what was done.
 * The steps whose outcome depends on what execution finds are settled from it: a repack whose blob
 * does not read is skipped (its pack left alone), an orphan's header decides its fate, a pack whose
 * mark changed since the plan's read is not swept, a pack Object Lock retains is kept marked, and
 * the index documents are rewritten for the packs actually swept and repacked.
 * @throws TransientError (retryable) on storage or catalog failures; every step is idempotent.
 * @see ../../../docs/format.md#garbage-collection
 */
export async function executeGc(deps: PipelineDeps, vault: VaultStore, plan: GcPlan): Promise<VaultGcResult> {
  const result: VaultGcResult = { ...emptyGcResult(), ...plan.stats };
  if (plan.warning) result.warning = plan.warning;
  await deleteRootsAndParts(vault, plan, result);
  result.tombstonesDeleted = await deleteTombstones(deps, vault, plan.tombstones);
  if (plan.deferred) return { ...result, deferred: plan.deferred };
  const repacked = await repack(deps, vault, plan, result);
  const orphans = await settleOrphanPacks(deps, vault, plan, repacked);
  await writeMarks(deps, vault, plan, repacked, orphans, result);
  const doomed = await sweepable(
    deps,
    vault,
    [...plan.sweep, ...orphans.filter((o) => o.action === 'sweep').map(orphanSweep)],
    result,
  );
  await rewriteIndexes(deps, vault, plan, doomed, repacked, result);
  await deletePacks(deps, vault, plan, doomed, orphans, result);
  return result;
}

/** The planned roots, then the planned parts. */
async function deleteRootsAndParts(vault: VaultStore, plan: GcPlan, result: VaultGcResult): Promise<void> {
  await deleteKeys(
    vault,
    plan.roots.map((r) => r.key),
  );
  result.manifestsDeleted = plan.roots.length;
  await deleteKeys(
    vault,
    plan.parts.map((p) => p.key),
  );
  result.partsDeleted = plan.parts.length;
  result.bytesDeleted += [...plan.roots, ...plan.parts].reduce((sum, d) => sum + d.sizeBytes, 0);
}

/**
 * Delete the planned tombstones (FORGOTTEN records) whose root no other vault holds (a HEAD of the
 * root in each). The grace period the plan applied lets a copy that read the record before it was
 * forgotten finish (a copy writes the root last) while the tombstone still condemns what it writes.
 * @returns how many records were deleted.
 * @throws TransientError (retryable) on storage or catalog failures; deleting a deleted record succeeds.
 */
async function deleteTombstones(
  deps: PipelineDeps,
  vault: VaultStore,
  tombstones: readonly GcTombstone[],
): Promise<number> {
  let deleted = 0;
  for (const { record, root } of tombstones) {
    if (root !== undefined) {
      let elsewhere = false;
      for (const other of allVaults(deps)) {
        if (other.region === vault.region || elsewhere) continue;
        elsewhere = await holds(other, root);
      }
      if (elsewhere) continue;
    }
    await deps.catalog.deleteSnapshot(record.planId, record.snapshotId);
    deleted += 1;
  }
  return deleted;
}

/**
 * Repack: live blobs into new packs, then the index naming them (before any index stops naming the
 * old packs). The old pack's index entries will keep only its unreferenced blobs (readers find the
 * live ones in the new packs only) and it is marked: from now on a dead pack, swept after the grace
 * period like any other. Its dead blobs stay indexed until then, since a partition that loaded the
 * index before may reference one. A pack a blob of which does not read is left alone (verification
 * reports it).
 */
async function repack(
  deps: PipelineDeps,
  vault: VaultStore,
  plan: GcPlan,
  result: VaultGcResult,
): Promise<Repacked> {
  const repacked: Repacked = { moved: new Map(), newPacks: [] };
  if (plan.repack.length === 0) return repacked;
  const writer = new PackWriter(vault, deps.envelope);
  const limit = pLimit(Math.max(tuningOf(deps).concurrency, REPACK_READS));
  // The rest of the run (index documents, marks, sweep) keeps twice the time reserve in hand: packs
  // not reached by then stay as they are, and the next run repacks them.
  const reserveMs = 2 * tuningOf(deps).timeReserveSeconds * 1000;
  const late = () => deps.remainingTimeMs !== undefined && deps.remainingTimeMs() < reserveMs;
  // Packs are read many at once (consolidation reads thousands of one-blob packs: a GET each, about
  // 100 ms on S3), a window of at most REPACK_WINDOW_PACKS packs and REPACK_WINDOW_BYTES at a time,
  // and written in the plan's order.
  for (let next = 0; next < plan.repack.length; ) {
    if (late()) {
      result.packsRepackWaiting = plan.repack.length - next;
      break;
    }
    const window: GcRepack[] = [];
    let bytes = 0;
    while (next < plan.repack.length && window.length < REPACK_WINDOW_PACKS && bytes < REPACK_WINDOW_BYTES) {
      const r = plan.repack[next++] as GcRepack;
      window.push(r);
      bytes += r.totalBytes - r.unusedBytes;
    }
    const read = await Promise.all(window.map((r) => limit(() => liveContents(deps, vault, r))));
    for (const [i, { pack, live: blobs, consolidated }] of window.entries()) {
      const contents = read[i];
      if (!contents) continue; // a blob that does not read is verification's to report: leave its pack alone
      for (const [j, b] of blobs.entries()) {
        const content = contents[j] as { plaintext: Buffer } | { sealed: Uint8Array };
        if ('plaintext' in content) await writer.add(b.blobId, content.plaintext);
        else await writer.addSealed(b.blobId, content.sealed, b.sizeBytes);
      }
      result.packsRepacked += 1;
      if (consolidated) result.packsConsolidated += 1;
      result.bytesRepacked += blobs.reduce((sum, b) => sum + b.lengthBytes, 0);
      repacked.moved.set(pack.packId, new Set(blobs.map((b) => b.blobId)));
    }
  }
  repacked.newPacks.push(...(await writer.flush()));
  // Before any index stops naming the old packs; in documents of at most 100,000 blobs, as a run
  // leaves every document it writes (a consolidation may move more).
  for (const packs of cutDocuments(repacked.newPacks)) await writeIndex(vault, deps.envelope, packs);
  return repacked;
}

/** Packs a repack reads in one window. */
const REPACK_WINDOW_PACKS = 256;
/** Reads a repack has in flight (at least): small ranged GETs, bound by latency, not bandwidth. */
const REPACK_READS = 64;
/** Live bytes a repack reads at once (one pack alone may be larger). */
const REPACK_WINDOW_BYTES = 64 * 1024 * 1024;

/**
 * The live blobs of a pack to repack, read one after another; undefined when one does not read for
 * good (verification reports it; the pack is left alone).
 * @throws a retryable error (TransientError) as it came: the run fails and its task is retried.
 */
async function liveContents(
  deps: PipelineDeps,
  vault: VaultStore,
  r: GcRepack,
): Promise<({ plaintext: Buffer } | { sealed: Uint8Array })[] | undefined> {
  const contents: ({ plaintext: Buffer } | { sealed: Uint8Array })[] = [];
  try {
    for (const b of r.live)
      contents.push(await repackedContent(vault, deps.envelope, { ...b, packId: r.pack.packId }));
  } catch (error) {
    if (isRetryable(error)) throw error;
    return undefined;
  }
  return contents;
}

/**
 * A live blob as a repack moves it: opened and checked against its id, or, when its data key is
 * wrapped to no key this process holds (write-only keys: prune may seal, not open, content), its
 * sealed bytes as they are (verification checks them).
 */
async function repackedContent(
  vault: VaultStore,
  envelope: PipelineDeps['envelope'],
  where: BlobLocation,
): Promise<{ plaintext: Buffer } | { sealed: Uint8Array }> {
  try {
    return { plaintext: await readBlob(vault, envelope, where) };
  } catch (error) {
    if (!(error instanceof NoKeyError)) throw error;
    return {
      sealed: await vault.getRange(VaultLayout.packKey(where.packId), where.offsetBytes, where.lengthBytes),
    };
  }
}

/**
 * Old-marked orphans: read their headers, settle them against the blobs located after the repack,
 * and re-index the rescued ones (a live blob no kept pack holds).
 */
async function settleOrphanPacks(
  deps: PipelineDeps,
  vault: VaultStore,
  plan: GcPlan,
  repacked: Repacked,
): Promise<GcOrphanVerdict[]> {
  if (plan.orphans.length === 0) return [];
  const headers = await readPackHeaders(vault, deps.envelope, plan.orphans);
  const newBlobs = repacked.newPacks.flatMap((p) => p.blobs.map((b) => b.blobId));
  const kept = runIdSet(deps);
  let verdicts: GcOrphanVerdict[];
  try {
    verdicts = settleOrphans(plan, keptBlobs(plan, repacked.moved, newBlobs, kept), headers);
  } finally {
    kept.close();
  }
  for (const v of verdicts) {
    if (v.action !== 'rescue') continue;
    const stored = await vault.checksum(VaultLayout.packKey(v.packId));
    await writeIndex(vault, deps.envelope, [{ packId: v.packId, stored, blobs: v.blobs }]);
  }
  return verdicts;
}

/**
 * Marks: new ones (the plan's, and every pack repacked in this run), then rescues (the plan's, and
 * the orphans rescued). A pack rescued and repacked in this run is a dead pack now: it gets a fresh
 * mark instead.
 */
async function writeMarks(
  deps: PipelineDeps,
  vault: VaultStore,
  plan: GcPlan,
  repacked: Repacked,
  orphans: readonly GcOrphanVerdict[],
  result: VaultGcResult,
): Promise<void> {
  const toMark = new Set([...plan.mark.map((m) => m.packId), ...repacked.moved.keys()]);
  const toUnmark = new Set([
    ...plan.rescue.map((r) => r.packId),
    ...orphans.filter((o) => o.action === 'rescue').map((o) => o.packId),
  ]);
  for (const packId of toMark) toUnmark.delete(packId);
  if (toMark.size > 0) {
    const markedAt = nowIso(deps.clock);
    await deps.catalog.putGcMarks(
      vault.bucket,
      [...toMark].map((packId) => ({ packId, markedAt })),
    );
    result.packsMarked = toMark.size;
  }
  if (toUnmark.size > 0) await deps.catalog.deleteGcMarks(vault.bucket, [...toUnmark]);
  result.packsRescued = toUnmark.size;
}

/**
 * Sweep: of `sweeps`, the packs still marked as the plan read them (not rescued or re-marked
 * meanwhile: the marks are read again) and not retained by Object Lock.
 */
async function sweepable(
  deps: PipelineDeps,
  vault: VaultStore,
  sweeps: readonly GcSweep[],
  result: VaultGcResult,
): Promise<GcSweep[]> {
  const current = new Map((await deps.catalog.listGcMarks(vault.bucket)).map((m) => [m.packId, m.markedAt]));
  const doomed: GcSweep[] = [];
  for (const s of sweeps) {
    if (current.get(s.packId) !== s.markedAt) continue; // rescued or re-marked meanwhile
    const until = await (vault as MaybeLockedVault).retainUntil?.(VaultLayout.packKey(s.packId));
    if (until && Date.parse(until) > deps.clock.now().getTime()) {
      result.packsLocked += 1; // stays named and marked: a later run tries again
      continue;
    }
    doomed.push(s);
  }
  return doomed;
}

function orphanSweep(o: GcOrphanVerdict): GcSweep {
  return {
    packId: o.packId,
    object: o.object,
    markedAt: o.markedAt,
    blobs: o.blobs.length,
    orphan: true,
    reason: o.reason,
  };
}

/**
 * Index documents before their packs: those naming a pack to drop (gone, or swept now) or a pack
 * repacked now are rewritten (the new documents first) or deleted (after every new one is written).
 */
async function rewriteIndexes(
  deps: PipelineDeps,
  vault: VaultStore,
  plan: GcPlan,
  doomed: readonly GcSweep[],
  repacked: Repacked,
  result: VaultGcResult,
): Promise<void> {
  const dropped = new Set([...plan.gone, ...doomed.map((s) => s.packId)]);
  const rewrite = planIndexRewrite(plan.indexes, dropped, repacked.moved);
  // New documents first. Documents are content-addressed: one written byte for byte as an old one
  // (a merge that cut the same packs again) has that old one's key, which must then not be deleted.
  const written = new Set<string>();
  for (const packs of rewrite.writes) {
    const indexId = await writeIndex(vault, deps.envelope, packs);
    if (indexId) written.add(VaultLayout.indexKey(indexId));
  }
  const obsolete = rewrite.obsolete.filter((d) => !written.has(d.key));
  result.indexesRewritten += rewrite.rewritten - (rewrite.obsolete.length - obsolete.length);
  result.indexesDeleted += rewrite.deleted - (rewrite.obsolete.length - obsolete.length);
  result.bytesDeleted += obsolete.reduce((sum, d) => sum + d.sizeBytes, 0);
  await deleteKeys(
    vault,
    obsolete.map((d) => d.key),
  );
}

/** The packs, then their marks (and the stale marks of packs that were gone already). */
async function deletePacks(
  deps: PipelineDeps,
  vault: VaultStore,
  plan: GcPlan,
  doomed: readonly GcSweep[],
  orphans: readonly GcOrphanVerdict[],
  result: VaultGcResult,
): Promise<void> {
  await deleteKeys(
    vault,
    doomed.map((s) => VaultLayout.packKey(s.packId)),
  );
  result.packsDeleted = doomed.length;
  result.orphanPacksDeleted = doomed.filter((s) => s.orphan).length;
  result.blobsDeleted = doomed.filter((s) => !s.orphan).reduce((sum, s) => sum + s.blobs, 0);
  result.bytesDeleted += doomed.reduce((sum, s) => sum + s.object.sizeBytes, 0);
  const cleared = [
    ...doomed.map((s) => s.packId),
    ...plan.staleMarks.map((m) => m.packId),
    ...orphans.filter((o) => o.action === 'stale').map((o) => o.packId),
  ];
  if (cleared.length > 0) await deps.catalog.deleteGcMarks(vault.bucket, cleared);
}
