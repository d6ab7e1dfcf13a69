/**
 * The deep tier's sample: a stable draw per snapshot and blob, and the order in which a deep pass
 * checks the referenced blobs.
 * @see ../../../docs/format.md#verification
 */

import { createHash } from 'node:crypto';
import type { ScratchFile, ScratchSpace } from '../ports.ts';
import type { ContentId } from '../vault.ts';
import type { ReferencedBlobs } from './referenced.ts';

/** 2^32: a draw is a 32-bit integer, and its fraction of this is the blob's number in [0, 1). */
const DRAWS = 0x1_0000_0000;
/** A row of the order's buckets: draw (u32) ‖ the id's first 4 bytes (u32) ‖ row in the referenced blobs (u32) ‖ stored bytes (f64). */
const ROW_BYTES = 20;
/** Rows a bucket buffers before they go to its file as one chunk (10 KiB). */
const CHUNK_ROWS = 512;
/** Rows per bucket once the order spills, unless there would be more than {@link MAX_BUCKETS}. */
const BUCKET_ROWS = 65_536;
/** Buckets at most: their chunks being filled take at most 10 MiB while the pass draws. */
const MAX_BUCKETS = 1024;

/** The 32-bit draw of `blobId` in `snapshotId`: the first 4 bytes of SHA-256 of both. */
function drawOf(snapshotId: string, blobId: string): number {
  return createHash('sha256').update(`${snapshotId}:${blobId}`).digest().readUInt32BE(0);
}

/**
 * The deep tier's draw for `blobId` in `snapshotId`: a number in [0, 1) from the hash of both, so
 * each snapshot samples different blobs and a retry samples the same ones.
 */
export function sampleDraw(snapshotId: string, blobId: string): number {
  return drawOf(snapshotId, blobId) / DRAWS;
}

/**
 * Whether `blobId` is in the percent sample of `snapshotId`.
 * @param samplePercent 0–100.
 */
export function inSample(snapshotId: string, blobId: string, samplePercent: number): boolean {
  return sampleDraw(snapshotId, blobId) < samplePercent / 100;
}

/** The blobs of a deep pass, in order: position `i`'s blob id (an array of ids is one). */
export interface BlobOrder {
  readonly length: number;
  at(i: number): ContentId | undefined;
}

/** Where a deep pass's order goes while it is built and walked. */
export interface OrderSpace {
  /** Local disk for the order's buckets; without it, the order stays in memory. */
  scratch?: ScratchSpace | undefined;
  /** Referenced blobs up to which the order stays in memory (one bucket, 4 bytes a blob). */
  memoryBlobs: number;
  /** Rows per bucket on disk (default 65,536); tests make it small. */
  bucketRows?: number;
}

/**
 * The blobs a deep pass checks, in the stable order it checks them (ascending draw, then id): all
 * referenced blobs, or the sample — a blob whose draw falls below `samplePercent`, or whose
 * predecessors in that order add up to fewer than `sampleBytes` stored bytes, and at least the first
 * blob when either setting is positive. Each of the three picks a first stretch of the order, so
 * the sample is the longest of them.
 *
 * Up to `space.memoryBlobs` referenced blobs, the order is held in memory: 20 bytes a blob while
 * it is drawn and sorted, 4 after. Past it (with scratch space), each blob's row goes to one of up to
 * 1,024 buckets on local disk by its draw (20 bytes a blob), and a bucket is sorted when the pass
 * reaches it: the memory held is one bucket (~65,536 rows, ~1.5 MiB) and 10 MiB at most while
 * drawing, whatever the snapshot's size. Close it when the pass ends.
 * @param referenced the snapshot's blobs with their sizes in bytes (a blob without a stored size
 *   counts its logical size).
 * @see docs/format.md#verification
 * @example
 * ```ts
 * const order = deepPassOrder(snapshotId, referenced, { all: false, samplePercent: 5 }, { scratch, memoryBlobs: 1_000_000 });
 * try { for (let i = 0; i < order.length; i++) check(order.at(i)); } finally { order.close(); }
 * ```
 */
