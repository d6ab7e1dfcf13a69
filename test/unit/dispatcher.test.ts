import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeS3Key } from '#domain/capture.ts';
import {
  type AsyncFailureRecord,
  currentInvocation,
  encodeS3EventKey,
  LocalDispatcher,
  type LocalFunction,
} from '#local/dispatcher.ts';

function recorder(name: string, respond: (event: unknown) => unknown = () => ({})) {
  const events: unknown[] = [];
  const fn: LocalFunction = {
    name,
    timeoutSeconds: 60,
    handler: async (event) => {
      events.push(event);
      return respond(event);
    },
  };
  return { fn, events };
}

describe('LocalDispatcher schedules', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-05-01T10:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires a rate() schedule one period after start, then every period, with the EventBridge payload', async () => {
    const { fn, events } = recorder('scheduler');
    const d = new LocalDispatcher({
      functions: [fn],
      sqs: new SQSClient({}),
      region: 'us-east-1',
      schedules: [{ functionName: 'scheduler', expression: 'rate(5 minutes)' }],
      s3: [],
      queues: [],
    });
    d.start(new Date());
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    expect(events).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: '2026-05-01T10:05:00Z',
      region: 'us-east-1',
    });
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(events).toHaveLength(2);
    await d.stop();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(events).toHaveLength(2);
  });

  it('fires a cron() schedule at its own times', async () => {
    const { fn, events } = recorder('scheduler');
    const d = new LocalDispatcher({
      functions: [fn],
      sqs: new SQSClient({}),
      region: 'us-east-1',
      schedules: [{ functionName: 'scheduler', expression: 'cron(0/15 * * * ? *)' }],
      s3: [],
      queues: [],
    });
    vi.setSystemTime(new Date('2026-05-01T10:07:00Z'));
    d.start(new Date());
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    expect(events.map((e) => (e as { time: string }).time)).toEqual([
      '2026-05-01T10:15:00Z',
      '2026-05-01T10:30:00Z',
    ]);
    await d.stop();
  });
});

describe('LocalDispatcher S3 notifications', () => {
  it('encodes keys as S3 does in event records, and they decode back', () => {
    expect(encodeS3EventKey('photos/red flower+1 \u00e9.jpg')).toBe('photos/red+flower%2B1+%C3%A9.jpg');
    for (const key of ['a b', 'a+b', '\u00fcber/\u00e9t\u00e9', '100%', 'x=y&z', 'emoji \u{1F600}']) {
      expect(decodeS3Key(encodeS3EventKey(key))).toBe(key);
    }
  });

  it('delivers ObjectCreated and ObjectRemoved records to the subscribed function only, with increasing sequencers', async () => {
    const { fn, events } = recorder('capture');
    const d = new LocalDispatcher({
      functions: [fn],
      sqs: new SQSClient({}),
      region: 'us-east-1',
      schedules: [],
      s3: [
        { functionName: 'capture', bucket: 'src', event: 's3:ObjectCreated:*' },
        { functionName: 'capture', bucket: 'src', event: 's3:ObjectRemoved:*' },
      ],
      queues: [],
    });
    d.start();
    d.observeS3({ bucket: 'src', key: 'a b.txt', status: 'uploaded', size: 3, eTag: 'abc' });
    d.observeS3({ bucket: 'src', key: 'a b.txt', status: 'deleted' });
    d.observeS3({ bucket: 'other', key: 'x', status: 'uploaded', size: 1, eTag: 'e' });
    await d.settled();
    await d.stop();
    const records = events.map(
      (e) => (e as { Records: { eventName: string; s3: { object: Record<string, unknown> } }[] }).Records[0],
    );
    expect(records.map((r) => r?.eventName)).toEqual(['ObjectCreated:Put', 'ObjectRemoved:Delete']);
    expect(records[0]?.s3.object).toMatchObject({ key: 'a+b.txt', size: 3, eTag: 'abc' });
    expect(records[1]?.s3.object.size).toBeUndefined();
    expect(String(records[0]?.s3.object.sequencer) < String(records[1]?.s3.object.sequencer)).toBe(true);
  });
});

