/**
 * Writing one entry's object: its content read from the vault chunk by chunk and checked against
 * the manifest, then written with one PUT or a streamed multipart upload.
 * @see ../../../docs/format.md#manifest-parts
 */

import { createHash } from 'node:crypto';
import type { Envelope } from '../envelope.ts';
import { IntegrityError, ValidationError } from '../errors.ts';
import type { ObjectStore, VaultStore, WriteConditions, WriteOutcome } from '../ports.ts';
import { entryContent } from '../repository/read-blobs.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import { canonicalItemJson } from '../table/item.ts';
import { contentSha256Of, type ManifestEntry } from '../vault.ts';

/**
 * The content of the object `entry` describes, chunk by chunk, checked: each chunk hashes to its
 * blob id (as the repository reads it), and the whole to {@link contentSha256Of} the entry with the
 * entry's size. A table item's object is its canonical DynamoDB JSON (one chunk, from the entry
 * itself), checked against its `etag` and size (docs/format.md#table-items). The check of the whole comes after the last chunk and before the iteration ends, so
 * a consumer that stores the chunks (a multipart upload) fails before completing.
 * @param onChunk called with each chunk's size as it arrives (time to first byte, progress).
 * @throws NotFoundError when a blob's pack is gone or no index locates the blob.
 * @throws IntegrityError (not retryable) when a chunk or the whole does not match the manifest.
 * @see docs/format.md#manifest-parts
 */
export async function* verifiedEntryContent(
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: ManifestEntry,
  onChunk?: (sizeBytes: number) => void,
): AsyncIterable<Buffer> {
  if (entry.item !== undefined) {
    // A table item: its object is its canonical JSON, held in the part itself (no blob to read).
    const body = itemObjectOf(entry);
    onChunk?.(body.length);
    yield body;
    return;
  }
  // With one chunk the blob id is the object's SHA-256, and the repository checks it already.
  const hash = entry.blobs.length > 1 || entry.contentSha256 !== undefined ? createHash('sha256') : undefined;
  let sizeBytes = 0;
  for await (const chunk of entryContent(vault, envelope, index, entry)) {
    hash?.update(chunk);
    sizeBytes += chunk.length;
    onChunk?.(chunk.length);
    if (sizeBytes > entry.sizeBytes) break;
    yield chunk;
  }
  checkWholeObject(vault, entry, sizeBytes, hash?.digest('hex'));
}

/**
 * A table item's object: its canonical DynamoDB JSON (UTF-8), as a restore to a bucket writes it and
 * `serve-s3` serves it, checked against the entry's `etag` (its SHA-256) and `sizeBytes`.
 * @throws IntegrityError (not retryable) naming the key when the item does not match its entry.
 * @throws ValidationError (not retryable) for an entry without an item.
 * @example
 * ```ts
 * const body = itemObjectOf(entry); // '{"pk":{"S":"customer#1"},…}'
 * ```
 * @see docs/format.md#table-items
 */
export function itemObjectOf(entry: ManifestEntry): Buffer {
  if (entry.item === undefined) throw new ValidationError(`'${entry.key}' is not a table item`);
  const body = Buffer.from(canonicalItemJson(entry.item), 'utf8');
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== entry.etag || body.length !== entry.sizeBytes)
    throw new IntegrityError(
      `item '${entry.key}' is ${body.length} byte(s) hashing to ${sha256}; its manifest entry says ${entry.sizeBytes} and ${entry.etag}`,
    );
  return body;
}

/**
 * The checks of a whole object read from a vault: the manifest's size, and the object's SHA-256
 * when one was computed (`sha256`, hex).
 * @throws IntegrityError (not retryable)
 */
export function checkWholeObject(
  vault: VaultStore,
  entry: ManifestEntry,
  sizeBytes: number,
  sha256: string | undefined,
): void {
  if (sizeBytes !== entry.sizeBytes) {
    throw new IntegrityError(
      `'${entry.key}' reads as ${sizeBytes} byte(s) from ${vault.bucket}; its manifest entry says ${entry.sizeBytes}`,
    );
  }
  if (sha256 !== undefined && sha256 !== contentSha256Of(entry)) {
    throw new IntegrityError(
      `'${entry.key}' hashes to ${sha256}, not to its manifest's SHA-256 ${contentSha256Of(entry)}`,
    );
  }
}

/**
 * Write the object an entry describes to `bucket`/`key`, with its content type and metadata, from
 * a vault: one PUT for an object of one chunk, a streamed multipart upload for a larger one (so
 * memory stays at about one chunk). Nothing is stored at `key` when a check fails.
 * @returns the bytes written.
 * @throws as {@link verifiedEntryContent}; TransientError (retryable) when the target fails.
 */
export async function writeEntry(
  objects: ObjectStore,
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: ManifestEntry,
  bucket: string,
  key: string,
  onChunk?: (sizeBytes: number) => void,
): Promise<number> {
  return (await putEntry(objects, vault, envelope, index, entry, bucket, key, {}, onChunk)).bytes;
}

/**
 * {@link writeEntry} under write `conditions`: with `ifNoneMatch`, an object found at `key` when
 * the write takes effect is kept, and the outcome is `exists` (0 bytes written).
 * @throws as {@link writeEntry}.
 */
export async function putEntry(
  objects: ObjectStore,
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: ManifestEntry,
  bucket: string,
  key: string,
  conditions: WriteConditions,
  onChunk?: (sizeBytes: number) => void,
): Promise<{ outcome: WriteOutcome; bytes: number }> {
  const attributes = attributesOf(entry);
  const content = verifiedEntryContent(vault, envelope, index, entry, onChunk);
  if (entry.blobs.length > 1) {
    const outcome = await objects.putStream(
      bucket,
      key,
      content,
      { ...attributes, sizeBytes: entry.sizeBytes },
      conditions,
    );
    return { outcome, bytes: outcome === 'written' ? entry.sizeBytes : 0 };
  }
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk);
  const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  const outcome = await objects.put(bucket, key, body, attributes, conditions);
  return { outcome, bytes: outcome === 'written' ? body.length : 0 };
}

/** The content type and metadata an entry's object is written with. */
export function attributesOf(entry: ManifestEntry): {
  contentType?: string;
  metadata?: Record<string, string>;
} {
  const contentType = entry.contentType ?? (entry.item === undefined ? undefined : ITEM_CONTENT_TYPE);
  return {
    ...(contentType === undefined ? {} : { contentType }),
    ...(entry.metadata === undefined ? {} : { metadata: entry.metadata }),
  };
}

/** The content type of a table item written as an object (its canonical DynamoDB JSON). */
export const ITEM_CONTENT_TYPE = 'application/json';