export function deepPassOrder(
  snapshotId: string,
  referenced: ReferencedBlobs,
  scope: { all: boolean; samplePercent: number; sampleBytes?: number },
  space: OrderSpace = { memoryBlobs: Number.POSITIVE_INFINITY },
): DeepPassOrder {
  return new DeepPassOrder(snapshotId, referenced, scope, space);
}

/** A deep pass's order over bucketed rows: see {@link deepPassOrder}. */
export class DeepPassOrder implements BlobOrder {
  /** Blobs the pass checks: the first `length` of the full order. */
  readonly length: number;
  readonly #referenced: ReferencedBlobs;
  /** Rows on disk, or in memory (one bucket) when the order does not spill. */
  #file: ScratchFile | MemoryRows;
  readonly #spilled: boolean;
  /** Bucket `k`'s first position in the full order (one more entry: the number of blobs). */
  readonly #starts: Float64Array;
  /** Per bucket: its chunks' offsets in the file, and their rows. */
  readonly #chunks: { offset: number; rows: number }[][];
  /** The bucket sorted last: its rows in order. */
  #loaded: { bucket: number; rows: Uint32Array } | undefined;

  constructor(
    snapshotId: string,
    referenced: ReferencedBlobs,
    scope: { all: boolean; samplePercent: number; sampleBytes?: number },
    space: OrderSpace,
  ) {
    this.#referenced = referenced;
    const n = referenced.size;
    this.#spilled = space.scratch !== undefined && n > space.memoryBlobs;
    const buckets = this.#spilled
      ? Math.min(MAX_BUCKETS, Math.max(1, Math.ceil(n / (space.bucketRows ?? BUCKET_ROWS))))
      : 1;
    this.#file = this.#spilled ? (space.scratch as ScratchSpace).open() : new MemoryRows();
    this.#chunks = Array.from({ length: buckets }, () => []);
    const pending = Buffer.allocUnsafe(buckets * CHUNK_ROWS * ROW_BYTES);
    const pendingRows = new Uint32Array(buckets);
    const flush = (k: number) => {
      const rows = pendingRows[k] as number;
      if (rows === 0) return;
      const from = k * CHUNK_ROWS * ROW_BYTES;
      const offset = this.#file.append(pending.subarray(from, from + rows * ROW_BYTES));
      this.#chunks[k]?.push({ offset, rows });
      pendingRows[k] = 0;
    };
    const counts = new Float64Array(buckets);
    let belowPercent = 0;
    let row = 0;
    for (const blob of referenced.entries()) {
      const draw = drawOf(snapshotId, blob.blobId);
      if (draw / DRAWS < scope.samplePercent / 100) belowPercent += 1;
      // Monotone in the draw, so the buckets in turn are the order: (draw × buckets) < 2^42, exact.
      const k = Math.floor((draw * buckets) / DRAWS);
      const at = (k * CHUNK_ROWS + (pendingRows[k] as number)) * ROW_BYTES;
      pending.writeUInt32LE(draw, at);
      pending.writeUInt32LE(Number.parseInt(blob.blobId.slice(0, 8), 16), at + 4);
      pending.writeUInt32LE(row, at + 8);
      pending.writeDoubleLE(blob.storedBytes ?? blob.logicalBytes, at + 12);
      pendingRows[k] = (pendingRows[k] as number) + 1;
      counts[k] = (counts[k] as number) + 1;
      if (pendingRows[k] === CHUNK_ROWS) flush(k);
      row += 1;
    }
    for (let k = 0; k < buckets; k++) flush(k);
    this.#starts = new Float64Array(buckets + 1);
    for (let k = 0; k < buckets; k++)
      this.#starts[k + 1] = (this.#starts[k] as number) + (counts[k] as number);
    this.length = scope.all
      ? n
      : this.#sampleLength(n, belowPercent, scope.samplePercent, scope.sampleBytes ?? 0);
  }

