// What `strongbox restore` shows: a progress bar on stderr while it runs (in-process, or following a
// restore job), and a final report.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RestoreJobRecord } from '#domain/records.ts';
import { reportOfRestoreJob } from '#domain/restore/jobs.ts';
import type { RestoreReport } from '#domain/restore/report.ts';
import { followRestoreJob, restoreProgress } from '#local/cli/format/progress.ts';
import { formatRestoreReport, formatVersions } from '#local/cli/format/restore.ts';

const report: RestoreReport = {
  planId: 'photos',
  snapshotId: '20261121T234500Z',
  region: 'us-east-1',
  targetBucket: 'photos',
  targetPrefix: '',
  overwrite: 'ifChanged',
  dryRun: false,
  selected: 25,
  objects: 2,
  bytes: 2048,
  skipped: { exists: 0, unchanged: 23 },
  skippedObjects: Array.from({ length: 23 }, (_, i) => ({ key: `k${i}`, reason: 'unchanged' as const })),
  seconds: 2,
  warnings: ["include glob '*.jpg' matches no object of snapshot 20261121T234500Z"],
};

describe('formatRestoreReport', () => {
  it('states what was written, what was skipped and why, and every warning', () => {
    // Act
    const text = formatRestoreReport(report);
    // Assess
    const lines = text.split('\n');
    expect(lines[0]).toBe(
      'restored 2 object(s), 2.0 KiB from snapshot 20261121T234500Z (us-east-1) into s3://photos/ in 2.0 s (1 obj/s)',
    );
    expect(lines[1]).toBe(
      'skipped 0 object(s) the target already holds (overwrite: never) and 23 unchanged one(s) (overwrite: ifChanged)',
    );
    expect(lines).toContain('  skipped k0: unchanged');
    expect(lines).toContain('  … and 3 more (the report lists the first 1000)');
    expect(lines.at(-1)).toBe("warning: include glob '*.jpg' matches no object of snapshot 20261121T234500Z");
  });

  it('speaks of a dry run in the conditional', () => {
    const text = formatRestoreReport({
      ...report,
      dryRun: true,
      skipped: { exists: 0, unchanged: 0 },
      warnings: [],
    });
    expect(text).toBe(
      'would restore 2 object(s), 2.0 KiB from snapshot 20261121T234500Z (us-east-1) into s3://photos/ in 2.0 s',
    );
  });
});

describe('restoreProgress', () => {
  it('draws objects, bytes and ETA on the stream it is given, phase by phase', async () => {
    // Prepare
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    let out = '';
    (stream as unknown as PassThrough).on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const progress = restoreProgress(stream);
    // Act
    progress.options.onProgress?.({ phase: 'check', objects: 1, bytes: 0, total: 2, totalBytes: 0 });
    progress.options.onProgress?.({ phase: 'write', objects: 2, bytes: 2048, total: 2, totalBytes: 2048 });
    progress.options.onArchive?.({ pending: 1, total: 3, tier: 'Bulk' });
    progress.stop();
    await new Promise((resolve) => setImmediate(resolve));
    // Assess
    expect(out).toContain('checking target');
    expect(out).toMatch(/restoring .* 100% \| 2\/2 objects \| 2\.0 KiB of 2\.0 KiB/);
    expect(out).toContain('ETA');
    expect(out).toContain('archive: 1 of 3 archived pack(s) still being restored (tier Bulk)');
  });
});

