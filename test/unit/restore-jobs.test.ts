// Large restores fan out like snapshots: the restore function creates a restore job and one
// restore-slice task per slice of the selection; each slice restores its entries and adds its counts
// to the job once; the last slice ends the job once; a slice that fails for good fails the job.
// All on the memory twins.
import { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { TransientError, ValidationError } from '#domain/errors.ts';
import { readBlob } from '#domain/repository/read-blobs.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { PackWriter, writeIndex } from '#domain/repository/write.ts';
import { ArchivePendingError } from '#domain/restore/archive.ts';
import { reportOfRestoreJob, restoreJobIdOf, restoreSlice, startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { Slicer } from '#domain/restore/slices.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { RestoreSliceTask } from '#domain/tasks.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import type { Container } from '#runtime/container.ts';
import { makeHandler as makeWorkerHandler } from '../../functions/restoreWorker.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

/** 23 objects: with slices of 5, slices 0–3 hold 5 entries and slice 4 holds 3. */
const KEYS = Array.from({ length: 23 }, (_, i) => `photos/${String(i).padStart(3, '0')}.txt`);

let p: MemoryPipeline;

async function snapshotNow(): Promise<void> {
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.advance(3600_000);
}

function keysIn(bucket: string): string[] {
  return [...(p.objects.buckets.get(bucket)?.keys() ?? [])].sort();
}

/** The vault key of the pack holding the (one-chunk) object whose content is `text`. */
async function packKeyOf(text: string): Promise<string> {
  const index = await VaultIndex.load(p.primary, p.deps.envelope);
  const where = index.locate(contentIdOf(text));
  if (!where) throw new Error(`no blob holds '${text}'`);
  return VaultLayout.packKey(where.packId);
}

/** Start a fanned-out restore into `restored` and return its job and its queued slice tasks. */
async function fanOut(request: Record<string, unknown> = {}) {
  const started = await startRestore(p.deps, { plan: 'photos', targetBucket: 'restored', ...request });
  const slices = p.queue.drain() as RestoreSliceTask[];
  if (!started.job) throw new Error('expected a restore job');
  return { job: started.job, slices };
}

beforeEach(async () => {
  p = memoryPipeline();
  p.deps.restoreFanOutThreshold = 10;
  p.deps.restoreSliceSize = 5;
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  for (const key of KEYS) await putText(p, key, `content of ${key}`);
  p.objects.createBucket('restored');
  await snapshotNow();
});

describe('starting a restore', () => {
  it('restores a selection at or under the threshold at once, with no job and no task', async () => {
    // Act
    const started = await startRestore(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      include: ['photos/00*'],
    });
    // Assess
    expect(started.job).toBeUndefined();
    expect(started.report?.objects).toBe(10);
    expect(p.queue.sent).toEqual([]);
    expect(p.catalog.restoreJobs.size).toBe(0);
  });

  it('fans a larger selection out into a RUNNING job and one slice task per 5 entries, writing nothing yet', async () => {
    // Act
    const { job, slices } = await fanOut();
    // Assess
    expect(job).toMatchObject({
      status: 'RUNNING',
      planId: 'photos',
      targetBucket: 'restored',
      selected: 23,
      slicesTotal: 5,
      slicesDone: 0,
      objects: 0,
    });
    expect(job.selectedBytes).toBe(KEYS.reduce((sum, k) => sum + `content of ${k}`.length, 0));
    expect(slices.map((t) => [t.slice, t.first, t.count])).toEqual([
      [0, 0, 5],
      [1, 5, 5],
      [2, 10, 5],
      [3, 15, 5],
      [4, 20, 3],
    ]);
    expect(new Set(slices.map((t) => t.restoreJobId))).toEqual(new Set([job.restoreJobId]));
    expect(keysIn('restored')).toEqual([]);
    expect(await p.catalog.getRestoreJob(job.restoreJobId)).toEqual(job);
  });

  it('fans out a small selection when asked to, and never a dry run', async () => {
    const asked = await startRestore(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      key: KEYS[0],
      fanOut: true,
    });
    expect(asked.job?.slicesTotal).toBe(1);
    const dry = await startRestore(p.deps, { plan: 'photos', targetBucket: 'restored', dryRun: true });
    expect(dry.report?.objects).toBe(23);
    expect(dry.job).toBeUndefined();
  });

  it('rejects a bad request before any job or task exists', async () => {
    await expect(
      startRestore(p.deps, { plan: 'photos', targetBucket: 'vault-use1', fanOut: true }),
    ).rejects.toThrow(ValidationError);
    expect(p.catalog.restoreJobs.size).toBe(0);
    expect(p.queue.sent).toEqual([]);
  });

  it('asks for archived packs first: while they are pending no job or task exists', async () => {
    // Prepare
    const archived = await packKeyOf(`content of ${KEYS[4]}`);
    p.primary.archive(archived, 'GLACIER');
    // Act
    const started = startRestore(p.deps, { plan: 'photos', targetBucket: 'restored', archiveTier: 'Bulk' });
    // Assess
    await expect(started).rejects.toThrow(ArchivePendingError);
    expect(p.primary.restoreRequests).toEqual([{ key: archived, tier: 'Bulk', days: 3 }]);
    expect(p.catalog.restoreJobs.size).toBe(0);
    expect(p.queue.sent).toEqual([]);
  });

  it('names the job by its time and request: the same request in the same second is the same job', () => {
    const at = new Date('2026-03-01T12:34:56.789Z');
    const id = restoreJobIdOf({ plan: 'photos' } as never, at);
    expect(id).toMatch(/^restore-20260301T123456Z-[0-9a-f]{8}$/);
    expect(restoreJobIdOf({ plan: 'photos' } as never, at)).toBe(id);
    expect(restoreJobIdOf({ plan: 'docs' } as never, at)).not.toBe(id);
  });
});

