/**
 * S3 adapters: {@link S3VaultStore} (a vault bucket in one region) and {@link S3ObjectStore}
 * (protected buckets and restore targets). Both take an injected `S3Client`.
 */

import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectRetentionCommand,
  RestoreObjectCommand,
  type S3Client,
  S3ServiceException,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  ConflictError,
  IntegrityError,
  NotFoundError,
  SourceUnavailableError,
  StrongboxError,
  TransientError,
  ValidationError,
} from '#domain/errors.ts';
import type {
  ArchiveTier,
  ByteRange,
  CurrentVersion,
  FetchedObject,
  LockMode,
  ObjectHead,
  ObjectStore,
  PutOptions,
  ReadOptions,
  SourceObject,
  StorageState,
  StoredChecksum,
  StoredObject,
  VaultStore,
  WriteConditions,
  WriteOutcome,
} from '#domain/ports.ts';
import { storedChecksumOf, VAULT_PART_SIZE_BYTES } from '#domain/vault.ts';
import { type S3HttpClient, S3HttpError, S3HttpFallback } from './s3-http.ts';

/**
 * Part size of multipart uploads: 8 MiB, under fauxqs's 11 MiB request limit and above S3's
 * 5 MiB minimum. Bodies up to this size go up in one PutObject.
 */
export const PART_SIZE_BYTES = VAULT_PART_SIZE_BYTES;

/**
 * Map an SDK error to a Strongbox error. 404s become NotFoundError; throttling and 5xx are retryable;
 * a body that does not match the checksum S3 recorded at upload (the SDK validates every GetObject of
 * an object stored with a checksum) is IntegrityError: corrupt, not worth retrying.
 */
