/**
 * Verification tier 3, deep: a sample (or all) of the blobs is read from the region's packs, opened
 * and hashed to its id, resumably across tasks.
 * @see ../../../docs/format.md#verification
 */

import pLimit from 'p-limit';
import type { Envelope } from '../envelope.ts';
import { nowIso, throttled, tuningOf, vaultIn } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';
import type { RegionVerification, TierVerification } from '../records.ts';
import {
  type BlobCheck,
  type BlobLocation,
  type CoalesceLimits,
  checkBlobsOfPack,
  coalesceBlobReads,
} from '../repository/read-blobs.ts';
import { jobIdOf, taskIdOf } from '../tasks.ts';
import type { ContentId } from '../vault.ts';
import { MAX_LISTED, regionIndex, secondsSince, type TierContext } from './context.ts';
import { type BlobOrder, deepPassOrder } from './sample.ts';

/** Blobs of the pass order per window (the cursor moves a window at a time), unless configured… */
const WINDOW_BLOBS = 4096;
/** …and at most this many stored bytes, unless one blob is larger: well inside the time reserve. */
const WINDOW_BYTES = 512 * 1024 * 1024;
/**
 * How the deep tier coalesces the reads of a window's blobs: spans up to 8 MiB of a pack, skipping
 * at most 256 KiB of blobs outside the window between two inside it (as a restore does).
 */
export const DEEP_COALESCE_LIMITS: CoalesceLimits = {
  maxSpanBytes: 8 * 1024 * 1024,
  maxGapBytes: 256 * 1024,
};

/**
 * The window of the pass order from `from`: the blobs the index locates (and their coalesced reads,
 * at most `maxReads` unless one blob alone), and those it does not.
 * @internal exported for its tests.
 */
export function windowOf(
  order: BlobOrder,
  from: number,
  index: { locate(blobId: ContentId): BlobLocation | undefined },
  windowBlobs: number,
  maxReads: number,
): { located: BlobLocation[]; unlocated: ContentId[]; reads: BlobLocation[][]; to: number } {
  // A sample spread over many packs coalesces little: shrink the window until its reads are few
  // enough to finish well inside the time reserve.
  let blobs = windowBlobs;
  for (;;) {
    const window = blobsOf(order, from, index, blobs);
    const reads = coalesceBlobReads(window.located, DEEP_COALESCE_LIMITS);
    if (reads.length <= maxReads || blobs === 1) return { ...window, reads };
    blobs = Math.max(1, Math.floor(((window.to - from) * maxReads) / reads.length));
  }
}

/** Up to `windowBlobs` blobs of the order from `from` (and at most WINDOW_BYTES, unless one is larger). */
function blobsOf(
  order: BlobOrder,
  from: number,
  index: { locate(blobId: ContentId): BlobLocation | undefined },
  windowBlobs: number,
): { located: BlobLocation[]; unlocated: ContentId[]; to: number } {
  const located: BlobLocation[] = [];
  const unlocated: ContentId[] = [];
  let to = from;
  let windowBytes = 0;
  while (to < order.length && to - from < windowBlobs && windowBytes < WINDOW_BYTES) {
    const blobId = order.at(to) as ContentId;
    const where = index.locate(blobId);
    if (where) {
      located.push(where);
      windowBytes += where.lengthBytes;
    } else unlocated.push(blobId);
    to += 1;
  }
  return { located, unlocated, to };
}

/** Check a window's blobs, a coalesced read at a time (`readLimit` at once). @returns what it checked. */
async function checkWindow(
  vault: VaultStore,
  envelope: Envelope,
  window: { located: BlobLocation[]; unlocated: ContentId[]; reads: BlobLocation[][] },
  result: RegionVerification,
  readLimit: (read: () => Promise<void>) => Promise<void>,
): Promise<{ blobs: number; bytes: number }> {
  // Listed up to MAX_LISTED, in the order found (what the region's result keeps), not all of them.
  for (const blobId of window.unlocated)
    if (result.missingBlobs.length < MAX_LISTED) result.missingBlobs.push(blobId);
  result.checkedBlobs += window.unlocated.length;
  let bytes = 0;
  await Promise.all(
    window.reads.map((read) =>
      readLimit(async () => {
        const checks = await checkBlobsOfPack(vault, envelope, read);
        bytes += tally(result, read, checks);
      }),
    ),
  );
  return { blobs: window.unlocated.length + window.located.length, bytes };
}

