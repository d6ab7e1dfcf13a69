/**
 * A set of blob ids held as 32 binary bytes each, with an open-addressing hash of entry numbers:
 * about 50 bytes an id where a `Set` of 64-digit hex strings takes about 110. Garbage collection's
 * live set holds every blob a live snapshot names (docs/format.md#garbage-collection, step 2), so
 * this is what bounds its memory per live blob.
 */
import type { ScratchSpace } from '../ports.ts';
import type { ContentId } from '../vault.ts';
import { ID_BYTES } from './pack-table.ts';
import { SpilledTable } from './spilled-table.ts';

/** What holding blob ids needs: a `Set<ContentId>` qualifies, and so does {@link BlobIdSet}. */
export interface ContentIdSet {
  add(blobId: ContentId): unknown;
  has(blobId: ContentId): boolean;
  readonly size: number;
}

/**
 * Blob ids (content ids: 64 lowercase hex digits, the SHA-256 of a blob) in compact form.
 * @example
 * ```ts
 * const live = new BlobIdSet();
 * live.add(blobId);
 * live.has(blobId); // true
 * ```
 */
export class BlobIdSet implements ContentIdSet {
  /** The ids, {@link ID_BYTES} each, in insertion order. */
  #ids = Buffer.allocUnsafeSlow(1024 * ID_BYTES);
  #size = 0;
  /** Entry numbers (-1: empty), at most half full, keyed by the id's first 4 bytes. */
  #slots = new Int32Array(2048).fill(-1);
  readonly #probe = Buffer.alloc(ID_BYTES);

  get size(): number {
    return this.#size;
  }

  /** Add `blobId` (a content id); adding one already held does nothing. */
  add(blobId: ContentId): this {
    const slot = this.#find(blobId);
    if (slot.entry >= 0) return this;
    if ((this.#size + 1) * ID_BYTES > this.#ids.length) {
      const ids = Buffer.allocUnsafeSlow(Math.ceil((this.#ids.length / ID_BYTES) * 1.5) * ID_BYTES);
      this.#ids.copy(ids, 0, 0, this.#size * ID_BYTES);
      this.#ids = ids;
    }
    this.#probe.copy(this.#ids, this.#size * ID_BYTES);
    this.#slots[slot.at] = this.#size;
    this.#size += 1;
    if (this.#size * 2 > this.#slots.length) this.#rehash(this.#slots.length * 2);
    return this;
  }

  has(blobId: ContentId): boolean {
    return this.#find(blobId).entry >= 0;
  }

  /** The ids held, {@link ID_BYTES} binary bytes each, in insertion order (a view: not a copy). */
  get idBytes(): Buffer {
    return this.#ids.subarray(0, this.#size * ID_BYTES);
  }

  /** The slot holding `blobId` (entry ≥ 0), or the empty slot where it would go (entry -1); fills the probe. */
  #find(blobId: ContentId): { at: number; entry: number } {
    if (blobId.length !== ID_BYTES * 2 || this.#probe.write(blobId, 0, ID_BYTES, 'hex') !== ID_BYTES) {
      throw new Error(`not a content id: ${blobId}`);
    }
    const mask = this.#slots.length - 1;
    for (let s = this.#probe.readUInt32LE(0) & mask; ; s = (s + 1) & mask) {
      const e = this.#slots[s] as number;
      if (e < 0) return { at: s, entry: -1 };
      if (this.#probe.compare(this.#ids, e * ID_BYTES, (e + 1) * ID_BYTES) === 0) return { at: s, entry: e };
    }
  }

  #rehash(size: number): void {
    this.#slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let e = 0; e < this.#size; e++) {
      let s = this.#ids.readUInt32LE(e * ID_BYTES) & mask;
      while ((this.#slots[s] as number) >= 0) s = (s + 1) & mask;
      this.#slots[s] = e;
    }
  }
}

/**
 * A {@link ContentIdSet} whose memory stays bounded however many ids it holds: up to `memoryIds`
 * in a {@link BlobIdSet}, then all of those move to a {@link SpilledTable} on local disk (32-byte
 * rows, sorted by id when they move) and the next ones gather in memory again. An id is in one of
 * the two, never both (`add` looks on disk before it adds to memory), so `size` counts each once.
 * Past the first move, an `add` of an id not in memory and a `has` of one not in memory each read a
 * few KiB of disk. What holds garbage collection's live set (docs/format.md#garbage-collection).
 * @example
 * ```ts
 * const live = new SpillingIdSet(scratch, 1_000_000);
 * live.add(blobId);
 * live.has(blobId); // true
 * live.close(); // frees its disk
 * ```
 */
export class SpillingIdSet implements ContentIdSet {
  readonly #scratch: ScratchSpace | undefined;
  readonly #memoryIds: number;
  #memory = new BlobIdSet();
  #disk: SpilledTable | undefined;
  readonly #probe = Buffer.alloc(ID_BYTES);

  /**
   * @param scratch where ids move past `memoryIds`; without one, every id stays in memory.
   * @param memoryIds ids held in memory before they move to disk (at least 1).
   */
  constructor(scratch: ScratchSpace | undefined, memoryIds: number) {
    this.#scratch = scratch;
    this.#memoryIds = Math.max(1, memoryIds);
  }

  get size(): number {
    return this.#memory.size + (this.#disk?.rowCount ?? 0);
  }

  /** Ids held on disk (0 until the first move). */
  get spilledIds(): number {
    return this.#disk?.rowCount ?? 0;
  }

  /** Add `blobId` (a content id); adding one already held does nothing. */
  add(blobId: ContentId): this {
    if (this.#memory.has(blobId) || this.#onDisk(blobId)) return this;
    this.#memory.add(blobId);
    if (this.#scratch && this.#memory.size >= this.#memoryIds) this.#spill(this.#scratch);
    return this;
  }

  has(blobId: ContentId): boolean {
    return this.#memory.has(blobId) || this.#onDisk(blobId);
  }

  /** Free its disk (idempotent); the set is empty and unusable after. */
  close(): void {
    this.#disk?.close();
    this.#memory = new BlobIdSet();
  }

  #onDisk(blobId: ContentId): boolean {
    if (!this.#disk) return false;
    this.#probe.write(blobId, 0, ID_BYTES, 'hex');
    return this.#disk.find(this.#probe) !== undefined;
  }

  #spill(scratch: ScratchSpace): void {
    this.#disk ??= new SpilledTable(scratch, ID_BYTES);
    const ids = this.#memory.idBytes;
    for (let at = 0; at < ids.length; at += ID_BYTES) this.#disk.append(ids.subarray(at, at + ID_BYTES));
    this.#disk.seal();
    this.#memory = new BlobIdSet();
  }
}
