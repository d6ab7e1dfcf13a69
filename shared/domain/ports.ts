/**
 * Ports: the narrow interfaces the domain needs from the outside world. Adapters in
 * shared/adapters implement them (S3, SQS, DynamoDB, KMS, and memory twins for tests).
 * Each method documents its contract the way restic's backend interface does.
 */
import type { Plan } from './plan.ts';
import type { PartitionResume, Task } from './tasks.ts';
import type { PartRef, StoredBlob } from './vault.ts';

/** Source of the current time. Injected everywhere; the domain never reads the clock itself. */
export interface Clock {
  now(): Date;
}

/** A data key: 32 random bytes, and the same key wrapped (encrypted) by a master key. */
export interface DataKey {
  plaintext: Uint8Array;
  wrapped: Uint8Array;
}

/**
 * Issues and unwraps data keys (envelope encryption). AWS: KMS `GenerateDataKey`/`Decrypt`;
 * the embedded stack: a master key in a local key file.
 */
export interface KeyProvider {
  /** A fresh 256-bit data key. Throws a retryable error on throttling. */
  generateDataKey(): Promise<DataKey>;
  /** The plaintext of a wrapped key. Throws IntegrityError when the key cannot be unwrapped. */
  unwrapDataKey(wrapped: Uint8Array): Promise<Uint8Array>;
}

/** An object as a listing reports it. */
export interface StoredObject {
  key: string;
  sizeBytes: number;
  /** ISO-8601 UTC. */
  lastModified: string;
  /**
   * S3's storage class as the listing reports it (`STANDARD`, `GLACIER`, …); stores without
   * storage classes leave it out. Lets a large restore learn which blobs are archived from one
   * listing instead of a HEAD per blob.
   */
  storageClass?: string;
}

/**
 * What a vault stored for one object, and what S3 reports for it without reading the bytes:
 * its size and its S3 SHA-256 checksum (base64). `FULL_OBJECT` is the SHA-256 of the whole object
 * (a single-part upload); `COMPOSITE` is the SHA-256 of the concatenated raw SHA-256 digests of the
 * parts, followed by `-<parts>` (a multipart upload). @see docs/format.md#manifests
 */
export type StoredChecksum = StoredBlob;

/**
 * One vault bucket in one region. Keys follow {@link VaultLayout}.
 * - `put` is atomic: readers see the whole object or nothing, never a part. It stores the object
 *   with an S3 SHA-256 checksum and returns what it stored (computed client-side, the same value S3
 *   records).
 * - `checksum` reports the stored size and checksum without reading the bytes (S3 `HeadObject`
 *   with checksum mode); throws NotFoundError for a missing key. An object stored without a
 *   checksum reports `checksumSha256: ''`.
 * - `get` throws NotFoundError for a missing key, TransientError when it may pass.
 * - `list` yields every key under the prefix exactly once, in UTF-8 binary order.
 * - `delete` of a missing key succeeds.
 */
/**
 * A byte range of an object: `lengthBytes` bytes from `offsetBytes`; `ifMatch` (an ETag without
 * quotes) makes the read fail with ConflictError when the object changed since.
 */
export interface ByteRange extends ReadOptions {
  offsetBytes: number;
  lengthBytes: number;
}

/**
 * Which bytes of a source object a read may return.
 * - `versionId`: that version of the object (S3 `GetObject` `VersionId`, versioned buckets); a
 *   version that no longer exists is NotFoundError.
 * - `ifMatch` (an ETag without quotes, as S3 gives it, e.g. `9b2c…-3` for a multipart upload):
 *   the read fails with ConflictError (not retryable) when the object's ETag is another (412).
 */
export interface ReadOptions {
  versionId?: string;
  ifMatch?: string;
}

