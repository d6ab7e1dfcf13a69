/**
 * The blob ids of manifest parts a garbage-collection run has already read, kept for the next run
 * of the same container (a warm Lambda environment of the prune function): an incremental mark.
 * Every run reads every live snapshot's distinct parts, and under continuous protection nearly all of
 * them are the ones the last run read (a journal-built snapshot rewrites only the parts its changes
 * fall into), so a run reads and parses only the parts new since the last.
 *
 * Never stale: a part is content-addressed (its id is the SHA-256 of its plaintext, checked when it
 * was read), so `<planId>/<partId>` names one list of blob ids for ever. Bounded: at most `maxIds`
 * blob ids (32 bytes each) are held; past that a run reads the rest as before. A run's end drops the
 * parts it did not use (no longer live), so the cache follows the live set.
 * @see ../../../docs/format.md#garbage-collection
 */
import type { ContentId } from '../vault.ts';

/** Bytes of a blob id (SHA-256). */
const ID_BYTES = 32;

/**
 * Blob ids by manifest part, across the garbage-collection runs of one container. Not shared between
 * concurrent runs of different vaults in a way that matters: entries are content-addressed, so any
 * run may use any entry.
 * @example
 * ```ts
 * const cache = new PartBlobCache(1_000_000);
 * const run = cache.run();
 * const ids = run.get('photos', partId) ?? remember(run, 'photos', partId, await readBlobIds());
 * run.end(); // drop the parts this run did not use
 * ```
 */
export class PartBlobCache {
  readonly #maxIds: number;
  readonly #entries = new Map<string, Buffer>();
  #ids = 0;
  /** Parts found in the cache, and parts stored, since it was made (for the tests and the bench). */
  readonly stats = { hits: 0, stored: 0 };

  /** @param maxIds blob ids held at most (32 bytes each); 0 holds none. */
  constructor(maxIds: number) {
    this.#maxIds = Math.max(0, maxIds);
  }

  /** Blob ids held. */
  get size(): number {
    return this.#ids;
  }

  /** One run's view: what it gets and stores counts as used; {@link PartBlobRun.end} drops the rest. */
  run(): PartBlobRun {
    const used = new Set<string>();
    return {
      get: (planId, partId) => {
        const key = `${planId}/${partId}`;
        const packed = this.#entries.get(key);
        if (!packed) return undefined;
        used.add(key);
        this.stats.hits += 1;
        const ids: ContentId[] = new Array(packed.length / ID_BYTES);
        for (let i = 0; i < ids.length; i++)
          ids[i] = packed.toString('hex', i * ID_BYTES, (i + 1) * ID_BYTES) as ContentId;
        return ids;
      },
      set: (planId, partId, blobIds) => {
        const key = `${planId}/${partId}`;
        used.add(key);
        if (this.#entries.has(key) || this.#ids + blobIds.length > this.#maxIds) return;
        const packed = Buffer.allocUnsafe(blobIds.length * ID_BYTES);
        blobIds.forEach((id, i) => {
          packed.write(id, i * ID_BYTES, ID_BYTES, 'hex');
        });
        this.#entries.set(key, packed);
        this.#ids += blobIds.length;
        this.stats.stored += 1;
      },
      end: () => {
        for (const [key, packed] of this.#entries) {
          if (used.has(key)) continue;
          this.#entries.delete(key);
          this.#ids -= packed.length / ID_BYTES;
        }
      },
    };
  }
}

/** A run's use of a {@link PartBlobCache}. */
export interface PartBlobRun {
  /** The blob ids part `partId` of plan `planId` names (with repeats, in entry order), if held. */
  get(planId: string, partId: ContentId): ContentId[] | undefined;
  /** Remember the blob ids of a part just read and checked against its id (dropped past the bound). */
  set(planId: string, partId: ContentId, blobIds: readonly ContentId[]): void;
  /** The run is over (completed or not): drop the parts it neither got nor set. */
  end(): void;
}
