/**
 * Prune: apply a plan's retention and forget the snapshots it drops, then fan garbage collection out
 * to one task per region; each collects its own vault with two-phase mark and sweep (with rescue)
 * and repacks packs that are mostly unreferenced.
 *
 * Safety (docs/format.md#read-and-write-ordering, docs/format.md#garbage-collection):
 * - the newest committed snapshot of a plan, the parent of a running snapshot, a snapshot that
 *   failed verification and a snapshot still running are never forgotten;
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
 * @see ../../docs/format.md#garbage-collection
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { isRetryable, NotFoundError, reasonOf } from './errors.ts';
import { decideRetention } from './forget.ts';
import { extendRetentionForPlan } from './immutability.ts';
import { nowIso, type PipelineDeps, recordTaskFailure, tuningOf, vaultIn } from './pipeline.ts';
import type { StoredObject, VaultStore } from './ports.ts';
import type { PlanRecord, SnapshotRecord } from './records.ts';
import {
  PackWriter,
  readBlob,
  readIndex,
  readManifest,
  readPackHeaderAt,
  readPart,
  writeIndex,
} from './repository.ts';
import type { RetentionDecision } from './retention.ts';
import { keepsWork } from './retry.ts';
import { jobIdOf, type PruneTask, taskIdOf } from './tasks.ts';
import { type ContentId, type IndexedPack, type Manifest, type PackedBlob, VaultLayout } from './vault.ts';

/**
 * What garbage collection did in one vault. Counts are documents; bytes are stored (sealed) bytes as
 * the vault's listing reports them.
 * @see ../../docs/format.md#garbage-collection
 */
export interface VaultGcResult {
  /**
   * Manifest roots deleted: those a FORGOTTEN record (a tombstone) names, and losing roots of two
   * sealers (the snapshot's record names another root).
   */
  manifestsDeleted: number;
  /**
   * Manifest roots in this vault whose snapshot no catalog record knows (the state table was restored
   * to an earlier point, or a record was lost), and roots an earlier committed run of a snapshot
   * wrote before such a restore set its record back (its COMMITTED record now names a root lacking
   * some of their parts): kept, and live with their parts and blobs. Run `strongbox repair catalog`
   * to recreate the records of the former (see {@link warning}).
   */
  rootsUnknown: number;
  /** FORGOTTEN records deleted: their root is gone from every vault (see docs/format.md#garbage-collection). */
  tombstonesDeleted: number;
  /** Manifest parts deleted: those no live root names. */
  partsDeleted: number;
  /** Packs found unreferenced (or left by a repack) and marked in this run: deleted after the grace period. */
  packsMarked: number;
  /** Marked packs referenced again, whose mark this run removed (re-indexed when no index named them). */
  packsRescued: number;
  /** Packs deleted (including {@link orphanPacksDeleted}): marked longer than the grace period and still unreferenced. */
  packsDeleted: number;
  /** Of the packs deleted: those no index named (a crashed task's, or a repacked pack). */
  orphanPacksDeleted: number;
  /** Packs due for deletion that Object Lock still retains (`VaultStore.retainUntil` in the future): kept, still marked. */
  packsLocked: number;
  /** Partly live packs whose live blobs were copied to new packs (the old pack is marked and dropped from the index). */
  packsRepacked: number;
  /** Sealed bytes of the live blobs the repacked packs moved to new packs. */
  bytesRepacked: number;
  /** Blobs the deleted packs held, as their index listed them. */
  blobsDeleted: number;
  /** Index documents deleted because every pack they named is gone. */
  indexesDeleted: number;
  /** Index documents replaced by one naming only their remaining packs. */
  indexesRewritten: number;
  /** Stored bytes of every document deleted (packs, parts, roots, index documents). */
  bytesDeleted: number;
  /** Distinct blobs the live snapshots reference (all plans, whatever this vault holds). */
  blobsLive: number;
  /** Distinct manifest parts the live snapshots name. */
  partsLive: number;
  /** Packs holding at least one live blob. */
  packsLive: number;
  /** Live packs that also hold blobs no live snapshot references (repacked above `gcMaxUnusedPercent`). */
  packsPartlyUnused: number;
  /** Sealed bytes of the unreferenced blobs inside live packs (before this run's repacking). */
  unusedBytesInLivePacks: number;
  /** Live packs an index names but the vault does not hold: lost data, which verification reports. */
  packsMissing: number;
  /**
   * Why packs and index documents (and, when the live set could not be read, parts) were left alone
   * in this run, e.g. `index 3b7c… is unreadable: …`; absent when nothing was deferred.
   */
  deferred?: string;
  /** What the operator should do, e.g. run `strongbox repair catalog` when {@link rootsUnknown} > 0. */
  warning?: string;
}

