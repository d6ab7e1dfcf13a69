/** The Catalog contract, run against the memory twin and DynamoDB Local. */
import { describe, expect, it } from 'vitest';
import { isRetryable, ValidationError } from '#domain/errors.ts';
import type { Catalog } from '#domain/ports.ts';
import type {
  JobRecord,
  JournalEntry,
  PartitionCheckpoint,
  PartitionSummary,
  PlanRecord,
  RestoreJobRecord,
  SnapshotRecord,
} from '#domain/records.ts';
import { contentIdOf, type PartRef } from '#domain/vault.ts';

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
const journalEntry = (overrides: Partial<JournalEntry> = {}): JournalEntry => ({
  planId: 'photos',
  bucket: 'src',
  key: 'a.txt',
  event: 'created',
  eventTime: '2026-01-01T00:00:00.000Z',
  sequencer: '0055AED6DCD90281E5',
  capturedAt: '2026-01-01T00:00:01.000Z',
  outcome: 'captured',
  sizeBytes: 1,
  etag: 'f'.repeat(32),
  blobs: ['0'.repeat(64)],
  ...overrides,
});
const counts = (objects: number, skippedExists = 0) => ({
  objects,
  bytes: objects * 100,
  skippedExists,
  skippedUnchanged: 0,
});

/** `n` part refs whose keys start with `key`, in key order. */
const parts = (n: number, key: string): PartRef[] =>
  Array.from({ length: n }, (_, i) => ({
    partId: contentIdOf(`${key}${i}`),
    firstKey: `${key}/${String(i).padStart(5, '0')}/a`,
    lastKey: `${key}/${String(i).padStart(5, '0')}/z`,
    objectCount: 1000,
    logicalBytes: 123_456,
  }));
