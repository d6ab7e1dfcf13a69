/**
 * A table of fixed-size rows keyed by a 32-byte id (a blob or pack id), held in scratch files on
 * local disk and looked up by id in a few KiB of reads: what lets {@link VaultIndex} locate blobs in
 * a vault of any size with memory that does not grow with it (docs/format.md#reading-the-index).
 *
 * Rows are appended in order (row `n` is the `n`-th appended) to a data file. Each row's key (the
 * id's bits 10–41 and the row number, 8 bytes) goes to one of 1,024 buckets by the id's first 10
 * bits; {@link seal} sorts each bucket on its own (one bucket in memory at a time) into a sorted key
 * file and keeps in memory one key of every {@link SAMPLE_EVERY}. A lookup binary-searches its
 * bucket's samples, reads one window of keys and, for each key that matches, that row: so an id
 * appended more than once is found at its first row first.
 */
import { IntegrityError } from '../errors.ts';
import type { ScratchFile, ScratchSpace } from '../ports.ts';

/** Bytes of an id (a SHA-256). */
const ID_BYTES = 32;
const BUCKET_BITS = 10;
const BUCKETS = 1 << BUCKET_BITS;
/** One key in memory per this many sorted keys (4 bytes per 256 rows). */
export const SAMPLE_EVERY = 256;
/** Keys read at once in a lookup (4 KiB). */
const WINDOW_KEYS = 2 * SAMPLE_EVERY;
/** Bytes of a key: row number (low word) and id bits (high word), one little-endian 64-bit integer. */
const KEY_BYTES = 8;
/** Rows buffered before they are appended to the data file. */
const PENDING_BYTES = 256 * 1024;
const MAX_ROWS = 2 ** 32;

/** Whether this machine stores integers little-endian (so a key's high word is its second). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** The bucket of the id at `id[at..]`: its first 10 bits. */
function bucketOf(id: Uint8Array, at: number): number {
  return ((id[at] as number) << 2) | ((id[at + 1] as number) >> 6);
}

/** The id's bits 10–41 (after its bucket), an unsigned 32-bit integer. */
function keyOf(id: Uint8Array, at: number): number {
  return (
    ((((id[at + 1] as number) & 0x3f) << 26) |
      ((id[at + 2] as number) << 18) |
      ((id[at + 3] as number) << 10) |
      ((id[at + 4] as number) << 2) |
      ((id[at + 5] as number) >> 6)) >>>
    0
  );
}

/**
 * @example
 * ```ts
 * const table = new SpilledTable(scratch, 48);
 * const n = table.append(row); // row[0..32) is the id
 * const found = table.find(id); // the first row appended with that id, or undefined
 * const same = table.row(found as number);
 * table.close();
 * ```
 */
export class SpilledTable {
  readonly #scratch: ScratchSpace;
  readonly #rowBytes: number;
  readonly #data: ScratchFile;
  #chunks: ScratchFile;
  #sorted: ScratchFile | undefined;
  #rows = 0;
  /** Rows in the data file; rows from here on are in {@link #pending}. */
  #written = 0;
  readonly #pending: Buffer;
  #pendingRows = 0;
  /** Each bucket's buffered keys (two words each) and their count. */
  readonly #chunkKeys: number;
  #buffered: Uint32Array;
  readonly #bufferedCount = new Uint32Array(BUCKETS);
  /** Each bucket's chunks in the chunk file (their offsets, in bytes), not yet sorted. */
  readonly #chunkAt: number[][] = Array.from({ length: BUCKETS }, () => []);
  /** Rows appended since the last {@link seal}. */
  #unsealed = 0;
  /** Each bucket's first key in the sorted file; `#start[BUCKETS]` is the number of keys. */
  #start = new Float64Array(BUCKETS + 1);
  /** Each bucket's sample: the high word of every {@link SAMPLE_EVERY}-th sorted key. */
  #samples: Uint32Array[] = Array.from({ length: BUCKETS }, () => new Uint32Array(0));
  readonly #window = Buffer.allocUnsafe(WINDOW_KEYS * KEY_BYTES);
  readonly #windowWords = new Uint32Array(this.#window.buffer, this.#window.byteOffset, WINDOW_KEYS * 2);
  readonly #row: Buffer;
  #closed = false;

