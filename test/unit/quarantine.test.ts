// Quarantine on the memory twins: the clean snapshot held, forget, journal expiry and garbage
// collection paused until release, and the clean points of an attack (per prefix, the moment before
// its first change) from which a point-in-time restore gives back the bytes from before it.
import { beforeEach, describe, expect, it } from 'vitest';
import { captureChange, S3EventRecordSchema } from '#domain/capture.ts';
import { NotFoundError, ValidationError } from '#domain/errors.ts';
import { prunePlan } from '#domain/prune.ts';
import { cleanPoints, quarantinePlan } from '#domain/quarantine.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

let p: MemoryPipeline;
let sequence = 0;
const snapshots: string[] = [];

async function snapshotNow(): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  snapshots.push(snapshotId);
  return snapshotId;
}

/** Write `text` to `key` at the clock's time and capture it a second later (S3's event, journaled). */
async function upload(key: string, text: string): Promise<void> {
  await putText(p, key, text);
  const o = p.objects.buckets.get('source')?.get(key);
  sequence += 1;
  const record = S3EventRecordSchema.parse({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: p.clock.now().toISOString(),
    eventName: 'ObjectCreated:Put',
    s3: {
      bucket: { name: 'source' },
      object: {
        key: encodeURIComponent(key),
        size: o?.sizeBytes ?? 0,
        eTag: o?.etag ?? '',
        sequencer: sequence.toString(16).toUpperCase().padStart(18, '0'),
      },
    },
  });
  p.clock.advance(1000);
  await captureChange(p.deps, record);
}

const text = async (bucket: string, key: string) =>
  Buffer.from((await p.objects.get(bucket, key)).body).toString();

beforeEach(async () => {
  p = memoryPipeline('2026-12-06T00:00:00Z');
  snapshots.length = 0;
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  for (const key of ['docs/a.txt', 'docs/b.txt', 'photos/cat.jpg']) await putText(p, key, `clean ${key}`);
  await snapshotNow(); // 00:00
  p.clock.set('2026-12-06T01:00:00Z');
  await snapshotNow(); // 01:00, the last clean one
  p.objects.createBucket('restored');
});

/** The attack: photos/ re-encrypted from 02:00, docs/ from 02:30, with a snapshot between. */
async function attack(): Promise<void> {
  p.clock.set('2026-12-06T02:00:00Z');
  await upload('photos/cat.jpg', 'ENCRYPTED photos');
  p.clock.set('2026-12-06T02:15:00Z');
  await snapshotNow();
  p.clock.set('2026-12-06T02:30:00Z');
  await upload('docs/a.txt', 'ENCRYPTED a');
  await upload('docs/b.txt', 'ENCRYPTED b');
  p.clock.set('2026-12-06T03:00:00Z');
}

describe('quarantinePlan', () => {
  it('holds the newest snapshot before the attack began and records why, once', async () => {
    await attack();
    const first = await quarantinePlan(p.deps, 'photos', {
      since: '2026-12-06T02:00:00Z',
      reason: 'GuardDuty finding 42',
      by: 'operator',
    });
    expect(first).toMatchObject({ created: true, holdPlaced: true });
    expect(first.quarantine).toEqual({
      planId: 'photos',
      since: '2026-12-06T02:00:00.000Z',
      at: '2026-12-06T03:00:00.000Z',
      reason: 'GuardDuty finding 42',
      by: 'operator',
      heldSnapshotId: snapshots[1],
    });
    expect((await p.catalog.getSnapshot('photos', snapshots[1] as string))?.legalHold?.reason).toBe(
      'quarantine: GuardDuty finding 42',
    );
    const again = await quarantinePlan(p.deps, 'photos', { reason: 'detector', by: 'detector' });
    expect(again).toMatchObject({ created: false, quarantine: first.quarantine });
  });

  it('never records as held a snapshot a forget running meanwhile forgot before the hold', async () => {
    await attack();
    // The forget's write lands between quarantinePlan's listing and its hold.
    const setLegalHold = p.catalog.setLegalHold.bind(p.catalog);
    let raced = false;
    p.catalog.setLegalHold = async (planId, snapshotId, hold) => {
      if (!raced) {
        raced = true;
        await p.catalog.updateSnapshot(planId, snapshotId, { status: 'FORGOTTEN' }, ['COMMITTED']);
      }
      return setLegalHold(planId, snapshotId, hold);
    };
    const { quarantine, holdPlaced } = await quarantinePlan(p.deps, 'photos', {
      since: '2026-12-06T02:00:00Z',
      reason: 'GuardDuty finding 42',
      by: 'operator',
    });
    expect(raced).toBe(true);
    // snapshots[1] was forgotten: the one before it is the newest committed before the attack now.
    expect({ held: quarantine.heldSnapshotId, holdPlaced }).toEqual({ held: snapshots[0], holdPlaced: true });
    const held = await p.catalog.getSnapshot('photos', snapshots[0] as string);
    expect({ status: held?.status, hold: Boolean(held?.legalHold) }).toEqual({
      status: 'COMMITTED',
      hold: true,
    });
  });

  it('refuses an unknown plan and a start in the future', async () => {
    await expect(quarantinePlan(p.deps, 'nope', { reason: 'x', by: 'operator' })).rejects.toThrow(
      NotFoundError,
    );
    await expect(
      quarantinePlan(p.deps, 'photos', { since: '2027-01-01T00:00:00Z', reason: 'x', by: 'operator' }),
    ).rejects.toThrow(ValidationError);
  });
});

