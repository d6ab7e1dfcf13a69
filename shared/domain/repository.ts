/**
 * The vault's documents as the pipeline reads and writes them: packs of sealed blobs, the index
 * that locates each blob, manifest parts and roots. Names follow docs/format.md.
 *
 * Write order (docs/format.md#read-and-write-ordering): packs, then the index naming them, then the
 * manifest parts naming their blobs, then the manifest root, then the catalog commit.
 * @see ../../docs/format.md
 */
import pLimit from 'p-limit';
import type { Envelope } from './envelope.ts';
import { IntegrityError, NotFoundError } from './errors.ts';
import { type PipelineDeps, TUNING_DEFAULTS } from './pipeline.ts';
import type { VaultStore } from './ports.ts';
import {
  blobAssociatedData,
  type ContentId,
  compareKeys,
  contentIdOf,
  decodeIndex,
  decodeManifest,
  decodePackHeader,
  decodePart,
  encodeIndex,
  encodeManifest,
  encodePart,
  type IndexDocument,
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
} from './vault.ts';

/** Where a blob is: its pack and its place in it. */
export interface BlobLocation extends PackedBlob {
  packId: ContentId;
}

/**
 * Collects sealed blobs into packs of about {@link PACK_TARGET_BYTES} and stores each pack once it is
 * full. A pack is: the sealed blobs back to back, then the sealed {@link PackHeader}, then the
 * header's length as 4 bytes big-endian. Memory held: the open pack plus the packs being uploaded
 * (at most `uploadsInFlight`).
 * @see ../../docs/format.md#packs
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
  #pending: Promise<IndexedPack>[] = [];
  /** Blob ids added since the writer was made (open, uploading or stored). */
  readonly added = new Set<ContentId>();
  packsWritten = 0;
  storedBytesWritten = 0;

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
    const open = this.#open;
    open.blobs.push({
      blobId,
      offsetBytes: open.sizeBytes,
      lengthBytes: sealed.length,
      sizeBytes: plaintext.length,
    });
    open.parts.push(sealed);
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
    upload.catch(() => {}); // surfaced by flush()
    this.#pending.push(upload);
    // Back-pressure: do not let more than two closed packs wait in memory.
    if (this.#pending.length >= 3) await Promise.race(this.#pending);
  }
}

/**
 * Read the header at the end of a stored pack (the list of its blobs), e.g. to rebuild an index.
 * @throws IntegrityError (not retryable) when the pack is too short or its header does not open.
 */
export async function readPackHeader(
  vault: VaultStore,
  envelope: Envelope,
  packId: ContentId,
): Promise<PackHeader> {
  const body = await vault.get(VaultLayout.packKey(packId));
  if (body.length < 4) throw new IntegrityError(`pack ${packId} is too short`);
  const length = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(body.length - 4);
  if (length + 4 > body.length)
    throw new IntegrityError(`pack ${packId}: header length ${length} is past its start`);
  const sealed = body.subarray(body.length - 4 - length, body.length - 4);
  return decodePackHeader(await envelope.open(sealed, PACK_HEADER_ASSOCIATED_DATA));
}

/**
 * Read a pack's header with two ranged GETs (its last 4 bytes, then the sealed header), without
 * fetching its blobs; `sizeBytes` is the pack's stored size (from a listing).
 * @throws NotFoundError when the pack is gone; IntegrityError when the header does not open.
 */
export async function readPackHeaderAt(
  vault: VaultStore,
  envelope: Envelope,
  packId: ContentId,
  sizeBytes: number,
): Promise<PackHeader> {
  const key = VaultLayout.packKey(packId);
  if (sizeBytes < 4) throw new IntegrityError(`pack ${packId} is too short`);
  const tail = await vault.getRange(key, sizeBytes - 4, 4);
  const length = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength).readUInt32BE(0);
  if (length + 4 > sizeBytes)
    throw new IntegrityError(`pack ${packId}: header length ${length} is past its start`);
  const sealed = await vault.getRange(key, sizeBytes - 4 - length, length);
  return decodePackHeader(await envelope.open(sealed, PACK_HEADER_ASSOCIATED_DATA));
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

type IndexOptions = {
  exclude?: ReadonlySet<ContentId>;
  cached?: boolean;
  retry?: PipelineDeps['retry'];
  concurrency?: number;
};
/** Thrown inside {@link VaultIndex.refresh} when a listed index document vanished before its read. */
const VANISHED = new NotFoundError('an index document vanished between the listing and its read');
const once: PipelineDeps['retry'] = (attempt) => attempt(1); // no retry: one attempt

/**
 * The blobs a vault holds, from its index documents: blob id → pack and place. Loads each index
 * document once; {@link refresh} adds those written since.
 * @example
 * ```ts
 * const index = await VaultIndex.load(vault, envelope);
 * const where = index.locate(blobId); // undefined when the vault has no such blob
 * ```
 */
