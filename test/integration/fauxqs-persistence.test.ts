/**
 * The patched fauxqs SQS emulator with a data directory (what `npm start`'s stack runs: state that
 * outlives the process, patches/fauxqs+2.4.1.patch): a received message made visible again, at once
 * (ChangeMessageVisibility to 0, how `strongbox capture replay` puts back what it did not replay) or
 * when its visibility timeout runs out, is received again, as SQS does. Unpatched, its receive count
 * was written as NULL into a NOT NULL column after it had left the in-flight map: the call failed,
 * and the message was gone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let server: FauxqsServer;
let sqs: SQSClient;
let queueUrl: string;

async function start(): Promise<void> {
  server = await startFauxqs({ port: 0, logger: false, defaultRegion: 'us-east-1', dataDir: dir });
  sqs = new SQSClient({
    endpoint: server.address,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1, // a failed call is seen as it is, not retried into another error
  });
}

async function receive(visibilityTimeout = 60) {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      VisibilityTimeout: visibilityTimeout,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
  );
  return out.Messages ?? [];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongbox-fauxqs-'));
  await start();
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'persisted' }))).QueueUrl as string;
});

afterAll(async () => {
  sqs?.destroy();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('fauxqs with a data directory', () => {
  it('receives again a message made visible at once, one at a time or in a batch, counting receives', async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'one' }));
    const [first] = await receive();
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: first?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const [second] = await receive();
    expect(second?.Body).toBe('one');
    expect(second?.Attributes?.ApproximateReceiveCount).toBe('2');
    const batch = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: [{ Id: '0', ReceiptHandle: second?.ReceiptHandle, VisibilityTimeout: 0 }],
      }),
    );
    expect(batch.Failed ?? []).toEqual([]);
    const [third] = await receive(1);
    expect(third?.Attributes?.ApproximateReceiveCount).toBe('3');
  });

  it('receives again a message whose visibility timeout ran out, and still after a restart', async () => {
    // The message of the test above is in flight for 1 s
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const [again] = await receive(1);
    expect(again?.Body).toBe('one');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await server.stop();
    await start();
    const [afterRestart] = await receive();
    expect(afterRestart?.Body).toBe('one');
  });
});
