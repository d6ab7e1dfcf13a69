/**
 * What one garbage-collection run reports for its vault: the figures on the task `prune:<region>`.
 * @see ../../../docs/format.md#garbage-collection
 */

/**
 * What garbage collection did in one vault. Counts are documents; bytes are stored (sealed) bytes as
 * the vault's listing reports them.
 * @see ../../../docs/format.md#garbage-collection
 */
export interface VaultGcResult {
  /**
   * Manifest roots deleted: those a FORGOTTEN record (a tombstone) names, and losing roots of two
   * sealers (the snapshot's record names another root).
   */
  manifestsDeleted: number;
  /**
   * Manifest roots in this vault whose snapshot no catalog record knows (the state table was restored
   * to an earlier point, or a record was lost), and roots an earlier committed run of a snapshot
   * wrote before such a restore set its record back (its COMMITTED record now names a root lacking
   * some of their parts): kept, and live with their parts and blobs. Run `strongbox repair catalog`
   * to recreate the records of the former (see {@link warning}).
   */
  rootsUnknown: number;
  /** FORGOTTEN records deleted: their root is gone from every vault (see docs/format.md#garbage-collection). */
  tombstonesDeleted: number;
  /** Manifest parts deleted: those no live root names. */
  partsDeleted: number;
  /** Packs found unreferenced (or left by a repack) and marked in this run: deleted after the grace period. */
  packsMarked: number;
  /** Marked packs referenced again, whose mark this run removed (re-indexed when no index named them). */
  packsRescued: number;
  /** Packs deleted (including {@link orphanPacksDeleted}): marked longer than the grace period and still unreferenced. */
  packsDeleted: number;
  /** Of the packs deleted: those no index named (a crashed task's, or a repacked pack). */
  orphanPacksDeleted: number;
  /** Packs due for deletion that Object Lock still retains (`VaultStore.retainUntil` in the future): kept, still marked. */
  packsLocked: number;
  /** Partly live packs whose live blobs were copied to new packs (the old pack is marked and dropped from the index). */
  packsRepacked: number;
  /** Of {@link packsRepacked}, the small packs consolidated (under `gcSmallPackBytes`). */
  packsConsolidated: number;
  /**
   * Packs planned for a repack that this run did not reach before its time ran low (absent when
   * none): they stay as they are, and the next run repacks them.
   */
  packsRepackWaiting?: number;
  /** Sealed bytes of the live blobs the repacked packs moved to new packs. */
  bytesRepacked: number;
  /** Blobs the deleted packs held, as their index listed them. */
  blobsDeleted: number;
  /** Index documents deleted because every pack they named is gone. */
  indexesDeleted: number;
  /** Index documents replaced by one naming only their remaining packs. */
  indexesRewritten: number;
  /** Stored bytes of every document deleted (packs, parts, roots, index documents). */
  bytesDeleted: number;
  /** Distinct blobs the live snapshots reference (all plans, whatever this vault holds). */
  blobsLive: number;
  /** Distinct manifest parts the live snapshots name. */
  partsLive: number;
  /** Packs holding at least one live blob. */
  packsLive: number;
  /** Live packs that also hold blobs no live snapshot references (repacked above `gcMaxUnusedPercent`). */
  packsPartlyUnused: number;
  /** Sealed bytes of the unreferenced blobs inside live packs (before this run's repacking). */
  unusedBytesInLivePacks: number;
  /** Live packs an index names but the vault does not hold: lost data, which verification reports. */
  packsMissing: number;
  /**
   * Why packs and index documents (and, when the live set could not be read, parts) were left alone
   * in this run, e.g. `index 3b7c… is unreadable: …`; absent when nothing was deferred.
   */
  deferred?: string;
  /**
   * Set when the invocation ran out of time while it read the live set (the mark): how far it got.
   * What it read is in the vault's mark checkpoint (`gc/mark/`), nothing was deleted or marked, and
   * the `gc` task was sent again to go on (docs/format.md#garbage-collection, step 2).
   */
  continued?: string;
  /** What the operator should do, e.g. run `strongbox repair catalog` when {@link rootsUnknown} > 0. */
  warning?: string;
}

/** Every figure zero. */
export function emptyGcResult(): VaultGcResult {
  return {
    manifestsDeleted: 0,
    rootsUnknown: 0,
    tombstonesDeleted: 0,
    partsDeleted: 0,
    packsMarked: 0,
    packsRescued: 0,
    packsDeleted: 0,
    orphanPacksDeleted: 0,
    packsLocked: 0,
    packsRepacked: 0,
    packsConsolidated: 0,
    bytesRepacked: 0,
    blobsDeleted: 0,
    indexesDeleted: 0,
    indexesRewritten: 0,
    bytesDeleted: 0,
    blobsLive: 0,
    partsLive: 0,
    packsLive: 0,
    packsPartlyUnused: 0,
    unusedBytesInLivePacks: 0,
    packsMissing: 0,
  };
}