/** What a prune task did. */
export interface PruneResult {
  decisions: RetentionDecision[];
  kept: number;
  forgotten: string[];
  /** Per region: what garbage collection did in that region's vault (a region task fills its own). */
  gc: Record<string, VaultGcResult>;
  /** The regions a retention task enqueued a garbage-collection task for (`prune:<region>`). */
  gcRegions: string[];
}

/**
 * Run a prune task. Without `region`: apply the plan's retention (mark what it drops FORGOTTEN: the
 * records stay as tombstones, which garbage collection deletes once their roots are gone) and enqueue
 * `{kind:'prune', planId, snapshotId, region}` for every region. With `region`: collect garbage in
 * that region's vault (every plan sharing it).
 * @throws NotFoundError (not retryable) for an unknown plan, or a region without a vault.
 * @throws TransientError (retryable) on storage or catalog failures; a rerun picks up where it stopped
 *   (every step is idempotent: deleting a missing key succeeds, a rewritten index is content-addressed,
 *   a mark put twice only moves later).
 * @example
 * ```ts
 * const { forgotten, gcRegions } = await prunePlan(deps, { kind: 'prune', planId: 'photos', snapshotId });
 * const { gc } = await prunePlan(deps, { kind: 'prune', planId: 'photos', snapshotId, region: 'us-east-1' });
 * console.log(gc['us-east-1']?.packsMarked, gc['us-east-1']?.packsDeleted);
 * ```
 */
export async function prunePlan(deps: PipelineDeps, task: PruneTask): Promise<PruneResult> {
  if (task.region !== undefined) return collectRegion(deps, task, task.region);
  const { catalog, clock } = deps;
  const jobId = jobIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  await catalog.startTask(jobId, 'prune', nowIso(clock));
  try {
    const snapshots = await catalog.listSnapshots(plan.id);
    const { decisions } = decideRetention(snapshots, plan, clock.now());
    const forgotten: string[] = [];
    for (const d of decisions) {
      if (d.keep) continue;
      const ok = await catalog.updateSnapshot(
        plan.id,
        d.snapshotId,
        { status: 'FORGOTTEN', forgottenAt: nowIso(clock) },
        ['COMMITTED'],
      );
      if (ok) forgotten.push(d.snapshotId);
    }
    // Object Lock: extend the retain-until dates of what the kept snapshots reference (a no-op
    // without a lock), before any garbage collection looks at dates.
    const extensions = await extendRetentionForPlan(deps, plan, await catalog.listSnapshots(plan.id));
    // Garbage collection: one task per region, each collecting its own vault.
    const gcRegions = allVaults(deps).map((v) => v.region);
    for (const region of gcRegions) {
      await deps.queue.send({ kind: 'prune', planId: plan.id, snapshotId: task.snapshotId, region });
    }
    // The FORGOTTEN records stay: they are the tombstones that let garbage collection delete the
    // roots (and it deletes them once no vault holds their root).
    const result: PruneResult = {
      decisions,
      kept: decisions.filter((d) => d.keep).length,
      forgotten,
      gc: {},
      gcRegions,
    };
    await catalog.updateTask(jobId, 'prune', {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      result: {
        kept: result.kept,
        forgotten: forgotten.length,
        retentionExtended: extensions.reduce((n, r) => n + r.extended, 0),
        gcRegions: gcRegions.join(','),
      },
    });
    const job = await catalog.getJob(jobId);
    if (job && job.status === 'RUNNING')
      await catalog.updateJob(jobId, { status: 'SUCCEEDED', updatedAt: nowIso(clock) });
    return result;
  } catch (error) {
    await recordTaskFailure(deps, jobId, 'prune', error);
    throw error;
  }
}

/**
 * A garbage-collection task: collect the vault of `region` against the live set, recording the
 * figures on the task `prune:<region>` of the job that asked.
 * @throws NotFoundError (not retryable) when no vault is configured in `region`.
 * @throws TransientError (retryable) on storage or catalog failures.
 */
