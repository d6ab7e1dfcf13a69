// What `strongbox forget`, `hold` and `release` print and do, on the memory catalog.
import { beforeEach, describe, expect, it } from 'vitest';
import type { PlanRecord, SnapshotRecord } from '#domain/records.ts';
import { forgetCommand, legalHoldCommand } from '#local/cli/retention.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryTaskQueue } from '../support/memory/task-queue.ts';

const planRecord: PlanRecord = {
  id: 'photos',
  source: { bucket: 'src', prefix: '' },
  schedule: 'rate(1 day)',
  retention: { keepLast: 1, minimumRetention: '2d', timeZone: 'Europe/Paris' },
  copyRegions: [],
  verification: { samplePercent: 5 },
  enabled: true,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

async function seed(catalog: MemoryCatalog, s: SnapshotRecord): Promise<void> {
  const at = '2026-01-01T00:00:00.000Z';
  await catalog.createJob(
    {
      jobId: `photos/${s.snapshotId}`,
      planId: 'photos',
      snapshotId: s.snapshotId,
      status: 'RUNNING',
      createdAt: at,
      updatedAt: at,
    },
    s,
  );
}

describe('strongbox forget / hold / release', () => {
  let catalog: MemoryCatalog;
  let queue: MemoryTaskQueue;
  let deps: { catalog: MemoryCatalog; queue: MemoryTaskQueue; clock: ManualClock };

  beforeEach(async () => {
    catalog = new MemoryCatalog();
    queue = new MemoryTaskQueue();
    deps = { catalog, queue, clock: new ManualClock('2026-03-10T12:00:00Z') };
    await catalog.putPlans([planRecord]);
    const snap = (
      id: string,
      time: string,
      status: SnapshotRecord['status'] = 'COMMITTED',
    ): SnapshotRecord => ({
      planId: 'photos',
      snapshotId: id,
      status,
      scheduledAt: time,
      ...(status === 'RUNNING' ? {} : { time }),
    });
    await seed(catalog, snap('20260301T000000Z', '2026-03-01T00:00:00Z'));
    await seed(catalog, snap('20260305T000000Z', '2026-03-05T00:00:00Z'));
    await seed(catalog, snap('20260309T230000Z', '2026-03-09T23:00:00Z'));
    await seed(catalog, snap('20260310T000000Z', '2026-03-10T00:00:00Z'));
    await seed(catalog, snap('20260310T110000Z', '2026-03-10T11:00:00Z', 'FAILED'));
  });

  it('prints every snapshot with its time in the plan zone, status, decision and reasons, and changes nothing on --dry-run', async () => {
    // Prepare
    await legalHoldCommand(deps, 'photos', '20260301T000000Z', { reason: 'case 17' });

    // Act
    const lines = await forgetCommand(deps, 'photos', { dryRun: true });

    // Assess
    expect(lines.join('\n')).toBe(
      [
        'snapshot          time (Europe/Paris)        status     decision  reasons',
        '----------------  -------------------------  ---------  --------  --------------------------------',
        '20260310T110000Z  2026-03-10 12:00:00+01:00  FAILED     keep      failed',
        '20260310T000000Z  2026-03-10 01:00:00+01:00  COMMITTED  keep      minimum retention, last snapshot',
        '20260309T230000Z  2026-03-10 00:00:00+01:00  COMMITTED  keep      minimum retention',
        '20260305T000000Z  2026-03-05 01:00:00+01:00  COMMITTED  remove    -',
        '20260301T000000Z  2026-03-01 01:00:00+01:00  COMMITTED  keep      legal hold',
        'dry run: would keep 3 and forget 1 committed snapshot(s) (20260305T000000Z); nothing was changed',
      ].join('\n'),
    );
    expect(queue.sent).toEqual([]);
    expect((await catalog.listSnapshots('photos')).map((s) => s.status)).not.toContain('FORGOTTEN');
  });

  it('enqueues a prune task named after the newest committed snapshot without --dry-run', async () => {
    // Act
    const lines = await forgetCommand(deps, 'photos', { dryRun: false });

    // Assess
    expect(queue.sent).toEqual([
      { kind: 'forget', planId: 'photos', snapshotId: '20260310T000000Z', force: true },
    ]);
    expect(lines).toEqual([
      "enqueued: prune of plan photos (task of snapshot 20260310T000000Z); it would forget 2 snapshot(s) now: 20260305T000000Z, 20260301T000000Z, then collect garbage (see 'strongbox status photos')",
    ]);
  });

  it('places and releases a legal hold, and refuses an unknown snapshot or plan', async () => {
    // Act
    const held = await legalHoldCommand(deps, 'photos', '20260305T000000Z', { reason: 'audit' });
    const whileHeld = await forgetCommand(deps, 'photos', { dryRun: true });
    const released = await legalHoldCommand(deps, 'photos', '20260305T000000Z', undefined);

    // Assess
    expect(held).toBe(
      'held: snapshot 20260305T000000Z of plan photos is under legal hold since 2026-03-10T12:00:00.000Z (audit); retention will not forget it',
    );
    expect(whileHeld.join('\n')).toMatch(/20260305T000000Z .* keep {6}legal hold/);
    expect(released).toBe(
      'released: snapshot 20260305T000000Z of plan photos has no legal hold; retention applies again',
    );
    expect((await catalog.getSnapshot('photos', '20260305T000000Z'))?.legalHold).toBeUndefined();
    await expect(legalHoldCommand(deps, 'photos', 'nope', {})).rejects.toThrow(
      /does not exist or is forgotten/,
    );
    await expect(forgetCommand(deps, 'nope', { dryRun: true })).rejects.toThrow(/plan 'nope' does not exist/);
  });
});
