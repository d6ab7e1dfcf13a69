// A restore job's slice of one object too large for one invocation: a multipart upload that pauses
// between two parts when time runs low and goes on from the task it re-enqueues, its SHA-256
// carried along (docs/format.md#resumable-restore). On the memory twins, whose multipart uploads
// check what S3's CompleteMultipartUpload checks (ETags, 5 MiB minimum parts).
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSRecord } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { IntegrityError, isRetryable, TransientError } from '#domain/errors.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSlice, startRestore } from '#domain/restore/jobs.ts';
import { READ_AHEAD_BLOBS, resumablePartBytes } from '#domain/restore/resumable.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { MAX_RESUMABLE_UPLOAD_PARTS, parseTask, type RestoreSliceTask } from '#domain/tasks.ts';
import { CHUNK_SIZE_BYTES, type ManifestEntry, VaultLayout } from '#domain/vault.ts';
import { makeHandler as makeWorkerHandler } from '../../functions/restoreWorker.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

const KEY = 'db/dump.bin';
/** Five chunks and a bit: five parts of one chunk and a short sixth. */
const DUMP_BYTES = 5 * CHUNK_SIZE_BYTES + 1234;
let p: MemoryPipeline;
let dump: Buffer;
/** Looks at the time left in the current invocation; from the `lowAfter`-th on, it is low. */
let looks = 0;
let lowAfter = 2;

/** Deps of one restore worker invocation: objects of two chunks or more are resumable. */
function worker() {
  looks = 0;
  return {
    ...p.deps,
    resumableObjectBytes: 2 * CHUNK_SIZE_BYTES,
    timeReserveSeconds: 60,
    remainingTimeMs: () => (++looks >= lowAfter ? 1000 : 600_000),
  };
}

/** Start a restore of the snapshot into `restored`; run every slice (and continuation) as its own invocation. */
async function restoreJob(overwrite: 'always' | 'never' = 'always', between?: (n: number) => Promise<void>) {
  const started = await startRestore(
    { ...p.deps, restoreSliceBytes: CHUNK_SIZE_BYTES },
    { plan: 'photos', targetBucket: 'restored', overwrite },
  );
  const invocations: RestoreSliceTask[] = [];
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
    for (const task of tasks) {
      // Every task sent is what the queue's consumer parses (the continuation's `upload` included).
      const parsed = parseTask(JSON.stringify(task), 'restore') as RestoreSliceTask;
      await between?.(invocations.length);
      invocations.push(parsed);
      await restoreSlice(worker(), parsed);
    }
  }
  const job = await p.catalog.getRestoreJob(started.job?.restoreJobId as string);
  return { started, invocations, job };
}

async function entryOf(key: string): Promise<ManifestEntry> {
  const [snapshot] = await p.catalog.listSnapshots('photos');
  const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', snapshot?.manifestId as string);
  const entry = (await readAllEntries(p.primary, p.deps.envelope, manifest)).find((e) => e.key === key);
  if (!entry) throw new Error(`no entry ${key}`);
  return entry;
}

beforeEach(async () => {
  p = memoryPipeline();
  await p.catalog.putPlans([plan({ source: { bucket: 'source', prefix: '' }, copyRegions: [] })]);
  p.objects.createBucket('source');
  p.objects.createBucket('restored');
  dump = randomBytes(DUMP_BYTES);
  await p.objects.put('source', KEY, dump, { contentType: 'application/x-dump' });
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  lowAfter = 2;
});