async function collectRegion(deps: PipelineDeps, task: PruneTask, region: string): Promise<PruneResult> {
  const { catalog, clock } = deps;
  const vault = vaultIn(deps.vaults, region);
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  await catalog.startTask(jobId, taskId, nowIso(clock));
  try {
    // The run's time is taken BEFORE the live set is read: a mark older than the grace period at
    // this time was already old when the live set was read.
    const startedMs = clock.now().getTime();
    // One run per vault at a time: a run's index rewrite from a stale read could bring back an
    // entry another run dropped (and then deleted the pack of).
    const owner = randomUUID();
    const until = new Date(startedMs + GC_LEASE_SECONDS * 1000).toISOString();
    let gc: VaultGcResult;
    if (!(await catalog.acquireGcLease(vault.bucket, owner, new Date(startedMs).toISOString(), until))) {
      gc = { ...emptyGcResult(), deferred: `another garbage collection or a copy holds ${vault.bucket}` };
    } else {
      try {
        gc = await collectGarbage(deps, vault, await liveSet(deps, vault), startedMs);
      } finally {
        await catalog.releaseGcLease(vault.bucket, owner);
      }
    }
    await catalog.updateTask(jobId, taskId, {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      result: gcFigures(gc),
    });
    return { decisions: [], kept: 0, forgotten: [], gc: { [region]: gc }, gcRegions: [] };
  } catch (error) {
    await recordTaskFailure(deps, jobId, taskId, error);
    throw error;
  }
}

/**
 * How long a garbage-collection run holds its vault's lease: longer than a run can take (the prune
 * function's timeout is at most 15 minutes); a run that died holding it blocks others no longer.
 */
export const GC_LEASE_SECONDS = 1800;

/** A region's figures for its task record (numbers, and `deferred` when set). */
function gcFigures(gc: VaultGcResult): Record<string, number | string> {
  const figures: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(gc)) if (typeof v === 'number' || typeof v === 'string') figures[k] = v;
  return figures;
}

function allVaults(deps: PipelineDeps): VaultStore[] {
  return [deps.vaults.primary, ...deps.vaults.copies.values()];
}

/** What the vault being collected must keep, from the catalog, its listing and the primary's documents. */
interface LiveSet {
  plans: PlanRecord[];
  /**
   * Keys of the roots the vault keeps: those of COMMITTED snapshots, of snapshots the catalog does
   * not know ({@link unknownRoots}), and of RUNNING or FAILED snapshots (a sealer's root awaiting
   * its commit).
   */
  roots: Set<string>;
  /**
   * Keys of the roots garbage collection may delete (once older than the grace period): those a
   * FORGOTTEN record names, and losing roots of two sealers (their snapshot's record names another).
   */
  garbageRoots: Set<string>;
  /**
   * Keys of the roots no catalog record knows the snapshot of, or of an earlier committed run of a
   * snapshot (see {@link VaultGcResult.rootsUnknown}); also in {@link roots}.
   */
  unknownRoots: Set<string>;
  /** The FORGOTTEN records of every plan: deleted once no vault holds their root. */
  tombstones: SnapshotRecord[];
  /** Keys of the parts live roots name, and of the parts running or retryable snapshots' partitions wrote. */
  parts: Set<string>;
  blobs: Set<ContentId>;
  /** Why the live set is incomplete (a live root or part could not be read); parts and packs then stay. */
  incomplete?: string;
}

/**
 * How long before a plan's oldest snapshot captured versions stay live: a point-in-time restore
 * reads the journal from a little before its base snapshot's time (see restore/point-in-time.ts).
 */
const JOURNAL_MARGIN_MS = 10 * 60_000;

