/**
 * S3 adapter of the {@link ObjectStore} port: protected buckets and restore targets, on an injected
 * `S3Client` (and, for the hot paths, the lighter {@link S3HttpClient}).
 */

import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NotFoundError, SourceUnavailableError } from '#domain/errors.ts';
import type {
  ByteRange,
  CurrentVersion,
  FetchedObject,
  ObjectHead,
  ObjectStore,
  ReadOptions,
  SourceObject,
  WriteConditions,
  WriteOutcome,
} from '#domain/ports.ts';
import type { S3HttpClient } from '../s3-http.ts';
import { isPreconditionFailed, mapS3Error } from './errors.ts';
import { getObject, viaHttp } from './get-object.ts';
import { deleteKeys, listAll } from './keys.ts';
import { UPLOAD_PART_SIZE_BYTES, upload } from './upload.ts';

/**
 * Protected buckets and restore targets. Implements {@link ObjectStore} on S3.
 * A missing or forbidden source bucket surfaces as SourceUnavailableError (the job fails, not retried).
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #http: S3HttpClient | undefined;

  /**
   * @param http the lighter client for the hot paths ({@link get}, {@link getRange}, {@link put} of
   *   up to {@link UPLOAD_PART_SIZE_BYTES}); without it, the SDK client does everything.
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
   * Multipart upload of a stream of chunks, holding at most a few upload parts in memory (one
   * PutObject when the stream fits in one upload part). `conditions.ifNoneMatch` puts
   * `If-None-Match: *` on the CompleteMultipartUpload (or that PutObject): a 412 there is `exists`,
   * and lib-storage aborts the upload, so no upload parts are left behind.
   * @throws as {@link ObjectStore.putStream}: a 409 ConditionalRequestConflict is TransientError
   *   (retryable; the stream cannot be replayed here).
   */
  async putStream(
    bucket: string,
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    attributes: { contentType?: string; metadata?: Record<string, string>; sizeBytes?: number },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    try {
      // One upload part in flight per stream: a restore writes many objects at once, each holding about one chunk.
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

  /** `CreateMultipartUpload` with the content type and metadata. @returns the upload id. */
  async createUpload(
    bucket: string,
    key: string,
    attributes: { contentType?: string; metadata?: Record<string, string> },
  ): Promise<string> {
    try {
      const out = await this.#client.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          ...(attributes.contentType ? { ContentType: attributes.contentType } : {}),
          ...(attributes.metadata ? { Metadata: attributes.metadata } : {}),
        }),
      );
      if (!out.UploadId)
        throw new Error(`CreateMultipartUpload of s3://${bucket}/${key} returned no UploadId`);
      return out.UploadId;
    } catch (error) {
      throw mapS3Error(error, `create upload s3://${bucket}/${key}`);
    }
  }

  /** `UploadPart`. @returns the part's ETag (quotes kept: CompleteMultipartUpload takes it as given). */
  async uploadPart(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array,
  ): Promise<string> {
    try {
      const out = await this.#client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
        }),
      );
      if (!out.ETag) throw new Error(`UploadPart ${partNumber} of s3://${bucket}/${key} returned no ETag`);
      return out.ETag;
    } catch (error) {
      throw mapS3Error(error, `upload part ${partNumber} of s3://${bucket}/${key}`);
    }
  }

  /**
   * `CompleteMultipartUpload` of parts 1..n, with `If-None-Match: *` when `conditions.ifNoneMatch`
   * (a 412 is `exists`; the upload is then aborted so that no parts are left behind).
   */
  async completeUpload(
    bucket: string,
    key: string,
    uploadId: string,
    etags: readonly string[],
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    try {
      await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          ...(conditions.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return 'written';
    } catch (error) {
      if (conditions.ifNoneMatch && isPreconditionFailed(error)) {
        await this.abortUpload(bucket, key, uploadId);
        return 'exists';
      }
      throw mapS3Error(error, `complete upload of s3://${bucket}/${key}`);
    }
  }

  /** `AbortMultipartUpload`. */
  async abortUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    try {
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      throw mapS3Error(error, `abort upload of s3://${bucket}/${key}`);
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
   * {@link UPLOAD_PART_SIZE_BYTES}, a multipart upload above. `conditions.ifNoneMatch` sends
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
        body.length <= UPLOAD_PART_SIZE_BYTES ? this.#http : undefined,
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
