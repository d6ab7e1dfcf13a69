// GC against the work of a snapshot that is not committed yet: a FAILED snapshot waiting for
// `strongbox backup --retry`, and a partition continued across invocations (issue 12, defect 1).
// Nothing a retry commits may name a part or blob garbage collection has deleted.
import { beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '#domain/errors.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { prunePlan } from '#domain/prune.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { abandonSnapshot, FAILED_SNAPSHOT_RETRY_DAYS, isAbandoned, keepsWork } from '#domain/retry.ts';
import { retrySnapshot, startSnapshotNow } from '#domain/scheduling.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import type { SnapshotPartitionTask, SnapshotTask } from '#domain/tasks.ts';
import { type ManifestEntry, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';

const OBJECTS = 2500;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

async function fill(p: MemoryPipeline, n = OBJECTS): Promise<void> {
  p.objects.createBucket('source');
  for (let i = 0; i < n; i++) {
    await p.objects.put(
      'source',
      `k/${String(i).padStart(5, '0')}`,
      Buffer.from(`object ${i} `.repeat(20)),
      {},
    );
  }
}

/** The partition a snapshot task stores (none for the plan task). */
const partitionOf = (t: SnapshotTask) => (t.kind === 'snapshot-partition' ? t.partition : undefined);
/** Run the snapshot tasks the queue holds (and those they enqueue); other tasks are dropped. */
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

/** Fail the snapshot the way the handler does when partition `index` fails on its last receive. */
async function failOn(p: MemoryPipeline, snapshotId: string, index: number) {
  return runSnapshotTasks(p, async (t) => {
    if (partitionOf(t)?.index === index) {
      await p.catalog.updateSnapshot(
        'photos',
        snapshotId,
        { status: 'FAILED', error: `partition ${index}: boom` },
        ['RUNNING'],
      );
      await p.catalog.updateJob(`photos/${snapshotId}`, { status: 'FAILED' });
      return;
    }
    await takeSnapshot(p.deps, t);
  });
}

/** One garbage-collection run of the primary vault (what a `prune:<region>` task does). */
async function gc(p: MemoryPipeline, snapshotId: string) {
  const { gc: out } = await prunePlan(p.deps, {
    kind: 'gc',
    planId: 'photos',
    snapshotId,
    region: 'us-east-1',
  });
  return out['us-east-1'];
}

/** Mark, then past the grace period (1 h), sweep. */
async function gcTwice(p: MemoryPipeline, snapshotId: string) {
  p.clock.advance(2 * HOUR);
  await gc(p, snapshotId);
  p.clock.advance(2 * HOUR);
  return gc(p, snapshotId);
}

/** The committed snapshot's entries, each read back from the vault and compared with the source. */
async function expectRestorable(p: MemoryPipeline, snapshotId: string, objects = OBJECTS) {
  const record = await p.catalog.getSnapshot('photos', snapshotId);
  expect(record?.status).toBe('COMMITTED');
  const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', record?.manifestId as string);
  const entries: ManifestEntry[] = await readAllEntries(p.primary, p.deps.envelope, manifest);
  expect(entries).toHaveLength(objects);
  const index = await VaultIndex.load(p.primary, p.deps.envelope);
  for (const entry of entries) {
    const content = await readEntryContent(p.primary, p.deps.envelope, index, entry);
    const source = await p.objects.get('source', entry.key);
    expect(Buffer.compare(content, Buffer.from(source.body)), entry.key).toBe(0);
  }
}

const partKeysOf = async (p: MemoryPipeline, snapshotId: string, partition: number) =>
  (await p.catalog.listPartitions('photos', snapshotId))
    .filter((s) => s.partition === partition)
    .flatMap((s) => s.parts.map((r) => VaultLayout.partKey('photos', r.partId)));

describe('garbage collection and the retry of a failed snapshot', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ snapshot: { partitionObjects: 1000, maxParallelPartitions: 2 } })]);
    await fill(p);
  });

  it('keeps the finished partitions of a FAILED snapshot past the grace period, and the retry restores', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await failOn(p, snapshotId, 1);
    const kept = await partKeysOf(p, snapshotId, 0);
    expect(kept.length).toBeGreaterThan(0);

    const swept = await gcTwice(p, snapshotId);
    expect(swept?.partsDeleted).toBe(0);
    expect(swept?.packsDeleted).toBe(0);
    for (const key of kept) expect(p.primary.objects.has(key), key).toBe(true);

    await retrySnapshot(p.deps, 'photos', snapshotId);
    const ran = await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    expect(ran.map((t) => partitionOf(t)?.index ?? 'plan')).toEqual(['plan', 1, 2]);
    await expectRestorable(p, snapshotId);
  });

  it('re-runs a kept partition whose parts are gone instead of committing a root that names them', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await failOn(p, snapshotId, 1);
    await p.primary.delete(await partKeysOf(p, snapshotId, 0)); // swept by an older release's GC

    await retrySnapshot(p.deps, 'photos', snapshotId);
    const ran = await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    expect(ran.map((t) => partitionOf(t)?.index ?? 'plan')).toEqual(['plan', 0, 1, 2]);
    await expectRestorable(p, snapshotId);
  });

  it('re-runs a kept partition whose blobs sit only in packs garbage collection marked', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await failOn(p, snapshotId, 1);
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    const markedAt = p.clock.now().toISOString();
    await p.catalog.putGcMarks(
      p.primary.bucket,
      [...index.packs.keys()].map((packId) => ({ packId, markedAt })),
    );

    await retrySnapshot(p.deps, 'photos', snapshotId);
    const ran = await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    expect(ran.map((t) => partitionOf(t)?.index ?? 'plan')).toEqual(['plan', 0, 1, 2]);
    // Every blob the snapshot names is in a pack no mark dooms.
    const marked = new Set((await p.catalog.listGcMarks(p.primary.bucket)).map((m) => m.packId));
    const fresh = await VaultIndex.load(p.primary, p.deps.envelope, { exclude: marked });
    const record = await p.catalog.getSnapshot('photos', snapshotId);
    const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', record?.manifestId as string);
    for (const entry of await readAllEntries(p.primary, p.deps.envelope, manifest))
      for (const blobId of entry.blobs) expect(fresh.locate(blobId), entry.key).toBeDefined();
  });

  it('seals no root naming a part that vanished after planning: the partition runs again', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await failOn(p, snapshotId, 1);
    await retrySnapshot(p.deps, 'photos', snapshotId);
    const lost = await partKeysOf(p, snapshotId, 0);
    let planned = false;
    const ran = await runSnapshotTasks(p, async (t) => {
      const result = await takeSnapshot(p.deps, t);
      if (t.kind === 'snapshot-plan' && !planned) {
        planned = true;
        await p.primary.delete(lost); // gone between the retry's planning and the seal
      }
      return result;
    });
    expect(ran.map((t) => partitionOf(t)?.index ?? 'plan')).toEqual(['plan', 1, 2, 0]);
    await expectRestorable(p, snapshotId);
  });

  it('goes on collecting when a part only uncommitted work names is gone, and the seal re-runs its partition', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await takeSnapshot(p.deps, p.queue.drain()[0] as SnapshotTask); // plan
    const [first, second] = p.queue.drain() as SnapshotTask[];
    await takeSnapshot(p.deps, first as SnapshotTask); // partition 0 done; partition 1 not yet run
    await p.primary.delete(await partKeysOf(p, snapshotId, 0));
    p.clock.advance(2 * HOUR);
    const collected = await gc(p, snapshotId);
    expect(collected?.deferred).toBeUndefined();

    await p.queue.send(second as SnapshotTask);
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    await expectRestorable(p, snapshotId);
  });

  it('lets an operator abandon a FAILED snapshot: never retried, and its work is garbage', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await failOn(p, snapshotId, 1);
    const kept = await partKeysOf(p, snapshotId, 0);
    await abandonSnapshot(p.deps, 'photos', snapshotId);
    await expect(retrySnapshot(p.deps, 'photos', snapshotId)).rejects.toBeInstanceOf(ConflictError);
    await gcTwice(p, snapshotId);
    for (const key of kept) expect(p.primary.objects.has(key), key).toBe(false);
  });

  it(`abandons a FAILED snapshot ${FAILED_SNAPSHOT_RETRY_DAYS} days after it was scheduled once a newer one committed`, async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await failOn(p, snapshotId, 1);
    const kept = await partKeysOf(p, snapshotId, 0);
    await p.objects.put('source', 'k/00000', Buffer.from('changed'), {}); // the newer one's part 0 differs
    p.clock.advance(HOUR);
    const newer = await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    expect((await p.catalog.getSnapshot('photos', newer.snapshotId))?.status).toBe('COMMITTED');

    // Within the window: still retryable, so kept.
    p.clock.advance((FAILED_SNAPSHOT_RETRY_DAYS - 1) * DAY);
    await gcTwice(p, snapshotId);
    for (const key of kept) expect(p.primary.objects.has(key), key).toBe(true);
    // Past it: abandoned.
    p.clock.advance(DAY);
    await expect(retrySnapshot(p.deps, 'photos', snapshotId)).rejects.toBeInstanceOf(ConflictError);
    await gcTwice(p, snapshotId);
    const newerParts = new Set(
      (await p.catalog.listPartitions('photos', newer.snapshotId)).flatMap((s) =>
        s.parts.map((r) => VaultLayout.partKey('photos', r.partId)),
      ),
    );
    const own = kept.filter((k) => !newerParts.has(k));
    expect(own.length).toBeGreaterThan(0);
    for (const key of own) expect(p.primary.objects.has(key), key).toBe(false);
    const record = await p.catalog.getSnapshot('photos', newer.snapshotId);
    expect(record?.status).toBe('COMMITTED');
  });
});

