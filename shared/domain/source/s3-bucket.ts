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
 * (ConflictError) instead of mixing two versions. `options` go on every read. Later chunks are read
 * ahead, in parallel, within {@link READ_AHEAD_BYTES} shared by every read of the object store, and
 * handed out in order.
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
    const from = item.offsetBytes ?? 0;
    const first =
      from === 0 && item.sizeBytes <= CHUNK_SIZE_BYTES
        ? conditional
          ? await objects.get(bucket, item.key, given)
          : await objects.get(bucket, item.key)
        : await objects.getRange(bucket, item.key, {
            offsetBytes: from,
            lengthBytes: CHUNK_SIZE_BYTES,
            ...given,
          });
    const { body, ...attributes } = first;
    const size = first.sizeBytes;
    const budget = readAheadOf(objects);
    const range = (offsetBytes: number) => ({
      offsetBytes,
      lengthBytes: Math.min(CHUNK_SIZE_BYTES, size - offsetBytes),
      ...given,
      ifMatch: given.ifMatch ?? first.etag,
    });
    async function* chunks(): AsyncGenerator<Uint8Array> {
      yield* chunksOf(body);
      // The next chunk is always being read; more are read ahead while the shared budget allows.
      const ahead: { body: Promise<{ body: Uint8Array }>; heldBytes: number }[] = [];
      let next = from + body.length;
      try {
        while (next < size || ahead.length > 0) {
          while (next < size) {
            const { lengthBytes } = range(next);
            const heldBytes = ahead.length === 0 ? 0 : lengthBytes;
            if (heldBytes > 0 && !budget.take(heldBytes)) break;
            const read = objects.getRange(bucket, item.key, range(next));
            read.catch(() => {}); // awaited below, in order; an abandoned read-ahead's failure is moot
            ahead.push({ body: read, heldBytes });
            next += lengthBytes;
          }
          const head = ahead.shift() as (typeof ahead)[number];
          try {
            yield* chunksOf((await head.body).body);
          } finally {
            budget.give(head.heldBytes); // the consumer has stored it (or stopped)
          }
        }
      } finally {
        // Read-aheads still in flight (an error, or the consumer stopped) hold their bytes until done.
        for (const a of ahead) {
          const release = () => budget.give(a.heldBytes);
          a.body.then(release, release);
        }
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

/**
 * Bytes of chunks read ahead of need, across every read of one object store at once: 8 chunks. A
 * read of a large object keeps its next chunk in flight, and up to this many more bytes while no
 * other read holds them, so one object streams at several connections' pace (S3 serves a
 * connection at about 85–90 MB/s) and memory stays bounded however many objects are read at once.
 */
export const READ_AHEAD_BYTES = 8 * CHUNK_SIZE_BYTES;

/** A shared allowance of bytes: taken before a read ahead, given back once its chunk is stored. */
class ByteBudget {
  #free: number;
  constructor(bytes: number) {
    this.#free = bytes;
  }
  take(bytes: number): boolean {
    if (bytes > this.#free) return false;
    this.#free -= bytes;
    return true;
  }
  give(bytes: number): void {
    this.#free += bytes;
  }
}

const readAhead = new WeakMap<ObjectStore, ByteBudget>();
function readAheadOf(objects: ObjectStore): ByteBudget {
  let budget = readAhead.get(objects);
  if (!budget) {
    budget = new ByteBudget(READ_AHEAD_BYTES);
    readAhead.set(objects, budget);
  }
  return budget;
}

/** `body` cut into chunks of {@link CHUNK_SIZE_BYTES} (views, no copies); an empty body is one empty chunk. */
function* chunksOf(body: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < body.length || (at === 0 && body.length === 0); at += CHUNK_SIZE_BYTES) {
    yield body.subarray(at, at + CHUNK_SIZE_BYTES);
    if (body.length === 0) break;
  }
}
