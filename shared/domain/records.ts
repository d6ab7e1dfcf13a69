/**
 * Records: the shapes of the data the pipeline stores in its catalog (plans, snapshots and their
 * partitions, jobs and tasks, restore jobs, drills, the capture journal, garbage-collection marks).
 * The ports that store and read them are in ports.ts. @see docs/format.md#catalog
 */

import type { Plan } from './plan.ts';
import type { Item } from './table/attribute-value.ts';
import type { PartitionResume } from './tasks.ts';
import type { PartRef } from './vault.ts';

/** Status of a snapshot (recovery point). @see docs/format.md#catalog */
export type SnapshotStatus = 'RUNNING' | 'COMMITTED' | 'FAILED' | 'FORGOTTEN';

/** Copy state of a snapshot in one copy region. */
export interface RegionCopy {
  status: 'PENDING' | 'COPIED' | 'FAILED';
  copiedAt?: string;
  /** Packs copied to the region (format 2; those it lacked). */
  packsCopied?: number;
  /** Blobs copied: format 2, the blobs in the packs copied; format 1, the blob documents copied. */
  blobsCopied?: number;
  /** Sealed bytes copied (packs, manifest parts and root). */
  bytesCopied?: number;
  seconds?: number;
  error?: string;
}

/**
 * A verification tier: `catalog` (every referenced document is listed), `checksum` (S3 reports the
 * checksum the manifest expects, no download) or `deep` (download, decrypt, decompress, hash).
 * @see docs/format.md#verification
 */
export type VerificationTier = 'catalog' | 'checksum' | 'deep';

/**
 * What one tier found in one region. Lists of ids are capped at 100.
 *
 * Format 2 (packs): a `*Blobs` list names referenced blobs affected, a `*Packs`/`*Parts` list names
 * the documents at fault: a blob in a missing pack is listed in `missingBlobs` and its pack in
 * `missingPacks`; a blob in a pack whose checksum differs is listed in `mismatchedBlobs` and its
 * pack in `mismatchedPacks`. Records written under format 1 (one document per blob) have no
 * `*Packs`/`*Parts` fields. @see docs/format.md#verification
 */
export interface RegionVerification {
  /** Distinct blobs the manifest references. */
  referencedBlobs: number;
  /** catalog, checksum: packs that hold them, by the region's own index (format 2). */
  referencedPacks?: number;
  /** catalog, checksum: whether the manifest root is stored (and, for catalog, opens and matches its id). */
  manifestPresent: boolean;
  /** catalog, checksum: manifest parts of the snapshot not listed in the region (part ids; format 2). */
  missingParts?: string[];
  /**
   * Referenced blobs the region does not hold: no index of the region locates them, their pack is
   * missing (catalog: not listed; checksum: HeadObject finds nothing), or (deep) the read found nothing.
   */
  missingBlobs: string[];
  /** catalog, checksum: packs the region's index names for referenced blobs that are not stored (format 2). */
  missingPacks?: string[];
  /**
   * checksum: format 2, referenced blobs held in a pack of `mismatchedPacks`; format 1, blobs whose
   * stored size or checksum differs from the manifest's `stored` record.
   */
  mismatchedBlobs?: string[];
  /** checksum: packs whose size or checksum S3 reports differs from the region's index `stored` record (format 2). */
  mismatchedPacks?: string[];
  /** checksum, format 1 only: blobs whose manifest entry recorded no `stored` checksum. */
  uncheckedBlobs?: number;
  /** deep: blobs that failed to open or hash to their id. */
  corruptBlobs: string[];
  /**
   * catalog: referenced blobs looked up; checksum: referenced blobs whose pack S3 reported a checksum
   * for (format 1: blobs reported); deep: blobs read so far.
   */
  checkedBlobs: number;
  /** checksum: packs S3 reported a checksum for (format 2). */
  checkedPacks?: number;
  /** deep: sealed bytes downloaded so far (ranged reads of the blobs, not whole packs). */
  checkedBytes?: number;
  /** deep: blobs this pass checks (the sample, or every referenced blob). */
  totalBlobs?: number;
  /** deep: index into the pass's blob order of the next blob to check (the resumption cursor). */
  cursor?: number;
  /**
   * Table snapshots, every tier: item entries checked (hash, size, key) in the parts read
   * (docs/format.md#verification, verify/items.ts).
   */
  itemsChecked?: number;
  /** Table snapshots: keys of the items that do not hash to their `etag`, have another size or another key (at most 100). */
  corruptItems?: string[];
  /** Table snapshots: keys out of order or repeated, part or root counts that disagree with the entries, in words. */
  itemProblems?: string[];
  seconds: number;
}