export interface VaultStore {
  readonly region: string;
  readonly bucket: string;
  /**
   * Store `body` under `key` (see the contract above). `options` adds S3 Object Lock retention and a
   * storage class (S3: `ObjectLockMode`, `ObjectLockRetainUntilDate`, `StorageClass` on PutObject or
   * CreateMultipartUpload); without them the object is STANDARD and unlocked.
   * @throws TransientError (retryable) when storage fails; a non-retryable StrongboxError when S3
   *   refuses the request (e.g. Object Lock headers on a bucket without Object Lock).
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
   */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<StoredChecksum>;
  /**
   * Move the object's retain-until date to `retainUntil` (ISO-8601 UTC), only ever later: when the
   * object is already retained until then or later, nothing is sent. The object keeps the mode it
   * has (S3 forbids changing a COMPLIANCE mode, and a GOVERNANCE one without bypass); `mode` is used
   * only for an object that has no retention yet. S3: HeadObject, then PutObjectRetention.
   * @returns whether the date was moved.
   * @throws NotFoundError for a missing key; TransientError (retryable) when storage fails.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html
   */
  extendRetention(key: string, retainUntil: string, mode: LockMode): Promise<boolean>;
  /**
   * The object's Object Lock retain-until date (ISO-8601 UTC), or undefined when it has none (or the
   * store has no Object Lock, e.g. the embedded emulator). S3: HeadObject's
   * `ObjectLockRetainUntilDate` (reported only to callers allowed `s3:GetObjectRetention`).
   * @throws NotFoundError for a missing key; TransientError (retryable) when storage fails.
   */
  retainUntil(key: string): Promise<string | undefined>;
  get(key: string): Promise<Uint8Array>;
  /** `lengthBytes` bytes of a stored document from `offsetBytes` (one blob of a pack). @throws NotFoundError */
  getRange(key: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array>;
  checksum(key: string): Promise<StoredChecksum>;
  list(prefix: string): AsyncIterable<StoredObject>;
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Optional capability: the storage class of a stored object and the state of its archive
   * restore (S3: HeadObject's `StorageClass` and `Restore` header). Stores without archive classes
   * leave it out. Throws NotFoundError for a missing key.
   */
  storageStateOf?(key: string): Promise<StorageState>;
  /**
   * Optional capability: ask for a temporary readable copy of an archived object, kept `days` days
   * (S3: RestoreObject with `GlacierJobParameters.Tier`). Asking again while one is under way succeeds.
   */
  requestRestore?(key: string, tier: ArchiveTier, days: number): Promise<void>;
}

/**
 * S3 Object Lock retention modes. GOVERNANCE: only principals allowed `s3:BypassGovernanceRetention`
 * may shorten the retention or delete the locked version; COMPLIANCE: nobody may, not even the root
 * user, until the retain-until date. @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
 */
export type LockMode = 'GOVERNANCE' | 'COMPLIANCE';

/** How {@link VaultStore.put} stores a document beyond its bytes. */
export interface PutOptions {
  /** Object Lock: retain the stored version until this time (ISO-8601 UTC); needs `lockMode`. */
  retainUntil?: string;
  /** Object Lock mode of `retainUntil`. */
  lockMode?: LockMode;
  /** S3 storage class, e.g. `STANDARD`, `STANDARD_IA`, `GLACIER_IR`. @default 'STANDARD' */
  storageClass?: string;
}

/** Retrieval tiers of S3's archive classes. DEEP_ARCHIVE has no `Expedited`. */
export type ArchiveTier = 'Expedited' | 'Standard' | 'Bulk';

/** Where a stored object lives and whether it can be read now. */
export interface StorageState {
  /** S3's storage class, e.g. `STANDARD`, `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`. */
  storageClass: string;
  /** Archive restore: none asked for, under way, or a readable copy is there. */
  restore: 'none' | 'ongoing' | 'ready';
}

/** A source object as listed: enough to tell whether it changed since the last snapshot. */
export interface SourceObject {
  key: string;
  sizeBytes: number;
  /** The ETag without quotes. */
  etag: string;
  /** ISO-8601 UTC. */
  lastModified: string;
}

/** A source object with its content and the attributes a restore gives back. */
export interface FetchedObject extends SourceObject {
  body: Uint8Array;
  /** The version read, on a versioned bucket. */
  versionId?: string;
  contentType?: string;
  metadata?: Record<string, string>;
}

/** A key's current version: what a GET without a version id reads now. */
export interface CurrentVersion extends SourceObject {
  /** Its version id; absent on an unversioned bucket (S3's `null` version). */
  versionId?: string;
}

/** An object's attributes as HEAD reports them. */
export interface ObjectHead {
  sizeBytes: number;
  /** The ETag without quotes. */
  etag: string;
  metadata?: Record<string, string>;
}

/**
 * Protected buckets (read) and restore targets (write), in the primary region.
 * - `list` yields every object under the prefix exactly once, in UTF-8 binary order; throws
 *   SourceUnavailableError when the bucket is missing or access is denied.
 * - `get` throws NotFoundError when the object (or the version asked for) vanished since it was
 *   listed; with `ifMatch` it throws ConflictError when the object changed since.
 * - `getRange` reads part of an object (its `sizeBytes` is the whole object's); with `ifMatch` it
 *   throws ConflictError when the object changed since; with `versionId` it reads that version.
 * - `putStream` uploads a stream of chunks (multipart), for objects too large to hold in memory.
 * - `put` and `putStream` with {@link WriteConditions} `ifNoneMatch` write only when no object has
 *   the key at the moment the write takes effect, and otherwise store nothing and report `exists`.
 */
export interface ObjectStore {
  /** Keys after `options.startAfter` only, when given (a partition's range). */
  list(bucket: string, prefix: string, options?: { startAfter?: string }): AsyncIterable<SourceObject>;
  get(bucket: string, key: string, options?: ReadOptions): Promise<FetchedObject>;
  getRange(bucket: string, key: string, range: ByteRange): Promise<FetchedObject>;
  /**
   * Upload a stream of chunks (multipart; the condition is checked when the upload completes).
   * @returns `exists` when `conditions.ifNoneMatch` and the key has an object (nothing stored),
   *   else `written`.
   * @throws NotFoundError when the bucket does not exist; TransientError (retryable) when storage
   *   fails, or when a conditional write raced another write of the key (S3: 409).
   */
  putStream(
    bucket: string,
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions?: WriteConditions,
  ): Promise<WriteOutcome>;
  /** Size, ETag and metadata of an object without its body; undefined when the key (or bucket) is missing. */
  head(bucket: string, key: string): Promise<ObjectHead | undefined>;
  /**
   * Store `body` at `key`.
   * @returns `exists` when `conditions.ifNoneMatch` and the key has an object (nothing stored),
   *   else `written`.
   * @throws as {@link putStream}.
   */
  put(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions?: WriteConditions,
  ): Promise<WriteOutcome>;
  /** Delete keys (restore drills' scratch copies); deleting a missing key succeeds. */
  delete(bucket: string, keys: readonly string[]): Promise<void>;
  /**
   * The key's current version, as a GET without a version id would read it now (`HeadObject`):
   * capture asks after an `ObjectRemoved:Delete` of one version, which may have left an older
   * version current. Strongly consistent: it reflects every change S3 finished before the call.
   * @returns undefined when the key has no current version: never written, every version deleted,
   *   or its newest version is a delete marker.
   * @throws TransientError (retryable) on throttling, 5xx and connection failures; a non-retryable
   *   StrongboxError when access is denied.
   * @see docs/format.md#journal
   */
  currentVersion(bucket: string, key: string): Promise<CurrentVersion | undefined>;
}

/**
 * Conditions of an {@link ObjectStore} write.
 * - `ifNoneMatch`: write only when no object has the key when the write takes effect (S3:
 *   `If-None-Match: *` on PutObject, or on CompleteMultipartUpload for a multipart upload; in a
 *   versioned bucket, against the current version). A restore with
 *   `overwrite: never` writes so: a write that lands in a live target after the restore looked is
 *   never replaced. @default false
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
export interface WriteConditions {
  ifNoneMatch?: boolean;
}

/**
 * What an {@link ObjectStore} write did: `written`, or `exists` when a conditional write found an
 * object at the key and stored nothing (S3: 412 PreconditionFailed).
 */
export type WriteOutcome = 'written' | 'exists';

/** Sends tasks to the queue of their kind. At-least-once: a task may be delivered twice. */
export interface TaskQueue {
  send(task: Task): Promise<void>;
}

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
 * A fanned-out restore: the restore function creates it RUNNING, restore-part tasks add to its
 * counters, and the last part marks it SUCCEEDED; a part that fails for good marks it FAILED.
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
   * A point-in-time restore (`request.pointInTime`): ISO-8601 UTC, the capture horizon — the parts
   * apply the journal entries captured up to this time (and after the snapshot, up to the point in
   * time), so every part derives the same selection. Absent: the snapshot alone.
   */
  journalUntil?: string;
  /** With `journalUntil`: the snapshot's own journal horizon (its `journalUntil`), when it has one. */
  snapshotJournalUntil?: string;
  region: string;
  targetBucket: string;
  /** The parsed restore request the parts replay (overwrite policy, archive tier, selection). */
  request: Record<string, unknown>;
  /** Objects and bytes the request selects. */
  selected: number;
  selectedBytes: number;
  /** Objects and bytes written so far. */
  objects: number;
  bytes: number;
  /** Objects skipped so far because the target held them: policy never / ifChanged. */
  skippedExists: number;
  skippedUnchanged: number;
  /** Parts the selection was split into, and how many have finished. */
  partsTotal: number;
  partsDone: number;
  /** Selected entries per part. */
  partSize: number;
  warnings: string[];
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  error?: string;
  /**
   * ISO-8601 UTC: the last sign of life of its restore-part workers ({@link Catalog.heartbeatRestoreJob},
   * at the start of each part and about every 30 s while one runs). The reaper treats a RUNNING job
   * silent (the latest of this, `updatedAt` and `createdAt`) for its stale threshold as held by dead
   * workers. @see docs/format.md#tasks
   */
  heartbeatAt?: string;
  /** Times the reaper re-drove the job (re-sent its parts not done). Absent: 0. */
  redrives?: number;
}

/** What one restore part did: added to its job's counters once. */
export interface RestorePartCounts {
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
  /** The ETag without quotes, as S3 gives it (`<md5>` or, multipart, `<hash>-<parts>`). */
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
  /** Keys (original) whose blob is missing or does not hash to the manifest's blob id; at most 100. */
  failedObjects?: string[];
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
 * Pipeline state (DynamoDB on AWS). Writes that decide who does a piece of work are conditional,
 * so duplicate deliveries cannot both win.
 */
export interface Catalog {
  putPlans(plans: readonly PlanRecord[]): Promise<void>;
  getPlan(planId: string): Promise<PlanRecord | undefined>;
  listPlans(): Promise<PlanRecord[]>;

