/**
 * Capture's failure destination on the embedded stack: serverless.yml's `destinations.onFailure`
 * makes the dispatcher send an S3 event capture keeps failing on (here: its DynamoDB endpoint is
 * unreachable) to the capture failure queue after Lambda's retries, instead of dropping it; once
 * the cause is gone, `strongbox capture replay`'s wiring runs capture again on it through a
 * dispatcher, the change is journaled and the message deleted.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { replayCaptureFailures } from '#domain/capture-replay.ts';
import { CAPTURE_FAILURE_QUEUE_VARIABLE, localCaptureReplay } from '#local/capture-replay.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';
import { waitFor } from '../support/wait.ts';

let stack: LocalStack;
let healthy: Record<string, string>;
let c: Container;
let source: string;

beforeAll(async () => {
  // Every function's DynamoDB endpoint points at a closed port: capture fails, retryably, every time.
  stack = await startLocalStack({
    logLevel: 'SILENT',
    environment: { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' },
  });
  healthy = { ...stack.env('capture'), AWS_ENDPOINT_URL_DYNAMODB: stack.endpoints.dynamodb };
  c = createContainer(loadConfig(healthy));
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: 'live',
          source: { bucket: source, prefix: '' },
          schedule: 'rate(1 day)',
          retention: { keepLast: 1 },
        },
      ],
    },
    stack.copyRegions,
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('capture failure queue on the embedded stack', () => {
  it('keeps an event capture failed after its retries, and capture replay journals it and empties the queue', async () => {
    // Prepare: the failure queue serverless.yml names, from capture's environment
    const queueUrl = healthy[CAPTURE_FAILURE_QUEUE_VARIABLE] as string;
    expect(queueUrl).toContain('capture-failures');
    const depth = async () =>
      Number(
        (
          await stack.sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: queueUrl,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          )
        ).Attributes?.ApproximateNumberOfMessages ?? 0,
      );
    // Act 1: an upload capture cannot journal
    await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: 'lost/a.txt', Body: 'alpha' }));
    await waitFor('the failed event in the capture failure queue', async () =>
      (await depth()) >= 1 ? true : undefined,
    );
    // Assess 1: three tries (the first and two retries), nothing journaled, one message
    const tries = stack.dispatcher.invocations.filter(
      (i) => i.functionName === 'capture' && i.source === 's3',
    );
    expect(tries.map((i) => i.ok)).toEqual([false, false, false]);
    expect(await c.pipeline.catalog.listJournalForKey('live', 'lost/a.txt')).toEqual([]);
    expect(await depth()).toBe(1);
    // Act 2: the cause is gone; replay through the embedded stack's wiring (capture's handler, healthy)
    const report = await replayCaptureFailures(await localCaptureReplay(healthy));
    // Assess 2
    expect(report).toMatchObject({ received: 1, replayed: 1, failed: 0, unreadable: 0 });
    expect(report.messages[0]?.objects).toEqual([`s3://${source}/lost/a.txt`]);
    const [entry] = await c.pipeline.catalog.listJournalForKey('live', 'lost/a.txt');
    expect(entry).toMatchObject({ outcome: 'captured', sizeBytes: 5 });
    expect(await depth()).toBe(0);
  }, 120_000);
});
