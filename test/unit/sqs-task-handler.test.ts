import { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { IntegrityError, NotFoundError, TransientError } from '#domain/errors.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { TaskOn } from '#domain/tasks.ts';
import type { Config } from '#runtime/config.ts';
import type { Container } from '#runtime/container.ts';
import { DLQ_REASON_ATTRIBUTE, sqsTaskHandler } from '#runtime/sqs-task-handler.ts';
import { makeHandler as makeVerifyHandler } from '../../functions/verify.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';
import { sqsRecord } from '../support/sqs.ts';

const DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/111122223333/strongbox-verify-dlq';

const config = (overrides: Partial<Config> = {}): Config => testConfig({ dlqUrl: DLQ_URL, ...overrides });

const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'strongbox-verify',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:strongbox-verify',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  logGroupName: '/aws/lambda/strongbox-verify',
  logStreamName: '2026/03/01/[$LATEST]abcdef',
  getRemainingTimeInMillis: () => 60_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
} as Context;

const verifyBody = (snapshotId: string, planId = 'photos') =>
  JSON.stringify({ kind: 'verify', planId, snapshotId });

const sqsMock = mockClient(SQSClient);

/** The SendMessage inputs the handler sent to the DLQ, by source message id. */
function deadLettered() {
  return sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
}

