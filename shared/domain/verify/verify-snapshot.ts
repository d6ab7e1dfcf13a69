/**
 * The verify task: run the tiers a task asks for on one snapshot, in every region holding it, and
 * record the result on the snapshot, its task and (on failure) its job.
 * @see ../../../docs/format.md#verification
 */

import { NotFoundError } from '../errors.ts';
import { nowIso, type PipelineDeps, recordTaskFailure, regionsHolding, tuningOf } from '../pipeline.ts';
import type { TierVerification, Verification, VerificationTier } from '../records.ts';
import { readManifest } from '../repository/read-documents.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import { jobIdOf, taskIdOf, type VerifyTask, type VerifyTierTask } from '../tasks.ts';
import { catalogTier } from './catalog-tier.ts';
import { checksumTier } from './checksum-tier.ts';
import { loadExpected, type TierContext, type VerifyOptions } from './context.ts';
import { deepTier } from './deep-tier.ts';
import { withItemChecks } from './items.ts';
import { ReferencedBlobs } from './referenced.ts';
import { describeFailure, mergeVerification, VERIFICATION_TIERS } from './report.ts';

/**
 * Run a task of the verify queue: `verify`, the catalog and checksum tiers and a deep pass over the
 * plan's sample, then ask for `forget` (the pipeline's verify step); `verify-tier`, `task.tier` alone
 * (a scheduled run, or a deep pass continuing from its cursor).
 *
 * Reads the manifest root and its parts from the primary (a part the primary lacks or cannot open
 * is read from a copy region), and each region's index once; each region is judged by its own
 * index and listings.
 * @throws NotFoundError (not retryable) for an unknown plan or snapshot, or a root missing from the
 *   primary or a part missing from every region (nothing to verify against).
 * @throws TransientError (retryable) when storage fails; missing or corrupt data is a result, not an error.
 * @returns the snapshot's verification record after this run, or undefined for a snapshot that is not
 *   committed (or was forgotten and its record removed since: a late redelivery does nothing).
 * @example
 * ```ts
 * const v = await verifySnapshot(deps, { kind: 'verify-tier', planId: 'photos', snapshotId, tier: 'deep' }, {
 *   remainingMs: () => context.getRemainingTimeInMillis(),
 * });
 * if (v?.status === 'FAILED') alarm(v);
 * ```
 * @see ../../../docs/format.md#verification
 */
export async function verifySnapshot(
  deps: PipelineDeps,
  task: VerifyTask | VerifyTierTask,
  options: VerifyOptions = {},
): Promise<Verification | undefined> {
  const { catalog, clock, envelope, vaults } = deps;
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  const snapshot = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!snapshot) {
    // A late redelivery after prune forgot the snapshot and removed its record (its job stays).
    if (await catalog.getJob(jobId)) return undefined;
    throw new NotFoundError(`snapshot ${jobId} does not exist`);
  }
  if (snapshot.status !== 'COMMITTED' || !snapshot.manifestId) return undefined;
  const manifestId = snapshot.manifestId;
  await catalog.startTask(jobId, taskId, nowIso(clock));
  const indexes = new Map<string, Promise<VaultIndex>>();
  const referenced = new ReferencedBlobs(deps.scratch, tuningOf(deps).indexMemoryBlobs);
  try {
    const manifest = await readManifest(vaults.primary, envelope, task.planId, manifestId);
    const regions = regionsHolding(deps.vaults, snapshot);
    const context: TierContext = {
      deps,
      options,
      task,
      plan,
      snapshot,
      manifestId,
      manifest,
      referenced,
      unreadableParts: new Map(),
      regions,
      indexes,
    };
    await loadExpected(context);
    const results: Partial<Record<VerificationTier, TierVerification>> = {};
    for (const tier of task.kind === 'verify-tier' ? [task.tier] : VERIFICATION_TIERS) {
      results[tier] = withItemChecks(await runTier(context, tier), context.items);
    }

    // Re-read just before writing, so a tier that ran meanwhile is kept, and a failure stays a failure.
    const latest = await catalog.getSnapshot(task.planId, task.snapshotId);
    const verification = mergeVerification(latest?.verification, results, nowIso(clock));
    await catalog.updateSnapshot(task.planId, task.snapshotId, { verification }, ['COMMITTED']);

    const failure = describeFailure(results);
    const deep = results.deep;
    await catalog.updateTask(jobId, taskId, {
      status: failure ? 'FAILED' : 'SUCCEEDED',
      finishedAt: nowIso(clock),
      ...(failure ? { error: failure } : {}),
      result: {
        tiers: Object.keys(results).join(','),
        regions: context.regions.length,
        referencedBlobs: context.referenced.size,
        referencedParts: manifest.parts.length,
        ...(context.items ? { itemsChecked: context.items.checked } : {}),
        ...(deep ? { deep: deep.status } : {}),
      },
    });
    if (failure)
      await catalog.updateJob(jobId, { status: 'FAILED', error: failure, updatedAt: nowIso(clock) });
    if (deep?.status === 'RUNNING') {
      // Out of time: the pass continues from its cursor in a new task.
      await deps.queue.send({
        kind: 'verify-tier',
        planId: task.planId,
        snapshotId: task.snapshotId,
        tier: 'deep',
        ...(deep.scope === 'all' ? { all: true } : {}),
      });
    }
    if (task.kind === 'verify')
      await deps.queue.send({ kind: 'forget', planId: task.planId, snapshotId: task.snapshotId });
    return verification;
  } catch (error) {
    await recordTaskFailure(deps, jobId, taskId, error);
    throw error;
  } finally {
    // The local disk the task spilled to, if any (a warm container runs the next task).
    referenced.close();
    for (const index of indexes.values()) index.then((loaded) => loaded.close()).catch(() => undefined);
  }
}

/** One tier's checks of blobs, parts and packs (the item checks are added by the caller). */
function runTier(context: TierContext, tier: VerificationTier): Promise<TierVerification> {
  if (tier === 'catalog') return catalogTier(context);
  if (tier === 'checksum') return checksumTier(context);
  return deepTier(context);
}