/** More index documents than this in a vault are merged into documents of {@link INDEX_COMPACT_PACKS} packs. */
export const INDEX_COMPACT_THRESHOLD = 32;
/** Packs one merged index document names at most. */
export const INDEX_COMPACT_PACKS = 2000;

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
async function liveSet(deps: PipelineDeps, vault: VaultStore): Promise<LiveSet> {
  const { catalog } = deps;
  const plans = await catalog.listPlans();
  const live: LiveSet = {
    plans,
    roots: new Set(),
    garbageRoots: new Set(),
    unknownRoots: new Set(),
    tombstones: [],
    parts: new Set(),
    blobs: new Set(),
  };
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
  const committed: SnapshotRecord[] = [];
  const now = deps.clock.now();
  /** Records that name a root (COMMITTED, FORGOTTEN), by root key. */
  const byRoot = new Map<string, SnapshotRecord>();
  /** Every record, by `<planId>/<snapshotId>`. */
  const bySnapshot = new Map<string, SnapshotRecord>();
  for (const planId of planIds) {
    const snapshots = await catalog.listSnapshots(planId);
    for (const s of snapshots) {
      bySnapshot.set(`${planId}/${s.snapshotId}`, s);
      if (s.manifestId) byRoot.set(VaultLayout.manifestKey(planId, s.manifestId), s);
      if (s.status === 'FORGOTTEN') live.tombstones.push(s);
      if (s.status === 'COMMITTED' && s.manifestId) {
        committed.push(s);
        live.roots.add(VaultLayout.manifestKey(planId, s.manifestId));
      } else if (keepsWork(s, snapshots, now)) {
        // Parts a finished partition wrote, or a partition continued across invocations recorded in
        // its checkpoint, are named by no root until the snapshot commits; they and their blobs are
        // live while the snapshot runs or may be retried (FAILED, not abandoned) — the partition may
        // have reused blobs of marked packs: the rescue.
        const work = [
          ...(await catalog.listPartitions(planId, s.snapshotId)),
          ...(await catalog.listPartitionCheckpoints(planId, s.snapshotId)),
        ];
        for (const ref of work.flatMap((w) => w.parts)) {
          const key = VaultLayout.partKey(planId, ref.partId);
          live.parts.add(key);
          workOnly.add(key);
          partsToRead.set(key, { planId, partId: ref.partId });
        }
      }
    }
  }
  // Under continuous protection, captured versions are restorable to any moment since the oldest
  // snapshot (point-in-time restores read them from the journal), and the next journal-built snapshot
  // names the ones captured since the newest: their blobs are live until then.
  for (const plan of plans) {
    const oldest = committed.find((s) => s.planId === plan.id && s.time);
    const after = oldest
      ? new Date(Date.parse(oldest.time as string) - JOURNAL_MARGIN_MS).toISOString()
      : undefined;
    for (const entry of await catalog.listJournal(plan.id, after ? { capturedAfter: after } : {})) {
      for (const blobId of entry.blobs ?? []) live.blobs.add(blobId);
    }
  }
  // Roots no COMMITTED record names: a tombstone condemns its own; any other is read to learn whose it is.
  const unnamed: { key: string; planId: string; manifestId: ContentId }[] = [];
  for (const [key, root] of listedRoots) {
    if (live.roots.has(key)) continue;
    if (byRoot.get(key)?.status === 'FORGOTTEN') live.garbageRoots.add(key);
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
  for (const { key, planId, read } of unnamedRoots) {
    if (!read.ok) {
      // Whose it is cannot be told: kept, and the parts and packs with it (nothing is deleted blind).
      live.roots.add(key);
      live.unknownRoots.add(key);
      live.incomplete ??= read.reason;
      continue;
    }
    const record = bySnapshot.get(`${planId}/${read.value.snapshotId}`);
    if (
      record?.status === 'FORGOTTEN' ||
      (record?.status === 'COMMITTED' && (await namesNothingElse(deps, read.value, record)))
    ) {
      live.garbageRoots.add(key); // its snapshot's record names another root: a losing sealer's
      continue;
    }
    live.roots.add(key);
    // No record, or a COMMITTED one naming another root that lacks some of this root's parts: the
    // root of an earlier committed run of that snapshot, whose record a state-table restore set back
    // (the snapshot then ran again): kept with what it holds, and reported.
    if (record?.status !== 'RUNNING' && record?.status !== 'FAILED') live.unknownRoots.add(key);
    keptManifests.push(read.value);
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
  await Promise.all(
    [...partsToRead.entries()].map(([key, { planId, partId }]) =>
      limit(async () => {
        const part = await fromAnyVault(deps, `manifest part ${planId}/${partId}`, (vault) =>
          readPart(vault, deps.envelope, planId, partId),
        );
        // A part only uncommitted work names, and no vault holds, is lost work: the seal never names
        // it (its partition runs again), so none of its blobs needs keeping and the run goes on.
        if (!part.ok && workOnly.has(key) && (await absentEverywhere(deps, key))) return;
        if (!part.ok) {
          live.incomplete ??= part.reason;
          return;
        }
        for (const entry of part.value.entries) for (const blobId of entry.blobs) live.blobs.add(blobId);
      }),
    ),
  );
  return live;
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

/**
 * Delete the tombstones (FORGOTTEN records) garbage collection no longer needs: forgotten more than
 * the grace period before this run (`cutoff`, ms), and whose root no vault holds — this vault by
 * `rootsHere` (its listing, less the roots this run deleted), each other vault by a HEAD of the root.
 * The grace period lets a copy that read the record before it was forgotten finish (a copy writes
 * the root last) while the tombstone still condemns what it writes.
 * @returns how many records were deleted.
 * @throws TransientError (retryable) on catalog failures; deleting a deleted record succeeds.
 */
async function deleteTombstones(
  deps: PipelineDeps,
  vault: VaultStore,
  live: LiveSet,
  rootsHere: ReadonlySet<string>,
  cutoff: number,
): Promise<number> {
  let deleted = 0;
  for (const t of live.tombstones) {
    if (t.forgottenAt !== undefined && Date.parse(t.forgottenAt) > cutoff) continue;
    if (t.manifestId) {
      const key = VaultLayout.manifestKey(t.planId, t.manifestId);
      if (rootsHere.has(key)) continue;
      let elsewhere = false;
      for (const other of allVaults(deps)) {
        if (other.region === vault.region || elsewhere) continue;
        elsewhere = await holds(other, key);
      }
      if (elsewhere) continue;
    }
    await deps.catalog.deleteSnapshot(t.planId, t.snapshotId);
    deleted += 1;
  }
  return deleted;
}

/**
 * Whether `vault` holds `key` (a HEAD); true when a non-retryable error leaves it unknown.
 * @throws TransientError (retryable) when storage fails.
 */
async function holds(vault: VaultStore, key: string): Promise<boolean> {
  try {
    await vault.checksum(key);
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    if (isRetryable(error)) throw error;
    return true; // cannot tell: as if held (the tombstone stays)
  }
}

/** Whether no vault holds `key` (a HEAD in each; an unreadable answer counts as held). @throws TransientError (retryable) */
async function absentEverywhere(deps: PipelineDeps, key: string): Promise<boolean> {
  for (const vault of allVaults(deps)) if (await holds(vault, key)) return false;
  return true;
}

/** Every object under `prefix`, by key. */
async function listing(vault: VaultStore, prefix: string): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of vault.list(prefix)) out.push(o);
  return out;
}

/** Delete keys in batches of 1000 (S3's DeleteObjects limit). */
async function deleteKeys(vault: VaultStore, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) await vault.delete(keys.slice(i, i + 1000));
}

