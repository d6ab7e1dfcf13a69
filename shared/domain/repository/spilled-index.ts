/**
 * The part of a {@link VaultIndex} held on local disk: its packs and their blobs in two
 * {@link SpilledTable}s, so the index's memory stays the same whatever the vault's size
 * (docs/format.md#reading-the-index). The stored index documents are unchanged.
 */
import { IntegrityError } from '../errors.ts';
import type { ScratchSpace } from '../ports.ts';
import type { ContentId, IndexedPack, PackedBlob, StoredBlob } from '../vault.ts';
import { ID_BYTES, type PackTable } from './pack-table.ts';
import type { BlobLocation } from './read-blobs.ts';
import { SpilledTable } from './spilled-table.ts';

/** A blob row: id, pack row number, offset, length and plaintext size (unsigned 32-bit each). */
const BLOB_ROW_BYTES = ID_BYTES + 16;
/** Longest stored checksum a pack row holds (base64 SHA-256 and `-<upload part count>` is ≤ 50). */
const CHECKSUM_BYTES = 54;
/**
 * A pack row: id, stored size (float64), first blob row (float64), blob count (uint32), checksum
 * type (0 FULL_OBJECT, 1 COMPOSITE), checksum length and the checksum (ASCII).
 */
const PACK_ROW_BYTES = ID_BYTES + 8 + 8 + 4 + 1 + 1 + CHECKSUM_BYTES;
const UINT32_END = 2 ** 32;
/** Pack ids kept in memory by pack row, for consecutive lookups in one pack. */
const PACK_ID_CACHE = 4096;

/** Closes a spilled index's files once nothing references it (a safety net behind {@link close}). */
const closer = new FinalizationRegistry<() => void>((close) => close());

/**
 * @example
 * ```ts
 * const spilled = new SpilledIndex(scratch);
 * spilled.add(table, () => true);
 * spilled.locate(Buffer.from(blobId, 'hex'), () => true); // { packId, offsetBytes, … } or undefined
 * spilled.close();
 * ```
 */
export class SpilledIndex {
  readonly #blobs: SpilledTable;
  readonly #packs: SpilledTable;
  readonly #blobRow = Buffer.alloc(BLOB_ROW_BYTES);
  readonly #packRow = Buffer.alloc(PACK_ROW_BYTES);
  readonly #packIds = new Map<number, ContentId>();
  readonly #unregister = {};

  constructor(scratch: ScratchSpace) {
    const blobs = new SpilledTable(scratch, BLOB_ROW_BYTES);
    const packs = new SpilledTable(scratch, PACK_ROW_BYTES, 128); // packs hold many blobs each
    this.#blobs = blobs;
    this.#packs = packs;
    closer.register(
      this,
      () => {
        blobs.close();
        packs.close();
      },
      this.#unregister,
    );
  }

  get blobCount(): number {
    return this.#blobs.rowCount;
  }

  get packCount(): number {
    return this.#packs.rowCount;
  }

  /** Bytes of local disk held now. */
  get diskBytes(): number {
    return this.#blobs.diskBytes + this.#packs.diskBytes;
  }