describe('Resumable restore of one large object', () => {
  it('fans out even as one object, since its bytes are more than one slice', async () => {
    const { started } = await restoreJob();
    expect(started.job?.slicesTotal).toBe(1);
    expect(started.report).toBeUndefined();
  });

  it('pauses after each part when time is low, goes on from the task it sent, and restores byte for byte', async () => {
    // Act: one part per invocation (the first look finds time low)
    lowAfter = 1;
    const { invocations, job } = await restoreJob();
    // Assess
    const done = [0, 1, 2, 3, 4, 5];
    expect(invocations.map((t) => t.upload?.etags.length ?? 0)).toEqual(done);
    expect(invocations.map((t) => t.upload?.offsetBytes ?? 0)).toEqual(done.map((n) => n * CHUNK_SIZE_BYTES));
    const restored = await p.objects.get('restored', KEY);
    expect(Buffer.from(restored.body).equals(dump)).toBe(true);
    expect(restored.contentType).toBe('application/x-dump');
    expect(job).toMatchObject({ status: 'SUCCEEDED', objects: 1, bytes: DUMP_BYTES, slicesDone: 1 });
    expect(p.objects.uploads.open.size).toBe(0);
  });

  it('reads each chunk once, but for what it read ahead past a pause (4 chunks at most each time)', async () => {
    const before = p.primary.calls.getRange;
    const { invocations } = await restoreJob();
    const blobs = (await entryOf(KEY)).blobs.length;
    const pauses = invocations.length - 1;
    expect(pauses).toBe(2);
    const reads = p.primary.calls.getRange - before;
    expect(reads).toBeGreaterThanOrEqual(blobs);
    expect(reads).toBeLessThanOrEqual(blobs + READ_AHEAD_BLOBS * pauses);
  });

  it('reads nothing past the part it pauses after when that part starts a pause (no read-ahead wasted)', async () => {
    // One part per invocation: the pause is decided before any chunk of the part is read ahead.
    lowAfter = 1;
    const before = p.primary.calls.getRange;
    await restoreJob();
    expect(p.primary.calls.getRange - before).toBe((await entryOf(KEY)).blobs.length);
  });

  it('ends well when SQS delivers every task twice: counted once, no upload left open', async () => {
    // Arrange
    const started = await startRestore(
      { ...p.deps, restoreSliceBytes: CHUNK_SIZE_BYTES },
      { plan: 'photos', targetBucket: 'restored' },
    );
    const outcomes: string[] = [];
    // Act: each task twice; one that fails retryably is delivered again later, as SQS does.
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      for (const task of tasks as RestoreSliceTask[]) {
        const deliveries = await Promise.allSettled([
          restoreSlice(worker(), task),
          restoreSlice(worker(), task),
        ]);
        for (const d of deliveries) {
          if (d.status === 'fulfilled') continue;
          expect(isRetryable(d.reason)).toBe(true);
          expect(String(d.reason)).toMatch(
            /multipart upload .* is gone: another delivery of its slice ended it/,
          );
          outcomes.push('retry');
        }
        if (deliveries.some((d) => d.status === 'rejected')) await p.queue.send(task);
      }
    }
    // Assess: one delivery found the upload completed under it (and was delivered again)
    expect(outcomes).toContain('retry');
    const job = await p.catalog.getRestoreJob(started.job?.restoreJobId as string);
    expect(job).toMatchObject({ status: 'SUCCEEDED', objects: 1, bytes: DUMP_BYTES, slicesDone: 1 });
    expect(Buffer.from((await p.objects.get('restored', KEY)).body).equals(dump)).toBe(true);
    expect(p.objects.uploads.open.size).toBe(0);
  });

  it('runs in one invocation when time does not run low', async () => {
    lowAfter = Number.POSITIVE_INFINITY;
    const { invocations, job } = await restoreJob();
    expect(invocations).toHaveLength(1);
    expect(job?.status).toBe('SUCCEEDED');
    expect(Buffer.from((await p.objects.get('restored', KEY)).body).equals(dump)).toBe(true);
  });

  it('stores nothing at the key when a chunk does not match its blob id, and aborts the upload', async () => {
    // Prepare: the pack holding the fourth chunk is replaced by other bytes
    const fourth = (await entryOf(KEY)).blobs[3] as string;
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    const packKey = VaultLayout.packKey(index.locate(fourth)?.packId as string);
    const pack = p.primary.objects.get(packKey);
    if (!pack) throw new Error('no pack');
    p.primary.objects.set(packKey, { ...pack, body: randomBytes(pack.body.length) });
    // Act
    const failing = restoreJob();
    // Assess
    await expect(failing).rejects.toBeInstanceOf(IntegrityError);
    expect(await p.objects.head('restored', KEY)).toBeUndefined();
    expect(p.objects.uploads.open.size).toBe(0);
  });

  it('aborts the upload it began when a part fails; the redelivery begins another and ends it', async () => {
    // Prepare: the second part's upload fails once (after the SDK's own retries)
    let failures = 0;
    const uploadPart = p.objects.uploadPart;
    p.objects.uploadPart = async (bucket, key, uploadId, partNumber, body) => {
      if (partNumber === 2 && failures++ === 0)
        throw new TransientError('SlowDown: reduce your request rate');
      return uploadPart(bucket, key, uploadId, partNumber, body);
    };
    lowAfter = Number.POSITIVE_INFINITY;
    await startRestore(
      { ...p.deps, restoreSliceBytes: CHUNK_SIZE_BYTES },
      { plan: 'photos', targetBucket: 'restored' },
    );
    const [task] = p.queue.drain() as RestoreSliceTask[];
    // Act
    const first = restoreSlice(worker(), task as RestoreSliceTask);
    // Assess
    await expect(first).rejects.toBeInstanceOf(TransientError);
    expect(p.objects.uploads.open.size).toBe(0);
    await restoreSlice(worker(), task as RestoreSliceTask);
    expect(Buffer.from((await p.objects.get('restored', KEY)).body).equals(dump)).toBe(true);
    expect(p.objects.uploads.open.size).toBe(0);
  });

  it("under 'never', keeps an object that appeared at the key while it was paused, and counts it skipped", async () => {
    const { job } = await restoreJob('never', async (n) => {
      if (n === 2) await p.objects.put('restored', KEY, Buffer.from('written meanwhile'), {});
    });
    expect(Buffer.from((await p.objects.get('restored', KEY)).body).toString()).toBe('written meanwhile');
    expect(job).toMatchObject({ status: 'SUCCEEDED', objects: 0, skippedExists: 1 });
    expect(p.objects.uploads.open.size).toBe(0);
  });
});

