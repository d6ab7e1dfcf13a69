/**
 * The packs of one index document, held compactly in memory: blob ids as 32 binary bytes and the
 * numbers in typed arrays, about 56 bytes a blob where parsed JSON objects took about 270. What the
 * read cache keeps and what {@link VaultIndex} looks blobs up in; the stored document is unchanged
 * (docs/format.md#index).
 */
import type { ContentId, IndexDocument, IndexedPack, PackedBlob, StoredBlob } from '../vault.ts';

/**
 * The index of the last of the first `count` numbers of `sorted` (ascending) that is at most
 * `value`; 0 when none is (a binary search).
 */
export function lastAtOrBelow(sorted: ArrayLike<number>, count: number, value: number): number {
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((sorted[mid] as number) <= value) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Bytes of a binary blob id (a SHA-256). */
export const ID_BYTES = 32;

/**
 * One index document's packs and blobs, entry `i` being the `i`-th blob in document order.
 * @example
 * ```ts
 * const table = PackTable.of(doc.packs);
 * table.blobId(0); // the first pack's first blob id, as hex
 * ```
 */
export class PackTable {
  /** Blob ids, {@link ID_BYTES} each, in entry order. */
  readonly ids: Buffer;
  readonly #offsets: Float64Array;
  readonly #lengths: Float64Array;
  readonly #sizes: Float64Array;
  readonly #packIds: ContentId[];
  readonly #stored: StoredBlob[];
  /** Entry of each pack's first blob; `#first[packCount]` is the number of entries. */
  readonly #first: Uint32Array;

  private constructor(packs: readonly IndexedPack[]) {
    const total = packs.reduce((n, p) => n + p.blobs.length, 0);
    this.ids = Buffer.allocUnsafeSlow(total * ID_BYTES);
    this.#offsets = new Float64Array(total);
    this.#lengths = new Float64Array(total);
    this.#sizes = new Float64Array(total);
    this.#packIds = packs.map((p) => p.packId);
    this.#stored = packs.map((p) => p.stored);
    this.#first = new Uint32Array(packs.length + 1);
    let i = 0;
    for (const [p, pack] of packs.entries()) {
      this.#first[p] = i;
      for (const blob of pack.blobs) {
        this.ids.write(blob.blobId, i * ID_BYTES, ID_BYTES, 'hex');
        this.#offsets[i] = blob.offsetBytes;
        this.#lengths[i] = blob.lengthBytes;
        this.#sizes[i] = blob.sizeBytes;
        i += 1;
      }
    }
    this.#first[packs.length] = i;
  }

  /** Hold `packs` compactly (their blob ids must be content ids: 64 lowercase hex digits). */
  static of(packs: readonly IndexedPack[]): PackTable {
    return new PackTable(packs);
  }

  get packCount(): number {
    return this.#packIds.length;
  }

  get blobCount(): number {
    return this.#first[this.#packIds.length] as number;
  }

  packId(p: number): ContentId {
    return this.#packIds[p] as ContentId;
  }

  /** Entries `[first, end)` are pack `p`'s blobs. */
  entriesOf(p: number): { first: number; end: number } {
    return { first: this.#first[p] as number, end: this.#first[p + 1] as number };
  }

  /** The pack holding entry `i` (a binary search over the packs' first entries). */
  packOf(i: number): number {
    return lastAtOrBelow(this.#first, this.#packIds.length, i);
  }

  blobId(i: number): ContentId {
    return this.ids.toString('hex', i * ID_BYTES, (i + 1) * ID_BYTES);
  }

  blob(i: number): PackedBlob {
    return {
      blobId: this.blobId(i),
      offsetBytes: this.#offsets[i] as number,
      lengthBytes: this.#lengths[i] as number,
      sizeBytes: this.#sizes[i] as number,
    };
  }

  /** Pack `p`'s stored size and checksum. */
  stored(p: number): StoredBlob {
    return this.#stored[p] as StoredBlob;
  }

  /** Entry `i`'s place in its pack and plaintext size, without building its hex id. */
  place(i: number): Omit<PackedBlob, 'blobId'> {
    return {
      offsetBytes: this.#offsets[i] as number,
      lengthBytes: this.#lengths[i] as number,
      sizeBytes: this.#sizes[i] as number,
    };
  }

  /**
   * Pack `p` as an {@link IndexedPack} whose `blobs` are built on each read (never kept), so a
   * caller that walks every pack holds one pack's blob objects at a time.
   */
  view(p: number): IndexedPack {
    const view = { packId: this.packId(p), stored: this.#stored[p] as StoredBlob } as IndexedPack;
    Object.defineProperty(view, 'blobs', {
      enumerable: true,
      get: () => {
        const { first, end } = this.entriesOf(p);
        return Array.from({ length: end - first }, (_, k) => this.blob(first + k));
      },
    });
    return view;
  }
}

const tables = new WeakMap<IndexDocument, PackTable>();

/**
 * `doc` with its packs held in a {@link PackTable}: the same document (its packs are views whose
 * blobs are built on read), at a fraction of the memory. {@link tableOf} gives the table back.
 */
export function compactIndex(doc: IndexDocument): IndexDocument {
  const table = PackTable.of(doc.packs);
  const compact: IndexDocument = {
    version: doc.version,
    type: doc.type,
    packs: Array.from({ length: table.packCount }, (_, p) => table.view(p)),
  };
  tables.set(compact, table);
  return compact;
}

/** The table behind a document from {@link compactIndex}, or undefined for a plain one. */
export function tableOf(doc: IndexDocument): PackTable | undefined {
  return tables.get(doc);
}