  /**
   * Rows of `rowBytes` (at least 32: the id first) in files of `scratch`.
   * @param chunkKeys keys each of the 1,024 buckets buffers before it appends them to a scratch file
   *   (8 bytes each: 1,024 buffer 8 MiB in all). Fewer for a table of fewer rows.
   */
  constructor(scratch: ScratchSpace, rowBytes: number, chunkKeys = 1024) {
    if (rowBytes < ID_BYTES) throw new RangeError(`a row holds its ${ID_BYTES}-byte id first`);
    this.#scratch = scratch;
    this.#chunkKeys = chunkKeys;
    this.#buffered = new Uint32Array(BUCKETS * chunkKeys * 2);
    this.#rowBytes = rowBytes;
    this.#data = scratch.open();
    this.#chunks = scratch.open();
    this.#pending = Buffer.allocUnsafe(Math.max(1, Math.floor(PENDING_BYTES / rowBytes)) * rowBytes);
    this.#row = Buffer.allocUnsafe(rowBytes);
  }

  get rowCount(): number {
    return this.#rows;
  }

  /** Bytes of local disk the table's files hold now. */
  get diskBytes(): number {
    return this.#data.sizeBytes + this.#chunks.sizeBytes + (this.#sorted?.sizeBytes ?? 0);
  }

