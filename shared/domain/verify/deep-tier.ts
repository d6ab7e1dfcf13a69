/**
 * Verification tier 3, deep: a sample (or all) of the blobs is read from the region's packs, opened
 * and hashed to its id, resumably across tasks.
 * @see ../../../docs/format.md#verification
 */

import pLimit from 'p-limit';
import { IntegrityError, NotFoundError, ValidationError } from '../errors.ts';
import { nowIso, throttled, tuningOf, vaultIn } from '../pipeline.ts';
import type { RegionVerification, TierVerification } from '../records.ts';
import { readBlob } from '../repository/read-blobs.ts';
import { jobIdOf, taskIdOf } from '../tasks.ts';
import { MAX_LISTED, regionIndex, secondsSince, type TierContext } from './context.ts';
import { deepPassOrder } from './sample.ts';

/**
 * Tier 3: read (one ranged GET of its pack), open and hash blobs in {@link deepPassOrder}, region
 * after region, each region through its own index, from the cursor of a pass still RUNNING; when
 * time runs low, record the cursor and return RUNNING. A blob the region's index does not locate,
 * or whose pack is gone, is missing; one that does not open or hash to its id is corrupt.
 * @see ../../../docs/format.md#packs
 */
export async function deepTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, plan, options } = c;
  const all = task.kind === 'verify-tier' && task.all === true;
  const scope = all ? 'all' : 'sample';
  const previous = c.snapshot.verification?.tiers?.deep;
  // A task naming the deep tier continues a pass that ran out of time; the pipeline's step starts one.
  const resume =
    task.kind === 'verify-tier' &&
    task.tier === 'deep' &&
    previous?.status === 'RUNNING' &&
    previous.scope === scope;
  const order = deepPassOrder(task.snapshotId, c.expected, {
    all,
    samplePercent: plan.verification.samplePercent,
    ...(plan.verification.sampleBytes === undefined ? {} : { sampleBytes: plan.verification.sampleBytes }),
  });
  const reserveMs = options.reserveMs ?? 60_000;
  const concurrency = tuningOf(deps).concurrency;
  const outOfTime = () => options.remainingMs !== undefined && options.remainingMs() < reserveMs;
  const regions: Record<string, RegionVerification> = {};
  let batches = 0;
  let stopped = false;
  const taskId = taskIdOf(task);
  const jobId = jobIdOf(task);
  let done = 0;
  let bytes = 0;
  const report = throttled(deps.clock, tuningOf(deps).progressIntervalMs, () =>
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
    if (stopped || (result.cursor ?? 0) >= order.length) continue;
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const index = await regionIndex(c, region);
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
            const where = index.locate(blobId);
            if (!where) result.missingBlobs.push(blobId);
            else {
              try {
                result.checkedBytes = (result.checkedBytes ?? 0) + where.lengthBytes;
                bytes += where.lengthBytes;
                await readBlob(vault, deps.envelope, where);
              } catch (error) {
                // ValidationError: the pack is shorter than the index says (a range past its end).
                if (error instanceof IntegrityError || error instanceof ValidationError)
                  result.corruptBlobs.push(blobId);
                else if (error instanceof NotFoundError) result.missingBlobs.push(blobId);
                else throw error;
              }
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
