import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '#domain/errors.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { retrySnapshot, startSnapshotNow } from '#domain/scheduling.ts';
import { cutParts } from '#domain/snapshot/parts.ts';
import { boundariesFromParent } from '#domain/snapshot/plan-partitions.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import type { SnapshotTask } from '#domain/tasks.ts';
import {
  CHUNK_SIZE_BYTES,
  contentSha256Of,
  type ManifestEntry,
  PART_MAX_ENTRIES,
  VaultLayout,
} from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';

const OBJECTS = 2500;

function body(i: number): Buffer {
  // Distinct small contents, every tenth one a duplicate of another object's.
  return Buffer.from(`object ${i % 10 === 9 ? i - 1 : i} `.repeat(20));
}

async function fill(p: MemoryPipeline, n = OBJECTS): Promise<void> {
  p.objects.createBucket('source');
  for (let i = 0; i < n; i++) {
    await p.objects.put('source', `k/${String(i).padStart(5, '0')}`, body(i), { contentType: 'text/plain' });
  }
}

/** The partition a snapshot task stores (none for the plan task). */
const partitionOf = (t: SnapshotTask) => (t.kind === 'snapshot-partition' ? t.partition : undefined);
/** Run only the snapshot tasks the queue holds (and those they enqueue); other tasks are dropped. */
async function runSnapshotTasks(p: MemoryPipeline, deliver: (t: SnapshotTask) => Promise<unknown>) {
  const ran: SnapshotTask[] = [];
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
    for (const t of tasks) {
      if (t.kind !== 'snapshot-plan' && t.kind !== 'snapshot-partition') continue;
      await deliver(t);
      ran.push(t);
    }
  }
  return ran;
}

async function committed(p: MemoryPipeline, snapshotId: string) {
  const record = await p.catalog.getSnapshot('photos', snapshotId);
  expect(record?.status).toBe('COMMITTED');
  const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', record?.manifestId as string);
  const entries = await readAllEntries(p.primary, p.deps.envelope, manifest);
  return { record, manifest, entries };
}

/** Every entry's content, read back from the vault, equals the source object it names. */
async function expectRestorable(p: MemoryPipeline, entries: ManifestEntry[]) {
  const index = await VaultIndex.load(p.primary, p.deps.envelope);
  for (const entry of entries) {
    const content = await readEntryContent(p.primary, p.deps.envelope, index, entry);
    const source = await p.objects.get('source', entry.key);
    expect(Buffer.compare(content, Buffer.from(source.body)), entry.key).toBe(0);
  }
}

const keysUnder = (p: MemoryPipeline, prefix: string) =>
  [...p.primary.objects.keys()].filter((k) => k.startsWith(prefix));

