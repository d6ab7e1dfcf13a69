/**
 * The live set: what the vault being collected must keep — every COMMITTED snapshot of EVERY plan
 * sharing the vault (their roots, the parts the roots name, and the blobs the parts name), the parts
 * and blobs of the finished partitions and checkpoints of running or retryable snapshots (see
 * retry.ts), the blobs of recently captured journal entries, and every root whose snapshot the
 * catalog does not know. Read-only: garbage collection plans from it (plan.ts).
 * @see ../../../docs/format.md#garbage-collection
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { isRetryable, reasonOf } from '../errors.ts';
import { JOURNAL_MARGIN_MS } from '../journal-expiry.ts';
import { type PipelineDeps, tuningOf } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';
import type { PlanRecord, SnapshotRecord } from '../records.ts';
import { type ContentIdSet, SpillingIdSet } from '../repository/blob-id-set.ts';
import { readManifest, readPart } from '../repository/read-documents.ts';
import { keepsWork } from '../retry.ts';
import { type ContentId, type Manifest, VaultLayout } from '../vault.ts';
import type { MarkCheckpoint } from './mark-checkpoint.ts';
import type { PartBlobRun } from './part-cache.ts';
import { absentEverywhere, allVaults, listing } from './store.ts';

/** What the vault being collected must keep, from the catalog, its listing and the primary's documents. */
export interface LiveSet {
  plans: PlanRecord[];
  /**
   * Keys of the roots the vault keeps: those of COMMITTED snapshots, of snapshots the catalog does
   * not know ({@link unknownRoots}), and of RUNNING or FAILED snapshots (a sealer's root awaiting
   * its commit).
   */
  roots: Set<string>;
  /**
   * Keys of the roots garbage collection may delete (once older than the grace period): those a
   * FORGOTTEN record names, and losing roots of two sealers (their snapshot's record names another);
   * each with why, for the plan.
   */
  garbageRoots: Map<string, string>;
  /**
   * Keys of the roots no catalog record knows the snapshot of, or of an earlier committed run of a
   * snapshot (see {@link VaultGcResult.rootsUnknown}); also in {@link roots}.
   */
  unknownRoots: Set<string>;
  /** The FORGOTTEN records of every plan: deleted once no vault holds their root. */
  tombstones: SnapshotRecord[];
  /** Keys of the parts live roots name, and of the parts running or retryable snapshots' partitions wrote. */
  parts: Set<string>;
  /** The blobs those parts (and recent journal entries) name, held compactly ({@link BlobIdSet}). */
  blobs: ContentIdSet;
  /** Why the live set is incomplete (a live root or part could not be read); parts and packs then stay. */
  incomplete?: string;
  /**
   * Set when the mark stopped for lack of time ({@link MarkOptions.outOfTime}) before every live part
   * was read: how far it got. What it read is in the checkpoint; the run plans nothing and goes on
   * in another invocation.
   */
  paused?: string;
  /** Frees the local disk {@link blobs} spilled to (once the run is done with it). */
  close?: () => void;
}

/** How a run's mark may be spread over invocations (docs/format.md#garbage-collection, step 2). */
export interface MarkOptions {
  /** The parts earlier invocations read, and where this one stores what it reads. */
  checkpoint?: MarkCheckpoint;
  /**
   * Whether the invocation should stop reading parts now (its time runs low). At least one part is
   * read by each invocation, so a run always gets further.
   */
  outOfTime?: () => boolean;
}

/**
 * A set of blob ids for a run: in memory up to `indexMemoryBlobs` (the bound the vault index
 * holds to), then moving to the deployment's scratch space, so garbage collection's memory does
 * not grow with the live set (docs/format.md#garbage-collection). Close it when done.
 */
export function runIdSet(deps: PipelineDeps): SpillingIdSet {
  return new SpillingIdSet(deps.scratch, tuningOf(deps).indexMemoryBlobs);
}

