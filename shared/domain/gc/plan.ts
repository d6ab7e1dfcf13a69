/**
 * Garbage collection, planned: from what a run read (the live set, the marks, the index documents,
 * the listings), what it would do, each step with its reason. PURE: no I/O, no clock (the run's time
 * comes in with the inputs). `executeGc` (execute.ts) carries a plan out in the spec's order; a dry
 * run prints it (`planGcRun` in collect.ts, `formatGcPlan` in format.ts).
 *
 * Two steps of a run depend on what execution finds, and are planned again, by the pure functions
 * here, from what it found: the old-marked orphans (their headers are read after the repack:
 * {@link keptBlobs}, {@link settleOrphans}), and the index documents (rewritten for the packs
 * actually swept and repacked: {@link planIndexRewrite}). The plan carries their prediction.
 * @see ../../../docs/format.md#garbage-collection
 */
import type { StoredObject } from '../ports.ts';
import type { ContentIdSet } from '../repository/blob-id-set.ts';
import { type ContentId, type IndexedPack, type PackedBlob, VaultLayout } from '../vault.ts';
import type {
  GcDocument,
  GcIndexDocument,
  GcIndexRewrite,
  GcInputs,
  GcOptions,
  GcOrphanVerdict,
  GcPlan,
  GcRepack,
  GcTombstone,
} from './types.ts';

/**
 * More small index documents than this in a vault (under half {@link INDEX_COMPACT_BLOBS} blobs
 * each) are merged into documents of at most {@link INDEX_COMPACT_PACKS} packs and
 * {@link INDEX_COMPACT_BLOBS} blobs.
 */
export const INDEX_COMPACT_THRESHOLD = 32;
/** Packs one merged index document names at most. */
export const INDEX_COMPACT_PACKS = 2000;
/**
 * Blobs one merged index document names at most (about 15 MB of JSON): every function that loads
 * the index decodes one document at a time, and a merge of 2,000 packs of small objects made a
 * document of millions of blobs (hundreds of MB to decode, in 1024 MB functions). A document over
 * this, which merges before the cap wrote, is split the next time garbage collection rewrites.
 */
export const INDEX_COMPACT_BLOBS = 100_000;

/**
 * Plan a garbage-collection run from what it read. Roots and parts are deleted when older than the
 * grace period (by last-modified); tombstones when forgotten before it and no vault holds their
 * root. Packs, by the entry of every index that names them (a pack named twice counts by its
 * shortest entry): a live pack is rescued if marked and repacked if old and mostly unused; a dead
 * one is marked, or swept once its mark is old; a pack no index names is marked, or its header
 * decides once its mark is old.
 * @see ../../../docs/format.md#garbage-collection
 */
export function planGc(inputs: GcInputs, options: GcOptions): GcPlan {
  const cutoffMs = inputs.startedMs - options.graceSeconds * 1000;
  const roots = plannedRoots(inputs, cutoffMs);
  const unknown = inputs.rootObjects.filter((o) => inputs.live.unknownRoots.has(o.key));
  const plan: GcPlan = {
    vault: inputs.vault,
    cutoffMs,
    roots,
    parts: plannedParts(inputs, cutoffMs),
    tombstones: plannedTombstones(inputs, roots, cutoffMs),
    ...unknownRootsWarning(unknown),
    mark: [],
    rescue: [],
    staleMarks: [],
    waiting: [],
    repack: [],
    orphans: [],
    sweep: [],
    gone: [],
    liveBlobs: inputs.live.blobs,
    keptPacks: [],
    indexes: inputs.indexes,
    indexRewrite: { writes: [], obsolete: [], rewritten: 0, deleted: 0 },
    stats: {
      blobsLive: inputs.live.blobs.size,
      partsLive: inputs.live.parts.size,
      rootsUnknown: unknown.length,
      packsLive: 0,
      packsMissing: 0,
      packsPartlyUnused: 0,
      unusedBytesInLivePacks: 0,
    },
  };
  const deferred = inputs.live.incomplete ?? inputs.unreadableIndex;
  if (deferred) return { ...plan, deferred };
  planPacks(inputs, options, plan);
  return plan;
}

const isOld = (o: StoredObject, cutoffMs: number) => Date.parse(o.lastModified) <= cutoffMs;

/** Roots a tombstone condemns (or a losing sealer's), old enough; never a live one. */
function plannedRoots(inputs: GcInputs, cutoffMs: number): GcDocument[] {
  const { live } = inputs;
  return inputs.rootObjects
    .filter((o) => live.garbageRoots.has(o.key) && !live.roots.has(o.key) && isOld(o, cutoffMs))
    .map((o) => ({ key: o.key, sizeBytes: o.sizeBytes, reason: live.garbageRoots.get(o.key) as string }));
}

