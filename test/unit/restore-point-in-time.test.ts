// Restores to any point in time, per key, on the memory twins: the newest snapshot at or before T plus
// the uploads capture stored and journaled between that snapshot and T. Synchronous restores, restore
// jobs (whose slices must all see the same journal) and the versions of one key.
import { beforeEach, describe, expect, it } from 'vitest';
import { captureChange, type S3EventRecord, S3EventRecordSchema } from '#domain/capture.ts';
import { Envelope } from '#domain/envelope.ts';
import { NotFoundError } from '#domain/errors.ts';
import { changesAt, entriesAt } from '#domain/point-in-time.ts';
import type { JournalEntry } from '#domain/records.ts';
import { writePart } from '#domain/repository/write.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { selectEntries, selectFromManifest } from '#domain/restore/selection.ts';
import { listVersions } from '#domain/restore/versions.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { RestoreSliceTask } from '#domain/tasks.ts';
import { contentIdOf, type ManifestEntry, type PartRef } from '#domain/vault.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

let p: MemoryPipeline;
let sequence = 0;
let first: string;

/** A snapshot now; returns its id. */
async function snapshotNow(): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  return snapshotId;
}

/** The S3 record of a change to `key` at the clock's time, with the next sequencer. */
function record(
  key: string,
  eventName: string,
  object: { size?: number; eTag?: string } = {},
): S3EventRecord {
  sequence += 1;
  return S3EventRecordSchema.parse({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: p.clock.now().toISOString(),
    eventName,
    s3: {
      bucket: { name: 'source' },
      object: {
        key: encodeURIComponent(key),
        ...object,
        sequencer: sequence.toString(16).toUpperCase().padStart(18, '0'),
      },
    },
  });
}

/** Upload `text` at `at` and capture it (its bytes stored, journaled) a second later, or at `capturedAt`. */
async function upload(key: string, text: string, at: string, capturedAt?: string): Promise<void> {
  p.clock.set(at);
  await putText(p, key, text);
  const o = p.objects.buckets.get('source')?.get(key);
  const rec = record(key, 'ObjectCreated:Put', { size: o?.sizeBytes ?? 0, eTag: o?.etag ?? '' });
  if (capturedAt) p.clock.set(capturedAt);
  else p.clock.advance(1000);
  await captureChange(p.deps, rec);
}

/** Delete `key` at `at` and capture the removal. */
async function remove(key: string, at: string): Promise<void> {
  p.clock.set(at);
  await p.objects.delete('source', [key]);
  const rec = record(key, 'ObjectRemoved:Delete');
  p.clock.advance(1000);
  await captureChange(p.deps, rec);
}

const text = async (bucket: string, key: string) =>
  Buffer.from((await p.objects.get(bucket, key)).body).toString();
const keysIn = (bucket: string) => [...(p.objects.buckets.get(bucket)?.keys() ?? [])].sort();

beforeEach(async () => {
  p = memoryPipeline('2026-03-01T00:00:00Z');
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  for (const key of ['a.txt', 'b.txt', 'c.txt']) await putText(p, key, `v0 of ${key}`);
  p.objects.createBucket('restored');
  first = await snapshotNow(); // time 00:00
});

