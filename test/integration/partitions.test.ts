/**
 * Partitioned snapshots on the embedded stack: the real functions, queues, table and buckets, with
 * S3 faults injected on the wire by a proxy in front of the primary region's S3 endpoint. Every
 * function gets a time reserve of 900 s (its whole timeout), so a partition always checkpoints and
 * re-enqueues itself when more objects follow its first batch.
 */
import { createServer } from 'node:net';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { retrySnapshot, startSnapshotNow } from '#domain/scheduling.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { waitFor } from '../support/wait.ts';

const OBJECTS = 2300; // partitions of 1,000: 1,000 + 1,000 + 300
let stack: LocalStack;
let proxy: FaultProxy;
let c: Container;
let source: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const keyOf = (i: number) => `obj/${String(i).padStart(5, '0')}.txt`;
let generation = 0; // new content in every generation, so the vault's index cannot dedupe it away
const bodyOf = (i: number) => `generation ${generation} object ${i} `.repeat(10 + (i % 7));

async function uploadAll(): Promise<void> {
  const limit = pLimit(32);
  await Promise.all(
    Array.from({ length: OBJECTS }, (_, i) =>
      limit(() => stack.s3().send(new PutObjectCommand({ Bucket: source, Key: keyOf(i), Body: bodyOf(i) }))),
    ),
  );
  await stack.settled();
}

async function jobEnded(planId: string, snapshotId: string) {
  return waitFor(
    `job ${planId}/${snapshotId}`,
    async () => {
      const s = await c.pipeline.catalog.getSnapshot(planId, snapshotId);
      return s && s.status !== 'RUNNING' ? s : undefined;
    },
    120_000,
  );
}

/** Every object of the committed snapshot, read back from the vault, equals the source's. */
async function expectComplete(planId: string, snapshotId: string): Promise<void> {
  const record = await c.pipeline.catalog.getSnapshot(planId, snapshotId);
  expect(record?.status).toBe('COMMITTED');
  const { primary } = c.pipeline.vaults;
  const manifest = await readManifest(primary, c.pipeline.envelope, planId, record?.manifestId as string);
  const entries = await readAllEntries(primary, c.pipeline.envelope, manifest);
  expect(entries.map((e) => e.key)).toEqual(Array.from({ length: OBJECTS }, (_, i) => keyOf(i)));
  const index = await VaultIndex.load(primary, c.pipeline.envelope);
  const limit = pLimit(16);
  await Promise.all(
    entries.map((entry, i) =>
      limit(async () => {
        const content = await readEntryContent(primary, c.pipeline.envelope, index, entry);
        expect(content.toString(), entry.key).toBe(bodyOf(i));
      }),
    ),
  );
}

async function newPlan(id: string, maxParallelPartitions = 2) {
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id,
          source: { bucket: source },
          // Never due while the file runs: a rate plan is due at once and the scheduler ticks every
          // minute; the on-demand snapshot (an id to the millisecond) is not that occurrence's.
          schedule: 'cron(0 3 1 1 ? *)',
          retention: { keepLast: 5 },
          snapshot: { partitionObjects: 1000, maxParallelPartitions },
        },
      ],
    },
    stack.copyRegions,
  );
}

beforeAll(async () => {
  const s3Port = await freePort();
  proxy = await startFaultProxy(`http://127.0.0.1:${s3Port}`);
  stack = await startLocalStack({
    ports: { primaryS3Sqs: s3Port },
    // Long enough for one invocation of a partition here; a failed one returns after it.
    visibilityTimeoutSeconds: 10,
    logLevel: 'SILENT',
    environment: {
      AWS_ENDPOINT_URL_S3: proxy.url,
      STRONGBOX_TIME_RESERVE_SECONDS: '900',
      // Two SDK attempts per call, so injected faults outlast the SDK's retries when a test wants that.
      STRONGBOX_SDK_MAX_ATTEMPTS: '2',
    },
  });
  c = stack.container();
  // A bucket capture does not hear: only the snapshots store its content, so the faults injected
  // into their pack and index uploads are sure to be met.
  source = 'partitions-source';
  await stack.s3().send(new CreateBucketCommand({ Bucket: source }));
  await uploadAll();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await proxy?.stop();
});