/**
 * Mark: every COMMITTED snapshot of every plan, and every root `vault` holds that no tombstone
 * condemns. The vault's `manifests/` is listed; a root no record names by its manifest id is read
 * (checked against its id) to learn its snapshot: no record of that snapshot → unknown, kept and
 * live; a COMMITTED or FORGOTTEN record naming another root → a losing sealer's root, garbage; a
 * RUNNING or FAILED record → kept and live. Roots and parts are read from the primary (which holds
 * every committed snapshot), falling back to the copy vaults; each distinct part is read once, since
 * consecutive snapshots share their unchanged parts.
 * @throws TransientError (retryable) on storage or catalog failures.
 */
export async function liveSet(
  deps: PipelineDeps,
  vault: VaultStore,
  mark: MarkOptions = {},
): Promise<LiveSet> {
  const { catalog } = deps;
  const plans = await catalog.listPlans();
  const blobs = runIdSet(deps);
  const live: LiveSet = {
    plans,
    roots: new Set(),
    garbageRoots: new Map(),
    unknownRoots: new Set(),
    tombstones: [],
    parts: new Set(),
    blobs,
    close: () => blobs.close(),
  };
  try {
    return await readLiveSet(deps, vault, live, mark);
  } catch (error) {
    blobs.close();
    throw error;
  }
}

/** {@link liveSet}'s reads, into `live`. */
async function readLiveSet(
  deps: PipelineDeps,
  vault: VaultStore,
  live: LiveSet,
  mark: MarkOptions,
): Promise<LiveSet> {
  const plans = live.plans;
  const partsToRead = new Map<string, { planId: string; partId: ContentId }>();
  /** Keys of parts named by uncommitted work (summaries, checkpoints); those a live root names are removed. */
  const workOnly = new Set<string>();
  const limit = pLimit(tuningOf(deps).concurrency);
  // Every root the vault holds, and the plans they belong to (a plan may be gone from the catalog).
  const listedRoots = new Map<string, { planId: string; manifestId: ContentId }>();
  for (const o of await listing(vault, 'manifests/')) {
    const manifestId = VaultLayout.manifestIdOf(o.key);
    if (manifestId) listedRoots.set(o.key, { planId: o.key.split('/')[1] as string, manifestId });
  }
  const planIds = new Set([...plans.map((p) => p.id), ...[...listedRoots.values()].map((r) => r.planId)]);
  const { committed, byRoot, bySnapshot } = await readRecords(deps, planIds, live, workOnly, partsToRead);
  await addJournalBlobs(deps, committed, live);
  // Roots no COMMITTED record names: a tombstone condemns its own; any other is read to learn whose it is.
  const unnamed: { key: string; planId: string; manifestId: ContentId }[] = [];
  for (const [key, root] of listedRoots) {
    if (live.roots.has(key)) continue;
    const record = byRoot.get(key);
    if (record?.status === 'FORGOTTEN') live.garbageRoots.set(key, tombstoneNames(record));
    else unnamed.push({ key, ...root });
  }
  const unnamedRoots = await Promise.all(
    unnamed.map((r) =>
      limit(async () => ({
        ...r,
        read: await fromAnyVault(deps, `manifest root ${r.key}`, (from) =>
          readManifest(from, deps.envelope, r.planId, r.manifestId),
        ),
      })),
    ),
  );
  const keptManifests: Manifest[] = [];
  for (const root of unnamedRoots) {
    const kept = await classifyUnnamedRoot(deps, live, bySnapshot, root);
    if (kept) keptManifests.push(kept);
  }
  const roots = await Promise.all(
    committed.map((s) =>
      limit(() =>
        fromAnyVault(deps, `manifest of ${s.planId}/${s.snapshotId}`, (vault) =>
          readManifest(vault, deps.envelope, s.planId, s.manifestId as string),
        ),
      ),
    ),
  );
  for (const root of [...roots, ...keptManifests.map((value) => ({ ok: true as const, value }))]) {
    if (!root.ok) {
      live.incomplete ??= root.reason;
      continue;
    }
    for (const ref of root.value.parts) {
      const key = VaultLayout.partKey(root.value.planId, ref.partId);
      live.parts.add(key);
      workOnly.delete(key);
      partsToRead.set(key, { planId: root.value.planId, partId: ref.partId });
    }
  }
  const cached = deps.partBlobCache?.run();
  await addPartBlobs(deps, live, partsToRead, workOnly, limit, cached, mark);
  // Every live part was asked for: the cache drops the parts no longer live.
  if (!live.paused) cached?.end();
  return live;
}

