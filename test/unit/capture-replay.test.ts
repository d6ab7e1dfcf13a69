// `strongbox capture replay`: capture runs again on each S3 event of its failure queue, and a
// message is deleted only once capture succeeded. The use case on an in-memory queue; the
// command on a deployed stage (Lambda and SQS mocked) and through the embedded stack's dispatcher.
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqsCaptureFailureQueue } from '#adapters/capture-replay.ts';
import {
  type CaptureFailureQueue,
  type ReceivedFailure,
  replayCaptureFailures,
} from '#domain/capture-replay.ts';
import { TransientError } from '#domain/errors.ts';
import { buildCli } from '#local/cli/index.ts';

/** Lambda's invocation record of an S3 event capture failed on. */
function failureRecord(key: string, error = 'TransientError: catalog unreachable') {
  const [errorType, errorMessage] = error.split(': ');
  return JSON.stringify({
    version: '1.0',
    timestamp: '2026-12-01T10:00:00.000Z',
    requestContext: {
      requestId: 'r',
      functionArn: 'arn:aws:lambda:us-east-1:1:function:strongbox-prod-capture:$LATEST',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload: {
      Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'src' }, object: { key } } }],
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType, errorMessage },
  });
}

/** A queue in memory with SQS's visibility: a received message is hidden until deleted or released. */
class FakeFailureQueue implements CaptureFailureQueue {
  readonly visible: ReceivedFailure[] = [];
  readonly hidden = new Map<string, ReceivedFailure>();
  readonly deleted: string[] = [];
  constructor(bodies: string[]) {
    bodies.forEach((body, i) => {
      this.visible.push({ messageId: `m${i}`, receiptHandle: `h${i}`, body });
    });
  }
  async receive(max: number): Promise<ReceivedFailure[]> {
    const batch = this.visible.splice(0, max);
    for (const m of batch) this.hidden.set(m.receiptHandle, m);
    return batch;
  }
  async delete(receiptHandle: string): Promise<void> {
    const m = this.hidden.get(receiptHandle);
    if (!m) throw new Error(`no received message ${receiptHandle}`);
    this.hidden.delete(receiptHandle);
    this.deleted.push(m.messageId);
  }
  async release(receiptHandles: readonly string[]): Promise<void> {
    for (const h of receiptHandles) {
      const m = this.hidden.get(h);
      if (m) this.visible.push(m);
      this.hidden.delete(h);
    }
  }
}

describe('replayCaptureFailures', () => {
  it('runs capture on each failed event and deletes only the messages capture succeeded on', async () => {
    // Prepare: three failed events; capture fails again on b.txt
    const queue = new FakeFailureQueue([
      failureRecord('a.txt'),
      failureRecord('b.txt'),
      failureRecord('c.txt'),
    ]);
    const invoked: unknown[] = [];
    const capture = async (event: unknown) => {
      invoked.push(event);
      if (JSON.stringify(event).includes('b.txt')) throw new Error('still failing');
    };
    // Act
    const report = await replayCaptureFailures({ failures: queue, capture });
    // Assess: capture got the original events; a and c deleted, b back in the queue
    expect(invoked).toEqual(
      ['a.txt', 'b.txt', 'c.txt'].map((k) => JSON.parse(failureRecord(k)).requestPayload),
    );
    expect(queue.deleted).toEqual(['m0', 'm2']);
    expect(queue.visible.map((m) => m.messageId)).toEqual(['m1']);
    expect(report).toMatchObject({ received: 3, replayed: 2, failed: 1, unreadable: 0, dryRun: false });
    expect(report.messages[1]).toMatchObject({
      status: 'failed',
      objects: ['s3://src/b.txt'],
      error: 'TransientError: catalog unreachable',
      replayError: 'Error: still failing',
    });
  });

  it('stops after --max messages', async () => {
    const queue = new FakeFailureQueue(['a', 'b', 'c', 'd'].map((k) => failureRecord(k)));
    const report = await replayCaptureFailures({ failures: queue, capture: async () => {} }, { max: 2 });
    expect(report.replayed).toBe(2);
    expect(queue.deleted).toEqual(['m0', 'm1']);
    expect(queue.visible).toHaveLength(2);
  });

  it('with --dry-run, lists the failed events and neither runs capture nor deletes', async () => {
    const queue = new FakeFailureQueue([failureRecord('a.txt'), failureRecord('b.txt')]);
    const capture = vi.fn(async () => {});
    const report = await replayCaptureFailures({ failures: queue, capture }, { dryRun: true });
    expect(capture).not.toHaveBeenCalled();
    expect(queue.deleted).toEqual([]);
    expect(queue.visible).toHaveLength(2);
    expect(report.messages.map((m) => [m.status, m.objects])).toEqual([
      ['listed', ['s3://src/a.txt']],
      ['listed', ['s3://src/b.txt']],
    ]);
  });

  it('keeps a message that is not an invocation record of an S3 event, and says so', async () => {
    const queue = new FakeFailureQueue(['not json', JSON.stringify({ requestPayload: { hello: 1 } })]);
    const capture = vi.fn(async () => {});
    const report = await replayCaptureFailures({ failures: queue, capture });
    expect(capture).not.toHaveBeenCalled();
    expect(report).toMatchObject({ received: 2, unreadable: 2, replayed: 0 });
    expect(queue.visible).toHaveLength(2);
  });
});

