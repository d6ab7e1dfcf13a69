/**
 * The S3 bucket source: a protected bucket, whole or under a prefix, read through the ObjectStore
 * port (so it stays in the pure domain: the S3 adapter, or a memory twin, does the requests).
 * @see ../../../docs/format.md#partitions
 * @see ../../../docs/format.md#journal
 */
import type { CurrentVersion, ObjectStore, ReadOptions } from '../ports.ts';
import { CHUNK_SIZE_BYTES } from '../vault.ts';
import type { ItemToRead, Source, SourceItem, SourceRead } from './source.ts';

/**
 * A {@link Source} over one S3 bucket, or the keys of it under `prefix` (`''`: the whole bucket).
 * Keys it lists and reads are whole S3 keys (the prefix included).
 *
 * `read` is a whole `GetObject` when the expected size fits one chunk ({@link CHUNK_SIZE_BYTES}),
 * else a ranged one of the first chunk; every later ranged read carries `If-Match` with the first
 * response's ETag (or the caller's `ifMatch`), so an object overwritten mid-read fails
 * (ConflictError) instead of mixing two versions. `options` go on every read.
 * @throws as {@link Source}: SourceUnavailableError (list: the bucket is missing or access denied),
 *   NotFoundError and ConflictError (read, not retryable), TransientError (retryable).
 * @example
 * ```ts
 * const photos = new S3BucketSource(deps.objects, 'photos-src', '2026/');
 * const current = await photos.currentVersion('2026/cat.jpg'); // one HeadObject
 * ```
 */
export class S3BucketSource implements Source {
  readonly kind = 's3-bucket';
  readonly #objects: ObjectStore;
  readonly bucket: string;
  readonly prefix: string;

  constructor(objects: ObjectStore, bucket: string, prefix: string) {
    this.#objects = objects;
    this.bucket = bucket;
    this.prefix = prefix;
  }

  /** `ListObjectsV2` of the bucket under the prefix, from after `options.startAfter` when given. */
  list(options?: { startAfter?: string }): AsyncIterable<SourceItem> {
    return options === undefined
      ? this.#objects.list(this.bucket, this.prefix)
      : this.#objects.list(this.bucket, this.prefix, options);
  }

  async read(item: ItemToRead, options: ReadOptions = {}): Promise<SourceRead> {
    const objects = this.#objects;
    const bucket = this.bucket;
    const given: ReadOptions = {
      ...(options.versionId === undefined ? {} : { versionId: options.versionId }),
      ...(options.ifMatch === undefined ? {} : { ifMatch: options.ifMatch }),
    };
    const conditional = Object.keys(given).length > 0;
    const first =
      item.sizeBytes <= CHUNK_SIZE_BYTES
        ? conditional
          ? await objects.get(bucket, item.key, given)
          : await objects.get(bucket, item.key)
        : await objects.getRange(bucket, item.key, {
            offsetBytes: 0,
            lengthBytes: CHUNK_SIZE_BYTES,
            ...given,
          });
    const { body, ...attributes } = first;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      yield* chunksOf(body);
      for (let offset = body.length; offset < first.sizeBytes; offset += CHUNK_SIZE_BYTES) {
        const lengthBytes = Math.min(CHUNK_SIZE_BYTES, first.sizeBytes - offset);
        const next = await objects.getRange(bucket, item.key, {
          offsetBytes: offset,
          lengthBytes,
          ...given,
          ifMatch: given.ifMatch ?? first.etag,
        });
        yield* chunksOf(next.body);
      }
    }
    return { ...attributes, chunks: chunks() };
  }

  /** One `HeadObject` without a version id (ObjectStore.currentVersion). */
  currentVersion(key: string): Promise<CurrentVersion | undefined> {
    return this.#objects.currentVersion(this.bucket, key);
  }

  covers(where: { bucket: string; key: string }): boolean {
    return where.bucket === this.bucket && where.key.startsWith(this.prefix);
  }

  uriOf(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }
}

/** `body` cut into chunks of {@link CHUNK_SIZE_BYTES} (views, no copies); an empty body is one empty chunk. */
function* chunksOf(body: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < body.length || (at === 0 && body.length === 0); at += CHUNK_SIZE_BYTES) {
    yield body.subarray(at, at + CHUNK_SIZE_BYTES);
    if (body.length === 0) break;
  }
}