describe('a point-in-time restore between two snapshots', () => {
  beforeEach(async () => {
    await upload('a.txt', 'v1 of a.txt', '2026-03-01T00:10:00Z');
    await remove('b.txt', '2026-03-01T00:12:00Z');
    await upload('new.txt', 'created at 00:14', '2026-03-01T00:14:00Z');
    // T = 00:20; then a.txt changes again, and c.txt for the first time.
    await upload('a.txt', 'v2 of a.txt', '2026-03-01T00:30:00Z');
    await upload('c.txt', 'v1 of c.txt', '2026-03-01T00:31:00Z');
    p.clock.set('2026-03-01T01:00:00Z');
    await snapshotNow();
  });

  it('restores each key as it was at T: captured versions, removals, creations; later changes ignored', async () => {
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      pointInTime: '2026-03-01T00:20:00Z',
    });
    // Assess
    expect(report.snapshotId).toBe(first);
    expect(report.pointInTime).toBe('2026-03-01T00:20:00Z');
    expect(report.fromJournal).toBe(2);
    expect(report.warnings).toEqual([]);
    expect(keysIn('restored')).toEqual(['a.txt', 'c.txt', 'new.txt']);
    expect(await text('restored', 'a.txt')).toBe('v1 of a.txt');
    expect(await text('restored', 'c.txt')).toBe('v0 of c.txt');
    expect(await text('restored', 'new.txt')).toBe('created at 00:14');
    const restored = p.objects.buckets.get('restored')?.get('a.txt');
    expect([restored?.contentType, restored?.metadata]).toEqual(['text/plain', { origin: 'test' }]);
  });

  it('restores one key at any captured version', async () => {
    for (const [at, expected] of [
      ['2026-03-01T00:09:59Z', 'v0 of a.txt'],
      ['2026-03-01T00:10:00Z', 'v1 of a.txt'],
      ['2026-03-01T00:29:59Z', 'v1 of a.txt'],
      ['2026-03-01T00:30:00Z', 'v2 of a.txt'],
    ] as const) {
      await restoreSnapshot(p.deps, {
        plan: 'photos',
        key: 'a.txt',
        pointInTime: at,
        targetBucket: 'restored',
        overwrite: 'always',
      });
      expect(await text('restored', 'a.txt'), at).toBe(expected);
    }
  });

  it('refuses a key that did not exist at T', async () => {
    const restore = (key: string, pointInTime: string) =>
      restoreSnapshot(p.deps, { plan: 'photos', key, pointInTime, targetBucket: 'restored' });
    await expect(restore('b.txt', '2026-03-01T00:20:00Z')).rejects.toThrow(NotFoundError);
    await expect(restore('b.txt', '2026-03-01T00:20:00Z')).rejects.toThrow(
      /snapshot \d{8}T\d{6}(\.\d{3})?Z as of 2026-03-01T00:20:00Z does not hold 'b.txt'/,
    );
    await expect(restore('new.txt', '2026-03-01T00:13:00Z')).rejects.toThrow(NotFoundError);
    expect(keysIn('restored')).toEqual([]);
  });

  it('applies the prefix and globs to the state at T', async () => {
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      pointInTime: '2026-03-01T00:20:00Z',
      include: ['new.*', 'b.*'],
    });
    expect(report.selected).toBe(1);
    expect(keysIn('restored')).toEqual(['new.txt']);
  });

  it('fans out into slices that all see the journal up to the job’s capture horizon', async () => {
    // Prepare
    p.deps.restoreSliceSize = 1;
    const started = await startRestore(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      pointInTime: '2026-03-01T00:20:00Z',
      fanOut: true,
    });
    const job = started.job;
    if (!job) throw new Error('expected a restore job');
    expect(job.journalUntil).toBe(p.clock.now().toISOString());
    expect(job.slicesTotal).toBe(3);
    // A change at or before T captured after the job started does not shift the slices' selection.
    await upload('0-late.txt', 'late', '2026-03-01T00:15:00Z', '2026-03-01T01:05:00Z');
    // Act
    for (const task of p.queue.drain() as RestoreSliceTask[]) await p.run(task);
    // Assess
    expect((await p.catalog.getRestoreJob(job.restoreJobId))?.status).toBe('SUCCEEDED');
    expect(keysIn('restored')).toEqual(['a.txt', 'c.txt', 'new.txt']);
    expect(await text('restored', 'a.txt')).toBe('v1 of a.txt');
  });

  it('lists the versions of a key from the snapshots and the journal, newest first', async () => {
    // Act
    const versions = await listVersions(p.deps, { plan: 'photos', key: 'a.txt', journal: true });
    // Assess
    expect(versions.map((v) => [v.source, v.time, v.sizeBytes])).toEqual([
      ['snapshot', '2026-03-01T01:00:00.000Z', 'v2 of a.txt'.length],
      ['journal', '2026-03-01T00:30:00.000Z', 'v2 of a.txt'.length],
      ['journal', '2026-03-01T00:10:00.000Z', 'v1 of a.txt'.length],
      ['snapshot', '2026-03-01T00:00:00.000Z', 'v0 of a.txt'.length],
    ]);
    const captured = versions[2];
    expect(captured?.source === 'journal' && captured.outcome).toBe('captured');
    expect(captured?.source === 'journal' && captured.pointInTime).toBe('2026-03-01T00:10:00.000Z');
    // Removals are listed too, with nothing to restore.
    const b = await listVersions(p.deps, { plan: 'photos', key: 'b.txt', journal: true });
    expect(b.map((v) => (v.source === 'journal' ? [v.outcome, v.pointInTime] : [v.source]))).toEqual([
      ['removed', undefined],
      ['snapshot'],
    ]);
    expect(
      await listVersions(p.deps, { plan: 'photos', key: 'a.txt', limit: 2, journal: true }),
    ).toHaveLength(2);
    // Without `journal`: the snapshots' versions only, as before.
    const snapshotsOnly = await listVersions(p.deps, { plan: 'photos', key: 'a.txt' });
    expect(snapshotsOnly.map((v) => v.source)).toEqual(['snapshot', 'snapshot']);
  });
});

