/**
 * Ports: the narrow interfaces the domain needs from the outside world. Adapters in
 * shared/adapters implement them (S3, SQS, DynamoDB, KMS, and memory twins for tests).
 * Each method documents its contract the way restic's backend interface does. The records the
 * catalog stores are in records.ts.
 */
import type {
  DrillHistory,
  GcMark,
  JobRecord,
  JournalEntry,
  LegalHold,
  PartitionCheckpoint,
  PartitionPlan,
  PartitionSummary,
  PlanRecord,
  RegionCopy,
  RestoreJobRecord,
  RestoreSliceCounts,
  SnapshotRecord,
  SnapshotStatus,
  TaskRecord,
} from './records.ts';
import type { Task } from './tasks.ts';
import type { StoredBlob } from './vault.ts';

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
 * upload parts, followed by `-<upload part count>` (a multipart upload). @see docs/format.md#manifests
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
 * Protected buckets (read) and restore targets (write), in the primary region. Snapshots and capture
 * read a protected bucket through its `Source` (`S3BucketSource`, source/s3-bucket.ts, over this
 * port), never through this port directly; restores and drills write targets through it.
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
  /**
   * Send every task, several per request where the queue allows it (SQS: `SendMessageBatch`, up to
   * 10 messages and 256 KiB a request): a fan-out of thousands of tasks costs a tenth of the requests.
   * @throws TransientError (retryable) when some were not sent: sending them all again is safe, since
   *   delivery is at least once anyway. ValidationError (not retryable) for a task no queue takes.
   */
  sendBatch(tasks: readonly Task[]): Promise<void>;
}

/**
 * Pipeline state (DynamoDB on AWS). Writes that decide who does a piece of work are conditional,
 * so duplicate deliveries cannot both win. The whole catalog, as its adapters implement it; a
 * function that needs only one concern may take the narrow port of that concern instead.
 */
export interface Catalog
  extends PlanCatalog,
    SnapshotCatalog,
    JobCatalog,
    RestoreJobCatalog,
    DrillCatalog,
    JournalCatalog,
    GcCatalog {}

/** The catalog's plans: the plans applied, as stored ({@link PlanRecord}). */
export interface PlanCatalog {
  putPlans(plans: readonly PlanRecord[]): Promise<void>;
  getPlan(planId: string): Promise<PlanRecord | undefined>;
  listPlans(): Promise<PlanRecord[]>;
}

/**
 * The catalog's snapshots: their records (status, copies per region, legal hold) and their
 * partitions: the partition plan, the summaries of completed partitions and the checkpoints of
 * partitions continued across invocations. @see docs/format.md#partitions
 */
export interface SnapshotCatalog {
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
}

/**
 * The catalog's jobs and their tasks: creating a job (with its RUNNING snapshot record), task
 * starts, updates and heartbeats, the running-task index and the reaper's conditional re-drives.
 * @see docs/format.md#tasks
 */
export interface JobCatalog {
  /** Create the job and its RUNNING snapshot record; false when they already exist (idempotent start). */
  createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  updateJob(jobId: string, patch: Partial<JobRecord>): Promise<void>;
  listJobs(planId: string): Promise<JobRecord[]>;

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
}

/**
 * The catalog's fanned-out restores: restore jobs, their slices' completion markers and counters,
 * heartbeats, re-drives and their end.
 */