/** Every figure zero. */
function emptyGcResult(): VaultGcResult {
  return {
    manifestsDeleted: 0,
    rootsUnknown: 0,
    tombstonesDeleted: 0,
    partsDeleted: 0,
    packsMarked: 0,
    packsRescued: 0,
    packsDeleted: 0,
    orphanPacksDeleted: 0,
    packsLocked: 0,
    packsRepacked: 0,
    bytesRepacked: 0,
    blobsDeleted: 0,
    indexesDeleted: 0,
    indexesRewritten: 0,
    bytesDeleted: 0,
    blobsLive: 0,
    partsLive: 0,
    packsLive: 0,
    packsPartlyUnused: 0,
    unusedBytesInLivePacks: 0,
    packsMissing: 0,
  };
}

/** A vault whose store may report Object Lock retention (an optional capability of VaultStore). */
type MaybeLockedVault = VaultStore & { retainUntil?: (key: string) => Promise<string | undefined> };

/**
 * Collect one vault against the live set, in two phases: MARK every pack none of whose blobs is live
 * (and every pack no index names), SWEEP the packs marked longer than the grace period that are
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
 * - a copy task holds the region's vault (`Catalog.acquireCopyHold`) from before it rescues
 *   (unmarks) its snapshot's packs until after its COPIED state, and no run overlaps a hold (the
 *   lease, see `collectRegion`): a run that starts after the hold reads a live set holding the
 *   snapshot, so nothing the copy found in the region and relied on is dropped or deleted. The marks
 *   are still read again just before index documents are rewritten (a second guard).
 * - two runs of one vault never overlap (a lease in the catalog, see `collectRegion`): a run's index
 *   rewrite computed from a stale read could otherwise bring back an entry the other dropped.
 * Readers (restores, copies, verification) locate blobs with their own index load: a dropped pack
 * stays stored for at least G after it left the index.
 *
 * @throws TransientError (retryable) on storage or catalog failures; every step is idempotent.
 * @see ../../docs/format.md#garbage-collection
 */
