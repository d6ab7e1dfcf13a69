/**
 * Repair the catalog from the vaults (`strongbox repair catalog`): every manifest root names its
 * plan, snapshot, parent, times and totals, so a snapshot whose record the catalog lost (a state
 * table restored to an earlier point in time, a deleted item) can be recreated from its root. Compare
 * restic's `repair index` (rebuild the index from the packs) and `recover` (snapshots from the trees).
 *
 * Plan, then execute: {@link planCatalogRepair} reads the catalog and the vaults and says what it
 * would recreate (`--dry-run` prints that); {@link repairCatalog} then recreates the records. Records
 * the catalog has are never touched.
 *
 * @see ../../docs/format.md#catalog
 * @see ../../docs/format.md#garbage-collection
 */
import { isRetryable, reasonOf } from './errors.ts';
import { copyTargetsOf, hasVault, nowIso, type PipelineDeps, type Vaults } from './pipeline.ts';
import type { VaultStore } from './ports.ts';
import type { JobRecord, PlanRecord, RegionCopy, SnapshotRecord } from './records.ts';
import { readManifest } from './repository/read-documents.ts';
import { type CopyTask, jobIdOf, type VerifyTask } from './tasks.ts';
import { type ContentId, type Manifest, VaultLayout } from './vault.ts';

/** A snapshot the catalog does not know, and the record that brings it back. */
export interface RecoveredSnapshot {
  planId: string;
  snapshotId: string;
  manifestId: ContentId;
  /** Regions whose vault holds the root (the primary's first, when it holds it). */
  regions: string[];
  /** The COMMITTED record recreated from the root. */
  record: SnapshotRecord;
}

/** A root the repair leaves alone, and why. */
export interface SkippedRoot {
  /** `manifests/<plan>/<manifest id>`. */
  key: string;
  reason: string;
}

/** What {@link planCatalogRepair} found in the vaults. */
export interface CatalogRepairPlan {
  /** Distinct manifest roots the vaults hold (a root copied to several regions counts once). */
  rootsListed: number;
  /** Roots whose snapshot the catalog knows (any status): left alone. */
  rootsKnown: number;
  /** Snapshots the catalog does not know, oldest first: their records are (or would be) recreated. */
  recreate: RecoveredSnapshot[];
  /** Roots neither known nor recreated: unreadable, of a plan the catalog lacks, a losing sealer's. */
  skipped: SkippedRoot[];
}

/** What {@link repairCatalog} did. */
export interface CatalogRepairResult extends CatalogRepairPlan {
  dryRun: boolean;
  /** Ids (`<plan>/<snapshot>`) of the records recreated (none on a dry run). */
  recreated: string[];
  /** The copy and verify tasks enqueued for the recreated snapshots. */
  enqueued: (CopyTask | VerifyTask)[];
}

/** A root as the vault listings report it. */
interface ListedRoot {
  key: string;
  planId: string;
  manifestId: ContentId;
  /** Region → the root's last-modified time there (ISO-8601 UTC). */
  heldBy: Map<string, string>;
}

/**
 * Read the catalog and every vault's `manifests/`, and decide which snapshots to recreate: each root
 * is read (and checked against its id) unless a record names it; a root whose snapshot no record
 * knows is recovered. Of two roots of one snapshot (two sealers, the loser not yet collected), the one
 * held by more regions is recovered (a copy copies the committed root), then the earlier `completedAt`.
 * Reads only.
 * @param deps the catalog, clock and vaults.
 * @returns the plan; `recreate` oldest first.
 * @throws TransientError (retryable) on storage or catalog failures.
 * @example
 * ```ts
 * const plan = await planCatalogRepair(c.pipeline);
 * for (const s of plan.recreate) console.log(s.planId, s.snapshotId, s.regions.join(','));
 * ```
 */
