/**
 * A garbage-collection run of one vault: read what it needs (the live set, the marks, the index
 * documents, the listings), plan (plan.ts, pure), execute (execute.ts). A dry run reads and plans
 * only ({@link planGcRun}).
 *
 * Safety (docs/format.md#read-and-write-ordering, docs/format.md#garbage-collection):
 * - the live set is every COMMITTED snapshot of EVERY plan sharing the vault: their roots, the parts
 *   the roots name (and the parts the finished partitions and checkpoints of a running or retryable
 *   snapshot wrote: see retry.ts), and the blobs the parts name. A pack is unreferenced when none of
 *   its blobs is live;
 * - the catalog is not the only authority: a root is deleted only when a FORGOTTEN record (a
 *   tombstone) names it, or when the record of its snapshot names another root (the losing root of
 *   two sealers). A root whose snapshot the catalog does not know (a state table restored to an
 *   earlier point) is kept and live, with its parts and blobs, and reported (`rootsUnknown`) until
 *   `strongbox repair catalog` recreates its record;
 * - an unreferenced pack is first MARKED (in the catalog); a later run deletes it only when the mark
 *   is older than `gcGraceSeconds` and the pack is still unreferenced; a pack referenced again in
 *   between is RESCUED (its mark removed). Snapshots never reuse blobs of marked packs, so only a
 *   snapshot that started before the mark can reference them, and it ends within the grace period;
 * - an index document never names a deleted pack: indexes are rewritten (the new one first, then the
 *   old one deleted) or deleted BEFORE their packs are deleted, so a crash in between leaves packs no
 *   index names, which a later run deletes as orphans (through the same marks).
 *
 * @see ../../../docs/format.md#garbage-collection
 */
import pLimit from 'p-limit';
import { isRetryable, NotFoundError, reasonOf } from '../errors.ts';
import { type PipelineDeps, tuningOf, vaultIn } from '../pipeline.ts';
import type { ScratchSpace, StoredObject, VaultStore } from '../ports.ts';
import { type PackTable, tableOf } from '../repository/pack-table.ts';
import { readIndex } from '../repository/read-documents.ts';
import { SpilledIndex } from '../repository/spilled-index.ts';
import { type ContentId, VaultLayout } from '../vault.ts';
import { executeGc } from './execute.ts';
import { type LiveSet, liveSet, type MarkOptions, runIdSet } from './live-set.ts';
import { keptBlobs, planGc, settleOrphans } from './plan.ts';
import { emptyGcResult, type VaultGcResult } from './result.ts';
import { listing, readPackHeaders } from './store.ts';
import type { GcIndexDocument, GcInputs, GcOptions, GcPlan } from './types.ts';

/** The deployment's garbage-collection settings (`gcGraceSeconds`, default a day; `gcMaxUnusedPercent`, default 5). */
export function gcOptions(deps: PipelineDeps): GcOptions {
  const t = tuningOf(deps);
  return {
    graceSeconds: t.gcGraceSeconds,
    maxUnusedPercent: t.gcMaxUnusedPercent,
    smallPacks: {
      packBytes: t.gcSmallPackBytes,
      minPacks: t.gcConsolidateMinPacks,
      maxPacks: t.gcConsolidateMaxPacks,
    },
  };
}