describe('a partition continued across invocations', () => {
  let p: MemoryPipeline;
  let budgeted: PipelineDeps;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ snapshot: { partitionObjects: 1000, maxParallelPartitions: 1 } })]);
    await fill(p, 1000);
    // Each invocation stores 500 objects, then runs out of time.
    budgeted = { ...p.deps, remainingTimeMs: () => 1000, timeReserveSeconds: 60 };
  });

  /** Plan, then the first invocation of partition 0, which checkpoints; the re-enqueued message is returned. */
  async function firstInvocation(): Promise<SnapshotPartitionTask> {
    const [planTask] = p.queue.drain();
    await takeSnapshot(p.deps, planTask as SnapshotTask);
    const [first] = p.queue.drain() as SnapshotTask[];
    expect((await takeSnapshot(budgeted, first as SnapshotTask)).status).toBe('CONTINUED');
    const [next] = p.queue.drain() as SnapshotPartitionTask[];
    expect(next?.partition.resume?.afterKey).toBe('k/00499');
    return next as SnapshotPartitionTask;
  }

  it('goes on from the checkpoint recorded in the catalog when redelivered without resume', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const next = await firstInvocation();
    expect((await p.catalog.listPartitionCheckpoints('photos', snapshotId)).map((c) => c.afterKey)).toEqual([
      'k/00499',
    ]);
    // A re-drive (the reaper) knows only the partition, not the message body.
    const result = await takeSnapshot(p.deps, { ...next, partition: { index: 0 } });
    expect(result.status).toBe('COMMITTED');
    const [summary] = await p.catalog.listPartitions('photos', snapshotId);
    expect(summary?.invocations).toBe(2);
    expect(summary?.objectsRead).toBe(1000); // 500 + 500: the first half was not read again
    await expectRestorable(p, snapshotId, 1000);
  });

  it('keeps the parts of a checkpoint through garbage collection, so the continued partition restores', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const next = await firstInvocation();
    const checkpointed = (next.partition.resume?.parts ?? []).map((r) =>
      VaultLayout.partKey('photos', r.partId),
    );
    expect(checkpointed.length).toBeGreaterThan(0);

    const swept = await gcTwice(p, snapshotId);
    expect(swept?.partsDeleted).toBe(0);
    expect(swept?.packsDeleted).toBe(0);
    for (const key of checkpointed) expect(p.primary.objects.has(key), key).toBe(true);

    expect((await takeSnapshot(p.deps, next)).status).toBe('COMMITTED');
    await expectRestorable(p, snapshotId, 1000);
  });

  it('keeps the checkpoint of a FAILED snapshot for its retry, which goes on from it', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await firstInvocation(); // its message is lost; the partition fails on its last receive
    await p.catalog.updateSnapshot('photos', snapshotId, { status: 'FAILED', error: 'partition 0: boom' }, [
      'RUNNING',
    ]);
    await gcTwice(p, snapshotId);

    await retrySnapshot(p.deps, 'photos', snapshotId);
    await runSnapshotTasks(p, (t) => takeSnapshot(p.deps, t));
    const [summary] = await p.catalog.listPartitions('photos', snapshotId);
    expect(summary?.invocations).toBe(2);
    await expectRestorable(p, snapshotId, 1000);
  });

  it('lets only one of two concurrent deliveries of a partition go on: the other stops at the checkpoint', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    const [planTask] = p.queue.drain();
    await takeSnapshot(p.deps, planTask as SnapshotTask);
    const [first] = p.queue.drain() as SnapshotTask[];
    const results = await Promise.all([
      takeSnapshot(budgeted, first as SnapshotTask),
      takeSnapshot(budgeted, first as SnapshotTask),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['CONTINUED', 'SKIPPED']);
    expect(p.queue.drain()).toHaveLength(1); // one continuation, not two chains
    expect(
      (await p.catalog.listPartitionCheckpoints('photos', snapshotId)).map((c) => c.invocations),
    ).toEqual([2]);
  });
});

