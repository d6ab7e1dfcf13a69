/** The Catalog contract, run against the memory twin and DynamoDB Local. */
import { describe, expect, it } from 'vitest';
import type { Catalog, JobRecord, PlanRecord, SnapshotRecord } from '#domain/ports.ts';

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

    it('deletes a snapshot record', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.deleteSnapshot('photos', 'S1');
      expect(await c.getSnapshot('photos', 'S1')).toBeUndefined();
    });
  });
}
