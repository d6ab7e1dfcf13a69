// Child process of test/unit/gc-memory.test.ts: the bytes a garbage-collection run of a vault of
// `blobs` blobs (half of them live) holds once it has read its inputs (the live set and every index
// document: its peak), measured with the run's plan alive; with a second argument, a run whose live
// set and index documents spill to local disk past that many blobs. Run with --expose-gc; prints
// one JSON line.
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { gcOptions, readGcInputs } from '#domain/gc/collect.ts';
import { planGc } from '#domain/gc/plan.ts';
import { syntheticVault } from './synthetic-vault.ts';

const [blobCount = 100_000, memoryBlobs] = process.argv.slice(2).map(Number);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const { p } = await syntheticVault(blobCount);
const { primary: vault, deps } = p;
if (memoryBlobs !== undefined) {
  deps.scratch = new DiskScratchSpace();
  deps.indexMemoryBlobs = memoryBlobs;
}

const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
// One run first, closed: what any first run allocates once per process (buffer pools, the zstd
// contexts) is not the run's to count.
const warm = async () => {
  const first = await readGcInputs(deps, vault, Date.now());
  first.close?.();
};
await warm();
const before = used();
const inputs = await readGcInputs(deps, vault, Date.now());
const plan = planGc(inputs, gcOptions(deps));
const after = used();
const result = {
  blobs: blobCount,
  bytes: after - before,
  bytesPerBlob: (after - before) / blobCount,
  blobsLive: plan.stats.blobsLive,
  packsLive: plan.stats.packsLive,
  packsDead: plan.mark.length,
  liveSpilled: (inputs.live.blobs as { spilledIds?: number }).spilledIds ?? 0,
};
inputs.close?.();
process.stdout.write(`${JSON.stringify(result)}\n`);
