/**
 * Reading a source object chunk by chunk: what a snapshot partition and capture both store. An
 * object is cut into chunks of {@link CHUNK_SIZE_BYTES}; each chunk is handed to a `store` callback
 * (which seals it into a pack, or skips it when the vault holds it) before the next is read, so
 * memory holds one chunk whatever the object's size (S3 objects reach 5 TiB).
 * @see ../../docs/format.md#partitions
 * @see ../../docs/format.md#journal
 */
import { createHash } from 'node:crypto';
import type { ObjectStore, ReadOptions } from './ports.ts';
import { CHUNK_SIZE_BYTES, type ContentId, type ManifestEntry } from './vault.ts';

/** The object to read: its key and the size it is expected to have (listed, or from the event). */
export interface ObjectToRead {
  key: string;
  sizeBytes: number;
}

/**
 * Read an object in chunks of {@link CHUNK_SIZE_BYTES}, handing each to `store` in order, and
 * describe it as a manifest entry (size, ETag, last-modified, content type, user metadata, blob ids,
 * and `contentSha256` when it has more than one chunk). An empty object is one empty chunk.
 *
 * The first read is a whole `GetObject` when `object.sizeBytes` fits one chunk, else a ranged one
 * of the first chunk; every later ranged read carries `If-Match` with the first response's ETag, so
 * an object overwritten mid-read fails (ConflictError) instead of mixing two versions. `options`
 * go on every read: `versionId` reads that version; `ifMatch` makes even the first read fail when
 * the object is no longer the one expected.
 * @throws NotFoundError (not retryable) when the object (or version) is gone; ConflictError (not
 *   retryable) when it changed (412); TransientError (retryable) when S3 may answer later; whatever
 *   `store` throws.
 * @example
 * ```ts
 * const entry = await readObjectChunks(deps.objects, 'photos', { key: 'cat.jpg', sizeBytes: 42 }, { ifMatch: etag }, store);
 * ```
 */
export async function readObjectChunks(
  objects: ObjectStore,
  bucket: string,
  object: ObjectToRead,
  options: ReadOptions,
  store: (chunk: Uint8Array) => Promise<ContentId>,
): Promise<ManifestEntry> {
  const given: ReadOptions = {
    ...(options.versionId === undefined ? {} : { versionId: options.versionId }),
    ...(options.ifMatch === undefined ? {} : { ifMatch: options.ifMatch }),
  };
  const conditional = Object.keys(given).length > 0;
  const first =
    object.sizeBytes <= CHUNK_SIZE_BYTES
      ? conditional
        ? await objects.get(bucket, object.key, given)
        : await objects.get(bucket, object.key)
      : await objects.getRange(bucket, object.key, {
          offsetBytes: 0,
          lengthBytes: CHUNK_SIZE_BYTES,
          ...given,
        });
  // An object of one chunk has no `contentSha256` (its blob id is its SHA-256): hash it once, not twice.
  const whole = first.sizeBytes > CHUNK_SIZE_BYTES ? createHash('sha256') : undefined;
  const blobs: ContentId[] = [];
  const take = async (body: Uint8Array) => {
    for (let at = 0; at < body.length || (at === 0 && body.length === 0); at += CHUNK_SIZE_BYTES) {
      const chunk = body.subarray(at, at + CHUNK_SIZE_BYTES);
      whole?.update(chunk);
      blobs.push(await store(chunk));
      if (body.length === 0) break;
    }
  };
  await take(first.body);
  for (let offset = first.body.length; offset < first.sizeBytes; offset += CHUNK_SIZE_BYTES) {
    const lengthBytes = Math.min(CHUNK_SIZE_BYTES, first.sizeBytes - offset);
    const next = await objects.getRange(bucket, object.key, {
      offsetBytes: offset,
      lengthBytes,
      ...given,
      ifMatch: given.ifMatch ?? first.etag,
    });
    await take(next.body);
  }
  const contentSha256 = whole?.digest('hex');
  return {
    key: object.key,
    sizeBytes: first.sizeBytes,
    etag: first.etag,
    lastModified: first.lastModified,
    ...(first.contentType === undefined ? {} : { contentType: first.contentType }),
    ...(first.metadata === undefined || Object.keys(first.metadata).length === 0
      ? {}
      : { metadata: first.metadata }),
    blobs,
    ...(blobs.length > 1 && contentSha256 !== undefined ? { contentSha256 } : {}),
  };
}
