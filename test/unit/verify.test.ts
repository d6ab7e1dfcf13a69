import { beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '#domain/errors.ts';
import { prunePlan } from '#domain/prune.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import { inSample, verifySnapshot } from '#domain/verify.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const ids = Array.from({ length: 10_000 }, (_v, i) => contentIdOf(`blob ${i}`));

describe('inSample', () => {
  it('is deterministic', () => {
    const first = ids.slice(0, 500).map((id) => inSample('20260301T000000Z', id, 30));
    const again = ids.slice(0, 500).map((id) => inSample('20260301T000000Z', id, 30));
    expect(again).toEqual(first);
  });

  it.each([
    [5, 400, 600],
    [10, 900, 1100],
    [50, 4800, 5200],
  ])('samples about %i%% of many blobs', (percent, min, max) => {
    const sampled = ids.filter((id) => inSample('20260301T000000Z', id, percent)).length;
    expect(sampled).toBeGreaterThanOrEqual(min);
    expect(sampled).toBeLessThanOrEqual(max);
  });

  it('samples none at 0% and all at 100%', () => {
    expect(ids.some((id) => inSample('20260301T000000Z', id, 0))).toBe(false);
    expect(ids.every((id) => inSample('20260301T000000Z', id, 100))).toBe(true);
  });

  it('samples different blobs for different snapshots', () => {
    const one = ids.filter((id) => inSample('20260301T000000Z', id, 5));
    const other = new Set(ids.filter((id) => inSample('20260301T010000Z', id, 5)));
    const shared = one.filter((id) => other.has(id)).length;
    expect(shared).toBeLessThan(one.length / 2);
  });

  it('grows the sample monotonically with the percentage', () => {
    const five = ids.filter((id) => inSample('s', id, 5));
    expect(five.every((id) => inSample('s', id, 10))).toBe(true);
  });
});

describe('verifySnapshot', () => {
  let p: MemoryPipeline;
  let snapshotId: string;
  const jobId = () => `photos/${snapshotId}`;

  /** Start a snapshot and run it and its copy, leaving the verify task queued. */
  async function snapshotAndCopy(): Promise<string> {
    const started = await startSnapshotNow(p.deps, 'photos');
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      const verify = tasks.filter((t) => t.kind === 'verify');
      for (const task of tasks.filter((t) => t.kind !== 'verify')) await p.run(task);
      if (verify.length > 0) {
        p.queue.sent.push(...verify);
        break;
      }
    }
    expect(p.queue.sent.map((t) => t.kind)).toEqual(['verify']);
    return started.snapshotId;
  }

  function verifyTask() {
    return { kind: 'verify' as const, planId: 'photos', snapshotId };
  }

  function blobKeyOf(text: string): string {
    return VaultLayout.blobKey(contentIdOf(text));
  }

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ verification: { samplePercent: 100 }, retention: { keepLast: 1 } })]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'dir/b.txt', 'bravo');
    await putText(p, 'c.txt', 'charlie');
    snapshotId = await snapshotAndCopy();
    p.queue.drain();
  });

  it('passes a snapshot whose blobs are all present and intact in every region', async () => {
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.status).toBe('PASSED');
    expect(Object.keys(verification?.regions ?? {}).sort()).toEqual(['eu-west-1', 'us-east-1']);
    expect(verification?.regions['eu-west-1']).toMatchObject({
      referencedBlobs: 3,
      missingBlobs: [],
      corruptBlobs: [],
      manifestPresent: true,
      sampledBlobs: 3,
    });
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.verification?.status).toBe('PASSED');
  });

  it('reports a blob missing in the copy region as FAILED', async () => {
    // Prepare
    p.copy.objects.delete(blobKeyOf('bravo'));
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.status).toBe('FAILED');
    expect(verification?.regions['eu-west-1']?.missingBlobs).toEqual([contentIdOf('bravo')]);
    expect(verification?.regions['us-east-1']?.missingBlobs).toEqual([]);
    const stored = await p.catalog.getSnapshot('photos', snapshotId);
    expect(stored?.verification?.status).toBe('FAILED');
    expect(stored?.status).toBe('COMMITTED');
  });

  it('reports a blob whose bytes were overwritten as corrupt', async () => {
    // Prepare
    const stored = p.primary.objects.get(blobKeyOf('alpha'));
    if (!stored) throw new Error('blob of alpha not found');
    stored.body = Buffer.concat([Buffer.from(stored.body).subarray(0, 100), Buffer.from('garbage')]);
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.status).toBe('FAILED');
    expect(verification?.regions['us-east-1']?.corruptBlobs).toEqual([contentIdOf('alpha')]);
    expect(verification?.regions['eu-west-1']?.corruptBlobs).toEqual([]);
  });

  it("reports a blob stored under another blob's address as corrupt", async () => {
    const alpha = p.copy.objects.get(blobKeyOf('alpha'));
    const charlie = p.copy.objects.get(blobKeyOf('charlie'));
    if (!alpha || !charlie) throw new Error('blobs not found');
    p.copy.objects.set(blobKeyOf('alpha'), { ...charlie });
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.regions['eu-west-1']?.corruptBlobs).toEqual([contentIdOf('alpha')]);
  });

  it('reports a manifest missing in the copy region as FAILED', async () => {
    for (const key of [...p.copy.objects.keys()].filter((k) => k.startsWith('manifests/')))
      p.copy.objects.delete(key);
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.status).toBe('FAILED');
    expect(verification?.regions['eu-west-1']?.manifestPresent).toBe(false);
  });

  it('marks the job and the verify task FAILED with a reason naming the region', async () => {
    // Prepare
    p.copy.objects.delete(blobKeyOf('bravo'));
    // Act
    await verifySnapshot(p.deps, verifyTask());
    // Assess
    const job = await p.catalog.getJob(jobId());
    expect(job?.status).toBe('FAILED');
    expect(job?.error).toBe('verification failed in eu-west-1: 1 missing, 0 corrupt blob(s)');
    const task = (await p.catalog.listTasks(jobId())).find((t) => t.taskId === 'verify');
    expect(task).toMatchObject({ status: 'FAILED', error: job?.error });
  });

  it('still enqueues prune after a failed verification', async () => {
    p.copy.objects.delete(blobKeyOf('bravo'));
    await verifySnapshot(p.deps, verifyTask());
    expect(p.queue.sent).toEqual([{ kind: 'prune', planId: 'photos', snapshotId }]);
  });

  it('does not let a later prune turn the failed job into a success', async () => {
    p.copy.objects.delete(blobKeyOf('bravo'));
    await verifySnapshot(p.deps, verifyTask());
    await p.drain();
    expect((await p.catalog.getJob(jobId()))?.status).toBe('FAILED');
  });

  it('samples at least one blob even at a tiny percentage', async () => {
    await p.catalog.putPlans([plan({ verification: { samplePercent: 0.0001 }, retention: { keepLast: 1 } })]);
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.regions['us-east-1']?.sampledBlobs).toBe(1);
  });

  it('samples nothing at 0%, so it only checks presence', async () => {
    await p.catalog.putPlans([plan({ verification: { samplePercent: 0 }, retention: { keepLast: 1 } })]);
    const stored = p.primary.objects.get(blobKeyOf('alpha'));
    if (stored) stored.body = Buffer.from('garbage');
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.regions['us-east-1']?.sampledBlobs).toBe(0);
    expect(verification?.status).toBe('PASSED');
  });

  it('does nothing for a snapshot that is not committed', async () => {
    await p.catalog.updateSnapshot('photos', snapshotId, { status: 'FORGOTTEN' }, ['COMMITTED']);
    expect(await verifySnapshot(p.deps, verifyTask())).toBeUndefined();
    expect(p.queue.sent).toEqual([]);
  });

  it('refuses an unknown snapshot', async () => {
    await expect(
      verifySnapshot(p.deps, { ...verifyTask(), snapshotId: '20990101T000000Z' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  describe('then prune', () => {
    it('never forgets a snapshot that failed verification', async () => {
      // Prepare: the first snapshot fails verification, two later ones pass; retention keeps 1.
      p.copy.objects.delete(blobKeyOf('bravo'));
      await verifySnapshot(p.deps, verifyTask());
      await p.drain();
      const failed = snapshotId;
      for (const text of ['alpha 2', 'alpha 3']) {
        p.clock.advance(3600_000);
        await putText(p, 'a.txt', text);
        await startSnapshotNow(p.deps, 'photos');
        await p.drain();
      }
      // Act
      p.clock.advance(2 * 3600_000);
      const result = await prunePlan(p.deps, { kind: 'prune', planId: 'photos', snapshotId: failed });
      // Assess
      const snapshots = await p.catalog.listSnapshots('photos');
      const kept = snapshots.find((s) => s.snapshotId === failed);
      expect(kept?.status).toBe('COMMITTED');
      expect(kept?.verification?.status).toBe('FAILED');
      expect(result.forgotten).not.toContain(failed);
      expect(snapshots.map((s) => s.status)).toEqual(['COMMITTED', 'COMMITTED']);
    });

    it('keeps the blobs of a snapshot that failed verification', async () => {
      p.copy.objects.delete(blobKeyOf('bravo'));
      await verifySnapshot(p.deps, verifyTask());
      await p.drain();
      p.clock.advance(3600_000);
      await putText(p, 'a.txt', 'alpha 2');
      await putText(p, 'c.txt', 'charlie 2');
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
      p.clock.advance(2 * 3600_000);
      await prunePlan(p.deps, { kind: 'prune', planId: 'photos', snapshotId });
      for (const text of ['alpha', 'bravo', 'charlie'])
        expect(p.primary.objects.has(blobKeyOf(text))).toBe(true);
    });

    it('forgets a snapshot that passed verification when retention drops it', async () => {
      await verifySnapshot(p.deps, verifyTask());
      await p.drain();
      p.clock.advance(3600_000);
      await putText(p, 'a.txt', 'alpha 2');
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
      const snapshots = await p.catalog.listSnapshots('photos');
      expect(snapshots.map((s) => s.snapshotId)).not.toContain(snapshotId);
      expect(snapshots).toHaveLength(1);
    });
  });
});
