/**
 * Reading a source item chunk by chunk: what a snapshot partition and capture both store. An item
 * is cut into chunks of {@link CHUNK_SIZE_BYTES} (its {@link Source} does the reads); each chunk is
 * handed to a `store` callback (which seals it into a pack, or skips it when the vault holds it)
 * before the next is read, so memory holds one chunk whatever the item's size (S3 objects reach 5 TiB).
 * @see ../../docs/format.md#partitions
 * @see ../../docs/format.md#journal
 */
import { createHash } from 'node:crypto';
import type { ReadOptions } from './ports.ts';
import type { ItemToRead, Source } from './source/index.ts';
import { CHUNK_SIZE_BYTES, type ContentId, type ManifestEntry } from './vault.ts';

/** The object to read: its key and the size it is expected to have (listed, or from the event). */
export type ObjectToRead = ItemToRead;

/**
 * Read an item of `source` in chunks of {@link CHUNK_SIZE_BYTES}, handing each to `store` in order,
 * and describe it as a manifest entry (size, ETag, last-modified, content type, user metadata, blob
 * ids, and `contentSha256` when it has more than one chunk). An empty item is one empty chunk.
 *
 * How the chunks are read is the source's ({@link Source.read}; an S3 bucket: a whole `GetObject`
 * when `object.sizeBytes` fits one chunk, else a ranged one of the first chunk, every later ranged
 * read carrying `If-Match` with the first response's ETag, so an object overwritten mid-read fails
 * instead of mixing two versions). `options` go on every read: `versionId` reads that version;
 * `ifMatch` makes even the first read fail when the item is no longer the one expected.
 * @throws NotFoundError (not retryable) when the item (or version) is gone; ConflictError (not
 *   retryable) when it changed (412); TransientError (retryable) when the source may answer later;
 *   whatever `store` throws.
 * @example
 * ```ts
 * const entry = await readObjectChunks(sourceOf(deps, plan.source), { key: 'cat.jpg', sizeBytes: 42 }, { ifMatch: etag }, store);
 * ```
 */
export async function readObjectChunks(
  source: Source,
  object: ObjectToRead,
  options: ReadOptions,
  store: (chunk: Uint8Array) => Promise<ContentId>,
): Promise<ManifestEntry> {
  const read = await source.read(object, options);
  // An item of one chunk has no `contentSha256` (its blob id is its SHA-256): hash it once, not twice.
  const whole = read.sizeBytes > CHUNK_SIZE_BYTES ? createHash('sha256') : undefined;
  const blobs: ContentId[] = [];
  for await (const chunk of read.chunks) {
    whole?.update(chunk);
    blobs.push(await store(chunk));
  }
  const contentSha256 = whole?.digest('hex');
  return {
    key: object.key,
    sizeBytes: read.sizeBytes,
    etag: read.etag,
    lastModified: read.lastModified,
    ...(read.contentType === undefined ? {} : { contentType: read.contentType }),
    ...(read.metadata === undefined || Object.keys(read.metadata).length === 0
      ? {}
      : { metadata: read.metadata }),
    blobs,
    ...(blobs.length > 1 && contentSha256 !== undefined ? { contentSha256 } : {}),
  };
}
