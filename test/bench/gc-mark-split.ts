// Where a cold garbage-collection run of a large vault spends its time, and what the mark
// checkpoint saves: on a synthetic vault (test/support/synthetic-vault.ts: `blobs` blobs, half
// live, spilled to local disk past `memoryBlobs`), the live set read cold (every part) while
// storing the checkpoint, the live set read again from the checkpoint (what a continuation's last
// invocation does), and a whole run's reading and planning (live set, index documents, listings, plan).
// Usage: node_modules/.bin/node test/bench/gc-mark-split.ts [blobs=1000000] [memoryBlobs=100000]
// Prints one JSON line (seconds). @see docs/format.md#garbage-collection
import { performance } from 'node:perf_hooks';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { gcOptions, readGcInputs } from '#domain/gc/collect.ts';
import { liveSet } from '#domain/gc/live-set.ts';
import { MarkCheckpoint } from '#domain/gc/mark-checkpoint.ts';
import { planGc } from '#domain/gc/plan.ts';
import { syntheticVault } from '../support/synthetic-vault.ts';

const [blobCount = 1_000_000, memoryBlobs = 100_000] = process.argv.slice(2).map(Number);
const { p } = await syntheticVault(blobCount);
const { primary: vault, deps } = p;
deps.scratch = new DiskScratchSpace();
deps.indexMemoryBlobs = memoryBlobs;

const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const value = await fn();
  return [value, (performance.now() - t0) / 1000];
};

const written = new MarkCheckpoint(vault, deps.envelope);
const [cold, markCold] = await timed(async () => {
  const live = await liveSet(deps, vault, { checkpoint: written });
  await written.flush();
  return live;
});
cold.close?.();
const resumed = new MarkCheckpoint(vault, deps.envelope);
const [warm, markFromCheckpoint] = await timed(() => liveSet(deps, vault, { checkpoint: resumed }));
const blobsLive = warm.blobs.size;
warm.close?.();
const [planned, wholeRead] = await timed(async () => {
  const inputs = await readGcInputs(deps, vault, Date.now());
  try {
    return planGc(inputs, gcOptions(deps)).stats;
  } finally {
    inputs.close?.();
  }
});
process.stdout.write(
  `${JSON.stringify({
    blobs: blobCount,
    blobsLive,
    planBlobsLive: planned.blobsLive,
    checkpointDocuments: written.stats.documentsWritten,
    partsFromCheckpoint: resumed.stats.partsFound,
    markColdSeconds: markCold,
    markFromCheckpointSeconds: markFromCheckpoint,
    readAndPlanColdSeconds: wholeRead,
  })}\n`,
);
