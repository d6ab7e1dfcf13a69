/**
 * Ports: the narrow interfaces the domain needs from the outside world. Adapters in
 * shared/adapters implement them (S3, SQS, DynamoDB, KMS, and memory twins for tests).
 * Each method documents its contract the way restic's backend interface does. The records the
 * catalog stores are in records.ts; the catalog's own ports in catalog-ports.ts (re-exported here).
 */
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
 * What a data key seals: `content` (blobs: the protected objects' bytes) or `metadata` (everything
 * else: pack headers, index documents, manifests). With write-only keys the two are wrapped to
 * different master keys (docs/format.md#keyring).
 */
export type DataKeyPurpose = 'content' | 'metadata';

/**
 * Issues and unwraps data keys (envelope encryption). AWS: KMS `GenerateDataKey`/`Decrypt`;
 * the embedded stack: a master key in a local key file.
 */
export interface KeyProvider {
  /**
   * A fresh 256-bit data key for `purpose` (@default 'metadata'; a provider may ignore it). Throws
   * a retryable error on throttling.
   */
  generateDataKey(purpose?: DataKeyPurpose): Promise<DataKey>;
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
  /**
   * How S3 encrypts the version at rest, as the response says: `AES256` (SSE-S3),
   * `aws:kms:<key id>` (SSE-KMS, with the key the response names), `aws:kms:dsse:<key id>`;
   * absent when the response does not say (an emulator). The detector compares it with the key's
   * previous version (docs/format.md#detector).
   */
  encryption?: string;
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
    /**
     * `sizeBytes`: the stream's total size when known (a restored object's). S3 takes at most
     * 10,000 upload parts, so the part size must grow with it: 8 MiB parts stop at 78 GiB.
     */
    attributes: { contentType?: string; metadata?: Record<string, string>; sizeBytes?: number },
    conditions?: WriteConditions,
  ): Promise<WriteOutcome>;
  /**
   * A multipart upload that outlives one invocation (a restore of an object too large for one):
   * `createUpload` (S3 CreateMultipartUpload) → its upload id; `uploadPart` (UploadPart; parts are
   * numbered from 1, every part but the last at least 5 MiB) → the part's ETag; `completeUpload`
   * (CompleteMultipartUpload, with the ETags of parts 1..n in order, under `conditions`: `exists`
   * when `ifNoneMatch` and the key has an object, nothing stored); `abortUpload` drops the parts.
   * @throws NotFoundError when the bucket, or the upload (completed or aborted), is gone;
   *   TransientError (retryable) when storage fails.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html
   */
  createUpload(
    bucket: string,
    key: string,
    attributes: { contentType?: string; metadata?: Record<string, string> },
  ): Promise<string>;
  uploadPart(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array,
  ): Promise<string>;
  completeUpload(
    bucket: string,
    key: string,
    uploadId: string,
    etags: readonly string[],
    conditions?: WriteConditions,
  ): Promise<WriteOutcome>;
  abortUpload(bucket: string, key: string, uploadId: string): Promise<void>;
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
 * A file on the function's local disk (Lambda's `/tmp`, its ephemeral storage) that only this
 * process sees: what a structure too large for the function's memory spills to. Synchronous, since a
 * lookup in it (a few KiB read at most) costs less than a turn of the event loop. Gone with the
 * process, or at {@link close}.
 */
export interface ScratchFile {
  /** Append `bytes` at the end. @returns the offset they were written at, in bytes. */
  append(bytes: Uint8Array): number;
  /**
   * Fill `into` with the bytes at `offsetBytes`.
   * @throws IntegrityError (not retryable) when fewer bytes than `into.length` are there.
   */
  read(into: Uint8Array, offsetBytes: number): void;
  /** Bytes appended so far. */
  readonly sizeBytes: number;
  /** Free the file's space. Later reads and appends throw. */
  close(): void;
}

/**
 * Where {@link ScratchFile}s come from: a directory on local disk (shared/adapters/scratch.ts), or
 * memory in tests. Lambda's ephemeral storage is 512 MiB unless the function asks for more (up to
 * 10,240 MiB, `ephemeralStorageSize` in serverless.yml).
 * @see https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html
 */
export interface ScratchSpace {
  /** A new, empty file. */
  open(): ScratchFile;
}

export type {
  Catalog,
  DetectorCatalog,
  DrillCatalog,
  GcCatalog,
  JobCatalog,
  JournalCatalog,
  PlanCatalog,
  RestoreJobCatalog,
  SnapshotCatalog,
} from './catalog-ports.ts';