describe('isAbandoned', () => {
  const failed = {
    planId: 'photos',
    snapshotId: '20260301T000000Z',
    status: 'FAILED' as const,
    scheduledAt: '2026-03-01T00:00:00.000Z',
  };
  const newer = {
    planId: 'photos',
    snapshotId: '20260301T010000Z',
    status: 'COMMITTED' as const,
    scheduledAt: '2026-03-01T01:00:00.000Z',
  };
  const at = (days: number) => new Date(Date.parse(failed.scheduledAt) + days * DAY);

  it('keeps a failed snapshot retryable while no newer snapshot of its plan has committed, however old', () => {
    expect(isAbandoned(failed, [failed], at(365))).toBe(false);
    expect(isAbandoned(failed, [failed, { ...newer, status: 'FAILED' }], at(365))).toBe(false);
    expect(keepsWork(failed, [failed], at(365))).toBe(true);
  });

  it(`abandons it ${FAILED_SNAPSHOT_RETRY_DAYS} days after it was scheduled once a newer one committed, or when an operator did`, () => {
    expect(isAbandoned(failed, [failed, newer], at(FAILED_SNAPSHOT_RETRY_DAYS - 0.01))).toBe(false);
    expect(isAbandoned(failed, [failed, newer], at(FAILED_SNAPSHOT_RETRY_DAYS))).toBe(true);
    expect(isAbandoned({ ...failed, abandonedAt: at(0).toISOString() }, [failed], at(0))).toBe(true);
    expect(keepsWork({ ...failed, status: 'RUNNING', abandonedAt: at(0).toISOString() }, [], at(99))).toBe(
      true,
    );
  });
});
