// decideRetention: retention's rules plus legal holds, minimum retention and the snapshots in use;
// legal holds on the memory catalog; tags at backup time.
import { describe, expect, it } from 'vitest';
import { decideRetention, type ForgetPolicy } from '#domain/forget.ts';
import type { PlanRecord, SnapshotRecord } from '#domain/records.ts';
import { RetentionPolicyError } from '#domain/retention/policy.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryTaskQueue } from '../support/memory/task-queue.ts';

const NOW = new Date('2026-03-10T12:00:00Z');

function committed(snapshotId: string, time: string, extra: Partial<SnapshotRecord> = {}): SnapshotRecord {
  return { planId: 'photos', snapshotId, status: 'COMMITTED', scheduledAt: time, time, ...extra };
}

const plan = (retention: ForgetPolicy) => ({ retention });

function rows(result: ReturnType<typeof decideRetention>): [string, boolean, string[]][] {
  return result.decisions.map((d) => [d.snapshotId, d.keep, d.reasons]);
}

describe('decideRetention', () => {
  it('keeps a committed snapshot younger than minimumRetention whatever the rules say', () => {
    // Prepare: keepLast 1 would keep only s4; s3 and s2 are younger than 7 days.
    const snapshots = [
      committed('s1', '2026-02-01T00:00:00Z'),
      committed('s2', '2026-03-03T12:00:01Z'),
      committed('s3', '2026-03-05T00:00:00Z'),
      committed('s4', '2026-03-09T00:00:00Z'),
      committed('s0', '2026-03-03T12:00:00Z'), // exactly 7 days old: not younger
    ];

    // Act
    const result = decideRetention(snapshots, plan({ keepLast: 1, minimumRetention: '7d' }), NOW);

    // Assess
    expect(rows(result)).toEqual([
      ['s4', true, ['minimum retention', 'last snapshot']],
      ['s3', true, ['minimum retention']],
      ['s2', true, ['minimum retention']],
      ['s0', false, []],
      ['s1', false, []],
    ]);
    expect(result.remove.map((d) => d.snapshotId)).toEqual(['s0', 's1']);
  });

  it('never forgets a snapshot under legal hold, which still counts for the rules', () => {
    // Prepare
    const snapshots = [
      committed('s1', '2025-01-01T00:00:00Z', {
        legalHold: { since: '2026-01-01T00:00:00Z', reason: 'case 17' },
      }),
      committed('s2', '2025-06-01T00:00:00Z'),
      committed('s3', '2026-03-01T00:00:00Z', { legalHold: { since: '2026-03-02T00:00:00Z' } }),
    ];

    // Act: keepLast 1 keeps the held s3; s2 goes.
    const result = decideRetention(snapshots, plan({ keepLast: 1 }), NOW);

    // Assess
    expect(rows(result)).toEqual([
      ['s3', true, ['legal hold', 'last snapshot']],
      ['s2', false, []],
      ['s1', true, ['legal hold']],
    ]);
  });

  it('never lets a RUNNING or FAILED snapshot take a place from a committed one', () => {
    // Prepare: the newest snapshots are running and failed; keepLast 1 and keepDaily 1 must still keep c2.
    const snapshots = [
      committed('c1', '2026-03-08T00:00:00Z'),
      committed('c2', '2026-03-09T00:00:00Z'),
      {
        planId: 'photos',
        snapshotId: 'f3',
        status: 'FAILED',
        scheduledAt: '2026-03-09T12:00:00Z',
        time: '2026-03-09T12:00:00Z',
      },
      { planId: 'photos', snapshotId: 'r4', status: 'RUNNING', scheduledAt: '2026-03-10T11:00:00Z' },
      {
        planId: 'photos',
        snapshotId: 'g0',
        status: 'FORGOTTEN',
        scheduledAt: '2026-03-01T00:00:00Z',
        time: '2026-03-01T00:00:00Z',
      },
    ] satisfies SnapshotRecord[];

    // Act
    const result = decideRetention(snapshots, plan({ keepLast: 1, keepDaily: 1 }), NOW);

    // Assess: c2 is r4's parent (protected, not a candidate), so the rules pick c1 among the candidates.
    expect(rows(result)).toEqual([
      ['c2', true, ['parent of a running snapshot']],
      ['c1', true, ['last snapshot', 'daily snapshot']],
    ]);
    expect(result.others.map((d) => [d.snapshotId, d.status, d.keep, d.reasons])).toEqual([
      ['r4', 'RUNNING', true, ['running']],
      ['f3', 'FAILED', true, ['failed']],
      ['g0', 'FORGOTTEN', false, ['forgotten']],
    ]);
  });

  it('protects the parent a RUNNING snapshot recorded, though a snapshot with a smaller id committed since', () => {
    // Prepare: the snapshot scheduled at 01:00:00 was planned on the one of 00:00:00; one asked for
    // in its second (01:00:00.500) sorts before it ('.' < 'Z') and committed while it runs.
    const snapshots = [
      committed('20260310T000000Z', '2026-03-10T00:00:01Z'),
      committed('20260310T010000.500Z', '2026-03-10T01:00:01Z'),
      {
        planId: 'photos',
        snapshotId: '20260310T010000Z',
        status: 'RUNNING',
        scheduledAt: '2026-03-10T01:00:00.000Z',
        time: '2026-03-10T01:00:00.100Z',
        parentSnapshotId: '20260310T000000Z',
      },
    ] satisfies SnapshotRecord[];

    // Act
    const result = decideRetention(snapshots, plan({ keepLast: 1 }), NOW);

    // Assess: the running snapshot reads its recorded parent's manifest: that parent stays.
    expect(rows(result)).toEqual([
      ['20260310T010000.500Z', true, ['last snapshot']],
      ['20260310T000000Z', true, ['parent of a running snapshot']],
    ]);
  });

  it('keeps a snapshot that failed verification without letting it take a bucket', () => {
    // Prepare
    const snapshots = [
      committed('c1', '2026-03-08T00:00:00Z'),
      committed('c2', '2026-03-09T00:00:00Z', {
        verification: { status: 'FAILED' } as SnapshotRecord['verification'],
      }),
    ];

    // Act
    const result = decideRetention(snapshots, plan({ keepLast: 1 }), NOW);

    // Assess
    expect(rows(result)).toEqual([
      ['c2', true, ['failed verification']],
      ['c1', true, ['last snapshot']],
    ]);
  });

  it('applies tags and the time zone of the plan', () => {
    // Prepare: 23:30Z on Mar 7 and Mar 8 are 00:30 the next day in Paris.
    const snapshots = [
      committed('a', '2026-03-07T12:00:00Z', { tags: ['release'] }),
      committed('b', '2026-03-07T23:30:00Z'),
      committed('c', '2026-03-08T12:00:00Z'),
    ];

    // Act
    const result = decideRetention(
      snapshots,
      plan({ keepDaily: 1, keepTag: ['release'], timeZone: 'Europe/Paris' }),
      NOW,
    );

    // Assess: in Paris, b and c share Mar 8.
    expect(rows(result)).toEqual([
      ['c', true, ['daily snapshot']],
      ['b', false, []],
      ['a', true, ['has tags [release]']],
    ]);
  });

  it('rejects an invalid minimumRetention naming the field', () => {
    // Act
    let error: unknown;
    try {
      decideRetention([], plan({ keepLast: 1, minimumRetention: '1w' }), NOW);
    } catch (e) {
      error = e;
    }

    // Assess
    expect(error).toBeInstanceOf(RetentionPolicyError);
    expect((error as RetentionPolicyError).field).toBe('minimumRetention');
  });
});

