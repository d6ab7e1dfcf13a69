/** The blobs a vault holds, as its index documents locate them. */
import pLimit from 'p-limit';
import type { Envelope } from '../envelope.ts';
import { NotFoundError } from '../errors.ts';
import { type PipelineDeps, TUNING_DEFAULTS } from '../pipeline.ts';
import type { ScratchSpace, VaultStore } from '../ports.ts';
import { type ContentId, type IndexedPack, isContentId, VaultLayout } from '../vault.ts';
import { ID_BYTES, lastAtOrBelow, PackTable, tableOf } from './pack-table.ts';
import type { BlobLocation } from './read-blobs.ts';
import { readIndex, retainCachedIndexes } from './read-documents.ts';
import { SpilledIndex } from './spilled-index.ts';

type IndexOptions = {
  exclude?: ReadonlySet<ContentId>;
  cached?: boolean;
  retry?: PipelineDeps['retry'];
  concurrency?: number;
  /**
   * Local disk to spill to: past {@link memoryBlobs} blobs, the index moves to scratch files and
   * its memory stops growing (docs/format.md#reading-the-index). Without it, the index stays in
   * memory whatever its size.
   */
  scratch?: ScratchSpace;
  /** Blobs held in memory before the index spills to {@link scratch}. @default {@link TUNING_DEFAULTS}.indexMemoryBlobs */
  indexMemoryBlobs?: number;
};
/**
 * The load options a task's deps give: their retry, concurrency, local disk and memory bound (what a
 * holder that does not pass its whole deps hands {@link VaultIndex.load} or {@link VaultIndex.shared}).
 */
export function indexOptionsOf(
  deps: Pick<PipelineDeps, 'retry' | 'concurrency' | 'scratch' | 'indexMemoryBlobs'>,
): Pick<IndexOptions, 'retry' | 'concurrency' | 'scratch' | 'indexMemoryBlobs'> {
  return {
    retry: deps.retry,
    ...(deps.concurrency !== undefined ? { concurrency: deps.concurrency } : {}),
    ...(deps.scratch ? { scratch: deps.scratch } : {}),
    ...(deps.indexMemoryBlobs !== undefined ? { indexMemoryBlobs: deps.indexMemoryBlobs } : {}),
  };
}

/** Thrown inside {@link VaultIndex.refresh} when a listed index document vanished before its read. */
const VANISHED = new NotFoundError('an index document vanished between the listing and its read');
/** The ids of the index documents `vault` lists now. */
async function listIndexIds(vault: VaultStore): Promise<ContentId[]> {
  const ids: ContentId[] = [];
  for await (const o of vault.list(VaultLayout.indexPrefix)) {
    const id = VaultLayout.indexIdOf(o.key);
    if (id) ids.push(id);
  }
  return ids;
}