export class VaultIndex {
  readonly #vault: VaultStore;
  readonly #envelope: Envelope;
  readonly #blobs = new Map<ContentId, BlobLocation>();
  readonly #packs = new Map<ContentId, IndexedPack>();
  readonly #loaded = new Set<ContentId>();
  readonly #exclude: Set<ContentId>;
  readonly #options: IndexOptions;

  private constructor(vault: VaultStore, envelope: Envelope, options: IndexOptions) {
    this.#vault = vault;
    this.#envelope = envelope;
    this.#exclude = new Set(options.exclude);
    this.#options = options;
  }

  /**
   * List `index/` and load every index document (`options.concurrency` at a time, 16 by default).
   * @param options.exclude packs to leave out, as if no index named them: a snapshot passes the packs
   *   garbage collection marked, so it stores their blobs again rather than reuse them (see
   *   docs/format.md#garbage-collection). {@link addPack} still records an excluded pack.
   * @param options.cached reuse the documents this vault store has read before (see
   *   {@link readIndex}): for the hot paths that only dedupe (snapshot partitions, capture), never for
   *   verification, which must see what the vault holds now.
   * @param options.retry lists again when a document vanished under the listing (see {@link refresh});
   *   without it, such a document is left out until the next refresh. Use cases pass their deps.
   */
  static async load(vault: VaultStore, envelope: Envelope, options: IndexOptions = {}): Promise<VaultIndex> {
    const index = new VaultIndex(vault, envelope, options);
    await index.refresh();
    return index;
  }