  /**
   * Append `row` (its first 32 bytes are its id). @returns its row number.
   * @throws RangeError past 2^32 rows.
   */
  append(row: Uint8Array): number {
    this.#open();
    if (row.length !== this.#rowBytes)
      throw new RangeError(`a row is ${this.#rowBytes} bytes, not ${row.length}`);
    if (this.#rows >= MAX_ROWS) throw new RangeError(`a spilled table holds at most ${MAX_ROWS} rows`);
    const n = this.#rows;
    this.#pending.set(row, this.#pendingRows * this.#rowBytes);
    this.#pendingRows += 1;
    if ((this.#pendingRows + 1) * this.#rowBytes > this.#pending.length) this.#flushRows();
    const b = bucketOf(row, 0);
    const k = this.#bufferedCount[b] as number;
    const at = (b * this.#chunkKeys + k) * 2;
    this.#buffered[at + LO] = n;
    this.#buffered[at + HI] = keyOf(row, 0);
    this.#bufferedCount[b] = k + 1;
    if (k + 1 === this.#chunkKeys) this.#flushBucket(b);
    this.#rows += 1;
    this.#unsealed += 1;
    return n;
  }

  #flushRows(): void {
    if (this.#pendingRows === 0) return;
    this.#data.append(this.#pending.subarray(0, this.#pendingRows * this.#rowBytes));
    this.#written += this.#pendingRows;
    this.#pendingRows = 0;
  }

  #flushBucket(b: number): void {
    const count = this.#bufferedCount[b] as number;
    const words = this.#buffered.subarray(b * this.#chunkKeys * 2, (b * this.#chunkKeys + count) * 2);
    this.#chunkAt[b]?.push(
      this.#chunks.append(new Uint8Array(words.buffer, words.byteOffset, words.byteLength)),
    );
    this.#bufferedCount[b] = 0;
  }

  /**
   * Sort the keys appended since the last seal in with the rest, one bucket at a time. {@link find}
   * seals first when rows were appended since; a caller that appends in bulk seals once after.
   */
  seal(): void {
    this.#open();
    if (this.#unsealed === 0) return;
    this.#flushRows();
    const sorted = this.#scratch.open();
    const start = new Float64Array(BUCKETS + 1);
    const samples: Uint32Array[] = [];
    for (let b = 0; b < BUCKETS; b++) {
      const from = this.#start[b] as number;
      const old = (this.#start[b + 1] as number) - from;
      const chunks = this.#chunkAt[b] as number[];
      const buffered = this.#bufferedCount[b] as number;
      const count = old + chunks.length * this.#chunkKeys + buffered;
      const keys = new BigUint64Array(count);
      const bytes = new Uint8Array(keys.buffer);
      let at = 0;
      if (old > 0) {
        (this.#sorted as ScratchFile).read(bytes.subarray(0, old * KEY_BYTES), from * KEY_BYTES);
        at = old * KEY_BYTES;
      }
      for (const offset of chunks) {
        this.#chunks.read(bytes.subarray(at, at + this.#chunkKeys * KEY_BYTES), offset);
        at += this.#chunkKeys * KEY_BYTES;
      }
      const words = this.#buffered.subarray(b * this.#chunkKeys * 2, (b * this.#chunkKeys + buffered) * 2);
      bytes.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength), at);
      keys.sort(); // by id bits, then row number: an id's rows in the order appended
      start[b] = sorted.sizeBytes / KEY_BYTES;
      if (count > 0) sorted.append(bytes);
      const sample = new Uint32Array(Math.ceil(count / SAMPLE_EVERY));
      const view = new Uint32Array(keys.buffer);
      for (let s = 0; s < sample.length; s++) sample[s] = view[s * SAMPLE_EVERY * 2 + HI] as number;
      samples.push(sample);
      this.#chunkAt[b] = [];
      this.#bufferedCount[b] = 0;
    }
    start[BUCKETS] = sorted.sizeBytes / KEY_BYTES;
    this.#sorted?.close();
    this.#sorted = sorted;
    this.#start = start;
    this.#samples = samples;
    this.#chunks.close(); // its keys are all sorted now: free its space
    this.#chunks = this.#scratch.open();
    this.#unsealed = 0;
  }

  /**
   * The first row (in append order) whose id is the 32 bytes of `id` at `at` and that `accept`
   * takes, or undefined. Seals first when rows were appended since the last seal.
   */
  find(id: Uint8Array, at = 0, accept?: (n: number, row: Buffer) => boolean): number | undefined {
    this.#open();
    if (this.#unsealed > 0) this.seal();
    if (this.#rows === 0) return undefined;
    const b = bucketOf(id, at);
    const key = keyOf(id, at);
    const sample = this.#samples[b] as Uint32Array;
    // The last sampled key below `key`: every key at `key` lies after it.
    let lo = 0;
    let hi = sample.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sample[mid] as number) < key) lo = mid + 1;
      else hi = mid;
    }
    const first = this.#start[b] as number;
    const end = this.#start[b + 1] as number;
    let k = first + Math.max(0, lo - 1) * SAMPLE_EVERY;
    while (k < end) {
      const n = Math.min(WINDOW_KEYS, end - k);
      (this.#sorted as ScratchFile).read(this.#window.subarray(0, n * KEY_BYTES), k * KEY_BYTES);
      for (let i = 0; i < n; i++) {
        const high = this.#windowWords[i * 2 + HI] as number;
        if (high < key) continue;
        if (high > key) return undefined;
        const rowNumber = this.#windowWords[i * 2 + LO] as number;
        const row = this.row(rowNumber);
        if (Buffer.compare(row.subarray(0, ID_BYTES), id.subarray(at, at + ID_BYTES)) !== 0) continue;
        if (!accept || accept(rowNumber, row)) return rowNumber;
      }
      k += n;
    }
    return undefined;
  }

  /** Row `n`, in a buffer the next call to {@link row} or {@link find} overwrites. */
  row(n: number): Buffer {
    this.#open();
    if (!(n >= 0 && n < this.#rows)) throw new RangeError(`no row ${n} in a table of ${this.#rows}`);
    if (n >= this.#written) {
      const at = (n - this.#written) * this.#rowBytes;
      this.#pending.copy(this.#row, 0, at, at + this.#rowBytes);
    } else this.#data.read(this.#row, n * this.#rowBytes);
    return this.#row;
  }

  /** Rows `[first, end)`, read at once, in one new buffer. */
  rows(first: number, end: number): Buffer {
    const out = Buffer.allocUnsafe((end - first) * this.#rowBytes);
    const flushedEnd = Math.min(end, this.#written);
    if (first < flushedEnd)
      this.#data.read(out.subarray(0, (flushedEnd - first) * this.#rowBytes), first * this.#rowBytes);
    for (let n = Math.max(first, this.#written); n < end; n++)
      this.row(n).copy(out, (n - first) * this.#rowBytes);
    return out;
  }

  /** Free the table's files. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffered = new Uint32Array(0);
    this.#samples = [];
    this.#data.close();
    this.#chunks.close();
    this.#sorted?.close();
  }

  #open(): void {
    if (this.#closed) throw new IntegrityError('this spilled table was closed');
  }
}