describe('the restore worker', () => {
  it("gives the slice the invocation's time left: with little left, it pauses after one part", async () => {
    // Arrange: a job of the one large object, and an invocation with 1 s left
    await startRestore(
      { ...p.deps, restoreSliceBytes: CHUNK_SIZE_BYTES },
      { plan: 'photos', targetBucket: 'restored' },
    );
    const [task] = p.queue.drain();
    const handler = makeWorkerHandler({
      config: testConfig(),
      pipeline: { ...p.deps, resumableObjectBytes: 2 * CHUNK_SIZE_BYTES, timeReserveSeconds: 60 },
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: silentMetrics(),
    });
    const record = {
      messageId: 'm-1',
      receiptHandle: 'r',
      body: JSON.stringify(task),
      attributes: { ApproximateReceiveCount: '1' },
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:strongbox-restore',
    } as unknown as SQSRecord;
    // Act
    const response = await handler({ Records: [record] }, {
      getRemainingTimeInMillis: () => 1000,
    } as Context);
    // Assess: one part uploaded, the slice sent again to go on from there
    expect(response.batchItemFailures).toEqual([]);
    const [next] = p.queue.drain() as RestoreSliceTask[];
    expect(next?.upload?.etags).toHaveLength(1);
    expect(await p.objects.head('restored', KEY)).toBeUndefined();
  });
});

describe('resumablePartBytes', () => {
  it('uses whole chunks, as few as keep the parts within what a task carries', () => {
    const GiB = 1024 ** 3;
    expect(resumablePartBytes(2 * GiB)).toBe(CHUNK_SIZE_BYTES);
    expect(resumablePartBytes(60 * GiB)).toBe(2 * CHUNK_SIZE_BYTES);
    for (const size of [31 * GiB, 62 * GiB + 1, 1024 * GiB, 5 * 1024 * GiB]) {
      const part = resumablePartBytes(size);
      expect(part % CHUNK_SIZE_BYTES).toBe(0);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_RESUMABLE_UPLOAD_PARTS);
    }
  });
});