/**
 * Collect one vault: read its inputs ({@link readGcInputs}), plan (`planGc`), execute (`executeGc`).
 * With `mark` (a checkpoint and a time budget), the live set's parts already read by earlier
 * invocations come from the checkpoint; when time runs low before every live part is read, the run
 * stores what it read and returns `continued` without planning anything (the caller goes on in
 * another invocation); a complete run deletes the checkpoint.
 * In two phases: MARK every pack none of whose blobs is live (and every pack no index names), SWEEP the packs marked longer than the grace period that are
 * still unreferenced, RESCUE (unmark) marked packs referenced again, and REPACK partly live packs
 * whose unreferenced bytes exceed `gcMaxUnusedPercent`.
 *
 * Order: read the marks, load the index documents, THEN list the packs (so every pack a loaded index
 * names was stored before the listing); delete dead roots and parts (older than the grace period by
 * last-modified); repack (new packs, then the index naming them); write new marks, remove rescued
 * ones; read the marks again (a copy task may have rescued one meanwhile); rewrite or delete the
 * index documents naming packs to drop (new index first); delete the packs; then their marks.
 *
 * Why no live snapshot loses a blob (the rescue argument), with G = `gcGraceSeconds` longer than the
 * longest snapshot partition (from its index load to its recorded summary) plus one GC run:
 * - a pack is deleted only if its mark M was written at least G before this run started, and none of
 *   its blobs is in the live set read after that start (every COMMITTED manifest, and the finished
 *   partitions and checkpoints of RUNNING and retryable FAILED snapshots);
 * - a snapshot partition reads the marks before it loads the index, and does not reuse a blob of a
 *   marked pack (it stores the blob again). So a partition that reuses a blob of the pack read the
 *   marks before M was written: it started before M and finished (recorded its summary, whose parts
 *   are then live) before M + G, i.e. before this run read the live set. Its blob is then live, and
 *   the pack is rescued instead of deleted — or its snapshot failed, and nothing needs the blob;
 * - a repacked pack keeps, in the index, only its unreferenced blobs (the live ones are found in the
 *   new packs alone, so no reader is sent to it), and is marked: a dead pack like any other. Its
 *   unreferenced blobs stay indexed until the sweep, because a partition that loaded the index
 *   before may reference one (dropping them at once would leave that snapshot's blob in no index);
 * - a marked pack no index names (a task crashed before its index) has its header read before it is
 *   deleted: if a live blob of it is located in no other kept pack, it is rescued and re-indexed;
 * - a copy task holds the region's vault (`Catalog.acquireVaultHold`) from before it rescues
 *   (unmarks) its snapshot's packs until after its COPIED state, and no run overlaps a hold (the
 *   lease, see `collectRegion` in prune.ts): a run that starts after the hold reads a live set holding the
 *   snapshot, so nothing the copy found in the region and relied on is dropped or deleted. The marks
 *   are still read again just before index documents are rewritten (a second guard).
 * - two runs of one vault never overlap (a lease in the catalog, see `collectRegion` in prune.ts): a run's index
 *   rewrite computed from a stale read could otherwise bring back an entry the other dropped.
 * Readers (restores, copies, verification) locate blobs with their own index load: a dropped pack
 * stays stored for at least G after it left the index.
 *
 * @throws TransientError (retryable) on storage or catalog failures; every step is idempotent.
 * @see ../../../docs/format.md#garbage-collection
 */
export async function collectGarbage(
  deps: PipelineDeps,
  vault: VaultStore,
  startedMs: number,
  mark: MarkOptions = {},
): Promise<VaultGcResult> {
  const live = await liveSet(deps, vault, mark);
  if (live.paused) {
    // Out of time while marking: what was read is in the checkpoint; nothing is planned on a part
    // of the live set. The caller sends the task again.
    live.close?.();
    return {
      ...emptyGcResult(),
      blobsLive: live.blobs.size,
      partsLive: live.parts.size,
      continued: live.paused,
    };
  }
  const inputs = await readGcInputsAfter(deps, vault, startedMs, live);
  let result: VaultGcResult;
  try {
    result = await executeGc(deps, vault, planGc(inputs, gcOptions(deps)));
  } finally {
    inputs.close?.();
  }
  // A complete run needs no checkpoint any more (a deferred one leaves it to the next run).
  if (!result.deferred) await mark.checkpoint?.clear();
  return result;
}

