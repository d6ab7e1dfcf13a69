/**
 * Verification in three tiers, each recorded per snapshot and per region, each runnable on its own:
 * - **catalog**: the manifest is stored and opens, and every blob it references appears in one
 *   listing of the region's `blobs/` (a diff of listings, not one request per blob);
 * - **checksum**: S3 reports, for every referenced blob, the size and SHA-256 checksum the manifest
 *   recorded when the blob was stored (`HeadObject` with checksum mode; no byte is downloaded);
 * - **deep**: a sample (or all) of the blobs is downloaded, opened (decrypted, decompressed) and
 *   hashed to its address, resumably: a pass that runs low on time saves its cursor on the snapshot
 *   record and continues in a new task.
 * A failure marks the snapshot and its job and is never turned back into success by a later run.
 * @see ../../docs/format.md#verification
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { blobIdsIn } from './copy.ts';
import { IntegrityError, NotFoundError } from './errors.ts';
import { readManifest } from './manifests.ts';
import {
  nowIso,
  type PipelineDeps,
  recordTaskFailure,
  regionsHolding,
  throttled,
  vaultIn,
} from './pipeline.ts';
import type {
  PlanRecord,
  RegionVerification,
  SnapshotRecord,
  TierVerification,
  Verification,
  VerificationTier,
} from './ports.ts';
import { jobIdOf, taskIdOf, type VerifyTask } from './tasks.ts';
import {
  blobAssociatedData,
  type ContentId,
  contentIdOf,
  type Manifest,
  type StoredBlob,
  VaultLayout,
} from './vault.ts';

/** Tiers in the order a full verification runs them. */
export const VERIFICATION_TIERS: readonly VerificationTier[] = ['catalog', 'checksum', 'deep'];

/** At most this many blob ids are recorded per list (missing, mismatched, corrupt). */
const MAX_LISTED = 100;

/** How a verify task may spend its time. */
export interface VerifyOptions {
  /**
   * Milliseconds the task has left (on Lambda, `context.getRemainingTimeInMillis`). Without it a
   * deep pass runs to the end in one task.
   */
  remainingMs?: () => number;
  /** A deep pass saves its cursor and continues in a new task when fewer milliseconds remain. @default 60000 */
  reserveMs?: number;
}

/**
 * The deep tier's draw for `blobId` in `snapshotId`: a number in [0, 1) from the hash of both, so
 * each snapshot samples different blobs and a retry samples the same ones.
 */
