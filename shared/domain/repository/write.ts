/**
 * The vault's documents as the pipeline reads and writes them: packs of sealed blobs, the index
 * that locates each blob, manifest parts and roots. Names follow docs/format.md.
 *
 * Write order (docs/format.md#read-and-write-ordering): packs, then the index naming them, then the
 * manifest parts naming their blobs, then the manifest root, then the catalog commit.
 * @see ../../../docs/format.md
 */
import pLimit from 'p-limit';
import type { Envelope } from '../envelope.ts';
import { IntegrityError } from '../errors.ts';
import type { VaultStore } from '../ports.ts';
import {
  blobAssociatedData,
  type ContentId,
  compareKeys,
  contentIdOf,
  encodeIndex,
  encodeManifest,
  encodePart,
  type IndexedPack,
  indexAssociatedData,
  type Manifest,
  type ManifestEntry,
  manifestAssociatedData,
  PACK_HEADER_ASSOCIATED_DATA,
  PACK_TARGET_BYTES,
  type PackedBlob,
  type PackHeader,
  type PartRef,
  partAssociatedData,
  VAULT_FORMAT_VERSION,
  VaultLayout,
} from '../vault.ts';

/**
 * Collects sealed blobs into packs of about {@link PACK_TARGET_BYTES} and stores each pack once it is
 * full. A pack is: the sealed blobs back to back, then the sealed {@link PackHeader}, then the
 * header's length as 4 bytes big-endian. Memory held: the open pack plus at most three closed packs
 * not yet stored (two uploading, one waiting): {@link add} waits while there are three.
 * @see ../../../docs/format.md#packs
 * @example
 * ```ts
 * const writer = new PackWriter(vault, envelope);
 * await writer.add(blobId, plaintext);
 * const packs = await writer.flush(); // every pack stored; write an index naming them next
 * ```
 */
export class PackWriter {
  readonly #vault: VaultStore;
  readonly #envelope: Envelope;
  readonly #targetBytes: number;
  readonly #uploads = pLimit(2);
  #open: { parts: Buffer[]; blobs: PackedBlob[]; sizeBytes: number } = { parts: [], blobs: [], sizeBytes: 0 };
  /** Every pack closed since the last flush, stored or not: what flush returns. */
  #pending: Promise<IndexedPack>[] = [];
  /** The closed packs not yet stored (uploading, or waiting for an upload slot): what memory holds. */
  readonly #unstored = new Set<Promise<unknown>>();
  /** Blob ids added since the writer was made (open, uploading or stored). */
  readonly added = new Set<ContentId>();
  packsWritten = 0;
  storedBytesWritten = 0;
  /** Plaintext bytes of the blobs sealed since the writer was made (blobs added again not counted). */
  plaintextBytesAdded = 0;
  /** Their sealed bytes (compressed, encrypted): over `plaintextBytesAdded`, the compressibility the detector watches. */
  sealedBytesAdded = 0;

  constructor(vault: VaultStore, envelope: Envelope, options: { targetBytes?: number } = {}) {
    this.#vault = vault;
    this.#envelope = envelope;
    this.#targetBytes = options.targetBytes ?? PACK_TARGET_BYTES;
  }

  /**
   * Seal `plaintext` (whose SHA-256 is `blobId`) into the open pack; a full pack starts uploading.
   * Adding a blob already added is a no-op. Resolves when the blob is in a pack (not yet stored:
   * {@link flush} says when).
   */
  async add(blobId: ContentId, plaintext: Uint8Array): Promise<void> {
    if (this.added.has(blobId)) return;
    this.added.add(blobId);
    const sealed = await this.#envelope.seal(plaintext, blobAssociatedData(blobId));
    this.plaintextBytesAdded += plaintext.length;
    this.sealedBytesAdded += sealed.length;
    await this.#append(blobId, sealed, plaintext.length);
  }

  /**
   * Put a blob that is sealed already into the open pack, byte for byte (a sealed blob is bound to
   * its blob id, not to its pack): what a repack does with a blob whose data key it cannot unwrap
   * (write-only keys, docs/format.md#keyring). A no-op for a blob already added.
   * @param sizeBytes its plaintext size, as its index entry says.
   */
  async addSealed(blobId: ContentId, sealed: Uint8Array, sizeBytes: number): Promise<void> {
    if (this.added.has(blobId)) return;
    this.added.add(blobId);
    await this.#append(blobId, Buffer.from(sealed), sizeBytes);
  }

  async #append(blobId: ContentId, sealed: Buffer, sizeBytes: number): Promise<void> {
    const open = this.#open;
    open.blobs.push({ blobId, offsetBytes: open.sizeBytes, lengthBytes: sealed.length, sizeBytes });
    open.parts.push(ownBytes(sealed));
    open.sizeBytes += sealed.length;
    if (open.sizeBytes >= this.#targetBytes) await this.#close();
  }