  /** Create the job and its RUNNING snapshot record; false when they already exist (idempotent start). */
  createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  updateJob(jobId: string, patch: Partial<JobRecord>): Promise<void>;
  listJobs(planId: string): Promise<JobRecord[]>;

  getSnapshot(planId: string, snapshotId: string): Promise<SnapshotRecord | undefined>;
  /** Every snapshot of a plan, any status, oldest first. */
  listSnapshots(planId: string): Promise<SnapshotRecord[]>;
  /**
   * Set fields on a snapshot whose status is one of `when`; false when its status is not. A patch that
   * sets `status: 'FORGOTTEN'` also fails (false) while the snapshot is under legal hold, so a hold
   * placed after retention decided still wins. @see docs/format.md#retention
   */
  updateSnapshot(
    planId: string,
    snapshotId: string,
    patch: Partial<SnapshotRecord>,
    when: readonly SnapshotStatus[],
  ): Promise<boolean>;
  /** Set one region's copy state; returns the regions map after the write. */
  setRegionCopy(
    planId: string,
    snapshotId: string,
    region: string,
    copy: RegionCopy,
  ): Promise<Record<string, RegionCopy>>;
  deleteSnapshot(planId: string, snapshotId: string): Promise<void>;
  /**
   * Place (`hold` given) or clear (`hold` undefined: the field is removed) a snapshot's legal hold,
   * unless the snapshot is FORGOTTEN. Idempotent: placing replaces an earlier hold, clearing a snapshot
   * without one succeeds.
   * @returns false when the snapshot does not exist or is FORGOTTEN.
   * @throws TransientError (retryable) when the store fails.
   * @example
   * ```ts
   * await catalog.setLegalHold('photos', '20261121T234500Z', { since: now, reason: 'case 17' });
   * await catalog.setLegalHold('photos', '20261121T234500Z', undefined); // release
   * ```
   * @see docs/format.md#retention
   */
  setLegalHold(planId: string, snapshotId: string, hold: LegalHold | undefined): Promise<boolean>;