describe('legal hold on the memory catalog', () => {
  const job = (snapshotId: string) => ({
    jobId: `photos/${snapshotId}`,
    planId: 'photos',
    snapshotId,
    status: 'RUNNING' as const,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  });

  it('holds, refuses to forget a held snapshot, releases, then forgets', async () => {
    // Prepare
    const catalog = new MemoryCatalog();
    await catalog.createJob(job('S1'), committed('S1', '2026-01-01T00:00:00Z'));

    // Act
    const held = await catalog.setLegalHold('photos', 'S1', {
      since: '2026-03-01T00:00:00.000Z',
      reason: 'case 17',
    });
    const forgetWhileHeld = await catalog.updateSnapshot('photos', 'S1', { status: 'FORGOTTEN' }, [
      'COMMITTED',
    ]);
    const heldRecord = await catalog.getSnapshot('photos', 'S1');
    const released = await catalog.setLegalHold('photos', 'S1', undefined);
    const releasedRecord = await catalog.getSnapshot('photos', 'S1');
    const forget = await catalog.updateSnapshot('photos', 'S1', { status: 'FORGOTTEN' }, ['COMMITTED']);

    // Assess
    expect([held, forgetWhileHeld, released, forget]).toEqual([true, false, true, true]);
    expect(heldRecord?.legalHold).toEqual({ since: '2026-03-01T00:00:00.000Z', reason: 'case 17' });
    expect(releasedRecord).not.toHaveProperty('legalHold');
    expect(await catalog.setLegalHold('photos', 'S1', { since: '2026-03-02T00:00:00.000Z' })).toBe(false);
    expect(await catalog.setLegalHold('photos', 'missing', { since: '2026-03-02T00:00:00.000Z' })).toBe(
      false,
    );
  });
});

describe('startSnapshotNow with tags', () => {
  const planRecord: PlanRecord = {
    id: 'photos',
    source: { bucket: 'src', prefix: '' },
    schedule: 'rate(1 hour)',
    retention: { keepLast: 1, keepTag: ['release'] },
    copyRegions: [],
    verification: { samplePercent: 5 },
    enabled: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };

  it('records the tags (deduplicated) on the new snapshot', async () => {
    // Prepare
    const catalog = new MemoryCatalog();
    await catalog.putPlans([planRecord]);
    const deps = {
      catalog,
      queue: new MemoryTaskQueue(),
      clock: new ManualClock('2026-03-10T12:00:00.400Z'),
    };

    // Act
    const job = await startSnapshotNow(deps, 'photos', { tags: ['release', 'before-migration', 'release'] });

    // Assess
    expect((await catalog.getSnapshot('photos', job.snapshotId))?.tags).toEqual([
      'release',
      'before-migration',
    ]);
  });

  it('rejects an invalid tag before creating anything', async () => {
    // Prepare
    const catalog = new MemoryCatalog();
    await catalog.putPlans([planRecord]);
    const deps = { catalog, queue: new MemoryTaskQueue(), clock: new ManualClock() };

    // Act / Assess
    await expect(startSnapshotNow(deps, 'photos', { tags: ['ok', 'a,b'] })).rejects.toMatchObject({
      field: 'tags[1]',
      retryable: false,
    });
    expect(await catalog.listSnapshots('photos')).toEqual([]);
  });
});
