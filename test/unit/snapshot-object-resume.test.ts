// A huge object whose read cannot finish within one invocation: the partition pauses the read
// between two chunks, checkpoints where it stands (its blobs so far in a progress part, its
// whole-object SHA-256 resumable), and the next invocation goes on from there. The entry it ends
// with is the one a read straight through gives. All on the memory twins.
import { createHash, randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { liveSet } from '#domain/gc/live-set.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import type { SnapshotTask } from '#domain/tasks.ts';
import { CHUNK_SIZE_BYTES, contentIdOf, type ManifestEntry, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';

const HUGE = 'b/huge.bin';
/** Five chunks and a bit: pauses after chunks 2 and 4, done in the third invocation. */
const HUGE_BYTES = 5 * CHUNK_SIZE_BYTES + 5;

let p: MemoryPipeline;
let huge: Buffer;
/** Looks at the time budget in the current invocation: the third and later find it low. */
let looks = 0;

beforeEach(async () => {
  p = memoryPipeline();
  await p.catalog.putPlans([plan({ source: { bucket: 'source', prefix: '' }, copyRegions: [] })]);
  p.objects.createBucket('source');
  huge = randomBytes(HUGE_BYTES);
  await p.objects.put('source', 'a/small.txt', Buffer.from('small a'), {});
  await p.objects.put('source', HUGE, huge, {});
  await p.objects.put('source', 'c/small.txt', Buffer.from('small c'), {});
  looks = 0;
});

/** Deps whose time budget runs low after two stored chunks of a resumable read, each invocation. */
function budgeted() {
  return {
    ...p.deps,
    resumableObjectBytes: 2 * CHUNK_SIZE_BYTES,
    timeReserveSeconds: 60,
    remainingTimeMs: () => (++looks >= 2 ? 1000 : 600_000),
  };
}

/** Run the snapshot tasks queued (and those they enqueue), each with a fresh budget; their statuses. */
async function run(between: (delivery: number) => Promise<void> = async () => {}): Promise<string[]> {
  const statuses: string[] = [];
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
    for (const t of tasks) {
      if (t.kind !== 'snapshot-plan' && t.kind !== 'snapshot-partition') continue;
      await between(statuses.length);
      looks = 0;
      statuses.push((await takeSnapshot(budgeted(), t as SnapshotTask)).status);
    }
  }
  return statuses;
}

async function entriesOf(snapshotId: string): Promise<ManifestEntry[]> {
  const record = await p.catalog.getSnapshot('photos', snapshotId);
  expect(record?.status).toBe('COMMITTED');
  const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', record?.manifestId as string);
  return readAllEntries(p.primary, p.deps.envelope, manifest);
}

/** The entry a read straight through gives `body`: a blob per 8 MiB chunk and its SHA-256. */
function straight(body: Buffer) {
  const blobs = [];
  for (let at = 0; at < body.length; at += CHUNK_SIZE_BYTES) {
    blobs.push(contentIdOf(body.subarray(at, at + CHUNK_SIZE_BYTES)));
  }
  return { sizeBytes: body.length, blobs, contentSha256: createHash('sha256').update(body).digest('hex') };
}

describe('a read too long for one invocation', () => {
  it('pauses between chunks, checkpoints, and goes on where it stopped: the entry of a straight read', async () => {
    // Prepare
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const checkpoints: unknown[] = [];
    // Act
    const statuses = await run(async () => {
      const recorded = await p.catalog.listPartitionCheckpoints('photos', snapshotId);
      checkpoints.push(recorded[0]?.object?.offsetBytes);
    });
    // Assess: two pauses (after chunks 2 and 4), then done
    expect(statuses).toEqual([
      'PLANNED',
      'CONTINUED',
      'CONTINUED',
      expect.stringMatching(/COMMITTED|SEALED/),
    ]);
    expect(checkpoints).toEqual([undefined, undefined, 2 * CHUNK_SIZE_BYTES, 4 * CHUNK_SIZE_BYTES]);
    const entries = await entriesOf(snapshotId);
    expect(entries.map((e) => e.key)).toEqual(['a/small.txt', HUGE, 'c/small.txt']);
    expect(entries[1]).toMatchObject(straight(huge));
    const content = await readEntryContent(
      p.primary,
      p.deps.envelope,
      await index(),
      entries[1] as ManifestEntry,
    );
    expect(content.equals(huge)).toBe(true);
    // No chunk of the huge object was read from its start again after the first pause
    const ranges = p.objects.reads.filter((r) => r.key === HUGE && r.range).map((r) => r.range?.offsetBytes);
    expect(ranges.filter((at) => at === 0)).toHaveLength(1);
  });

  it('starts no object after the paused one in that invocation: time is short', async () => {
    // Prepare: one object at a time, so c/small.txt waits behind the huge object
    p.deps.concurrency = 1;
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const readsOfC: number[] = [];
    // Act
    await run(async () => {
      readsOfC.push(p.objects.reads.filter((r) => r.key === 'c/small.txt').length);
    });
    // Assess: not read before the huge object's last invocation (then once), and all stored
    expect(readsOfC).toEqual([0, 0, 0, 0]);
    expect(p.objects.reads.filter((r) => r.key === 'c/small.txt')).toHaveLength(1);
    expect((await entriesOf(snapshotId)).map((e) => e.key)).toEqual(['a/small.txt', HUGE, 'c/small.txt']);
  });

  it('reads several huge objects of one batch one at a time, so none is read twice from its start', async () => {
    // Prepare: a second huge object in the same batch, read beside the first if it could be
    const other = randomBytes(HUGE_BYTES);
    await p.objects.put('source', 'b/huge2.bin', other, {});
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    // Act
    await run();
    // Assess: each read from byte 0 once (before, the second restarted with every invocation)
    for (const key of [HUGE, 'b/huge2.bin']) {
      const fromStart = p.objects.reads.filter((r) => r.key === key && r.range?.offsetBytes === 0);
      expect(fromStart, key).toHaveLength(1);
    }
    const entries = await entriesOf(snapshotId);
    expect(entries.map((e) => e.key)).toEqual(['a/small.txt', HUGE, 'b/huge2.bin', 'c/small.txt']);
    expect(entries[2]).toMatchObject(straight(other));
  });

  it('reads the object from its start when the pack of its chunks so far was marked meanwhile', async () => {
    // Prepare: garbage collection marks every pack after the first pause
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    // Act
    await run(async (delivery) => {
      if (delivery !== 2) return;
      const marks = [];
      for await (const o of p.primary.list(VaultLayout.packsPrefix)) {
        marks.push({ packId: VaultLayout.packIdOf(o.key) as string, markedAt: p.clock.now().toISOString() });
      }
      await p.catalog.putGcMarks(p.primary.bucket, marks);
    });
    // Assess: read from byte 0 a second time (its marked chunks not reused), and whole
    const fromStart = p.objects.reads.filter((r) => r.key === HUGE && r.range?.offsetBytes === 0);
    expect(fromStart).toHaveLength(2);
    expect((await entriesOf(snapshotId))[1]).toMatchObject(straight(huge));
  });

  it('reads the object again from its start when it was overwritten between invocations', async () => {
    // Prepare: overwritten before the second partition invocation
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const replaced = randomBytes(HUGE_BYTES);
    // Act
    await run(async (delivery) => {
      if (delivery === 2) await p.objects.put('source', HUGE, replaced, {});
    });
    // Assess: the new content, whole and checked
    const entries = await entriesOf(snapshotId);
    expect(entries[1]).toMatchObject(straight(replaced));
  });

  it('keeps the paused read’s progress part and blobs live for garbage collection', async () => {
    // Prepare: one invocation, paused after two chunks
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const plan = p.queue.drain();
    for (const t of plan) await takeSnapshot(budgeted(), t as SnapshotTask);
    looks = 0;
    const [first] = p.queue.drain();
    expect((await takeSnapshot(budgeted(), first as SnapshotTask)).status).toBe('CONTINUED');
    const [checkpoint] = await p.catalog.listPartitionCheckpoints('photos', snapshotId);
    const part = checkpoint?.object?.part;
    expect(part).toBeDefined();
    // Act
    const live = await liveSet(p.deps, p.primary);
    // Assess: the progress part and the two chunks stored so far
    expect(live.parts.has(VaultLayout.partKey('photos', part?.partId as string))).toBe(true);
    for (const blobId of straight(huge).blobs.slice(0, 2)) expect(live.blobs.has(blobId)).toBe(true);
  });
});

function index(): Promise<VaultIndex> {
  return VaultIndex.load(p.primary, p.deps.envelope);
}