  /**
   * Record a RUNNING snapshot's partition plan (boundaries, parent, time) unless one is recorded.
   * @returns the plan now recorded (the first caller's), so every partition works from the same one.
   * @throws ConflictError (not retryable) when the snapshot is not RUNNING; NotFoundError.
   */
  planPartitions(planId: string, snapshotId: string, plan: PartitionPlan): Promise<PartitionPlan>;
  /**
   * Store a partition's summary and count it on its snapshot, atomically and once: a second call for
   * the same partition is not counted. Counting needs the snapshot RUNNING.
   * @returns whether this call was counted, and the snapshot's counters after it.
   */
  completePartition(
    planId: string,
    snapshotId: string,
    summary: PartitionSummary,
  ): Promise<{ counted: boolean; done: number; total: number; status: SnapshotStatus }>;
  /** The summaries of a snapshot's completed partitions, by partition number. */
  listPartitions(planId: string, snapshotId: string): Promise<PartitionSummary[]>;
  /**
   * Record where a partition continued across invocations stands, replacing its previous checkpoint
   * only when `checkpoint.invocations` is greater than the stored one's: of two deliveries of one
   * message, only the first to record its checkpoint goes on. Any number of parts fits (DynamoDB
   * spreads them over several items; readers never see a checkpoint with some of its parts).
   * @returns false (nothing changed) when a checkpoint with as many invocations or more is stored.
   * @throws TransientError (retryable) when the store fails.
   * @see ../../docs/format.md#partitions
   */
  putPartitionCheckpoint(
    planId: string,
    snapshotId: string,
    checkpoint: PartitionCheckpoint,
  ): Promise<boolean>;
  /**
   * The checkpoints of a snapshot's partitions, by partition number, each whole. One query.
   * @throws TransientError (retryable) when the store fails.
   */
  listPartitionCheckpoints(planId: string, snapshotId: string): Promise<PartitionCheckpoint[]>;
  /**
   * Forget what a partition of a RUNNING snapshot did, so it runs again from its first key: remove
   * its summary (taking one from `partitionsDone`, once) and its checkpoint. Used when its parts or
   * blobs are gone (see docs/format.md#partitions, Failure and retry).
   * @returns whether a summary was removed. When the snapshot is not RUNNING nothing changes (false).
   * @throws TransientError (retryable) when the store fails.
   */
  resetPartition(planId: string, snapshotId: string, partition: number): Promise<boolean>;