const checkpoint = (partition: number, invocations: number, refs: PartRef[]): PartitionCheckpoint => ({
  partition,
  afterKey: refs.at(-1)?.lastKey ?? 'a',
  parts: refs,
  objectsRead: 10,
  blobsWritten: 9,
  packsWritten: 1,
  storedBytesWritten: 4096,
  objectsVanished: 0,
  invocations,
  seconds: 600.5,
  checkpointedAt: '2026-01-01T00:10:00.000Z',
});
const summary = (partition: number): PartitionSummary => ({
  partition,
  parts: parts(1, `s${partition}`),
  objectCount: 1000,
  logicalBytes: 123_456,
  objectsRead: 1000,
  blobsWritten: 1000,
  packsWritten: 1,
  storedBytesWritten: 4096,
  objectsVanished: 0,
  invocations: 1,
  seconds: 1,
  doneAt: '2026-01-01T00:10:00.000Z',
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

    it('journals a change once per plan, bucket, key and sequencer', async () => {
      const c = await make();
      const entry = journalEntry({ key: 'a b.txt', sequencer: '01' });
      expect(await c.appendJournal(entry)).toBe(true);
      expect(await c.appendJournal({ ...entry, capturedAt: '2026-01-01T00:00:09.000Z' })).toBe(false);
      expect(await c.appendJournal({ ...entry, sequencer: '02' })).toBe(true);
      expect(await c.appendJournal({ ...entry, bucket: 'other' })).toBe(true);
      expect(await c.appendJournal({ ...entry, planId: 'docs' })).toBe(true);
      expect(await c.listJournal('photos')).toHaveLength(3);
      expect(await c.listJournal('docs')).toHaveLength(1);
    });

    it('keeps every field of a journal entry', async () => {
      const c = await make();
      const captured = journalEntry({
        key: 'big/\u00fcber file.bin',
        sizeBytes: 20_000_000,
        etag: '9b2cf535f27731c974343645a3985328-3',
        versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko',
        lastModified: '2026-01-01T00:00:00.000Z',
        contentType: 'application/octet-stream',
        metadata: { origin: 'camera' },
        blobs: ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)],
        contentSha256: 'd'.repeat(64),
      });
      const lost = journalEntry({
        key: 'gone.txt',
        sequencer: '0A',
        outcome: 'lost-before-capture',
        sizeBytes: 3,
        etag: 'e'.repeat(32),
        reason: 'overwritten before capture',
      });
      const removed = journalEntry({
        key: 'gone.txt',
        sequencer: '0B',
        event: 'removed',
        outcome: 'removed',
      });
      for (const e of [captured, lost, removed]) await c.appendJournal(e);
      expect(await c.listJournalForKey('photos', captured.key)).toEqual([captured]);
      expect(await c.listJournalForKey('photos', 'gone.txt')).toEqual([lost, removed]);
    });

    it("lists a plan's journal by capture time, within (capturedAfter, capturedUntil]", async () => {
      const c = await make();
      const at = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
      for (const [i, s] of [3, 1, 2, 1].entries()) {
        await c.appendJournal(journalEntry({ key: `k${i}`, sequencer: `0${i + 1}`, capturedAt: at(s) }));
      }
      const keysOf = (entries: JournalEntry[]) => entries.map((e) => e.key);
      const all = await c.listJournal('photos');
      expect(all.map((e) => e.capturedAt)).toEqual([at(1), at(1), at(2), at(3)]);
      expect(keysOf(all).slice(2)).toEqual(['k2', 'k0']);
      expect(keysOf(await c.listJournal('photos', { capturedAfter: at(1) }))).toEqual(['k2', 'k0']);
      expect(keysOf(await c.listJournal('photos', { capturedUntil: at(2) })).sort()).toEqual([
        'k1',
        'k2',
        'k3',
      ]);
      expect(keysOf(await c.listJournal('photos', { capturedAfter: at(1), capturedUntil: at(2) }))).toEqual([
        'k2',
      ]);
      expect(await c.listJournal('photos', { capturedAfter: at(3) })).toEqual([]);
      expect(await c.listJournal('photos', { capturedAfter: at(2), capturedUntil: at(1) })).toEqual([]);
      expect(await c.listJournal('nobody')).toEqual([]);
    });

    it("lists one key's entries by sequencer, as S3 compares them, whatever the arrival order", async () => {
      const c = await make();
      // S3: left-pad the shorter with zeros, then compare; arrival order does not count.
      for (const sequencer of [
        '00FF',
        '1',
        'a0',
        '0000000000000000000000000000000000000000000000000000000000000002',
      ]) {
        await c.appendJournal(journalEntry({ key: 'same', sequencer }));
      }
      await c.appendJournal(journalEntry({ key: 'other', sequencer: '0' }));
      expect((await c.listJournalForKey('photos', 'same')).map((e) => e.sequencer)).toEqual([
        '1',
        '0000000000000000000000000000000000000000000000000000000000000002',
        'a0',
        '00FF',
      ]);
      expect(await c.listJournalForKey('photos', 'nothing')).toEqual([]);
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

    it('lists a restore job’s done parts, and beats and re-drives it only while it is RUNNING', async () => {
      const c = await make();
      await c.createRestoreJob(restoreJob('R1'));
      expect(await c.listRestorePartsDone('R1')).toEqual([]);
      await c.completeRestorePart('R1', 1, counts(2), '2026-01-01T00:00:05.000Z');
      await c.completeRestorePart('R1', 0, counts(2), '2026-01-01T00:00:06.000Z');
      await c.completeRestorePart('R1', 1, counts(2), '2026-01-01T00:00:07.000Z');
      expect(await c.listRestorePartsDone('R1')).toEqual([0, 1]);
      expect(await c.listRestorePartsDone('R-missing')).toEqual([]);
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

    it('stores, lists and removes garbage-collection marks per vault bucket', async () => {
      const c = await make();
      const a = 'a'.repeat(64);
      const b = 'b'.repeat(64);
      expect(await c.listGcMarks('vault-use1')).toEqual([]);
      await c.putGcMarks('vault-use1', [
        { packId: b, markedAt: '2026-01-01T00:00:00.000Z' },
        { packId: a, markedAt: '2026-01-01T00:00:01.000Z' },
      ]);
      await c.putGcMarks('vault-euw1', [{ packId: a, markedAt: '2026-01-02T00:00:00.000Z' }]);
      // A second put of the same pack overwrites its mark.
      await c.putGcMarks('vault-use1', [{ packId: b, markedAt: '2026-01-03T00:00:00.000Z' }]);
      expect(await c.listGcMarks('vault-use1')).toEqual([
        { packId: a, markedAt: '2026-01-01T00:00:01.000Z' },
        { packId: b, markedAt: '2026-01-03T00:00:00.000Z' },
      ]);
      await c.deleteGcMarks('vault-use1', [a, 'c'.repeat(64)]); // a missing mark is no error
      expect(await c.listGcMarks('vault-use1')).toEqual([
        { packId: b, markedAt: '2026-01-03T00:00:00.000Z' },
      ]);
      expect(await c.listGcMarks('vault-euw1')).toEqual([
        { packId: a, markedAt: '2026-01-02T00:00:00.000Z' },
      ]);
      // More than one batch (DynamoDB writes 25 items per request).
      const many = Array.from({ length: 60 }, (_, i) => ({
        packId: i.toString(16).padStart(64, '0'),
        markedAt: '2026-01-04T00:00:00.000Z',
      }));
      await c.putGcMarks('vault-many', many);
      expect(await c.listGcMarks('vault-many')).toHaveLength(60);
      await c.deleteGcMarks(
        'vault-many',
        many.map((m) => m.packId),
      );
      expect(await c.listGcMarks('vault-many')).toEqual([]);
      expect(await c.listPlans()).toEqual([]); // marks are apart from plans
    });

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

    it('grants the garbage-collection lease of a vault to one owner at a time, until it ends', async () => {
      const c = await make();
      const t = (m: number) => `2026-01-01T00:${String(m).padStart(2, '0')}:00.000Z`;
      expect(await c.acquireGcLease('vault-use1', 'a', t(0), t(15))).toBe(true);
      expect(await c.acquireGcLease('vault-use1', 'b', t(1), t(16))).toBe(false);
      expect(await c.acquireGcLease('vault-euw1', 'b', t(1), t(16))).toBe(true); // another vault
      expect(await c.acquireGcLease('vault-use1', 'a', t(2), t(17))).toBe(true); // its holder renews
      await c.releaseGcLease('vault-use1', 'b'); // not the holder: nothing happens
      expect(await c.acquireGcLease('vault-use1', 'b', t(3), t(18))).toBe(false);
      expect(await c.acquireGcLease('vault-use1', 'b', t(18).replace(':00.000Z', ':01.000Z'), t(30))).toBe(
        true,
      ); // ended
      await c.releaseGcLease('vault-use1', 'b');
      expect(await c.acquireGcLease('vault-use1', 'c', t(19), t(34))).toBe(true);
      expect(await c.listGcMarks('vault-use1')).toEqual([]); // the lease is no mark
    });

    it('lets copies hold a vault together, and never at the same time as a garbage-collection run', async () => {
      const c = await make();
      const t = (m: number) => `2026-01-01T00:${String(m).padStart(2, '0')}:00.000Z`;
      // Copies' holds coexist; while one is held, no run takes the lease.
      expect(await c.acquireCopyHold('vault-euw1', 'copy-1', t(0), t(30))).toBe(true);
      expect(await c.acquireCopyHold('vault-euw1', 'copy-2', t(1), t(31))).toBe(true);
      expect(await c.acquireGcLease('vault-euw1', 'gc-1', t(2), t(32))).toBe(false);
      expect(await c.acquireGcLease('vault-use1', 'gc-1', t(2), t(32))).toBe(true); // another vault
      await c.releaseCopyHold('vault-euw1', 'copy-1');
      expect(await c.acquireGcLease('vault-euw1', 'gc-1', t(3), t(33))).toBe(false); // copy-2 still holds
      await c.releaseCopyHold('vault-euw1', 'copy-2');
      await c.releaseCopyHold('vault-euw1', 'copy-2'); // not held: nothing happens
      // Once no copy holds it, a run takes it; then no copy does, until the run gives it back.
      expect(await c.acquireGcLease('vault-euw1', 'gc-1', t(4), t(34))).toBe(true);
      expect(await c.acquireCopyHold('vault-euw1', 'copy-3', t(5), t(35))).toBe(false);
      await c.releaseGcLease('vault-euw1', 'gc-1');
      expect(await c.acquireCopyHold('vault-euw1', 'copy-3', t(6), t(36))).toBe(true);
      // A hold that ended (its copy died) no longer blocks a run; a run's lease that ended, no copy.
      expect(await c.acquireGcLease('vault-euw1', 'gc-2', t(37), t(50))).toBe(true);
      expect(await c.acquireCopyHold('vault-euw1', 'copy-4', t(51), t(59))).toBe(true);
      await c.releaseCopyHold('vault-euw1', 'copy-4');
      // Giving the lease back keeps the lease item usable: a run and a copy take turns again.
      expect(await c.acquireGcLease('vault-euw1', 'gc-3', t(52), t(58))).toBe(true);
      await c.releaseGcLease('vault-euw1', 'gc-3');
      expect(await c.acquireCopyHold('vault-euw1', 'copy-5', t(53), t(59))).toBe(true);
      expect(await c.listGcMarks('vault-euw1')).toEqual([]); // holds are no marks
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

    it('deletes a snapshot record', async () => {
      const c = await make();
      await c.createJob(job('S1'), snapshot('S1'));
      await c.deleteSnapshot('photos', 'S1');
      expect(await c.getSnapshot('photos', 'S1')).toBeUndefined();
    });

    // DynamoDB's 400 KB item limit: the three lists that outgrow it at run time are kept whole.
    const hex = (i: number) => i.toString(16).padStart(64, '0');
    const longKey = (i: number) => `${'deep/'.repeat(180)}${String(i).padStart(8, '0')}`; // ~908 bytes

    it('keeps a journal entry naming thousands of blobs (an object over 47 GiB), by time and by key', async () => {
      const c = await make();
      const huge = journalEntry({
        key: 'video/raw.mxf',
        sizeBytes: 60 * 1024 ** 3,
        blobs: Array.from({ length: 7_680 }, (_, i) => hex(i)),
        contentSha256: 'd'.repeat(64),
      });
      const small = journalEntry({ key: 'video/raw.mxf', sequencer: '0055AED6DCD90281E6' });
      expect(await c.appendJournal(huge)).toBe(true);
      expect(await c.appendJournal(small)).toBe(true);
      expect(await c.appendJournal(huge)).toBe(false);
      expect(await c.listJournalForKey('photos', huge.key)).toEqual([huge, small]);
      const byTime = await c.listJournal('photos');
      expect(byTime.sort((a, b) => a.sequencer.localeCompare(b.sequencer))).toEqual([huge, small]);
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

    it('refuses, for good, an item over 400 KB that has no long list to move out', async () => {
      const c = await make();
      const error = await c
        .putPlans([{ ...plan, id: 'huge', source: { bucket: 'src', prefix: 'p/'.repeat(210_000) } }])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(isRetryable(error)).toBe(false);
      expect(await c.getPlan('huge')).toBeUndefined();
    });
  });
}