describe('restoring the slices', () => {
  it('writes every selected object byte for byte and ends the job SUCCEEDED with the totals', async () => {
    // Prepare
    const { job, slices } = await fanOut();
    // Act
    for (const task of slices) await restoreSlice(p.deps, task);
    // Assess
    expect(keysIn('restored')).toEqual(KEYS);
    for (const key of KEYS) {
      expect(Buffer.from((await p.objects.get('restored', key)).body).toString()).toBe(`content of ${key}`);
    }
    const done = await p.catalog.getRestoreJob(job.restoreJobId);
    expect(done).toMatchObject({
      status: 'SUCCEEDED',
      slicesDone: 5,
      objects: 23,
      bytes: job.selectedBytes,
      skippedExists: 0,
    });
    expect(done?.finishedAt).toBeDefined();
  });

  it('counts a redelivered slice once', async () => {
    // Prepare
    const { job, slices } = await fanOut();
    const first = slices[0] as RestoreSliceTask;
    // Act
    const once = await restoreSlice(p.deps, first);
    const again = await restoreSlice(p.deps, first);
    // Assess
    expect(once.counted).toBe(true);
    expect(again.counted).toBe(false);
    expect(await p.catalog.getRestoreJob(job.restoreJobId)).toMatchObject({
      slicesDone: 1,
      objects: 5,
      skippedExists: 0,
      status: 'RUNNING',
    });
  });

  it('ends the job exactly once when every slice is delivered twice, in any order', async () => {
    // Prepare
    const { job, slices } = await fanOut();
    const deliveries = [...slices, ...[...slices].reverse()];
    // Act
    const results = await Promise.all(deliveries.map((task) => restoreSlice(p.deps, task)));
    // Assess
    expect(results.filter((r) => r.finishedJob)).toHaveLength(1);
    expect(results.filter((r) => r.counted)).toHaveLength(5);
    expect(await p.catalog.getRestoreJob(job.restoreJobId)).toMatchObject({
      status: 'SUCCEEDED',
      slicesDone: 5,
      objects: 23,
    });
  });

  it("applies the request's overwrite policy in each slice and counts skips by reason", async () => {
    // Prepare: the target already holds two of the keys
    await putText(p, KEYS[0] as string, 'newer', 'restored');
    await putText(p, KEYS[21] as string, 'newer', 'restored');
    const { job, slices } = await fanOut({ overwrite: 'never' });
    // Act
    for (const task of slices) await restoreSlice(p.deps, task);
    // Assess
    const done = await p.catalog.getRestoreJob(job.restoreJobId);
    expect(done).toMatchObject({ status: 'SUCCEEDED', objects: 21, skippedExists: 2 });
    expect(Buffer.from((await p.objects.get('restored', KEYS[0] as string)).body).toString()).toBe('newer');
    expect(reportOfRestoreJob(done as never)).toMatchObject({
      objects: 21,
      selected: 23,
      skipped: { exists: 2, unchanged: 0 },
    });
  });

  it('runs through the memory pipeline like any other task', async () => {
    const { job } = await startRestore(p.deps, { plan: 'photos', targetBucket: 'restored' });
    await p.drain({ duplicate: true });
    expect((await p.catalog.getRestoreJob(job?.restoreJobId as string))?.status).toBe('SUCCEEDED');
    expect(keysIn('restored')).toEqual(KEYS);
  });

  it('does nothing for a slice of a job that has already ended', async () => {
    const { job, slices } = await fanOut();
    await p.catalog.finishRestoreJob(job.restoreJobId, { status: 'FAILED', at: 'x', error: 'stopped' });
    const result = await restoreSlice(p.deps, slices[0] as RestoreSliceTask);
    expect(result.counted).toBe(false);
    expect(keysIn('restored')).toEqual([]);
  });

  it('matches what a synchronous restore of the same request writes', async () => {
    p.objects.createBucket('sync');
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'sync' });
    const { job, slices } = await fanOut();
    for (const task of slices) await restoreSlice(p.deps, task);
    const done = await p.catalog.getRestoreJob(job.restoreJobId);
    expect(done?.objects).toBe(report.objects);
    expect(done?.bytes).toBe(report.bytes);
    expect(keysIn('restored')).toEqual(keysIn('sync'));
  });
});

