import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { captureChange, type S3EventRecord } from '#domain/capture.ts';
import { CLOCK_SKEW_MS } from '#domain/journal.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import type { SnapshotTask } from '#domain/tasks.ts';
import { CHUNK_SIZE_BYTES } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';

const OBJECTS = 3000;
const keyOf = (i: number) => `k/${String(i).padStart(5, '0')}`;
let sequence = 0;

/** What S3 sends for a change (URL-encoded key, an increasing sequencer). */
function record(key: string, kind: 'Put' | 'Delete', etag?: string, size?: number): S3EventRecord {
  sequence += 1;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: new Date(Date.now()).toISOString(),
    eventName: kind === 'Put' ? 'ObjectCreated:Put' : 'ObjectRemoved:Delete',
    s3: {
      bucket: { name: 'source' },
      object: {
        key: encodeURIComponent(key),
        sequencer: sequence.toString(16).toUpperCase().padStart(16, '0'),
        ...(etag === undefined ? {} : { eTag: etag, size }),
      },
    },
  } as S3EventRecord;
}

/** Change the source and let capture see it, as the S3 notification would. */
async function upload(p: MemoryPipeline, key: string, body: string) {
  p.clock.advance(1000);
  await p.objects.put('source', key, Buffer.from(body), {});
  const o = await p.objects.get('source', key);
  await captureChange(p.deps, record(key, 'Put', o.etag, o.sizeBytes));
}
async function remove(p: MemoryPipeline, key: string) {
  p.clock.advance(1000);
  await p.objects.delete('source', [key]);
  await captureChange(p.deps, record(key, 'Delete'));
}

async function snapshot(p: MemoryPipeline) {
  p.clock.advance(60_000);
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  for (
    let tasks = p.queue.drain();
    tasks.some((t) => t.kind.startsWith('snapshot'));
    tasks = p.queue.drain()
  ) {
    for (const t of tasks) if (t.kind.startsWith('snapshot')) await takeSnapshot(p.deps, t as SnapshotTask);
  }
  const record = await p.catalog.getSnapshot('photos', snapshotId);
  expect(record?.status).toBe('COMMITTED');
  return record as NonNullable<typeof record>;
}

/**
 * A week on (so the next snapshot reconciles), every invocation short of time (`tuning` says how
 * often it looks): the reconcile counts `missed` keys and holds exactly the source.
 */
async function expectReconciledShortOfTime(p: MemoryPipeline, tuning: Partial<PipelineDeps>, missed: number) {
  p.clock.advance(7 * 24 * 3_600_000);
  Object.assign(p.deps, { ...tuning, timeReserveSeconds: 60, remainingTimeMs: () => 1000 });
  const reconciled = await snapshot(p);
  expect(reconciled.mode).toBe('reconcile');
  expect(reconciled.reconcileMissed).toBe(missed);
  await expectEqualsSource(p, reconciled.manifestId as string);
}

/** Every object of the snapshot equals the source's, and the snapshot holds exactly the source's keys. */
async function expectEqualsSource(p: MemoryPipeline, manifestId: string) {
  const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', manifestId);
  const entries = await readAllEntries(p.primary, p.deps.envelope, manifest);
  const source = [...(p.objects.buckets.get('source')?.keys() ?? [])].sort();
  expect(entries.map((e) => e.key)).toEqual(source);
  const index = await VaultIndex.load(p.primary, p.deps.envelope);
  for (const entry of entries) {
    const content = await readEntryContent(p.primary, p.deps.envelope, index, entry);
    expect(content.toString(), entry.key).toBe(
      Buffer.from((await p.objects.get('source', entry.key)).body).toString(),
    );
  }
}

