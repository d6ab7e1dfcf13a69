/** Reading blobs from their packs: one at a time, or many of one pack in one ranged GET. */
import type { Envelope } from '../envelope.ts';
import { IntegrityError, NotFoundError, ValidationError } from '../errors.ts';
import type { VaultStore } from '../ports.ts';
import {
  blobAssociatedData,
  type ContentId,
  contentIdOf,
  type ManifestEntry,
  type PackedBlob,
  VaultLayout,
} from '../vault.ts';
import type { VaultIndex } from './vault-index.ts';

/** Where a blob is: its pack and its place in it. */
export interface BlobLocation extends PackedBlob {
  packId: ContentId;
}

/**
 * Read one blob: a ranged GET of its pack, open, and check it hashes to its id.
 * @throws NotFoundError when the pack is gone; IntegrityError when the bytes are not the blob.
 */
export async function readBlob(vault: VaultStore, envelope: Envelope, where: BlobLocation): Promise<Buffer> {
  const sealed = await vault.getRange(
    VaultLayout.packKey(where.packId),
    where.offsetBytes,
    where.lengthBytes,
  );
  return openBlob(envelope, where, sealed);
}

/** Open a sealed blob and check it hashes to its id. @throws IntegrityError (not retryable) */
async function openBlob(envelope: Envelope, where: BlobLocation, sealed: Uint8Array): Promise<Buffer> {
  const plaintext = await envelope.open(sealed, blobAssociatedData(where.blobId));
  const actual = contentIdOf(plaintext);
  if (actual !== where.blobId) throw new IntegrityError(`blob ${where.blobId} hashes to ${actual}`);
  return plaintext;
}

/** Limits of {@link coalesceBlobReads}, in bytes. */
export interface CoalesceLimits {
  /** Longest span of a pack one read covers (blobs and gaps). */
  maxSpanBytes: number;
  /** Longest run of unwanted bytes between two blobs read together. */
  maxGapBytes: number;
}

/**
 * Group blob locations into reads: blobs of one pack, in pack order, whose span stays within
 * `maxSpanBytes` and whose gaps stay within `maxGapBytes` share one ranged GET (a blob longer than
 * the span is a read of its own). Each blob id once. Pure.
 * @returns the reads, each a non-empty list of locations in one pack sorted by offset.
 */
export function coalesceBlobReads(
  locations: Iterable<BlobLocation>,
  limits: CoalesceLimits,
): BlobLocation[][] {
  const byPack = new Map<ContentId, BlobLocation[]>();
  const seen = new Set<ContentId>();
  for (const where of locations) {
    if (seen.has(where.blobId)) continue;
    seen.add(where.blobId);
    const list = byPack.get(where.packId);
    if (list) list.push(where);
    else byPack.set(where.packId, [where]);
  }
  const reads: BlobLocation[][] = [];
  for (const list of byPack.values()) {
    list.sort((a, b) => a.offsetBytes - b.offsetBytes);
    let read: BlobLocation[] = [];
    let start = 0;
    let end = 0;
    for (const where of list) {
      const fits =
        read.length > 0 &&
        where.offsetBytes - end <= limits.maxGapBytes &&
        where.offsetBytes + where.lengthBytes - start <= limits.maxSpanBytes;
      if (!fits) {
        if (read.length > 0) reads.push(read);
        read = [];
        start = where.offsetBytes;
      }
      read.push(where);
      end = Math.max(end, where.offsetBytes + where.lengthBytes);
    }
    if (read.length > 0) reads.push(read);
  }
  return reads;
}

/**
 * Read blobs of one pack with one ranged GET of the span they cover (as {@link coalesceBlobReads}
 * groups them), open each and check it hashes to its id.
 * @param blobs locations in one pack, sorted by offset.
 * @returns the plaintexts, in the order of `blobs`.
 * @throws NotFoundError when the pack is gone; IntegrityError (not retryable) when a blob's bytes
 *   are not the blob.
 */