  /** Load index documents written since the last load. @returns how many were new. */
  async refresh(): Promise<number> {
    // An index document can vanish between the listing and its read: garbage collection rewrites
    // or merges documents, always writing the new one before deleting the old. So when one has
    // vanished, list again at once (5 listings at most): the listing now shows its replacement.
    const before = this.#loaded.size;
    const policy = { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0, retryIf: (e: unknown) => e === VANISHED };
    await (this.#options.retry ?? once)(() => this.#loadListed(), policy).catch((error: unknown) => {
      if (error !== VANISHED) throw error; // still vanishing: the next refresh loads the rest
    });
    return this.#loaded.size - before;
  }

  async #loadListed(): Promise<void> {
    const fresh: ContentId[] = [];
    for await (const o of this.#vault.list(VaultLayout.indexPrefix)) {
      const id = VaultLayout.indexIdOf(o.key);
      if (id && !this.#loaded.has(id)) fresh.push(id);
    }
    const limit = pLimit(this.#options.concurrency ?? TUNING_DEFAULTS.concurrency);
    const docs = await Promise.all(
      fresh.map((id) =>
        limit(async () => {
          try {
            return await readIndex(this.#vault, this.#envelope, id, { cached: this.#options.cached });
          } catch (error) {
            if (error instanceof NotFoundError) return undefined; // removed meanwhile (garbage collection)
            throw error;
          }
        }),
      ),
    );
    for (const [i, doc] of docs.entries()) {
      if (!doc) continue;
      this.#loaded.add(fresh[i] as ContentId);
      for (const pack of doc.packs) if (!this.#exclude.has(pack.packId)) this.addPack(pack);
    }
    if (docs.includes(undefined)) throw VANISHED;
  }

  /** Record a pack (one this task just stored, or one read from an index). */
  addPack(pack: IndexedPack): void {
    this.#packs.set(pack.packId, pack);
    for (const blob of pack.blobs) {
      if (!this.#blobs.has(blob.blobId)) this.#blobs.set(blob.blobId, { ...blob, packId: pack.packId });
    }
  }

  /**
   * Leave `packIds` out from now on, as if no index named them: drop those already loaded (a blob
   * they held is located in another loaded pack that holds it, or nowhere) and skip them in later
   * {@link refresh}es. A long-lived index (capture's, per container) passes the marks it reads
   * again, so it never reuses a blob of a pack garbage collection has since marked (see
   * docs/format.md#garbage-collection). Exclusion only grows: a mark that vanished may mean the pack
   * was swept. {@link addPack} still records an excluded pack.
   * @returns how many loaded packs were dropped.
   */
  exclude(packIds: Iterable<ContentId>): number {
    const dropped = new Set<ContentId>();
    for (const packId of packIds) {
      this.#exclude.add(packId);
      if (this.#packs.delete(packId)) dropped.add(packId);
    }
    if (dropped.size === 0) return 0;
    const orphaned = new Set<ContentId>();
    for (const [blobId, where] of this.#blobs) {
      if (dropped.has(where.packId)) {
        this.#blobs.delete(blobId);
        orphaned.add(blobId);
      }
    }
    for (const pack of this.#packs.values()) {
      for (const blob of pack.blobs) {
        if (orphaned.has(blob.blobId) && !this.#blobs.has(blob.blobId)) {
          this.#blobs.set(blob.blobId, { ...blob, packId: pack.packId });
        }
      }
    }
    return dropped.size;
  }

  /** Where `blobId` is, or undefined when no loaded index names it. */
  locate(blobId: ContentId): BlobLocation | undefined {
    return this.#blobs.get(blobId);
  }

  /** A pack as an index recorded it (with its stored checksum), or undefined. */
  pack(packId: ContentId): IndexedPack | undefined {
    return this.#packs.get(packId);
  }

  /** Ids of the index documents loaded. */
  get indexIds(): ReadonlySet<ContentId> {
    return this.#loaded;
  }

  /** Every pack the loaded indexes name. */
  get packs(): ReadonlyMap<ContentId, IndexedPack> {
    return this.#packs;
  }
}

/** Fetch, open and check one index document. @throws NotFoundError, IntegrityError */
export async function readIndex(
  vault: VaultStore,
  envelope: Envelope,
  indexId: ContentId,
  options: { cached?: boolean } = {},
): Promise<IndexDocument> {
  // Index documents are content-addressed, so one read (and checked) once never changes: a warm
  // Lambda container reads only the documents written since. Whether a document still exists is
  // always decided by a fresh listing, never by this cache.
  let cache = indexCache.get(vault);
  if (!cache) {
    cache = new Map();
    indexCache.set(vault, cache);
  }
  const cached = options.cached ? cache.get(indexId) : undefined;
  if (cached) return cached;
  const sealed = await vault.get(VaultLayout.indexKey(indexId));
  const doc = decodeIndex(await envelope.open(sealed, indexAssociatedData(indexId)), indexId);
  cache.set(indexId, doc);
  if (cache.size > INDEX_CACHE_DOCUMENTS) cache.delete(cache.keys().next().value as string);
  return doc;
}

/** Index documents kept in memory per vault store (the oldest read is dropped first). */
const INDEX_CACHE_DOCUMENTS = 20_000;
const indexCache = new WeakMap<VaultStore, Map<ContentId, IndexDocument>>();

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

/** Fetch, open and check one manifest part. @throws NotFoundError, IntegrityError, ValidationError */
export async function readPart(vault: VaultStore, envelope: Envelope, planId: string, partId: ContentId) {
  const sealed = await vault.get(VaultLayout.partKey(planId, partId));
  return decodePart(await envelope.open(sealed, partAssociatedData(planId, partId)), partId);
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

/**
 * Fetch, open and check a manifest root.
 * @throws NotFoundError when the vault lacks it; IntegrityError when it does not match its id.
 */
export async function readManifest(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  manifestId: ContentId,
): Promise<Manifest> {
  const sealed = await vault.get(VaultLayout.manifestKey(planId, manifestId));
  const bytes = await envelope.open(sealed, manifestAssociatedData(planId, manifestId));
  return decodeManifest(bytes, manifestId);
}

/**
 * Every entry of a manifest in key order, reading one part at a time (memory: one part).
 * @throws NotFoundError when a part is missing; IntegrityError.
 */
export async function* manifestEntries(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
): AsyncIterable<ManifestEntry> {
  for (const ref of manifest.parts) {
    const part = await readPart(vault, envelope, manifest.planId, ref.partId);
    yield* part.entries;
  }
}

/** Every entry of a manifest, in key order, in memory. */
export async function readAllEntries(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
): Promise<ManifestEntry[]> {
  const limit = pLimit(8);
  const parts = await Promise.all(
    manifest.parts.map((ref) => limit(() => readPart(vault, envelope, manifest.planId, ref.partId))),
  );
  return parts.flatMap((p) => p.entries);
}

/** The documents a snapshot needs in a vault, by key, as {@link referencedDocuments} finds them. */
export interface SnapshotDocuments {
  manifestKey: string;
  partKeys: string[];
  /** Packs holding the snapshot's blobs, with the checksum their index recorded. */
  packs: Map<ContentId, IndexedPack>;
  /** Blob ids no loaded index locates (missing from the vault). */
  unlocatedBlobs: ContentId[];
  /** Every blob id the snapshot's entries name, once each. */
  blobs: ReadonlySet<ContentId>;
  blobCount: number;
}

/**
 * What a snapshot references: its root, its parts, and the packs of its blobs (located with `index`).
 * Reads every part (one at a time).
 */
export async function referencedDocuments(
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  manifestId: ContentId,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
): Promise<SnapshotDocuments> {
  const packs = new Map<ContentId, IndexedPack>();
  const unlocated = new Set<ContentId>();
  const blobs = new Set<ContentId>();
  for await (const entry of manifestEntries(vault, envelope, manifest)) {
    for (const blobId of entry.blobs) {
      if (blobs.has(blobId)) continue;
      blobs.add(blobId);
      const where = index.locate(blobId);
      const pack = where && index.pack(where.packId);
      if (pack) packs.set(pack.packId, pack);
      else unlocated.add(blobId);
    }
  }
  return {
    manifestKey: VaultLayout.manifestKey(manifest.planId, manifestId),
    partKeys: manifest.parts.map((p) => VaultLayout.partKey(manifest.planId, p.partId)),
    packs,
    unlocatedBlobs: [...unlocated],
    blobs,
    blobCount: blobs.size,
  };
}