/** Parts no live root, summary or checkpoint names, old enough (none when the live set is incomplete). */
function plannedParts(inputs: GcInputs, cutoffMs: number): GcDocument[] {
  if (inputs.live.incomplete || !inputs.partObjects) return [];
  return inputs.partObjects
    .filter((o) => VaultLayout.partIdOf(o.key) && !inputs.live.parts.has(o.key) && isOld(o, cutoffMs))
    .map((o) => ({
      key: o.key,
      sizeBytes: o.sizeBytes,
      reason: 'no live root, summary or checkpoint names it',
    }));
}

/**
 * Tombstones forgotten before the grace period whose root this vault no longer holds (its listing,
 * less the roots this run deletes); execution deletes each unless another vault holds its root.
 */
function plannedTombstones(inputs: GcInputs, roots: readonly GcDocument[], cutoffMs: number): GcTombstone[] {
  const rootsHere = new Set(inputs.rootObjects.map((o) => o.key));
  for (const r of roots) rootsHere.delete(r.key);
  const out: GcTombstone[] = [];
  for (const record of inputs.live.tombstones) {
    if (record.forgottenAt !== undefined && Date.parse(record.forgottenAt) > cutoffMs) continue;
    const forgotten = `forgotten ${record.forgottenAt ?? '(no date)'}, before the grace period`;
    if (!record.manifestId) {
      out.push({ record, reason: `${forgotten}; it names no root` });
      continue;
    }
    const root = VaultLayout.manifestKey(record.planId, record.manifestId);
    if (rootsHere.has(root)) continue;
    out.push({ record, root, reason: `${forgotten}; its root is gone from this vault` });
  }
  return out;
}

/** The warning about the roots no catalog record knows (kept, with their parts and packs). */
function unknownRootsWarning(unknown: readonly StoredObject[]): { warning?: string } {
  if (unknown.length === 0) return {};
  return {
    warning: `${unknown.length} manifest root(s) of snapshots the catalog does not know (${unknown[0]?.key}${unknown.length > 1 ? ', …' : ''}) are kept with their parts and packs: run 'strongbox repair catalog' to recreate their records`,
  };
}

/**
 * Every pack the index documents name, by its shortest entry. A pack named twice (a crash between
 * writing a rewritten index document and deleting the old one) counts by its shortest entry: the
 * newest shrink of a repacked pack, whose other blobs the new packs hold.
 */
export function namedPacks(indexes: readonly GcIndexDocument[]): Map<ContentId, IndexedPack> {
  const named = new Map<ContentId, IndexedPack>();
  for (const doc of indexes)
    for (const p of doc.packs) {
      const seen = named.get(p.packId);
      if (!seen || p.blobs.length < seen.blobs.length) named.set(p.packId, p);
    }
  return named;
}

/** Classify every pack: named ones, then those no index names, then marks of packs that are gone. */
function planPacks(inputs: GcInputs, options: GcOptions, plan: GcPlan): void {
  const named = namedPacks(inputs.indexes);
  const small: SmallPacks = { found: 0, chosen: [] };
  for (const pack of named.values()) classifyNamed(inputs, options, plan, pack, small);
  consolidate(options, plan, small);
  for (const [packId, object] of inputs.packObjects) {
    if (!named.has(packId)) classifyOrphan(inputs, plan, packId, object);
  }
  for (const packId of inputs.marks.keys()) {
    if (!named.has(packId) && !inputs.packObjects.has(packId))
      plan.staleMarks.push({ packId, reason: 'marked, but gone from the vault and from every index' });
  }
  const swept = new Set(plan.sweep.map((s) => s.packId));
  const gone = new Set(plan.gone);
  plan.keptPacks = [...named.values()].filter(
    (p) => !gone.has(p.packId) && inputs.packObjects.has(p.packId) && !swept.has(p.packId),
  );
  const moved = new Map(plan.repack.map((r) => [r.pack.packId, new Set(r.live.map((b) => b.blobId))]));
  plan.indexRewrite = planIndexRewrite(inputs.indexes, new Set([...gone, ...swept]), moved);
}

/** Whether `packId`'s mark is older than the grace period. */
function oldMark(inputs: GcInputs, packId: ContentId, cutoffMs: number): boolean {
  const at = inputs.marks.get(packId);
  return at !== undefined && Date.parse(at) <= cutoffMs;
}