describe('a plan in quarantine', () => {
  it('forgets nothing, expires no journal entry and collects no garbage until it is released', async () => {
    // Prepare: four snapshots, the attack journaled, then retention cut to keepLast 1
    await attack();
    await snapshotNow();
    await quarantinePlan(p.deps, 'photos', { since: '2026-12-06T02:00:00Z', reason: 'test', by: 'operator' });
    await p.catalog.putPlans([plan({ retention: { keepLast: 1 }, copyRegions: [] })]);
    const journal = (await p.catalog.listJournal('photos')).length;
    // Act
    const paused = await prunePlan(p.deps, {
      kind: 'forget',
      planId: 'photos',
      snapshotId: snapshots.at(-1) as string,
    });
    const gc = await prunePlan(p.deps, {
      kind: 'gc',
      planId: 'photos',
      snapshotId: snapshots.at(-1) as string,
      region: 'us-east-1',
    });
    // Assess
    expect(paused.forgotten).toEqual([]);
    expect(gc.gc['us-east-1']?.deferred).toMatch(
      /^paused: plan\(s\) in quarantine: photos \(since 2026-12-06T02:00:00.000Z\)/,
    );
    expect((await p.catalog.listJournal('photos')).length).toBe(journal);
    // Released: retention applies again, except to the held snapshot
    await p.catalog.liftQuarantine('photos');
    const after = await prunePlan(p.deps, {
      kind: 'forget',
      planId: 'photos',
      snapshotId: snapshots.at(-1) as string,
    });
    expect(after.forgotten.sort()).toEqual([snapshots[0], snapshots[2]].sort());
  });
});

describe('cleanPoints', () => {
  it('names, per prefix, the moment before the attack first touched it; restoring there gives back the clean bytes', async () => {
    await attack();
    await quarantinePlan(p.deps, 'photos', { since: '2026-12-06T02:00:00Z', reason: 'test', by: 'operator' });
    // Act
    const points = await cleanPoints(p.deps, 'photos');
    // Assess
    expect(points.snapshot?.snapshotId).toBe(snapshots[1]);
    expect(points.touched).toEqual([
      {
        prefix: 'docs/',
        firstChange: '2026-12-06T02:30:00.000Z',
        cleanAt: '2026-12-06T02:29:59.999Z',
        changes: 2,
        removed: 0,
      },
      {
        prefix: 'photos/',
        firstChange: '2026-12-06T02:00:00.000Z',
        cleanAt: '2026-12-06T01:59:59.999Z',
        changes: 1,
        removed: 0,
      },
    ]);
    // docs/ from 02:29:59.999 (the 02:15 snapshot, taken after the attack began elsewhere, still clean there)
    for (const point of points.touched) {
      await restoreSnapshot(p.deps, {
        plan: 'photos',
        pointInTime: point.cleanAt,
        prefix: point.prefix,
        targetBucket: 'restored',
        overwrite: 'always',
      });
    }
    expect(await text('restored', 'docs/a.txt')).toBe('clean docs/a.txt');
    expect(await text('restored', 'docs/b.txt')).toBe('clean docs/b.txt');
    expect(await text('restored', 'photos/cat.jpg')).toBe('clean photos/cat.jpg');
  });

  it('looks below a prefix, and needs to know when the attack began', async () => {
    await attack();
    const below = await cleanPoints(p.deps, 'photos', { prefix: 'docs/', since: '2026-12-06T02:00:00Z' });
    expect(below.touched.map((t) => t.prefix)).toEqual(['docs/a.txt', 'docs/b.txt']);
    await expect(cleanPoints(p.deps, 'photos')).rejects.toThrow(
      /not in quarantine: say when the attack began/,
    );
  });
});
