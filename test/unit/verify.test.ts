import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '#domain/errors.ts';
import { readManifest } from '#domain/manifests.ts';
import type { Verification } from '#domain/ports.ts';
import { prunePlan } from '#domain/prune.ts';
import { startDueVerifications, startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import { inSample, verifySnapshot } from '#domain/verify.ts';
import { verificationLines } from '#local/cli.ts';
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

  it('passes a snapshot whose blobs are all present and intact in every region, in every tier', async () => {
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.status).toBe('PASSED');
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      expect(verification?.tiers[tier]?.status).toBe('PASSED');
      expect(Object.keys(verification?.tiers[tier]?.regions ?? {}).sort()).toEqual([
        'eu-west-1',
        'us-east-1',
      ]);
    }
    expect(verification?.tiers.catalog?.regions['eu-west-1']).toMatchObject({
      referencedBlobs: 3,
      missingBlobs: [],
      manifestPresent: true,
    });
    expect(verification?.tiers.checksum?.regions['eu-west-1']).toMatchObject({
      checkedBlobs: 3,
      mismatchedBlobs: [],
      uncheckedBlobs: 0,
    });
    expect(verification?.tiers.deep?.regions['eu-west-1']).toMatchObject({
      checkedBlobs: 3,
      totalBlobs: 3,
      corruptBlobs: [],
    });
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.verification?.status).toBe('PASSED');
  });

  it('records in the manifest the size and S3 checksum of every blob as stored', async () => {
    // Prepare
    const snapshot = await p.catalog.getSnapshot('photos', snapshotId);
    // Act
    const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', snapshot?.manifestId as string);
    // Assess
    for (const entry of manifest.entries) {
      const sealed = p.primary.objects.get(VaultLayout.blobKey(entry.blobId))?.body as Uint8Array;
      expect(entry.stored).toEqual({
        sizeBytes: sealed.length,
        checksumSha256: createHash('sha256').update(sealed).digest('base64'),
        checksumType: 'FULL_OBJECT',
      });
    }
  });

  it('carries the stored checksum of an unchanged object over to the next snapshot', async () => {
    // Prepare
    const first = await p.catalog.getSnapshot('photos', snapshotId);
    const before = await readManifest(p.primary, p.deps.envelope, 'photos', first?.manifestId as string);
    p.clock.advance(3600_000);
    await putText(p, 'c.txt', 'charlie 2');
    // Act
    const second = await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    // Assess
    const record = await p.catalog.getSnapshot('photos', second.snapshotId);
    const after = await readManifest(p.primary, p.deps.envelope, 'photos', record?.manifestId as string);
    const alphaBefore = before.entries.find((e) => e.key === 'a.txt');
    const alphaAfter = after.entries.find((e) => e.key === 'a.txt');
    expect(alphaAfter?.stored).toBeDefined();
    expect(alphaAfter?.stored).toEqual(alphaBefore?.stored);
    expect(after.entries.find((e) => e.key === 'c.txt')?.stored).toBeDefined();
    expect(record?.verification?.tiers.checksum?.status).toBe('PASSED');
  });

  it("keeps an older snapshot's recorded checksums when a later one stores a blob its parent lacked", async () => {
    // Prepare: 'bravo' leaves the source, then comes back (its blob is still in the vault: the
    // first snapshot is kept).
    await p.catalog.putPlans([plan({ verification: { samplePercent: 100 }, retention: { keepLast: 5 } })]);
    p.clock.advance(3600_000);
    await p.objects.buckets.get('source')?.delete('dir/b.txt');
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    p.clock.advance(3600_000);
    await putText(p, 'dir/b.txt', 'bravo');
    const sealedBefore = Buffer.from(p.primary.objects.get(blobKeyOf('bravo'))?.body ?? []);
    // Act
    const third = await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    // Assess: the same sealed bytes were stored again, so the first snapshot's record still holds.
    expect(Buffer.from(p.primary.objects.get(blobKeyOf('bravo'))?.body ?? []).equals(sealedBefore)).toBe(
      true,
    );
    const first = await verifySnapshot(p.deps, { ...verifyTask(), tier: 'checksum' });
    expect(first?.tiers.checksum?.status).toBe('PASSED');
    const record = await p.catalog.getSnapshot('photos', third.snapshotId);
    expect(record?.blobsWritten).toBe(0);
    expect(record?.verification?.tiers.checksum?.status).toBe('PASSED');
  });

  it('catches a deleted blob in the catalog and checksum tiers, naming the region', async () => {
    // Prepare
    p.copy.objects.delete(blobKeyOf('bravo'));
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.status).toBe('FAILED');
    expect(verification?.tiers.catalog?.status).toBe('FAILED');
    expect(verification?.tiers.catalog?.regions['eu-west-1']?.missingBlobs).toEqual([contentIdOf('bravo')]);
    expect(verification?.tiers.catalog?.regions['us-east-1']?.missingBlobs).toEqual([]);
    expect(verification?.tiers.checksum?.status).toBe('FAILED');
    expect(verification?.tiers.checksum?.regions['eu-west-1']?.missingBlobs).toEqual([contentIdOf('bravo')]);
    const stored = await p.catalog.getSnapshot('photos', snapshotId);
    expect(stored?.verification?.status).toBe('FAILED');
    expect(stored?.status).toBe('COMMITTED');
  });

  it("catches bytes flipped behind the store's back in the deep tier only: the store still reports the checksum of the upload", async () => {
    // Prepare: like a bit flip on S3's disk, the recorded checksum stays what was uploaded.
    const stored = p.primary.objects.get(blobKeyOf('alpha'));
    if (!stored) throw new Error('blob of alpha not found');
    const flipped = Buffer.from(stored.body);
    flipped[40] = (flipped[40] ?? 0) ^ 0xff;
    stored.body = flipped;
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.tiers.catalog?.status).toBe('PASSED');
    expect(verification?.tiers.checksum?.status).toBe('PASSED');
    expect(verification?.tiers.deep?.status).toBe('FAILED');
    expect(verification?.tiers.deep?.regions['us-east-1']?.corruptBlobs).toEqual([contentIdOf('alpha')]);
    expect(verification?.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([]);
    expect(verification?.status).toBe('FAILED');
  });

  it("catches other bytes stored under a blob's key in the checksum and deep tiers", async () => {
    // Prepare: a re-upload of different sealed bytes; the manifest still expects the first upload.
    await p.copy.put(
      blobKeyOf('alpha'),
      await p.deps.envelope.seal(Buffer.from('alpha'), 'strongbox:blob:x'),
    );
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.tiers.catalog?.status).toBe('PASSED');
    expect(verification?.tiers.checksum?.status).toBe('FAILED');
    expect(verification?.tiers.checksum?.regions['eu-west-1']?.mismatchedBlobs).toEqual([
      contentIdOf('alpha'),
    ]);
    expect(verification?.tiers.checksum?.regions['us-east-1']?.mismatchedBlobs).toEqual([]);
    expect(verification?.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([contentIdOf('alpha')]);
  });

  it("reports a blob stored under another blob's address as corrupt", async () => {
    const alpha = p.copy.objects.get(blobKeyOf('alpha'));
    const charlie = p.copy.objects.get(blobKeyOf('charlie'));
    if (!alpha || !charlie) throw new Error('blobs not found');
    p.copy.objects.set(blobKeyOf('alpha'), { ...charlie });
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([contentIdOf('alpha')]);
  });

  it('reports a manifest missing in the copy region as FAILED in the catalog and checksum tiers', async () => {
    for (const key of [...p.copy.objects.keys()].filter((k) => k.startsWith('manifests/')))
      p.copy.objects.delete(key);
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.status).toBe('FAILED');
    expect(verification?.tiers.catalog?.regions['eu-west-1']?.manifestPresent).toBe(false);
    expect(verification?.tiers.checksum?.regions['eu-west-1']?.manifestPresent).toBe(false);
  });

  it('marks the job and the verify task FAILED with a reason naming the tier and region', async () => {
    // Prepare
    p.copy.objects.delete(blobKeyOf('bravo'));
    // Act
    await verifySnapshot(p.deps, verifyTask());
    // Assess
    const job = await p.catalog.getJob(jobId());
    const bravo = contentIdOf('bravo');
    expect(job?.status).toBe('FAILED');
    // The plan samples 100%, so the deep tier meets the missing blob too.
    expect(job?.error).toBe(
      `verification failed: catalog eu-west-1: 1 missing blob(s) (${bravo}…); checksum eu-west-1: 1 missing blob(s) (${bravo}…); deep eu-west-1: 1 missing blob(s) (${bravo}…)`,
    );
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
    expect(verification?.tiers.deep?.regions['us-east-1']?.checkedBlobs).toBe(1);
  });

  it('samples nothing at 0%, so a corrupt blob passes every tier', async () => {
    await p.catalog.putPlans([plan({ verification: { samplePercent: 0 }, retention: { keepLast: 1 } })]);
    const stored = p.primary.objects.get(blobKeyOf('alpha'));
    if (stored) stored.body = Buffer.from('garbage');
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.tiers.deep?.regions['us-east-1']?.checkedBlobs).toBe(0);
    expect(verification?.status).toBe('PASSED');
  });

  it('samples blobs up to sampleBytes of stored bytes', async () => {
    // Prepare: 0% but one byte: the first blob in sample order covers it.
    await p.catalog.putPlans([
      plan({ verification: { samplePercent: 0, sampleBytes: 1 }, retention: { keepLast: 1 } }),
    ]);
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.tiers.deep?.regions['us-east-1']).toMatchObject({ checkedBlobs: 1, totalBlobs: 1 });
  });

  describe('one tier at a time', () => {
    it("runs only the tier the task names, keeps the other tiers' results and does not prune", async () => {
      // Prepare
      await verifySnapshot(p.deps, verifyTask());
      p.queue.drain();
      const before = await p.catalog.getSnapshot('photos', snapshotId);
      p.clock.advance(60_000);
      // Act
      const verification = await verifySnapshot(p.deps, { ...verifyTask(), tier: 'checksum' });
      // Assess
      expect(verification?.tiers.checksum?.checkedAt).toBe(p.clock.now().toISOString());
      expect(verification?.tiers.catalog).toEqual(before?.verification?.tiers.catalog);
      expect(verification?.tiers.deep).toEqual(before?.verification?.tiers.deep);
      expect(p.queue.sent).toEqual([]);
      const task = (await p.catalog.listTasks(jobId())).find((t) => t.taskId === 'verify:checksum');
      expect(task?.status).toBe('SUCCEEDED');
    });

    it('never turns a failure back into success when a later run of any tier passes', async () => {
      // Prepare: the catalog tier fails, then the blob comes back.
      const key = blobKeyOf('bravo');
      const saved = p.copy.objects.get(key);
      p.copy.objects.delete(key);
      await verifySnapshot(p.deps, { ...verifyTask(), tier: 'catalog' });
      if (saved) p.copy.objects.set(key, saved);
      // Act
      const checksum = await verifySnapshot(p.deps, { ...verifyTask(), tier: 'checksum' });
      const catalogAgain = await verifySnapshot(p.deps, { ...verifyTask(), tier: 'catalog' });
      // Assess
      expect(checksum?.tiers.checksum?.status).toBe('PASSED');
      expect(catalogAgain?.tiers.catalog?.status).toBe('PASSED');
      expect(catalogAgain?.status).toBe('FAILED');
      expect((await p.catalog.getSnapshot('photos', snapshotId))?.verification?.status).toBe('FAILED');
      expect((await p.catalog.getJob(jobId()))?.status).toBe('FAILED');
    });

    it('does not call the store for a blob body in the checksum tier', async () => {
      // Prepare
      const gets = p.primary.calls.get;
      // Act
      await verifySnapshot(p.deps, { ...verifyTask(), tier: 'checksum' });
      // Assess: the manifest is read once from the primary; no blob is downloaded.
      expect(p.primary.calls.get - gets).toBe(1);
      expect(p.primary.calls.checksum).toBeGreaterThanOrEqual(4);
    });
  });

  describe('on its own schedule', () => {
    beforeEach(async () => {
      await verifySnapshot(p.deps, verifyTask());
      p.queue.drain();
      await p.catalog.putPlans([
        plan({
          verification: { samplePercent: 100, schedules: { checksum: 'rate(1 day)', deep: 'rate(7 days)' } },
          retention: { keepLast: 1 },
        }),
      ]);
    });

    it('enqueues nothing for an occurrence before the snapshot was committed (the pipeline verified it)', async () => {
      // Act
      const tick = await startDueVerifications(p.deps, '2026-03-01T12:00:00.000Z');
      // Assess
      expect(tick).toEqual({ started: [], failed: [] });
      expect(p.queue.sent).toEqual([]);
    });

    it('enqueues each due tier once per scheduled time for the newest committed snapshot', async () => {
      // Act
      const first = await startDueVerifications(p.deps, '2026-03-02T00:00:30.000Z');
      const again = await startDueVerifications(p.deps, '2026-03-02T00:01:30.000Z');
      // Assess
      expect(first.started).toEqual([
        {
          planId: 'photos',
          snapshotId,
          tier: 'checksum',
          scheduledAt: '2026-03-02T00:00:00.000Z',
          created: true,
        },
      ]);
      expect(again.started).toEqual([{ ...first.started[0], created: false }]);
      expect(p.queue.drain()).toEqual([{ kind: 'verify', planId: 'photos', snapshotId, tier: 'checksum' }]);
    });

    it('runs a scheduled deep tier over every blob, recorded with its scope', async () => {
      // Prepare
      await startDueVerifications(p.deps, '2026-03-08T00:00:00.000Z');
      const tasks = p.queue.drain();
      // Act
      for (const task of tasks) await p.run(task);
      // Assess
      expect(tasks).toEqual([
        { kind: 'verify', planId: 'photos', snapshotId, tier: 'checksum' },
        { kind: 'verify', planId: 'photos', snapshotId, tier: 'deep', all: true },
      ]);
      const record = await p.catalog.getSnapshot('photos', snapshotId);
      expect(record?.verification?.tiers.deep).toMatchObject({ status: 'PASSED', scope: 'all' });
      expect(record?.scheduledVerification).toEqual({
        checksum: '2026-03-08T00:00:00.000Z',
        deep: '2026-03-08T00:00:00.000Z',
      });
      expect(p.queue.sent).toEqual([]);
    });
  });

  describe('in the CLI status', () => {
    it('prints the overall status with what failed, then a line per tier and region', async () => {
      // Prepare
      p.copy.objects.delete(blobKeyOf('bravo'));
      const verification = await verifySnapshot(p.deps, { ...verifyTask(), tier: 'catalog' });
      // Act
      const lines = verificationLines(snapshotId, verification as Verification);
      // Assess
      const bravo = contentIdOf('bravo');
      expect(lines).toEqual([
        `  verification ${snapshotId} FAILED (catalog eu-west-1: 1 missing blob(s) (${bravo}…))`,
        `    catalog  us-east-1    PASSED  3/3 blobs listed  at ${p.clock.now().toISOString()}`,
        `    catalog  eu-west-1    FAILED  2/3 blobs listed: 1 missing blob(s) (${bravo}…)  at ${p.clock.now().toISOString()}`,
      ]);
    });
  });

  describe('a deep pass across deadlines', () => {
    beforeEach(async () => {
      p.queue.drain();
      // Twenty more blobs, so a pass has several batches.
      for (let i = 0; i < 20; i += 1) await putText(p, `more/${i}.txt`, `more ${i}`);
      p.clock.advance(3600_000);
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
      snapshotId = (await p.catalog.listSnapshots('photos')).at(-1)?.snapshotId as string;
      p.deps.concurrency = 4;
      p.queue.drain();
    });

    /** A task budget that has time for `batches` batches: each call to it costs one. */
    function budget(batches: number): () => number {
      let left = batches;
      return () => (left-- > 0 ? 120_000 : 0);
    }

    it('saves its cursor when time runs low, continues in a new task and passes when every blob is checked', async () => {
      // Act 1: time for the first batch and two more.
      const first = await verifySnapshot(
        p.deps,
        { ...verifyTask(), tier: 'deep', all: true },
        { remainingMs: budget(2), reserveMs: 60_000 },
      );
      // Assess 1
      expect(first?.tiers.deep?.status).toBe('RUNNING');
      expect(first?.tiers.deep?.regions['us-east-1']).toMatchObject({
        cursor: 12,
        checkedBlobs: 12,
        totalBlobs: 23,
      });
      expect(first?.tiers.deep?.regions['eu-west-1']).toMatchObject({ cursor: 0, checkedBlobs: 0 });
      expect(p.queue.drain()).toEqual([
        { kind: 'verify', planId: 'photos', snapshotId, tier: 'deep', all: true },
      ]);
      // Act 2: the continuation has time for the first batch and three more.
      const second = await verifySnapshot(
        p.deps,
        { ...verifyTask(), tier: 'deep', all: true },
        { remainingMs: budget(3), reserveMs: 60_000 },
      );
      // Assess 2: the rest of the primary (3 batches), then the first batch of the copy region.
      expect(second?.tiers.deep?.regions['us-east-1']).toMatchObject({ cursor: 23, checkedBlobs: 23 });
      expect(second?.tiers.deep?.regions['eu-west-1']).toMatchObject({ cursor: 4, checkedBlobs: 4 });
      expect(second?.tiers.deep?.status).toBe('RUNNING');
      // Act 3: no deadline: the pass finishes.
      p.queue.drain();
      const third = await verifySnapshot(p.deps, { ...verifyTask(), tier: 'deep', all: true });
      // Assess 3
      expect(third?.tiers.deep?.status).toBe('PASSED');
      expect(third?.tiers.deep?.regions['eu-west-1']).toMatchObject({
        cursor: 23,
        checkedBlobs: 23,
        totalBlobs: 23,
      });
      expect(p.queue.drain()).toEqual([]);
    });

    it('fails the snapshot as soon as a cut pass finds a corrupt blob, and goes on to the end', async () => {
      // Prepare: corrupt a blob of the primary.
      const corruptKey = [...p.primary.objects.keys()].find((k) => k.startsWith('blobs/')) as string;
      const stored = p.primary.objects.get(corruptKey);
      if (!stored) throw new Error('no blob');
      stored.body = Buffer.from('garbage');
      const corrupt = VaultLayout.blobIdOf(corruptKey);
      // Act: a pass cut after each batch until it ends.
      const runs = [];
      for (let i = 0; i < 20; i += 1) {
        const v = await verifySnapshot(
          p.deps,
          { ...verifyTask(), tier: 'deep', all: true },
          { remainingMs: budget(0) },
        );
        runs.push(v);
        if (v?.tiers.deep?.status !== 'RUNNING') break;
        p.queue.drain();
      }
      // Assess: twelve one-batch runs (23 blobs in each of two regions, 4 per batch); from the run
      // that met the corrupt blob on, the record is FAILED; the finished pass names it.
      expect(runs).toHaveLength(12);
      const firstFailed = runs.findIndex((v) => v?.status === 'FAILED');
      expect(firstFailed).toBeGreaterThanOrEqual(0);
      expect(runs.slice(firstFailed).every((v) => v?.status === 'FAILED')).toBe(true);
      expect(runs.slice(firstFailed, -1).every((v) => v?.tiers.deep?.status === 'RUNNING')).toBe(true);
      const last = runs.at(-1);
      expect(last?.tiers.deep?.status).toBe('FAILED');
      expect(last?.tiers.deep?.regions['us-east-1']?.corruptBlobs).toEqual([corrupt]);
      expect(last?.tiers.deep?.regions['us-east-1']?.checkedBlobs).toBe(23);
      expect(last?.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([]);
      expect(p.queue.drain()).toEqual([]);
    });
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
