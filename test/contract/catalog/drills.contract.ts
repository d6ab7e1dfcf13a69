/** The DrillCatalog contract: one drill history per plan, written with optimistic concurrency. */
import { describe, expect, it } from 'vitest';
import { isRetryable, ValidationError } from '#domain/errors.ts';
import type { DrillCatalog, JobCatalog, SnapshotCatalog } from '#domain/ports.ts';
import type { DrillHistory } from '#domain/records.ts';
import type { KnownDivergences } from '../divergences.ts';
import { job, snapshot, tooLarge } from './fixtures.ts';

/** The drill history lives beside the plan's snapshots and jobs: the suite checks it stays apart. */
export type DrillCatalogUnderTest = DrillCatalog &
  Pick<JobCatalog, 'createJob' | 'listJobs'> &
  Pick<SnapshotCatalog, 'listSnapshots'>;

const history = (version: number, scheduledAt = '2026-01-08T00:00:00.000Z'): DrillHistory => ({
  planId: 'photos',
  version,
  scheduledAt,
  drills: [],
});

export function drillCatalogContract(
  name: string,
  make: () => Promise<DrillCatalogUnderTest>,
  _known?: KnownDivergences,
): void {
  describe(`DrillCatalog contract: ${name}`, () => {
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

    it('lets one of two writers that read the same version write, per plan', async () => {
      const c = await make();
      await c.putDrillHistory(history(1), 0);
      const won = await Promise.all([
        c.putDrillHistory(history(2, '2026-01-15T00:00:00.000Z'), 1),
        c.putDrillHistory(history(2, '2026-01-22T00:00:00.000Z'), 1),
      ]);
      expect(won.filter(Boolean)).toHaveLength(1);
      expect((await c.getDrillHistory('photos'))?.scheduledAt).toBe(
        won[0] ? '2026-01-15T00:00:00.000Z' : '2026-01-22T00:00:00.000Z',
      );
      // Another plan's history is apart: its first write expects version 0.
      expect(await c.putDrillHistory({ ...history(1), planId: 'docs' }, 0)).toBe(true);
      expect((await c.getDrillHistory('photos'))?.version).toBe(2);
    });

    it('refuses, for good, a drill history over 400 KB and keeps the stored one', async () => {
      const c = await make();
      await c.putDrillHistory(history(1), 0);
      const error = await c
        .putDrillHistory({ ...history(2), scheduledAt: tooLarge() }, 1)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(isRetryable(error)).toBe(false);
      expect(await c.getDrillHistory('photos')).toEqual(history(1));
    });
  });
}