describe('partitioned snapshots on the embedded stack', { timeout: 240_000 }, () => {
  it('fans out, checkpoints when the time budget runs low, and commits a complete snapshot', async () => {
    await newPlan('budget');
    const { snapshotId } = await startSnapshotNow(c.pipeline, 'budget');
    expect((await jobEnded('budget', snapshotId)).status).toBe('COMMITTED');
    const summaries = await c.pipeline.catalog.listPartitions('budget', snapshotId);
    // 1,000-object partitions stop after their first 500 and go on in a second invocation.
    expect(summaries.map((s) => [s.partition, s.objectCount, s.invocations])).toEqual([
      [0, 1000, 2],
      [1, 1000, 2],
      [2, 300, 1],
    ]);
    const record = await c.pipeline.catalog.getSnapshot('budget', snapshotId);
    expect(record?.objectsRead).toBe(OBJECTS);
    // Packed: far fewer than one PUT per object (packs + index documents + parts + root).
    expect((record?.packsWritten ?? 0) + summaries.length * 2).toBeLessThan(OBJECTS / 100);
    await expectComplete('budget', snapshotId);
  });

  it('commits once when the snapshot task is delivered twice at the same time', async () => {
    await newPlan('twice');
    const started = await startSnapshotNow(c.pipeline, 'twice');
    const body = JSON.stringify({
      kind: 'snapshot-plan',
      planId: 'twice',
      snapshotId: started.snapshotId,
      scheduledAt: started.scheduledAt,
    });
    await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.queues.SnapshotQueue?.url, MessageBody: body }),
    );
    expect((await jobEnded('twice', started.snapshotId)).status).toBe('COMMITTED');
    await stack.settled();
    const snapshots = await c.pipeline.catalog.listSnapshots('twice');
    expect(snapshots.map((s) => s.status)).toEqual(['COMMITTED']);
    expect(await c.pipeline.catalog.listPartitions('twice', started.snapshotId)).toHaveLength(3);
    await expectComplete('twice', started.snapshotId);
  });

  it('absorbs SlowDown with backoff, and survives a crash between storing packs and indexing them', async () => {
    await newPlan('faults', 1); // one partition at a time: the injected faults hit one task
    generation += 1;
    await uploadAll();
    // Two 503 SlowDown answers to pack uploads: the SDK backs off and retries (no task fails).
    proxy.inject({ method: 'PUT', path: /\/packs\//, times: 1, status: 503, code: 'SlowDown' });
    // The first index upload fails on both SDK attempts: the partition fails after storing its packs
    // (a crash at the worst moment), SQS redelivers it, and the redelivery stores everything.
    proxy.inject({ method: 'PUT', path: /\/index\//, times: 2, status: 503, code: 'ServiceUnavailable' });
    const before = stack.dispatcher.invocations.length;
    const { snapshotId } = await startSnapshotNow(c.pipeline, 'faults');
    expect((await jobEnded('faults', snapshotId)).status).toBe('COMMITTED');
    expect(proxy.injected.filter((r) => r.includes('/packs/'))).toHaveLength(1);
    expect(proxy.injected.filter((r) => r.includes('/index/'))).toHaveLength(2);
    const failed = stack.dispatcher.invocations
      .slice(before)
      .filter((i) => i.functionName === 'snapshot' && i.batchItemFailures === 1);
    expect(failed).toHaveLength(1);
    await expectComplete('faults', snapshotId);
  });

  it('fails the job naming the partition that keeps failing, and a retry keeps the others', async () => {
    await newPlan('retry');
    // Every read of one object of partition 1 fails: three receives, then the DLQ.
    proxy.inject({
      method: 'GET',
      path: /\/obj\/01500\.txt/,
      times: 1000,
      status: 500,
      code: 'InternalError',
    });
    const { snapshotId } = await startSnapshotNow(c.pipeline, 'retry');
    const failed = await jobEnded('retry', snapshotId);
    expect(failed.status).toBe('FAILED');
    const job = await c.pipeline.catalog.getJob(`retry/${snapshotId}`);
    expect(job?.error).toMatch(/^partition 1: .*InternalError.*failed 3 times/);
    const done = await c.pipeline.catalog.listPartitions('retry', snapshotId);
    expect(done.map((s) => s.partition)).not.toContain(1);

    proxy.clear();
    await retrySnapshot(c.pipeline, 'retry', snapshotId);
    expect((await jobEnded('retry', snapshotId)).status).toBe('COMMITTED');
    const after = await c.pipeline.catalog.listPartitions('retry', snapshotId);
    // The partitions that had finished kept their summaries (and their work).
    for (const s of done) expect(after.find((a) => a.partition === s.partition)).toEqual(s);
    await expectComplete('retry', snapshotId);
  });
});
