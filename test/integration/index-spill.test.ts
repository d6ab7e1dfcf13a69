/**
 * The pipeline on the embedded stack with every vault index spilled to local disk at once
 * (STRONGBOX_INDEX_MEMORY_BLOBS=0, docs/format.md#reading-the-index): capture, the snapshot's
 * partitions, the copy (two indexes), verification, a restore job's workers and a drill all locate
 * blobs through scratch files, and the restore is byte-identical. Verification holds the referenced
 * blobs there too (docs/format.md#verification), and the job's prune collects each region with its
 * live set and index documents spilled (docs/format.md#garbage-collection).
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { jobEnded, restoreJobEnded } from '../support/wait.ts';

const PLAN = 'spilled';
const TARGET = 'spilled-restore';
/** 120 objects, a tenth of them the same content (deduplicated: one blob, many entries). */
const OBJECTS = new Map(
  Array.from({ length: 120 }, (_, i) => [
    `data/${String(i).padStart(3, '0')}.bin`,
    i % 10 === 0 ? Buffer.from('the same bytes') : randomBytes(1000 + i * 37),
  ]),
);

let stack: LocalStack;
let c: Container;
let source: string;

beforeAll(async () => {
  stack = await startLocalStack({
    visibilityTimeoutSeconds: 1,
    logLevel: 'SILENT',
    environment: { STRONGBOX_INDEX_MEMORY_BLOBS: '0', STRONGBOX_RESTORE_SLICE_SIZE: '25' },
  });
  c = stack.container();
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await stack.s3().send(new CreateBucketCommand({ Bucket: TARGET }));
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: PLAN,
          source: { bucket: source },
          schedule: 'cron(0 3 1 1 ? *)',
          retention: { keepLast: 3 },
          copyRegions: ['eu-west-1'],
          verification: { samplePercent: 100 },
        },
      ],
    },
    stack.copyRegions,
  );
});

afterAll(async () => {
  await stack?.stop();
});

describe('the pipeline with every vault index spilled to local disk', () => {
  it('captures, snapshots, copies, verifies and restores as a job, byte for byte', async () => {
    // Arrange: the uploads, captured (capture's index spills) before the snapshot
    for (const [key, body] of OBJECTS)
      await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
    await stack.settled();
    const spilled = await VaultIndex.load(c.pipeline.vaults.primary, c.pipeline.envelope, c.pipeline);
    expect(spilled.spilledBlobs).toBeGreaterThan(0); // this stack's functions spill every index
    spilled.close();

    // Act: a snapshot (partitions reuse what capture stored), its copy and verification; then a
    // restore job from the copy region (its workers spill the region's index)
    const { snapshotId } = await startSnapshotNow(c.pipeline, PLAN);
    const job = await jobEnded(c.pipeline.catalog, PLAN, snapshotId);
    const started = await startRestore(c.pipeline, {
      plan: PLAN,
      targetBucket: TARGET,
      region: 'eu-west-1',
      fanOut: true,
    });
    const restore = await restoreJobEnded(c.pipeline.catalog, started.job?.restoreJobId as string);

    // Assert
    expect(job.status).toBe('SUCCEEDED');
    const snapshot = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
    expect(snapshot).toMatchObject({
      status: 'COMMITTED',
      objectCount: OBJECTS.size,
      regions: { 'eu-west-1': { status: 'COPIED' } },
    });
    expect(snapshot?.verification?.status).toBe('PASSED');
    expect(started.job).toMatchObject({ selected: OBJECTS.size, slicesTotal: 5 });
    expect(restore).toMatchObject({ status: 'SUCCEEDED', objects: OBJECTS.size, slicesDone: 5 });
    for (const [key, body] of OBJECTS) {
      const out = await stack.s3().send(new GetObjectCommand({ Bucket: TARGET, Key: key }));
      expect(Buffer.from((await out.Body?.transformToByteArray()) ?? []).equals(body), key).toBe(true);
    }
  }, 120_000);
});
