/** What a snapshot task did. */
export interface SnapshotResult {
  /**
   * PLANNED: partitions enqueued; PARTITION_DONE: a partition stored and counted (others remain);
   * CONTINUED: the time budget ran low, the rest was re-enqueued (or the seal found parts missing
   * and enqueued their partitions again); COMMITTED: this task sealed it.
   */
  status:
    | 'PLANNED'
    | 'PARTITION_DONE'
    | 'CONTINUED'
    | 'COMMITTED'
    | 'ALREADY_COMMITTED'
    | 'FAILED'
    | 'SKIPPED';
  snapshotId: string;
  partition?: number;
  partitions?: number;
  objectCount?: number;
  logicalBytes?: number;
  objectsRead?: number;
  blobsWritten?: number;
  packsWritten?: number;
  storedBytesWritten?: number;
  /** Objects listed but gone before they could be read (deleted meanwhile). */
  objectsVanished?: number;
  seconds?: number;
  reason?: string;
}