describe('the restore worker', () => {
  const sqsMock = mockClient(SQSClient);
  const context = { getRemainingTimeInMillis: () => 60_000 } as Context;

  function container(): Container {
    return {
      config: testConfig({ dlqUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/restore-dlq' }),
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: silentMetrics(),
    };
  }

  /** A slice as the code before the rename sent it: kind `restore-part`, its number in `part`. */
  const oldShape = ({ slice, ...task }: RestoreSliceTask) => ({ ...task, kind: 'restore-part', part: slice });

  function record(task: RestoreSliceTask | ReturnType<typeof oldShape>, receives: number): SQSRecord {
    return {
      messageId: `m-${'slice' in task ? task.slice : task.part}-${receives}`,
      receiptHandle: 'r',
      body: JSON.stringify(task),
      attributes: {
        ApproximateReceiveCount: String(receives),
        SentTimestamp: '0',
        SenderId: 'x',
        ApproximateFirstReceiveTimestamp: '0',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:strongbox-restore',
      awsRegion: 'us-east-1',
    };
  }

  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
  });

  it('retries a slice that keeps failing while receives remain, and fails the job with the reason on the last one', async () => {
    // Prepare: every write into the target fails (transiently)
    const { job, slices } = await fanOut();
    const task = slices[0] as RestoreSliceTask;
    p.objects.put = async () => {
      throw new TransientError('SlowDown: reduce your request rate');
    };
    const handler = makeWorkerHandler(container());
    // Act
    const first = await handler({ Records: [record(task, 1)] }, context);
    const afterFirst = await p.catalog.getRestoreJob(job.restoreJobId);
    const last = await handler({ Records: [record(task, 3)] }, context);
    // Assess
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'm-0-1' }]);
    expect(afterFirst?.status).toBe('RUNNING');
    expect(last.batchItemFailures).toEqual([{ itemIdentifier: 'm-0-3' }]);
    const failed = await p.catalog.getRestoreJob(job.restoreJobId);
    expect(failed?.status).toBe('FAILED');
    expect(failed?.error).toMatch(
      /^slice 0: TransientError: SlowDown: reduce your request rate \(failed 3 times; the task is in the DLQ\)$/,
    );
  });

  it('fails the job at once when a slice is poison (a slice out of the selection’s range)', async () => {
    const { job, slices } = await fanOut();
    const bad = { ...(slices[4] as RestoreSliceTask), first: 40 };
    await makeWorkerHandler(container())({ Records: [record(bad, 1)] }, context);
    const failed = await p.catalog.getRestoreJob(job.restoreJobId);
    expect(failed?.status).toBe('FAILED');
    expect(failed?.error).toMatch(/^slice 4: .*out of range/);
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(1);
  });

  it('runs slices sent as restore-part tasks before the rename (in flight, or redriven from a DLQ)', async () => {
    // Prepare: the job's slices as the old code queued them
    const { job, slices } = await fanOut();
    const handler = makeWorkerHandler(container());
    // Act
    const responses = [];
    for (const task of slices)
      responses.push(await handler({ Records: [record(oldShape(task), 1)] }, context));
    // Assess: each ran as its slice, counted once, and the job ended
    expect(responses.flatMap((r) => r.batchItemFailures)).toEqual([]);
    expect(keysIn('restored')).toEqual(KEYS);
    expect(await p.catalog.getRestoreJob(job.restoreJobId)).toMatchObject({
      status: 'SUCCEEDED',
      slicesDone: 5,
      objects: 23,
    });
    expect(await p.catalog.listRestoreSlicesDone(job.restoreJobId)).toEqual([0, 1, 2, 3, 4]);
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('records the failure of a restore-part task that does not parse on its job, naming its slice', async () => {
    const { job, slices } = await fanOut();
    const bad = { ...oldShape(slices[4] as RestoreSliceTask), bogus: 1 };
    await makeWorkerHandler(container())({ Records: [record(bad, 1)] }, context);
    const failed = await p.catalog.getRestoreJob(job.restoreJobId);
    expect(failed?.status).toBe('FAILED');
    expect(failed?.error).toMatch(/^slice 4: ValidationError: .*bogus/);
  });
});