/** The result of one tier in every region that holds the snapshot. */
export interface TierVerification {
  /**
   * RUNNING: a deep pass that ran out of time and continues in a later task (see `cursor`); the
   * blobs it found corrupt or missing so far already fail the snapshot.
   */
  status: 'PASSED' | 'FAILED' | 'RUNNING';
  /** ISO-8601 UTC: when the tier last recorded a result. */
  checkedAt: string;
  /** deep: whether this pass checks every referenced blob (`all`) or a sample. */
  scope?: 'all' | 'sample';
  regions: Record<string, RegionVerification>;
}

/**
 * The verification record of a snapshot. `status` is FAILED once any tier has failed, and stays
 * FAILED: a later passing run of any tier never turns it back.
 */
export interface Verification {
  status: 'PASSED' | 'FAILED';
  checkedAt: string;
  tiers: Partial<Record<VerificationTier, TierVerification>>;
}

/** The catalog record of a snapshot. @see docs/format.md#catalog */
export interface SnapshotRecord {
  planId: string;
  snapshotId: string;
  status: SnapshotStatus;
  /** ISO-8601 UTC: the scheduled time that started the job. */
  scheduledAt: string;
  /** ISO-8601 UTC: when the listing of the source began; what point-in-time restores compare with. */
  time?: string;
  startedAt?: string;
  committedAt?: string;
  manifestId?: string;
  parentSnapshotId?: string | null;
  objectCount?: number;
  logicalBytes?: number;
  /** Objects read from the source (new or changed since the parent). */
  objectsRead?: number;
  /** Blobs this snapshot wrote, and their stored (compressed, encrypted) size. */
  blobsWritten?: number;
  storedBytesWritten?: number;
  /** Distinct blobs the manifest references and their stored size: the snapshot's own footprint. */
  uniqueBlobs?: number;
  seconds?: number;
  /** Copy regions and their state. */
  regions?: Record<string, RegionCopy>;
  verification?: Verification;
  /** Per tier, the latest occurrence of the plan's verification schedule enqueued for this snapshot. */
  scheduledVerification?: Partial<Record<VerificationTier, string>>;
  /** ISO-8601 UTC: when retention marked it FORGOTTEN (from then on a tombstone for garbage collection). */
  forgottenAt?: string;
  /**
   * ISO-8601 UTC: when `strongbox repair catalog` recreated this record from the snapshot's manifest
   * root (the catalog had lost it). Absent on records the pipeline wrote. @see docs/format.md#catalog
   */
  repairedAt?: string;
  error?: string;
  /**
   * ISO-8601 UTC: when an operator abandoned this FAILED snapshot (`strongbox backup PLAN --abandon
   * ID`). An abandoned snapshot is never retried, and garbage collection no longer keeps its
   * partitions' work. @see docs/format.md#partitions
   */
  abandonedAt?: string;
  /**
   * Tags given at backup time (`strongbox backup --tag`), for the `keepTag` retention rule; each 1–128
   * letters, digits or `. _ - : @ + = /`. Absent: no tags. @see docs/format.md#retention
   */
  tags?: string[];
  /**
   * Legal hold (`strongbox hold`): while present, retention never forgets the snapshot, whatever its
   * rules, and the catalog refuses to mark it FORGOTTEN. Cleared by `strongbox release`
   * ({@link Catalog.setLegalHold}). @see docs/format.md#retention
   */
  legalHold?: LegalHold;
  /**
   * Upper bounds (inclusive) of the key ranges the snapshot is split into: partition i covers the
   * keys after `partitionBoundaries[i-1]` up to `partitionBoundaries[i]`; the last runs to the end.
   * Set once by the first delivery that plans the snapshot. @see docs/format.md#partitions
   */
  partitionBoundaries?: string[];
  /** Partitions planned (`partitionBoundaries.length + 1`). */
  partitionsTotal?: number;
  /** Partitions whose completion was counted (by {@link Catalog.completePartition}). */
  partitionsDone?: number;
  packsWritten?: number;
  /**
   * How it was built: `listing` (partitions list the source), `journal` (the parent plus the
   * journal, no listing) or `reconcile` (a listing that also counts what the journal missed).
   * Absent: listing. @see docs/format.md#journal-built-snapshots
   */
  mode?: 'listing' | 'journal' | 'reconcile';
  /**
   * For plans under continuous protection: the journal up to this capture time (ISO-8601 UTC) is in
   * the snapshot; the next journal-built snapshot starts after it.
   */
  journalUntil?: string;
  /** Journal entries a journal-built snapshot applied. */
  journalEntries?: number;
  /** Keys whose newest change was lost before capture (kept as the parent had them; the next snapshot reconciles). */
  journalLost?: number;
  /** What a reconcile found that the journal had missed (0 is healthy): objects changed or gone unseen. */
  reconcileMissed?: number;
}