/** {@link VaultIndex.shared}'s index per vault (per warm container: the container keeps its vaults). */
const sharedIndexes = new WeakMap<VaultStore, VaultIndex>();
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
  /** The loaded documents' tables (and one per {@link addPack}), in load order. */
  #tables: PackTable[] = [];
  /** Entry number of each table's first blob: entry `bases[t] + i` is blob `i` of table `t`. */
  #bases: number[] = [];
  #entries = 0;
  /** Packs located (not excluded): the table and place each was last recorded from. */
  readonly #packs = new Map<ContentId, { table: PackTable; p: number }>();
  /** Open-addressing hash of entry numbers (-1: empty), keyed by the blob id's first 4 bytes. */
  #slots = new Int32Array(1024).fill(-1);
  #used = 0;
  readonly #probe = Buffer.alloc(ID_BYTES);
  readonly #loaded = new Set<ContentId>();
  readonly #exclude: Set<ContentId>;
  readonly #options: IndexOptions;
  /** The blobs spilled to local disk (all loaded before those in memory), once the index outgrew memory. */
  #spilled: SpilledIndex | undefined;

  private constructor(vault: VaultStore, envelope: Envelope, options: IndexOptions) {
    this.#vault = vault;
    this.#envelope = envelope;
    this.#exclude = new Set(options.exclude);
    this.#options = options;
  }

  static async load(vault: VaultStore, envelope: Envelope, options: IndexOptions = {}): Promise<VaultIndex> {
    const index = new VaultIndex(vault, envelope, options);
    await index.refresh();
    return index;
  }

  /**
   * The index of `vault` a warm container keeps from one task to the next, for tasks that only
   * {@link locate} (restore slices): the index built before when every index document it loaded is
   * still listed (refreshed with those written since), else a new {@link load} (its documents read
   * through the read cache), kept for the next task. A document gone from the listing means garbage
   * collection rewrote it and may repack and delete the packs it named, so that index is dropped,
   * never reused: what the index locates is as fresh as a {@link load} at the task's start. Its
   * holders must not {@link addPack} or {@link exclude}.
   * @throws what {@link load} throws.
   * @example
   * ```ts
   * const index = await VaultIndex.shared(vault, envelope, { retry, concurrency: 16 });
   * ```
   */
  static async shared(
    vault: VaultStore,
    envelope: Envelope,
    options: Pick<IndexOptions, 'retry' | 'concurrency' | 'scratch' | 'indexMemoryBlobs'> = {},
  ): Promise<VaultIndex> {
    const held = sharedIndexes.get(vault);
    if (held && (await held.refreshUnlessRewritten())) return held;
    sharedIndexes.delete(vault); // collectable while its replacement loads
    const index = await VaultIndex.load(vault, envelope, { ...options, cached: true });
    sharedIndexes.set(vault, index);
    return index;
  }

  /** Load index documents written since the last load. @returns how many were new. */
  refresh(): Promise<number> {
    return this.#refresh();
  }

  /**
   * {@link refresh}, unless an index document this index loaded is gone from the listing: garbage
   * collection rewrote it (the new one first) and may have dropped packs it named, which this index
   * would go on locating. Then nothing is loaded and the holder loads a new index.
   * @returns whether the index was refreshed (false: it is stale, load afresh).
   */
  async refreshUnlessRewritten(): Promise<boolean> {
    const listed = await listIndexIds(this.#vault);
    const still = new Set(listed);
    if (![...this.#loaded].every((id) => still.has(id))) return false;
    await this.#refresh(listed);
    return true;
  }

  /** {@link refresh}, from `listed` (the index ids just listed) before listing again. */
  async #refresh(listed?: ContentId[]): Promise<number> {
    // An index document can vanish between the listing and its read: garbage collection rewrites
    // or merges documents, always writing the new one before deleting the old. So when one has
    // vanished, list again at once (5 listings at most): the listing now shows its replacement.
    const before = this.#loaded.size;
    const policy = { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0, retryIf: (e: unknown) => e === VANISHED };
    let first = listed;
    const attempt = () => {
      const ids = first;
      first = undefined;
      return this.#loadListed(ids);
    };
    await (this.#options.retry ?? once)(attempt, policy).catch((error: unknown) => {
      if (error !== VANISHED) throw error; // still vanishing: the next refresh loads the rest
    });
    return this.#loaded.size - before;
  }

  async #loadListed(listed?: ContentId[]): Promise<void> {
    const ids = listed ?? (await listIndexIds(this.#vault));
    retainCachedIndexes(this.#vault, new Set(ids));
    const fresh = ids.filter((id) => !this.#loaded.has(id));
    const concurrency = this.#options.concurrency ?? TUNING_DEFAULTS.concurrency;
    const limit = pLimit(concurrency);
    const read = (id: ContentId) => {
      const reading = limit(async () => {
        try {
          // Once spilled, documents are not kept in the read cache either: that would hold the
          // vault's whole index in memory again.
          const keep = !this.#spilled;
          const doc = await readIndex(this.#vault, this.#envelope, id, {
            cached: this.#options.cached,
            keep,
          });
          return tableOf(doc) ?? PackTable.of(doc.packs);
        } catch (error) {
          if (error instanceof NotFoundError) return undefined; // removed meanwhile (garbage collection)
          throw error;
        }
      });
      // A read ahead that fails after an earlier one ended the load is not an unhandled rejection.
      reading.catch(() => undefined);
      return reading;
    };
    // Read ahead a few documents per concurrent read, and add them in listing order: at most that
    // many documents are in memory besides the index, whatever the vault's size.
    const ahead = concurrency * 4;
    const reading = fresh.slice(0, ahead).map(read); // a queue: fresh[i]'s read is taken at step i
    let vanished = false;
    for (const [i, id] of fresh.entries()) {
      const table = await reading.shift();
      const next = fresh[i + ahead];
      if (next) reading.push(read(next));
      if (!table) {
        vanished = true;
        continue;
      }
      this.#loaded.add(id);
      this.#addTable(table, (packId) => !this.#exclude.has(packId));
      this.#spillIfOver();
    }
    if (this.#spilled) {
      this.#spilled.seal();
      retainCachedIndexes(this.#vault, new Set()); // any read ahead before the index spilled
    }
    if (vanished) throw VANISHED;
  }

  /**
   * Move the blobs held in memory to local disk when they are more than the index may hold there
   * (once spilled, the read cache keeps none of this vault's documents: they are all on disk).
   */
  #spillIfOver(): void {
    const scratch = this.#options.scratch;
    if (!scratch || this.#entries <= (this.#options.indexMemoryBlobs ?? TUNING_DEFAULTS.indexMemoryBlobs))
      return;
    if (!this.#spilled) {
      this.#spilled = new SpilledIndex(scratch);
      retainCachedIndexes(this.#vault, new Set());
    }
    const spilled = this.#spilled;
    for (const table of this.#tables)
      spilled.add(table, (packId) => this.#packs.get(packId)?.table === table);
    this.#clearMemory();
  }

  /** Forget every table, pack and slot held in memory. */
  #clearMemory(): void {
    this.#tables = [];
    this.#bases = [];
    this.#entries = 0;
    this.#used = 0;
    this.#slots = new Int32Array(1024).fill(-1);
    this.#packs.clear();
  }

  /**
   * Record the index document this task just wrote (`indexId`, as writeIndex returned it) and its
   * packs, as if loaded: so a later {@link refreshUnlessRewritten} also notices when garbage
   * collection rewrites it.
   */
  addDocument(indexId: ContentId | undefined, packs: readonly IndexedPack[]): void {
    if (packs.length === 0) return;
    if (indexId) this.#loaded.add(indexId);
    this.#addTable(PackTable.of(packs), () => true);
    this.#spillIfOver();
  }

  /** Record a pack (one this task just stored, or one read from an index). */
  addPack(pack: IndexedPack): void {
    this.#addTable(PackTable.of([pack]), () => true);
    this.#spillIfOver();
  }

  /** Append `table`, locating the blobs of its packs that `wanted` admits (a blob located already stays where it is). */
  #addTable(table: PackTable, wanted: (packId: ContentId) => boolean): void {
    const t = this.#tables.length;
    this.#tables.push(table);
    this.#bases.push(this.#entries);
    this.#entries += table.blobCount;
    for (let p = 0; p < table.packCount; p++) {
      if (!wanted(table.packId(p))) continue;
      this.#packs.set(table.packId(p), { table, p });
      const { first, end } = table.entriesOf(p);
      for (let i = first; i < end; i++) this.#insert(t, i);
    }
  }

  /** Locate entry `i` of table `t`, unless its blob is located already. */
  #insert(t: number, i: number): void {
    if ((this.#used + 1) * 2 > this.#slots.length) this.#grow(this.#slots.length * 2);
    const table = this.#tables[t] as PackTable;
    const mask = this.#slots.length - 1;
    for (let s = table.ids.readUInt32LE(i * ID_BYTES) & mask; ; s = (s + 1) & mask) {
      const e = this.#slots[s] as number;
      if (e < 0) {
        this.#slots[s] = (this.#bases[t] as number) + i;
        this.#used += 1;
        return;
      }
      const [u, j] = this.#entry(e);
      if (
        table.ids.compare(
          (this.#tables[u] as PackTable).ids,
          j * ID_BYTES,
          (j + 1) * ID_BYTES,
          i * ID_BYTES,
          (i + 1) * ID_BYTES,
        ) === 0
      )
        return;
    }
  }

  /** Grow the slots, at once, to hold `entries` at most half full. */
  #reserve(entries: number): void {
    let size = this.#slots.length;
    while (entries * 2 > size) size *= 2;
    if (size > this.#slots.length) this.#grow(size);
  }

  /** Rehash into `size` slots (a power of two). */
  #grow(size: number): void {
    const old = this.#slots;
    this.#slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (const e of old) {
      if (e < 0) continue;
      const [t, i] = this.#entry(e);
      let s = (this.#tables[t] as PackTable).ids.readUInt32LE(i * ID_BYTES) & mask;
      while ((this.#slots[s] as number) >= 0) s = (s + 1) & mask;
      this.#slots[s] = e;
    }
  }

  /** Table and entry of entry number `e` (a binary search over the tables' bases). */
  #entry(e: number): [number, number] {
    const t = lastAtOrBelow(this.#bases, this.#bases.length, e);
    return [t, e - (this.#bases[t] as number)];
  }

  /**
   * Leave `packIds` out from now on, as if no index named them: drop those already loaded (a blob
   * they held is located in another loaded pack that holds it, or nowhere) and skip them in later
   * {@link refresh}es. A long-lived index (capture's, per container) passes the marks it reads
   * again, so it never reuses a blob of a pack garbage collection has since marked (see
   * docs/format.md#garbage-collection). Exclusion only grows: a mark that vanished may mean the pack
   * was swept. {@link addPack} still records an excluded pack (in memory; once spilled to disk, an
   * excluded pack stays left out: a pack's id hashes its sealed bytes, so no new pack has it).
   * @returns how many loaded packs were dropped.
   */
  exclude(packIds: Iterable<ContentId>): number {
    let dropped = 0;
    let inMemory = 0;
    for (const packId of packIds) {
      const fresh = !this.#exclude.has(packId);
      this.#exclude.add(packId);
      if (this.#packs.delete(packId)) inMemory += 1;
      else if (fresh && this.#spilled?.hasPack(packId)) dropped += 1;
    }
    if (inMemory > 0) this.#rebuild();
    return dropped + inMemory;
  }

  /** Locate again, in load order, the blobs of the packs still located; forget tables with none. */
  #rebuild(): void {
    const live = new Set(this.#packs.keys());
    const tables = this.#tables.filter((table) =>
      Array.from({ length: table.packCount }, (_, p) => table.packId(p)).some((packId) => live.has(packId)),
    );
    this.#clearMemory();
    this.#reserve(tables.reduce((n, table) => n + table.blobCount, 0));
    for (const table of tables) this.#addTable(table, (packId) => live.has(packId));
  }

  /** Where `blobId` is, or undefined when no loaded index names it. */
  locate(blobId: ContentId): BlobLocation | undefined {
    if (!isContentId(blobId)) return undefined;
    this.#probe.write(blobId, 0, ID_BYTES, 'hex');
    const spilled = this.#spilled?.locate(this.#probe, (packId) => !this.#exclude.has(packId));
    if (spilled) return spilled;
    const mask = this.#slots.length - 1;
    for (let s = this.#probe.readUInt32LE(0) & mask; ; s = (s + 1) & mask) {
      const e = this.#slots[s] as number;
      if (e < 0) return undefined;
      const [t, i] = this.#entry(e);
      const table = this.#tables[t] as PackTable;
      if (this.#probe.compare(table.ids, i * ID_BYTES, (i + 1) * ID_BYTES) === 0)
        return { ...table.blob(i), packId: table.packId(table.packOf(i)) };
    }
  }

  /** A pack as an index recorded it (with its stored checksum), or undefined. */
  pack(packId: ContentId): IndexedPack | undefined {
    const where = this.#packs.get(packId);
    if (where) return where.table.view(where.p);
    return this.#exclude.has(packId) ? undefined : this.#spilled?.pack(packId);
  }

  /** Ids of the index documents loaded. */
  get indexIds(): ReadonlySet<ContentId> {
    return this.#loaded;
  }

  /** Every pack the loaded indexes name (built on each read: for tests and small vaults). */
  get packs(): ReadonlyMap<ContentId, IndexedPack> {
    const packs = new Map<ContentId, IndexedPack>();
    for (const pack of this.#spilled?.packs() ?? [])
      if (!this.#exclude.has(pack.packId) && !packs.has(pack.packId)) packs.set(pack.packId, pack);
    for (const [packId, { table, p }] of this.#packs) packs.set(packId, table.view(p));
    return packs;
  }

  /** Blobs held on local disk (0 while the index fits in memory). */
  get spilledBlobs(): number {
    return this.#spilled?.blobCount ?? 0;
  }

  /**
   * Free the local disk the index spilled to. Call it when the task that loaded the index ends (a
   * warm container runs the next task with the same disk); the index must not be used after. A
   * {@link shared} index is never closed by its users.
   */
  close(): void {
    this.#spilled?.close();
  }
}
