import { beforeEach, describe, expect, it } from 'vitest';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startDueSnapshots, startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

describe('the pipeline on memory twins', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan()]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'dir/b.txt', 'bravo');
    await putText(p, 'dup.txt', 'alpha');
    p.objects.createBucket('restored');
  });

  it('takes, copies, verifies and prunes a snapshot, and restores it byte-identically', async () => {
    // Act
    const started = await startDueSnapshots(p.deps, p.clock.now().toISOString());
    const ran = await p.drain();
    // Assess
    expect(started.started).toHaveLength(1);
    expect(started.failed).toEqual([]);
    // The snapshot is planned as one partition (three objects), which seals it.
    // forget: retention, then one gc task per region
    expect(ran.map((t) => t.kind)).toEqual([
      'snapshot-plan',
      'snapshot-partition',
      'copy',
      'verify',
      'forget',
      'gc',
      'gc',
    ]);
    const [snap] = await p.catalog.listSnapshots('photos');
    expect(snap?.status).toBe('COMMITTED');
    expect(snap?.objectCount).toBe(3);
    expect(snap?.blobsWritten).toBe(2); // dup.txt has a.txt's content: stored once
    expect(snap?.regions?.['eu-west-1']?.status).toBe('COPIED');
    expect(snap?.verification?.status).toBe('PASSED');
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      snapshot: 'latest',
      targetBucket: 'restored',
      targetPrefix: 'r/',
    });
    expect(report.objects).toBe(3);
    const restored = await p.objects.get('restored', 'r/dir/b.txt');
    expect(Buffer.from(restored.body).toString()).toBe('bravo');
    expect(restored.contentType).toBe('text/plain');
    expect(restored.metadata).toEqual({ origin: 'test' });
  });

  it('starts the other plans when one plan cannot be started', async () => {
    await p.catalog.putPlans([plan({ id: 'broken', schedule: 'cron(0 3 ? * ? *)' })]);
    const tick = await startDueSnapshots(p.deps, p.clock.now().toISOString());
    expect(tick.started.map((s) => s.planId)).toEqual(['photos']);
    expect(tick.failed).toEqual([
      { planId: 'broken', reason: expect.stringMatching(/ValidationError/), retryable: false },
    ]);
  });

  it('starts one job per plan and scheduled time, however often the tick repeats', async () => {
    await startDueSnapshots(p.deps, '2026-03-01T00:10:00Z');
    await startDueSnapshots(p.deps, '2026-03-01T00:20:00Z');
    expect(p.queue.sent.filter((t) => t.kind === 'snapshot-plan')).toHaveLength(1);
    await startDueSnapshots(p.deps, '2026-03-01T01:00:00Z');
    expect(p.queue.sent.filter((t) => t.kind === 'snapshot-plan')).toHaveLength(2);
  });

  it('keeps scheduled snapshot ids to the second, whatever the tick time', async () => {
    const tick = await startDueSnapshots(p.deps, '2026-03-01T00:10:00.456Z');
    expect(tick.started).toEqual([
      {
        planId: 'photos',
        snapshotId: '20260301T000000Z',
        scheduledAt: '2026-03-01T00:00:00.000Z',
        created: true,
      },
    ]);
  });

  it('starts two on-demand snapshots in one second, ids to the millisecond in time order; one millisecond is one job', async () => {
    // Act
    p.clock.set('2026-03-01T00:30:00.250Z');
    const first = await startSnapshotNow(p.deps, 'photos');
    await p.drain(); // the manual clock stands still: still 00:30:00.250
    p.clock.advance(1);
    const second = await startSnapshotNow(p.deps, 'photos', { tags: ['t'] });
    const again = await startSnapshotNow(p.deps, 'photos', { tags: ['other'] });
    // Assess
    expect(first).toEqual({
      planId: 'photos',
      snapshotId: '20260301T003000.250Z',
      scheduledAt: '2026-03-01T00:30:00.250Z',
      created: true,
    });
    expect(second).toMatchObject({ snapshotId: '20260301T003000.251Z', created: true });
    expect(again).toEqual({ ...second, created: false });
    // The repeat in the same millisecond sent nothing: one task for the second snapshot.
    expect(p.queue.sent.filter((t) => t.kind === 'snapshot-plan').map((t) => t.snapshotId)).toEqual([
      second.snapshotId,
    ]);
    await p.drain();
    const snaps = await p.catalog.listSnapshots('photos');
    expect(snaps.map((s) => [s.snapshotId, s.status, s.tags])).toEqual([
      [first.snapshotId, 'COMMITTED', undefined],
      [second.snapshotId, 'COMMITTED', ['t']],
    ]);
    expect(snaps[1]?.parentSnapshotId).toBe(first.snapshotId);
  });

  it('yields one complete snapshot when every task is delivered twice', async () => {
    await startDueSnapshots(p.deps, p.clock.now().toISOString());
    await p.drain({ duplicate: true });
    const snaps = await p.catalog.listSnapshots('photos');
    expect(snaps).toHaveLength(1);
    expect(snaps[0]?.status).toBe('COMMITTED');
    expect(snaps[0]?.verification?.status).toBe('PASSED');
    const manifests = [...p.primary.objects.keys()].filter((k) => k.startsWith('manifests/'));
    expect(manifests).toHaveLength(1);
  });

  it('completes the snapshot when a task crashes mid-way and is redelivered', async () => {
    await startDueSnapshots(p.deps, p.clock.now().toISOString());
    await p.run(p.queue.drain()[0] as never); // plan: one partition
    const [partition] = p.queue.drain();
    // The index upload fails after the pack was stored: the worst moment to crash.
    p.primary.faults.push({ op: 'put', prefix: 'index/', onCall: 1 });
    await expect(p.run(partition as never)).rejects.toThrow(/injected put fault/);
    expect((await p.catalog.listSnapshots('photos'))[0]?.status).toBe('RUNNING');
    await p.run(partition as never); // redelivery
    await p.drain();
    const [snap] = await p.catalog.listSnapshots('photos');
    expect(snap?.status).toBe('COMMITTED');
    expect(snap?.verification?.status).toBe('PASSED');
  });

  it('reads only new and changed objects in the next snapshot', async () => {
    await startDueSnapshots(p.deps, p.clock.now().toISOString());
    await p.drain();
    await putText(p, 'a.txt', 'alpha changed');
    await putText(p, 'new.txt', 'new');
    p.clock.advance(60_000);
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    const snaps = await p.catalog.listSnapshots('photos');
    expect(snaps).toHaveLength(2);
    expect(snaps[1]?.objectsRead).toBe(2);
    expect(snaps[1]?.objectCount).toBe(4);
    expect(snaps[1]?.parentSnapshotId).toBe(snaps[0]?.snapshotId);
  });

  it('fails the job with the reason when the source bucket is missing, and keeps earlier snapshots', async () => {
    await startDueSnapshots(p.deps, p.clock.now().toISOString());
    await p.drain();
    await p.catalog.putPlans([plan({ source: { bucket: 'gone', prefix: '' } })]);
    p.clock.advance(60_000);
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    const snaps = await p.catalog.listSnapshots('photos');
    expect(snaps.map((s) => s.status)).toEqual(['COMMITTED', 'FAILED']);
    expect(snaps[1]?.error).toMatch(/gone/);
    const job = await p.catalog.getJob(`photos/${snaps[1]?.snapshotId}`);
    expect(job?.status).toBe('FAILED');
  });

  it('forgets snapshots retention drops and collects their packs after the grace period', async () => {
    for (const text of ['one', 'two', 'three']) {
      await putText(p, 'a.txt', text);
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
      p.clock.advance(2 * 3600_000);
    }
    await putText(p, 'a.txt', 'four');
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    const snaps = (await p.catalog.listSnapshots('photos')).filter((s) => s.status === 'COMMITTED');
    expect(snaps).toHaveLength(2); // keepLast 2 (the others are FORGOTTEN: tombstones for GC)
    const prune = (await p.catalog.listTasks(`photos/${snapshotId}`)).find((t) => t.taskId === 'prune');
    expect(prune?.status).toBe('SUCCEEDED');
    expect(prune?.result?.deferred).toBeUndefined();
    // 'two' was alone in the second snapshot's pack, forgotten just now: its pack is only marked.
    const gcTask = (await p.catalog.listTasks(`photos/${snapshotId}`)).find(
      (t) => t.taskId === 'prune:us-east-1',
    );
    expect(gcTask?.result).toMatchObject({ packsMarked: 1 });
    // A prune after the grace period sweeps it.
    p.clock.advance(2 * 3600_000);
    await p.run({ kind: 'forget', planId: 'photos', snapshotId });
    await p.drain();
    // live: alpha (dup.txt), bravo, three, four. 'two''s pack is gone with its index entry; 'one' was
    // in the first snapshot's pack next to alpha and bravo: that pack was repacked (alpha and bravo
    // moved) and then swept. Every pack left is indexed, and only the live snapshots' roots remain.
    for (const vault of [p.primary, p.copy]) {
      const index = await VaultIndex.load(vault, p.deps.envelope);
      for (const text of ['alpha', 'bravo', 'three', 'four']) {
        expect(index.locate(contentIdOf(text)), `${vault.region}: ${text}`).toBeDefined();
      }
      expect(index.locate(contentIdOf('two')), vault.region).toBeUndefined();
      expect(index.locate(contentIdOf('one')), vault.region).toBeUndefined();
      const packs = [...vault.objects.keys()].filter((k) => k.startsWith(VaultLayout.packsPrefix));
      expect(packs.map((k) => VaultLayout.packIdOf(k)).sort()).toEqual([...index.packs.keys()].sort());
      const roots = [...vault.objects.keys()].filter((k) => k.startsWith('manifests/'));
      expect(roots.sort()).toEqual(
        snaps.map((s) => VaultLayout.manifestKey('photos', s.manifestId as string)).sort(),
      );
    }
    for (const s of snaps) {
      const report = await restoreSnapshot(p.deps, {
        plan: 'photos',
        snapshot: s.snapshotId,
        targetBucket: 'restored',
        targetPrefix: `${s.snapshotId}/`,
      });
      expect(report.objects).toBe(3);
    }
  });

  it('refuses to restore into a vault bucket', async () => {
    await startDueSnapshots(p.deps, p.clock.now().toISOString());
    await p.drain();
    await expect(restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'vault-euw1' })).rejects.toThrow(
      /vault bucket/,
    );
  });
});
