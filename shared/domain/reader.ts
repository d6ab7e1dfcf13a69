/**
 * Reading a source item chunk by chunk: what a snapshot partition and capture both store. An item
 * is cut into chunks of {@link CHUNK_SIZE_BYTES} (its {@link Source} does the reads); each chunk is
 * handed to a `store` callback (which seals it into a pack, or skips it when the vault holds it)
 * before the next is read, so memory holds one chunk whatever the item's size (S3 objects reach 5 TiB).
 * @see ../../docs/format.md#partitions
 * @see ../../docs/format.md#journal
 */
import { createHash } from 'node:crypto';
import { createSHA256 } from 'hash-wasm';
import type { ReadOptions } from './ports.ts';
import type { ItemToRead, Source } from './source/index.ts';
import { CHUNK_SIZE_BYTES, type ContentId, type ManifestEntry } from './vault.ts';

/** The object to read: its key and the size it is expected to have (listed, or from the event). */
export type ObjectToRead = ItemToRead;

/**
 * Where a paused read of one object stands: its first `offsetBytes` (a multiple of
 * `CHUNK_SIZE_BYTES`) are stored as `blobs`, and `sha256State` is the whole-object SHA-256 over
 * them, resumable (base64 of hash-wasm's `save()`: the SHA-256 state words, byte count and pending
 * block). The read goes on only while the object's ETag is `etag`.
 * @see ../../docs/format.md#partitions (step 4)
 */
export interface ObjectProgress {
  key: string;
  /** The ETag (without quotes) of the version being read. */
  etag: string;
  /** The whole object's size. */
  sizeBytes: number;
  offsetBytes: number;
  blobs: ContentId[];
  sha256State: string;
}

/**
 * Thrown by {@link readObjectChunks} when its `pause` asked it to stop between two chunks: what was
 * read is stored, and `progress` says where to go on. Not an error: the caller checkpoints it.
 */
export class ReadPaused extends Error {
  readonly progress: ObjectProgress;
  constructor(progress: ObjectProgress) {
    super(`read of ${progress.key} paused at byte ${progress.offsetBytes} of ${progress.sizeBytes}`);
    this.name = 'ReadPaused';
    this.progress = progress;
  }
}

/** How {@link readObjectChunks} may pause and go on. */
export interface Resumable {
  /** Go on from here (the item's first bytes are not read again); its ETag must still match. */
  from?: ObjectProgress;
  /** Asked after each stored chunk of an object of `minBytes` or more: true pauses the read. */
  pause?: () => boolean;
  /** Objects smaller than this never pause (their SHA-256 is node's, faster and not resumable). */
  minBytes: number;
}

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
 *
 * With `resumable.pause`, an object of `resumable.minBytes` or more may pause after any stored
 * chunk but its last: {@link ReadPaused} carries its {@link ObjectProgress}, and a later call with
 * that as `resumable.from` reads the rest (held to the same ETag) and returns the same entry as one
 * read straight through.
 * @throws NotFoundError (not retryable) when the item (or version) is gone; ConflictError (not
 *   retryable) when it changed (412; from `resumable.from` too: read it again from its start);
 *   TransientError (retryable) when the source may answer later; whatever `store` throws;
 *   ReadPaused when `resumable.pause` said so.
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
  resumable?: Resumable,
): Promise<ManifestEntry> {
  const from = resumable?.from;
  const read = from
    ? await source.read({ ...object, offsetBytes: from.offsetBytes }, { ...options, ifMatch: from.etag })
    : await source.read(object, options);
  // A read that went on from a pause, or may pause, keeps its SHA-256 resumable.
  const pausable =
    from !== undefined || (resumable?.pause !== undefined && read.sizeBytes >= resumable.minBytes);
  // An item of one chunk has no `contentSha256` (its blob id is its SHA-256): hash it once, not twice.
  const whole = pausable
    ? await resumableSha256(from?.sha256State)
    : read.sizeBytes > CHUNK_SIZE_BYTES
      ? createHash('sha256')
      : undefined;
  const blobs: ContentId[] = [...(from?.blobs ?? [])];
  let offsetBytes = from?.offsetBytes ?? 0;
  for await (const chunk of read.chunks) {
    whole?.update(chunk);
    blobs.push(await store(chunk));
    offsetBytes += chunk.length;
    if (pausable && offsetBytes < read.sizeBytes && resumable?.pause?.()) {
      const { key } = object;
      const sha256State = Buffer.from((whole as ResumableSha256).save()).toString('base64');
      throw new ReadPaused({
        key,
        etag: read.etag,
        sizeBytes: read.sizeBytes,
        offsetBytes,
        blobs,
        sha256State,
      });
    }
  }
  const contentSha256 = whole?.digest('hex') as string | undefined;
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

export type ResumableSha256 = Awaited<ReturnType<typeof createSHA256>>;

/** A SHA-256 whose state can be saved and loaded (hash-wasm): fresh, or from a saved base64 state. */
export async function resumableSha256(state: string | undefined): Promise<ResumableSha256> {
  const hash = await createSHA256();
  if (state === undefined) hash.init();
  else hash.load(Buffer.from(state, 'base64'));
  return hash;
}
