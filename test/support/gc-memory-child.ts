// Child process of test/unit/gc-memory.test.ts: the bytes a garbage-collection run of a vault of
// `blobs` blobs (half of them live) holds once it has read its inputs (the live set and every index
// document: its peak), measured with the run's plan alive; with a second argument, a run whose live
// set and index documents spill to local disk past that many blobs. Run with --expose-gc; prints
// one JSON line.
import { randomBytes } from 'node:crypto';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { gcOptions, readGcInputs } from '#domain/gc/collect.ts';
import { planGc } from '#domain/gc/plan.ts';
import { writeIndex, writeManifest, writePart } from '#domain/repository/write.ts';
import {
  type IndexedPack,
  type ManifestEntry,
  PART_MAX_ENTRIES,
  VAULT_FORMAT_VERSION,
} from '#domain/vault.ts';
import { memoryPipeline } from './memory-pipeline.ts';

const [blobCount = 100_000, memoryBlobs] = process.argv.slice(2).map(Number);
const BLOBS_PER_PACK = 500;
const BLOBS_PER_DOCUMENT = 50_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const p = memoryPipeline('2026-12-05T00:00:00Z');
const { catalog, primary: vault, deps } = p;
const planId = 'photos';
const snapshotId = '20261205T000000Z';
const at = '2026-12-05T00:00:00.000Z';
await catalog.createJob(
  { jobId: `${planId}/${snapshotId}`, planId, snapshotId, status: 'RUNNING', createdAt: at, updatedAt: at },
  { planId, snapshotId, status: 'RUNNING', scheduledAt: at },
);
// Index documents of 50,000 blobs in packs of 500; every other blob is named by the snapshot.
const entries: ManifestEntry[] = [];
for (let first = 0; first < blobCount; first += BLOBS_PER_DOCUMENT) {
  const packs: IndexedPack[] = [];
  for (let pack = first; pack < Math.min(blobCount, first + BLOBS_PER_DOCUMENT); pack += BLOBS_PER_PACK) {
    const blobs = Array.from({ length: Math.min(BLOBS_PER_PACK, blobCount - pack) }, (_, i) => ({
      blobId: randomBytes(32).toString('hex'),
      offsetBytes: i * 1_100,
      lengthBytes: 1_100,
      sizeBytes: 1_000,
    }));
    packs.push({
      packId: randomBytes(32).toString('hex'),
      stored: { sizeBytes: blobs.length * 1_100, checksumSha256: 'c2hh', checksumType: 'FULL_OBJECT' },
      blobs,
    });
    for (const [i, b] of blobs.entries()) {
      if (i % 2 === 0)
        entries.push({
          key: `k/${String(pack + i).padStart(9, '0')}`,
          sizeBytes: 1_000,
          etag: `"${pack + i}"`,
          lastModified: at,
          blobs: [b.blobId],
        });
    }
  }
  await writeIndex(vault, deps.envelope, packs);
}
const parts = [];
for (let i = 0; i < entries.length; i += PART_MAX_ENTRIES)
  parts.push((await writePart(vault, deps.envelope, planId, entries.slice(i, i + PART_MAX_ENTRIES))).ref);
entries.length = 0;
const { manifestId } = await writeManifest(vault, deps.envelope, {
  version: VAULT_FORMAT_VERSION,
  type: 'manifest',
  planId,
  snapshotId,
  parentSnapshotId: null,
  source: { bucket: 'source', prefix: '' },
  scheduledAt: at,
  time: at,
  completedAt: at,
  totals: { objectCount: Math.ceil(blobCount / 2), logicalBytes: 0 },
  parts,
});
await catalog.updateSnapshot(
  planId,
  snapshotId,
  { status: 'COMMITTED', manifestId, time: at, committedAt: at, parentSnapshotId: null },
  ['RUNNING'],
);
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