  /**
   * Close the open pack and wait until every pack is stored.
   * @returns the packs stored since the last flush, for the index.
   * @throws whatever the vault throws (retryable when transient); the blobs of a failed pack are lost
   *   to this writer, so the task must start over.
   */
  async flush(): Promise<IndexedPack[]> {
    await this.#close();
    const pending = this.#pending;
    this.#pending = [];
    return Promise.all(pending);
  }

  async #close(): Promise<void> {
    const open = this.#open;
    if (open.blobs.length === 0) return;
    this.#open = { parts: [], blobs: [], sizeBytes: 0 };
    const header: PackHeader = { version: VAULT_FORMAT_VERSION, type: 'pack-header', blobs: open.blobs };
    const sealedHeader = await this.#envelope.seal(
      Buffer.from(JSON.stringify(header), 'utf8'),
      PACK_HEADER_ASSOCIATED_DATA,
    );
    const length = Buffer.alloc(4);
    length.writeUInt32BE(sealedHeader.length);
    const body = Buffer.concat([...open.parts, sealedHeader, length]);
    const packId = contentIdOf(body);
    const upload = this.#uploads(async (): Promise<IndexedPack> => {
      const stored = await this.#vault.put(VaultLayout.packKey(packId), body);
      this.packsWritten += 1;
      this.storedBytesWritten += body.length;
      return { packId, stored, blobs: open.blobs };
    });
    this.#pending.push(upload);
    // Settled either way, the pack's body is no longer held; a failure is surfaced by flush().
    const settled: Promise<boolean> = upload.then(
      () => this.#unstored.delete(settled),
      () => this.#unstored.delete(settled),
    );
    this.#unstored.add(settled);
    // Back-pressure: at most three closed packs in memory (two uploading, one waiting for a slot).
    // Only unsettled uploads count: a stored pack no longer holds its body.
    while (this.#unstored.size >= 3) await Promise.race(this.#unstored);
  }
}

/**
 * `bytes`, or a copy of them in an allocation of their own when they are a view into a larger one.
 * A small Buffer (under 32 KiB) is a slice of a pool slab Node 24 shares between allocations (64 KiB,
 * `Buffer.poolSize`): an open pack holding thousands of small sealed blobs kept a slab alive for
 * every few of them, about 13 times the pack's own bytes (test/unit/pack-writer-memory.test.ts).
 */
function ownBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}

/**
 * Store an index document naming `packs` (after they are stored, before any part naming their
 * blobs). Nothing is written for no packs.
 * @returns the index id, or undefined when there was nothing to index.
 */
export async function writeIndex(
  vault: VaultStore,
  envelope: Envelope,
  packs: readonly IndexedPack[],
): Promise<ContentId | undefined> {
  if (packs.length === 0) return undefined;
  const { bytes, indexId } = encodeIndex({ version: VAULT_FORMAT_VERSION, type: 'index', packs: [...packs] });
  await vault.put(VaultLayout.indexKey(indexId), await envelope.seal(bytes, indexAssociatedData(indexId)));
  return indexId;
}

/**
 * Seal and store one manifest part (entries sorted by key, at most PART_MAX_ENTRIES).
 * @param skipIfKnown part ids known to be stored already (the parent's): not written again.
 */
export async function writePart(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  entries: readonly ManifestEntry[],
  skipIfKnown: ReadonlySet<ContentId> = new Set(),
): Promise<{ ref: PartRef; written: boolean }> {
  const { bytes, partId } = encodePart({
    version: VAULT_FORMAT_VERSION,
    type: 'manifest-part',
    planId,
    entries: [...entries],
  });
  const keys = entries.map((e) => e.key).sort(compareKeys);
  const firstKey = keys[0];
  const lastKey = keys.at(-1);
  if (firstKey === undefined || lastKey === undefined)
    throw new IntegrityError('a manifest part needs at least one entry');
  const ref: PartRef = {
    partId,
    firstKey,
    lastKey,
    objectCount: entries.length,
    logicalBytes: entries.reduce((sum, e) => sum + e.sizeBytes, 0),
  };
  if (skipIfKnown.has(partId)) return { ref, written: false };
  const sealed = await envelope.seal(bytes, partAssociatedData(planId, partId));
  await vault.put(VaultLayout.partKey(planId, partId), sealed);
  return { ref, written: true };
}

/**
 * Seal and store a manifest root. Call only after every part, index and pack it depends on is
 * stored (the root last). The key is content-addressed, so a stored root never changes.
 * @returns the manifest id and its sealed size.
 */
export async function writeManifest(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Manifest,
): Promise<{ manifestId: ContentId; storedBytes: number }> {
  const { bytes, manifestId } = encodeManifest(manifest);
  const sealed = await envelope.seal(bytes, manifestAssociatedData(manifest.planId, manifestId));
  await vault.put(VaultLayout.manifestKey(manifest.planId, manifestId), sealed);
  return { manifestId, storedBytes: sealed.length };
}
