/**
 * The SnapshotCatalog contract: snapshot records (status, copies per region, legal hold) and their
 * partitions (the plan, the count-once summaries, the checkpoints). @see docs/format.md#partitions
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, isRetryable, NotFoundError, ValidationError } from '#domain/errors.ts';
import type { JobCatalog, SnapshotCatalog } from '#domain/ports.ts';
import type { PartitionSummary } from '#domain/records.ts';
import type { PartRef } from '#domain/vault.ts';
import { contractCase, type KnownDivergences } from '../divergences.ts';
import { checkpoint, hex, job, longKey, parts, snapshot, summary, tooLarge } from './fixtures.ts';

/** A snapshot record exists only once a job created it: the suite seeds snapshots with `createJob`. */
export type SnapshotCatalogUnderTest = SnapshotCatalog & Pick<JobCatalog, 'createJob'>;

const PLAN_TIME = '2026-01-01T00:00:05.000Z';

/** A RUNNING snapshot `S1` whose partition plan (recorded at {@link PLAN_TIME}) has `n` partitions. */
async function planned(c: SnapshotCatalogUnderTest, n: number): Promise<void> {
  await c.createJob(job('S1'), snapshot('S1'));
  const boundaries = Array.from({ length: n - 1 }, (_, i) => `k${String(i).padStart(4, '0')}`);
  await c.planPartitions('photos', 'S1', { boundaries, parentSnapshotId: null, time: PLAN_TIME });
}

