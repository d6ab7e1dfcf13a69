/**
 * One object too large for one invocation, end to end on the embedded stack: the snapshot reads it
 * pausing between chunks, and the restore job writes it pausing between upload parts, each
 * invocation going on from the task the one before sent (docs/format.md#partitions, step 4, and
 * #resumable-restore). Objects from 16 MiB are resumable here and every function keeps all of its
 * 900 s in hand, so every look at the time finds it low: a pause at every chance, over the real
 * wire protocols (fauxqs's multipart uploads, SQS, DynamoDB Local).
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { CHUNK_SIZE_BYTES } from '#domain/vault.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { jobEnded, waitFor } from '../support/wait.ts';

const PLAN = 'dumps';
const TARGET = 'dumps-restore';
const KEY = 'db/nightly.dump';
/** Four chunks and a bit: four upload parts of one chunk and a short fifth. */
const DUMP = randomBytes(4 * CHUNK_SIZE_BYTES + 4321);

let stack: LocalStack;
let c: Container;
/** Snapshot invocations it took: the plan's, and its one partition's, paused between chunks. */
let snapshotInvocations = 0;

beforeAll(async () => {
  stack = await startLocalStack({
    visibilityTimeoutSeconds: 1,
    logLevel: 'SILENT',
    environment: {
      STRONGBOX_RESUMABLE_OBJECT_BYTES: String(2 * CHUNK_SIZE_BYTES),
      STRONGBOX_TIME_RESERVE_SECONDS: '900',
      STRONGBOX_RESTORE_SLICE_BYTES: String(CHUNK_SIZE_BYTES),
    },
  });
  c = stack.container();
  const source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await stack.s3().send(new CreateBucketCommand({ Bucket: TARGET }));
  await applyPlans(
    c.pipeline,
    {
      plans: [
        { id: PLAN, source: { bucket: source }, schedule: 'cron(0 3 1 1 ? *)', retention: { keepLast: 3 } },
      ],
    },
    stack.copyRegions,
  );
  await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: KEY, Body: DUMP }));
  await stack.settled();
  const { snapshotId } = await startSnapshotNow(c.pipeline, PLAN);
  const job = await jobEnded(c.pipeline.catalog, PLAN, snapshotId);
  expect(job.status).toBe('SUCCEEDED');
  snapshotInvocations = stack.dispatcher.invocations.filter(
    (i) => i.functionName === 'snapshot' && i.ok,
  ).length;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe('an object larger than one invocation can handle', () => {
  it('is read by the snapshot across invocations, pausing between chunks', () => {
    // The plan task, then the partition: one invocation per chunk stored (five), the last sealing.
    expect(snapshotInvocations).toBeGreaterThanOrEqual(5);
  });

  it('is restored by a restore job across invocations, byte for byte', async () => {
    // Act
    const invocationsBefore = stack.dispatcher.invocations.length;
    const started = await startRestore(c.pipeline, { plan: PLAN, targetBucket: TARGET });
    const jobId = started.job?.restoreJobId as string;
    const job = await waitFor(
      `restore job ${jobId}`,
      async () => {
        const j = await c.pipeline.catalog.getRestoreJob(jobId);
        return j && j.status !== 'RUNNING' ? j : undefined;
      },
      120_000,
    );
    // Assess
    expect(job).toMatchObject({ status: 'SUCCEEDED', objects: 1, bytes: DUMP.length, slicesTotal: 1 });
    const restored = await stack.s3().send(new GetObjectCommand({ Bucket: TARGET, Key: KEY }));
    expect(
      Buffer.from(
        await (restored.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      ).equals(DUMP),
    ).toBe(true);
    // One invocation per upload part: each paused after its one part and sent the slice on.
    const workers = stack.dispatcher.invocations
      .slice(invocationsBefore)
      .filter((i) => i.functionName === 'restoreWorker' && i.ok);
    expect(workers).toHaveLength(5);
  }, 180_000);
});