/** A named pack: live (rescue, repack), or dead (gone, mark, sweep, or wait). */
function classifyNamed(
  inputs: GcInputs,
  options: GcOptions,
  plan: GcPlan,
  pack: IndexedPack,
  small: SmallPacks,
): void {
  const { packId } = pack;
  const object = inputs.packObjects.get(packId);
  const markedAt = inputs.marks.get(packId);
  const liveBlobs = pack.blobs.filter((b) => inputs.live.blobs.has(b.blobId));
  if (liveBlobs.length > 0) {
    const repacked = classifyLive(options, plan, pack, object, liveBlobs);
    if (!repacked && markedAt === undefined) smallPack(options, plan, small, pack, object, liveBlobs);
    if (markedAt !== undefined) {
      plan.rescue.push({
        packId,
        reason: `referenced again: ${liveBlobs.length} of its ${pack.blobs.length} blobs are live${repacked ? ' (repacked in this run: marked afresh instead)' : ''}`,
      });
    }
  } else if (!object) {
    // a crashed run deleted it before its index was rewritten
    plan.gone.push(packId);
    if (markedAt !== undefined)
      plan.staleMarks.push({ packId, reason: 'dead and gone from the vault; an index still names it' });
  } else if (markedAt === undefined) {
    plan.mark.push({ packId, reason: `none of its ${pack.blobs.length} indexed blobs is live` });
  } else if (oldMark(inputs, packId, plan.cutoffMs)) {
    plan.sweep.push({
      packId,
      object,
      markedAt,
      blobs: pack.blobs.length,
      orphan: false,
      reason: `marked ${markedAt}, before the grace period, and still unreferenced`,
    });
  } else {
    plan.waiting.push({ packId, reason: `marked ${markedAt}: the grace period has not passed` });
  }
}

/**
 * A live pack: counted (missing, partly unused); repacked when older than the grace period and its
 * unreferenced bytes exceed `maxUnusedPercent` (a young pack's blobs may be about to be referenced).
 * @returns whether it is to be repacked.
 */
function classifyLive(
  options: GcOptions,
  plan: GcPlan,
  pack: IndexedPack,
  object: StoredObject | undefined,
  liveBlobs: PackedBlob[],
): boolean {
  plan.stats.packsLive += 1;
  if (!object) plan.stats.packsMissing += 1;
  if (liveBlobs.length === pack.blobs.length) return false;
  plan.stats.packsPartlyUnused += 1;
  const totalBytes = pack.blobs.reduce((sum, b) => sum + b.lengthBytes, 0);
  const unusedBytes = totalBytes - liveBlobs.reduce((sum, b) => sum + b.lengthBytes, 0);
  plan.stats.unusedBytesInLivePacks += unusedBytes;
  // Only packs older than the grace period: a young pack's blobs may be about to be referenced.
  if (!object || !isOld(object, plan.cutoffMs) || unusedBytes * 100 <= options.maxUnusedPercent * totalBytes)
    return false;
  plan.repack.push({
    pack,
    object,
    live: liveBlobs,
    totalBytes,
    unusedBytes,
    reason: `${unusedBytes} of its ${totalBytes} blob bytes are unreferenced (more than ${options.maxUnusedPercent}%)`,
  });
  return true;
}

/** The small packs a plan found (all counted), and the first `smallPacks.maxPacks` of them (held). */
interface SmallPacks {
  found: number;
  chosen: GcRepack[];
}

/**
 * Count a live pack not repacked for its unused bytes and not marked as small when stored in fewer
 * than `smallPacks.packBytes` and older than the grace period (like a repack, never a young pack);
 * hold it while fewer than `smallPacks.maxPacks` are held (a backlog of millions costs a count).
 */
function smallPack(
  options: GcOptions,
  plan: GcPlan,
  small: SmallPacks,
  pack: IndexedPack,
  object: StoredObject | undefined,
  liveBlobs: PackedBlob[],
): void {
  const limit = options.smallPacks;
  if (!limit || !object || object.sizeBytes >= limit.packBytes || !isOld(object, plan.cutoffMs)) return;
  small.found += 1;
  if (small.chosen.length >= limit.maxPacks) return;
  const totalBytes = pack.blobs.reduce((sum, b) => sum + b.lengthBytes, 0);
  const liveBytes = liveBlobs.reduce((sum, b) => sum + b.lengthBytes, 0);
  small.chosen.push({
    pack,
    object,
    live: liveBlobs,
    totalBytes,
    unusedBytes: totalBytes - liveBytes,
    reason: '',
  });
}

/**
 * Consolidation (docs/format.md#garbage-collection, step 6): when at least `smallPacks.minPacks`
 * small packs are old enough, the first `smallPacks.maxPacks` of them are repacked together, so a
 * vault under continuous protection (a pack per captured upload) keeps its pack count, and what
 * every run holds per pack, near its bytes over 16 MiB. Fewer are left alone: consolidating a
 * handful would write one small pack for another on every run.
 */