  /** Record that a task started; increments `attempts` and returns the record after the write. */
  startTask(jobId: string, taskId: string, at: string): Promise<TaskRecord>;
  updateTask(jobId: string, taskId: string, patch: Partial<TaskRecord>): Promise<void>;
  listTasks(jobId: string): Promise<TaskRecord[]>;
  /**
   * Record a heartbeat (`heartbeatAt = at`) on a task, only while it is RUNNING: a task that ended, or
   * was never started, is left alone.
   * @returns whether the heartbeat was recorded. @throws TransientError (retryable).
   * @see docs/format.md#tasks
   */
  heartbeatTask(jobId: string, taskId: string, at: string): Promise<boolean>;
  /**
   * Every task whose status is RUNNING, from the running-task index (item `pk` `RUNNING`, one per
   * task started by {@link Catalog.startTask}); never a scan of the table. Index entries of tasks that
   * ended since are dropped on the way.
   * @throws TransientError (retryable).
   */
  listRunningTasks(): Promise<TaskRecord[]>;
  /**
   * Take the right to re-drive a task, conditionally: only when its `redrives` is still
   * `expectedRedrives` (absent counts as 0) and it has not SUCCEEDED (a RUNNING task, a FAILED one
   * whose message waits for its retry, or no record yet); the record is then RUNNING. Sets `redrives = expectedRedrives + 1` and `heartbeatAt = at`, and indexes the task
   * as running. Of two reapers that read the same record (a tick delivered twice), one wins.
   * @returns false when another reaper got there first or the task ended. @throws TransientError (retryable).
   */
  redriveTask(jobId: string, taskId: string, expectedRedrives: number, at: string): Promise<boolean>;

