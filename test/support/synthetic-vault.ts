// A vault for the memory tests' child processes (gc-memory-child.ts, verify-memory-child.ts): one
// committed snapshot of plan `photos` whose index documents name `blobCount` blobs (50,000 a
// document, 500 a pack; the packs themselves are never stored) and whose parts name every other one.
import { randomBytes } from 'node:crypto';
import { writeIndex, writeManifest, writePart } from '#domain/repository/write.ts';
import { type IndexedPack, type ManifestEntry, manifestRoot, PART_MAX_ENTRIES } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline } from './memory-pipeline.ts';

const BLOBS_PER_PACK = 500;
const BLOBS_PER_DOCUMENT = 50_000;

/** The pipeline, and the snapshot's id. */
export async function syntheticVault(blobCount: number): Promise<{ p: MemoryPipeline; snapshotId: string }> {
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
  const { manifestId } = await writeManifest(
    vault,
    deps.envelope,
    manifestRoot(
      {
        planId,
        snapshotId,
        parentSnapshotId: null,
        source: { bucket: 'source', prefix: '' },
        scheduledAt: at,
        time: at,
        completedAt: at,
      },
      parts,
    ),
  );
  await catalog.updateSnapshot(
    planId,
    snapshotId,
    { status: 'COMMITTED', manifestId, time: at, committedAt: at, parentSnapshotId: null },
    ['RUNNING'],
  );
  return { p, snapshotId };
}
