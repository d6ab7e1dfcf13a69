// Journal expiry: retention's forget deletes the journal entries no reader will ask for again
// (issue 14: "journal entries never expire").
import { describe, expect, it } from 'vitest';
import { JOURNAL_MIN_AGE_MS, journalExpiryCutoff } from '#domain/journal-expiry.ts';
import { prunePlan } from '#domain/prune.ts';
import type { JournalEntry, SnapshotRecord } from '#domain/records.ts';
import { memoryPipeline, plan } from '../support/memory-pipeline.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-06-30T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const daysAgo = (d: number) => iso(NOW.getTime() - d * DAY);

function snapshot(snapshotId: string, time: string, extra: Partial<SnapshotRecord> = {}): SnapshotRecord {
  return { planId: 'photos', snapshotId, status: 'COMMITTED', scheduledAt: time, time, ...extra };
}

function entry(n: number, capturedAt: string): JournalEntry {
  return {
    planId: 'photos',
    bucket: 'source',
    key: `k/${n}`,
    event: 'created',
    eventTime: capturedAt,
    sequencer: `0${n}`,
    capturedAt,
    outcome: 'captured',
    sizeBytes: 1,
    etag: 'e',
    blobs: ['0'.repeat(64)],
  };
}

describe('journalExpiryCutoff', () => {
  it('is an hour before the oldest time a snapshot is read from, and never within 15 days', () => {
    const oldest = snapshot('s1', daysAgo(40), { journalUntil: daysAgo(40.5) });
    const cutoff = journalExpiryCutoff([oldest, snapshot('s2', daysAgo(20))], NOW);
    expect(cutoff).toBe(iso(Date.parse(daysAgo(40.5)) - 60 * 60_000));
    // A young oldest snapshot: the 15-day floor decides.
    expect(journalExpiryCutoff([snapshot('s3', daysAgo(1))], NOW)).toBe(
      iso(NOW.getTime() - JOURNAL_MIN_AGE_MS),
    );
  });

  it("keeps what an unfinished snapshot's parent and the snapshot itself read, and nothing goes without a committed snapshot", () => {
    const forgotten = snapshot('s0', daysAgo(90), { status: 'FORGOTTEN' });
    const kept = snapshot('s1', daysAgo(40));
    const failed = snapshot('s2', daysAgo(30), { status: 'FAILED', parentSnapshotId: 's0' });
    expect(journalExpiryCutoff([forgotten, kept, failed], NOW)).toBe(
      iso(Date.parse(daysAgo(90)) - 60 * 60_000),
    );
    // Abandoned: it is never retried, so its parent no longer counts.
    const abandoned = { ...failed, abandonedAt: daysAgo(1) };
    expect(journalExpiryCutoff([forgotten, kept, abandoned], NOW)).toBe(
      iso(Date.parse(daysAgo(40)) - 60 * 60_000),
    );
    // A running point-in-time restore job of the forgotten snapshot replays the journal from it.
    const job = {
      restoreJobId: 'restore-1',
      status: 'RUNNING' as const,
      planId: 'photos',
      snapshotId: 's0',
      snapshotTime: daysAgo(90),
      journalUntil: daysAgo(1),
      manifestId: 'm',
      region: 'us-east-1',
      targetBucket: 't',
      request: {},
      slicesTotal: 1,
      slicesDone: 0,
      sliceSize: 500,
      objects: 0,
      bytes: 0,
      selected: 0,
      selectedBytes: 0,
      skippedExists: 0,
      skippedUnchanged: 0,
      warnings: [],
      createdAt: daysAgo(1),
      updatedAt: daysAgo(1),
    };
    expect(journalExpiryCutoff([forgotten, kept, abandoned], NOW, [job])).toBe(
      iso(Date.parse(daysAgo(90)) - 60 * 60_000),
    );
    expect(journalExpiryCutoff([forgotten, kept, abandoned], NOW, [{ ...job, status: 'SUCCEEDED' }])).toBe(
      iso(Date.parse(daysAgo(40)) - 60 * 60_000),
    );
    // A retryable snapshot whose parent the catalog lost: nothing may go.
    expect(journalExpiryCutoff([kept, failed], NOW)).toBeUndefined();
    expect(journalExpiryCutoff([forgotten], NOW)).toBeUndefined();
    expect(journalExpiryCutoff([], NOW)).toBeUndefined();
  });
});

describe('forget expires the journal', () => {
  it('deletes the entries captured before the cutoff and keeps every later one', async () => {
    // Prepare: three snapshots 60, 40 and 20 days old; keepLast 2 forgets the oldest
    const p = memoryPipeline(NOW.toISOString());
    await p.catalog.putPlans([plan({ retention: { keepLast: 2 } })]);
    for (const s of [snapshot('s1', daysAgo(60)), snapshot('s2', daysAgo(40)), snapshot('s3', daysAgo(20))]) {
      await p.catalog.createJob(
        {
          jobId: `photos/${s.snapshotId}`,
          planId: 'photos',
          snapshotId: s.snapshotId,
          status: 'SUCCEEDED',
          createdAt: s.scheduledAt,
          updatedAt: s.scheduledAt,
        },
        s,
      );
    }
    const ages = [70, 50, 40.05, 40.03, 39.99, 30, 10, 0.5]; // 40.05 days: 72 min before s2; 40.03: 43 min
    for (const [n, age] of ages.entries()) await p.catalog.appendJournal(entry(n, daysAgo(age)));

    // Act
    const result = await prunePlan(p.deps, { kind: 'forget', planId: 'photos', snapshotId: 's3' });

    // Assess: s1 forgotten; everything captured more than an hour before s2 (the oldest kept) is gone
    expect(result.forgotten).toEqual(['s1']);
    const left = (await p.catalog.listJournal('photos')).map((e) => e.key);
    expect(left).toEqual(['k/3', 'k/4', 'k/5', 'k/6', 'k/7']);
    const task = (await p.catalog.listTasks('photos/s3')).find((t) => t.taskId === 'prune');
    expect(task?.result?.journalExpired).toBe(3);
  });
});