describe('snapshots built from the journal (continuous protection)', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([
      plan({ copyRegions: [], continuous: { settleSeconds: 0, reconcileSchedule: 'rate(7 days)' } }),
    ]);
    p.objects.createBucket('source');
    for (let i = 0; i < OBJECTS; i++) await p.objects.put('source', keyOf(i), Buffer.from(`object ${i}`), {});
  });

  it('lists the source once, then builds the next snapshots from the journal alone', async () => {
    const first = await snapshot(p);
    expect(first.mode).toBeUndefined(); // a listing
    expect(first.journalUntil).toBe(first.time);

    await upload(p, keyOf(5), 'changed');
    await upload(p, 'k/01500 new', 'added');
    await remove(p, keyOf(2999));
    const calls = { ...p.primary.calls };
    const listingsBefore = p.objects.listings;

    const second = await snapshot(p);
    expect(second.mode).toBe('journal');
    expect(second.journalEntries).toBe(3);
    expect(p.objects.listings).toBe(listingsBefore); // the source was not listed
    // Requests grow with the changes: the root, the parts the three changes fall into (read and
    // written), and the new root — not one per object.
    expect(p.primary.calls.get - calls.get).toBeLessThanOrEqual(1 + 3);
    expect(p.primary.calls.put - calls.put).toBeLessThanOrEqual(3 + 1);
    await expectEqualsSource(p, second.manifestId as string);
  });

  it('reads and writes the parts its changes fall into at the same time, not one after another', async () => {
    // Prepare: changes in both parts of the parent (2,000 and 1,000 entries); part reads take 5 ms
    await snapshot(p);
    await upload(p, keyOf(5), 'changed');
    await remove(p, keyOf(2999));
    let inFlight = 0;
    let most = 0;
    const get = p.primary.get.bind(p.primary);
    p.primary.get = async (key) => {
      if (!key.startsWith('parts/')) return get(key);
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      try {
        return await get(key);
      } finally {
        inFlight -= 1;
      }
    };
    // Act
    const second = await snapshot(p);
    // Assess: both parts read at once (on S3, each read is a round trip of its own)
    expect(second.mode).toBe('journal');
    expect(most).toBe(2);
    await expectEqualsSource(p, second.manifestId as string);
  });

  it('applies the latest change of a key by sequencer, whatever order they arrive in', async () => {
    await snapshot(p);
    await p.objects.put('source', keyOf(7), Buffer.from('final'), {});
    const final = await p.objects.get('source', keyOf(7));
    const later = record(keyOf(7), 'Put', final.etag, final.sizeBytes);
    const earlier = record(keyOf(7), 'Delete');
    p.clock.advance(1000);
    [later.s3.object.sequencer, earlier.s3.object.sequencer] = [
      earlier.s3.object.sequencer,
      later.s3.object.sequencer,
    ];
    await captureChange(p.deps, later); // the newer event arrives first
    await captureChange(p.deps, earlier);
    const second = await snapshot(p);
    await expectEqualsSource(p, second.manifestId as string);
  });

  /** The record S3 sends for the object now current at `key` (versioned: with its version). */
  function putRecord(key: string): S3EventRecord {
    const o = p.objects.buckets.get('source')?.get(key);
    if (!o) throw new Error(`no ${key}`);
    const r = record(key, 'Put', o.etag, o.sizeBytes);
    r.eventTime = p.clock.now().toISOString();
    if (o.versionId) r.s3.object.versionId = o.versionId;
    return r;
  }

  it("takes a change whose capture clock ran behind the parent's journal horizon", async () => {
    // The parent lists the source; a change S3 made after that listing is captured by a function
    // whose clock runs 2 s behind: its capturedAt falls before the parent's journalUntil.
    const first = await snapshot(p);
    p.clock.advance(1000);
    await p.objects.put('source', 'k/late', Buffer.from('after the listing'), {});
    const late = putRecord('k/late');
    const behind = { now: () => new Date(Date.parse(first.journalUntil as string) - 2000) };
    await captureChange({ ...p.deps, clock: behind }, late);
    const [entry] = await p.catalog.listJournal('photos', {});
    expect(Date.parse(entry?.capturedAt ?? '')).toBeLessThan(Date.parse(first.journalUntil as string));

    const second = await snapshot(p);

    expect(second.mode).toBe('journal');
    await expectEqualsSource(p, second.manifestId as string); // k/late included
  });

  /** Remove `key`, then write it again `afterMs` later: the removal's record, not yet captured. */
  async function removedThenWrittenAgain(key: string, afterMs: number): Promise<S3EventRecord> {
    await p.objects.delete('source', [key]);
    const removal = record(key, 'Delete');
    removal.eventTime = p.clock.now().toISOString();
    p.clock.advance(afterMs);
    await p.objects.put('source', key, Buffer.from('written again'), {});
    return removal;
  }

  it("never rolls a key back to a removal captured before the parent's horizon by a clock behind", async () => {
    // k/00009 is removed, then written again; the listing sees it written. The removal is captured
    // late by a clock 1 s behind the parent's horizon, and the new write's event is lost.
    const removal = await removedThenWrittenAgain(keyOf(9), 2000);
    const first = await snapshot(p);
    const behind = { now: () => new Date(Date.parse(first.journalUntil as string) - 1000) };
    await captureChange({ ...p.deps, clock: behind }, removal);

    const second = await snapshot(p);

    await expectEqualsSource(p, second.manifestId as string); // k/00009 kept, as the listing saw it
  });

  it('looks up no key history for changes near the horizon: the journal read answers them', async () => {
    await snapshot(p);
    for (const key of [keyOf(5), 'k/01500 new']) {
      p.clock.advance(1000);
      await p.objects.put('source', key, Buffer.from('changed'), {});
      await captureChange(p.deps, putRecord(key)); // its event 1 to 2 s after the horizon
    }
    const history = vi.spyOn(p.catalog, 'listJournalForKey');

    const second = await snapshot(p);

    expect(second.mode).toBe('journal');
    expect(history).not.toHaveBeenCalled(); // one query per change before (DynamoDB: one Query each)
    await expectEqualsSource(p, second.manifestId as string);
  });

  it('never rolls a key back to a removal whose successor a clock 4 minutes behind captured 6 minutes before the horizon', async () => {
    // k/00011 is removed, then written again a second later; the newer write is captured by a
    // clock 4 minutes behind, so its capturedAt is earlier than CLOCK_SKEW_MS before the parent's
    // horizon, while its event is 2 minutes before it. The removal is captured late, after the parent.
    const removal = await removedThenWrittenAgain(keyOf(11), 1000);
    const behind = { now: () => new Date(p.clock.now().getTime() - 4 * 60_000) };
    await captureChange({ ...p.deps, clock: behind }, putRecord(keyOf(11)));
    p.clock.advance(60_000);
    const first = await snapshot(p);
    const [successor] = await p.catalog.listJournalForKey('photos', keyOf(11));
    const horizonMs = Date.parse(first.journalUntil as string);
    expect(horizonMs - Date.parse(successor?.capturedAt ?? '')).toBeGreaterThan(CLOCK_SKEW_MS);
    expect(horizonMs - Date.parse(successor?.eventTime ?? '')).toBeLessThan(CLOCK_SKEW_MS);
    p.clock.advance(1000);
    await captureChange(p.deps, removal);

    const second = await snapshot(p);

    expect(second.mode).toBe('journal');
    await expectEqualsSource(p, second.manifestId as string); // k/00011 kept, as the listing saw it
  });

  it('never rolls a key back: two writes in the same second, captured in reverse order', async () => {
    // Prepare: a versioned source (capture reads the very version an event names)
    p.objects.enableVersioning('source');
    await snapshot(p);
    p.clock.advance(1000);
    await p.objects.put('source', keyOf(20), Buffer.from('first'), {});
    const first = putRecord(keyOf(20));
    await p.objects.put('source', keyOf(20), Buffer.from('second'), {}); // same instant
    const second = putRecord(keyOf(20));
    // Act: the second write is captured, and snapshotted, before the first
    await captureChange(p.deps, second);
    const holdsSecond = await snapshot(p);
    p.clock.advance(1000);
    await captureChange(p.deps, first);
    const afterLate = await snapshot(p);
    // Assess
    expect(afterLate.mode).toBe('journal');
    await expectEqualsSource(p, holdsSecond.manifestId as string);
    await expectEqualsSource(p, afterLate.manifestId as string);
  });

  it('never rolls a key back: a delete captured after the upload that followed it', async () => {
    await snapshot(p);
    p.clock.advance(1000);
    const removal = record(keyOf(21), 'Delete');
    removal.eventTime = p.clock.now().toISOString();
    await p.objects.delete('source', [keyOf(21)]);
    await p.objects.put('source', keyOf(21), Buffer.from('back'), {}); // same instant
    await captureChange(p.deps, putRecord(keyOf(21)));
    await snapshot(p);
    p.clock.advance(1000);
    await captureChange(p.deps, removal);
    const afterLate = await snapshot(p);
    await expectEqualsSource(p, afterLate.manifestId as string);
  });

  it('keeps a key whose current version was deleted while an older one remains', async () => {
    p.objects.enableVersioning('source');
    await snapshot(p);
    p.clock.advance(1000);
    await p.objects.put('source', keyOf(22), Buffer.from('older'), {});
    await captureChange(p.deps, putRecord(keyOf(22)));
    p.clock.advance(1000);
    await p.objects.put('source', keyOf(22), Buffer.from('newer'), {});
    const newer = putRecord(keyOf(22));
    await captureChange(p.deps, newer);
    await p.objects.deleteVersion('source', keyOf(22), newer.s3.object.versionId as string);
    const removal = record(keyOf(22), 'Delete');
    removal.s3.object.versionId = newer.s3.object.versionId;
    await captureChange(p.deps, removal);
    const next = await snapshot(p);
    await expectEqualsSource(p, next.manifestId as string);
  });

  it('reconciles on its schedule: lists the source, repairs what the events missed, counts it', async () => {
    await snapshot(p);
    // Changes S3 never told capture about (a lost notification).
    await p.objects.put('source', keyOf(10), Buffer.from('missed'), {});
    await p.objects.delete('source', [keyOf(11)]);
    const journalBuilt = await snapshot(p);
    expect(journalBuilt.mode).toBe('journal'); // it cannot know

    p.clock.advance(7 * 24 * 3_600_000);
    const reconciled = await snapshot(p);
    expect(reconciled.mode).toBe('reconcile');
    expect(reconciled.reconcileMissed).toBe(2);
    await expectEqualsSource(p, reconciled.manifestId as string);

    await upload(p, keyOf(12), 'seen');
    const next = await snapshot(p);
    expect(next.mode).toBe('journal');
    await expectEqualsSource(p, next.manifestId as string);
  });

  it('counts what a reconcile missed once when the first object of its partition pauses', async () => {
    await snapshot(p);
    // Never told to capture: a huge object first in the bucket, and a small change
    await p.objects.put('source', 'a/huge.bin', randomBytes(3 * CHUNK_SIZE_BYTES + 1), {});
    await p.objects.put('source', keyOf(10), Buffer.from('missed'), {});
    await expectReconciledShortOfTime(p, { resumableObjectBytes: 2 * CHUNK_SIZE_BYTES }, 2);
  });

  it('counts a missed key once when its partition goes on in another invocation right at it', async () => {
    await snapshot(p);
    // Missed changes at the first key of a partition's second batch (where a continued partition
    // stops and the next invocation lists again), and inside it.
    await p.objects.put('source', keyOf(500), Buffer.from('missed'), {});
    await p.objects.put('source', keyOf(510), Buffer.from('missed'), {});
    await expectReconciledShortOfTime(p, { partitionBatchObjects: 500 }, 2);
  });
});