  /** Create a restore job; false when one with its id exists already (idempotent start). */
  createRestoreJob(job: RestoreJobRecord): Promise<boolean>;
  getRestoreJob(restoreJobId: string): Promise<RestoreJobRecord | undefined>;
  /** The most recent restore jobs, newest first. */
  listRestoreJobs(limit?: number): Promise<RestoreJobRecord[]>;
  /**
   * Mark part `part` of a restore job done and add its counts to the job's, atomically and once:
   * a redelivered part finds its marker and adds nothing (`counted: false`). Returns the job after
   * the write. Throws NotFoundError for an unknown job.
   */
  completeRestorePart(
    restoreJobId: string,
    part: number,
    counts: RestorePartCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }>;
  /**
   * The parts of a restore job marked done ({@link Catalog.completeRestorePart}), ascending. One
   * query of the job's part markers, never a scan. @throws TransientError (retryable).
   */
  listRestorePartsDone(restoreJobId: string): Promise<number[]>;
  /**
   * Record a heartbeat (`heartbeatAt = at`) on a restore job, only while it is RUNNING.
   * @returns whether it was recorded. @throws TransientError (retryable).
   * @see docs/format.md#tasks
   */
  heartbeatRestoreJob(restoreJobId: string, at: string): Promise<boolean>;
  /**
   * Take the right to re-drive a RUNNING restore job, conditionally: only when its `redrives` is still
   * `expectedRedrives` (absent counts as 0); sets `redrives = expectedRedrives + 1` and
   * `heartbeatAt = at`. Of two reapers that read the same record (a tick delivered twice), one wins.
   * @returns false when another reaper got there first or the job ended. @throws TransientError (retryable).
   */
  redriveRestoreJob(restoreJobId: string, expectedRedrives: number, at: string): Promise<boolean>;
  /**
   * End a RUNNING restore job: SUCCEEDED only once every part is done, FAILED with a reason. False
   * when the job is not RUNNING (or, for SUCCEEDED, parts are missing): only one caller ends it.
   */
  finishRestoreJob(
    restoreJobId: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; at: string; error?: string },
  ): Promise<boolean>;

  /** A plan's drill history; undefined before its first drill. */
  getDrillHistory(planId: string): Promise<DrillHistory | undefined>;
  /**
   * Write a plan's drill history if its stored version is still `expectedVersion` (0: none stored
   * yet); false when another writer got there first (read again and retry).
   */
  putDrillHistory(history: DrillHistory, expectedVersion: number): Promise<boolean>;