/** Count a read's blobs as checked, and list the missing and corrupt ones. @returns their bytes. */
function tally(
  result: RegionVerification,
  read: readonly BlobLocation[],
  checks: readonly BlobCheck[],
): number {
  let bytes = 0;
  for (const [i, where] of read.entries()) {
    const list =
      checks[i] === 'missing'
        ? result.missingBlobs
        : checks[i] === 'corrupt'
          ? result.corruptBlobs
          : undefined;
    if (list && list.length < MAX_LISTED) list.push(where.blobId);
    bytes += where.lengthBytes;
  }
  result.checkedBlobs += read.length;
  result.checkedBytes = (result.checkedBytes ?? 0) + bytes;
  return bytes;
}

/**
 * Tier 3: read, open and hash blobs in {@link deepPassOrder}, region after region, each region
 * through its own index, from the cursor of a pass still RUNNING, a window of the order at a time:
 * the window's blobs of one pack are read together (one ranged GET per run of them, as
 * {@link coalesceBlobReads} groups them), each still opened and hashed on its own. When time runs
 * low, record the cursor and return RUNNING. A blob the region's index does not locate,
 * or whose pack is gone, is missing; one that does not open or hash to its id is corrupt.
 * @see ../../../docs/format.md#packs
 */
export async function deepTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, plan } = c;
  const all = task.kind === 'verify-tier' && task.all === true;
  const scope = all ? 'all' : 'sample';
  const previous = c.snapshot.verification?.tiers?.deep;
  // A task naming the deep tier continues a pass that ran out of time; the pipeline's step starts one.
  const resume =
    task.kind === 'verify-tier' &&
    task.tier === 'deep' &&
    previous?.status === 'RUNNING' &&
    previous.scope === scope;
  const order = deepPassOrder(
    task.snapshotId,
    c.referenced,
    {
      all,
      samplePercent: plan.verification.samplePercent,
      ...(plan.verification.sampleBytes === undefined ? {} : { sampleBytes: plan.verification.sampleBytes }),
    },
    { scratch: deps.scratch, memoryBlobs: tuningOf(deps).indexMemoryBlobs },
  );
  try {
    return await walkOrder(c, order, resume ? previous : undefined, scope);
  } finally {
    order.close();
  }
}

/** The deep pass over `order`, region after region, from `previous`'s cursors when it resumes. */
async function walkOrder(
  c: TierContext,
  order: BlobOrder,
  previous: TierVerification | undefined,
  scope: 'all' | 'sample',
): Promise<TierVerification> {
  const { deps, task, options } = c;
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
    const before = previous?.regions[region];
    const result: RegionVerification = {
      referencedBlobs: c.referenced.size,
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
    // Coalesced reads in flight: each at most DEEP_COALESCE_LIMITS.maxSpanBytes in memory.
    const readLimit = pLimit(concurrency);
    while ((result.cursor ?? 0) < order.length) {
      // Always make progress: the first window of a task runs whatever the time left.
      if (batches > 0 && outOfTime()) {
        stopped = true;
        break;
      }
      const from = result.cursor ?? 0;
      const window = windowOf(order, from, index, options.windowBlobs ?? WINDOW_BLOBS, concurrency * 8);
      const checked = await checkWindow(vault, deps.envelope, window, result, readLimit);
      bytes += checked.bytes;
      done += checked.blobs;
      batches += 1;
      result.cursor = window.to;
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
