/**
 * The JobCatalog contract: jobs (created with their RUNNING snapshot), task starts, updates and
 * heartbeats, the running-task index and the reaper's conditional re-drives. @see docs/format.md#tasks
 */
import { describe, expect, it } from 'vitest';
import { isRetryable, NotFoundError, ValidationError } from '#domain/errors.ts';
import type { JobCatalog, SnapshotCatalog } from '#domain/ports.ts';
import type { KnownDivergences } from '../divergences.ts';
import { job, snapshot, tooLarge } from './fixtures.ts';

/** `createJob` creates the job's snapshot record too: the suite reads it back through the snapshots. */
export type JobCatalogUnderTest = JobCatalog & Pick<SnapshotCatalog, 'getSnapshot' | 'listSnapshots'>;

export function jobCatalogContract(
  name: string,
  make: () => Promise<JobCatalogUnderTest>,
  _known?: KnownDivergences,
): void {
  describe(`JobCatalog contract: ${name}`, () => {
    it('creates a job once: a second create of the same plan and time returns false', async () => {
      const c = await make();
      expect(await c.createJob(job('S1'), snapshot('S1'))).toBe(true);
      expect(await c.createJob(job('S1'), snapshot('S1'))).toBe(false);
      expect((await c.listSnapshots('photos')).map((s) => s.snapshotId)).toEqual(['S1']);
      expect((await c.listJobs('photos')).map((j) => j.jobId)).toEqual(['photos/S1']);
    });

    it('creates a job once when two starts race: one wins, the other leaves the first as it was', async () => {
      const c = await make();
      const rival = { ...job('S1'), updatedAt: '2026-01-01T00:00:09.000Z' };
      const won = await Promise.all([
        c.createJob(job('S1'), snapshot('S1')),
        c.createJob(rival, { ...snapshot('S1'), scheduledAt: '2026-01-01T00:00:09.000Z' }),
      ]);
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = won[0] ? job('S1') : rival;
      expect(await c.getJob('photos/S1')).toEqual(winner);
      expect((await c.getSnapshot('photos', 'S1'))?.scheduledAt).toBe(
        won[0] ? '2026-01-01T00:00:00.000Z' : '2026-01-01T00:00:09.000Z',
      );
    });

    it('reads, updates and lists jobs per plan', async () => {
      const c = await make();
      await c.createJob(job('S2'), snapshot('S2'));
      await c.createJob(job('S1'), snapshot('S1'));
      await c.createJob(
        { ...job('S1'), jobId: 'docs/S1', planId: 'docs' },
        { ...snapshot('S1'), planId: 'docs' },
      );
      expect(await c.getJob('photos/S1')).toEqual(job('S1'));
      expect(await c.getJob('photos/S9')).toBeUndefined();
      await c.updateJob('photos/S1', {
        status: 'FAILED',
        error: 'boom',
        updatedAt: '2026-01-01T00:01:00.000Z',
      });
      expect(await c.getJob('photos/S1')).toEqual({
        ...job('S1'),
        status: 'FAILED',
        error: 'boom',
        updatedAt: '2026-01-01T00:01:00.000Z',
      });
      expect((await c.listJobs('photos')).map((j) => j.jobId)).toEqual(['photos/S1', 'photos/S2']);
      expect((await c.listJobs('docs')).map((j) => j.jobId)).toEqual(['docs/S1']);
      expect(await c.listJobs('nobody')).toEqual([]);
    });

    it('throws NotFoundError when updating a job that does not exist, and creates none', async () => {
      const c = await make();
      await expect(c.updateJob('photos/S9', { status: 'FAILED' })).rejects.toBeInstanceOf(NotFoundError);
      expect(await c.getJob('photos/S9')).toBeUndefined();
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

    it('counts every start of a task started by several deliveries at the same time', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      const starts = await Promise.all(
        [1, 2, 3, 4].map((s) => c.startTask('photos/S1', 'verify', `2026-01-01T00:00:0${s}.000Z`)),
      );
      expect(starts.map((t) => t.attempts).sort()).toEqual([1, 2, 3, 4]);
      expect((await c.listTasks('photos/S1')).map((t) => t.attempts)).toEqual([4]);
    });

    it('lists RUNNING tasks from the running-task index, with their heartbeat, and drops ended ones', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.createJob(job('S2'), snapshot('S2'));
      await c.startTask('photos/S1', 'snapshot', '2026-01-01T00:00:01.000Z');
      await c.startTask('photos/S1', 'snapshot:p0', '2026-01-01T00:00:02.000Z');
      await c.startTask('photos/S2', 'copy:eu-west-1', '2026-01-01T00:00:03.000Z');
      await c.updateTask('photos/S1', 'snapshot:p0', { status: 'SUCCEEDED' });
      expect(await c.heartbeatTask('photos/S2', 'copy:eu-west-1', '2026-01-01T00:01:00.000Z')).toBe(true);
      // A heartbeat never revives an ended task, nor creates one.
      expect(await c.heartbeatTask('photos/S1', 'snapshot:p0', '2026-01-01T00:01:00.000Z')).toBe(false);
      expect(await c.heartbeatTask('photos/S1', 'verify', '2026-01-01T00:01:00.000Z')).toBe(false);
      const running = (await c.listRunningTasks()).sort((a, b) => a.jobId.localeCompare(b.jobId));
      expect(running.map((t) => [t.jobId, t.taskId, t.status, t.heartbeatAt])).toEqual([
        ['photos/S1', 'snapshot', 'RUNNING', '2026-01-01T00:00:01.000Z'],
        ['photos/S2', 'copy:eu-west-1', 'RUNNING', '2026-01-01T00:01:00.000Z'],
      ]);
      expect((await c.listTasks('photos/S1')).map((t) => t.taskId).sort()).toEqual([
        'snapshot',
        'snapshot:p0',
      ]);
      await c.updateTask('photos/S1', 'snapshot', { status: 'FAILED', error: 'boom' });
      await c.updateTask('photos/S2', 'copy:eu-west-1', { status: 'SUCCEEDED' });
      expect(await c.listRunningTasks()).toEqual([]);
      // Started again: indexed again.
      await c.startTask('photos/S1', 'snapshot', '2026-01-01T00:02:00.000Z');
      expect((await c.listRunningTasks()).map((t) => t.taskId)).toEqual(['snapshot']);
    });

    it('lets one reaper re-drive a task per redrive count, only while it runs', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.startTask('photos/S1', 'snapshot:p3', '2026-01-01T00:00:00.000Z');
      const at = '2026-01-01T00:05:00.000Z';
      // Two ticks read redrives 0: one wins.
      expect(await c.redriveTask('photos/S1', 'snapshot:p3', 0, at)).toBe(true);
      expect(await c.redriveTask('photos/S1', 'snapshot:p3', 0, at)).toBe(false);
      const [t] = await c.listRunningTasks();
      expect(t).toMatchObject({ taskId: 'snapshot:p3', status: 'RUNNING', redrives: 1, heartbeatAt: at });
      // The re-driven task starts again: its redrive count stays.
      const restarted = await c.startTask('photos/S1', 'snapshot:p3', '2026-01-01T00:06:00.000Z');
      expect(restarted).toMatchObject({ attempts: 2, redrives: 1, heartbeatAt: '2026-01-01T00:06:00.000Z' });
      expect(await c.redriveTask('photos/S1', 'snapshot:p3', 1, at)).toBe(true);
      await c.updateTask('photos/S1', 'snapshot:p3', { status: 'SUCCEEDED' });
      expect(await c.redriveTask('photos/S1', 'snapshot:p3', 2, at)).toBe(false);
      // A task with no record yet (its snapshot's first task never started) is created RUNNING.
      expect(await c.redriveTask('photos/S1', 'snapshot', 0, at)).toBe(true);
      expect((await c.listRunningTasks()).map((x) => [x.taskId, x.redrives, x.attempts])).toEqual([
        ['snapshot', 1, 0],
      ]);
    });

    it('lets one of two reapers racing on the same read re-drive a task', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.startTask('photos/S1', 'copy:eu-west-1', '2026-01-01T00:00:00.000Z');
      const won = await Promise.all(
        ['2026-01-01T00:05:00.000Z', '2026-01-01T00:05:01.000Z'].map((at) =>
          c.redriveTask('photos/S1', 'copy:eu-west-1', 0, at),
        ),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      expect((await c.listTasks('photos/S1'))[0]?.redrives).toBe(1);
      // A FAILED task whose message waits for its retry may be re-driven too; a missing one only from 0.
      await c.updateTask('photos/S1', 'copy:eu-west-1', { status: 'FAILED', error: 'boom' });
      expect(await c.redriveTask('photos/S1', 'copy:eu-west-1', 1, '2026-01-01T00:10:00.000Z')).toBe(true);
      expect((await c.listTasks('photos/S1'))[0]).toMatchObject({ status: 'RUNNING', redrives: 2 });
      expect(await c.redriveTask('photos/S1', 'verify', 1, '2026-01-01T00:10:00.000Z')).toBe(false);
    });

    describe("DynamoDB's 400 KB item limit", () => {
      it('refuses, for good, a job over 400 KB: neither the job nor its snapshot is created', async () => {
        const c = await make();
        const error = await c
          .createJob({ ...job('S1'), error: tooLarge() }, snapshot('S1'))
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect(isRetryable(error)).toBe(false);
        expect(await c.getJob('photos/S1')).toBeUndefined();
        expect(await c.listSnapshots('photos')).toEqual([]);
      });

      it('refuses, for good, a job or task update over 400 KB and keeps the record as it was', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        await c.startTask('photos/S1', 'snapshot', '2026-01-01T00:00:01.000Z');
        await expect(c.updateJob('photos/S1', { error: tooLarge() })).rejects.toBeInstanceOf(ValidationError);
        expect(await c.getJob('photos/S1')).toEqual(job('S1'));
        const update = c.updateTask('photos/S1', 'snapshot', { status: 'FAILED', error: tooLarge() });
        await expect(update).rejects.toBeInstanceOf(ValidationError);
        expect((await c.listTasks('photos/S1'))[0]).toMatchObject({ status: 'RUNNING', attempts: 1 });
      });
    });
  });
}
