/**
 * The shapes of garbage-collection planning: what a run read ({@link GcInputs}), its settings
 * ({@link GcOptions}), and what it would do ({@link GcPlan}, each step with its reason). Made by
 * `planGc` (plan.ts), carried out by `executeGc` (execute.ts), printed by `formatGcPlan` (format.ts).
 * @see ../../../docs/format.md#garbage-collection
 */
import type { StoredObject } from '../ports.ts';
import type { SnapshotRecord } from '../records.ts';
import type { ContentIdSet } from '../repository/blob-id-set.ts';
import type { ContentId, IndexedPack, PackedBlob } from '../vault.ts';
import type { LiveSet } from './live-set.ts';
import type { VaultGcResult } from './result.ts';

/** One index document as the run listed and read it. */
export interface GcIndexDocument {
  indexId: ContentId;
  object: StoredObject;
  packs: readonly IndexedPack[];
  /** The blobs its packs list (counted from `packs` when absent). */
  blobCount?: number;
}

/**
 * What a garbage-collection run read, in this order: the live set (after taking the run's time),
 * the marks, the index documents, then the listings of `packs/`, `manifests/` and `parts/` (so every
 * pack a read index names was stored before the listing).
 */
export interface GcInputs {
  vault: { region: string; bucket: string };
  /** The run's time (ms since the epoch), taken before the live set was read. */
  startedMs: number;
  live: LiveSet;
  /** The vault's marks: pack id → `markedAt` (ISO-8601 UTC). */
  marks: ReadonlyMap<ContentId, string>;
  /** The index documents that read, in the order they were read. */
  indexes: readonly GcIndexDocument[];
  /** Why an index document did not read (the first failure): its packs would look like orphans. */
  unreadableIndex?: string;
  /** `packs/`, by pack id. */
  packObjects: ReadonlyMap<ContentId, StoredObject>;
  /** The manifest roots of `manifests/`. */
  rootObjects: readonly StoredObject[];
  /** The parts of `parts/`; absent when the live set is incomplete (not listed: no part is deleted). */
  partObjects?: readonly StoredObject[];
  /**
   * Frees the local disk the live set and the index documents spilled to (a run of a large vault):
   * called once the run is done with the plan, whose packs and live set read from that disk.
   */
  close?: () => void;
}

/** The deployment's garbage-collection settings. */
export interface GcOptions {
  /** `gcGraceSeconds`: how old a mark (and a root, part or pack, by last-modified) must be. */
  graceSeconds: number;
  /** `gcMaxUnusedPercent`: a live pack with more unreferenced blob bytes than this is repacked. */
  maxUnusedPercent: number;
  /**
   * Consolidation of small live packs (docs/format.md#garbage-collection, step 6): a pack of fewer
   * stored bytes than `packBytes` (`gcSmallPackBytes`) is small; when at least `minPacks` are older
   * than the grace period, up to `maxPacks` of them are repacked together. Absent: none is.
   */
  smallPacks?: { packBytes: number; minPacks: number; maxPacks: number };
}

/** A document to delete (a root, a part, an index document), and why. */
export interface GcDocument {
  key: string;
  sizeBytes: number;
  reason: string;
}

/** A FORGOTTEN record to delete unless another vault holds its `root` (execution sends a HEAD to each). */
export interface GcTombstone {
  record: SnapshotRecord;
  /** Key of the root it names; absent when it names none. */
  root?: string;
  reason: string;
}

/** A pack whose mark changes (marked, rescued, stale) or waits, and why. */
export interface GcPackStep {
  packId: ContentId;
  reason: string;
}

/** A partly live pack to repack: its live blobs go to new packs, then it is marked. */
export interface GcRepack {
  pack: IndexedPack;
  object: StoredObject;
  live: PackedBlob[];
  /** Sealed bytes of its blobs, and of those no live snapshot references. */
  totalBytes: number;
  unusedBytes: number;
  /** Repacked for being small (consolidated with others), not for its unreferenced bytes. */
  consolidated?: true;
  reason: string;
}

/** A marked pack to delete once the marks are read again (unchanged) and Object Lock lets it go. */
export interface GcSweep {
  packId: ContentId;
  object: StoredObject;
  /** The mark the run read: the pack is swept only if the mark is still this one. */
  markedAt: string;
  /** Blobs its index entry lists (0 for an orphan). */
  blobs: number;
  /** Named by no index. */
  orphan: boolean;
  reason: string;
}

/** A pack marked before the grace period that no index names: its header decides (`settleOrphans`, plan.ts). */
export interface GcOrphan {
  packId: ContentId;
  object: StoredObject;
  markedAt: string;
  reason: string;
}

/** What an orphan's header decided: rescue (re-index and unmark), sweep, or forget its stale mark. */
export interface GcOrphanVerdict extends GcOrphan {
  action: 'rescue' | 'sweep' | 'stale';
  /** Its header's blobs (empty when gone or unreadable). */
  blobs: PackedBlob[];
}

/** The index documents to write (first), and those to delete (after). */
export interface GcIndexRewrite {
  writes: IndexedPack[][];
  obsolete: GcDocument[];
  /** Documents written, and documents deleted without a replacement (the run's figures). */
  rewritten: number;
  deleted: number;
}

/** The figures a run knows from what it read (execution adds those of what it does). */
export type GcStats = Pick<
  VaultGcResult,
  | 'blobsLive'
  | 'partsLive'
  | 'rootsUnknown'
  | 'packsLive'
  | 'packsMissing'
  | 'packsPartlyUnused'
  | 'unusedBytesInLivePacks'
>;

/**
 * What a garbage-collection run would do, in the order `executeGc` does it. When `deferred` is set,
 * only roots, parts and tombstones are planned: the pack steps are empty.
 */
export interface GcPlan {
  vault: { region: string; bucket: string };
  /** Marks and documents at or before this time (ms; run time less the grace period) are old. */
  cutoffMs: number;
  /** Manifest roots to delete: a tombstone names them, or they are a losing sealer's. */
  roots: GcDocument[];
  /** Manifest parts to delete: no live root, summary or checkpoint names them. */
  parts: GcDocument[];
  tombstones: GcTombstone[];
  /** Why packs and index documents are left alone in this run. */
  deferred?: string;
  /** What the operator should do (unknown roots: `strongbox repair catalog`). */
  warning?: string;
  /** Packs to mark with the run's time (a successful repack marks its pack too). */
  mark: GcPackStep[];
  /** Marked packs referenced again: their marks are removed. */
  rescue: GcPackStep[];
  /** Marks of packs that are gone: removed after the sweep. */
  staleMarks: GcPackStep[];
  /** Marked dead packs whose mark is younger than the grace period: left alone. */
  waiting: GcPackStep[];
  repack: GcRepack[];
  orphans: GcOrphan[];
  /** The orphans as a dry run settled them (it reads their headers); execution settles them itself. */
  settledOrphans?: GcOrphanVerdict[];
  sweep: GcSweep[];
  /** Dead packs already gone from the vault: every index stops naming them. */
  gone: ContentId[];
  /** The blobs the live set references: an old-marked orphan holding one no kept pack holds is rescued. */
  liveBlobs: Pick<ContentIdSet, 'has' | 'size'>;
  /** Named packs the vault holds that stay (neither gone nor swept): where live blobs are located. */
  keptPacks: IndexedPack[];
  /** The index documents the run read, for `planIndexRewrite`. */
  indexes: readonly GcIndexDocument[];
  /** The index rewrite if every sweep and repack goes ahead (execution plans it again from what it did: `planIndexRewrite`). */
  indexRewrite: GcIndexRewrite;
  stats: GcStats;
}
