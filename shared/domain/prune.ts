/**
 * Prune: apply a plan's retention, forget the snapshots it drops, then collect garbage in every
 * vault: delete the documents (manifest roots, manifest parts, packs, index documents) that no live
 * snapshot needs and that are older than the grace period.
 *
 * Safety (docs/format.md#read-and-write-ordering, docs/format.md#garbage-collection):
 * - the newest committed snapshot of a plan, the parent of a running snapshot, a snapshot that
 *   failed verification and a snapshot still running are never forgotten;
 * - the live set is every COMMITTED snapshot of EVERY plan sharing the vault: their roots, the parts
 *   the roots name (and the parts a running snapshot's finished partitions wrote), and the blobs the
 *   parts name. A pack is deleted only when none of its blobs is live;
 * - nothing is deleted before it is older than `gcGraceSeconds` (by the listing's last-modified), so
 *   the documents of a task still writing, which nothing names yet, are never touched;
 * - an index document never names a deleted pack: indexes are rewritten (the new one first, then the
 *   old one deleted) or deleted BEFORE their packs are deleted, so a crash in between leaves packs no
 *   index names, which a later run deletes as orphans;
 * - until two-phase GC exists, packs and index documents are left alone while any snapshot of a plan
 *   sharing the vault is RUNNING: it may be about to reference a blob it found in the index.
 *
 * @see ../../docs/format.md#garbage-collection
 */
import pLimit from 'p-limit';
import { isRetryable, NotFoundError, reasonOf } from './errors.ts';
import { nowIso, type PipelineDeps, recordTaskFailure } from './pipeline.ts';
import type { PlanRecord, SnapshotRecord, StoredObject, VaultStore } from './ports.ts';
import { readIndex, readManifest, readPart, writeIndex } from './repository.ts';
import { applyRetention, type RetentionDecision } from './retention.ts';
import { jobIdOf, type PruneTask } from './tasks.ts';
import { type ContentId, type IndexedPack, VaultLayout } from './vault.ts';

/**
 * What garbage collection did in one vault. Counts are documents; bytes are stored (sealed) bytes as
 * the vault's listing reports them.
 * @see ../../docs/format.md#garbage-collection
 */
export interface VaultGcResult {
  /** Manifest roots deleted: those of forgotten snapshots, and strays no catalog record names. */
  manifestsDeleted: number;
  /** Manifest parts deleted: those no live root names. */
  partsDeleted: number;
  /** Packs deleted (including {@link orphanPacksDeleted}). */
  packsDeleted: number;
  /** Of the packs deleted: those no index named (left by a task that crashed before its index). */
  orphanPacksDeleted: number;
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
  /** Live packs that also hold blobs no live snapshot references (kept until repacking exists). */
  packsPartlyUnused: number;
  /** Sealed bytes of the unreferenced blobs inside live packs: what repacking would reclaim. */
  unusedBytesInLivePacks: number;
  /** Live packs an index names but the vault does not hold: lost data, which verification reports. */
  packsMissing: number;
  /**
   * Why packs and index documents (and, when the live set could not be read, parts) were left alone
   * in this run, e.g. `snapshot photos/20261121T234500Z is running`; absent when nothing was deferred.
   */
  deferred?: string;
}

/** What a prune task did. */
export interface PruneResult {
  decisions: RetentionDecision[];
  kept: number;
  forgotten: string[];
  /** Per region: what garbage collection did in that region's vault. */
  gc: Record<string, VaultGcResult>;
}

/**
 * Run a prune task for one plan; garbage collection covers every plan sharing the vaults.
 * @throws NotFoundError (not retryable) for an unknown plan.
 * @throws TransientError (retryable) on storage or catalog failures; a rerun picks up where it stopped
 *   (every step is idempotent: deleting a missing key succeeds, a rewritten index is content-addressed).
 * @example
 * ```ts
 * const { forgotten, gc } = await prunePlan(deps, { kind: 'prune', planId: 'photos', snapshotId });
 * console.log(gc['us-east-1']?.packsDeleted, gc['us-east-1']?.deferred);
 * ```
 */