/**
 * A legal hold on a snapshot: who or why, and since when.
 * @example
 * ```ts
 * const hold: LegalHold = { since: '2026-03-01T10:00:00.000Z', reason: 'case 2026-17' };
 * ```
 * @see docs/format.md#retention
 */
export interface LegalHold {
  /** ISO-8601 UTC: when the hold was placed. */
  since: string;
  /** Free text shown by `strongbox forget --dry-run` and `status`, e.g. a case number. */
  reason?: string;
}

/** How a snapshot is split, recorded once on its snapshot record. @see docs/format.md#partitions */
export interface PartitionPlan {
  /** Upper bounds (inclusive) of every partition but the last, in UTF-8 binary order. */
  boundaries: string[];
  /** The snapshot unchanged objects are taken from (null for the plan's first). */
  parentSnapshotId: string | null;
  /** The snapshot's time (ISO-8601 UTC): when it was planned, before any object was read. */
  time: string;
}

/**
 * One leg of a plan's first listing, when it did not fit in one invocation: where the leg stopped
 * and the partition boundaries it found. The legs, in order, carry the listing across invocations;
 * the last one's planner joins their boundaries into the {@link PartitionPlan}. Each leg is recorded
 * once (a second delivery that listed the same leg loses and stops). @see docs/format.md#partitions
 */
export interface ListingLeg {
  /** 0 for the first leg, then 1, 2, … */
  leg: number;
  /** The last key this leg listed: the next leg lists after it. */
  afterKey: string;
  /** The boundaries this leg found (upper bounds, inclusive, in UTF-8 binary order). */
  partitionBoundaries: string[];
  /** Keys listed by this leg and every leg before it. */
  keysListed: number;
  /** A key that ends a partition if any key follows it (the listing stopped right after it). */
  pendingBoundary?: string;
  /** ISO-8601 UTC: when the leg was recorded. */
  recordedAt: string;
}

/**
 * What one partition of a snapshot produced: its manifest parts (in key order) and counters. Stored
 * once per partition; the last one counted seals the snapshot from these.
 */
export interface PartitionSummary {
  partition: number;
  parts: PartRef[];
  objectCount: number;
  logicalBytes: number;
  objectsRead: number;
  blobsWritten: number;
  packsWritten: number;
  storedBytesWritten: number;
  objectsVanished: number;
  /** In a reconcile: listed objects that differ from the parent plus the journal, and keys gone unseen. */
  reconcileMissed?: number;
  /** Invocations it took (more than one when its time budget ran out). */
  invocations: number;
  seconds: number;
  doneAt: string;
  /**
   * ISO-8601 UTC: the `time` of the partition plan it was stored under. The catalog counts it only
   * while the snapshot's recorded plan has that time, so a straggler of an earlier plan (a task still
   * running when the state table was restored to before that plan) is never counted into a new one.
   */
  planTime?: string;
}

/**
 * Where a partition continued across invocations stands: what its `resume` message carries, recorded
 * in the catalog before the message is sent, so garbage collection keeps its parts and a partition
 * delivered without `resume` (a re-drive) goes on from it. @see docs/format.md#partitions
 */