export function mapS3Error(error: unknown, what: string): StrongboxError {
  if (error instanceof StrongboxError) return error;
  if (error instanceof Error && /^Checksum mismatch/.test(error.message)) {
    return new IntegrityError(`${what}: ${error.message}`, { cause: error });
  }
  if (error instanceof S3ServiceException) {
    return errorOfS3Answer(error.name, error.$metadata.httpStatusCode ?? 0, error.message, what, error);
  }
  if (error instanceof S3HttpError)
    return errorOfS3Answer(error.code, error.status, error.message, what, error);
  return new TransientError(`${what}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}

/** An S3 error answer (its code and HTTP status), from the SDK or {@link S3HttpClient}, as a Strongbox error. */
function errorOfS3Answer(
  name: string,
  status: number,
  message: string,
  what: string,
  cause: Error,
): StrongboxError {
  if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket')) {
    return new NotFoundError(`${what}: not found`, { cause });
  }
  if (name === 'NoSuchBucket') return new NotFoundError(`${what}: bucket does not exist`, { cause });
  if (status === 403) return new StrongboxError(`${what}: access denied`, { cause, retryable: false });
  if (status === 412 || name === 'PreconditionFailed')
    return new ConflictError(`${what}: changed since it was listed (precondition failed)`, { cause });
  // 409 to a conditional write: another write of the key was under way; S3 advises to try again.
  if (name === 'ConditionalRequestConflict') return new TransientError(`${what}: ${name}`, { cause });
  if (status >= 500 || name === 'SlowDown' || status === 429 || status === 0) {
    return new TransientError(`${what}: ${name}`, { cause });
  }
  return new StrongboxError(`${what}: ${name}: ${message}`, { cause, retryable: false });
}

/** Whether S3 answered 412 PreconditionFailed (through the SDK or {@link S3HttpClient}). */
function isPreconditionFailed(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    return error.name === 'PreconditionFailed' || error.$metadata.httpStatusCode === 412;
  }
  return error instanceof S3HttpError && error.status === 412;
}

async function upload(
  client: S3Client,
  bucket: string,
  key: string,
  body: Uint8Array | Readable,
  attributes: {
    contentType?: string;
    metadata?: Record<string, string>;
    sha256?: boolean;
    /** Parts uploaded at once. @default 4 */
    queueSize?: number;
    /** Object Lock and storage class (vault documents). */
    put?: PutOptions;
    /**
     * `If-None-Match: *`: on the PutObject, or on the CompleteMultipartUpload of a multipart upload
     * (lib-storage passes its parameters to every request; only those two carry the header).
     */
    ifNoneMatch?: boolean;
  } = {},
): Promise<void> {
  await new Upload({
    client,
    params: {
      Bucket: bucket,
      Key: key,
      Body: body,
      ...(attributes.sha256 ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
      ...(attributes.contentType ? { ContentType: attributes.contentType } : {}),
      ...(attributes.metadata ? { Metadata: attributes.metadata } : {}),
      ...s3PutParameters(attributes.put),
      ...(attributes.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
    },
    partSize: PART_SIZE_BYTES,
    queueSize: attributes.queueSize ?? 4,
    leavePartsOnError: false,
  }).done();
}

/**
 * The PutObject (and CreateMultipartUpload: lib-storage passes the same parameters) fields of
 * {@link PutOptions}: `ObjectLockMode` + `ObjectLockRetainUntilDate`, and `StorageClass` unless
 * STANDARD (S3's default, left out). S3 refuses a PUT with Object Lock parameters that carries
 * neither `Content-MD5` nor an `x-amz-checksum-*` header; vault puts always send
 * `x-amz-checksum-sha256` (`ChecksumAlgorithm: SHA256`, on every part of a multipart upload), which
 * satisfies it.
 * @throws ValidationError (not retryable) for a retain-until date without a mode, or one that is not
 *   an ISO-8601 time.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
 */
export function s3PutParameters(options: PutOptions | undefined): {
  ObjectLockMode?: LockMode;
  ObjectLockRetainUntilDate?: Date;
  StorageClass?: StorageClass;
} {
  if (!options) return {};
  const lock: { ObjectLockMode?: LockMode; ObjectLockRetainUntilDate?: Date } = {};
  if (options.retainUntil !== undefined) {
    const until = new Date(options.retainUntil);
    if (!options.lockMode || Number.isNaN(until.getTime())) {
      throw new ValidationError(
        `retain-until ${options.retainUntil} needs a lock mode and an ISO-8601 time`,
        'retainUntil',
      );
    }
    lock.ObjectLockMode = options.lockMode;
    lock.ObjectLockRetainUntilDate = until;
  }
  return {
    ...lock,
    ...(options.storageClass && options.storageClass !== 'STANDARD'
      ? { StorageClass: options.storageClass as StorageClass }
      : {}),
  };
}

async function* listAll(
  client: S3Client,
  bucket: string,
  prefix: string,
  startAfter?: string,
): AsyncIterable<{
  key: string;
  sizeBytes: number;
  etag: string;
  lastModified: string;
  storageClass: string;
}> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
      }),
    );
    for (const o of page.Contents ?? []) {
      if (!o.Key) continue;
      yield {
        key: o.Key,
        sizeBytes: o.Size ?? 0,
        etag: (o.ETag ?? '').replace(/"/g, ''),
        lastModified: (o.LastModified ?? new Date(0)).toISOString(),
        storageClass: o.StorageClass ?? 'STANDARD',
      };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** The state of an archive restore from HeadObject's `Restore` header. */
export function restoreStateOf(header: string | undefined): StorageState['restore'] {
  if (!header) return 'none';
  return /ongoing-request="true"/.test(header) ? 'ongoing' : 'ready';
}

/**
 * Run `fast` on the {@link S3HttpClient} when there is one and it serves `bucket`, else (or when it
 * hands the request back with S3HttpFallback) `sdk`.
 */
async function viaHttp<T>(
  http: S3HttpClient | undefined,
  bucket: string,
  fast: (http: S3HttpClient) => Promise<T>,
  sdk: () => Promise<T>,
): Promise<T> {
  if (http?.serves(bucket)) {
    try {
      return await fast(http);
    } catch (error) {
      if (!(error instanceof S3HttpFallback)) throw error;
    }
  }
  return sdk();
}

async function getObject(
  client: S3Client,
  bucket: string,
  key: string,
  range?: ByteRange,
  options: ReadOptions = range ?? {},
  http?: S3HttpClient,
): Promise<FetchedObject> {
  return viaHttp(
    http,
    bucket,
    async (h) => {
      const out = await h.getObject(bucket, key, {
        ...(range ? { range } : {}),
        ...(options.ifMatch ? { ifMatch: options.ifMatch } : {}),
        ...(options.versionId ? { versionId: options.versionId } : {}),
      });
      const total = /\/(\d+)$/.exec(out.contentRange ?? '')?.[1];
      return {
        key,
        body: out.body,
        sizeBytes: total === undefined ? out.body.length : Number(total),
        etag: out.etag,
        lastModified: out.lastModified ?? new Date(0).toISOString(),
        ...(out.contentType ? { contentType: out.contentType } : {}),
        ...(Object.keys(out.metadata).length > 0 ? { metadata: out.metadata } : {}),
        ...(out.versionId && out.versionId !== 'null' ? { versionId: out.versionId } : {}),
      };
    },
    () => getObjectSdk(client, bucket, key, range, options),
  );
}

async function getObjectSdk(
  client: S3Client,
  bucket: string,
  key: string,
  range: ByteRange | undefined,
  options: ReadOptions,
): Promise<FetchedObject> {
  const out = await client.send(
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ...(range ? { Range: `bytes=${range.offsetBytes}-${range.offsetBytes + range.lengthBytes - 1}` } : {}),
      ...(options.ifMatch ? { IfMatch: `"${options.ifMatch}"` } : {}),
      ...(options.versionId ? { VersionId: options.versionId } : {}),
    }),
  );
  const body = await out.Body?.transformToByteArray();
  if (!body) throw new TransientError(`s3://${bucket}/${key}: empty response body`);
  // A ranged GET answers `Content-Range: bytes a-b/total`: the object's size is the total.
  const total = /\/(\d+)$/.exec(out.ContentRange ?? '')?.[1];
  return {
    key,
    body,
    sizeBytes: total === undefined ? body.length : Number(total),
    etag: (out.ETag ?? '').replace(/"/g, ''),
    lastModified: (out.LastModified ?? new Date(0)).toISOString(),
    ...(out.ContentType ? { contentType: out.ContentType } : {}),
    ...(out.Metadata && Object.keys(out.Metadata).length > 0 ? { metadata: out.Metadata } : {}),
    ...(out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {}),
  };
}

/**
 * A vault bucket. Implements the {@link VaultStore} contract on S3.
 * @example
 * ```ts
 * const vault = new S3VaultStore(new S3Client({ region: 'eu-west-1' }), 'eu-west-1', 'strongbox-prod-vault-eu-west-1');
 * ```
 */
export class S3VaultStore implements VaultStore {
  readonly region: string;
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #http: S3HttpClient | undefined;

  /**
   * @param http the lighter client for reads (whole documents and pack ranges); the SDK client does
   *   the rest.
   */
  constructor(client: S3Client, region: string, bucket: string, http?: S3HttpClient) {
    this.#client = client;
    this.#http = http;
    this.region = region;
    this.bucket = bucket;
  }

  /**
   * Upload with an S3 SHA-256 checksum (one PutObject up to {@link PART_SIZE_BYTES}, else multipart),
   * with `options` as {@link s3PutParameters} maps them (on the PutObject, or on the
   * CreateMultipartUpload of a multipart upload).
   */
  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<StoredChecksum> {
    try {
      await upload(this.#client, this.bucket, key, body, {
        contentType: 'application/octet-stream',
        sha256: true,
        ...(options ? { put: options } : {}),
      });
      return storedChecksumOf(body, PART_SIZE_BYTES);
    } catch (error) {
      throw mapS3Error(error, `put s3://${this.bucket}/${key}`);
    }
  }

  /**
   * `HeadObject`'s `ObjectLockRetainUntilDate`. S3 reports it only to a caller allowed
   * `s3:GetObjectRetention`; an object without retention (or a store without Object Lock, like the
   * embedded emulator) reports none: undefined.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
   */
  async retainUntil(key: string): Promise<string | undefined> {
    return (await this.#retention(key)).retainUntil;
  }

  /**
   * `HeadObject` for the current retention, then — only when `retainUntil` is later —
   * `PutObjectRetention` with the object's own mode (or `mode` for an object without retention).
   * Never sends an earlier date, and never changes a mode (S3 refuses COMPLIANCE → GOVERNANCE, and
   * GOVERNANCE → COMPLIANCE without `s3:BypassGovernanceRetention`, which no Strongbox role has).
   * @throws NotFoundError for a missing key; ValidationError for a date that is not ISO-8601;
   *   TransientError (retryable) on throttling and 5xx.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html
   */
  async extendRetention(key: string, retainUntil: string, mode: LockMode): Promise<boolean> {
    const until = new Date(retainUntil);
    if (Number.isNaN(until.getTime())) {
      throw new ValidationError(`${retainUntil} is not an ISO-8601 time`, 'retainUntil');
    }
    const current = await this.#retention(key);
    if (current.retainUntil && new Date(current.retainUntil).getTime() >= until.getTime()) return false;
    try {
      await this.#client.send(
        new PutObjectRetentionCommand({
          Bucket: this.bucket,
          Key: key,
          Retention: { Mode: current.mode ?? mode, RetainUntilDate: until },
        }),
      );
      return true;
    } catch (error) {
      throw mapS3Error(error, `put-object-retention s3://${this.bucket}/${key}`);
    }
  }

  async #retention(key: string): Promise<{ mode?: LockMode; retainUntil?: string }> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const date = out.ObjectLockRetainUntilDate;
      return {
        ...(out.ObjectLockMode ? { mode: out.ObjectLockMode } : {}),
        ...(date ? { retainUntil: new Date(date).toISOString() } : {}),
      };
    } catch (error) {
      throw mapS3Error(error, `head s3://${this.bucket}/${key}`);
    }
  }

  /** `HeadObject` with `ChecksumMode: ENABLED`: the size and checksum S3 recorded, no body read. */
  async checksum(key: string): Promise<StoredChecksum> {
    try {
      const out = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }),
      );
      return {
        sizeBytes: out.ContentLength ?? 0,
        checksumSha256: out.ChecksumSHA256 ?? '',
        checksumType: out.ChecksumType === 'COMPOSITE' ? 'COMPOSITE' : 'FULL_OBJECT',
      };
    } catch (error) {
      throw mapS3Error(error, `head s3://${this.bucket}/${key}`);
    }
  }

  /** A whole `GetObject` (roots, parts, index documents), through the {@link S3HttpClient} when given one. */
  async get(key: string): Promise<Uint8Array> {
    try {
      return (await getObject(this.#client, this.bucket, key, undefined, {}, this.#http)).body;
    } catch (error) {
      throw mapS3Error(error, `get s3://${this.bucket}/${key}`);
    }
  }

  /** A ranged `GetObject` (`Range: bytes=a-b`), through the {@link S3HttpClient} when given one. */
  async getRange(key: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    try {
      const range = { offsetBytes, lengthBytes };
      return (await getObject(this.#client, this.bucket, key, range, {}, this.#http)).body;
    } catch (error) {
      throw mapS3Error(error, `get s3://${this.bucket}/${key} bytes ${offsetBytes}+${lengthBytes}`);
    }
  }

  /**
   * `HeadObject`: the storage class (absent means STANDARD) and the `Restore` header —
   * `ongoing-request="true"` while a restore runs, `ongoing-request="false", expiry-date="…"` once
   * the temporary copy is readable.
   */
  async storageStateOf(key: string): Promise<StorageState> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { storageClass: out.StorageClass ?? 'STANDARD', restore: restoreStateOf(out.Restore) };
    } catch (error) {
      throw mapS3Error(error, `head s3://${this.bucket}/${key}`);
    }
  }

  /**
   * `RestoreObject` with the tier and the days the copy stays readable. S3 answers 409
   * RestoreAlreadyInProgress to a second request: that is success here.
   * @throws NotFoundError for a missing key; a non-retryable StrongboxError for an object that is
   *   not archived (InvalidObjectState) or a tier its class lacks.
   */
  async requestRestore(key: string, tier: ArchiveTier, days: number): Promise<void> {
    try {
      await this.#client.send(
        new RestoreObjectCommand({
          Bucket: this.bucket,
          Key: key,
          RestoreRequest: { Days: days, GlacierJobParameters: { Tier: tier } },
        }),
      );
    } catch (error) {
      if (error instanceof S3ServiceException && error.name === 'RestoreAlreadyInProgress') return;
      throw mapS3Error(error, `restore-object s3://${this.bucket}/${key} (${tier})`);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    try {
      for await (const o of listAll(this.#client, this.bucket, prefix)) {
        yield {
          key: o.key,
          sizeBytes: o.sizeBytes,
          lastModified: o.lastModified,
          storageClass: o.storageClass,
        };
      }
    } catch (error) {
      throw mapS3Error(error, `list s3://${this.bucket}/${prefix}`);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    await deleteKeys(this.#client, this.bucket, keys);
  }
}

/** `DeleteObjects` in batches of 1000; a key S3 reports it could not delete fails the call (retryable). */
async function deleteKeys(client: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    try {
      const out = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = out.Errors ?? [];
      if (failed.length > 0) {
        throw new TransientError(
          `delete in s3://${bucket}: ${failed.length} key(s) failed, e.g. ${failed[0]?.Key}: ${failed[0]?.Code}`,
        );
      }
    } catch (error) {
      throw mapS3Error(error, `delete in s3://${bucket}`);
    }
  }
}

/**
 * Protected buckets and restore targets. Implements {@link ObjectStore} on S3.
 * A missing or forbidden source bucket surfaces as SourceUnavailableError (the job fails, not retried).
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #http: S3HttpClient | undefined;

  /**
   * @param http the lighter client for the hot paths ({@link get}, {@link getRange}, {@link put} of
   *   up to {@link PART_SIZE_BYTES}); without it, the SDK client does everything.
   */
  constructor(client: S3Client, http?: S3HttpClient) {
    this.#client = client;
    this.#http = http;
  }

  async *list(
    bucket: string,
    prefix: string,
    options: { startAfter?: string } = {},
  ): AsyncIterable<SourceObject> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      const mapped = mapS3Error(error, `source bucket ${bucket}`);
      if (mapped instanceof NotFoundError || !mapped.retryable) {
        throw new SourceUnavailableError(
          `source bucket ${bucket} is missing or unreadable (${mapped.message})`,
          { cause: error },
        );
      }
      throw mapped;
    }
    try {
      yield* listAll(this.#client, bucket, prefix, options.startAfter);
    } catch (error) {
      const mapped = mapS3Error(error, `list s3://${bucket}/${prefix}`);
      if (!mapped.retryable) throw new SourceUnavailableError(mapped.message, { cause: error });
      throw mapped;
    }
  }

  /**
   * `GetObject`, with `If-Match` when `options.ifMatch` is given and `VersionId` when
   * `options.versionId` is.
   * @throws ConflictError (not retryable) when the object changed (412); NotFoundError when the
   *   object or version is gone.
   */
  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<FetchedObject> {
    try {
      return await getObject(this.#client, bucket, key, undefined, options, this.#http);
    } catch (error) {
      throw mapS3Error(error, `get s3://${bucket}/${key}`);
    }
  }

  /**
   * A ranged `GetObject`, with `If-Match` when `range.ifMatch` is given and `VersionId` when
   * `range.versionId` is.
   * @throws ConflictError (not retryable) when the object changed (412); NotFoundError when gone.
   */
  async getRange(bucket: string, key: string, range: ByteRange): Promise<FetchedObject> {
    try {
      return await getObject(this.#client, bucket, key, range, range, this.#http);
    } catch (error) {
      throw mapS3Error(error, `get s3://${bucket}/${key} bytes ${range.offsetBytes}+${range.lengthBytes}`);
    }
  }

  /**
   * Multipart upload of a stream of chunks, holding at most a few parts in memory (one PutObject
   * when the stream fits in one part). `conditions.ifNoneMatch` puts `If-None-Match: *` on the
   * CompleteMultipartUpload (or that PutObject): a 412 there is `exists`, and lib-storage aborts the
   * upload, so no parts are left behind.
   * @throws as {@link ObjectStore.putStream}: a 409 ConditionalRequestConflict is TransientError
   *   (retryable; the stream cannot be replayed here).
   */
  async putStream(
    bucket: string,
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    try {
      // One part in flight per stream: a restore writes many objects at once, each holding about one chunk.
      await upload(this.#client, bucket, key, Readable.from(chunks), {
        ...attributes,
        queueSize: 1,
        ifNoneMatch: conditions.ifNoneMatch === true,
      });
      return 'written';
    } catch (error) {
      if (conditions.ifNoneMatch && isPreconditionFailed(error)) return 'exists';
      throw mapS3Error(error, `put s3://${bucket}/${key}`);
    }
  }

  /** `HeadObject`; a missing key or bucket (404) is undefined. */
  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        sizeBytes: out.ContentLength ?? 0,
        etag: (out.ETag ?? '').replace(/"/g, ''),
        ...(out.Metadata && Object.keys(out.Metadata).length > 0 ? { metadata: out.Metadata } : {}),
      };
    } catch (error) {
      const mapped = mapS3Error(error, `head s3://${bucket}/${key}`);
      if (mapped instanceof NotFoundError) return undefined;
      throw mapped;
    }
  }

  /**
   * Store `body` at `key`: one `PutObject` (through the {@link S3HttpClient} when given one) up to
   * {@link PART_SIZE_BYTES}, a multipart upload above. `conditions.ifNoneMatch` sends
   * `If-None-Match: *` (on the PutObject, or the CompleteMultipartUpload): S3's 412
   * PreconditionFailed is `exists`, nothing stored.
   * @throws NotFoundError when the bucket does not exist; TransientError (retryable) on throttling,
   *   5xx and connection failures that outlast the retries, and a 409 ConditionalRequestConflict.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
   */
  async put(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    const ifNoneMatch = conditions.ifNoneMatch === true;
    try {
      await viaHttp(
        body.length <= PART_SIZE_BYTES ? this.#http : undefined,
        bucket,
        (h) => h.putObject(bucket, key, body, attributes, conditions),
        () => upload(this.#client, bucket, key, body, { ...attributes, ifNoneMatch }),
      );
      return 'written';
    } catch (error) {
      if (ifNoneMatch && isPreconditionFailed(error)) return 'exists';
      throw mapS3Error(error, `put s3://${bucket}/${key}`);
    }
  }
  /**
   * `HeadObject` without a version id: the key's current version. A 404 (no such key, or the newest
   * version is a delete marker: S3 then answers 404 with `x-amz-delete-marker: true`) is undefined.
   * @throws TransientError (retryable) on throttling and 5xx; StrongboxError (not retryable) on 403.
   */
  async currentVersion(bucket: string, key: string): Promise<CurrentVersion | undefined> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        key,
        sizeBytes: out.ContentLength ?? 0,
        etag: (out.ETag ?? '').replace(/"/g, ''),
        lastModified: (out.LastModified ?? new Date(0)).toISOString(),
        ...(out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {}),
      };
    } catch (error) {
      const mapped = mapS3Error(error, `head s3://${bucket}/${key}`);
      if (mapped instanceof NotFoundError) return undefined;
      throw mapped;
    }
  }

  /** `DeleteObjects` (restore drills' scratch copies); a missing key succeeds. */
  async delete(bucket: string, keys: readonly string[]): Promise<void> {
    await deleteKeys(this.#client, bucket, keys);
  }
}
