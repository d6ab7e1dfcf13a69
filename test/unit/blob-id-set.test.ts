// BlobIdSet: garbage collection's live set of blob ids, held as binary ids (issue 14: GC over
// 1024 MB at 2.9 million blobs, a Set of hex strings costing about 110 bytes a live blob).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { liveSet } from '#domain/gc/live-set.ts';
import { BlobIdSet, SpillingIdSet } from '#domain/repository/blob-id-set.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import type { SnapshotTask } from '#domain/tasks.ts';
import { MemoryScratchSpace } from '../support/memory/scratch.ts';
import { memoryPipeline, plan } from '../support/memory-pipeline.ts';

const child = fileURLToPath(new URL('../support/blob-id-set-memory-child.ts', import.meta.url));
const id = (n: number) => createHash('sha256').update(String(n)).digest('hex');

describe('BlobIdSet', () => {
  it('agrees with a Set of the same ids through many growths, duplicates added twice', () => {
    const compact = new BlobIdSet();
    const reference = new Set<string>();
    for (let n = 0; n < 20_000; n++) {
      const blobId = id(n % 15_000); // the last 5,000 are added again
      compact.add(blobId);
      reference.add(blobId);
    }
    expect(compact.size).toBe(reference.size);
    for (let n = 0; n < 30_000; n++) expect(compact.has(id(n))).toBe(reference.has(id(n)));
  });

  it('tells apart ids that share their first 4 bytes (the hash key)', () => {
    const a = `00000000${'a'.repeat(56)}`;
    const b = `00000000${'b'.repeat(56)}`;
    const set = new BlobIdSet().add(a);
    expect(set.has(a)).toBe(true);
    expect(set.has(b)).toBe(false);
    set.add(b);
    expect(set.size).toBe(2);
  });

  it('refuses what is not a content id, rather than matching a stale probe', () => {
    const set = new BlobIdSet().add(id(1));
    expect(() => set.has(`${id(1).slice(0, 62)}zz`)).toThrow(/not a content id/);
    expect(() => set.add('abc')).toThrow(/not a content id/);
  });

  it('keeps under 64 bytes per id, under 70% of a Set of the same hex strings (about 58 and 106 here)', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', child, '200000'], { encoding: 'utf8' });
    const { compactPerId, setPerId, wrong, sizes } = JSON.parse(out.trim().split('\n').at(-1) as string);
    expect(wrong).toBe(0);
    expect(sizes).toEqual([200_000, 200_000]);
    expect(compactPerId).toBeLessThan(64);
    expect(compactPerId).toBeLessThan(setPerId * 0.7);
  }, 60_000);

  it("holds garbage collection's live blobs: every blob a committed snapshot names", async () => {
    // Arrange: one committed snapshot of three objects
    const p = memoryPipeline();
    await p.catalog.putPlans([plan({ source: { bucket: 'source', prefix: '' }, copyRegions: [] })]);
    p.objects.createBucket('source');
    for (const key of ['a.txt', 'b.txt', 'c.txt']) await p.objects.put('source', key, Buffer.from(key), {});
    await startSnapshotNow(p.deps, 'photos');
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      for (const t of tasks)
        if (t.kind.startsWith('snapshot-')) await takeSnapshot(p.deps, t as SnapshotTask);
    }
    const [snapshot] = await p.catalog.listSnapshots('photos');
    expect(snapshot?.status).toBe('COMMITTED');
    const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', snapshot?.manifestId as string);
    const named = (await readAllEntries(p.primary, p.deps.envelope, manifest)).flatMap((e) => e.blobs);
    // Act
    const live = await liveSet(p.deps, p.primary);
    // Assess
    expect(live.blobs).toBeInstanceOf(SpillingIdSet);
    expect(live.blobs.size).toBe(new Set(named).size);
    for (const blobId of named) expect(live.blobs.has(blobId)).toBe(true);
  });
});

describe('SpillingIdSet', () => {
  it('agrees with a Set through many moves to disk, each id counted once wherever it is', () => {
    const scratch = new MemoryScratchSpace();
    const spilling = new SpillingIdSet(scratch, 1_000);
    const reference = new Set<string>();
    for (let n = 0; n < 12_000; n++) {
      const blobId = id(n % 7_000); // the last 5,000 are added again, most of them from disk
      spilling.add(blobId);
      reference.add(blobId);
    }
    expect(spilling.spilledIds).toBe(7_000);
    expect(spilling.size).toBe(reference.size);
    for (let n = 0; n < 9_000; n++) expect(spilling.has(id(n))).toBe(reference.has(id(n)));
    spilling.close();
    expect(scratch.openFiles).toBe(0);
  });

  it('stays in memory without scratch space, however many ids', () => {
    const set = new SpillingIdSet(undefined, 10);
    for (let n = 0; n < 100; n++) set.add(id(n));
    expect(set.spilledIds).toBe(0);
    expect(set.size).toBe(100);
    expect(set.has(id(99))).toBe(true);
  });

  it('holds a million ids on disk in under 20 MB, under a third of a BlobIdSet of the same ids', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', child, '1000000', '100000'], {
      encoding: 'utf8',
    });
    const { compactPerId, spillingBytes, wrong, sizes } = JSON.parse(out.trim().split('\n').at(-1) as string);
    expect(wrong).toBe(0);
    expect(sizes).toEqual([1_000_000, 1_000_000, 1_000_000]);
    expect(spillingBytes).toBeLessThan(20 * 1024 * 1024);
    expect(spillingBytes).toBeLessThan((compactPerId * 1_000_000) / 3);
  }, 120_000);
});
