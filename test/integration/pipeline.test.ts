/**
 * The real pipeline on the embedded stack: serverless.yml's functions, queues, table and buckets on
 * fauxqs and DynamoDB Local, driven by the local dispatcher.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { ManifestEntry } from '#domain/vault.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { DLQ_REASON_ATTRIBUTE } from '#runtime/sqs-task-handler.ts';
import { jobEnded, waitFor } from '../support/wait.ts';

const KEYS = [
  'plain.txt',
  'with space.txt',
  'plus+sign.txt',
  'caf\u00e9/\u00fcber.md',
  'deep/a/b/c/d.json',
  'Upper/lower',
  'empty',
  '%percent%',
];

let stack: LocalStack;
let c: Container;
let source: string;

async function jobDone(planId: string, snapshotId: string) {
  return jobEnded(c.pipeline.catalog, planId, snapshotId);
}

beforeAll(async () => {
  stack = await startLocalStack({ visibilityTimeoutSeconds: 1, logLevel: 'SILENT' });
  c = stack.container();
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  for (const [i, key] of KEYS.entries()) {
    await stack.s3().send(
      new PutObjectCommand({
        Bucket: source,
        Key: key,
        Body: key === 'empty' ? '' : `content of ${key} ${i}`,
        ContentType: 'text/plain',
        Metadata: { n: String(i) },
      }),
    );
  }
  await stack.settled(); // capture ran for the uploads (no plan protected them yet)
});

afterAll(async () => {
  await stack?.stop();
});

describe('the pipeline on the embedded stack', () => {
  it('snapshots on the schedule, copies, verifies, prunes, and restores every byte', async () => {
    // Prepare
    await applyPlans(
      c.pipeline,
      {
        plans: [
          {
            id: 'e2e',
            source: { bucket: source },
            schedule: 'rate(1 hour)',
            retention: { keepLast: 1 },
            copyRegions: ['eu-west-1'],
            verification: { samplePercent: 100 },
          },
        ],
      },
      stack.copyRegions,
    );
    // Act: the scheduler's EventBridge event
    const tick = (await stack.dispatcher.fireSchedule('scheduler', new Date(Date.now() + 1000))) as {
      started: { snapshotId: string }[];
    };
    const snapshotId = tick.started[0]?.snapshotId as string;
    const job = await jobDone('e2e', snapshotId);
    // Assess
    expect(job.status).toBe('SUCCEEDED');
    const snap = await c.pipeline.catalog.getSnapshot('e2e', snapshotId);
    expect(snap).toMatchObject({
      status: 'COMMITTED',
      objectCount: KEYS.length,
      regions: { 'eu-west-1': { status: 'COPIED' } },
    });
    expect(snap?.verification?.status).toBe('PASSED');
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      expect(snap?.verification?.tiers[tier]?.status).toBe('PASSED');
      expect(Object.keys(snap?.verification?.tiers[tier]?.regions ?? {}).sort()).toEqual([
        'eu-west-1',
        'us-east-1',
      ]);
    }
    const manifest = await readManifest(
      c.pipeline.vaults.primary,
      c.pipeline.envelope,
      'e2e',
      snap?.manifestId as string,
    );
    const entries = await readAllEntries(c.pipeline.vaults.primary, c.pipeline.envelope, manifest);
    expect(entries.map((e) => e.key).sort()).toEqual([...KEYS].sort());

    await stack.s3().send(new CreateBucketCommand({ Bucket: 'e2e-restore' }));
    const report = await restoreSnapshot(c.pipeline, {
      plan: 'e2e',
      snapshot: 'latest',
      targetBucket: 'e2e-restore',
      targetPrefix: 'out/',
      region: 'eu-west-1',
    });
    expect(report.objects).toBe(KEYS.length);
    for (const [i, key] of KEYS.entries()) {
      const out = await stack.s3().send(new GetObjectCommand({ Bucket: 'e2e-restore', Key: `out/${key}` }));
      expect(await out.Body?.transformToString()).toBe(key === 'empty' ? '' : `content of ${key} ${i}`);
      expect(out.ContentType).toBe('text/plain');
      expect(out.Metadata).toEqual({ n: String(i) });
    }
  });

  it('journals uploads and deletes through capture, with keys decoded as S3 encodes them', async () => {
    await stack
      .s3()
      .send(new PutObjectCommand({ Bucket: source, Key: 'new file+1 \u00e9.txt', Body: 'new' }));
    await stack.s3().send(new DeleteObjectCommand({ Bucket: source, Key: 'plain.txt' }));
    const journal = await waitFor('two journal entries', async () => {
      const entries = await c.pipeline.catalog.listJournal('e2e');
      return entries.length >= 2 ? entries : undefined;
    });
    expect(journal.map((e) => `${e.event} ${e.key}`).sort()).toEqual([
      'created new file+1 \u00e9.txt',
      'removed plain.txt',
    ]);
    expect(journal.find((e) => e.event === 'created')?.sizeBytes).toBe(3);
  });

  it('takes an incremental snapshot that reads nothing capture already stored', async () => {
    // An on-demand id (to the millisecond) in the second of the scheduled snapshot's id would sort
    // before it ('.' < 'Z'), and not take it as parent. That second (the plan's creation) passed
    // before the whole first test; should it not have, wait out the rest of it.
    const [scheduled] = await c.pipeline.catalog.listSnapshots('e2e');
    const rest = Math.floor(Date.parse(scheduled?.scheduledAt ?? '') / 1000) * 1000 + 1000 - Date.now();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    const started = await startSnapshotNow(c.pipeline, 'e2e');
    expect((await jobDone('e2e', started.snapshotId)).status).toBe('SUCCEEDED');
    const snap = await c.pipeline.catalog.getSnapshot('e2e', started.snapshotId);
    // The one new object was captured from its S3 event: its entry comes from the journal.
    expect(snap?.objectsRead).toBe(0);
    expect(snap?.objectCount).toBe(KEYS.length);
    const root = await readManifest(
      c.pipeline.vaults.primary,
      c.pipeline.envelope,
      'e2e',
      snap?.manifestId as string,
    );
    const added = (await readAllEntries(c.pipeline.vaults.primary, c.pipeline.envelope, root)).find(
      (e) => e.key === 'new file+1 \u00e9.txt',
    );
    const index = await VaultIndex.load(c.pipeline.vaults.primary, c.pipeline.envelope);
    expect(
      (
        await readEntryContent(c.pipeline.vaults.primary, c.pipeline.envelope, index, added as ManifestEntry)
      ).toString(),
    ).toBe('new');
    // keepLast 1: the first snapshot was forgotten; its record stays FORGOTTEN (the tombstone by which
    // a later prune deletes its root, younger than the grace period of one day), and no pack is deleted yet.
    const all = await c.pipeline.catalog.listSnapshots('e2e');
    expect(all.map((s) => s.status)).toEqual(['FORGOTTEN', 'COMMITTED']);
    expect(all[1]?.snapshotId).toBe(started.snapshotId);
    const prune = (await c.pipeline.catalog.listTasks(`e2e/${started.snapshotId}`)).find(
      (t) => t.taskId === 'prune',
    );
    expect(prune).toMatchObject({ status: 'SUCCEEDED', result: { forgotten: 1 } });
    // Garbage collection runs as one task per region (prune:<region>): nothing is deleted yet.
    const gc = await waitFor('garbage collection of the primary', async () =>
      (await c.pipeline.catalog.listTasks(`e2e/${started.snapshotId}`)).find(
        (t) => t.taskId === `prune:${c.pipeline.vaults.primary.region}` && t.status === 'SUCCEEDED',
      ),
    );
    expect(gc.result).toMatchObject({ manifestsDeleted: 0, packsDeleted: 0, indexesDeleted: 0 });
  });

  it('commits once when the same snapshot task is delivered twice at the same time', async () => {
    // Prepare: a job, and its task sent twice (at-least-once delivery); two pollers take both.
    await applyPlans(
      c.pipeline,
      {
        plans: [
          { id: 'dup', source: { bucket: source }, schedule: 'rate(1 hour)', retention: { keepLast: 5 } },
        ],
      },
      stack.copyRegions,
    );
    const scheduledAt = '2026-06-01T00:00:00.000Z';
    await c.pipeline.catalog.createJob(
      {
        jobId: 'dup/20260601T000000Z',
        planId: 'dup',
        snapshotId: '20260601T000000Z',
        status: 'RUNNING',
        createdAt: scheduledAt,
        updatedAt: scheduledAt,
      },
      { planId: 'dup', snapshotId: '20260601T000000Z', status: 'RUNNING', scheduledAt },
    );
    const snapshotsBefore = stack.dispatcher.invocations.filter(
      (i) => i.functionName === 'snapshot' && i.ok,
    ).length;
    const body = JSON.stringify({
      kind: 'snapshot-plan',
      planId: 'dup',
      snapshotId: '20260601T000000Z',
      scheduledAt,
    });
    // Act
    await Promise.all(
      [1, 2].map(() =>
        stack.sqs.send(
          new SendMessageCommand({ QueueUrl: stack.queues.SnapshotQueue?.url, MessageBody: body }),
        ),
      ),
    );
    const job = await jobDone('dup', '20260601T000000Z');
    // Assess: one committed snapshot whose manifest is complete; a losing twin's manifest is never visible.
    expect(job.status).toBe('SUCCEEDED');
    const snaps = await c.pipeline.catalog.listSnapshots('dup');
    expect(snaps.map((x) => x.status)).toEqual(['COMMITTED']);
    const manifest = await readManifest(
      c.pipeline.vaults.primary,
      c.pipeline.envelope,
      'dup',
      snaps[0]?.manifestId as string,
    );
    expect(manifest.totals.objectCount).toBe(snaps[0]?.objectCount);
    const entries = await readAllEntries(c.pipeline.vaults.primary, c.pipeline.envelope, manifest);
    expect(entries.length).toBe(snaps[0]?.objectCount);
    await waitFor('both deliveries handled', async () => {
      const n = stack.dispatcher.invocations.filter((i) => i.functionName === 'snapshot' && i.ok).length;
      return n - snapshotsBefore >= 2 ? n : undefined;
    });
    expect((await c.pipeline.catalog.listSnapshots('dup')).map((x) => [x.status, x.manifestId])).toEqual([
      ['COMMITTED', snaps[0]?.manifestId],
    ]);
    const report = await restoreSnapshot(c.pipeline, {
      plan: 'dup',
      targetBucket: 'e2e-restore',
      targetPrefix: 'dup/',
    });
    expect(report.objects).toBe(snaps[0]?.objectCount);
  });

  it('fails the job with the reason when the source bucket is missing, keeping earlier snapshots', async () => {
    await applyPlans(
      c.pipeline,
      {
        plans: [
          {
            id: 'gone',
            source: { bucket: 'no-such-bucket' },
            schedule: 'cron(0 3 1 1 ? *)', // never due while the file runs: one failing snapshot
            retention: { keepLast: 1 },
          },
        ],
      },
      stack.copyRegions,
    );
    const started = await startSnapshotNow(c.pipeline, 'gone');
    const job = await jobDone('gone', started.snapshotId);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/no-such-bucket.*missing or unreadable/);
    expect(
      (await c.pipeline.catalog.listSnapshots('e2e')).every((s) =>
        ['COMMITTED', 'FORGOTTEN'].includes(s.status),
      ),
    ).toBe(true);
  });

  it('sends a malformed task to the DLQ at once with the reason, and the rest of the pipeline goes on', async () => {
    const q = stack.queues;
    await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: q.VerifyQueue?.url, MessageBody: '{"kind":"verify","planId":' }),
    );
    const dead = await waitFor('a message in the verify DLQ', async () => {
      const out = await stack.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: q.VerifyDLQ?.url,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 1,
        }),
      );
      return out.Messages?.[0];
    });
    expect(dead.Body).toBe('{"kind":"verify","planId":');
    expect(dead.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue).toMatch(
      /ValidationError: task body is not JSON/,
    );
  });

  it('records an unknown plan on the DLQ message and fails nothing else', async () => {
    const q = stack.queues;
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: q.PruneQueue?.url,
        MessageBody: JSON.stringify({ kind: 'forget', planId: 'nope', snapshotId: '20260101T000000Z' }),
      }),
    );
    const dead = await waitFor('a message in the prune DLQ', async () => {
      const out = await stack.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: q.PruneDLQ?.url,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 1,
        }),
      );
      return out.Messages?.[0];
    });
    expect(dead.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue).toMatch(
      /NotFoundError: plan 'nope' does not exist/,
    );
  });

  it('retries a task that fails for a passing reason, then redrives it to the DLQ after maxReceiveCount', async () => {
    // A copy of a snapshot that is still RUNNING is retryable ("not committed yet").
    await c.pipeline.catalog.createJob(
      {
        jobId: 'e2e/20200101T000000Z',
        planId: 'e2e',
        snapshotId: '20200101T000000Z',
        status: 'RUNNING',
        createdAt: '2020-01-01T00:00:00.000Z',
        updatedAt: '2020-01-01T00:00:00.000Z',
      },
      {
        planId: 'e2e',
        snapshotId: '20200101T000000Z',
        status: 'RUNNING',
        scheduledAt: '2020-01-01T00:00:00.000Z',
      },
    );
    const body = JSON.stringify({
      kind: 'copy',
      planId: 'e2e',
      snapshotId: '20200101T000000Z',
      region: 'eu-west-1',
    });
    await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.queues.CopyQueue?.url, MessageBody: body }),
    );
    const dead = await waitFor(
      'the copy task in the copy DLQ',
      async () => {
        const out = await stack.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: stack.queues.CopyDLQ?.url,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
          }),
        );
        return out.Messages?.find((m) => m.Body === body);
      },
      30_000,
    );
    expect(dead.Body).toBe(body);
    const job = await c.pipeline.catalog.getJob('e2e/20200101T000000Z');
    expect(job?.status).toBe('FAILED');
    expect(job?.error).toMatch(/not committed yet \(failed 3 times; the task is in the DLQ\)/);
    const failures = stack.dispatcher.invocations.filter(
      (i) => i.functionName === 'copy' && i.batchItemFailures === 1,
    );
    expect(failures.length).toBeGreaterThanOrEqual(3);
    const attrs = await stack.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.queues.CopyQueue?.url,
        AttributeNames: ['RedrivePolicy'],
      }),
    );
    expect(JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}').maxReceiveCount).toBe(3);
  });
});