describe('partitioned snapshots', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ snapshot: { partitionObjects: 1000, maxParallelPartitions: 2 } })]);
    await fill(p);
  });

  it('splits the source into partitions, packs small objects, and seals once', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const ran = await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    // One planning task, then three partitions of at most 1,000 objects, two at a time.
    expect(ran.map((t) => partitionOf(t)?.index ?? 'plan')).toEqual(['plan', 0, 1, 2]);
    const { record, manifest, entries } = await committed(p, snapshotId);
    expect(record?.partitionsTotal).toBe(3);
    expect(manifest.totals.objectCount).toBe(OBJECTS);
    expect(entries.map((e) => e.key)).toEqual([...entries.map((e) => e.key)].sort());
    expect(manifest.parts.every((part) => part.objectCount <= PART_MAX_ENTRIES)).toBe(true);
    // At most one PUT per 100 small objects: packs, indexes, parts and the root together.
    expect(p.primary.calls.put).toBeLessThanOrEqual(OBJECTS / 100);
    // Duplicate content is stored once.
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    const blobs = [...index.packs.values()].flatMap((pack) => pack.blobs);
    expect(blobs).toHaveLength(new Set(entries.map((e) => e.blobs[0])).size);
    await expectRestorable(p, entries);
  });

  it('builds an incremental from the parent: reads only changes, shares unchanged parts', async () => {
    await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    const partsBefore = keysUnder(p, 'parts/').length;
    await p.objects.put('source', 'k/00005', Buffer.from('changed'), {});
    await p.objects.put('source', 'k/01500x', Buffer.from('added'), {});
    await p.objects.delete('source', ['k/02400']);
    p.clock.advance(3_600_000);

    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));

    const { record, entries } = await committed(p, snapshotId);
    expect(record?.objectsRead).toBe(2);
    expect(record?.objectCount).toBe(OBJECTS);
    // Three parts changed (one per change); every other part is the parent's, not stored again.
    expect(keysUnder(p, 'parts/').length - partsBefore).toBe(3);
    expect(entries.find((e) => e.key === 'k/02400')).toBeUndefined();
    await expectRestorable(p, entries);
  });

  it("reads only its own key range of the journal in each partition, not the plan's whole journal", async () => {
    await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    p.clock.advance(60_000);
    // 100 journaled removals spread over the three partitions' ranges (capture's, after the parent)
    for (let i = 0; i < OBJECTS; i += 25) {
      await p.catalog.appendJournal({
        planId: 'photos',
        bucket: 'source',
        key: `k/${String(i).padStart(5, '0')}`,
        event: 'removed',
        eventTime: p.clock.now().toISOString(),
        sequencer: `0${i.toString(16)}`,
        capturedAt: p.clock.now().toISOString(),
        outcome: 'removed',
      });
    }
    p.clock.advance(3_600_000);
    p.catalog.journalReads.byRange = 0;
    p.catalog.journalReads.byTime = 0;
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    await committed(p, snapshotId);
    // Each entry read once, by the one partition whose range holds it; none through the whole journal.
    expect(p.catalog.journalReads).toEqual({ byRange: 100, byTime: 0 });
  });

  it('commits once when every task is delivered twice', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, async (t) => {
      await takeSnapshot(p.deps, t);
      await takeSnapshot(p.deps, t);
    });
    const { entries } = await committed(p, snapshotId);
    expect(entries).toHaveLength(OBJECTS);
    expect(keysUnder(p, 'manifests/')).toHaveLength(1);
    expect(await p.catalog.listPartitions('photos', snapshotId)).toHaveLength(3);
  });

  it('checkpoints and re-enqueues the rest of a partition when its time budget runs low', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const budgeted = { ...p.deps, remainingTimeMs: () => 1000, timeReserveSeconds: 60 };
    const ran = await runSnapshotTasks(p, (t) => takeSnapshot(budgeted, t));
    // Partitions of 1,000 objects stop once, after their first 500; the last (500) fits in one go.
    expect(ran.filter((t) => partitionOf(t)?.resume).map((t) => partitionOf(t)?.index)).toEqual([0, 1]);
    const summaries = await p.catalog.listPartitions('photos', snapshotId);
    expect(summaries.map((s) => s.invocations)).toEqual([2, 2, 1]);
    const { entries } = await committed(p, snapshotId);
    expect(entries).toHaveLength(OBJECTS);
    await expectRestorable(p, entries);
  });

  it('carries a first listing longer than its time budget across invocations, in legs recorded once', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const budgeted = { ...p.deps, remainingTimeMs: () => 1000, timeReserveSeconds: 60 };
    const results: string[] = [];
    const ran = await runSnapshotTasks(p, async (t) => {
      const first = await takeSnapshot(budgeted, t);
      results.push(first.status);
      // A second delivery of every plan task: it lists the same leg again, loses, and stops.
      if (t.kind === 'snapshot-plan') results.push((await takeSnapshot(budgeted, t)).status);
    });
    // 2,500 keys listed 500 per look at the budget: five legs, then the sixth invocation plans.
    const plans = ran.filter((t) => t.kind === 'snapshot-plan').length;
    expect(plans).toBe(6);
    expect(results.filter((r) => r === 'CONTINUED')).toHaveLength(5 + 2); // 5 legs, then partitions 0 and 1 once each
    expect(results.filter((r) => r === 'SKIPPED').length).toBeGreaterThanOrEqual(5);
    const legs = await p.catalog.listListingLegs('photos', snapshotId);
    expect(legs.map((l) => [l.afterKey, l.keysListed])).toEqual(
      [499, 999, 1499, 1999, 2499].map((i, n) => [`k/${String(i).padStart(5, '0')}`, (n + 1) * 500]),
    );
    const record = await p.catalog.getSnapshot('photos', snapshotId);
    expect(record?.partitionBoundaries).toEqual(['k/00999', 'k/01999']);
    const { entries } = await committed(p, snapshotId);
    expect(entries).toHaveLength(OBJECTS);
  });

  it('survives a crash mid-partition: the redelivery stores everything', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    p.primary.faults.push({ op: 'put', prefix: 'index/', onCall: 2 });
    let crashes = 0;
    await runSnapshotTasks(p, async (t) => {
      try {
        await takeSnapshot(p.deps, t);
      } catch (error) {
        expect(error).toBeInstanceOf(TransientError);
        crashes += 1;
        await takeSnapshot(p.deps, t); // SQS redelivers after the visibility timeout
      }
    });
    expect(crashes).toBe(1);
    const { entries } = await committed(p, snapshotId);
    expect(entries).toHaveLength(OBJECTS);
    await expectRestorable(p, entries);
  });

  it('keeps finished partitions when a failed snapshot is retried', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    // Partition 1 fails for good: its snapshot is marked FAILED (what the handler does on the last receive).
    await runSnapshotTasks(p, async (t) => {
      if (partitionOf(t)?.index === 1) {
        await p.catalog.updateSnapshot(
          'photos',
          snapshotId,
          { status: 'FAILED', error: 'partition 1: boom' },
          ['RUNNING'],
        );
        await p.catalog.updateJob(`photos/${snapshotId}`, { status: 'FAILED' });
        return;
      }
      await takeSnapshot(p.deps, t);
    });
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.status).toBe('FAILED');
    const before = await p.catalog.listPartitions('photos', snapshotId);
    expect(before.map((s) => s.partition)).toEqual([0]); // partition 2 never started: 1 enqueues it

    await retrySnapshot(p.deps, 'photos', snapshotId);
    const ran = await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    expect(ran.map((t) => partitionOf(t)?.index ?? 'plan')).toEqual(['plan', 1, 2]);
    const { record, entries } = await committed(p, snapshotId);
    expect(record?.objectsRead).toBe(OBJECTS);
    expect(entries).toHaveLength(OBJECTS);
  });
});