/**
 * Read each distinct live part once (from any vault) and add the blobs it names. A part that does
 * not read makes the live set incomplete — unless only uncommitted work names it and no vault holds it.
 * With `cached` (the container's {@link PartBlobCache}), a part an earlier run read is not read
 * again: its blob ids come from the cache (content-addressed, so never stale); so with the mark's
 * checkpoint, which also stores what this invocation reads. Once `mark.outOfTime` says so, no
 * further part is read: the live set is {@link LiveSet.paused}, and what was read is stored.
 */
async function addPartBlobs(
  deps: PipelineDeps,
  live: LiveSet,
  partsToRead: ReadonlyMap<string, { planId: string; partId: ContentId }>,
  workOnly: ReadonlySet<string>,
  limit: LimitFunction,
  cached: PartBlobRun | undefined,
  mark: MarkOptions,
): Promise<void> {
  const { checkpoint, outOfTime } = mark;
  const fromCheckpoint = checkpoint
    ? await checkpoint.apply(new Set(partsToRead.keys()), (key, blobIds) => {
        for (const blobId of blobIds) live.blobs.add(blobId);
        const part = partsToRead.get(key);
        if (part) cached?.set(part.planId, part.partId, blobIds);
      })
    : new Set<string>();
  let read = 0;
  let skipped = 0;
  await Promise.all(
    [...partsToRead.entries()].map(([key, { planId, partId }]) =>
      limit(async () => {
        if (fromCheckpoint.has(key)) return;
        const known = cached?.get(planId, partId);
        if (known) {
          for (const blobId of known) live.blobs.add(blobId);
          return;
        }
        if (read > 0 && outOfTime?.()) {
          skipped += 1;
          return;
        }
        const blobIds = await readPartBlobs(deps, live, key, { planId, partId }, workOnly);
        read += 1;
        if (!blobIds) return;
        for (const blobId of blobIds) live.blobs.add(blobId);
        cached?.set(planId, partId, [...blobIds]);
        await checkpoint?.record(key, blobIds);
      }),
    ),
  );
  if (skipped === 0) return;
  live.paused = `mark: ${partsToRead.size - skipped} of ${partsToRead.size} live parts read (${fromCheckpoint.size} from the checkpoint, ${read} now); the rest in the next invocation`;
  await checkpoint?.flush();
}

/**
 * The distinct blob ids of live part `key` (read from any vault); undefined when it does not read:
 * the live set is then incomplete — unless only uncommitted work names it and no vault holds it.
 */
async function readPartBlobs(
  deps: PipelineDeps,
  live: LiveSet,
  key: string,
  { planId, partId }: { planId: string; partId: ContentId },
  workOnly: ReadonlySet<string>,
): Promise<Set<ContentId> | undefined> {
  const part = await fromAnyVault(deps, `manifest part ${planId}/${partId}`, (vault) =>
    readPart(vault, deps.envelope, planId, partId),
  );
  if (part.ok) {
    const blobIds = new Set<ContentId>();
    for (const entry of part.value.entries) for (const blobId of entry.blobs) blobIds.add(blobId);
    return blobIds;
  }
  // A part only uncommitted work names, and no vault holds, is lost work: the seal never names
  // it (its partition runs again), so none of its blobs needs keeping and the run goes on.
  if (!(workOnly.has(key) && (await absentEverywhere(deps, key)))) live.incomplete ??= part.reason;
  return undefined;
}