describe('a change lost before capture', () => {
  it("keeps the snapshot's version and warns", async () => {
    // Prepare: the event names an ETag the object no longer has.
    p.clock.set('2026-03-01T00:10:00Z');
    await putText(p, 'a.txt', 'gone before capture');
    const rec = record('a.txt', 'ObjectCreated:Put', { size: 19, eTag: 'not-the-current-etag' });
    p.clock.advance(1000);
    await captureChange(p.deps, rec);
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      pointInTime: '2026-03-01T00:20:00Z',
      include: ['a.txt'],
    });
    // Assess
    expect(await text('restored', 'a.txt')).toBe('v0 of a.txt');
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatch(
      new RegExp(
        `^'a.txt' changed at 2026-03-01T00:10:00.000Z but the change was lost before capture.*snapshot ${first}`,
      ),
    );
  });
});

describe('without journaled changes', () => {
  it('restores the newest snapshot at or before T, as before', async () => {
    p.clock.set('2026-03-01T01:00:00Z');
    await putText(p, 'a.txt', 'not captured');
    await snapshotNow();
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      pointInTime: '2026-03-01T00:30:00Z',
    });
    expect(report.snapshotId).toBe(first);
    expect(report.fromJournal).toBe(0);
    expect(await text('restored', 'a.txt')).toBe('v0 of a.txt');
  });
});

