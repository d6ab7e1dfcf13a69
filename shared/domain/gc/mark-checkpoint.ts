/**
 * The mark phase's checkpoint: the blob ids of the manifest parts a garbage-collection run has read,
 * stored in the vault being collected (`gc/mark/<id>`), so that a run that runs out of time while it
 * reads the live set goes on in the next invocation without reading those parts again.
 *
 * Never stale, like the warm {@link PartBlobCache}: a part is content-addressed (its id is the
 * SHA-256 of its plaintext, checked when it was read), so `<planId>/<partId>` names one list of blob
 * ids for ever, and any run may use any checkpoint document. What is live is decided afresh by every
 * invocation (the records, the roots, the journal): a checkpoint only saves the reading of parts.
 * A document is sealed like every other (AEAD, associated data `strongbox:gc-mark:<id>`) and named
 * by the SHA-256 of its plaintext, checked when read.
 * @see ../../../docs/format.md#garbage-collection
 */
import type { Envelope } from '../envelope.ts';
import { isRetryable, NotFoundError } from '../errors.ts';
import type { VaultStore } from '../ports.ts';
import { type ContentId, contentIdOf, VAULT_FORMAT_VERSION } from '../vault.ts';
import { deleteKeys, listing } from './store.ts';

/** Prefix of the mark checkpoint documents in a vault. */
export const GC_MARK_PREFIX = 'gc/mark/';

/** Blob ids one checkpoint document holds at most before it is stored (32 bytes each: 8 MiB). */
export const MARK_DOCUMENT_IDS = 250_000;

/** Bytes of a blob id (SHA-256). */
const ID_BYTES = 32;

/** Associated data of a mark checkpoint document. */
function markAssociatedData(id: ContentId): string {
  return `strongbox:gc-mark:${id}`;
}

/** A checkpoint document's plaintext (JSON): each part's key and its distinct blob ids, 32 bytes each, base64. */
interface MarkDocument {
  version: number;
  type: 'gc-mark';
  parts: { key: string; blobs: string }[];
}

/**
 * The checkpoint documents of one vault, as a run reads and writes them. Not safe for two runs of one
 * vault at once — which the lease excludes — though even then a document only ever holds true facts.
 * @example
 * ```ts
 * const checkpoint = new MarkCheckpoint(vault, envelope);
 * const done = await checkpoint.apply(new Set(partKeys), (key, ids) => ids.forEach((id) => live.add(id)));
 * await checkpoint.record(partKey, blobIds); // a part read now
 * await checkpoint.flush(); // out of time: what was read is stored
 * await checkpoint.clear(); // the run completed
 * ```
 */
export class MarkCheckpoint {
  readonly #vault: VaultStore;
  readonly #envelope: Envelope;
  readonly #documentIds: number;
  #pending: { key: string; blobs: Buffer }[] = [];
  #pendingIds = 0;
  /** Keys of the documents this run found or wrote (what {@link clear} deletes). */
  readonly #documents = new Set<string>();
  /** Parts found in documents, and documents written, since it was made. */
  readonly stats = { partsFound: 0, documentsWritten: 0 };

  constructor(vault: VaultStore, envelope: Envelope, options: { documentIds?: number } = {}) {
    this.#vault = vault;
    this.#envelope = envelope;
    this.#documentIds = Math.max(1, options.documentIds ?? MARK_DOCUMENT_IDS);
  }

  /**
   * Read the vault's checkpoint documents one at a time and hand over the blob ids of each part of
   * `wanted` they hold (once per part). A document gone meanwhile or that does not open is skipped
   * (its parts are read again).
   * @returns the keys of the parts handed over.
   * @throws TransientError (retryable) when storage fails.
   */
  async apply(
    wanted: ReadonlySet<string>,
    add: (key: string, blobIds: readonly ContentId[]) => void,
  ): Promise<Set<string>> {
    const done = new Set<string>();
    for (const object of await listing(this.#vault, GC_MARK_PREFIX)) {
      this.#documents.add(object.key);
      const doc = await this.#read(object.key);
      for (const part of doc?.parts ?? []) {
        if (!wanted.has(part.key) || done.has(part.key)) continue;
        const packed = Buffer.from(part.blobs, 'base64');
        const ids: ContentId[] = new Array(Math.floor(packed.length / ID_BYTES));
        for (let i = 0; i < ids.length; i++)
          ids[i] = packed.toString('hex', i * ID_BYTES, (i + 1) * ID_BYTES);
        add(part.key, ids);
        done.add(part.key);
        this.stats.partsFound += 1;
      }
    }
    return done;
  }

  /**
   * Remember the distinct blob ids of part `key`, just read and checked against its id; a document
   * is stored once {@link MARK_DOCUMENT_IDS} ids wait.
   * @throws TransientError (retryable) when storing fails.
   */
  async record(key: string, blobIds: Iterable<ContentId>): Promise<void> {
    const ids = [...blobIds];
    const packed = Buffer.allocUnsafe(ids.length * ID_BYTES);
    ids.forEach((id, i) => {
      packed.write(id, i * ID_BYTES, ID_BYTES, 'hex');
    });
    this.#pending.push({ key, blobs: packed });
    this.#pendingIds += ids.length;
    if (this.#pendingIds >= this.#documentIds) await this.flush();
  }

  /** Store the parts remembered since the last document as one more document (none when empty). @throws TransientError (retryable) */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const parts = this.#pending.map((p) => ({ key: p.key, blobs: p.blobs.toString('base64') }));
    this.#pending = [];
    this.#pendingIds = 0;
    const doc: MarkDocument = { version: VAULT_FORMAT_VERSION, type: 'gc-mark', parts };
    const bytes = Buffer.from(JSON.stringify(doc));
    const id = contentIdOf(bytes);
    const key = `${GC_MARK_PREFIX}${id}`;
    await this.#vault.put(key, await this.#envelope.seal(bytes, markAssociatedData(id)));
    this.#documents.add(key);
    this.stats.documentsWritten += 1;
  }

  /** Delete the documents this run found or wrote (the run completed: nothing goes on from them). @returns how many. @throws TransientError (retryable) */
  async clear(): Promise<number> {
    const keys = [...this.#documents];
    this.#pending = [];
    this.#pendingIds = 0;
    await deleteKeys(this.#vault, keys);
    this.#documents.clear();
    return keys.length;
  }

  /** One document, checked against its id; undefined when gone or unreadable. */
  async #read(key: string): Promise<MarkDocument | undefined> {
    const id = key.slice(GC_MARK_PREFIX.length);
    try {
      const bytes = await this.#envelope.open(await this.#vault.get(key), markAssociatedData(id));
      if (contentIdOf(bytes) !== id) return undefined;
      const doc = JSON.parse(bytes.toString('utf8')) as MarkDocument;
      return doc.type === 'gc-mark' && Array.isArray(doc.parts) ? doc : undefined;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      if (isRetryable(error)) throw error;
      return undefined;
    }
  }
}
