/**
 * The `Source` port: one protected source (a plan's `source`), as snapshots and capture see it. It
 * lists the source's items in key order, reads one item's content chunk by chunk with the attributes
 * a restore gives back, tells a key's current version, and says which changes (of those its kind of
 * source notifies) are its own. Today's only kind is an S3 bucket, whole or under a prefix
 * ({@link S3BucketSource}, over the ObjectStore port); a DynamoDB table is the next (issue 17).
 * Restore targets and the drills' scratch writes are not sources: they stay on ObjectStore.
 * @see ../../../docs/format.md#partitions
 * @see ../../../docs/format.md#journal
 */
import type { CurrentVersion, ReadOptions, SourceObject } from '../ports.ts';
import type { S3EventRecord } from './s3-events.ts';

/** An item of a source as its listing reports it: key, size (bytes), ETag (no quotes), last-modified (ISO-8601 UTC). */
export type SourceItem = SourceObject;

/** The item to read: its key and the size it is expected to have in bytes (listed, or from the event). */
export interface ItemToRead {
  key: string;
  sizeBytes: number;
  /**
   * Read from this byte on (a multiple of `CHUNK_SIZE_BYTES`, vault.ts): the rest of an item whose
   * read paused (`ObjectProgress`, reader.ts). @default 0
   */
  offsetBytes?: number;
}

/**
 * One item being read: the attributes of the version read (those a restore gives back) and its
 * content as `chunks`, lazily.
 * - `sizeBytes` is the whole item's, as the first read reports it (it may differ from
 *   {@link ItemToRead.sizeBytes} when the item changed since it was listed and no condition held it).
 * - `chunks` yields the content in order, each chunk at most `CHUNK_SIZE_BYTES` (8 MiB, vault.ts)
 *   and only the last shorter; an empty item is one empty chunk. The next chunk is read only when
 *   asked for, so memory holds one chunk whatever the item's size. Iterate it once. A later read
 *   may throw as {@link Source.read} does.
 */
export interface SourceRead extends SourceItem {
  /** The version read, on a versioned source. */
  versionId?: string;
  /** How the source encrypts it at rest, when it says (S3: `FetchedObject.encryption`). */
  encryption?: string;
  contentType?: string;
  /** User metadata (S3 `x-amz-meta-*`), as the source reports it (possibly empty). */
  metadata?: Record<string, string>;
  chunks: AsyncIterable<Uint8Array>;
}

/**
 * A change notification, as the runtime parsed it: today one record of an S3 event notification
 * (`S3EventRecordSchema`). A DynamoDB stream record joins this union with the table source.
 */
export type ChangeNotification = S3EventRecord;

/**
 * What a notification says happened to one key of a source, in the journal's terms (the S3 event
 * names, versions and sequencer already read by the source kind that notified it).
 * - `bucket`: where the key lives (the S3 bucket); journal entries record it as `bucket`.
 * - `key`: decoded (S3 URL-encodes keys in notifications).
 * - `eventTime`: ISO-8601 UTC, milliseconds.
 * - `sequencer`: orders the changes of one key (not across keys): hex, compared with
 *   `compareSequencers` (journal.ts); opaque otherwise.
 * - `versionId`: the version the change names (versioned sources; for a removal, the removed one).
 * - `after`: what the key holds after the change:
 *   - `written`: the bytes the change wrote, named by `versionId` or else by `etag` (no quotes);
 *     `sizeBytes` as the notification reports it. Journaled as a `created` event.
 *   - `gone`: nothing (a removal, or a delete marker). Journaled `removed`, without bytes.
 *   - `unknown`: the change removed something yet may have left the key a current version (S3: one
 *     version deleted); ask {@link Source.currentVersion}. Journaled as a `removed` event whose
 *     outcome is what the key holds then.
 * @see ../../../docs/format.md#journal
 */
export type SourceChange = {
  bucket: string;
  key: string;
  eventTime: string;
  sequencer: string;
  versionId?: string;
} & ({ after: 'written'; sizeBytes?: number; etag?: string } | { after: 'gone' } | { after: 'unknown' });

/**
 * One protected source. Every method is a read: a source is never written by the pipeline.
 * - `list` yields every item exactly once, in UTF-8 binary key order (`compareKeys`, vault.ts), only
 *   keys after `options.startAfter` when given (a partition's range, or where a checkpoint stopped).
 *   @throws SourceUnavailableError (not retryable) when the source is missing or access is denied;
 *   TransientError (retryable) when it may answer later.
 * - `read` reads one item as {@link SourceRead}: the first read returns its attributes, then
 *   `chunks` reads the rest. `options.versionId` reads that version; `options.ifMatch` (an ETag
 *   without quotes) makes every read, the first too, fail when the item is another. Without
 *   `ifMatch`, every read after the first is held to the first one's ETag, so an item overwritten
 *   mid-read fails instead of mixing two versions.
 *   @throws NotFoundError (not retryable) when the item (or version) is gone; ConflictError (not
 *   retryable) when it changed (S3: 412); TransientError (retryable) when the source may answer later.
 * - `currentVersion` is what a read without a version id returns now, without its content
 *   (strongly consistent); undefined when the key has none (never written, every version deleted,
 *   or its newest version is a delete marker).
 *   @throws TransientError (retryable) on throttling, 5xx and connection failures; a non-retryable
 *   StrongboxError when access is denied.
 * - `covers` says whether a key of a container (a change, a journal entry) is this source's: same
 *   bucket, key under the prefix. Pure.
 * - `uriOf` names a key of the source for messages (`s3://bucket/key`). Pure.
 * Which changes a notification names is up to the source's kind ({@link changeOf}, index.ts).
 * @see ../../../docs/format.md#partitions
 * @see ../../../docs/format.md#journal
 * @example
 * ```ts
 * const source = sourceOf(deps, plan.source);
 * for await (const item of source.list({ startAfter: 'photos/2026/' })) {
 *   const read = await source.read(item, { ifMatch: item.etag });
 *   for await (const chunk of read.chunks) await store(chunk);
 * }
 * ```
 */
export interface Source {
  /** The kind of source: what {@link sourceOf} built. */
  readonly kind: SourceKind;
  list(options?: { startAfter?: string }): AsyncIterable<SourceItem>;
  read(item: ItemToRead, options?: ReadOptions): Promise<SourceRead>;
  currentVersion(key: string): Promise<CurrentVersion | undefined>;
  covers(where: { bucket: string; key: string }): boolean;
  uriOf(key: string): string;
}

/** The kinds of sources: an S3 bucket (whole or a prefix), or a DynamoDB table. */
export type SourceKind = 's3-bucket' | 'dynamodb-table';