/**
 * The snapshot records of `planIds`: COMMITTED ones make their roots live; FORGOTTEN ones are the
 * tombstones; the work of running or retryable ones makes its parts live ({@link addWorkParts}).
 */
async function readRecords(
  deps: PipelineDeps,
  planIds: Iterable<string>,
  live: LiveSet,
  workOnly: Set<string>,
  partsToRead: Map<string, { planId: string; partId: ContentId }>,
): Promise<{
  committed: SnapshotRecord[];
  /** Records that name a root (COMMITTED, FORGOTTEN), by root key. */
  byRoot: Map<string, SnapshotRecord>;
  /** Every record, by `<planId>/<snapshotId>`. */
  bySnapshot: Map<string, SnapshotRecord>;
}> {
  const committed: SnapshotRecord[] = [];
  const now = deps.clock.now();
  const byRoot = new Map<string, SnapshotRecord>();
  const bySnapshot = new Map<string, SnapshotRecord>();
  for (const planId of planIds) {
    const snapshots = await deps.catalog.listSnapshots(planId);
    for (const s of snapshots) {
      bySnapshot.set(`${planId}/${s.snapshotId}`, s);
      if (s.manifestId) byRoot.set(VaultLayout.manifestKey(planId, s.manifestId), s);
      if (s.status === 'FORGOTTEN') live.tombstones.push(s);
      if (s.status === 'COMMITTED' && s.manifestId) {
        committed.push(s);
        live.roots.add(VaultLayout.manifestKey(planId, s.manifestId));
      } else if (keepsWork(s, snapshots, now)) {
        await addWorkParts(deps, planId, s, live, workOnly, partsToRead);
      }
    }
  }
  return { committed, byRoot, bySnapshot };
}

/**
 * Parts a finished partition wrote, or a partition continued across invocations recorded in its
 * checkpoint (with the progress part of an object whose read paused), are named by no root until
 * the snapshot commits; they and their blobs are live while the snapshot runs or may be retried
 * (FAILED, not abandoned) — the partition may have reused blobs of marked packs: the rescue.
 */
async function addWorkParts(
  deps: PipelineDeps,
  planId: string,
  s: SnapshotRecord,
  live: LiveSet,
  workOnly: Set<string>,
  partsToRead: Map<string, { planId: string; partId: ContentId }>,
): Promise<void> {
  const work = [
    ...(await deps.catalog.listPartitions(planId, s.snapshotId)),
    ...(await deps.catalog.listPartitionCheckpoints(planId, s.snapshotId)),
  ];
  // A paused object read's progress part (and so its blobs so far) is live with its checkpoint.
  for (const ref of work.flatMap((w) =>
    'object' in w && w.object ? [...w.parts, w.object.part] : w.parts,
  )) {
    const key = VaultLayout.partKey(planId, ref.partId);
    live.parts.add(key);
    workOnly.add(key);
    partsToRead.set(key, { planId, partId: ref.partId });
  }
}

/**
 * Under continuous protection, captured versions are restorable to any moment since the oldest
 * snapshot (point-in-time restores read them from the journal), and the next journal-built snapshot
 * names the ones captured since the newest: their blobs are live until then.
 */
async function addJournalBlobs(
  deps: PipelineDeps,
  committed: readonly SnapshotRecord[],
  live: LiveSet,
): Promise<void> {
  for (const plan of live.plans) {
    const oldest = committed.find((s) => s.planId === plan.id && s.time);
    const after = oldest
      ? new Date(Date.parse(oldest.time as string) - JOURNAL_MARGIN_MS).toISOString()
      : undefined;
    for (const entry of await deps.catalog.listJournal(plan.id, after ? { capturedAfter: after } : {})) {
      for (const blobId of entry.blobs ?? []) live.blobs.add(blobId);
    }
  }
}