function consolidate(options: GcOptions, plan: GcPlan, small: SmallPacks): void {
  const limit = options.smallPacks;
  if (!limit || small.found === 0 || small.found < limit.minPacks) return;
  const { chosen } = small;
  const waiting = small.found - chosen.length;
  // One reason for them all: a run may hold hundreds of thousands.
  const reason = `small: stored in fewer than ${limit.packBytes} bytes (gcSmallPackBytes), consolidated with ${chosen.length - 1} other small pack(s)${waiting > 0 ? `; ${waiting} more wait for the next run` : ''}`;
  for (const r of chosen) plan.repack.push({ ...r, consolidated: true, reason });
}

/** A pack no index names (a crashed task's, or a repacked one): marked, or its header decides. */
function classifyOrphan(inputs: GcInputs, plan: GcPlan, packId: ContentId, object: StoredObject): void {
  const markedAt = inputs.marks.get(packId);
  if (markedAt === undefined) {
    plan.mark.push({ packId, reason: 'named by no index' });
  } else if (oldMark(inputs, packId, plan.cutoffMs)) {
    plan.orphans.push({
      packId,
      object,
      markedAt,
      reason: `named by no index, marked ${markedAt}, before the grace period: its header decides`,
    });
  } else {
    plan.waiting.push({
      packId,
      reason: `named by no index, marked ${markedAt}: the grace period has not passed`,
    });
  }
}

/**
 * The blobs the vault keeps located after the repack: those of the kept packs (less the blobs a
 * repack moved out of them) and those of the new packs, added to `kept` (a `Set` by default; a run
 * of a large vault passes one that spills to disk). An old-marked orphan holding a live blob
 * outside this set is rescued.
 */
export function keptBlobs(
  plan: GcPlan,
  moved: ReadonlyMap<ContentId, ReadonlySet<ContentId>>,
  newBlobs: Iterable<ContentId>,
  kept: ContentIdSet = new Set<ContentId>(),
): ContentIdSet {
  for (const pack of plan.keptPacks)
    for (const b of pack.blobs) if (!moved.get(pack.packId)?.has(b.blobId)) kept.add(b.blobId);
  for (const blobId of newBlobs) kept.add(blobId);
  return kept;
}

/**
 * Settle the old-marked orphans, in the plan's order, from their headers (`'gone'`: the pack is no
 * longer stored; `[]`: no readable header, so no reader can locate its blobs either). An orphan with
 * a live blob no kept pack holds is rescued (re-indexed, unmarked), and its blobs count as kept for
 * the orphans after it; any other is swept; a gone one only loses its mark.
 */
export function settleOrphans(
  plan: GcPlan,
  kept: Pick<ContentIdSet, 'has'>,
  headers: ReadonlyMap<ContentId, readonly PackedBlob[] | 'gone'>,
): GcOrphanVerdict[] {
  /** Blobs of orphans rescued so far: located too, for the orphans after them. */
  const rescued = new Set<ContentId>();
  const located = { has: (blobId: ContentId) => kept.has(blobId) || rescued.has(blobId) };
  return plan.orphans.map((orphan): GcOrphanVerdict => {
    const header = headers.get(orphan.packId);
    if (header === undefined) throw new Error(`the header of orphan pack ${orphan.packId} was not read`);
    if (header === 'gone')
      return { ...orphan, action: 'stale', blobs: [], reason: 'gone from the vault: its mark is removed' };
    const blobs = [...header];
    const lost = blobs.filter((b) => plan.liveBlobs.has(b.blobId) && !located.has(b.blobId));
    if (lost.length === 0)
      return { ...orphan, action: 'sweep', blobs, reason: 'named by no index; no live blob only it holds' };
    for (const b of blobs) rescued.add(b.blobId);
    return {
      ...orphan,
      action: 'rescue',
      blobs,
      reason: `${lost.length} live blob(s) no kept pack holds: re-indexed and unmarked`,
    };
  });
}

/**
 * The index documents naming packs to drop (`dropped`: gone or swept) or packs a repack shrank
 * (`moved`: repacked pack → the blobs its entry stops listing) are rewritten without them (the new
 * document first) or deleted. More than {@link INDEX_COMPACT_THRESHOLD} small documents (under half
 * {@link INDEX_COMPACT_BLOBS} blobs) are merged, and any document over {@link INDEX_COMPACT_BLOBS}
 * blobs split: into documents of at most {@link INDEX_COMPACT_PACKS} packs and
 * {@link INDEX_COMPACT_BLOBS} blobs (a pack named twice among them keeps its shortest entry), the
 * old ones deleted. Full documents are left alone, so merges stay bounded as the vault grows.
 */
