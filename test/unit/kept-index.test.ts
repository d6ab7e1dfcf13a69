// The vault index a warm container keeps between invocations (shared/domain/repository/kept-index.ts):
// snapshot partitions, like capture, refresh it with the documents written since rather than read
// the whole index again, which a spilled index (no read cache) would do on every invocation; and a
// pack marked while the container stayed warm is still never reused.
import { describe, expect, it, vi } from 'vitest';
import { prunePlan } from '#domain/prune.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import type { SnapshotTask } from '#domain/tasks.ts';
import { contentIdOf } from '#domain/vault.ts';
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import { MemoryScratchSpace } from '../support/memory/scratch.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';

/** A pipeline whose every vault index spills to (memory) scratch at once, with plan `photos` over `source`. */
async function spilling(): Promise<MemoryPipeline> {
  const p = memoryPipeline();
  p.deps.scratch = new MemoryScratchSpace();
  p.deps.indexMemoryBlobs = 0;
  await p.catalog.putPlans([plan({ source: { bucket: 'source', prefix: '' }, copyRegions: [] })]);
  p.objects.createBucket('source');
  return p;
}

/**
 * Upload `files` and take a snapshot of plan `photos` through its snapshot tasks (the rest of the
 * job, which reads index documents of its own, is left out); then let `advanceMs` pass.
 */
async function snapshotOf(
  p: MemoryPipeline,
  files: Record<string, string>,
  advanceMs = 120_000,
): Promise<void> {
  for (const [key, text] of Object.entries(files)) await p.objects.put('source', key, Buffer.from(text), {});
  await startSnapshotNow(p.deps, 'photos');
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain())
    for (const t of tasks) if (t.kind.startsWith('snapshot')) await takeSnapshot(p.deps, t as SnapshotTask);
  p.clock.advance(advanceMs);
}

describe('the index a warm snapshot container keeps', () => {
  it('reads only the index documents written since its last invocation, not the whole index again', async () => {
    // Prepare: five snapshots, each storing new content (an index document each)
    const p = await spilling();
    for (let i = 0; i < 5; i++) await snapshotOf(p, { [`file-${i}.txt`]: `content ${i}` });
    const documents = [...p.primary.objects.keys()].filter((k) => k.startsWith('index/')).length;
    expect(documents).toBeGreaterThanOrEqual(5);
    const get = vi.spyOn(p.primary, 'get');
    // Act
    await snapshotOf(p, { 'file-5.txt': 'content 5' });
    // Assess: the one document the last snapshot wrote, where a load reads all of them
    const indexReads = get.mock.calls.filter(([key]) => String(key).startsWith('index/'));
    expect(indexReads.length).toBeLessThanOrEqual(1);
    const [latest] = (await p.catalog.listSnapshots('photos')).slice(-1);
    expect(latest?.status).toBe('COMMITTED');
  });

  it('loads afresh once garbage collection rewrote a document it loaded, not locating the packs dropped', async () => {
    // Prepare: the container's index holds 'dropped'; then its index document is rewritten without
    // its pack (what garbage collection does for a pack that is gone)
    const p = await spilling();
    await snapshotOf(p, { 'dropped.txt': 'dropped bytes' });
    const [document] = [...p.primary.objects.keys()].filter((k) => k.startsWith('index/'));
    await p.primary.delete([document as string]);
    // Act: the same content again, once the kept index is old enough to be refreshed
    await snapshotOf(p, { 'again.txt': 'dropped bytes' });
    // Assess: stored again, so an index locates it
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    expect(index.locate(contentIdOf(Buffer.from('dropped bytes')))).toBeDefined();
  });

  it('never reuses a blob of a pack marked while the container stayed warm', async () => {
    // Prepare: the container's index holds the pack of 'doomed'; then garbage collection marks it
    const p = await spilling();
    await snapshotOf(p, { 'doomed.txt': 'doomed bytes' }, 10_000);
    const packId = [...(await VaultIndex.load(p.primary, p.deps.envelope)).packs.keys()][0] as string;
    await p.catalog.putGcMarks(p.primary.bucket, [{ packId, markedAt: p.clock.now().toISOString() }]);
    // Act: the same content again, before the kept index is old enough to be refreshed
    await snapshotOf(p, { 'again.txt': 'doomed bytes' });
    // Assess: stored again, in a pack that is not marked
    const where = (await VaultIndex.load(p.primary, p.deps.envelope, { exclude: new Set([packId]) })).locate(
      contentIdOf(Buffer.from('doomed bytes')),
    );
    expect(where).toBeDefined();
    expect(where?.packId).not.toBe(packId);
  });
});

describe('the local disk a task spills to', () => {
  it('is freed when a verification task or a garbage-collection run ends: a warm container runs the next', async () => {
    // Prepare: a committed snapshot; every index and live set spills (to memory scratch files)
    const p = await spilling();
    await snapshotOf(p, { 'a.txt': 'a', 'b.txt': 'b' });
    const scratch = p.deps.scratch as MemoryScratchSpace;
    const [snapshot] = await p.catalog.listSnapshots('photos');
    expect(snapshot?.status).toBe('COMMITTED');
    const open = scratch.openFiles; // the snapshot container's kept index: its own to keep
    const appended = scratch.appendedBytes;
    // Act
    const verification = await verifySnapshot(p.deps, {
      kind: 'verify',
      planId: 'photos',
      snapshotId: snapshot?.snapshotId as string,
    });
    await new Promise((resolve) => setImmediate(resolve)); // the indexes close once their loads settle
    const afterVerify = scratch.openFiles;
    const appendedByVerify = scratch.appendedBytes - appended;
    const gc = await prunePlan(p.deps, {
      kind: 'gc',
      planId: 'photos',
      snapshotId: snapshot?.snapshotId as string,
      region: 'us-east-1',
    });
    // Assess: both spilled (files were opened) and both closed what they opened
    expect(verification?.status).toBe('PASSED');
    expect(gc.gc['us-east-1']?.blobsLive).toBe(2);
    expect(appendedByVerify).toBeGreaterThan(0);
    expect(scratch.appendedBytes - appended - appendedByVerify).toBeGreaterThan(0);
    expect(afterVerify).toBe(open);
    expect(scratch.openFiles).toBe(open);
  });
});
