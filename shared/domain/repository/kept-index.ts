/**
 * A vault index a warm container keeps from one invocation to the next, for the writers that
 * deduplicate against it (capture, snapshot partitions): loaded once (spilled to local disk past
 * the memory bound), then refreshed with the documents written since, instead of read whole on
 * every invocation. Obeys "nothing reuses blobs of marked packs" however long the container lives
 * (docs/format.md#garbage-collection).
 */
import type { PipelineDeps } from '../pipeline.ts';
import { tuningOf } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';
import { indexOptionsOf, VaultIndex } from './vault-index.ts';

/** Age after which a kept index is refreshed (the index documents written since loaded). */
export const KEPT_INDEX_MAX_AGE_MS = 60_000;

/**
 * The kept index per vault (per container: the container keeps its vaults). `marksReadAt` is when
 * the garbage-collection marks were last read for it.
 */
const kept = new WeakMap<VaultStore, { index: Promise<VaultIndex>; loadedAt: number; marksReadAt: number }>();

/**
 * `vault`'s index for one task. The marks are read on every call (one catalog query), before the
 * index is used, and every pack marked then or at an earlier call is left out of the kept index for
 * good. A pack is swept only once its mark is older than the grace period G, and its mark is deleted
 * with it; so when the previous read of the marks is G/2 old or more, a pack may have been marked
 * and swept in between unseen, and the index is loaded afresh (the old one's local disk freed once
 * nothing holds it). It is loaded afresh too when garbage collection rewrote an index document it
 * loaded (and so may have dropped packs it names), as {@link VaultIndex.shared} does. Its holders may {@link VaultIndex.addPack} the packs they index, never close it.
 * @throws what {@link VaultIndex.load} throws; a failed load is not kept.
 * @example
 * ```ts
 * const index = await keptIndex(deps, deps.vaults.primary);
 * if (!index.locate(blobId)) await packs.add(blobId, chunk);
 * ```
 */
export async function keptIndex(
  deps: Pick<
    PipelineDeps,
    | 'catalog'
    | 'clock'
    | 'envelope'
    | 'retry'
    | 'concurrency'
    | 'scratch'
    | 'indexMemoryBlobs'
    | 'gcGraceSeconds'
  >,
  vault: VaultStore,
): Promise<VaultIndex> {
  const graceMs = tuningOf(deps).gcGraceSeconds * 1000;
  const now = deps.clock.now().getTime();
  const marked = (await deps.catalog.listGcMarks(vault.bucket)).map((m) => m.packId);
  const load = () =>
    VaultIndex.load(vault, deps.envelope, {
      ...indexOptionsOf(deps),
      exclude: new Set(marked),
      cached: true,
    });
  let entry = kept.get(vault);
  if (entry && now - entry.marksReadAt >= graceMs / 2) entry = undefined;
  if (!entry) {
    entry = { index: load(), loadedAt: now, marksReadAt: now };
  } else {
    entry.marksReadAt = Math.max(entry.marksReadAt, now);
    if (now - entry.loadedAt > KEPT_INDEX_MAX_AGE_MS) {
      entry.loadedAt = now;
      entry.index = entry.index.then(async (i) => {
        i.exclude(marked); // before the refresh: it skips excluded packs
        // A document it loaded rewritten by garbage collection: load afresh, as a cold start would.
        return (await i.refreshUnlessRewritten()) ? i : load();
      });
    }
  }
  const current = entry;
  const pending = current.index;
  kept.set(vault, current);
  pending.catch(() => {
    if (kept.get(vault)?.index === pending) kept.delete(vault); // load again next time
  });
  const index = await pending;
  index.exclude(marked);
  return index;
}

/** Forget the kept index of `vault` (tests that swap a vault's contents behind its writers' back). */
export function forgetKeptIndex(vault: VaultStore): void {
  kept.delete(vault);
}