export function planIndexRewrite(
  indexes: readonly GcIndexDocument[],
  dropped: ReadonlySet<ContentId>,
  moved: ReadonlyMap<ContentId, ReadonlySet<ContentId>>,
): GcIndexRewrite {
  const keep = (packs: readonly IndexedPack[]) =>
    packs
      .filter((p) => !dropped.has(p.packId))
      .map((p) => {
        const gone = moved.get(p.packId);
        return gone ? { ...p, blobs: p.blobs.filter((b) => !gone.has(b.blobId)) } : p;
      });
  const out: GcIndexRewrite = { writes: [], obsolete: [], rewritten: 0, deleted: 0 };
  const obsolete = (doc: GcIndexDocument, reason: string) =>
    out.obsolete.push({ key: VaultLayout.indexKey(doc.indexId), sizeBytes: doc.object.sizeBytes, reason });
  const blobs = new Map(
    indexes.map((doc) => [doc.indexId, doc.blobCount ?? doc.packs.reduce((n, p) => n + p.blobs.length, 0)]),
  );
  // Small: under half the blob cap and short of the pack cap (a merged document of 2,000 packs of
  // large objects is full, however few its blobs: merged again, it would come out the same).
  const small = indexes.filter(
    (doc) =>
      (blobs.get(doc.indexId) ?? 0) < INDEX_COMPACT_BLOBS / 2 && doc.packs.length < INDEX_COMPACT_PACKS,
  );
  const oversized = indexes.filter((doc) => (blobs.get(doc.indexId) ?? 0) > INDEX_COMPACT_BLOBS);
  const merging = new Set([...(small.length > INDEX_COMPACT_THRESHOLD ? small : []), ...oversized]);
  if (merging.size > 0) {
    const all = [...namedPacks([...merging].map((doc) => ({ ...doc, packs: keep(doc.packs) }))).values()];
    out.writes.push(...cutDocuments(all));
    out.rewritten += out.writes.length;
    out.deleted += merging.size;
    for (const doc of merging) {
      const n = blobs.get(doc.indexId) ?? 0;
      obsolete(
        doc,
        n > INDEX_COMPACT_BLOBS
          ? `split: it names ${n} blobs (more than ${INDEX_COMPACT_BLOBS})`
          : `merged: the vault holds ${small.length} small index documents (more than ${INDEX_COMPACT_THRESHOLD})`,
      );
    }
  }
  for (const doc of indexes) {
    if (merging.has(doc)) continue;
    const remaining = keep(doc.packs);
    if (remaining.length === doc.packs.length && !doc.packs.some((p) => moved.has(p.packId))) continue;
    if (remaining.length > 0) {
      out.writes.push(remaining); // the new document first: its packs stay findable
      out.rewritten += 1;
      obsolete(doc, rewriteReason(doc, remaining, moved));
    } else {
      out.deleted += 1;
      obsolete(doc, 'every pack it names is dropped');
    }
  }
  return out;
}

/** Packs cut, in order, into documents of at most {@link INDEX_COMPACT_PACKS} packs and {@link INDEX_COMPACT_BLOBS} blobs (a larger pack alone). */
export function cutDocuments(packs: readonly IndexedPack[]): IndexedPack[][] {
  const docs: IndexedPack[][] = [];
  let doc: IndexedPack[] = [];
  let count = 0;
  for (const pack of packs) {
    const n = pack.blobs.length;
    if (doc.length > 0 && (doc.length >= INDEX_COMPACT_PACKS || count + n > INDEX_COMPACT_BLOBS)) {
      docs.push(doc);
      doc = [];
      count = 0;
    }
    doc.push(pack);
    count += n;
  }
  if (doc.length > 0) docs.push(doc);
  return docs;
}

/** Why an index document is rewritten: the packs it stops naming, the repacked entries it shrinks. */
function rewriteReason(
  doc: GcIndexDocument,
  remaining: readonly IndexedPack[],
  moved: ReadonlyMap<ContentId, ReadonlySet<ContentId>>,
): string {
  const dropped = doc.packs.length - remaining.length;
  const shrunk = remaining.filter((p) => moved.has(p.packId)).length;
  const what = [
    ...(dropped > 0 ? [`${dropped} pack(s) dropped`] : []),
    ...(shrunk > 0 ? [`${shrunk} repacked pack(s) shrunk to their unreferenced blobs`] : []),
  ];
  return `rewritten: ${what.join(', ')}`;
}