export async function readBlobsOfPack(
  vault: VaultStore,
  envelope: Envelope,
  blobs: readonly BlobLocation[],
): Promise<Buffer[]> {
  const first = blobs[0];
  if (!first) return [];
  if (blobs.length === 1) return [await readBlob(vault, envelope, first)];
  const start = first.offsetBytes;
  const end = Math.max(...blobs.map((b) => b.offsetBytes + b.lengthBytes));
  const span = await vault.getRange(VaultLayout.packKey(first.packId), start, end - start);
  if (span.length !== end - start) {
    throw new IntegrityError(
      `pack ${first.packId}: read ${span.length} of ${end - start} byte(s) at ${start}`,
    );
  }
  const out: Buffer[] = [];
  for (const where of blobs) {
    if (where.packId !== first.packId)
      throw new IntegrityError(`blob ${where.blobId} is not in ${first.packId}`);
    const at = where.offsetBytes - start;
    out.push(await openBlob(envelope, where, span.subarray(at, at + where.lengthBytes)));
  }
  return out;
}

/** What {@link checkBlobsOfPack} found of one blob. */
export type BlobCheck = 'ok' | 'missing' | 'corrupt';

/**
 * Check blobs of one pack with one ranged GET of the span they cover (as {@link coalesceBlobReads}
 * groups them): each is opened and hashed to its id on its own, so one corrupt blob does not hide
 * the others. When the pack is gone every blob is missing; when the span comes back short or
 * fails as a whole, each blob is read on its own to tell which are missing or corrupt.
 * @param blobs locations in one pack, sorted by offset.
 * @returns per blob, in the order of `blobs`: `ok`, `missing` or `corrupt`.
 * @throws TransientError (retryable) and what else the vault throws but NotFoundError,
 *   IntegrityError and ValidationError (a range past the pack's end).
 */
export async function checkBlobsOfPack(
  vault: VaultStore,
  envelope: Envelope,
  blobs: readonly BlobLocation[],
): Promise<BlobCheck[]> {
  const first = blobs[0];
  if (!first) return [];
  const start = first.offsetBytes;
  const end = Math.max(...blobs.map((b) => b.offsetBytes + b.lengthBytes));
  let span: Uint8Array | undefined;
  try {
    span = await vault.getRange(VaultLayout.packKey(first.packId), start, end - start);
  } catch (error) {
    if (error instanceof NotFoundError) return blobs.map(() => 'missing');
    if (!(error instanceof IntegrityError || error instanceof ValidationError)) throw error;
  }
  if (!span || span.length !== end - start || blobs.some((b) => b.packId !== first.packId)) {
    return Promise.all(blobs.map((where) => checkOne(() => readBlob(vault, envelope, where))));
  }
  const whole = span;
  return Promise.all(
    blobs.map((where) => {
      const at = where.offsetBytes - start;
      return checkOne(() => openBlob(envelope, where, whole.subarray(at, at + where.lengthBytes)));
    }),
  );
}

async function checkOne(read: () => Promise<Buffer>): Promise<BlobCheck> {
  try {
    await read();
    return 'ok';
  } catch (error) {
    // ValidationError: a range past the pack's end (the pack is shorter than the index says).
    if (error instanceof IntegrityError || error instanceof ValidationError) return 'corrupt';
    if (error instanceof NotFoundError) return 'missing';
    throw error;
  }
}

/**
 * The content of the object an entry describes, chunk by chunk (one blob read at a time, so memory
 * stays at one chunk).
 * @throws NotFoundError naming the blob when the index does not locate it; IntegrityError.
 */
export async function* entryContent(
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: Pick<ManifestEntry, 'key' | 'blobs'>,
): AsyncIterable<Buffer> {
  for (const blobId of entry.blobs) {
    const where = index.locate(blobId);
    if (!where) throw new NotFoundError(`blob ${blobId} of ${entry.key} is in no index of ${vault.bucket}`);
    yield await readBlob(vault, envelope, where);
  }
}

/** The whole content of an entry's object in memory (small objects; large ones: {@link entryContent}). */
export async function readEntryContent(
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: Pick<ManifestEntry, 'key' | 'blobs'>,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of entryContent(vault, envelope, index, entry)) chunks.push(chunk);
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}