describe('selectFromManifest with the changes of a point in time', () => {
  /** Five parts of four entries each: a/0…a/3, b/0…b/3, c/…, d/…, e/… */
  const KEYS = ['a', 'b', 'c', 'd', 'e'].flatMap((dir) => [0, 1, 2, 3].map((i) => `${dir}/${i}.txt`));
  const entryOf = (key: string, content = key): ManifestEntry => ({
    key,
    sizeBytes: content.length,
    etag: contentIdOf(content).slice(0, 32),
    lastModified: '2026-03-01T00:00:00.000Z',
    blobs: [contentIdOf(content)],
  });
  const change = (key: string, outcome: JournalEntry['outcome'], sequencer = '01'): JournalEntry => ({
    planId: 'photos',
    bucket: 'source',
    key,
    event: outcome === 'removed' ? 'removed' : 'created',
    eventTime: '2026-03-01T00:10:00.000Z',
    sequencer,
    capturedAt: '2026-03-01T00:10:01.000Z',
    outcome,
    ...(outcome === 'captured' ? { sizeBytes: 3, etag: 'e', blobs: [contentIdOf(`${key} new`)] } : {}),
  });
  const window = { baseTime: '2026-03-01T00:00:00.000Z', at: '2026-03-01T00:20:00.000Z' };
  // Before the first part, inside parts, between parts (b/9 falls between b/3 and c/0), after the last.
  const journal = [
    change('0.txt', 'captured'),
    change('b/1.txt', 'removed'),
    change('b/9.txt', 'captured'),
    change('d/2.txt', 'captured'),
    change('e/0.txt', 'lost-before-capture'),
    change('z.txt', 'captured'),
    change('zz.txt', 'captured'),
    change('zz.txt', 'removed', '02'),
  ];
  let vault: MemoryVaultStore;
  let envelope: Envelope;
  let manifest: { planId: string; parts: PartRef[] };
  let expected: ManifestEntry[];
  const changes = () => changesAt(journal, window);

  beforeEach(async () => {
    vault = new MemoryVaultStore('us-east-1', 'vault-use1', new ManualClock('2026-03-01T00:00:00Z'));
    envelope = new Envelope(memoryKeyProvider());
    const base = KEYS.map((k) => entryOf(k));
    const parts: PartRef[] = [];
    for (let i = 0; i < base.length; i += 4) {
      parts.push((await writePart(vault, envelope, 'photos', base.slice(i, i + 4))).ref);
    }
    manifest = { planId: 'photos', parts };
    expected = entriesAt(base, journal, window).entries;
  });

  it.each([
    ['everything', {}],
    ['a prefix', { prefix: 'b/' }],
    ['a prefix after every part', { prefix: 'z' }],
    ['globs', { include: ['*/1.txt', 'b/**', '*.txt'], exclude: ['d/**'] }],
    ['one key changed between parts', { key: 'b/9.txt' }],
    ['one key before every part', { key: '0.txt' }],
  ])('selects what selectEntries selects of the entries at T: %s', async (_name, request) => {
    const at = { at: window.at, changes: changes() };
    const streamed = await selectFromManifest(vault, envelope, manifest, request, 'S', undefined, at);
    expect(streamed.selected).toEqual(selectEntries(expected, request, 'S as of x').selected);
  });

  it('gives every restore slice its range of the selection at T, whatever the range', async () => {
    for (const request of [{}, { prefix: 'b' }, { exclude: ['c/**'] }]) {
      const whole = selectEntries(expected, request, 'S').selected;
      for (let first = 0; first <= whole.length; first += 1) {
        for (const count of [1, 2, 3, 5]) {
          const { selected } = await selectFromManifest(
            vault,
            envelope,
            manifest,
            request,
            'S',
            { first, count },
            {
              at: window.at,
              changes: changes(),
            },
          );
          expect(selected, `${JSON.stringify(request)} ${first}+${count}`).toEqual(
            whole.slice(first, first + count),
          );
        }
      }
    }
  });

  it('counts journal versions and warns of a selected key whose change was lost', async () => {
    const all = await selectFromManifest(vault, envelope, manifest, {}, 'S', undefined, {
      at: window.at,
      changes: changes(),
    });
    expect(all.fromJournal).toBe(4);
    expect(all.warnings).toEqual([
      "'e/0.txt' changed at 2026-03-01T00:10:00.000Z but the change was lost before capture: restoring snapshot S's state of it",
    ]);
    const some = await selectFromManifest(vault, envelope, manifest, { prefix: 'b/' }, 'S', undefined, {
      at: window.at,
      changes: changes(),
    });
    expect(some.warnings).toEqual([]);
    expect(some.selected.map((e) => e.key)).toEqual(['b/0.txt', 'b/2.txt', 'b/3.txt', 'b/9.txt']);
  });
});