describe('followRestoreJob', () => {
  const running: RestoreJobRecord = {
    restoreJobId: 'restore-20261122T010203Z-1a2b3c4d',
    status: 'RUNNING',
    planId: 'photos',
    snapshotId: '20261121T234500Z',
    manifestId: 'm1',
    region: 'us-east-1',
    targetBucket: 'photos-restored',
    request: { plan: 'photos', targetPrefix: '', overwrite: 'never' },
    selected: 4,
    selectedBytes: 4096,
    objects: 0,
    bytes: 0,
    skippedExists: 0,
    skippedUnchanged: 0,
    slicesTotal: 2,
    slicesDone: 0,
    sliceSize: 2,
    warnings: [],
    createdAt: '2026-11-22T01:02:03.000Z',
    updatedAt: '2026-11-22T01:02:03.000Z',
  };

  it('follows a running job, drawing objects, bytes and slices, until it ends', async () => {
    // Prepare: the job as three successive reads see it
    const reads: RestoreJobRecord[] = [
      running,
      { ...running, slicesDone: 1, objects: 1, skippedExists: 1, bytes: 1024 },
      {
        ...running,
        status: 'SUCCEEDED',
        slicesDone: 2,
        objects: 3,
        skippedExists: 1,
        bytes: 3072,
        finishedAt: '2026-11-22T01:02:13.000Z',
      },
    ];
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    let out = '';
    (stream as unknown as PassThrough).on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const sleeps: number[] = [];
    // Act
    const job = await followRestoreJob({ getRestoreJob: async () => reads.shift() }, running.restoreJobId, {
      stream,
      pollMs: 250,
      sleep: async (ms) => void sleeps.push(ms),
    });
    await new Promise((resolve) => setImmediate(resolve));
    // Assess
    expect(job.status).toBe('SUCCEEDED');
    expect(sleeps).toEqual([250, 250]);
    expect(out).toMatch(/restoring .* 100% \| 4\/4 objects \| 3\.0 KiB of 4\.0 KiB .* slices 2\/2/);
    expect(formatRestoreReport(reportOfRestoreJob(job)).split('\n').slice(0, 2)).toEqual([
      'restored 3 object(s), 3.0 KiB from snapshot 20261121T234500Z (us-east-1) into s3://photos-restored/ in 10.0 s (0 obj/s)',
      'skipped 1 object(s) the target already holds (overwrite: never) and 0 unchanged one(s) (overwrite: ifChanged)',
    ]);
  });

  it('returns at once with --no-follow, and refuses an unknown job', async () => {
    const catalog = {
      getRestoreJob: async (id: string) => (id === running.restoreJobId ? running : undefined),
    };
    expect(await followRestoreJob(catalog, running.restoreJobId, { follow: false })).toEqual(running);
    await expect(followRestoreJob(catalog, 'restore-nope')).rejects.toThrow(
      "no restore job 'restore-nope' ('strongbox restore-status' lists the recent ones)",
    );
  });
});

describe('point in time', () => {
  it('names the time restored and the journaled versions in the report', () => {
    const text = formatRestoreReport({
      ...report,
      pointInTime: '2026-11-22T00:10:00Z',
      fromJournal: 3,
      skipped: { exists: 0, unchanged: 0 },
      warnings: [],
    });
    expect(text).toBe(
      'restored 2 object(s), 2.0 KiB from 2026-11-22T00:10:00Z (snapshot 20261121T234500Z + 3 journaled version(s), us-east-1) into s3://photos/ in 2.0 s (1 obj/s)',
    );
  });

  it('lists the versions of a key from snapshots and the journal, with how to restore each', () => {
    const lines = formatVersions([
      {
        source: 'journal',
        time: '2026-11-22T00:10:00.000Z',
        sequencer: '0055AED6DCD90281E5',
        capturedAt: '2026-11-22T00:10:01.000Z',
        event: 'created',
        outcome: 'captured',
        sizeBytes: 2048,
        etag: 'abc',
        pointInTime: '2026-11-22T00:10:00.000Z',
      },
      {
        source: 'journal',
        time: '2026-11-22T00:05:00.000Z',
        sequencer: '0055AED6DCD90281E4',
        capturedAt: '2026-11-22T00:05:01.000Z',
        event: 'created',
        outcome: 'lost-before-capture',
        reason: 'overwritten before it was read',
      },
      {
        source: 'snapshot',
        snapshotId: '20261121T234500Z',
        time: '2026-11-21T23:45:02.000Z',
        firstSnapshotId: '20261121T224500Z',
        firstTime: '2026-11-21T22:45:02.000Z',
        sizeBytes: 1024,
        etag: 'def',
        lastModified: '2026-11-20T08:00:00.000Z',
      },
    ]).split('\n');
    expect(lines[0]).toMatch(/^version\s+time\s+size\s+etag\s+outcome\s+restore with/);
    const rows = lines.filter((l) => /^(journal|snapshot)/.test(l));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(
      /journal 0055AED6DCD90281E5 .*2\.0 KiB .*captured .*--point-in-time 2026-11-22T00:10:00.000Z$/,
    );
    expect(rows[1]).toMatch(/lost before capture: overwritten before it was read\s*$/);
    expect(rows[2]).toMatch(/^snapshots 20261121T224500Z…20261121T234500Z .*--snapshot 20261121T234500Z$/);
  });
});
