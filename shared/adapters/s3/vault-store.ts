/**
 * S3 adapter of the {@link VaultStore} port: a vault bucket in one region, on an injected `S3Client`
 * (and, for reads, the lighter {@link S3HttpClient}).
 */

import {
  HeadObjectCommand,
  PutObjectRetentionCommand,
  RestoreObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ValidationError } from '#domain/errors.ts';
import type {
  ArchiveTier,
  LockMode,
  PutOptions,
  StorageState,
  StoredChecksum,
  StoredObject,
  VaultStore,
} from '#domain/ports.ts';
import { storedChecksumOf } from '#domain/vault.ts';
import type { S3HttpClient } from '../s3-http.ts';
import { mapS3Error } from './errors.ts';
import { getObject } from './get-object.ts';
import { deleteKeys, listAll } from './keys.ts';
import { UPLOAD_PART_SIZE_BYTES, upload } from './upload.ts';

/** The state of an archive restore from HeadObject's `Restore` header. */
export function restoreStateOf(header: string | undefined): StorageState['restore'] {
  if (!header) return 'none';
  return /ongoing-request="true"/.test(header) ? 'ongoing' : 'ready';
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
   * Upload with an S3 SHA-256 checksum (one PutObject up to {@link UPLOAD_PART_SIZE_BYTES}, else multipart),
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
      return storedChecksumOf(body, UPLOAD_PART_SIZE_BYTES);
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