/**
 * What a garbage-collection run of `region`'s vault would do now, without doing it (what
 * `strongbox prune --dry-run` prints, with `formatGcPlan`). Reads only — the live set, the marks,
 * the index documents, the listings, and the headers of the old-marked orphans (settled as if every
 * planned repack succeeds) — and takes no lease, so a run or a copy going on meanwhile may make the
 * plan stale; the run itself plans again. The plan's steps and stats are its own; its `indexes`,
 * `keptPacks` and `liveBlobs` may have been read from local disk that is freed when this returns.
 * @throws NotFoundError (not retryable) when no vault is configured in `region`.
 * @throws TransientError (retryable) on storage or catalog failures.
 * @see ../../../docs/format.md#garbage-collection
 */
export async function planGcRun(deps: PipelineDeps, region: string): Promise<GcPlan> {
  const vault = vaultIn(deps.vaults, region);
  const inputs = await readGcInputs(deps, vault, deps.clock.now().getTime());
  try {
    const plan = planGc(inputs, gcOptions(deps));
    if (plan.orphans.length === 0) return plan;
    const headers = await readPackHeaders(vault, deps.envelope, plan.orphans);
    const moved = new Map(plan.repack.map((r) => [r.pack.packId, new Set(r.live.map((b) => b.blobId))]));
    const kept = runIdSet(deps);
    try {
      keptBlobs(
        plan,
        moved,
        [...moved.values()].flatMap((blobs) => [...blobs]),
        kept,
      );
      return { ...plan, settledOrphans: settleOrphans(plan, kept, headers) };
    } finally {
      kept.close();
    }
  } finally {
    inputs.close?.();
  }
}

/**
 * Read what a run plans from, in this order: the live set (`startedMs` was taken before it: a mark
 * older than the grace period at that time was already old when the live set was read), the marks,
 * the index documents, THEN `packs/` (so every pack a read index names was stored before the
 * listing), `manifests/` and — unless the live set is incomplete — `parts/`. An index document
 * deleted meanwhile is skipped; one that does not read defers the packs (`unreadableIndex`).
 * @throws TransientError (retryable) on storage or catalog failures.
 */
export async function readGcInputs(
  deps: PipelineDeps,
  vault: VaultStore,
  startedMs: number,
): Promise<GcInputs> {
  return readGcInputsAfter(deps, vault, startedMs, await liveSet(deps, vault));
}

/** {@link readGcInputs} once the live set `live` is read (closed with the inputs, or on failure). */
async function readGcInputsAfter(
  deps: PipelineDeps,
  vault: VaultStore,
  startedMs: number,
  live: LiveSet,
): Promise<GcInputs> {
  let indexes: GcIndexDocument[];
  let unreadableIndex: string | undefined;
  let spilled: SpilledIndex | undefined;
  const close = () => {
    live.close?.();
    spilled?.close();
  };
  try {
    const marks = new Map((await deps.catalog.listGcMarks(vault.bucket)).map((m) => [m.packId, m.markedAt]));
    ({ indexes, unreadableIndex, spilled } = await readIndexes(deps, vault));
    return { ...(await readListings(vault, live, marks, indexes, unreadableIndex)), startedMs, close };
  } catch (error) {
    close();
    throw error;
  }
}

/** The rest of a run's inputs: `packs/`, `manifests/` and (unless the live set is incomplete) `parts/`, listed last. */
async function readListings(
  vault: VaultStore,
  live: LiveSet,
  marks: ReadonlyMap<ContentId, string>,
  indexes: readonly GcIndexDocument[],
  unreadableIndex: string | undefined,
): Promise<Omit<GcInputs, 'startedMs' | 'close'>> {
  const packObjects = new Map<ContentId, StoredObject>();
  for (const o of await listing(vault, VaultLayout.packsPrefix)) {
    const id = VaultLayout.packIdOf(o.key);
    if (id) packObjects.set(id, o);
  }
  const rootObjects = (await listing(vault, 'manifests/')).filter((o) => VaultLayout.manifestIdOf(o.key));
  const partObjects = live.incomplete
    ? undefined
    : (await listing(vault, 'parts/')).filter((o) => VaultLayout.partIdOf(o.key));
  return {
    vault: { region: vault.region, bucket: vault.bucket },
    live,
    marks,
    indexes,
    ...(unreadableIndex ? { unreadableIndex } : {}),
    packObjects,
    rootObjects,
    ...(partObjects ? { partObjects } : {}),
  };
}

