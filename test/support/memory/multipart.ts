/**
 * S3's multipart uploads for the memory twins of the ObjectStore port (MemoryObjectStore, and the
 * simulator's SimObjectStore): what CompleteMultipartUpload checks (every ETag its part's, every
 * part but the last at least 5 MiB, at most 10,000 parts), and an upload that ends either way.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
 */
import { NotFoundError } from '#domain/errors.ts';
import type { WriteConditions, WriteOutcome } from '#domain/ports.ts';
import { contentIdOf } from '#domain/vault.ts';

type Attributes = { contentType?: string; metadata?: Record<string, string> };
const MIN_PART_BYTES = 5 * 1024 * 1024;

export class MultipartUploads {
  /** Uploads begun and neither completed nor aborted, by upload id. */
  readonly open = new Map<
    string,
    {
      bucket: string;
      key: string;
      attributes: Attributes;
      parts: Map<number, { etag: string; body: Uint8Array }>;
    }
  >();
  #ids = 0;

  /**
   * @param hasBucket whether the store has the bucket; `hasKey` whether the key has an object now;
   *   `put` stores a completed upload's object.
   */
  readonly hasBucket: (bucket: string) => boolean;
  readonly hasKey: (bucket: string, key: string) => boolean;
  readonly put: (
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: Attributes,
  ) => Promise<WriteOutcome>;

  constructor(
    hasBucket: MultipartUploads['hasBucket'],
    hasKey: MultipartUploads['hasKey'],
    put: MultipartUploads['put'],
  ) {
    this.hasBucket = hasBucket;
    this.hasKey = hasKey;
    this.put = put;
  }

  async create(bucket: string, key: string, attributes: Attributes): Promise<string> {
    if (!this.hasBucket(bucket)) throw new NotFoundError(`bucket ${bucket} does not exist`);
    const uploadId = `upload-${++this.#ids}`;
    this.open.set(uploadId, { bucket, key, attributes, parts: new Map() });
    return uploadId;
  }

  /** As S3: a part uploaded again under its number replaces the one before. */
  async uploadPart(bucket: string, key: string, uploadId: string, partNumber: number, body: Uint8Array) {
    const upload = this.#upload(bucket, key, uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
      throw new Error(`part number ${partNumber} is not 1 to 10,000 (S3: InvalidArgument)`);
    const etag = `"${contentIdOf(body).slice(0, 32)}"`;
    upload.parts.set(partNumber, { etag, body: Uint8Array.from(body) });
    return etag;
  }

  /** CompleteMultipartUpload of parts 1..n; `conditions` as a PUT's. Either way the upload ends. */
  async complete(
    bucket: string,
    key: string,
    uploadId: string,
    etags: readonly string[],
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    const upload = this.#upload(bucket, key, uploadId);
    const bodies = etags.map((etag, i) => {
      const part = upload.parts.get(i + 1);
      if (part?.etag !== etag)
        throw new Error(`part ${i + 1} of ${uploadId} has no ETag ${etag} (S3: InvalidPart)`);
      if (i < etags.length - 1 && part.body.length < MIN_PART_BYTES)
        throw new Error(`part ${i + 1} of ${uploadId} is under 5 MiB and not the last (S3: EntityTooSmall)`);
      return part.body;
    });
    this.open.delete(uploadId);
    if (conditions.ifNoneMatch && this.hasKey(bucket, key)) return 'exists';
    return this.put(bucket, key, Buffer.concat(bodies), upload.attributes);
  }

  async abort(bucket: string, key: string, uploadId: string): Promise<void> {
    this.#upload(bucket, key, uploadId);
    this.open.delete(uploadId);
  }

  #upload(bucket: string, key: string, uploadId: string) {
    const upload = this.open.get(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key)
      throw new NotFoundError(`no multipart upload ${uploadId} of ${bucket}/${key} (S3: NoSuchUpload)`);
    return upload;
  }
}
