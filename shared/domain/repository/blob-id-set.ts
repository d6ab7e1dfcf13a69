/**
 * A set of blob ids held as 32 binary bytes each, with an open-addressing hash of entry numbers:
 * about 50 bytes an id where a `Set` of 64-digit hex strings takes about 110. Garbage collection's
 * live set holds every blob a live snapshot names (docs/format.md#garbage-collection, step 2), so
 * this is what bounds its memory per live blob.
 */
import type { ContentId } from '../vault.ts';
import { ID_BYTES } from './pack-table.ts';

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