export interface PartitionCheckpoint extends PartitionResume {
  partition: number;
  /** ISO-8601 UTC: when it was recorded. */
  checkpointedAt: string;
}

/** A job: one run of the pipeline for one snapshot (snapshot, copies, verify, prune). */
export interface JobRecord {
  jobId: string;
  planId: string;
  snapshotId: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  createdAt: string;
  updatedAt: string;
  error?: string;
}

/** One task of a job, e.g. `snapshot`, `copy:eu-west-1`, `verify`, `prune`. */
export interface TaskRecord {
  jobId: string;
  taskId: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  error?: string;
  /** Progress of long work, updated every few seconds. */
  progress?: { done: number; total?: number; bytes?: number };
  /**
   * ISO-8601 UTC: the last sign of life of a RUNNING task — its start, then every heartbeat
   * ({@link Catalog.heartbeatTask}, about every 30 s while a worker holds it). The reaper treats a task
   * whose heartbeat (or, without one, `startedAt`) is older than its stale threshold as dead.
   * @see docs/format.md#tasks
   */
  heartbeatAt?: string;
  /** Times the reaper re-drove the task (re-enqueued it after its worker went silent). Absent: 0. */
  redrives?: number;
  /** Figures the task measured (counts, bytes, seconds). */
  result?: Record<string, number | string>;
}

/**
 * A fanned-out restore: the restore function creates it RUNNING, restore-slice tasks add to its
 * counters, and the last slice marks it SUCCEEDED; a slice that fails for good marks it FAILED.
 * Stored with `partsTotal`, `partsDone` and `partSize` for `slicesTotal`, `slicesDone` and
 * `sliceSize` (the names before the rename, kept so jobs in flight read the same).
 * @see docs/format.md#catalog
 */
export interface RestoreJobRecord {
  /** `restore-<yyyymmddThhmmssZ>-<8 hex of the request>`: sorts by creation time. */
  restoreJobId: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  planId: string;
  snapshotId: string;
  /** ISO-8601 UTC: the snapshot's time. */
  snapshotTime?: string;
  manifestId: string;
  /**
   * A point-in-time restore (`request.pointInTime`): ISO-8601 UTC, the capture horizon — the slices
   * apply the journal entries captured up to this time (and after the snapshot, up to the point in
   * time), so every slice derives the same selection. Absent: the snapshot alone.
   */
  journalUntil?: string;
  /** With `journalUntil`: the snapshot's own journal horizon (its `journalUntil`), when it has one. */
  snapshotJournalUntil?: string;
  region: string;
  targetBucket: string;
  /**
   * The parsed restore request the slices replay (overwrite policy, archive tier, selection), without
   * its `keys` when it listed some: those are stored per slice (see `listedKeys`).
   */
  request: Record<string, unknown>;
  /**
   * A restore of listed keys (`request.keys`): how many were listed. Each slice's keys are stored
   * apart, one item per slice ({@link RestoreJobCatalog.getRestoreSliceKeys}), and a slice restores
   * exactly those. @see docs/format.md#catalog
   */
  listedKeys?: number;
  /** Objects and bytes the request selects. */
  selected: number;
  selectedBytes: number;
  /** Objects and bytes written so far. */
  objects: number;
  bytes: number;
  /** Objects skipped so far because the target held them: policy never / ifChanged. */
  skippedExists: number;
  skippedUnchanged: number;
  /** Slices the selection was split into, and how many have finished. */
  slicesTotal: number;
  slicesDone: number;
  /** Selected entries per slice, at most. */
  sliceSize: number;
  /**
   * True when a slice was cut short by bytes (`restoreSliceBytes`): the entries of each slice are
   * then stored apart ({@link RestoreJobCatalog.getRestoreSliceCounts}). Absent: every slice holds
   * `sliceSize` entries but the last. @see docs/format.md#catalog
   */
  slicesCutByBytes?: boolean;
  warnings: string[];
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  error?: string;
  /**
   * ISO-8601 UTC: the last sign of life of its restore-slice workers ({@link Catalog.heartbeatRestoreJob},
   * at the start of each slice and about every 30 s while one runs). The reaper treats a RUNNING job
   * silent (the latest of this, `updatedAt` and `createdAt`) for its stale threshold as held by dead
   * workers. @see docs/format.md#tasks
   */
  heartbeatAt?: string;
  /** Times the reaper re-drove the job (re-sent its slices not done). Absent: 0. */
  redrives?: number;
}