/**
 * A root no COMMITTED or FORGOTTEN record names by its manifest id, read to learn its snapshot:
 * garbage (its snapshot's record is FORGOTTEN, or COMMITTED naming another root that names every
 * part this one names: a losing sealer's), or kept and live (unknown, or a sealer's root awaiting
 * its commit). Unreadable: kept, unknown, and the live set incomplete.
 * @returns the root when it is kept and was read (its parts are live).
 */
async function classifyUnnamedRoot(
  deps: PipelineDeps,
  live: LiveSet,
  bySnapshot: ReadonlyMap<string, SnapshotRecord>,
  { key, planId, read }: { key: string; planId: string; read: Read<Manifest> },
): Promise<Manifest | undefined> {
  if (!read.ok) {
    // Whose it is cannot be told: kept, and the parts and packs with it (nothing is deleted blind).
    live.roots.add(key);
    live.unknownRoots.add(key);
    live.incomplete ??= read.reason;
    return undefined;
  }
  const record = bySnapshot.get(`${planId}/${read.value.snapshotId}`);
  if (record?.status === 'FORGOTTEN') {
    live.garbageRoots.set(key, tombstoneNames(record));
    return undefined;
  }
  if (record?.status === 'COMMITTED' && (await namesNothingElse(deps, read.value, record))) {
    // its snapshot's record names another root: a losing sealer's
    live.garbageRoots.set(
      key,
      `a losing sealer's root: the record of ${planId}/${record.snapshotId} names manifest ${record.manifestId}`,
    );
    return undefined;
  }
  live.roots.add(key);
  // No record, or a COMMITTED one naming another root that lacks some of this root's parts: the
  // root of an earlier committed run of that snapshot, whose record a state-table restore set back
  // (the snapshot then ran again): kept with what it holds, and reported.
  if (record?.status !== 'RUNNING' && record?.status !== 'FAILED') live.unknownRoots.add(key);
  return read.value;
}

/** Why a root a FORGOTTEN record names is garbage. */
function tombstoneNames(record: SnapshotRecord): string {
  return `a tombstone names it: ${record.planId}/${record.snapshotId} was forgotten${record.forgottenAt ? ` at ${record.forgottenAt}` : ''}`;
}

type Read<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Whether deleting `root`, which its snapshot's COMMITTED `record` does not name, loses nothing:
 * every part it names is named by the record's root too. Two sealers of one run seal the same
 * partitions, so a losing sealer's root names nothing else; a root committed by an earlier run of
 * the snapshot, whose record a state-table restore set back to RUNNING before the snapshot ran
 * again, may hold other versions, and is kept. False when the record's root cannot be read (delete
 * less, never more).
 * @throws TransientError (retryable) on storage failures.
 */
async function namesNothingElse(
  deps: PipelineDeps,
  root: Manifest,
  record: SnapshotRecord,
): Promise<boolean> {
  if (!record.manifestId) return false;
  const named = await fromAnyVault(deps, `manifest of ${record.planId}/${record.snapshotId}`, (vault) =>
    readManifest(vault, deps.envelope, record.planId, record.manifestId as string),
  );
  if (!named.ok) return false;
  const parts = new Set(named.value.parts.map((p) => p.partId));
  return root.parts.every((p) => parts.has(p.partId));
}

/**
 * Read a document from the primary, else from each copy vault in turn. Retryable failures are thrown;
 * when no vault gives it, the reason is returned (the caller then deletes less, never more).
 */
async function fromAnyVault<T>(
  deps: PipelineDeps,
  what: string,
  read: (vault: VaultStore) => Promise<T>,
): Promise<Read<T>> {
  let reason = '';
  for (const vault of allVaults(deps)) {
    try {
      return { ok: true, value: await read(vault) };
    } catch (error) {
      if (isRetryable(error)) throw error;
      reason ||= `${what} is unreadable: ${reasonOf(error)}`;
    }
  }
  return { ok: false, reason };
}