describe('large restores list instead of a HEAD per object', () => {
  /** 150 objects under `big/`, snapshotted: above the listing threshold of 100. */
  const BIG = Array.from({ length: 150 }, (_, i) => `big/${String(i).padStart(3, '0')}.txt`);

  beforeEach(async () => {
    for (const key of BIG) await putText(p, key, `content of ${key}`);
    await snapshotNow();
  });

  it('HEADs each target key of a small selection', async () => {
    await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored', prefix: 'photos/' });
    expect(p.objects.heads).toHaveLength(23);
  });

  it("decides 'never' for a large selection from one listing of the target and one HEAD (its first key)", async () => {
    // Prepare: the target already holds two of the keys
    await putText(p, 'big/000.txt', 'newer', 'restored');
    await putText(p, 'big/149.txt', 'newer', 'restored');
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      prefix: 'big/',
    });
    // Assess: S3 lists after StartAfter, so the first key is HEADed
    expect(p.objects.heads).toEqual(['restored/big/000.txt']);
    expect(report).toMatchObject({ selected: 150, objects: 148, skipped: { exists: 2, unchanged: 0 } });
    expect(Buffer.from((await p.objects.get('restored', 'big/000.txt')).body).toString()).toBe('newer');
  });

  it("decides 'ifChanged' from the listed sizes, and hashes only same-size objects", async () => {
    // Prepare: one identical copy, one of the same size with other bytes, one of another size
    await putText(p, 'big/001.txt', 'content of big/001.txt', 'restored');
    await putText(p, 'big/002.txt', 'CONTENT OF BIG/002.TXT', 'restored');
    await putText(p, 'big/003.txt', 'short', 'restored');
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      prefix: 'big/',
      overwrite: 'ifChanged',
    });
    // Assess
    expect(p.objects.heads).toEqual(['restored/big/000.txt']);
    expect(report).toMatchObject({ objects: 149, skipped: { exists: 0, unchanged: 1 } });
    expect(Buffer.from((await p.objects.get('restored', 'big/002.txt')).body).toString()).toBe(
      'content of big/002.txt',
    );
  });

  it('looks at each pack once, however many of the objects it holds', async () => {
    // Prepare: the 150 objects share one pack, in GLACIER
    const archived = await packKeyOf('content of big/007.txt');
    p.primary.archive(archived, 'GLACIER');
    const looked: string[] = [];
    const stateOf = p.primary.storageStateOf.bind(p.primary);
    p.primary.storageStateOf = async (key) => {
      looked.push(key);
      return stateOf(key);
    };
    const sleep = async () => p.primary.completeRestores();
    // Act
    const report = await restoreSnapshot(
      p.deps,
      { plan: 'photos', targetBucket: 'restored', prefix: 'big/' },
      { sleep, archivePollMs: 1 },
    );
    // Assess: one look before the request, one after the sleep
    expect(looked).toEqual([archived, archived]);
    expect(report).toMatchObject({ objects: 150, archive: { packs: 1, blobs: 150, requested: 1 } });
  });
});

