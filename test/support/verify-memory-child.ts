// Child process of test/unit/verify-memory.test.ts: the bytes a verify task holds for a snapshot
// referencing `blobs / 2` blobs once it has read what its tiers share and built what they walk
// (the referenced blobs, the primary's index, the blobs grouped by pack, the deep pass's order with
// its first bucket sorted), measured with all of it alive; with a second argument,
// a task that spills past that many blobs. Run with --expose-gc; prints one JSON line.
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { tuningOf } from '#domain/pipeline.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { loadExpected, locateReferenced, regionIndex, type TierContext } from '#domain/verify/context.ts';
import { ReferencedBlobs } from '#domain/verify/referenced.ts';
import { deepPassOrder } from '#domain/verify/sample.ts';
import { plan } from './memory-pipeline.ts';
import { syntheticVault } from './synthetic-vault.ts';

const [blobCount = 100_000, memoryBlobs] = process.argv.slice(2).map(Number);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const { p, snapshotId } = await syntheticVault(blobCount);
const { deps, catalog } = p;
await catalog.putPlans([plan({ copyRegions: [] })]);
if (memoryBlobs !== undefined) {
  deps.scratch = new DiskScratchSpace();
  deps.indexMemoryBlobs = memoryBlobs;
}
const snapshot = await catalog.getSnapshot('photos', snapshotId);
const planRecord = await catalog.getPlan('photos');
if (!snapshot?.manifestId || !planRecord) throw new Error('no committed snapshot');
const manifest = await readManifest(p.primary, deps.envelope, 'photos', snapshot.manifestId);

/** What a verify task's tiers share and walk, built as they build it. */
async function shared() {
  const c: TierContext = {
    deps,
    options: {},
    task: { kind: 'verify', planId: 'photos', snapshotId },
    plan: planRecord as NonNullable<typeof planRecord>,
    snapshot: snapshot as NonNullable<typeof snapshot>,
    manifestId: snapshot?.manifestId as string,
    manifest,
    referenced: new ReferencedBlobs(deps.scratch, tuningOf(deps).indexMemoryBlobs),
    unreadableParts: new Map(),
    regions: ['us-east-1'],
    indexes: new Map(),
  };
  await loadExpected(c);
  const index = await regionIndex(c, 'us-east-1');
  const located = locateReferenced(c, index);
  const order = deepPassOrder(
    snapshotId,
    c.referenced,
    { all: true, samplePercent: 100 },
    { scratch: deps.scratch, memoryBlobs: tuningOf(deps).indexMemoryBlobs },
  );
  order.at(0); // the pass has begun: its first bucket is sorted
  const close = () => {
    order.close();
    c.referenced.close();
    index.close();
  };
  return { c, located, order, close };
}

const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
// Once first, closed: what any first run allocates once per process is not the task's to count.
const warm = async () => (await shared()).close();
await warm();
const before = used();
const held = await shared();
const after = used();
const located = [...held.located.byPack.values()].reduce((n, count) => n + count, 0);
const result = {
  blobs: blobCount,
  bytes: after - before,
  referenced: held.c.referenced.size,
  located,
  packs: held.located.byPack.size,
  order: held.order.length,
  firstInOrder: held.order.at(0),
};
held.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