describe('strongbox --stage STAGE capture replay', () => {
  const lambda = mockClient(LambdaClient);
  const sqs = mockClient(SQSClient);
  let out: string[];
  const queueUrl = 'https://sqs.us-east-1.amazonaws.com/1/strongbox-prod-capture-failures';

  beforeEach(() => {
    lambda.reset();
    sqs.reset();
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    out = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      out.push(args.join(' '));
    });
    process.exitCode = undefined;
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  it('invokes the deployed capture function with each event and deletes the message only when it succeeded', async () => {
    // Prepare
    lambda
      .on(GetFunctionConfigurationCommand)
      .resolves({ Environment: { Variables: { STRONGBOX_CAPTURE_FAILURE_QUEUE_URL: queueUrl } } });
    const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)) as never;
    lambda
      .on(InvokeCommand)
      .resolvesOnce({ StatusCode: 200, Payload: encode({ outcomes: [] }) })
      .resolvesOnce({
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: encode({ errorType: 'TransientError', errorMessage: 'vault unreachable' }),
      });
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          { MessageId: 'm1', ReceiptHandle: 'h1', Body: failureRecord('a.txt') },
          { MessageId: 'm2', ReceiptHandle: 'h2', Body: failureRecord('b.txt') },
        ],
      })
      .resolves({ Messages: [] });
    // Act
    await buildCli().parseAsync(['node', 'strongbox', '--stage', 'prod', 'capture', 'replay']);
    // Assess
    expect(lambda.commandCalls(GetFunctionConfigurationCommand)[0]?.args[0].input.FunctionName).toBe(
      'strongbox-prod-capture',
    );
    const invokes = lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input);
    expect(invokes.map((i) => i.FunctionName)).toEqual(['strongbox-prod-capture', 'strongbox-prod-capture']);
    expect(invokes.map((i) => i.InvocationType)).toEqual(['RequestResponse', 'RequestResponse']);
    expect(JSON.parse(Buffer.from(invokes[0]?.Payload as Uint8Array).toString())).toEqual(
      JSON.parse(failureRecord('a.txt')).requestPayload,
    );
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.QueueUrl).toBe(queueUrl);
    expect(sqs.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle)).toEqual(['h1']);
    expect(
      sqs.commandCalls(ChangeMessageVisibilityBatchCommand).flatMap((c) => c.args[0].input.Entries),
    ).toEqual([{ Id: '0', ReceiptHandle: 'h2', VisibilityTimeout: 0 }]);
    expect(out.at(-1)).toBe('2 received, 1 replayed and deleted, 1 failed again (kept), 0 unreadable (kept)');
    expect(out.join('\n')).toContain('s3://src/b.txt');
    expect(out.join('\n')).toContain('TransientError: vault unreachable');
    expect(process.exitCode).toBe(1);
  });

  it('--dry-run --max 1 lists one event and invokes and deletes nothing', async () => {
    lambda
      .on(GetFunctionConfigurationCommand)
      .resolves({ Environment: { Variables: { STRONGBOX_CAPTURE_FAILURE_QUEUE_URL: queueUrl } } });
    sqs
      .on(ReceiveMessageCommand)
      .resolves({ Messages: [{ MessageId: 'm1', ReceiptHandle: 'h1', Body: failureRecord('a.txt') }] });
    await buildCli().parseAsync([
      'node',
      'strongbox',
      '--stage',
      'prod',
      'capture',
      'replay',
      '--dry-run',
      '--max',
      '1',
    ]);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.MaxNumberOfMessages).toBe(1);
    expect(out.at(-1)).toBe('dry run: 1 failed event(s) in the queue, none replayed');
  });
});

describe('SqsCaptureFailureQueue.release', () => {
  it('says when SQS did not make every message visible again (a batch answers 200 with its failures)', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({
      Successful: [{ Id: '0' }],
      Failed: [
        {
          Id: '1',
          SenderFault: true,
          Code: 'ReceiptHandleIsInvalid',
          Message: 'The input receipt handle is invalid.',
        },
      ],
    });
    const queue = new SqsCaptureFailureQueue(
      new SQSClient({ region: 'us-east-1' }),
      'https://sqs.us-east-1.amazonaws.com/1/q',
    );
    const released = queue.release(['a', 'b']);
    await expect(released).rejects.toThrow(TransientError);
    await expect(released).rejects.toThrow('1 capture failure(s) not released at once');
    sqs.restore();
  });
});