export function sampleDraw(snapshotId: string, blobId: string): number {
  return createHash('sha256').update(`${snapshotId}:${blobId}`).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Whether `blobId` is in the percent sample of `snapshotId`.
 * @param samplePercent 0–100.
 */
export function inSample(snapshotId: string, blobId: string, samplePercent: number): boolean {
  return sampleDraw(snapshotId, blobId) < samplePercent / 100;
}

/**
 * The blobs a deep pass checks, in the stable order it checks them (ascending draw, then id): all
 * referenced blobs, or the sample — a blob whose draw falls below `samplePercent`, or whose
 * predecessors in that order add up to fewer than `sampleBytes` stored bytes, and at least the first
 * blob when either setting is positive.
 * @param expected referenced blob ids and their stored record (undefined when the manifest has none:
 *   the blob's logical size stands in for its stored size).
 * @see docs/format.md#verification
 */
export function deepPassOrder(
  snapshotId: string,
  expected: ReadonlyMap<ContentId, { stored?: StoredBlob; logicalBytes: number }>,
  scope: { all: boolean; samplePercent: number; sampleBytes?: number },
): ContentId[] {
  const ordered = [...expected.keys()]
    .map((id) => ({ id, draw: sampleDraw(snapshotId, id) }))
    .sort((a, b) => a.draw - b.draw || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (scope.all) return ordered.map((o) => o.id);
  const sampleBytes = scope.sampleBytes ?? 0;
  const chosen: ContentId[] = [];
  let before = 0;
  ordered.forEach(({ id, draw }, i) => {
    const info = expected.get(id);
    if (
      draw < scope.samplePercent / 100 ||
      before < sampleBytes ||
      (i === 0 && (scope.samplePercent > 0 || sampleBytes > 0))
    ) {
      chosen.push(id);
    }
    before += info?.stored?.sizeBytes ?? info?.logicalBytes ?? 0;
  });
  return chosen;
}

/**
 * Run a verify task: without `task.tier`, the catalog and checksum tiers and a deep pass over the
 * plan's sample, then ask for prune (the pipeline's verify step); with `task.tier`, that tier alone
 * (a scheduled run, or a deep pass continuing from its cursor).
 * @throws NotFoundError (not retryable) for an unknown plan or snapshot.
 * @throws TransientError (retryable) when storage fails; missing or corrupt data is a result, not an error.
 * @returns the snapshot's verification record after this run, or undefined for a snapshot that is not committed.
 * @example
 * ```ts
 * const v = await verifySnapshot(deps, { kind: 'verify', planId: 'photos', snapshotId, tier: 'deep' }, {
 *   remainingMs: () => context.getRemainingTimeInMillis(),
 * });
 * if (v?.status === 'FAILED') alarm(v);
 * ```
 */
export async function verifySnapshot(
  deps: PipelineDeps,
  task: VerifyTask,
  options: VerifyOptions = {},
): Promise<Verification | undefined> {
  const { catalog, clock, envelope, vaults } = deps;
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  const snapshot = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!snapshot) throw new NotFoundError(`snapshot ${jobId} does not exist`);
  if (snapshot.status !== 'COMMITTED' || !snapshot.manifestId) return undefined;
  const manifestId = snapshot.manifestId;
  await catalog.startTask(jobId, taskId, nowIso(clock));
  try {
    const manifest = await readManifest(vaults.primary, envelope, task.planId, manifestId);
    const context: TierContext = {
      deps,
      options,
      task,
      plan,
      snapshot,
      manifestId,
      expected: expectedBlobs(manifest),
      regions: regionsHolding(deps.vaults, snapshot),
    };
    const results: Partial<Record<VerificationTier, TierVerification>> = {};
    for (const tier of task.tier ? [task.tier] : VERIFICATION_TIERS) {
      if (tier === 'catalog') results.catalog = await catalogTier(context);
      else if (tier === 'checksum') results.checksum = await checksumTier(context);
      else results.deep = await deepTier(context);
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
        referencedBlobs: context.expected.size,
        ...(deep ? { deep: deep.status } : {}),
      },
    });
    if (failure)
      await catalog.updateJob(jobId, { status: 'FAILED', error: failure, updatedAt: nowIso(clock) });
    if (deep?.status === 'RUNNING') {
      // Out of time: the pass continues from its cursor in a new task.
      await deps.queue.send({
        kind: 'verify',
        planId: task.planId,
        snapshotId: task.snapshotId,
        tier: 'deep',
        ...(deep.scope === 'all' ? { all: true } : {}),
      });
    }
    if (!task.tier)
      await deps.queue.send({ kind: 'prune', planId: task.planId, snapshotId: task.snapshotId });
    return verification;
  } catch (error) {
    await recordTaskFailure(deps, jobId, taskId, error);
    throw error;
  }
}

/**
 * Fold one run's tier results into a snapshot's verification record: the tiers run replace their
 * previous results; the overall status is FAILED when any tier failed now or the record was FAILED
 * before (a failure is never turned back into success).
 */
export function mergeVerification(
  previous: Verification | undefined,
  results: Partial<Record<VerificationTier, TierVerification>>,
  checkedAt: string,
): Verification {
  const tiers = { ...(previous?.tiers ?? {}), ...results };
  const failed = previous?.status === 'FAILED' || Object.values(results).some(tierHasFailures);
  return { status: failed ? 'FAILED' : 'PASSED', checkedAt, tiers };
}

interface TierContext {
  deps: PipelineDeps;
  options: VerifyOptions;
  task: VerifyTask;
  plan: PlanRecord;
  snapshot: SnapshotRecord;
  manifestId: ContentId;
  /** Referenced blobs, with what the manifest says was stored. */
  expected: Map<ContentId, { stored?: StoredBlob; logicalBytes: number }>;
  regions: string[];
}

function expectedBlobs(manifest: Manifest): Map<ContentId, { stored?: StoredBlob; logicalBytes: number }> {
  const expected = new Map<ContentId, { stored?: StoredBlob; logicalBytes: number }>();
  for (const entry of manifest.entries) {
    const known = expected.get(entry.blobId);
    const stored = known?.stored ?? entry.stored;
    expected.set(entry.blobId, { ...(stored ? { stored } : {}), logicalBytes: entry.sizeBytes });
  }
  return expected;
}

/**
 * Whether `probe` finds its document: false when it is missing (NotFoundError), or, with
 * `unreadableIsMissing`, when it cannot be opened (IntegrityError). Anything else is rethrown.
 */