export interface RestoreJobCatalog {
  /**
   * Create a restore job; false when one with its id exists already (idempotent start). With
   * `sliceCounts` (its slices were cut by bytes: entries per slice, in order), they are stored
   * first, apart from the job, so the job stays small for the updates every slice makes.
   */
  createRestoreJob(job: RestoreJobRecord, sliceCounts?: readonly number[]): Promise<boolean>;
  /**
   * The entries per slice a job was created with (see {@link createRestoreJob}), or undefined: its
   * slices all hold `sliceSize` entries but the last. @throws TransientError (retryable).
   */
  getRestoreSliceCounts(restoreJobId: string): Promise<number[] | undefined>;
  getRestoreJob(restoreJobId: string): Promise<RestoreJobRecord | undefined>;
  /** The most recent restore jobs, newest first. */
  listRestoreJobs(limit?: number): Promise<RestoreJobRecord[]>;
  /**
   * Mark slice `slice` of a restore job done and add its counts to the job's, atomically and once:
   * a redelivered slice finds its marker and adds nothing (`counted: false`). Returns the job after
   * the write. Throws NotFoundError for an unknown job.
   */
  completeRestoreSlice(
    restoreJobId: string,
    slice: number,
    counts: RestoreSliceCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }>;
  /**
   * The slices of a restore job marked done ({@link Catalog.completeRestoreSlice}), ascending. One
   * query of the job's slice markers, never a scan. @throws TransientError (retryable).
   */
  listRestoreSlicesDone(restoreJobId: string): Promise<number[]>;
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
   * End a RUNNING restore job: SUCCEEDED only once every slice is done, FAILED with a reason. False
   * when the job is not RUNNING (or, for SUCCEEDED, slices are missing): only one caller ends it.
   */
  finishRestoreJob(
    restoreJobId: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; at: string; error?: string },
  ): Promise<boolean>;
}

/** The catalog's restore drills: one drill history per plan, written with optimistic concurrency. */
export interface DrillCatalog {
  /** A plan's drill history; undefined before its first drill. */
  getDrillHistory(planId: string): Promise<DrillHistory | undefined>;
  /**
   * Write a plan's drill history if its stored version is still `expectedVersion` (0: none stored
   * yet); false when another writer got there first (read again and retry).
   */
  putDrillHistory(history: DrillHistory, expectedVersion: number): Promise<boolean>;
}

/** The capture journal: what capture did with each S3 event, per plan. @see ../../docs/format.md#journal */
export interface JournalCatalog {
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
}

/**
 * Garbage collection's state per vault bucket: the marks on unreferenced packs, the lease that keeps
 * two GC runs apart, and the holds of copies that keep a GC run out. @see ../../docs/format.md#garbage-collection
 */
export interface GcCatalog {
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
   * {@link acquireVaultHold} whose `until` is at or after `now`). Two GC runs of one vault never
   * overlap (a stale index rewrite of one could bring back an entry the other dropped), nor a GC
   * run and a copy into that vault (the run could delete what the copy found there and relies on).
   * @returns false when another owner holds it, or a copy does. @throws TransientError (retryable).
   * @see ../../docs/format.md#garbage-collection
   */
  acquireGcLease(vault: string, owner: string, now: string, until: string): Promise<boolean>;
  /** Give the lease back if `owner` holds it (a no-op otherwise). @throws TransientError (retryable). */
  releaseGcLease(vault: string, owner: string): Promise<void>;
  /**
   * Hold the vault bucket `vault` against garbage collection for a writer that relies on what it
   * found there (a copy into it, a sealer from its part check to its commit), as `holder` until
   * `until` (ISO-8601 UTC), conditionally: only when no garbage-collection lease is held, or the
   * held one ended before `now`. Holds coexist (writers do not exclude each other); while any is
   * held, {@link acquireGcLease} refuses. Stored on the lease item (`pk` `GC#<vault>`, `sk`
   * `LEASE`, attribute `copy:<holder>`: the name the first holders, copies, gave it).
   * @returns false when a garbage-collection run holds the vault. @throws TransientError (retryable).
   * @example
   * ```ts
   * if (!(await catalog.acquireVaultHold('vault-euw1', holder, now, until))) throw new TransientError('GC is running');
   * try { ... } finally { await catalog.releaseVaultHold('vault-euw1', holder); }
   * ```
   * @see ../../docs/format.md#garbage-collection
   */
  acquireVaultHold(vault: string, holder: string, now: string, until: string): Promise<boolean>;
  /** Give a hold back (a no-op when it is not held). @throws TransientError (retryable). */
  releaseVaultHold(vault: string, holder: string): Promise<void>;
}