describe('restores of objects in many packs', () => {
  /**
   * Rewrite the primary vault's packs as one pack per blob (and one index naming them), as if every
   * object had been captured by its own snapshot.
   */
  async function repackOnePerBlob(): Promise<number> {
    const { envelope } = p.deps;
    const index = await VaultIndex.load(p.primary, envelope);
    const writer = new PackWriter(p.primary, envelope, { targetBytes: 1 });
    for (const pack of index.packs.values()) {
      for (const blob of pack.blobs) {
        await writer.add(blob.blobId, await readBlob(p.primary, envelope, { ...blob, packId: pack.packId }));
      }
    }
    const packs = await writer.flush();
    await p.primary.delete([
      ...[...index.indexIds].map((id) => VaultLayout.indexKey(id)),
      ...[...index.packs.keys()].map((id) => VaultLayout.packKey(id)),
    ]);
    await writeIndex(p.primary, envelope, packs);
    return packs.length;
  }

  it('learns storage classes from one listing of the vault: HEADs only the archived pack', async () => {
    // Prepare: 150 objects in 150 packs (above the listing threshold of 100), one of them in GLACIER
    for (let i = 0; i < 150; i++) await putText(p, `spread/${String(i).padStart(3, '0')}.txt`, `spread ${i}`);
    await snapshotNow();
    expect(await repackOnePerBlob()).toBe(23 + 150);
    const archived = await packKeyOf('spread 7');
    p.primary.archive(archived, 'GLACIER');
    const looked: string[] = [];
    const stateOf = p.primary.storageStateOf.bind(p.primary);
    p.primary.storageStateOf = async (key) => {
      looked.push(key);
      return stateOf(key);
    };
    const listed: string[] = [];
    const list = p.primary.list.bind(p.primary);
    p.primary.list = (prefix) => {
      listed.push(prefix);
      return list(prefix);
    };
    // Act
    const report = await restoreSnapshot(
      p.deps,
      { plan: 'photos', targetBucket: 'restored', prefix: 'spread/' },
      { sleep: async () => p.primary.completeRestores(), archivePollMs: 1 },
    );
    // Assess
    expect(new Set(looked)).toEqual(new Set([archived]));
    expect(listed).toEqual(['index/', 'packs/']);
    expect(report).toMatchObject({ objects: 150, archive: { packs: 1, blobs: 1, requested: 1 } });
    expect(Buffer.from((await p.objects.get('restored', 'spread/007.txt')).body).toString()).toBe('spread 7');
  });
});