async function documentPresent(
  probe: () => Promise<unknown>,
  unreadableIsMissing: boolean,
): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    if (error instanceof NotFoundError || (unreadableIsMissing && error instanceof IntegrityError))
      return false;
    throw error;
  }
}

function secondsSince(deps: PipelineDeps, started: Date): number {
  return (deps.clock.now().getTime() - started.getTime()) / 1000;
}

/** Tier 1: the manifest opens and every referenced blob is listed. */
async function catalogTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, manifestId } = c;
  const regions: Record<string, RegionVerification> = {};
  for (const region of c.regions) {
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const manifestPresent = await documentPresent(
      () => readManifest(vault, deps.envelope, task.planId, manifestId),
      true,
    );
    const present = await blobIdsIn(vault);
    const missingBlobs = [...c.expected.keys()].filter((id) => !present.has(id));
    regions[region] = {
      referencedBlobs: c.expected.size,
      manifestPresent,
      missingBlobs: missingBlobs.slice(0, MAX_LISTED),
      corruptBlobs: [],
      checkedBlobs: c.expected.size,
      seconds: secondsSince(deps, started),
    };
  }
  return tierResult(deps, regions);
}

/** Tier 2: S3 reports the stored size and checksum the manifest expects, without a download. */
async function checksumTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, manifestId } = c;
  const regions: Record<string, RegionVerification> = {};
  for (const region of c.regions) {
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const manifestPresent = await documentPresent(
      () => vault.checksum(VaultLayout.manifestKey(task.planId, manifestId)),
      false,
    );
    const missingBlobs: string[] = [];
    const mismatchedBlobs: string[] = [];
    let uncheckedBlobs = 0;
    let checkedBlobs = 0;
    const limit = pLimit(deps.concurrency ?? 16);
    await Promise.all(
      [...c.expected].map(([blobId, { stored }]) =>
        limit(async () => {
          let reported: StoredBlob;
          try {
            reported = await vault.checksum(VaultLayout.blobKey(blobId));
          } catch (error) {
            if (error instanceof NotFoundError) {
              missingBlobs.push(blobId);
              return;
            }
            throw error;
          }
          checkedBlobs += 1;
          if (!stored) uncheckedBlobs += 1;
          else if (
            reported.sizeBytes !== stored.sizeBytes ||
            reported.checksumSha256 !== stored.checksumSha256 ||
            reported.checksumType !== stored.checksumType
          ) {
            mismatchedBlobs.push(blobId);
          }
        }),
      ),
    );
    regions[region] = {
      referencedBlobs: c.expected.size,
      manifestPresent,
      missingBlobs: missingBlobs.sort().slice(0, MAX_LISTED),
      mismatchedBlobs: mismatchedBlobs.sort().slice(0, MAX_LISTED),
      uncheckedBlobs,
      corruptBlobs: [],
      checkedBlobs,
      seconds: secondsSince(deps, started),
    };
  }
  return tierResult(deps, regions);
}

/**
 * Tier 3: download, open and hash blobs in {@link deepPassOrder}, region after region, from the
 * cursor of a pass still RUNNING; when time runs low, record the cursor and return RUNNING.
 */