/** What one restore slice did: added to its job's counters once. */
export interface RestoreSliceCounts {
  objects: number;
  bytes: number;
  skippedExists: number;
  skippedUnchanged: number;
}

/**
 * What capture did with one S3 event for one plan: the journal's unit (docs/format.md#journal).
 * Idempotent on (planId, bucket, key, sequencer): a redelivered event is journaled once.
 *
 * - `captured`: an `ObjectCreated:*` event whose bytes capture read (the version the event names,
 *   or, unversioned, the object while its ETag was still the event's) and stored in the primary
 *   vault before this entry was written: packs, then the index naming them, then this entry. Its
 *   `blobs` restore the object exactly like a manifest entry's. Also an `ObjectRemoved:Delete` of
 *   one version (`versionId`) that left a current version: that version's bytes (`currentVersionId`).
 * - `removed`: an `ObjectRemoved:*` event that removed the key (a delete on an unversioned bucket, a
 *   delete marker, or the deletion of a version that left no current one); no bytes.
 * - `lost-before-capture`: an `ObjectCreated:*` event whose bytes were gone before capture read them
 *   (overwritten: 412 on If-Match; deleted: 404); `reason` says which. No bytes are stored, never
 *   another version's.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see ../../docs/format.md#journal
 */
export interface JournalEntry {
  planId: string;
  bucket: string;
  /** The object key, decoded (S3 URL-encodes keys in events, `+` for a space). */
  key: string;
  event: 'created' | 'removed';
  /** ISO-8601 UTC, from the S3 record's `eventTime`. */
  eventTime: string;
  /**
   * S3's sequencer (hex, as S3 gives it): orders the events of one key (not across keys). Compare
   * with `compareSequencers` (journal.ts): left-pad the shorter with zeros, then compare.
   */
  sequencer: string;
  /** ISO-8601 UTC: when capture wrote the entry (the injected clock), after its bytes were stored. */
  capturedAt: string;
  outcome: 'captured' | 'removed' | 'lost-before-capture';
  /** Bytes: of the object read (captured) or as the event reports it (lost-before-capture). */
  sizeBytes?: number;
  /** The ETag without quotes, as S3 gives it (`<md5>` or, multipart, `<hash>-<upload part count>`). */
  etag?: string;
  /** The version the event names (versioned buckets; a delete marker's for a removal). */
  versionId?: string;
  /**
   * After an `ObjectRemoved:Delete` of one version (`versionId`, the deleted one), the version
   * that was current when capture asked, whose content a `captured` entry holds.
   * @see docs/format.md#journal
   */
  currentVersionId?: string;
  /** ISO-8601 UTC, as the read returned it (captured). */
  lastModified?: string;
  contentType?: string;
  /** User metadata (`x-amz-meta-*`), when the object has any (captured). */
  metadata?: Record<string, string>;
  /** Blob ids of the object's chunks in order (captured), as a manifest entry's `blobs`. */
  blobs?: string[];
  /** Lowercase hex SHA-256 of the whole object, only when it has more than one chunk (captured). */
  contentSha256?: string;
  /** Why the bytes could not be captured (lost-before-capture). */
  reason?: string;
  /**
   * How S3 encrypted the version read at rest (captured; `FetchedObject.encryption`: `AES256`,
   * `aws:kms:<key id>`), when the response said: the detector compares a key's versions.
   * @see docs/format.md#detector
   */
  encryption?: string;
  /**
   * A table source's item after the change (captured; the stream record's `NewImage`, canonical
   * DynamoDB JSON): the content, held in the entry itself instead of blobs. `etag` is its content
   * hash (table/item.ts). @see docs/format.md#table-items
   */
  item?: Item;
}