describe('objects larger than a chunk, empty, or changing', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan()]);
    p.objects.createBucket('source');
  });

  it('stores a large object as chunks and an empty one as one empty blob', async () => {
    const large = Buffer.alloc(2 * CHUNK_SIZE_BYTES + 123, 7);
    large.write('head', 0);
    await p.objects.put('source', 'large.bin', large, {});
    await p.objects.put('source', 'empty', Buffer.alloc(0), {});
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    const { entries } = await committed(p, snapshotId);
    const entry = entries.find((e) => e.key === 'large.bin') as ManifestEntry;
    expect(entry.blobs).toHaveLength(3);
    expect(contentSha256Of(entry)).toBe(createHash('sha256').update(large).digest('hex'));
    expect(entries.find((e) => e.key === 'empty')?.blobs).toEqual([createHash('sha256').digest('hex')]);
    await expectRestorable(p, entries);
  });

  it('reads an object again when it is overwritten between two of its chunks', async () => {
    await p.objects.put('source', 'large.bin', Buffer.alloc(CHUNK_SIZE_BYTES + 10, 1), {});
    let reads = 0;
    p.objects.beforeGet = (_bucket, key) => {
      reads += 1;
      if (key === 'large.bin' && reads === 2) {
        void p.objects.put('source', 'large.bin', Buffer.alloc(CHUNK_SIZE_BYTES + 10, 2), {});
      }
    };
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    p.objects.beforeGet = undefined;
    const { entries } = await committed(p, snapshotId);
    await expectRestorable(p, entries); // the second version, whole — never a mix of the two
    expect(reads).toBe(4);
  });
});

describe('partition planning', () => {
  const ref = (lastKey: string, objectCount: number) => ({
    partId: '0'.repeat(64),
    firstKey: lastKey,
    lastKey,
    objectCount,
    logicalBytes: 0,
  });

  it('groups the parent parts into partitions of the target size', () => {
    const parts = [ref('b', 600), ref('d', 600), ref('f', 600), ref('h', 600), ref('j', 100)];
    expect(boundariesFromParent({ parts }, 1000)).toEqual(['d', 'h']);
    expect(boundariesFromParent({ parts: [ref('z', 5000)] }, 1000)).toEqual([]);
  });

  it('cuts parts at the parent boundaries and caps their size', () => {
    const entry = (key: string) => ({ key }) as ManifestEntry;
    const { complete } = cutParts(['a', 'b', 'c', 'e', 'x'].map(entry), ['b', 'd'], true);
    expect(complete.map((g) => g.map((e) => e.key))).toEqual([['a', 'b'], ['c'], ['e', 'x']]);
    const many = Array.from({ length: 2500 }, (_, i) => entry(`k${String(i).padStart(5, '0')}`));
    expect(cutParts(many, [], true).complete.map((g) => g.length)).toEqual([1000, 1000, 500]);
  });
});

it('names the layout keys it writes', () => {
  expect(VaultLayout.packIdOf(VaultLayout.packKey('ab'.repeat(32)))).toBe('ab'.repeat(32));
});