async function deepTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, plan, options } = c;
  const all = task.all ?? false;
  const scope = all ? 'all' : 'sample';
  const previous = c.snapshot.verification?.tiers?.deep;
  // A task naming the deep tier continues a pass that ran out of time; the pipeline's step starts one.
  const resume = task.tier === 'deep' && previous?.status === 'RUNNING' && previous.scope === scope;
  const order = deepPassOrder(task.snapshotId, c.expected, {
    all,
    samplePercent: plan.verification.samplePercent,
    ...(plan.verification.sampleBytes === undefined ? {} : { sampleBytes: plan.verification.sampleBytes }),
  });
  const reserveMs = options.reserveMs ?? 60_000;
  const concurrency = deps.concurrency ?? 16;
  const outOfTime = () => options.remainingMs !== undefined && options.remainingMs() < reserveMs;
  const regions: Record<string, RegionVerification> = {};
  let batches = 0;
  let stopped = false;
  const taskId = taskIdOf(task);
  const jobId = jobIdOf(task);
  let done = 0;
  let bytes = 0;
  const report = throttled(deps.clock, deps.progressIntervalMs ?? 2000, () =>
    deps.catalog.updateTask(jobId, taskId, {
      progress: { done, total: order.length * c.regions.length, bytes },
    }),
  );
  for (const region of c.regions) {
    const before = resume ? previous?.regions[region] : undefined;
    const result: RegionVerification = {
      referencedBlobs: c.expected.size,
      manifestPresent: true,
      missingBlobs: [...(before?.missingBlobs ?? [])],
      corruptBlobs: [...(before?.corruptBlobs ?? [])],
      checkedBlobs: before?.checkedBlobs ?? 0,
      checkedBytes: before?.checkedBytes ?? 0,
      totalBlobs: order.length,
      cursor: Math.min(before?.cursor ?? 0, order.length),
      seconds: before?.seconds ?? 0,
    };
    regions[region] = result;
    if (stopped) continue;
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const limit = pLimit(concurrency);
    while ((result.cursor ?? 0) < order.length) {
      // Always make progress: the first batch of a task runs whatever the time left.
      if (batches > 0 && outOfTime()) {
        stopped = true;
        break;
      }
      const from = result.cursor ?? 0;
      const batch = order.slice(from, from + concurrency);
      await Promise.all(
        batch.map((blobId) =>
          limit(async () => {
            try {
              const sealed = await vault.get(VaultLayout.blobKey(blobId));
              result.checkedBytes = (result.checkedBytes ?? 0) + sealed.length;
              bytes += sealed.length;
              const plaintext = await deps.envelope.open(sealed, blobAssociatedData(blobId));
              if (contentIdOf(plaintext) !== blobId) result.corruptBlobs.push(blobId);
            } catch (error) {
              if (error instanceof IntegrityError) result.corruptBlobs.push(blobId);
              else if (error instanceof NotFoundError) result.missingBlobs.push(blobId);
              else throw error;
            }
            result.checkedBlobs += 1;
            done += 1;
          }),
        ),
      );
      batches += 1;
      result.cursor = from + batch.length;
      await report();
    }
    result.missingBlobs = result.missingBlobs.slice(0, MAX_LISTED);
    result.corruptBlobs = result.corruptBlobs.slice(0, MAX_LISTED);
    result.seconds += secondsSince(deps, started);
  }
  const failed = Object.values(regions).some((r) => r.missingBlobs.length > 0 || r.corruptBlobs.length > 0);
  return {
    // A pass cut short is RUNNING even when it found corrupt blobs already: those fail the snapshot
    // now, and the pass goes on to check the rest.
    status: stopped ? 'RUNNING' : failed ? 'FAILED' : 'PASSED',
    checkedAt: nowIso(deps.clock),
    scope,
    regions,
  };
}

function tierResult(deps: PipelineDeps, regions: Record<string, RegionVerification>): TierVerification {
  const failed = Object.values(regions).some(
    (r) => !r.manifestPresent || r.missingBlobs.length > 0 || (r.mismatchedBlobs?.length ?? 0) > 0,
  );
  return { status: failed ? 'FAILED' : 'PASSED', checkedAt: nowIso(deps.clock), regions };
}

/** Whether a tier found anything wrong (a deep pass still RUNNING may already have). */
export function tierHasFailures(t: TierVerification): boolean {
  return t.status === 'FAILED' || Object.values(t.regions).some((r) => regionProblems(r).length > 0);
}

/**
 * One line per failed tier and region, e.g. `deep us-east-1: 1 corrupt blob(s)`; undefined when
 * nothing failed. The CLI's status shows the same words.
 */
export function describeFailure(
  tiers: Partial<Record<VerificationTier, TierVerification>>,
): string | undefined {
  const lines: string[] = [];
  for (const tier of VERIFICATION_TIERS) {
    const result = tiers[tier];
    if (!result || !tierHasFailures(result)) continue;
    for (const [region, r] of Object.entries(result.regions)) {
      const problems = regionProblems(r);
      if (problems.length > 0) lines.push(`${tier} ${region}: ${problems.join(', ')}`);
    }
  }
  return lines.length > 0 ? `verification failed: ${lines.join('; ')}` : undefined;
}

/** What is wrong in one region's result, in words (empty when nothing is). */
export function regionProblems(r: RegionVerification): string[] {
  const problems: string[] = [];
  if (!r.manifestPresent) problems.push('manifest missing');
  if (r.missingBlobs.length > 0)
    problems.push(`${r.missingBlobs.length} missing blob(s) (${r.missingBlobs[0]}…)`);
  if ((r.mismatchedBlobs?.length ?? 0) > 0)
    problems.push(`${r.mismatchedBlobs?.length} checksum mismatch(es) (${r.mismatchedBlobs?.[0]}…)`);
  if (r.corruptBlobs.length > 0)
    problems.push(`${r.corruptBlobs.length} corrupt blob(s) (${r.corruptBlobs[0]}…)`);
  return problems;
}