/** What a restore drill measured in one region. @see docs/format.md#catalog */
export interface DrillRegion {
  status: 'PASSED' | 'FAILED';
  /** Objects restored to the scratch prefix and bytes (logical, as restored). */
  objects: number;
  bytes: number;
  /** Seconds from the first GET to the last scratch write, by the monotonic timer. */
  seconds: number;
  /** `bytes ÷ seconds`: logical bytes restored per second. */
  throughputBytesPerSecond: number;
  /** Latency of the first blob's GET, in milliseconds. */
  timeToFirstByteMs: number;
  /** The plan's newest committed snapshot's `logicalBytes ÷ throughputBytesPerSecond`, in seconds. */
  estimatedRtoSeconds: number;
  /**
   * Keys (original) whose blob is missing or does not hash to the manifest's blob id; of a table plan,
   * item keys missing, corrupt or read back different from the scratch table. At most 100.
   */
  failedObjects?: string[];
  /** A table plan's drill: the scratch table the sample was restored into (and deleted from). */
  scratchTable?: string;
  reason?: string;
}

/** One restore drill of a plan. @see docs/format.md#catalog */
export interface DrillRecord {
  drillId: string;
  /** ISO-8601 UTC: the schedule occurrence (or the on-demand request time). */
  scheduledAt: string;
  startedAt: string;
  /** ISO-8601 UTC; absent while the drill is RUNNING. */
  finishedAt?: string;
  /** The snapshot drawn, and the plan's newest committed one whose size the RTO estimates. */
  snapshotId: string;
  latestSnapshotId: string;
  latestLogicalBytes: number;
  /**
   * RUNNING from the draw of its snapshot until it ends (no `regions` yet); PASSED when every region
   * passed; FAILED (with `reason`) stays FAILED for this drill id.
   */
  status: 'RUNNING' | 'PASSED' | 'FAILED';
  reason?: string;
  regions: Record<string, DrillRegion>;
  /**
   * ISO-8601 UTC, while RUNNING: its last sign of life (its start, then a heartbeat about every 30 s).
   * The reaper re-drives a RUNNING drill silent for its stale threshold. @see docs/format.md#tasks
   */
  heartbeatAt?: string;
  /** Times the reaper re-drove the drill. Absent: 0. */
  redrives?: number;
}

/** A plan's drill history: one catalog item per plan, the newest drills last. */
export interface DrillHistory {
  planId: string;
  /** Optimistic-concurrency counter: each write increments it. */
  version: number;
  /** ISO-8601 UTC: the latest occurrence of the plan's drill schedule the scheduler enqueued. */
  scheduledAt?: string;
  drills: DrillRecord[];
}

/** A plan as stored: the plan plus when it was first applied (schedules are anchored there). */
export interface PlanRecord extends Plan {
  createdAt: string;
  updatedAt: string;
}

/**
 * A plan in quarantine (a suspected attack on its source): its forget, its journal's expiry and
 * garbage collection of its vaults pause until an operator lifts it, and the newest snapshot taken
 * before the attack began is held. Stored apart from the plan (`QUARANTINE` / `<planId>`), so
 * `plans apply` never lifts it. @see docs/format.md#catalog
 * @example
 * ```ts
 * const q: QuarantineRecord = { planId: 'photos', since: '2026-12-06T01:00:00.000Z', at: '2026-12-06T01:20:00.000Z',
 *   reason: 'GuardDuty finding 42', by: 'operator', heldSnapshotId: '20261206T000000Z' };
 * ```
 */
export interface QuarantineRecord {
  planId: string;
  /** ISO-8601 UTC: when the attack (the anomaly) began; the clean point lies before it. */
  since: string;
  /** ISO-8601 UTC: when the plan was quarantined. */
  at: string;
  reason: string;
  /** Who quarantined it: an operator (`strongbox quarantine`), or the detector. */
  by: 'operator' | 'detector';
  /** The newest committed snapshot taken before `since`, held (absent: the plan had none). */
  heldSnapshotId?: string;
}

/**
 * A pack garbage collection found unreferenced: deleted by a later run once `markedAt` is older than
 * the grace period and the pack is still unreferenced; a pack referenced again meanwhile loses its
 * mark (rescued). Snapshots do not reuse blobs of marked packs.
 * @see ../../docs/format.md#garbage-collection
 */
export interface GcMark {
  /** The pack's id (64 hex). */
  packId: string;
  /** ISO-8601 UTC: when the pack was found unreferenced. */
  markedAt: string;
}
