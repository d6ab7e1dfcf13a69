import { describe, expect, it } from 'vitest';
import type { JournalEntry, SnapshotRecord } from '#domain/records.ts';
import { recoveryPoint } from '#domain/rpo.ts';
import { recoveryLines } from '#local/cli/format/status.ts';
import { plan } from '../support/memory-pipeline.ts';

const snapshot = (snapshotId: string, time: string, extra: Partial<SnapshotRecord> = {}): SnapshotRecord => ({
  planId: 'photos',
  snapshotId,
  status: 'COMMITTED',
  scheduledAt: time,
  time,
  ...extra,
});

describe('the recovery point of a plan', () => {
  const now = new Date('2026-03-01T12:00:00Z');

  it('is the newest committed snapshot’s age, measured against the plan’s RPO', () => {
    const snapshots = [
      snapshot('a', '2026-03-01T10:00:00.000Z'),
      snapshot('b', '2026-03-01T11:30:00.000Z'),
      snapshot('c', '2026-03-01T11:55:00.000Z', { status: 'RUNNING' }),
    ];
    expect(recoveryPoint(plan({ rpoMinutes: 60 }), snapshots, now)).toEqual({
      planId: 'photos',
      ageMinutes: 30,
      newestSnapshotTime: '2026-03-01T11:30:00.000Z',
      rpoMinutes: 60,
      exceeded: false,
    });
    expect(recoveryPoint(plan({ rpoMinutes: 15 }), snapshots, now).exceeded).toBe(true);
    expect(recoveryPoint(plan(), snapshots, now).exceeded).toBe(false); // no RPO, no breach
  });

  it('counts from the plan’s creation while it has no committed snapshot', () => {
    const point = recoveryPoint(plan({ rpoMinutes: 60, createdAt: '2026-03-01T09:00:00.000Z' }), [], now);
    expect(point).toMatchObject({ ageMinutes: 180, exceeded: true });
    expect(point.newestSnapshotTime).toBeUndefined();
  });

  it('shows the RPO, the last reconcile and the capture lag in status', () => {
    const journal = [
      { eventTime: '2026-03-01T11:59:00.000Z', capturedAt: '2026-03-01T11:59:02.500Z', outcome: 'captured' },
      {
        eventTime: '2026-03-01T11:59:30.000Z',
        capturedAt: '2026-03-01T11:59:31.000Z',
        outcome: 'lost-before-capture',
      },
    ] as JournalEntry[];
    const lines = recoveryLines(
      plan({ rpoMinutes: 15 }),
      [snapshot('r', '2026-03-01T11:00:00.000Z', { mode: 'reconcile', reconcileMissed: 2 })],
      journal,
      now,
    );
    expect(lines[0]).toMatch(/newest snapshot .* old — RPO 15 min EXCEEDED$/);
    expect(lines[1]).toBe('  reconcile r: 2 change(s) the journal had missed (repaired)');
    expect(lines[2]).toBe('  capture (last hour): 2 change(s), lag max 2.5 s, 1 lost before capture');
  });
});