describe('a restore whose slices cannot all be sent', () => {
  it('fails its job with the reason and rethrows, rather than leave it RUNNING', async () => {
    // Prepare: the third send fails
    let sends = 0;
    const send = p.queue.send.bind(p.queue);
    p.queue.send = async (task) => {
      sends += 1;
      if (sends === 3) throw new TransientError('queue unavailable');
      return send(task);
    };
    // Act
    const started = startRestore(p.deps, { plan: 'photos', targetBucket: 'restored' });
    // Assess
    await expect(started).rejects.toThrow('queue unavailable');
    const [job] = await p.catalog.listRestoreJobs();
    expect(job?.status).toBe('FAILED');
    expect(job?.error).toBe('could not send every slice: TransientError: queue unavailable');
  });
});

describe('a restore job of listed keys (restore --from-file)', () => {
  /** Every other key, in reverse, twice over, and two the snapshot never held. */
  const LISTED = [
    ...KEYS.filter((_, i) => i % 2 === 0).reverse(),
    KEYS[0] as string,
    'photos/zz.txt',
    'nope',
  ];
  const HELD = KEYS.filter((_, i) => i % 2 === 0);

  it('restores exactly the listed keys the snapshot holds, keeping the list per slice, not in the job', async () => {
    // Prepare
    const { job, slices } = await fanOut({ keys: LISTED });
    // Act
    for (const task of slices) await restoreSlice(p.deps, task);
    // Assess
    expect(keysIn('restored')).toEqual(HELD);
    const done = await p.catalog.getRestoreJob(job.restoreJobId);
    expect(done).toMatchObject({ status: 'SUCCEEDED', selected: 12, objects: 12, listedKeys: 14 });
    expect(done?.request).not.toHaveProperty('keys');
    expect(done?.warnings).toEqual([
      `2 of the 14 listed key(s) are not in snapshot ${job.snapshotId}: 'photos/zz.txt', 'nope'`,
    ]);
    expect(slices.map((t) => t.count)).toEqual([5, 5, 2]);
    expect(await p.catalog.getRestoreSliceKeys(job.restoreJobId, 1)).toEqual(HELD.slice(5, 10));
  });

  it('restores the same keys from a slice sent again with only its number (a reaper redrive)', async () => {
    // Prepare: slice 1 as the reaper rebuilds it from the job
    const { slices } = await fanOut({ keys: LISTED });
    const redriven = { ...(slices[1] as RestoreSliceTask), first: 5, count: 5 };
    // Act
    await restoreSlice(p.deps, redriven);
    // Assess
    expect(keysIn('restored')).toEqual(HELD.slice(5, 10));
  });

  it('refuses, not retryably, a slice whose keys are not stored, restoring nothing', async () => {
    // Prepare
    const { job, slices } = await fanOut({ keys: LISTED });
    p.catalog.restoreSliceKeys.delete(`${job.restoreJobId}#0`);
    // Act
    const run = restoreSlice(p.deps, slices[0] as RestoreSliceTask);
    // Assess
    await expect(run).rejects.toThrow(`restore job ${job.restoreJobId} has no keys stored for slice 0`);
    expect(keysIn('restored')).toEqual([]);
  });

  it('restores a short list at once, like any small selection', async () => {
    const started = await startRestore(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      keys: [KEYS[3] as string, KEYS[7] as string],
    });
    expect(started.report?.objects).toBe(2);
    expect(keysIn('restored')).toEqual([KEYS[3], KEYS[7]]);
  });

  it('refuses a list together with a single key', async () => {
    await expect(
      startRestore(p.deps, { plan: 'photos', keys: [KEYS[0] as string], key: KEYS[1] as string }),
    ).rejects.toThrow(ValidationError);
  });
});

describe('slices of listed keys', () => {
  it('end before 256 KiB of keys, so that each slice’s keys are one catalog item', () => {
    // 300 keys of 1,000 bytes (each counted with 8 more): 260 fit in 256 KiB.
    const slicer = new Slicer(500, Number.MAX_SAFE_INTEGER);
    const starts = Array.from({ length: 300 }, () => slicer.add(1, 1008));
    expect(slicer.finish().counts).toEqual([260, 40]);
    expect(starts.filter(Boolean)).toHaveLength(2);
  });
});