export function snapshotCatalogContract(
  name: string,
  make: () => Promise<SnapshotCatalogUnderTest>,
  known?: KnownDivergences,
): void {
  describe(`SnapshotCatalog contract: ${name}`, () => {
    describe('snapshot records', () => {
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

      contractCase(
        known,
        'update-empty-patch',
        'checks the status even for a patch that sets nothing',
        async () => {
          const c = await make();
          await c.createJob(job('S1'), snapshot('S1'));
          expect(await c.updateSnapshot('photos', 'S1', {}, ['RUNNING'])).toBe(true);
          expect(await c.updateSnapshot('photos', 'S1', {}, ['COMMITTED'])).toBe(false);
          expect(await c.updateSnapshot('photos', 'missing', {}, ['RUNNING'])).toBe(false);
        },
      );

      it('lists snapshots oldest first', async () => {
        const c = await make();
        for (const id of ['20260102T000000Z', '20260101T000000Z', '20260103T000000Z'])
          await c.createJob(job(id), snapshot(id));
        expect((await c.listSnapshots('photos')).map((s) => s.snapshotId)).toEqual([
          '20260101T000000Z',
          '20260102T000000Z',
          '20260103T000000Z',
        ]);
        expect(await c.listSnapshots('nobody')).toEqual([]);
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

      it('keeps the copies of regions recorded at the same time', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        const names = ['eu-west-1', 'ap-south-1', 'us-west-2', 'eu-central-1', 'sa-east-1'];
        const pending = Object.fromEntries(names.map((r) => [r, { status: 'PENDING' as const }]));
        await c.updateSnapshot('photos', 'S1', { status: 'COMMITTED', regions: pending }, ['RUNNING']);
        await Promise.all(
          names.map((r, i) => c.setRegionCopy('photos', 'S1', r, { status: 'COPIED', blobsCopied: i })),
        );
        expect((await c.getSnapshot('photos', 'S1'))?.regions).toEqual(
          Object.fromEntries(names.map((r, i) => [r, { status: 'COPIED', blobsCopied: i }])),
        );
      });

      contractCase(
        known,
        'region-copy-missing-snapshot',
        'refuses, for good, the copy state of a snapshot that does not exist',
        async () => {
          const c = await make();
          const error = await c
            .setRegionCopy('photos', 'missing', 'eu-west-1', { status: 'COPIED' })
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(Error);
          expect(isRetryable(error)).toBe(false);
          expect(await c.getSnapshot('photos', 'missing')).toBeUndefined();
        },
      );

      it('places and clears a legal hold, and never marks a held snapshot FORGOTTEN', async () => {
        const c = await make();
        await c.createJob(job('S1'), { ...snapshot('S1'), status: 'COMMITTED' });
        expect(
          await c.setLegalHold('photos', 'S1', { since: '2026-03-01T00:00:00.000Z', reason: 'case 17' }),
        ).toBe(true);
        expect((await c.getSnapshot('photos', 'S1'))?.legalHold).toEqual({
          since: '2026-03-01T00:00:00.000Z',
          reason: 'case 17',
        });
        expect(await c.updateSnapshot('photos', 'S1', { status: 'FORGOTTEN' }, ['COMMITTED'])).toBe(false);
        expect(await c.updateSnapshot('photos', 'S1', { objectCount: 3 }, ['COMMITTED'])).toBe(true);
        expect(await c.setLegalHold('photos', 'S1', undefined)).toBe(true);
        expect(await c.setLegalHold('photos', 'S1', undefined)).toBe(true); // idempotent
        expect(await c.getSnapshot('photos', 'S1')).not.toHaveProperty('legalHold');
        expect(await c.updateSnapshot('photos', 'S1', { status: 'FORGOTTEN' }, ['COMMITTED'])).toBe(true);
        expect(await c.setLegalHold('photos', 'S1', { since: '2026-03-02T00:00:00.000Z' })).toBe(false);
        expect(await c.setLegalHold('photos', 'missing', { since: '2026-03-02T00:00:00.000Z' })).toBe(false);
      });

      it('deletes a snapshot record', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        await c.deleteSnapshot('photos', 'S1');
        expect(await c.getSnapshot('photos', 'S1')).toBeUndefined();
        await c.deleteSnapshot('photos', 'S1'); // deleting a missing snapshot is no error
      });
    });

    describe('partition plans', () => {
      it('records the first partition plan and gives it to every later planner', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        const first = { boundaries: ['g', 'p'], parentSnapshotId: 'S0', time: PLAN_TIME };
        expect(await c.planPartitions('photos', 'S1', first)).toEqual(first);
        const second = { boundaries: ['m'], parentSnapshotId: null, time: '2026-01-01T00:00:09.000Z' };
        expect(await c.planPartitions('photos', 'S1', second)).toEqual(first);
        expect(await c.getSnapshot('photos', 'S1')).toMatchObject({
          partitionBoundaries: ['g', 'p'],
          partitionsTotal: 3,
          partitionsDone: 0,
          parentSnapshotId: 'S0',
          time: PLAN_TIME,
        });
        // Once the snapshot ended, the recorded plan is still given back.
        await c.updateSnapshot('photos', 'S1', { status: 'FAILED' }, ['RUNNING']);
        expect(await c.planPartitions('photos', 'S1', second)).toEqual(first);
      });

      it('plans only a RUNNING snapshot: ConflictError (not retryable) otherwise, NotFoundError when missing', async () => {
        const c = await make();
        await c.createJob(job('S1'), { ...snapshot('S1'), status: 'FAILED' });
        const p = { boundaries: ['m'], parentSnapshotId: null, time: PLAN_TIME };
        const error = await c.planPartitions('photos', 'S1', p).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConflictError);
        expect(isRetryable(error)).toBe(false);
        expect((await c.getSnapshot('photos', 'S1'))?.partitionBoundaries).toBeUndefined();
        await expect(c.planPartitions('photos', 'missing', p)).rejects.toBeInstanceOf(NotFoundError);
      });

      it('keeps a partition plan of many long keys on the snapshot record', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        await c.createJob(job('S2'), snapshot('S2'));
        const boundaries = Array.from({ length: 600 }, (_, i) => longKey(i)); // ~545 KB
        const plan = { boundaries, parentSnapshotId: null, time: '2026-01-01T00:00:00.000Z' };
        expect(await c.planPartitions('photos', 'S1', plan)).toEqual(plan);
        // A second planner (another delivery) gets the recorded plan, not its own.
        const other = { ...plan, boundaries: boundaries.slice(1) };
        expect((await c.planPartitions('photos', 'S1', other)).boundaries).toEqual(boundaries);
        const record = await c.getSnapshot('photos', 'S1');
        expect(record?.partitionBoundaries).toEqual(boundaries);
        expect(record?.partitionsTotal).toBe(601);
        expect(
          (await c.listSnapshots('photos')).map((s) => [s.snapshotId, s.partitionBoundaries?.length]),
        ).toEqual([
          ['S1', 600],
          ['S2', undefined],
        ]);
        await c.deleteSnapshot('photos', 'S1');
        expect((await c.listSnapshots('photos')).map((s) => s.snapshotId)).toEqual(['S2']);
      });
    });

    describe('listing legs', () => {
      it('records each leg of a first listing once, with however many long boundaries, and lists them in order', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        const leg = (n: number, boundaries: string[]) => ({
          leg: n,
          afterKey: `after ${n}`,
          partitionBoundaries: boundaries,
          keysListed: 1000 * (n + 1),
          recordedAt: '2026-01-01T00:00:00.000Z',
        });
        const long = Array.from({ length: 600 }, (_, i) => longKey(i)); // ~545 KB: overflow items
        expect(await c.putListingLeg('photos', 'S1', leg(1, long))).toBe(true);
        expect(await c.putListingLeg('photos', 'S1', { ...leg(0, ['a', 'b']), pendingBoundary: 'c' })).toBe(
          true,
        );
        // A second delivery that listed leg 1 again loses, whatever it found.
        expect(await c.putListingLeg('photos', 'S1', leg(1, ['other']))).toBe(false);
        expect(await c.listListingLegs('photos', 'S1')).toEqual([
          { ...leg(0, ['a', 'b']), pendingBoundary: 'c' },
          leg(1, long),
        ]);
        expect(await c.listListingLegs('photos', 'S2')).toEqual([]);
        expect((await c.listSnapshots('photos')).map((s) => s.snapshotId)).toEqual(['S1']);
      });
    });

    describe('count-once partition commit', () => {
      it('counts a partition once: a duplicate delivery is not counted and does not replace the summary', async () => {
        const c = await make();
        await planned(c, 3);
        const first = { ...summary(1), planTime: PLAN_TIME };
        expect(await c.completePartition('photos', 'S1', first)).toEqual({
          counted: true,
          done: 1,
          total: 3,
          status: 'RUNNING',
        });
        // The same message delivered again, its work redone (other timings).
        const again = { ...first, seconds: 7, doneAt: '2026-01-01T00:11:00.000Z' };
        expect(await c.completePartition('photos', 'S1', again)).toEqual({
          counted: false,
          done: 1,
          total: 3,
          status: 'RUNNING',
        });
        expect(await c.listPartitions('photos', 'S1')).toEqual([first]);
        expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone).toBe(1);
      });

      it('counts a partition only into the partition plan it was stored under (planTime)', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        await c.planPartitions('photos', 'S1', {
          boundaries: ['m'],
          parentSnapshotId: null,
          time: '2026-01-01T00:00:05.000Z',
        });
        // A straggler of an earlier plan (before a state-table restore): not counted.
        const stale = { ...summary(0), planTime: '2026-01-01T00:00:01.000Z' };
        expect((await c.completePartition('photos', 'S1', stale)).counted).toBe(false);
        expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone ?? 0).toBe(0);
        // Stored under the recorded plan: counted.
        const mine = { ...summary(1), planTime: '2026-01-01T00:00:05.000Z' };
        expect((await c.completePartition('photos', 'S1', mine)).counted).toBe(true);
        expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone).toBe(1);
      });

      it('does not store a straggler of a replaced plan: the partition still counts once under the new plan', async () => {
        const c = await make();
        await planned(c, 2);
        // The partition plan was replaced (the state table restored to before it, planned again):
        // a summary of the old plan's partition 0 arrives late.
        const stale = { ...summary(0), planTime: '2026-01-01T00:00:01.000Z', objectCount: 999 };
        expect(await c.completePartition('photos', 'S1', stale)).toEqual({
          counted: false,
          done: 0,
          total: 2,
          status: 'RUNNING',
        });
        expect(await c.listPartitions('photos', 'S1')).toEqual([]);
        // The new plan's partition 0 is not taken by the straggler: it counts.
        const mine = { ...summary(0), planTime: PLAN_TIME };
        expect(await c.completePartition('photos', 'S1', mine)).toMatchObject({ counted: true, done: 1 });
        expect(await c.listPartitions('photos', 'S1')).toEqual([mine]);
      });

      it('counts a summary stored without a planTime into the recorded plan', async () => {
        const c = await make();
        await planned(c, 2);
        const untimed: PartitionSummary = summary(1);
        expect(await c.completePartition('photos', 'S1', untimed)).toMatchObject({ counted: true, done: 1 });
        expect(await c.listPartitions('photos', 'S1')).toEqual([untimed]);
      });

      it('counts nothing into a snapshot that is no longer RUNNING, and stores no summary', async () => {
        const c = await make();
        await planned(c, 2);
        await c.updateSnapshot('photos', 'S1', { status: 'FAILED' }, ['RUNNING']);
        expect(await c.completePartition('photos', 'S1', { ...summary(0), planTime: PLAN_TIME })).toEqual({
          counted: false,
          done: 0,
          total: 2,
          status: 'FAILED',
        });
        expect(await c.listPartitions('photos', 'S1')).toEqual([]);
        await expect(
          c.completePartition('photos', 'missing', { ...summary(0), planTime: PLAN_TIME }),
        ).rejects.toBeInstanceOf(NotFoundError);
      });

      contractCase(
        known,
        'complete-concurrent-distinct',
        'counts every one of distinct partitions completed at the same time',
        async () => {
          const c = await make();
          const n = 8;
          await planned(c, n);
          const summaries = Array.from({ length: n }, (_, i) => ({ ...summary(i), planTime: PLAN_TIME }));
          const results = await Promise.all(summaries.map((s) => c.completePartition('photos', 'S1', s)));
          expect(results.map((r) => r.counted)).toEqual(summaries.map(() => true));
          // Each reads the counters after its own write (and maybe after others'): the last sees them all.
          expect(results.every((r) => r.done >= 1 && r.done <= n && r.total === n)).toBe(true);
          expect(Math.max(...results.map((r) => r.done))).toBe(n);
          expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone).toBe(n);
          expect(await c.listPartitions('photos', 'S1')).toEqual(summaries);
        },
      );

      contractCase(
        known,
        'complete-concurrent-duplicates',
        'counts one of several deliveries of one partition completed at the same time',
        async () => {
          const c = await make();
          await planned(c, 2);
          const deliveries = Array.from({ length: 5 }, (_, i) => ({
            ...summary(1),
            planTime: PLAN_TIME,
            seconds: i + 1,
          }));
          const results = await Promise.all(deliveries.map((s) => c.completePartition('photos', 'S1', s)));
          expect(results.filter((r) => r.counted)).toHaveLength(1);
          expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone).toBe(1);
          const stored = await c.listPartitions('photos', 'S1');
          expect(stored).toHaveLength(1);
          expect(stored[0]).toEqual(deliveries[results.findIndex((r) => r.counted)]);
        },
      );

      it('keeps a partition summary naming many parts', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        await c.planPartitions('photos', 'S1', {
          boundaries: ['m'],
          parentSnapshotId: null,
          time: '2026-01-01T00:00:00.000Z',
        });
        const parts = Array.from({ length: 300 }, (_, i) => ({
          partId: hex(i),
          firstKey: longKey(2 * i),
          lastKey: longKey(2 * i + 1),
          objectCount: 1000,
          logicalBytes: 1_000_000,
        })); // ~560 KB
        const summary = {
          partition: 0,
          parts,
          objectCount: 300_000,
          logicalBytes: 300_000_000,
          objectsRead: 300_000,
          blobsWritten: 0,
          packsWritten: 0,
          storedBytesWritten: 0,
          objectsVanished: 0,
          invocations: 3,
          seconds: 1800,
          doneAt: '2026-01-01T01:00:00.000Z',
        };
        expect(await c.completePartition('photos', 'S1', summary)).toMatchObject({
          counted: true,
          done: 1,
          total: 2,
        });
        expect(await c.completePartition('photos', 'S1', summary)).toMatchObject({ counted: false, done: 1 });
        const small = { ...summary, partition: 1, parts: parts.slice(0, 1) };
        await c.completePartition('photos', 'S1', small);
        expect(await c.listPartitions('photos', 'S1')).toEqual([summary, small]);
      });
    });

    describe('partition checkpoints and resets', () => {
      it('records a partition checkpoint only over one with fewer invocations, however many parts it names', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        await c.planPartitions('photos', 'S1', {
          boundaries: ['m'],
          parentSnapshotId: null,
          time: '2026-01-01T00:00:00.000Z',
        });
        const first = checkpoint(0, 2, parts(3, 'a'));
        expect(await c.putPartitionCheckpoint('photos', 'S1', first)).toBe(true);
        expect(await c.listPartitionCheckpoints('photos', 'S1')).toEqual([first]);
        // A second delivery of the same message: its checkpoint loses, the first stays.
        expect(await c.putPartitionCheckpoint('photos', 'S1', checkpoint(0, 2, parts(4, 'b')))).toBe(false);
        expect(await c.listPartitionCheckpoints('photos', 'S1')).toEqual([first]);
        // Thousands of parts with long keys: megabytes, far over one DynamoDB item.
        const large = checkpoint(0, 3, parts(1500, 'c'.repeat(600)));
        expect(await c.putPartitionCheckpoint('photos', 'S1', large)).toBe(true);
        const other = checkpoint(1, 2, parts(1, 'n'));
        expect(await c.putPartitionCheckpoint('photos', 'S1', other)).toBe(true);
        expect(await c.listPartitionCheckpoints('photos', 'S1')).toEqual([large, other]);
        expect(await c.putPartitionCheckpoint('photos', 'S1', checkpoint(0, 4, parts(2, 'd')))).toBe(true);
        expect((await c.listPartitionCheckpoints('photos', 'S1')).map((x) => x.parts.length)).toEqual([2, 1]);
        expect(await c.listPartitions('photos', 'S1')).toEqual([]); // no summary
        expect(await c.listPartitionCheckpoints('photos', 'S2')).toEqual([]);
      });

      it('keeps a paused object read with its checkpoint, with no afterKey when it is the first object', async () => {
        const c = await make();
        await planned(c, 2);
        const { afterKey: _none, ...first } = checkpoint(0, 2, []);
        const paused = {
          ...first,
          object: {
            key: 'huge.bin',
            etag: '9b2cf535f27731c974343645a3985328-8',
            sizeBytes: 64 * 1024 ** 3,
            offsetBytes: 20 * 1024 ** 3,
            sha256State: 'AAECAwQFBgc=',
            part: parts(1, 'huge')[0] as PartRef,
          },
        };
        expect(await c.putPartitionCheckpoint('photos', 'S1', paused)).toBe(true);
        expect(await c.listPartitionCheckpoints('photos', 'S1')).toEqual([paused]);
      });

      it('lets one of two deliveries checkpointing at the same time go on', async () => {
        const c = await make();
        await planned(c, 2);
        const rivals = [checkpoint(0, 2, parts(2, 'a')), checkpoint(0, 2, parts(3, 'b'))];
        const won = await Promise.all(rivals.map((x) => c.putPartitionCheckpoint('photos', 'S1', x)));
        expect(won.filter(Boolean)).toHaveLength(1);
        expect(await c.listPartitionCheckpoints('photos', 'S1')).toEqual([rivals[won.indexOf(true)]]);
      });

      it('resets a partition of a RUNNING snapshot: its summary goes (counted back once) with its checkpoint', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        await c.planPartitions('photos', 'S1', {
          boundaries: ['g', 'p'],
          parentSnapshotId: null,
          time: '2026-01-01T00:00:00.000Z',
        });
        await c.completePartition('photos', 'S1', summary(0));
        await c.completePartition('photos', 'S1', summary(1));
        await c.putPartitionCheckpoint('photos', 'S1', checkpoint(0, 2, parts(2, 'a')));
        await c.putPartitionCheckpoint('photos', 'S1', checkpoint(2, 2, parts(2, 'q')));
        expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone).toBe(2);

        expect(await c.resetPartition('photos', 'S1', 0)).toBe(true);
        expect(await c.resetPartition('photos', 'S1', 0)).toBe(false);
        expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone).toBe(1);
        expect((await c.listPartitions('photos', 'S1')).map((x) => x.partition)).toEqual([1]);
        expect((await c.listPartitionCheckpoints('photos', 'S1')).map((x) => x.partition)).toEqual([2]);
        expect(await c.resetPartition('photos', 'S1', 2)).toBe(false); // no summary; its checkpoint goes
        expect(await c.listPartitionCheckpoints('photos', 'S1')).toEqual([]);
        // Done again after the reset: counted again.
        expect((await c.completePartition('photos', 'S1', summary(0))).counted).toBe(true);
        expect((await c.getSnapshot('photos', 'S1'))?.partitionsDone).toBe(2);
        // Not RUNNING: nothing changes.
        await c.updateSnapshot('photos', 'S1', { status: 'FAILED' }, ['RUNNING']);
        expect(await c.resetPartition('photos', 'S1', 1)).toBe(false);
        expect((await c.listPartitions('photos', 'S1')).map((x) => x.partition)).toEqual([0, 1]);
      });
    });

    describe("DynamoDB's 400 KB item limit", () => {
      it('refuses, for good, a snapshot update over 400 KB and keeps the record as it was', async () => {
        const c = await make();
        await c.createJob(job('S1'), snapshot('S1'));
        const error = await c
          .updateSnapshot('photos', 'S1', { status: 'FAILED', error: tooLarge() }, ['RUNNING'])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect(isRetryable(error)).toBe(false);
        expect(await c.getSnapshot('photos', 'S1')).toEqual(snapshot('S1'));
      });

      it('refuses, for good, a copy state or a legal hold over 400 KB', async () => {
        const c = await make();
        const committed = { ...snapshot('S1'), status: 'COMMITTED' as const, regions: {} };
        await c.createJob(job('S1'), committed);
        const copy = c.setRegionCopy('photos', 'S1', 'eu-west-1', { status: 'FAILED', error: tooLarge() });
        await expect(copy).rejects.toBeInstanceOf(ValidationError);
        const hold = c.setLegalHold('photos', 'S1', {
          since: '2026-03-01T00:00:00.000Z',
          reason: tooLarge(),
        });
        await expect(hold).rejects.toBeInstanceOf(ValidationError);
        expect(await c.getSnapshot('photos', 'S1')).toEqual(committed);
      });
    });
  });
}