describe('sqsTaskHandler', () => {
  let p: MemoryPipeline;

  function container(overrides: Partial<Config> = {}): Container {
    return {
      config: config(overrides),
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: silentMetrics(),
    };
  }

  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
    run.mockClear();
    p = memoryPipeline();
  });

  /** A use case that succeeds, or throws according to the snapshot id. */
  const run = vi.fn(async (task: TaskOn<'verify'>) => {
    if (task.snapshotId === 'transient') throw new TransientError('throttled');
    if (task.snapshotId === 'missing') throw new NotFoundError("plan 'photos' has no snapshot 'missing'");
    if (task.snapshotId === 'corrupt') throw new IntegrityError('blob does not hash to its address');
    if (task.snapshotId === 'crash') throw new Error('socket hang up');
    return { status: 'PASSED' };
  });

  function mixedBatch(): SQSEvent {
    return {
      Records: [
        sqsRecord('m-ok', verifyBody('ok')),
        sqsRecord('m-transient', verifyBody('transient')),
        sqsRecord('m-badjson', '{"kind": "verify", planId'),
        sqsRecord('m-missing', verifyBody('missing')),
      ],
    };
  }

  it('reports only the retryable record as a batch item failure', async () => {
    // Prepare
    const handler = sqsTaskHandler('verify', container(), run);
    // Act
    const response = await handler(mixedBatch(), context);
    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-transient' }] });
  });

  it('runs the use case for each parsable record, including the valid one', async () => {
    const handler = sqsTaskHandler('verify', container(), run);
    await handler(mixedBatch(), context);
    const ran = run.mock.calls.map(([task]) => task.snapshotId);
    expect(ran).toEqual(expect.arrayContaining(['ok', 'transient', 'missing']));
    expect(ran).toHaveLength(3);
    const okCall = run.mock.calls.findIndex(([task]) => task.snapshotId === 'ok');
    await expect(run.mock.results[okCall]?.value).resolves.toEqual({ status: 'PASSED' });
  });

  it('sends the bad-JSON and the NotFound records to the DLQ with the reason', async () => {
    // Prepare
    const handler = sqsTaskHandler('verify', container(), run);
    // Act
    await handler(mixedBatch(), context);
    // Assess
    const sent = deadLettered();
    expect(sent).toHaveLength(2);
    const bySource = new Map(
      sent.map((input) => [input.MessageAttributes?.['strongbox-source-message-id']?.StringValue, input]),
    );
    expect([...bySource.keys()].sort()).toEqual(['m-badjson', 'm-missing']);
    for (const input of sent) expect(input.QueueUrl).toBe(DLQ_URL);
    const badJson = bySource.get('m-badjson');
    expect(badJson?.MessageBody).toBe('{"kind": "verify", planId');
    expect(badJson?.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]).toEqual({
      DataType: 'String',
      StringValue: expect.stringMatching(/^ValidationError: task body is not JSON/),
    });
    const missing = bySource.get('m-missing');
    expect(missing?.MessageBody).toBe(verifyBody('missing'));
    expect(missing?.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue).toBe(
      "NotFoundError: plan 'photos' has no snapshot 'missing'",
    );
  });

  it('does not dead-letter the valid or the retryable record', async () => {
    const handler = sqsTaskHandler('verify', container(), run);
    await handler(mixedBatch(), context);
    const bodies = deadLettered().map((input) => input.MessageBody);
    expect(bodies).not.toContain(verifyBody('ok'));
    expect(bodies).not.toContain(verifyBody('transient'));
  });

  it('dead-letters an integrity failure rather than retrying it', async () => {
    const handler = sqsTaskHandler('verify', container(), run);
    const response = await handler({ Records: [sqsRecord('m-corrupt', verifyBody('corrupt'))] }, context);
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLettered()[0]?.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue).toMatch(
      /^IntegrityError:/,
    );
  });

  it('retries an error that is not a Strongbox error', async () => {
    const handler = sqsTaskHandler('verify', container(), run);
    const response = await handler({ Records: [sqsRecord('m-crash', verifyBody('crash'))] }, context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-crash' }]);
    expect(deadLettered()).toHaveLength(0);
  });

  it('dead-letters a task of another kind than the queue carries', async () => {
    const handler = sqsTaskHandler('verify', container(), run);
    const body = JSON.stringify({ kind: 'forget', planId: 'photos', snapshotId: 's1' });
    const response = await handler({ Records: [sqsRecord('m-kind', body)] }, context);
    expect(response.batchItemFailures).toEqual([]);
    expect(run).not.toHaveBeenCalled();
    expect(deadLettered()[0]?.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue).toMatch(
      /expected a task of the verify queue, got a forget task/,
    );
  });

  it('runs a record of an old shape as its new kind (in flight, or redriven from a DLQ)', async () => {
    const handler = sqsTaskHandler('verify', container(), run);
    const old = JSON.stringify({ kind: 'verify', planId: 'photos', snapshotId: 'ok', tier: 'deep' });
    const response = await handler({ Records: [sqsRecord('m-old', old)] }, context);
    expect(response.batchItemFailures).toEqual([]);
    expect(run.mock.calls.map(([task]) => task)).toEqual([
      { kind: 'verify-tier', planId: 'photos', snapshotId: 'ok', tier: 'deep' },
    ]);
  });

  it('reports a non-retryable record as a batch item failure when no DLQ is configured', async () => {
    // Prepare
    const handler = sqsTaskHandler('verify', container({ dlqUrl: undefined }), run);
    // Act
    const response = await handler(mixedBatch(), context);
    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
      'm-badjson',
      'm-missing',
      'm-transient',
    ]);
    expect(deadLettered()).toHaveLength(0);
  });

  it('retries a poison record when sending it to the DLQ fails, rather than losing it', async () => {
    sqsMock
      .on(SendMessageCommand)
      .rejects(Object.assign(new Error('service unavailable'), { name: 'ServiceUnavailable' }));
    const handler = sqsTaskHandler('verify', container(), run);
    const response = await handler({ Records: [sqsRecord('m-missing', verifyBody('missing'))] }, context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-missing' }]);
  });

  it('reports no failures when every record succeeds', async () => {
    const handler = sqsTaskHandler('verify', container(), run);
    const response = await handler(
      { Records: [sqsRecord('a', verifyBody('ok')), sqsRecord('b', verifyBody('ok'))] },
      context,
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(deadLettered()).toHaveLength(0);
  });

  it('truncates a long reason to 1000 characters', async () => {
    const handler = sqsTaskHandler('verify', container(), async () => {
      throw new NotFoundError('x'.repeat(5000));
    });
    await handler({ Records: [sqsRecord('m-long', verifyBody('s1'))] }, context);
    expect(deadLettered()[0]?.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue).toHaveLength(1000);
  });

  describe('recording poison tasks on their job', () => {
    async function createJob(snapshotId: string): Promise<string> {
      const jobId = `photos/${snapshotId}`;
      const now = p.clock.now().toISOString();
      await p.catalog.createJob(
        { jobId, planId: 'photos', snapshotId, status: 'RUNNING', createdAt: now, updatedAt: now },
        { planId: 'photos', snapshotId, status: 'COMMITTED', scheduledAt: now },
      );
      return jobId;
    }

    it('marks the job and the task FAILED with the reason', async () => {
      // Prepare
      const jobId = await createJob('missing');
      p.clock.advance(5000);
      const handler = sqsTaskHandler('verify', container(), run);
      // Act
      await handler(mixedBatch(), context);
      // Assess
      const job = await p.catalog.getJob(jobId);
      expect(job).toMatchObject({
        status: 'FAILED',
        error: "NotFoundError: plan 'photos' has no snapshot 'missing'",
        updatedAt: '2026-03-01T00:00:05.000Z',
      });
      const [task] = await p.catalog.listTasks(jobId);
      expect(task).toMatchObject({ taskId: 'verify', status: 'FAILED', error: job?.error });
    });

    it('does not touch the job of a retryable failure', async () => {
      const jobId = await createJob('transient');
      const handler = sqsTaskHandler('verify', container(), run);
      await handler(mixedBatch(), context);
      expect((await p.catalog.getJob(jobId))?.status).toBe('RUNNING');
    });

    it('records a retryable failure on the job when it happens on the last receive before the DLQ', async () => {
      // Prepare
      const jobId = await createJob('transient');
      const last = { ...sqsRecord('m-last', verifyBody('transient')) };
      last.attributes = { ...last.attributes, ApproximateReceiveCount: '3' };
      const handler = sqsTaskHandler('verify', container({ maxReceiveCount: 3 }), run);
      // Act
      const response = await handler({ Records: [last] }, context);
      // Assess: still a batch item failure (SQS moves it to the DLQ), and the job says why
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-last' }]);
      expect(await p.catalog.getJob(jobId)).toMatchObject({
        status: 'FAILED',
        error: 'TransientError: throttled (failed 3 times; the task is in the DLQ)',
      });
    });

    it('marks a snapshot FAILED when its snapshot task fails for the last time', async () => {
      const now = p.clock.now().toISOString();
      await p.catalog.createJob(
        {
          jobId: 'photos/s9',
          planId: 'photos',
          snapshotId: 's9',
          status: 'RUNNING',
          createdAt: now,
          updatedAt: now,
        },
        { planId: 'photos', snapshotId: 's9', status: 'RUNNING', scheduledAt: now },
      );
      const body = JSON.stringify({
        kind: 'snapshot-plan',
        planId: 'photos',
        snapshotId: 's9',
        scheduledAt: now,
      });
      const last = sqsRecord('m-snap', body);
      last.attributes = { ...last.attributes, ApproximateReceiveCount: '3' };
      const failing = vi.fn(async () => {
        throw new TransientError('SlowDown');
      });
      await sqsTaskHandler(
        'snapshot',
        container({ maxReceiveCount: 3 }),
        failing,
      )({ Records: [last] }, context);
      expect(await p.catalog.getSnapshot('photos', 's9')).toMatchObject({
        status: 'FAILED',
        error: expect.stringMatching(/SlowDown/),
      });
    });

    it('records the reason on the job of a task that does not parse but names its job', async () => {
      // Prepare
      const jobId = await createJob('s1');
      const body = JSON.stringify({ kind: 'verify', planId: 'photos', snapshotId: 's1', unexpected: true });
      const handler = sqsTaskHandler('verify', container(), run);
      // Act
      await handler({ Records: [sqsRecord('m-strict', body)] }, context);
      // Assess
      const job = await p.catalog.getJob(jobId);
      expect(job?.status).toBe('FAILED');
      expect(job?.error).toMatch(/^ValidationError: .*unexpected/);
    });

    it('records a poison partition of the old shape on its partition, failing its snapshot', async () => {
      // Prepare: a partition message sent before the kinds were explicit, with a field it never had.
      const jobId = 'photos/s9';
      const now = p.clock.now().toISOString();
      await p.catalog.createJob(
        { jobId, planId: 'photos', snapshotId: 's9', status: 'RUNNING', createdAt: now, updatedAt: now },
        { planId: 'photos', snapshotId: 's9', status: 'RUNNING', scheduledAt: now },
      );
      const old = {
        kind: 'snapshot',
        planId: 'photos',
        snapshotId: 's9',
        scheduledAt: now,
        partition: { index: 1 },
      };
      const handler = sqsTaskHandler('snapshot', container(), vi.fn());
      // Act
      await handler({ Records: [sqsRecord('m-part', JSON.stringify({ ...old, bogus: 1 }))] }, context);
      // Assess
      const [task] = await p.catalog.listTasks(jobId);
      expect(task).toMatchObject({ taskId: 'snapshot:p1', status: 'FAILED' });
      expect(task?.error).toMatch(/^partition 1: ValidationError: .*bogus/);
      expect((await p.catalog.getSnapshot('photos', 's9'))?.status).toBe('FAILED');
    });

    it('dead-letters a task whose job does not exist without creating one', async () => {
      const handler = sqsTaskHandler('verify', container(), run);
      await handler({ Records: [sqsRecord('m-missing', verifyBody('missing'))] }, context);
      expect(deadLettered()).toHaveLength(1);
      expect(p.catalog.jobs.size).toBe(0);
      expect(p.catalog.tasks.size).toBe(0);
    });
  });

  describe('the verify function', () => {
    it('verifies a valid task, retries a storage failure and dead-letters an unknown plan', async () => {
      // Prepare: two committed snapshots, and a job for a plan that does not exist.
      await p.catalog.putPlans([
        plan({ copyRegions: [] }),
        plan({ id: 'docs', copyRegions: [], source: { bucket: 'docs-bucket', prefix: '' } }),
      ]);
      for (const bucket of ['source', 'docs-bucket']) {
        p.objects.createBucket(bucket);
        await p.objects.put(bucket, 'a.txt', Buffer.from(`alpha in ${bucket}`), {});
      }
      const photos = await startSnapshotNow(p.deps, 'photos');
      const docs = await startSnapshotNow(p.deps, 'docs');
      // Snapshots only (plan, then partitions); the verify tasks they enqueue are the handler's to run.
      for (
        let tasks = p.queue.drain();
        tasks.some((t) => t.kind.startsWith('snapshot'));
        tasks = p.queue.drain()
      ) {
        for (const task of tasks) if (task.kind.startsWith('snapshot')) await p.run(task);
      }
      const ghostJob = 'ghost/20260301T000000Z';
      await p.catalog.createJob(
        {
          jobId: ghostJob,
          planId: 'ghost',
          snapshotId: '20260301T000000Z',
          status: 'RUNNING',
          createdAt: 'x',
          updatedAt: 'x',
        },
        { planId: 'ghost', snapshotId: '20260301T000000Z', status: 'COMMITTED', scheduledAt: 'x' },
      );
      p.primary.faults.push({
        op: 'get',
        prefix: 'manifests/docs/',
        onCall: 1,
        error: new TransientError('S3 503'),
      });
      const handler = makeVerifyHandler(container());
      // Act
      const response = await handler(
        {
          Records: [
            sqsRecord('m-ok', verifyBody(photos.snapshotId)),
            sqsRecord('m-flaky', verifyBody(docs.snapshotId, 'docs')),
            sqsRecord('m-ghost', verifyBody('20260301T000000Z', 'ghost')),
          ],
        },
        context,
      );
      // Assess
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-flaky' }]);
      expect((await p.catalog.getSnapshot('photos', photos.snapshotId))?.verification?.status).toBe('PASSED');
      expect((await p.catalog.getSnapshot('docs', docs.snapshotId))?.verification).toBeUndefined();
      expect(deadLettered()).toHaveLength(1);
      const [dead] = deadLettered();
      expect(dead?.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue).toBe(
        "NotFoundError: plan 'ghost' does not exist",
      );
      expect(await p.catalog.getJob(ghostJob)).toMatchObject({
        status: 'FAILED',
        error: "NotFoundError: plan 'ghost' does not exist",
      });
    });
  });
});
