/**
 * The RestoreJobCatalog contract: fanned-out restores, their slices' count-once completion, heartbeats,
 * re-drives and their end.
 */
import { describe, expect, it } from 'vitest';
import { isRetryable, NotFoundError, ValidationError } from '#domain/errors.ts';
import type { RestoreJobCatalog } from '#domain/ports.ts';
import type { KnownDivergences } from '../divergences.ts';
import { counts, restoreJob, tooLarge } from './fixtures.ts';

export function restoreJobCatalogContract(
  name: string,
  make: () => Promise<RestoreJobCatalog>,
  _known?: KnownDivergences,
): void {
  describe(`RestoreJobCatalog contract: ${name}`, () => {
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

    it('keeps the counts of slices cut by bytes, 50,000 of them, apart from the job', async () => {
      const c = await make();
      // The most a job records (MAX_RECORDED_SLICES in restore/slices.ts), three digits each
      const sliceCounts = Array.from({ length: 50_000 }, (_, i) => (i % 7 === 0 ? 1 : 500));
      const job = { ...restoreJob('R-bytes', sliceCounts.length), slicesCutByBytes: true };
      expect(await c.createRestoreJob(job, sliceCounts)).toBe(true);
      await c.completeRestoreSlice('R-bytes', 0, counts(1), '2026-01-01T00:00:05.000Z');
      expect(await c.getRestoreSliceCounts('R-bytes')).toEqual(sliceCounts);
      expect(await c.getRestoreJob('R-bytes')).toMatchObject({ slicesCutByBytes: true, slicesDone: 1 });
      // The job item stays small: no counts in it
      expect(JSON.stringify(await c.getRestoreJob('R-bytes')).length).toBeLessThan(2000);
      await c.createRestoreJob(restoreJob('R-uniform'));
      expect(await c.getRestoreSliceCounts('R-uniform')).toBeUndefined();
    });

    it('keeps the keys of each slice of a restore of listed keys, 256 KiB of them in one item', async () => {
      const c = await make();
      // A slice's most (MAX_SLICE_KEY_BYTES in restore/slices.ts): 260 keys of 1,000 UTF-8 bytes,
      // spaces and non-ASCII among them
      const keys = Array.from(
        { length: 260 },
        (_, i) => `dir é/${String(i).padStart(3, '0')} ${'x'.repeat(990)}`,
      );
      await c.putRestoreSliceKeys('R-keys', 3, keys);
      await c.putRestoreSliceKeys('R-keys', 3, keys); // a start again writes the same
      await c.putRestoreSliceKeys('R-keys', 4, ['last']);
      expect(await c.getRestoreSliceKeys('R-keys', 3)).toEqual(keys);
      expect(await c.getRestoreSliceKeys('R-keys', 4)).toEqual(['last']);
      expect(await c.getRestoreSliceKeys('R-keys', 5)).toBeUndefined();
      expect(await c.getRestoreSliceKeys('R-other', 3)).toBeUndefined();
    });

    it('lists the 20 most recent restore jobs when no limit is given', async () => {
      const c = await make();
      const ids = Array.from(
        { length: 23 },
        (_, i) => `restore-202601${String(i + 1).padStart(2, '0')}T000000Z-a`,
      );
      for (const id of ids) await c.createRestoreJob(restoreJob(id));
      expect((await c.listRestoreJobs()).map((j) => j.restoreJobId)).toEqual(ids.reverse().slice(0, 20));
    });

    it('adds a restore slice’s counts once: a redelivered slice adds nothing', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      const first = await c.completeRestoreSlice('R1', 0, counts(5), '2026-01-01T00:00:05.000Z');
      const again = await c.completeRestoreSlice('R1', 0, counts(5), '2026-01-01T00:00:06.000Z');
      expect(first.counted).toBe(true);
      expect(again.counted).toBe(false);
      expect(again.job).toMatchObject({
        slicesDone: 1,
        objects: 5,
        bytes: 500,
        updatedAt: '2026-01-01T00:00:05.000Z',
      });
      const second = await c.completeRestoreSlice('R1', 1, counts(0, 2), '2026-01-01T00:00:07.000Z');
      expect(second.job).toMatchObject({ slicesDone: 2, objects: 5, skippedExists: 2, skippedUnchanged: 0 });
      await expect(c.completeRestoreSlice('R-missing', 0, counts(1), 'x')).rejects.toThrow(/does not exist/);
      await expect(c.completeRestoreSlice('R-missing', 0, counts(1), 'x')).rejects.toBeInstanceOf(
        NotFoundError,
      );
      expect(await c.listRestoreSlicesDone('R-missing')).toEqual([]);
    });

    it('adds the counts of every one of distinct slices completed at the same time', async () => {
      const c = await make();
      const n = 8;
      await c.createRestoreJob(restoreJob('R1', n));
      const results = await Promise.all(
        Array.from({ length: n }, (_, slice) =>
          c.completeRestoreSlice('R1', slice, counts(slice + 1), '2026-01-01T00:00:05.000Z'),
        ),
      );
      expect(results.every((r) => r.counted)).toBe(true);
      expect(await c.getRestoreJob('R1')).toMatchObject({ slicesDone: n, objects: 36, bytes: 3600 });
      expect(await c.listRestoreSlicesDone('R1')).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    });

    it('ends a restore job once: SUCCEEDED only when every slice is done', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      const end = { status: 'SUCCEEDED' as const, at: '2026-01-01T00:01:00.000Z' };
      await c.completeRestoreSlice('R1', 0, counts(5), '2026-01-01T00:00:05.000Z');
      expect(await c.finishRestoreJob('R1', end)).toBe(false);
      await c.completeRestoreSlice('R1', 1, counts(2), '2026-01-01T00:00:09.000Z');
      expect(await c.finishRestoreJob('R1', end)).toBe(true);
      expect(await c.finishRestoreJob('R1', end)).toBe(false);
      expect(await c.finishRestoreJob('R1', { status: 'FAILED', at: end.at, error: 'too late' })).toBe(false);
      expect(await c.getRestoreJob('R1')).toMatchObject({
        status: 'SUCCEEDED',
        finishedAt: end.at,
        objects: 7,
      });
    });

    it('fails a RUNNING restore job with its reason, whatever its slices', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      const failed = { status: 'FAILED' as const, at: '2026-01-01T00:02:00.000Z', error: 'slice 1: boom' };
      expect(await c.finishRestoreJob('R1', failed)).toBe(true);
      expect(await c.getRestoreJob('R1')).toMatchObject({ status: 'FAILED', error: 'slice 1: boom' });
      expect(await c.finishRestoreJob('R-missing', failed)).toBe(false);
    });

    it('lets one of two callers ending a restore job at the same time end it', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1', 1));
      await c.completeRestoreSlice('R1', 0, counts(1), '2026-01-01T00:00:05.000Z');
      const won = await Promise.all([
        c.finishRestoreJob('R1', { status: 'SUCCEEDED', at: '2026-01-01T00:01:00.000Z' }),
        c.finishRestoreJob('R1', { status: 'FAILED', at: '2026-01-01T00:01:01.000Z', error: 'reaped' }),
      ]);
      expect(won.filter(Boolean)).toHaveLength(1);
      expect((await c.getRestoreJob('R1'))?.status).toBe(won[0] ? 'SUCCEEDED' : 'FAILED');
    });

    it('lists a restore job’s done slices, and beats and re-drives it only while it is RUNNING', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      expect(await c.listRestoreSlicesDone('R1')).toEqual([]);
      await c.completeRestoreSlice('R1', 1, counts(2), '2026-01-01T00:00:05.000Z');
      await c.completeRestoreSlice('R1', 0, counts(2), '2026-01-01T00:00:06.000Z');
      await c.completeRestoreSlice('R1', 1, counts(2), '2026-01-01T00:00:07.000Z');
      expect(await c.listRestoreSlicesDone('R1')).toEqual([0, 1]);
      expect(await c.listRestoreSlicesDone('R-missing')).toEqual([]);
      expect(await c.heartbeatRestoreJob('R1', '2026-01-01T00:00:30.000Z')).toBe(true);
      expect((await c.getRestoreJob('R1'))?.heartbeatAt).toBe('2026-01-01T00:00:30.000Z');
      // Of two reapers that read redrives = 0, one wins.
      expect(await c.redriveRestoreJob('R1', 0, '2026-01-01T00:04:00.000Z')).toBe(true);
      expect(await c.redriveRestoreJob('R1', 0, '2026-01-01T00:04:00.000Z')).toBe(false);
      expect(await c.getRestoreJob('R1')).toMatchObject({
        redrives: 1,
        heartbeatAt: '2026-01-01T00:04:00.000Z',
      });
      expect(await c.redriveRestoreJob('R1', 1, '2026-01-01T00:08:00.000Z')).toBe(true);
      await c.finishRestoreJob('R1', { status: 'FAILED', at: '2026-01-01T00:09:00.000Z', error: 'x' });
      expect(await c.heartbeatRestoreJob('R1', '2026-01-01T00:09:30.000Z')).toBe(false);
      expect(await c.redriveRestoreJob('R1', 2, '2026-01-01T00:12:00.000Z')).toBe(false);
      expect(await c.getRestoreJob('R1')).toMatchObject({ status: 'FAILED', redrives: 2 });
      expect(await c.heartbeatRestoreJob('R-missing', 'x')).toBe(false);
      expect(await c.redriveRestoreJob('R-missing', 0, 'x')).toBe(false);
    });

    it('refuses, for good, a restore job over 400 KB, and stores nothing', async () => {
      const c = await make();
      const error = await c
        .createRestoreJob({ ...restoreJob('R1'), warnings: [tooLarge()] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(isRetryable(error)).toBe(false);
      expect(await c.getRestoreJob('R1')).toBeUndefined();
    });
  });
}