  /**
   * Append the packs of `table` that `wanted` admits, with their blobs, after those added before.
   * @throws IntegrityError (not retryable) for a place or size of 2^32 bytes or more, or a checksum
   *   longer than any S3 reports: no Strongbox writer records one (docs/format.md#packs).
   */
  add(table: PackTable, wanted: (packId: ContentId) => boolean): void {
    for (let p = 0; p < table.packCount; p++) {
      const packId = table.packId(p);
      if (!wanted(packId)) continue;
      const { first, end } = table.entriesOf(p);
      const stored = table.stored(p);
      const checksum = Buffer.from(stored.checksumSha256, 'ascii');
      if (checksum.length > CHECKSUM_BYTES)
        throw new IntegrityError(`pack ${packId}: a stored checksum of ${checksum.length} characters`);
      const row = this.#packRow.fill(0);
      row.write(packId, 0, ID_BYTES, 'hex');
      row.writeDoubleLE(stored.sizeBytes, ID_BYTES);
      row.writeDoubleLE(this.#blobs.rowCount, ID_BYTES + 8);
      row.writeUInt32LE(end - first, ID_BYTES + 16);
      row[ID_BYTES + 20] = stored.checksumType === 'COMPOSITE' ? 1 : 0;
      row[ID_BYTES + 21] = checksum.length;
      checksum.copy(row, ID_BYTES + 22);
      const packRow = this.#packs.append(row);
      for (let i = first; i < end; i++) {
        const { offsetBytes, lengthBytes, sizeBytes } = table.place(i);
        if (!(offsetBytes < UINT32_END && lengthBytes < UINT32_END && sizeBytes < UINT32_END))
          throw new IntegrityError(`pack ${packId}: blob ${table.blobId(i)} lies past 4 GiB`);
        const blob = this.#blobRow;
        table.ids.copy(blob, 0, i * ID_BYTES, (i + 1) * ID_BYTES);
        blob.writeUInt32LE(packRow, ID_BYTES);
        blob.writeUInt32LE(offsetBytes, ID_BYTES + 4);
        blob.writeUInt32LE(lengthBytes, ID_BYTES + 8);
        blob.writeUInt32LE(sizeBytes, ID_BYTES + 12);
        this.#blobs.append(blob);
      }
    }
  }

  /** Sort what was added since (else the next lookup does). */
  seal(): void {
    this.#blobs.seal();
    this.#packs.seal();
  }

  /**
   * Where the blob whose binary id is `id` is: in the first pack added (that `accept` takes) that
   * holds it, or undefined.
   */
  locate(id: Buffer, accept: (packId: ContentId) => boolean): BlobLocation | undefined {
    let found: BlobLocation | undefined;
    this.#blobs.find(id, 0, (_, row) => {
      const packId = this.#packIdOf(row.readUInt32LE(ID_BYTES));
      if (!accept(packId)) return false;
      found = {
        blobId: row.toString('hex', 0, ID_BYTES),
        packId,
        offsetBytes: row.readUInt32LE(ID_BYTES + 4),
        lengthBytes: row.readUInt32LE(ID_BYTES + 8),
        sizeBytes: row.readUInt32LE(ID_BYTES + 12),
      };
      return true;
    });
    return found;
  }

  /** Whether a pack `packId` was added. */
  hasPack(packId: ContentId): boolean {
    return this.#packs.find(Buffer.from(packId, 'hex')) !== undefined;
  }

  /** Pack `packId` as first added, its `blobs` read from disk on each read; or undefined. */
  pack(packId: ContentId): IndexedPack | undefined {
    const n = this.#packs.find(Buffer.from(packId, 'hex'));
    return n === undefined ? undefined : this.#view(n);
  }

  /** Every pack added, in order (a pack added twice comes twice). */
  *packs(): Generator<IndexedPack> {
    for (let n = 0; n < this.#packs.rowCount; n++) yield this.#view(n);
  }

  /** Pack rows `[first, end)` (in the order added), their `blobs` read from disk on each read. */
  packsAt(first: number, end: number): IndexedPack[] {
    return Array.from({ length: end - first }, (_, k) => this.#view(first + k));
  }

  #view(n: number): IndexedPack {
    const row = this.#packs.row(n);
    const packId = row.toString('hex', 0, ID_BYTES) as ContentId;
    const stored: StoredBlob = {
      sizeBytes: row.readDoubleLE(ID_BYTES),
      checksumSha256: row.toString('ascii', ID_BYTES + 22, ID_BYTES + 22 + (row[ID_BYTES + 21] as number)),
      checksumType: row[ID_BYTES + 20] === 1 ? 'COMPOSITE' : 'FULL_OBJECT',
    };
    const first = row.readDoubleLE(ID_BYTES + 8);
    const count = row.readUInt32LE(ID_BYTES + 16);
    const blobs = this.#blobs;
    const view = { packId, stored } as IndexedPack;
    Object.defineProperty(view, 'blobs', {
      enumerable: true,
      get: (): PackedBlob[] => {
        const rows = blobs.rows(first, first + count);
        return Array.from({ length: count }, (_, k) => ({
          blobId: rows.toString('hex', k * BLOB_ROW_BYTES, k * BLOB_ROW_BYTES + ID_BYTES),
          offsetBytes: rows.readUInt32LE(k * BLOB_ROW_BYTES + ID_BYTES + 4),
          lengthBytes: rows.readUInt32LE(k * BLOB_ROW_BYTES + ID_BYTES + 8),
          sizeBytes: rows.readUInt32LE(k * BLOB_ROW_BYTES + ID_BYTES + 12),
        }));
      },
    });
    return view;
  }

  #packIdOf(packRow: number): ContentId {
    let packId = this.#packIds.get(packRow);
    if (packId === undefined) {
      packId = this.#packs.row(packRow).toString('hex', 0, ID_BYTES) as ContentId;
      if (this.#packIds.size >= PACK_ID_CACHE) this.#packIds.clear();
      this.#packIds.set(packRow, packId);
    }
    return packId;
  }

  /** Free the files (idempotent). */
  close(): void {
    closer.unregister(this.#unregister);
    this.#blobs.close();
    this.#packs.close();
  }
}
