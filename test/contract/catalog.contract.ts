/** The Catalog contract, run against the memory twin and DynamoDB Local. */
import { describe, expect, it } from 'vitest';
import type { Catalog, JobRecord, PlanRecord, RestoreJobRecord, SnapshotRecord } from '#domain/ports.ts';

const plan: PlanRecord = {
  id: 'photos',
  source: { bucket: 'src', prefix: '' },
  schedule: 'rate(1 hour)',
  retention: { keepLast: 1 },
  copyRegions: ['eu-west-1'],
  verification: { samplePercent: 5 },
  enabled: true,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};
const job = (snapshotId: string): JobRecord => ({
  jobId: `photos/${snapshotId}`,
  planId: 'photos',
  snapshotId,
  status: 'RUNNING',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const snapshot = (snapshotId: string): SnapshotRecord => ({
  planId: 'photos',
  snapshotId,
  status: 'RUNNING',
  scheduledAt: '2026-01-01T00:00:00.000Z',
});

const restoreJob = (restoreJobId: string, partsTotal = 2): RestoreJobRecord => ({
  restoreJobId,
  status: 'RUNNING',
  planId: 'photos',
  snapshotId: 'S1',
  manifestId: 'm1',
  region: 'us-east-1',
  targetBucket: 'restored',
  request: { plan: 'photos', overwrite: 'never', targetPrefix: '' },
  selected: 7,
  selectedBytes: 700,
  objects: 0,
  bytes: 0,
  skippedExists: 0,
  skippedUnchanged: 0,
  partsTotal,
  partsDone: 0,
  partSize: 5,
  warnings: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const counts = (objects: number, skippedExists = 0) => ({
  objects,
  bytes: objects * 100,
  skippedExists,
  skippedUnchanged: 0,
});

export function catalogContract(name: string, make: () => Promise<Catalog>): void {
  describe(`Catalog contract: ${name}`, () => {
    it('stores and lists plans', async () => {
      const c = await make();
      await c.putPlans([plan, { ...plan, id: 'docs' }]);
      expect((await c.listPlans()).map((p) => p.id).sort()).toEqual(['docs', 'photos']);
      expect(await c.getPlan('photos')).toEqual(plan);
      expect(await c.getPlan('nope')).toBeUndefined();
    });

    it('creates a job once: a second create of the same plan and time returns false', async () => {
      const c = await make();
      expect(await c.createJob(job('S1'), snapshot('S1'))).toBe(true);
      expect(await c.createJob(job('S1'), snapshot('S1'))).toBe(false);
      expect((await c.listSnapshots('photos')).map((s) => s.snapshotId)).toEqual(['S1']);
      expect((await c.listJobs('photos')).map((j) => j.jobId)).toEqual(['photos/S1']);
    });

    it('commits a snapshot only from RUNNING: the second commit loses', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      expect(
        await c.updateSnapshot('photos', 'S1', { status: 'COMMITTED', manifestId: 'a', regions: {} }, [
          'RUNNING',
        ]),
      ).toBe(true);
      expect(
        await c.updateSnapshot('photos', 'S1', { status: 'COMMITTED', manifestId: 'b' }, ['RUNNING']),
      ).toBe(false);
      expect((await c.getSnapshot('photos', 'S1'))?.manifestId).toBe('a');
      expect(await c.updateSnapshot('photos', 'missing', { status: 'FAILED' }, ['RUNNING'])).toBe(false);
    });

    it('lists snapshots oldest first', async () => {
      const c = await make();
      for (const id of ['20260102T000000Z', '20260101T000000Z', '20260103T000000Z'])
        await c.createJob(job(id), snapshot(id));
      expect((await c.listSnapshots('photos')).map((s) => s.snapshotId)).toEqual([
        '20260101T000000Z',
        '20260102T000000Z',
        '20260103T000000Z',
      ]);
    });

    it('records each region’s copy and returns every region', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.updateSnapshot(
        'photos',
        'S1',
        {
          status: 'COMMITTED',
          regions: { 'eu-west-1': { status: 'PENDING' }, 'ap-south-1': { status: 'PENDING' } },
        },
        ['RUNNING'],
      );
      const regions = await c.setRegionCopy('photos', 'S1', 'eu-west-1', {
        status: 'COPIED',
        blobsCopied: 3,
      });
      expect(regions).toEqual({
        'eu-west-1': { status: 'COPIED', blobsCopied: 3 },
        'ap-south-1': { status: 'PENDING' },
      });
    });

    it('counts task attempts and keeps the last error', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.startTask('photos/S1', 'snapshot', '2026-01-01T00:00:01.000Z');
      await c.updateTask('photos/S1', 'snapshot', { status: 'FAILED', error: 'TransientError: boom' });
      const second = await c.startTask('photos/S1', 'snapshot', '2026-01-01T00:00:02.000Z');
      expect(second.attempts).toBe(2);
      expect(second.status).toBe('RUNNING');
      expect(second.error).toBeUndefined();
      await c.updateTask('photos/S1', 'snapshot', { status: 'SUCCEEDED', progress: { done: 5, total: 5 } });
      const [t] = await c.listTasks('photos/S1');
      expect(t).toMatchObject({
        taskId: 'snapshot',
        status: 'SUCCEEDED',
        attempts: 2,
        progress: { done: 5, total: 5 },
      });
    });

    it('journals a change once per plan, key and sequencer', async () => {
      const c = await make();
      const entry = {
        planId: 'photos',
        bucket: 'src',
        key: 'a b.txt',
        event: 'created' as const,
        eventTime: '2026-01-01T00:00:00.000Z',
        sequencer: '01',
      };
      expect(await c.appendJournal(entry)).toBe(true);
      expect(await c.appendJournal(entry)).toBe(false);
      expect(await c.appendJournal({ ...entry, sequencer: '02' })).toBe(true);
      expect(await c.listJournal('photos')).toHaveLength(2);
    });

    it('creates a restore job once and lists restore jobs newest first', async () => {
      const c = await make();
      expect(await c.createRestoreJob(restoreJob('restore-20260101T000000Z-aaaaaaaa'))).toBe(true);
      expect(await c.createRestoreJob(restoreJob('restore-20260101T000000Z-aaaaaaaa'))).toBe(false);
      await c.createRestoreJob(restoreJob('restore-20260102T000000Z-bbbbbbbb'));
      expect(await c.getRestoreJob('restore-20260101T000000Z-aaaaaaaa')).toEqual(
        restoreJob('restore-20260101T000000Z-aaaaaaaa'),
      );
      expect(await c.getRestoreJob('restore-nope')).toBeUndefined();
      expect((await c.listRestoreJobs(10)).map((j) => j.restoreJobId)).toEqual([
        'restore-20260102T000000Z-bbbbbbbb',
        'restore-20260101T000000Z-aaaaaaaa',
      ]);
      expect(await c.listRestoreJobs(1)).toHaveLength(1);
    });

    it('adds a restore part’s counts once: a redelivered part adds nothing', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      const first = await c.completeRestorePart('R1', 0, counts(5), '2026-01-01T00:00:05.000Z');
      const again = await c.completeRestorePart('R1', 0, counts(5), '2026-01-01T00:00:06.000Z');
      expect(first.counted).toBe(true);
      expect(again.counted).toBe(false);
      expect(again.job).toMatchObject({
        partsDone: 1,
        objects: 5,
        bytes: 500,
        updatedAt: '2026-01-01T00:00:05.000Z',
      });
      const second = await c.completeRestorePart('R1', 1, counts(0, 2), '2026-01-01T00:00:07.000Z');
      expect(second.job).toMatchObject({ partsDone: 2, objects: 5, skippedExists: 2, skippedUnchanged: 0 });
      await expect(c.completeRestorePart('R-missing', 0, counts(1), 'x')).rejects.toThrow(/does not exist/);
    });

    it('ends a restore job once: SUCCEEDED only when every part is done', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      const end = { status: 'SUCCEEDED' as const, at: '2026-01-01T00:01:00.000Z' };
      await c.completeRestorePart('R1', 0, counts(5), '2026-01-01T00:00:05.000Z');
      expect(await c.finishRestoreJob('R1', end)).toBe(false);
      await c.completeRestorePart('R1', 1, counts(2), '2026-01-01T00:00:09.000Z');
      expect(await c.finishRestoreJob('R1', end)).toBe(true);
      expect(await c.finishRestoreJob('R1', end)).toBe(false);
      expect(await c.finishRestoreJob('R1', { status: 'FAILED', at: end.at, error: 'too late' })).toBe(false);
      expect(await c.getRestoreJob('R1')).toMatchObject({
        status: 'SUCCEEDED',
        finishedAt: end.at,
        objects: 7,
      });
    });

    it('fails a RUNNING restore job with its reason, whatever its parts', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      const failed = { status: 'FAILED' as const, at: '2026-01-01T00:02:00.000Z', error: 'part 1: boom' };
      expect(await c.finishRestoreJob('R1', failed)).toBe(true);
      expect(await c.getRestoreJob('R1')).toMatchObject({ status: 'FAILED', error: 'part 1: boom' });
      expect(await c.finishRestoreJob('R-missing', failed)).toBe(false);
    });

    it('writes a plan’s drill history only over the version it read, and keeps it apart from snapshots', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      const first = { planId: 'photos', version: 1, scheduledAt: '2026-01-08T00:00:00.000Z', drills: [] };
      expect(await c.getDrillHistory('photos')).toBeUndefined();
      expect(await c.putDrillHistory(first, 1)).toBe(false);
      expect(await c.putDrillHistory(first, 0)).toBe(true);
      expect(await c.putDrillHistory({ ...first, version: 2 }, 0)).toBe(false);
      expect(
        await c.putDrillHistory({ ...first, version: 2, scheduledAt: '2026-01-15T00:00:00.000Z' }, 1),
      ).toBe(true);
      expect(await c.getDrillHistory('photos')).toEqual({
        ...first,
        version: 2,
        scheduledAt: '2026-01-15T00:00:00.000Z',
      });
      expect((await c.listSnapshots('photos')).map((x) => x.snapshotId)).toEqual(['S1']);
      expect(await c.listJobs('photos')).toHaveLength(1);
    });

    it('deletes a snapshot record', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.deleteSnapshot('photos', 'S1');
      expect(await c.getSnapshot('photos', 'S1')).toBeUndefined();
    });
  });
}