describe('listing snapshots of plans without continuous protection', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ copyRegions: [] })]);
    p.objects.createBucket('source');
    for (let i = 0; i < 300; i++) await p.objects.put('source', keyOf(i), Buffer.from(`object ${i}`), {});
  });

  it('take what capture stored since the parent from the journal: no read of the object or the vault index', async () => {
    await snapshot(p);
    await upload(p, keyOf(5), 'changed');
    await upload(p, 'k/00150 new', 'added');
    await remove(p, keyOf(299));
    // Changed behind capture's back (no event): this one must be read.
    p.clock.advance(1000);
    await p.objects.put('source', keyOf(7), Buffer.from('changed without an event'), {});
    const reads = p.objects.reads.length;
    const indexGets = p.primary.calls.list;

    const second = await snapshot(p);
    expect(second.mode).toBeUndefined(); // a listing
    expect(p.objects.reads.slice(reads).map((r) => r.key)).toEqual([keyOf(7)]);
    expect(second.objectsRead).toBe(1);
    await expectEqualsSource(p, second.manifestId as string);
    expect(p.primary.calls.list).toBeGreaterThan(indexGets); // the index was loaded for keyOf(7) only
  });

  it('read an object again when its listed ETag is not the one capture stored', async () => {
    await snapshot(p);
    await upload(p, keyOf(5), 'captured');
    p.clock.advance(1000);
    await p.objects.put('source', keyOf(5), Buffer.from('overwritten, its event not yet captured'), {});
    const reads = p.objects.reads.length;
    const second = await snapshot(p);
    expect(p.objects.reads.slice(reads).map((r) => r.key)).toEqual([keyOf(5)]);
    await expectEqualsSource(p, second.manifestId as string);
  });
});
