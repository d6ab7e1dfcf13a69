/**
 * Prune: apply a plan's retention, forget the snapshots it drops, delete their manifests, then
 * collect garbage: delete blobs (and stray manifests) that no live snapshot references and that are
 * older than the grace period.
 *
 * Safety (docs/format.md#read-and-write-ordering):
 * - the newest committed snapshot of a plan, the parent of a running snapshot, a snapshot that
 *   failed verification and a snapshot still running are never forgotten;
 * - a blob is deleted only when no COMMITTED or RUNNING-parent manifest of any plan sharing the
 *   vault references it, and it is older than `gcGraceSeconds` (so the blobs of a snapshot still
 *   being written, which no manifest names yet, are never touched).
 */
import { NotFoundError } from './errors.ts';
import { readManifest } from './manifests.ts';
import { nowIso, type PipelineDeps, recordTaskFailure } from './pipeline.ts';
import type { SnapshotRecord, VaultStore } from './ports.ts';
import { applyRetention, type RetentionDecision } from './retention.ts';
import { jobIdOf, type PruneTask } from './tasks.ts';
import { VaultLayout } from './vault.ts';

/** What a prune task did. */
export interface PruneResult {
  decisions: RetentionDecision[];
  kept: number;
  forgotten: string[];
  /** Per region: what garbage collection deleted. */
  gc: Record<
    string,
    { blobsDeleted: number; bytesDeleted: number; manifestsDeleted: number; blobsLive: number }
  >;
}

/**
 * Run a prune task for one plan; garbage collection covers every plan sharing the vault.
 * @throws NotFoundError (not retryable) for an unknown plan.
 * @throws TransientError (retryable) on storage or catalog failures; a rerun picks up where it stopped.
 * @example
 * ```ts
 * const { forgotten } = await prunePlan(deps, { kind: 'prune', planId: 'photos', snapshotId });
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
    // Forgotten snapshots (of this run and of earlier runs that crashed) lose their manifests, then their records.
    const all = await catalog.listSnapshots(plan.id);
    for (const s of all.filter((x) => x.status === 'FORGOTTEN')) {
      if (s.manifestId) {
        const key = VaultLayout.manifestKey(plan.id, s.manifestId);
        for (const vault of allVaults(deps)) await vault.delete([key]);
      }
      await catalog.deleteSnapshot(plan.id, s.snapshotId);
    }
    const gc: PruneResult['gc'] = {};
    for (const vault of allVaults(deps)) gc[vault.region] = await collectGarbage(deps, vault);
    const result: PruneResult = {
      decisions,
      kept: decisions.filter((d) => d.keep).length + protectedIds.size,
      forgotten,
      gc,
    };
    const totals = Object.values(gc).reduce(
      (acc, r) => ({
        blobsDeleted: acc.blobsDeleted + r.blobsDeleted,
        bytesDeleted: acc.bytesDeleted + r.bytesDeleted,
      }),
      { blobsDeleted: 0, bytesDeleted: 0 },
    );
    await catalog.updateTask(jobId, 'prune', {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      result: { kept: result.kept, forgotten: forgotten.length, ...totals },
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

/**
 * Mark and sweep one vault: mark every blob a live manifest references (every COMMITTED snapshot of
 * every plan), then delete unmarked blobs and unreferenced manifests older than the grace period.
 */
async function collectGarbage(
  deps: PipelineDeps,
  vault: VaultStore,
): Promise<{ blobsDeleted: number; bytesDeleted: number; manifestsDeleted: number; blobsLive: number }> {
  const { catalog, clock, envelope, vaults } = deps;
  const cutoff = clock.now().getTime() - (deps.gcGraceSeconds ?? 86_400) * 1000;
  const live = new Set<string>();
  const liveManifests = new Set<string>();
  for (const plan of await catalog.listPlans()) {
    for (const s of await catalog.listSnapshots(plan.id)) {
      if (!s.manifestId || s.status === 'FORGOTTEN' || s.status === 'FAILED') continue;
      liveManifests.add(VaultLayout.manifestKey(plan.id, s.manifestId));
      if (s.status !== 'COMMITTED') continue;
      // The primary always holds every committed manifest; a copy region may not have it yet.
      const manifest = await readManifest(vaults.primary, envelope, plan.id, s.manifestId);
      for (const e of manifest.entries) live.add(e.blobId);
    }
  }
  const doomed: string[] = [];
  let bytesDeleted = 0;
  let manifestsDeleted = 0;
  for await (const object of vault.list(VaultLayout.blobsPrefix)) {
    const blobId = VaultLayout.blobIdOf(object.key);
    if (!blobId || live.has(blobId) || Date.parse(object.lastModified) > cutoff) continue;
    doomed.push(object.key);
    bytesDeleted += object.sizeBytes;
  }
  for await (const object of vault.list('manifests/')) {
    if (liveManifests.has(object.key) || Date.parse(object.lastModified) > cutoff) continue;
    if (!VaultLayout.manifestIdOf(object.key)) continue;
    doomed.push(object.key);
    manifestsDeleted += 1;
  }
  for (let i = 0; i < doomed.length; i += 1000) await vault.delete(doomed.slice(i, i + 1000));
  return {
    blobsDeleted: doomed.length - manifestsDeleted,
    bytesDeleted,
    manifestsDeleted,
    blobsLive: live.size,
  };
}