describe('LocalDispatcher asynchronous invocation failures', () => {
  const failureQueue = { queueUrl: 'http://sqs.local/capture-failures', queueArn: 'arn:aws:sqs:local:0:cf' };
  const dispatcher = (fn: LocalFunction, sqs: SQSClient) =>
    new LocalDispatcher({
      functions: [fn],
      sqs,
      region: 'us-east-1',
      schedules: [],
      s3: [{ functionName: 'capture', bucket: 'src', event: 's3:ObjectCreated:*' }],
      queues: [],
    });

  it('after the first try and maximumRetryAttempts retries, sends the event and its error to the onFailure queue', async () => {
    // Prepare: capture fails every time
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'f1' });
    let calls = 0;
    const fn: LocalFunction = {
      name: 'capture',
      timeoutSeconds: 60,
      maximumRetryAttempts: 1,
      onFailure: failureQueue,
      handler: async () => {
        calls += 1;
        throw new TypeError('vault unreachable');
      },
    };
    const d = dispatcher(fn, sqs as unknown as SQSClient);
    d.start();
    // Act
    d.observeS3({ bucket: 'src', key: 'a.txt', status: 'uploaded', size: 1, eTag: 'e' });
    await d.settled();
    await d.stop();
    // Assess: 2 tries, then Lambda's invocation record on the queue
    expect(calls).toBe(2);
    const sent = sqs.commandCalls(SendMessageCommand);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.args[0].input.QueueUrl).toBe(failureQueue.queueUrl);
    const record = JSON.parse(String(sent[0]?.args[0].input.MessageBody)) as AsyncFailureRecord;
    expect(record).toMatchObject({
      version: '1.0',
      requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 2 },
      responseContext: { functionError: 'Unhandled' },
      responsePayload: { errorType: 'TypeError', errorMessage: 'vault unreachable' },
    });
    const event = record.requestPayload as {
      Records: { eventName: string; s3: { object: { key: string } } }[];
    };
    expect(event.Records.map((r) => [r.eventName, r.s3.object.key])).toEqual([
      ['ObjectCreated:Put', 'a.txt'],
    ]);
    sqs.restore();
  });

  it('sends nothing to the onFailure queue when a retry succeeds', async () => {
    const sqs = mockClient(SQSClient);
    let calls = 0;
    const flaky: LocalFunction = {
      name: 'capture',
      timeoutSeconds: 60,
      onFailure: failureQueue,
      handler: async () => {
        calls += 1;
        if (calls < 3) throw new Error('throttled');
        return {};
      },
    };
    const d = dispatcher(flaky, sqs as unknown as SQSClient);
    d.start();
    d.observeS3({ bucket: 'src', key: 'b.txt', status: 'uploaded', size: 1, eTag: 'e' });
    await d.settled();
    await d.stop();
    expect(calls).toBe(3); // the first try and Lambda's default two retries
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    sqs.restore();
  });
});

describe('LocalDispatcher SQS event source mappings', () => {
  it('deletes the messages that succeeded and leaves the reported batch item failures on the queue', async () => {
    const sqs = mockClient(SQSClient);
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          { MessageId: 'm1', ReceiptHandle: 'r1', Body: 'ok', Attributes: { ApproximateReceiveCount: '1' } },
          {
            MessageId: 'm2',
            ReceiptHandle: 'r2',
            Body: 'fail',
            Attributes: { ApproximateReceiveCount: '2' },
          },
        ],
      })
      .resolves({ Messages: [] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const { fn, events } = recorder('verify', (event) => ({
      batchItemFailures: (event as { Records: { messageId: string; body: string }[] }).Records.filter(
        (r) => r.body === 'fail',
      ).map((r) => ({ itemIdentifier: r.messageId })),
    }));
    const d = new LocalDispatcher({
      functions: [fn],
      sqs: new SQSClient({ region: 'us-east-1' }),
      region: 'us-east-1',
      schedules: [],
      s3: [],
      queues: [
        {
          functionName: 'verify',
          queueUrl: 'http://q/verify',
          queueArn: 'arn:aws:sqs:us-east-1:000000000000:verify',
          batchSize: 10,
          reportBatchItemFailures: true,
          concurrency: 1,
        },
      ],
    });
    d.start();
    await vi.waitFor(() => expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(1));
    await d.stop();
    const batch = events[0] as {
      Records: { messageId: string; eventSource: string; attributes: { ApproximateReceiveCount: string } }[];
    };
    expect(batch.Records.map((r) => r.messageId)).toEqual(['m1', 'm2']);
    expect(batch.Records[1]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(batch.Records[0]?.eventSource).toBe('aws:sqs');
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]?.args[0].input.Entries).toEqual([
      { Id: '0', ReceiptHandle: 'r1' },
    ]);
    sqs.restore();
  });
});

describe('LocalDispatcher invocation context', () => {
  it('tells the code an invocation runs which function it is, and nothing outside one', async () => {
    const seen: unknown[] = [];
    const fn: LocalFunction = {
      name: 'verify',
      timeoutSeconds: 60,
      handler: async () => {
        await new Promise((r) => setTimeout(r, 1)); // across an await, as an SDK call would be
        seen.push(currentInvocation.getStore());
        return {};
      },
    };
    const d = new LocalDispatcher({
      functions: [fn],
      sqs: new SQSClient({}),
      region: 'us-east-1',
      schedules: [],
      s3: [],
      queues: [],
    });
    const running = d.invoke('verify', {});
    expect(d.activeInvocations).toBe(1);
    await running;
    expect(d.activeInvocations).toBe(0);
    expect(seen).toEqual([{ functionName: 'verify', source: 'manual' }]);
    expect(currentInvocation.getStore()).toBeUndefined();
  });
});