/**
 * List and read the index documents (in parallel): those that read, and why the first that did not.
 * Past `indexMemoryBlobs` blobs read (with scratch space), their packs move to local disk (a
 * {@link SpilledIndex}: each document's packs become views whose blobs are read from disk when
 * walked), so the run's memory does not grow with the vault's index (docs/format.md#garbage-collection).
 */
async function readIndexes(
  deps: PipelineDeps,
  vault: VaultStore,
): Promise<{ indexes: GcIndexDocument[]; unreadableIndex?: string; spilled?: SpilledIndex }> {
  const objects = new Map<ContentId, StoredObject>();
  for (const o of await listing(vault, VaultLayout.indexPrefix)) {
    const id = VaultLayout.indexIdOf(o.key);
    if (id) objects.set(id, o);
  }
  const indexes: GcIndexDocument[] = [];
  let unreadableIndex: string | undefined;
  const held = new HeldPacks(deps.scratch, tuningOf(deps).indexMemoryBlobs);
  const limit = pLimit(tuningOf(deps).concurrency);
  const reads = Promise.all(
    [...objects].map(([indexId, object]) =>
      limit(async () => {
        try {
          const read = await readIndex(vault, deps.envelope, indexId);
          const table = tableOf(read);
          const doc: GcIndexDocument = {
            indexId,
            object,
            packs: read.packs,
            ...(table === undefined ? {} : { blobCount: table.blobCount }),
          };
          indexes.push(doc);
          if (table) held.hold(doc, table);
        } catch (error) {
          if (error instanceof NotFoundError) return; // deleted meanwhile (another prune)
          if (isRetryable(error)) throw error;
          // Its packs would look like orphans: delete no pack until it is repaired.
          unreadableIndex ??= `index ${indexId} is unreadable: ${reasonOf(error)}`;
        }
      }),
    ),
  );
  try {
    await reads;
  } catch (error) {
    held.spilled?.close();
    throw error;
  }
  const { spilled } = held;
  return { indexes, ...(unreadableIndex ? { unreadableIndex } : {}), ...(spilled ? { spilled } : {}) };
}

/**
 * The packs of the index documents a run read: in their {@link PackTable}s while the run has read
 * at most `memoryBlobs` blobs, then (with scratch space) every document's packs moved to one
 * {@link SpilledIndex} on local disk, as views of its rows in the order added.
 */
class HeldPacks {
  spilled: SpilledIndex | undefined;
  readonly #scratch: ScratchSpace | undefined;
  readonly #memoryBlobs: number;
  readonly #tables = new Map<GcIndexDocument, PackTable>();
  #blobs = 0;

  constructor(scratch: ScratchSpace | undefined, memoryBlobs: number) {
    this.#scratch = scratch;
    this.#memoryBlobs = memoryBlobs;
  }

  /** Hold `doc`'s packs (`table`): in memory, or on disk (its `packs` replaced by views). */
  hold(doc: GcIndexDocument, table: PackTable): void {
    this.#blobs += table.blobCount;
    if (!this.spilled && this.#scratch && this.#blobs > this.#memoryBlobs) {
      this.spilled = new SpilledIndex(this.#scratch);
      for (const [earlier, its] of this.#tables) this.#spill(earlier, its, this.spilled);
      this.#tables.clear();
    }
    if (this.spilled) this.#spill(doc, table, this.spilled);
    else this.#tables.set(doc, table);
  }

  #spill(doc: GcIndexDocument, table: PackTable, to: SpilledIndex): void {
    const first = to.packCount;
    to.add(table, () => true);
    doc.packs = to.packsAt(first, to.packCount);
  }
}
