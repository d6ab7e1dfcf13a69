/** The blobs a vault holds, as its index documents locate them. */
import pLimit from 'p-limit';
import type { Envelope } from '../envelope.ts';
import { NotFoundError } from '../errors.ts';
import { type PipelineDeps, TUNING_DEFAULTS } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';
import { type ContentId, type IndexedPack, VaultLayout } from '../vault.ts';
import type { BlobLocation } from './read-blobs.ts';
import { readIndex } from './read-documents.ts';

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