  /** The id at position `i` of the pass, or undefined past its end. */
  at(i: number): ContentId | undefined {
    if (!(i >= 0 && i < this.length)) return undefined;
    let k = this.#loaded?.bucket ?? 0;
    if (!(i >= (this.#starts[k] as number) && i < (this.#starts[k + 1] as number))) k = this.#bucketOf(i);
    const rows = this.#loaded?.bucket === k ? this.#loaded.rows : this.#sort(k).rows;
    return this.#referenced.blobIdAt(rows[i - (this.#starts[k] as number)] as number);
  }

  /** Free its disk (idempotent). */
  close(): void {
    this.#file.close();
    this.#loaded = undefined;
  }

  /** The longest first stretch of the order that one of the sample's settings picks. */
  #sampleLength(n: number, belowPercent: number, samplePercent: number, sampleBytes: number): number {
    let length = belowPercent;
    if (n > 0 && (samplePercent > 0 || sampleBytes > 0)) length = Math.max(length, 1);
    if (sampleBytes <= 0) return length;
    let before = 0;
    let picked = 0;
    for (let k = 0; k < this.#chunks.length && before < sampleBytes; k++) {
      const { sizes } = this.#sort(k);
      for (let j = 0; j < sizes.length && before < sampleBytes; j++) {
        picked += 1;
        before += sizes[j] as number;
      }
    }
    return Math.max(length, picked);
  }

  /** The bucket holding position `i` (binary search of the starts). */
  #bucketOf(i: number): number {
    let lo = 0;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#starts[mid] as number) <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Bucket `k`, read and sorted by draw, id head and id: its rows in order (kept until another
   * bucket is sorted), and their stored bytes.
   */
  #sort(k: number): { rows: Uint32Array; sizes: Float64Array } {
    this.#loaded = undefined; // one bucket at a time
    const m = (this.#starts[k + 1] as number) - (this.#starts[k] as number);
    const raw = Buffer.allocUnsafe(m * ROW_BYTES);
    let filled = 0;
    for (const chunk of this.#chunks[k] ?? []) {
      this.#file.read(raw.subarray(filled, filled + chunk.rows * ROW_BYTES), chunk.offset);
      filled += chunk.rows * ROW_BYTES;
    }
    const draws = new Uint32Array(m);
    const heads = new Uint32Array(m);
    const rows = new Uint32Array(m);
    const sizes = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      draws[j] = raw.readUInt32LE(j * ROW_BYTES);
      heads[j] = raw.readUInt32LE(j * ROW_BYTES + 4);
      rows[j] = raw.readUInt32LE(j * ROW_BYTES + 8);
      sizes[j] = raw.readDoubleLE(j * ROW_BYTES + 12);
    }
    const positions = Uint32Array.from({ length: m }, (_, j) => j);
    const referenced = this.#referenced;
    positions.sort((a, b) => {
      const byDraw = (draws[a] as number) - (draws[b] as number);
      if (byDraw !== 0) return byDraw;
      const byHead = (heads[a] as number) - (heads[b] as number);
      if (byHead !== 0) return byHead;
      const [x, y] = [referenced.blobIdAt(rows[a] as number), referenced.blobIdAt(rows[b] as number)];
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const sorted = positions.map((j) => rows[j] as number);
    this.#loaded = { bucket: k, rows: sorted };
    // Held in memory, the one bucket is all there is: its sorted rows replace the unsorted ones.
    if (!this.#spilled) this.#file.close();
    return { rows: sorted, sizes: Float64Array.from(positions, (j) => sizes[j] as number) };
  }
}

/** The rows of an order that does not spill: appended to a growing buffer, dropped once sorted. */
class MemoryRows {
  #bytes = Buffer.allocUnsafe(64 * 1024);
  #size = 0;

  append(bytes: Uint8Array): number {
    const at = this.#size;
    if (at + bytes.length > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(at + bytes.length, this.#bytes.length * 2));
      this.#bytes.copy(grown, 0, 0, at);
      this.#bytes = grown;
    }
    this.#bytes.set(bytes, at);
    this.#size += bytes.length;
    return at;
  }

  read(into: Uint8Array, offsetBytes: number): void {
    into.set(this.#bytes.subarray(offsetBytes, offsetBytes + into.length));
  }

  close(): void {
    this.#bytes = Buffer.alloc(0);
  }
}
