/**
 * Writes to S3 through lib-storage's `Upload`: one PutObject up to {@link UPLOAD_PART_SIZE_BYTES}, a
 * multipart upload above, with the Object Lock and storage-class parameters of {@link PutOptions}.
 */

import type { Readable } from 'node:stream';
import type { S3Client, StorageClass } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ValidationError } from '#domain/errors.ts';
import type { LockMode, PutOptions } from '#domain/ports.ts';
import { VAULT_UPLOAD_PART_SIZE_BYTES } from '#domain/vault.ts';

/**
 * Upload part size of multipart uploads: 8 MiB, under fauxqs's 11 MiB request limit and above S3's
 * 5 MiB minimum. Bodies up to this size go up in one PutObject.
 */
export const UPLOAD_PART_SIZE_BYTES = VAULT_UPLOAD_PART_SIZE_BYTES;

/** S3's limit on the parts of one multipart upload. @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html */
export const MAX_UPLOAD_PARTS = 10_000;

/**
 * The upload part size for a body of `sizeBytes` (when known): {@link UPLOAD_PART_SIZE_BYTES}, or
 * more (whole MiB) when that many parts would pass {@link MAX_UPLOAD_PARTS}, which at 8 MiB is an
 * object of 78 GiB. lib-storage holds about two parts of a stream in memory (one filling, one
 * uploading), so a 1 TiB object holds about 210 MiB.
 * @example
 * ```ts
 * uploadPartSizeFor(100 * 2 ** 30); // 11 MiB: 9,310 parts
 * ```
 */
export function uploadPartSizeFor(sizeBytes: number | undefined): number {
  const MiB = 1024 * 1024;
  const needed = Math.ceil((sizeBytes ?? 0) / MAX_UPLOAD_PARTS / MiB) * MiB;
  return Math.max(UPLOAD_PART_SIZE_BYTES, needed);
}

export async function upload(
  client: S3Client,
  bucket: string,
  key: string,
  body: Uint8Array | Readable,
  attributes: {
    contentType?: string;
    metadata?: Record<string, string>;
    sha256?: boolean;
    /** The body's size when it is a stream whose size is known: sets the part size ({@link uploadPartSizeFor}). */
    sizeBytes?: number;
    /** Upload parts uploaded at once. @default 4 */
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
    partSize: uploadPartSizeFor(
      attributes.sizeBytes ?? (body instanceof Uint8Array ? body.length : undefined),
    ),
    queueSize: attributes.queueSize ?? 4,
    leavePartsOnError: false,
  }).done();
}

/**
 * The PutObject (and CreateMultipartUpload: lib-storage passes the same parameters) fields of
 * {@link PutOptions}: `ObjectLockMode` + `ObjectLockRetainUntilDate`, and `StorageClass` unless
 * STANDARD (S3's default, left out). S3 refuses a PUT with Object Lock parameters that carries
 * neither `Content-MD5` nor an `x-amz-checksum-*` header; vault puts always send
 * `x-amz-checksum-sha256` (`ChecksumAlgorithm: SHA256`, on every upload part of a multipart upload), which
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