export async function prunePlan(deps: PipelineDeps, task: PruneTask): Promise<PruneResult> {
  const { catalog, clock } = deps;
  const jobId = jobIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  await catalog.startTask(jobId, 'prune', nowIso(clock));
  try {
    const snapshots = await catalog.listSnapshots(plan.id);
    const protectedIds = protectedSnapshots(snapshots);
    const candidates = snapshots.filter(
      (s) => s.status === 'COMMITTED' && s.time && !protectedIds.has(s.snapshotId),
    );
    const { decisions } = applyRetention(
      candidates.map((s) => ({ snapshotId: s.snapshotId, time: s.time as string })),
      plan.retention,
    );
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
    const gc: PruneResult['gc'] = {};
    const live = await liveSet(deps);
    for (const vault of allVaults(deps)) gc[vault.region] = await collectGarbage(deps, vault, live);
    // Forgotten snapshots (of this run and of earlier runs that crashed) lose their records last. A
    // root younger than the grace period outlives its record: a later run deletes it as a stray.
    for (const s of await catalog.listSnapshots(plan.id)) {
      if (s.status === 'FORGOTTEN') await catalog.deleteSnapshot(plan.id, s.snapshotId);
    }
    const result: PruneResult = {
      decisions,
      kept: decisions.filter((d) => d.keep).length + protectedIds.size,
      forgotten,
      gc,
    };
    await catalog.updateTask(jobId, 'prune', {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      result: { kept: result.kept, forgotten: forgotten.length, ...gcTotals(gc) },
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

/** The figures of every region added up, for the task record (`deferred`: the first reason). */
function gcTotals(gc: PruneResult['gc']): Record<string, number | string> {
  const totals: Record<string, number | string> = {
    packsDeleted: 0,
    blobsDeleted: 0,
    partsDeleted: 0,
    manifestsDeleted: 0,
    indexesDeleted: 0,
    indexesRewritten: 0,
    bytesDeleted: 0,
    packsPartlyUnused: 0,
    unusedBytesInLivePacks: 0,
  };
  for (const r of Object.values(gc)) {
    for (const k of Object.keys(totals)) totals[k] = Number(totals[k]) + Number(r[k as keyof VaultGcResult]);
  }
  const deferred = Object.entries(gc).find(([, r]) => r.deferred);
  if (deferred) totals.deferred = `${deferred[0]}: ${deferred[1].deferred}`;
  return totals;
}

/** Snapshots retention may never drop: the parents of running snapshots and those that failed verification. */
function protectedSnapshots(snapshots: readonly SnapshotRecord[]): Set<string> {
  const ids = new Set<string>();
  const committed = snapshots.filter((s) => s.status === 'COMMITTED');
  for (const s of snapshots) {
    if (s.status === 'RUNNING') {
      // Its parent will be the newest committed snapshot older than it.
      const parent = committed.filter((c) => c.snapshotId < s.snapshotId).at(-1);
      if (parent) ids.add(parent.snapshotId);
    }
  }
  for (const s of committed) if (s.verification?.status === 'FAILED') ids.add(s.snapshotId);
  return ids;
}

function allVaults(deps: PipelineDeps): VaultStore[] {
  return [deps.vaults.primary, ...deps.vaults.copies.values()];
}

/** Whether `plan` shares `vault`: every plan shares the primary; a copy vault, the plans copying there. */
function sharesVault(deps: PipelineDeps, plan: Pick<PlanRecord, 'copyRegions'>, vault: VaultStore): boolean {
  return vault === deps.vaults.primary || (plan.copyRegions ?? []).includes(vault.region);
}

/** What every vault must keep, from the catalog and the primary's documents. */
interface LiveSet {
  plans: PlanRecord[];
  /** Keys of the roots of COMMITTED snapshots. */
  roots: Set<string>;
  /** Keys of the parts live roots name, and of the parts running snapshots' partitions wrote. */
  parts: Set<string>;
  blobs: Set<ContentId>;
  /** Why the live set is incomplete (a live root or part could not be read); parts and packs then stay. */
  incomplete?: string;
}

/**
 * Mark: every COMMITTED snapshot of every plan. Roots and parts are read from the primary (which
 * holds every committed snapshot), falling back to the copy vaults; each distinct part is read once,
 * since consecutive snapshots share their unchanged parts.
 * @throws TransientError (retryable) on storage or catalog failures.
 */
async function liveSet(deps: PipelineDeps): Promise<LiveSet> {
  const { catalog } = deps;
  const plans = await catalog.listPlans();
  const live: LiveSet = { plans, roots: new Set(), parts: new Set(), blobs: new Set() };
  const partsToRead = new Map<string, { planId: string; partId: ContentId }>();
  const limit = pLimit(deps.concurrency ?? 16);
  const committed: SnapshotRecord[] = [];
  for (const plan of plans) {
    for (const s of await catalog.listSnapshots(plan.id)) {
      if (s.status === 'COMMITTED' && s.manifestId) {
        committed.push(s);
        live.roots.add(VaultLayout.manifestKey(plan.id, s.manifestId));
      } else if (s.status === 'RUNNING') {
        // Parts a finished partition wrote are named by no root until the snapshot commits.
        for (const summary of await catalog.listPartitions(plan.id, s.snapshotId)) {
          for (const ref of summary.parts) live.parts.add(VaultLayout.partKey(plan.id, ref.partId));
        }
      }
    }
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
  for (const root of roots) {
    if (!root.ok) {
      live.incomplete ??= root.reason;
      continue;
    }
    for (const ref of root.value.parts) {
      const key = VaultLayout.partKey(root.value.planId, ref.partId);
      live.parts.add(key);
      partsToRead.set(key, { planId: root.value.planId, partId: ref.partId });
    }
  }
  await Promise.all(
    [...partsToRead.values()].map(({ planId, partId }) =>
      limit(async () => {
        const part = await fromAnyVault(deps, `manifest part ${planId}/${partId}`, (vault) =>
          readPart(vault, deps.envelope, planId, partId),
        );
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

/** The first RUNNING snapshot of a plan sharing `vault`, as `plan/snapshot`, or undefined. */
async function runningSnapshot(
  deps: PipelineDeps,
  plans: readonly PlanRecord[],
  vault: VaultStore,
): Promise<string | undefined> {
  for (const plan of plans) {
    if (!sharesVault(deps, plan, vault)) continue;
    const running = (await deps.catalog.listSnapshots(plan.id)).find((s) => s.status === 'RUNNING');
    if (running) return `${plan.id}/${running.snapshotId}`;
  }
  return undefined;
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

/**
 * Sweep one vault against the live set. Order: load the index documents, THEN list the packs (so
 * every pack a loaded index names was stored before the listing); delete dead roots and parts;
 * rewrite or delete the index documents naming doomed packs (new index first); delete the packs.
 * Only documents older than the grace period are deleted; an index document is rewritten or deleted
 * whatever its age, since it only ever loses packs that are themselves dead and past the grace period.
 * @throws TransientError (retryable) on storage failures.
 */
async function collectGarbage(deps: PipelineDeps, vault: VaultStore, live: LiveSet): Promise<VaultGcResult> {
  const { clock, envelope } = deps;
  const cutoff = clock.now().getTime() - (deps.gcGraceSeconds ?? 86_400) * 1000;
  const old = (o: StoredObject) => Date.parse(o.lastModified) <= cutoff;
  const result: VaultGcResult = {
    manifestsDeleted: 0,
    partsDeleted: 0,
    packsDeleted: 0,
    orphanPacksDeleted: 0,
    blobsDeleted: 0,
    indexesDeleted: 0,
    indexesRewritten: 0,
    bytesDeleted: 0,
    blobsLive: live.blobs.size,
    partsLive: live.parts.size,
    packsLive: 0,
    packsPartlyUnused: 0,
    unusedBytesInLivePacks: 0,
    packsMissing: 0,
  };
  let deferred = live.incomplete ?? (await runningSnapshot(deps, live.plans, vault));
  if (deferred && !live.incomplete) deferred = `snapshot ${deferred} is running`;

  // 1. Index documents, then packs.
  const indexObjects = new Map<ContentId, StoredObject>();
  for (const o of await listing(vault, VaultLayout.indexPrefix)) {
    const id = VaultLayout.indexIdOf(o.key);
    if (id) indexObjects.set(id, o);
  }
  const indexes = new Map<ContentId, IndexedPack[]>();
  const limit = pLimit(deps.concurrency ?? 16);
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

  // 2. Roots no COMMITTED record names, and parts no live root names.
  const doomedRoots = (await listing(vault, 'manifests/')).filter(
    (o) => VaultLayout.manifestIdOf(o.key) && !live.roots.has(o.key) && old(o),
  );
  const doomedParts = live.incomplete
    ? []
    : (await listing(vault, 'parts/')).filter(
        (o) => VaultLayout.partIdOf(o.key) && !live.parts.has(o.key) && old(o),
      );

  // 3. Packs: live, partly unused, dead (doomed when old enough), missing, orphaned.
  const named = new Map<ContentId, IndexedPack>();
  for (const packs of indexes.values())
    for (const p of packs) if (!named.has(p.packId)) named.set(p.packId, p);
  /** Packs every index must stop naming: doomed now, or dead and already gone from the vault. */
  const dropped = new Set<ContentId>();
  const doomedPacks: { packId: ContentId; object: StoredObject; blobs: number }[] = [];
  for (const [packId, pack] of named) {
    const object = packObjects.get(packId);
    const liveBlobs = pack.blobs.filter((b) => live.blobs.has(b.blobId));
    if (liveBlobs.length > 0) {
      result.packsLive += 1;
      if (!object) result.packsMissing += 1;
      if (liveBlobs.length < pack.blobs.length) {
        result.packsPartlyUnused += 1;
        for (const b of pack.blobs)
          if (!live.blobs.has(b.blobId)) result.unusedBytesInLivePacks += b.lengthBytes;
      }
    } else if (!object) {
      dropped.add(packId); // a crashed run deleted it before its index was rewritten
    } else if (old(object)) {
      dropped.add(packId);
      doomedPacks.push({ packId, object, blobs: pack.blobs.length });
    }
  }
  const orphans = [...packObjects].filter(([packId, o]) => !named.has(packId) && old(o));

  // Last look before deleting data: a snapshot may have started since the first.
  if (!deferred) {
    const running = await runningSnapshot(deps, live.plans, vault);
    if (running) deferred = `snapshot ${running} is running`;
  }

  // 4. Delete: roots, parts, then (unless deferred) index documents before their packs.
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
  if (deferred) return { ...result, deferred };

  const obsoleteIndexes: string[] = [];
  for (const [indexId, packs] of indexes) {
    const remaining = packs.filter((p) => !dropped.has(p.packId));
    if (remaining.length === packs.length) continue;
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

  await deleteKeys(vault, [
    ...doomedPacks.map((p) => VaultLayout.packKey(p.packId)),
    ...orphans.map(([packId]) => VaultLayout.packKey(packId)),
  ]);
  result.packsDeleted = doomedPacks.length + orphans.length;
  result.orphanPacksDeleted = orphans.length;
  result.blobsDeleted = doomedPacks.reduce((sum, p) => sum + p.blobs, 0);
  result.bytesDeleted += [...doomedPacks.map((p) => p.object), ...orphans.map(([, o]) => o)].reduce(
    (sum, o) => sum + o.sizeBytes,
    0,
  );
  return result;
}