export async function planCatalogRepair(
  deps: Pick<PipelineDeps, 'catalog' | 'clock' | 'envelope' | 'vaults'>,
): Promise<CatalogRepairPlan> {
  const { catalog } = deps;
  const vaults = vaultsHoldingRoots(deps.vaults);
  const listed = new Map<string, ListedRoot>();
  for (const vault of vaults) {
    for await (const o of vault.list('manifests/')) {
      const manifestId = VaultLayout.manifestIdOf(o.key);
      if (!manifestId) continue;
      const root = listed.get(o.key) ?? {
        key: o.key,
        planId: o.key.split('/')[1] as string,
        manifestId,
        heldBy: new Map<string, string>(),
      };
      root.heldBy.set(vault.region, o.lastModified);
      listed.set(o.key, root);
    }
  }
  const plans = new Map((await catalog.listPlans()).map((p) => [p.id, p]));
  const plan: CatalogRepairPlan = { rootsListed: listed.size, rootsKnown: 0, recreate: [], skipped: [] };
  const byPlan = groupBy(listed.values(), (r) => r.planId);
  for (const [planId, roots] of byPlan) {
    const planRecord = plans.get(planId);
    if (!planRecord) {
      for (const r of roots)
        plan.skipped.push({
          key: r.key,
          reason: `plan '${planId}' is not in the catalog: apply it ('strongbox plans apply'), then repair again`,
        });
      continue;
    }
    const records = await catalog.listSnapshots(planId);
    const named = new Set(records.flatMap((s) => (s.manifestId ? [s.manifestId] : [])));
    const known = new Set(records.map((s) => s.snapshotId));
    const candidates: { root: ListedRoot; manifest: Manifest }[] = [];
    for (const r of roots) {
      if (named.has(r.manifestId)) {
        plan.rootsKnown += 1;
        continue;
      }
      const read = await readRoot(deps, vaults, r);
      if (!read.ok) {
        plan.skipped.push({ key: r.key, reason: read.reason });
        continue;
      }
      if (known.has(read.manifest.snapshotId)) {
        plan.rootsKnown += 1; // a losing sealer's root, or a RUNNING/FAILED snapshot's: left alone
        continue;
      }
      candidates.push({ root: r, manifest: read.manifest });
    }
    for (const [snapshotId, same] of groupBy(candidates, (c) => c.manifest.snapshotId)) {
      same.sort(
        (a, b) =>
          b.root.heldBy.size - a.root.heldBy.size ||
          Date.parse(a.manifest.completedAt) - Date.parse(b.manifest.completedAt) ||
          (a.root.manifestId < b.root.manifestId ? -1 : 1),
      );
      const [chosen, ...others] = same as [(typeof same)[number], ...typeof same];
      for (const o of others)
        plan.skipped.push({
          key: o.root.key,
          reason: `another root of snapshot ${planId}/${snapshotId} (${chosen.root.manifestId}) is recreated: this one lost its commit, and garbage collection deletes it`,
        });
      plan.recreate.push(recovered(deps, planRecord, chosen.root, chosen.manifest));
    }
  }
  plan.recreate.sort((a, b) =>
    a.planId !== b.planId ? (a.planId < b.planId ? -1 : 1) : a.snapshotId < b.snapshotId ? -1 : 1,
  );
  return plan;
}

/**
 * Recreate the COMMITTED records {@link planCatalogRepair} finds missing, each with a SUCCEEDED job,
 * conditionally (`Catalog.createJob`: nothing is written when the job or the record exists, e.g. the
 * job of a snapshot forgotten earlier, whose root reappeared). Then, as after a commit, enqueue a copy
 * to each copy region whose vault lacks the root (when the primary holds it), else a verification.
 * With `dryRun`, only the plan.
 * @param options `dryRun`: write and enqueue nothing. @default false
 * @returns the plan and what was done.
 * @throws TransientError (retryable) on storage, catalog or queue failures; a rerun recreates what is
 *   still missing and leaves the rest.
 * @example
 * ```ts
 * const result = await repairCatalog(c.pipeline, { dryRun: true });
 * console.log(describeCatalogRepair(result).join('\n'));
 * ```
 */
export async function repairCatalog(
  deps: Pick<PipelineDeps, 'catalog' | 'clock' | 'envelope' | 'vaults' | 'queue'>,
  options: { dryRun?: boolean } = {},
): Promise<CatalogRepairResult> {
  const dryRun = options.dryRun ?? false;
  const plan = await planCatalogRepair(deps);
  const result: CatalogRepairResult = { ...plan, dryRun, recreated: [], enqueued: [] };
  if (dryRun) return result;
  for (const s of plan.recreate) {
    const at = nowIso(deps.clock);
    const job: JobRecord = {
      jobId: jobIdOf(s),
      planId: s.planId,
      snapshotId: s.snapshotId,
      status: 'SUCCEEDED',
      createdAt: at,
      updatedAt: at,
    };
    if (!(await deps.catalog.createJob(job, s.record))) {
      result.skipped.push({
        key: VaultLayout.manifestKey(s.planId, s.manifestId),
        reason: `the job ${job.jobId} exists: the snapshot was forgotten earlier (or repaired meanwhile); not recreated`,
      });
      continue;
    }
    result.recreated.push(job.jobId);
    const copies: CopyTask[] = s.regions.includes(deps.vaults.primary.region)
      ? Object.entries(s.record.regions ?? {})
          .filter(
            ([region, copy]) =>
              copy.status === 'PENDING' &&
              region !== deps.vaults.primary.region &&
              hasVault(deps.vaults, region),
          )
          .map(([region]) => ({ kind: 'copy' as const, planId: s.planId, snapshotId: s.snapshotId, region }))
      : [];
    const next: (CopyTask | VerifyTask)[] =
      copies.length > 0 ? copies : [{ kind: 'verify', planId: s.planId, snapshotId: s.snapshotId }];
    for (const task of next) await deps.queue.send(task);
    result.enqueued.push(...next);
  }
  return result;
}