  /**
   * Journal one event for one plan, atomically: false (nothing written) when an entry with the same
   * (planId, bucket, key, sequencer) exists already. Call only after the bytes it names are stored.
   * @throws TransientError (retryable) when the catalog write fails; appending again is harmless.
   * @see ../../docs/format.md#journal
   */
  appendJournal(entry: JournalEntry): Promise<boolean>;
  /**
   * A plan's journal ordered by `capturedAt` (entries captured at the same instant in an order
   * fixed by their identity), optionally only those with `capturedAfter < capturedAt <= capturedUntil`
   * (ISO-8601 UTC). One query of the plan's journal, never a scan of the table.
   */
  listJournal(
    planId: string,
    options?: { capturedAfter?: string; capturedUntil?: string },
  ): Promise<JournalEntry[]>;
  /** Every entry of one key of a plan, ordered by sequencer (oldest event first). One query. */
  listJournalForKey(planId: string, key: string): Promise<JournalEntry[]>;

  /**
   * Record garbage-collection marks on packs of the vault bucket `vault` (item `pk` `GC#<vault>`,
   * `sk` `PACK#<packId>`). A mark already stored for a pack is overwritten (a later `markedAt` only
   * delays its deletion). @throws TransientError (retryable).
   * @see ../../docs/format.md#garbage-collection
   */
  putGcMarks(vault: string, marks: readonly GcMark[]): Promise<void>;
  /** Every mark of the vault bucket `vault`, in pack id order. @throws TransientError (retryable). */
  listGcMarks(vault: string): Promise<GcMark[]>;
  /**
   * Remove the marks of `packIds` (a rescue, or the pack is gone); removing a missing mark succeeds.
   * @throws TransientError (retryable).
   */
  deleteGcMarks(vault: string, packIds: readonly string[]): Promise<void>;
  /**
   * Take the garbage-collection lease of the vault bucket `vault` (item `pk` `GC#<vault>`, `sk`
   * `LEASE`) for `owner` until `until` (ISO-8601 UTC), conditionally: only when no lease is held or
   * the held one ended before `now`, and no copy holds the vault (no hold of
   * {@link acquireCopyHold} whose `until` is at or after `now`). Two GC runs of one vault never
   * overlap (a stale index rewrite of one could bring back an entry the other dropped), nor a GC
   * run and a copy into that vault (the run could delete what the copy found there and relies on).
   * @returns false when another owner holds it, or a copy does. @throws TransientError (retryable).
   * @see ../../docs/format.md#garbage-collection
   */
  acquireGcLease(vault: string, owner: string, now: string, until: string): Promise<boolean>;
  /** Give the lease back if `owner` holds it (a no-op otherwise). @throws TransientError (retryable). */
  releaseGcLease(vault: string, owner: string): Promise<void>;
  /**
   * Hold the vault bucket `vault` for a copy into it, as `holder` until `until` (ISO-8601 UTC),
   * conditionally: only when no garbage-collection lease is held, or the held one ended before
   * `now`. Holds of copies coexist (copies do not exclude each other); while any is held,
   * {@link acquireGcLease} refuses. Stored on the lease item (`pk` `GC#<vault>`, `sk` `LEASE`).
   * @returns false when a garbage-collection run holds the vault. @throws TransientError (retryable).
   * @example
   * ```ts
   * if (!(await catalog.acquireCopyHold('vault-euw1', holder, now, until))) throw new TransientError('GC is running');
   * try { ... } finally { await catalog.releaseCopyHold('vault-euw1', holder); }
   * ```
   * @see ../../docs/format.md#garbage-collection
   */
  acquireCopyHold(vault: string, holder: string, now: string, until: string): Promise<boolean>;
  /** Give a copy's hold back (a no-op when it is not held). @throws TransientError (retryable). */
  releaseCopyHold(vault: string, holder: string): Promise<void>;
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