async function collectGarbage(
  deps: PipelineDeps,
  vault: VaultStore,
  live: LiveSet,
  startedMs: number,
): Promise<VaultGcResult> {
  const { catalog, clock, envelope } = deps;
  const cutoff = startedMs - tuningOf(deps).gcGraceSeconds * 1000;
  const maxUnusedPercent = tuningOf(deps).gcMaxUnusedPercent;
  const old = (o: StoredObject) => Date.parse(o.lastModified) <= cutoff;
  const result: VaultGcResult = {
    ...emptyGcResult(),
    blobsLive: live.blobs.size,
    partsLive: live.parts.size,
  };
  let deferred = live.incomplete;

  // 1. Marks, then index documents, then packs.
  const marks = new Map((await catalog.listGcMarks(vault.bucket)).map((m) => [m.packId, m.markedAt]));
  const oldMark = (packId: ContentId) => {
    const at = marks.get(packId);
    return at !== undefined && Date.parse(at) <= cutoff;
  };
  const indexObjects = new Map<ContentId, StoredObject>();
  for (const o of await listing(vault, VaultLayout.indexPrefix)) {
    const id = VaultLayout.indexIdOf(o.key);
    if (id) indexObjects.set(id, o);
  }
  const indexes = new Map<ContentId, IndexedPack[]>();
  const limit = pLimit(tuningOf(deps).concurrency);
  await Promise.all(
    [...indexObjects.keys()].map((id) =>
      limit(async () => {
        try {
          indexes.set(id, (await readIndex(vault, envelope, id)).packs);
        } catch (error) {
          if (error instanceof NotFoundError) return; // deleted meanwhile (another prune)
          if (isRetryable(error)) throw error;
          // Its packs would look like orphans: delete no pack until it is repaired.
          deferred ??= `index ${id} is unreadable: ${reasonOf(error)}`;
        }
      }),
    ),
  );
  const packObjects = new Map<ContentId, StoredObject>();
  for (const o of await listing(vault, VaultLayout.packsPrefix)) {
    const id = VaultLayout.packIdOf(o.key);
    if (id) packObjects.set(id, o);
  }

  // 2. Roots a tombstone condemns (or a losing sealer's), and parts no live root names. A root the
  //    catalog does not know is kept, and reported.
  const rootObjects = (await listing(vault, 'manifests/')).filter((o) => VaultLayout.manifestIdOf(o.key));
  const doomedRoots = rootObjects.filter(
    (o) => live.garbageRoots.has(o.key) && !live.roots.has(o.key) && old(o),
  );
  const unknown = rootObjects.filter((o) => live.unknownRoots.has(o.key));
  result.rootsUnknown = unknown.length;
  if (unknown.length > 0) {
    result.warning = `${unknown.length} manifest root(s) of snapshots the catalog does not know (${unknown[0]?.key}${unknown.length > 1 ? ', …' : ''}) are kept with their parts and packs: run 'strongbox repair catalog' to recreate their records`;
  }
  const doomedParts = live.incomplete
    ? []
    : (await listing(vault, 'parts/')).filter(
        (o) => VaultLayout.partIdOf(o.key) && !live.parts.has(o.key) && old(o),
      );
  await deleteKeys(
    vault,
    doomedRoots.map((o) => o.key),
  );
  result.manifestsDeleted = doomedRoots.length;
  await deleteKeys(
    vault,
    doomedParts.map((o) => o.key),
  );
  result.partsDeleted = doomedParts.length;
  result.bytesDeleted += [...doomedRoots, ...doomedParts].reduce((sum, o) => sum + o.sizeBytes, 0);
  const rootsHere = new Set(rootObjects.map((o) => o.key));
  for (const o of doomedRoots) rootsHere.delete(o.key);
  result.tombstonesDeleted = await deleteTombstones(deps, vault, live, rootsHere, cutoff);
  if (deferred) return { ...result, deferred };

  // 3. Classify packs: live (rescue a marked one; repack a mostly unused one), dead (mark, or sweep
  //    once the mark is old), missing, orphaned.
  // A pack named twice (a crash between writing a rewritten index document and deleting the old one)
  // counts by its shortest entry: the newest shrink of a repacked pack, whose other blobs the new
  // packs hold.
  const named = new Map<ContentId, IndexedPack>();
  for (const packs of indexes.values())
    for (const p of packs) {
      const seen = named.get(p.packId);
      if (!seen || p.blobs.length < seen.blobs.length) named.set(p.packId, p);
    }
  const toMark = new Set<ContentId>();
  const toUnmark = new Set<ContentId>();
  /** Marks of packs that are gone: removed after the sweep. */
  const staleMarks = new Set<ContentId>();
  /** Packs every index must stop naming: dead and gone already, swept now, or repacked now. */
  const dropped = new Set<ContentId>();
  const sweep: { packId: ContentId; object: StoredObject; blobs: number; orphan: boolean }[] = [];
  const repack: { pack: IndexedPack; live: PackedBlob[] }[] = [];
  const oldOrphans: [ContentId, StoredObject][] = [];
  for (const [packId, pack] of named) {
    const object = packObjects.get(packId);
    const liveBlobs = pack.blobs.filter((b) => live.blobs.has(b.blobId));
    if (liveBlobs.length > 0) {
      result.packsLive += 1;
      if (!object) result.packsMissing += 1;
      if (marks.has(packId)) toUnmark.add(packId); // referenced again: rescued
      if (liveBlobs.length < pack.blobs.length) {
        result.packsPartlyUnused += 1;
        const total = pack.blobs.reduce((sum, b) => sum + b.lengthBytes, 0);
        const unused = total - liveBlobs.reduce((sum, b) => sum + b.lengthBytes, 0);
        result.unusedBytesInLivePacks += unused;
        // Only packs older than the grace period: a young pack's blobs may be about to be referenced.
        if (object && old(object) && unused * 100 > maxUnusedPercent * total)
          repack.push({ pack, live: liveBlobs });
      }
    } else if (!object) {
      dropped.add(packId); // a crashed run deleted it before its index was rewritten
      if (marks.has(packId)) staleMarks.add(packId);
    } else if (!marks.has(packId)) {
      toMark.add(packId);
    } else if (oldMark(packId)) {
      sweep.push({ packId, object, blobs: pack.blobs.length, orphan: false });
    }
  }
  for (const [packId, object] of packObjects) {
    if (named.has(packId)) continue;
    if (!marks.has(packId)) toMark.add(packId);
    else if (oldMark(packId)) oldOrphans.push([packId, object]);
  }
  for (const packId of marks.keys())
    if (!named.has(packId) && !packObjects.has(packId)) staleMarks.add(packId);

  // 4. Repack: live blobs into new packs, then the index naming them; then the old pack's index
  //    entries keep only its unreferenced blobs (readers find the live ones in the new packs only) and
  //    it is marked: from now on a dead pack, swept after the grace period like any other. Its dead
  //    blobs stay indexed until then, since a partition that loaded the index before may reference one.
  const newPacks: IndexedPack[] = [];
  /** Repacked packs → the blobs their index entries stop listing (now in the new packs). */
  const moved = new Map<ContentId, Set<ContentId>>();
  if (repack.length > 0) {
    const writer = new PackWriter(vault, envelope);
    for (const { pack, live: blobs } of repack) {
      const plaintexts: Buffer[] = [];
      try {
        for (const b of blobs)
          plaintexts.push(await readBlob(vault, envelope, { ...b, packId: pack.packId }));
      } catch (error) {
        if (isRetryable(error)) throw error;
        continue; // a blob that does not read is verification's to report: leave its pack alone
      }
      for (const [i, b] of blobs.entries()) await writer.add(b.blobId, plaintexts[i] as Buffer);
      result.packsRepacked += 1;
      result.bytesRepacked += blobs.reduce((sum, b) => sum + b.lengthBytes, 0);
      moved.set(pack.packId, new Set(blobs.map((b) => b.blobId)));
      toMark.add(pack.packId);
    }
    newPacks.push(...(await writer.flush()));
    await writeIndex(vault, envelope, newPacks); // before any index stops naming the old packs
  }

  // 5. Old-marked orphans: a live blob no kept pack holds rescues the pack (re-indexed).
  const kept = new Set<ContentId>();
  for (const [packId, pack] of named) {
    if (dropped.has(packId) || !packObjects.has(packId) || sweep.some((s) => s.packId === packId)) continue;
    for (const b of pack.blobs) if (!moved.get(packId)?.has(b.blobId)) kept.add(b.blobId);
  }
  for (const p of newPacks) for (const b of p.blobs) kept.add(b.blobId);
  for (const [packId, object] of oldOrphans) {
    let blobs: PackedBlob[];
    try {
      blobs = (await readPackHeaderAt(vault, envelope, packId, object.sizeBytes)).blobs;
    } catch (error) {
      if (error instanceof NotFoundError) {
        staleMarks.add(packId);
        continue;
      }
      if (isRetryable(error)) throw error;
      blobs = []; // no readable header: no reader can locate its blobs either
    }
    if (blobs.some((b) => live.blobs.has(b.blobId) && !kept.has(b.blobId))) {
      const stored = await vault.checksum(VaultLayout.packKey(packId));
      await writeIndex(vault, envelope, [{ packId, stored, blobs }]);
      for (const b of blobs) kept.add(b.blobId);
      toUnmark.add(packId);
    } else {
      sweep.push({ packId, object, blobs: blobs.length, orphan: true });
    }
  }

  // 6. Marks: new ones, rescues. A pack rescued and repacked in this run is a dead pack now: it gets
  //    a fresh mark instead.
  for (const packId of toMark) toUnmark.delete(packId);
  if (toMark.size > 0) {
    const markedAt = nowIso(clock);
    await catalog.putGcMarks(
      vault.bucket,
      [...toMark].map((packId) => ({ packId, markedAt })),
    );
    result.packsMarked = toMark.size;
  }
  if (toUnmark.size > 0) await catalog.deleteGcMarks(vault.bucket, [...toUnmark]);
  result.packsRescued = toUnmark.size;

  // 7. Sweep what is still marked as it was (not rescued meanwhile) and not retained by Object Lock.
  const current = new Map((await catalog.listGcMarks(vault.bucket)).map((m) => [m.packId, m.markedAt]));
  const doomed: typeof sweep = [];
  for (const s of sweep) {
    if (current.get(s.packId) !== marks.get(s.packId)) continue; // rescued or re-marked meanwhile
    const until = await (vault as MaybeLockedVault).retainUntil?.(VaultLayout.packKey(s.packId));
    if (until && Date.parse(until) > clock.now().getTime()) {
      result.packsLocked += 1; // stays named and marked: a later run tries again
      continue;
    }
    doomed.push(s);
    dropped.add(s.packId);
  }

  // 8. Index documents before their packs. Many small documents (capture writes one per upload)
  // are merged into few, so every reader lists and reads a handful, not one per upload.
  const obsoleteIndexes: string[] = [];
  const keep = (packs: readonly IndexedPack[]) =>
    packs
      .filter((p) => !dropped.has(p.packId))
      .map((p) => {
        const gone = moved.get(p.packId);
        return gone ? { ...p, blobs: p.blobs.filter((b) => !gone.has(b.blobId)) } : p;
      });
  if (indexes.size > INDEX_COMPACT_THRESHOLD) {
    const merged = new Map<ContentId, IndexedPack>(); // a pack named twice keeps its shortest entry
    for (const packs of indexes.values()) {
      for (const p of keep(packs)) {
        const seen = merged.get(p.packId);
        if (!seen || p.blobs.length < seen.blobs.length) merged.set(p.packId, p);
      }
    }
    const all = [...merged.values()];
    for (let i = 0; i < all.length; i += INDEX_COMPACT_PACKS) {
      await writeIndex(vault, envelope, all.slice(i, i + INDEX_COMPACT_PACKS)); // new documents first
    }
    result.indexesRewritten += Math.ceil(all.length / INDEX_COMPACT_PACKS);
    result.indexesDeleted += indexes.size;
    for (const indexId of indexes.keys()) {
      obsoleteIndexes.push(VaultLayout.indexKey(indexId));
      result.bytesDeleted += indexObjects.get(indexId)?.sizeBytes ?? 0;
    }
    indexes.clear();
  }
  for (const [indexId, packs] of indexes) {
    const remaining = keep(packs);
    if (remaining.length === packs.length && !packs.some((p) => moved.has(p.packId))) continue;
    if (remaining.length > 0) {
      await writeIndex(vault, envelope, remaining); // the new index first: its packs stay findable
      result.indexesRewritten += 1;
    } else {
      result.indexesDeleted += 1;
    }
    obsoleteIndexes.push(VaultLayout.indexKey(indexId));
    result.bytesDeleted += indexObjects.get(indexId)?.sizeBytes ?? 0;
  }
  await deleteKeys(vault, obsoleteIndexes);

  // 9. The packs, then their marks.
  await deleteKeys(
    vault,
    doomed.map((p) => VaultLayout.packKey(p.packId)),
  );
  const orphans = doomed.filter((p) => p.orphan);
  result.packsDeleted = doomed.length;
  result.orphanPacksDeleted = orphans.length;
  result.blobsDeleted = doomed.filter((p) => !p.orphan).reduce((sum, p) => sum + p.blobs, 0);
  result.bytesDeleted += doomed.reduce((sum, p) => sum + p.object.sizeBytes, 0);
  const cleared = [...doomed.map((p) => p.packId), ...staleMarks];
  if (cleared.length > 0) await catalog.deleteGcMarks(vault.bucket, cleared);
  return result;
}