/**
 * The lines `strongbox repair catalog` prints: one per snapshot recreated (or that would be), one per
 * root left alone with its reason, and a summary.
 * @example
 * ```ts
 * describeCatalogRepair(result);
 * // ['would recreate photos/20261121T234500Z (manifest 9c3e…, 1,024 objects, held by us-east-1, eu-west-1)', …]
 * ```
 */
export function describeCatalogRepair(result: CatalogRepairResult): string[] {
  const done = new Set(result.recreated);
  const lines: string[] = [];
  for (const s of result.recreate) {
    const id = `${s.planId}/${s.snapshotId}`;
    if (!result.dryRun && !done.has(id)) continue; // reported among the skipped roots
    const verb = result.dryRun ? 'would recreate' : 'recreated';
    lines.push(
      `${verb} ${id} (manifest ${s.manifestId.slice(0, 12)}…, ${s.record.objectCount} object(s), time ${s.record.time}, held by ${s.regions.join(', ')})`,
    );
  }
  for (const k of result.skipped) lines.push(`left alone ${k.key}: ${k.reason}`);
  const count = result.dryRun ? result.recreate.length : result.recreated.length;
  lines.push(
    `${result.rootsListed} root(s) listed, ${result.rootsKnown} known to the catalog, ${count} snapshot record(s) ${result.dryRun ? 'would be recreated' : 'recreated'}, ${result.skipped.length} left alone${result.dryRun ? '; dry run: nothing was changed' : ''}`,
  );
  if (!result.dryRun && result.enqueued.length > 0)
    lines.push(
      `enqueued: ${result.enqueued.map((t) => `${t.kind} of ${t.planId}/${t.snapshotId}${t.kind === 'copy' ? ` to ${t.region}` : ''}`).join(', ')}`,
    );
  return lines;
}

/** Items by key, in first-seen order (Node 20 has no `Map.groupBy`). */
function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/** Read a root from the primary, else from a vault holding it; a non-retryable failure is returned. */
async function readRoot(
  deps: Pick<PipelineDeps, 'envelope'>,
  vaults: readonly VaultStore[],
  root: ListedRoot,
): Promise<{ ok: true; manifest: Manifest } | { ok: false; reason: string }> {
  let reason = '';
  for (const vault of vaults) {
    if (!root.heldBy.has(vault.region)) continue;
    try {
      return { ok: true, manifest: await readManifest(vault, deps.envelope, root.planId, root.manifestId) };
    } catch (error) {
      if (isRetryable(error)) throw error;
      reason ||= `unreadable in ${vault.region}: ${reasonOf(error)}`;
    }
  }
  return { ok: false, reason };
}

/**
 * The vaults repair lists roots in: the primary, the copy regions', and the isolated vaults (read
 * only; a snapshot one holds is recorded as copied there, docs/format.md#isolated-vaults).
 */
function vaultsHoldingRoots(vaults: Vaults): VaultStore[] {
  return [vaults.primary, ...vaults.copies.values(), ...(vaults.isolated?.values() ?? [])];
}

/**
 * The record of a snapshot recovered from its root: what the seal would have written that the root
 * says (times, parent, totals, manifest id), the copy state of each of the plan's copy regions
 * (COPIED where that region's vault holds the root, else PENDING), and `journalUntil` for plans under
 * continuous protection (a snapshot's journal horizon is its time).
 */
function recovered(
  deps: Pick<PipelineDeps, 'clock' | 'vaults'>,
  plan: PlanRecord,
  root: ListedRoot,
  manifest: Manifest,
): RecoveredSnapshot {
  const regions: Record<string, RegionCopy> = {};
  for (const region of copyTargetsOf(plan)) {
    const copiedAt = root.heldBy.get(region);
    regions[region] = copiedAt ? { status: 'COPIED', copiedAt } : { status: 'PENDING' };
  }
  const record: SnapshotRecord = {
    planId: plan.id,
    snapshotId: manifest.snapshotId,
    status: 'COMMITTED',
    scheduledAt: manifest.scheduledAt,
    time: manifest.time,
    startedAt: manifest.time,
    committedAt: manifest.completedAt,
    manifestId: root.manifestId,
    parentSnapshotId: manifest.parentSnapshotId,
    objectCount: manifest.totals.objectCount,
    logicalBytes: manifest.totals.logicalBytes,
    seconds: (Date.parse(manifest.completedAt) - Date.parse(manifest.time)) / 1000,
    regions,
    ...(plan.continuous ? { journalUntil: manifest.time } : {}),
    repairedAt: nowIso(deps.clock),
  };
  const primary = deps.vaults.primary.region;
  const held = [...root.heldBy.keys()].sort((a, b) =>
    a === primary ? -1 : b === primary ? 1 : a < b ? -1 : 1,
  );
  return {
    planId: plan.id,
    snapshotId: manifest.snapshotId,
    manifestId: root.manifestId,
    regions: held,
    record,
  };
}
