/**
 * The blobs a snapshot references, with their sizes, as a verify task holds them: ids deduplicated
 * in a {@link SpillingIdSet}, and one 48-byte row each (id, logical size, sealed size) appended in
 * the order first referenced, in memory or (with scratch space) in a scratch file on local disk, so
 * a snapshot of any number of objects is verified in memory that does not grow with it past
 * `indexMemoryBlobs` (docs/format.md#verification). The deep pass's order over them spills the
 * same way (`deepPassOrder`, ./sample.ts).
 */
import type { ScratchFile, ScratchSpace } from '../ports.ts';
import { SpillingIdSet } from '../repository/blob-id-set.ts';
import { ID_BYTES } from '../repository/pack-table.ts';
import type { ContentId } from '../vault.ts';

/** A row: id (32 bytes) ‖ logical bytes (f64) ‖ sealed bytes (f64; NaN when no index locates it). */
const ROW_BYTES = ID_BYTES + 16;
/** Rows buffered in memory before they are appended to the scratch file (192 KiB). */
const PENDING_ROWS = 4096;

/** What verification knows of a referenced blob before reading it. */
export interface ReferencedBlob {
  blobId: ContentId;
  /** Plaintext size of the blob (its chunk of the object), in bytes. */
  logicalBytes: number;
  /** Sealed size in its pack, in bytes, by the primary's index; undefined when no index locates it. */
  storedBytes?: number;
}

/**
 * @example
 * ```ts
 * const referenced = new ReferencedBlobs(deps.scratch, 1_000_000);
 * referenced.add(blobId, 1_000, 1_044);
 * for (const blob of referenced.entries()) console.log(blob.blobId, blob.storedBytes);
 * referenced.close();
 * ```
 */
export class ReferencedBlobs {
  readonly #ids: SpillingIdSet;
  readonly #scratch: ScratchSpace | undefined;
  #file: ScratchFile | undefined;
  #fileRows = 0;
  #pending = Buffer.allocUnsafe(PENDING_ROWS * ROW_BYTES);
  #pendingRows = 0;
  readonly #row = Buffer.allocUnsafe(ROW_BYTES);

  /**
   * @param scratch where rows (and ids past `memoryBlobs`) go; without one, everything stays in memory.
   * @param memoryBlobs ids held in memory before they move to `scratch`.
   */
  constructor(scratch: ScratchSpace | undefined, memoryBlobs: number) {
    this.#ids = new SpillingIdSet(scratch, memoryBlobs);
    this.#scratch = scratch;
  }

  /** Distinct blobs added. */
  get size(): number {
    return this.#fileRows + this.#pendingRows;
  }

  has(blobId: ContentId): boolean {
    return this.#ids.has(blobId);
  }

  /** Add `blobId` with its sizes, unless it was added before. @returns whether it was new. */
  add(blobId: ContentId, logicalBytes: number, storedBytes?: number): boolean {
    const before = this.#ids.size;
    if (this.#ids.add(blobId).size === before) return false; // held already: one lookup, not two
    if (this.#pendingRows * ROW_BYTES === this.#pending.length) this.#makeRoom();
    const at = this.#pendingRows * ROW_BYTES;
    this.#pending.write(blobId, at, ID_BYTES, 'hex');
    this.#pending.writeDoubleLE(logicalBytes, at + ID_BYTES);
    this.#pending.writeDoubleLE(storedBytes ?? Number.NaN, at + ID_BYTES + 8);
    this.#pendingRows += 1;
    return true;
  }

  /** The `n`-th blob added (0-based). */
  at(n: number): ReferencedBlob {
    return rowOf(this.#read(n, this.#row), 0);
  }

  /** The id of the `n`-th blob added. */
  blobIdAt(n: number): ContentId {
    return this.#read(n, this.#row).toString('hex', 0, ID_BYTES);
  }

  /** Every blob, in the order added, read a few thousand rows at a time. */
  *entries(): Generator<ReferencedBlob> {
    const size = this.size;
    const chunk = Buffer.allocUnsafe(PENDING_ROWS * ROW_BYTES);
    for (let first = 0; first < size; first += PENDING_ROWS) {
      const end = Math.min(size, first + PENDING_ROWS);
      const inFile = Math.max(0, Math.min(end, this.#fileRows) - first);
      if (inFile > 0)
        (this.#file as ScratchFile).read(chunk.subarray(0, inFile * ROW_BYTES), first * ROW_BYTES);
      for (let n = first; n < end; n++)
        yield n < this.#fileRows
          ? rowOf(chunk, (n - first) * ROW_BYTES)
          : rowOf(this.#pending, (n - this.#fileRows) * ROW_BYTES);
    }
  }

  /** Free its disk (idempotent). */
  close(): void {
    this.#ids.close();
    this.#file?.close();
  }

  #makeRoom(): void {
    if (!this.#scratch) {
      const grown = Buffer.allocUnsafe(this.#pending.length * 2);
      this.#pending.copy(grown);
      this.#pending = grown;
      return;
    }
    this.#file ??= this.#scratch.open();
    this.#file.append(this.#pending.subarray(0, this.#pendingRows * ROW_BYTES));
    this.#fileRows += this.#pendingRows;
    this.#pendingRows = 0;
  }

  /** Row `n` into `into` (in the scratch file, or still in memory). */
  #read(n: number, into: Buffer): Buffer {
    if (!(n >= 0 && n < this.size)) throw new RangeError(`no referenced blob ${n} of ${this.size}`);
    if (n < this.#fileRows) (this.#file as ScratchFile).read(into, n * ROW_BYTES);
    else this.#pending.copy(into, 0, (n - this.#fileRows) * ROW_BYTES, (n - this.#fileRows + 1) * ROW_BYTES);
    return into;
  }
}

function rowOf(rows: Buffer, at: number): ReferencedBlob {
  const stored = rows.readDoubleLE(at + ID_BYTES + 8);
  return {
    blobId: rows.toString('hex', at, at + ID_BYTES),
    logicalBytes: rows.readDoubleLE(at + ID_BYTES),
    ...(Number.isNaN(stored) ? {} : { storedBytes: stored }),
  };
}
