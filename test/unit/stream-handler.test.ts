import { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { NotFoundError, TransientError, ValidationError } from '#domain/errors.ts';
import type { DynamoDBStreamRecord } from '#domain/table/stream.ts';
import { type PoisonStreamRecord, type StreamHandlerDeps, streamHandler } from '#runtime/stream-handler.ts';
import { silentMetrics } from '../support/metrics.ts';

const QUEUE = 'http://127.0.0.1/000000000000/strongbox-test-capture-failures';
const ARN = 'arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/2026-12-06T00:00:00.000';
const context = { getRemainingTimeInMillis: () => 60_000, functionName: 'captureTable' } as Context;

/** A record as Lambda delivers it; `pk` names the item, `seq` its sequence number. */
const record = (pk: string, seq: string, eventName = 'INSERT') => ({
  eventID: `id-${seq}`,
  eventName,
  eventVersion: '1.1',
  eventSource: 'aws:dynamodb',
  awsRegion: 'us-east-1',
  eventSourceARN: ARN,
  dynamodb: {
    ApproximateCreationDateTime: 1_796_000_000,
    Keys: { pk: { S: pk } },
    NewImage: { pk: { S: pk }, n: { N: '1' } },
    SequenceNumber: seq,
    SizeBytes: 20,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
});

describe('streamHandler', () => {
  const sent: PoisonStreamRecord[] = [];
  const send = vi.fn(async (command: SendMessageCommand) => {
    expect(command).toBeInstanceOf(SendMessageCommand);
    expect(command.input.QueueUrl).toBe(QUEUE);
    expect(command.input.MessageAttributes?.['strongbox-error-reason']?.StringValue).toBeTruthy();
    sent.push(JSON.parse(command.input.MessageBody ?? '') as PoisonStreamRecord);
    return {};
  });
  const deps = (): StreamHandlerDeps => ({
    logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
    metrics: silentMetrics(),
    sqs: { send } as unknown as SQSClient,
    config: { dlqUrl: QUEUE },
  });
  const seen: string[] = [];
  /** Fails by item: `transient` retryably, `gone` for good. */
  const run = async (r: DynamoDBStreamRecord) => {
    seen.push(r.dynamodb.SequenceNumber);
    const pk = r.dynamodb.Keys.pk as { S: string };
    if (pk.S === 'transient') throw new TransientError('throttled');
    if (pk.S === 'gone') throw new NotFoundError('table orders no longer exists');
    return { status: 'journaled', pk: pk.S };
  };

  beforeEach(() => {
    sent.length = 0;
    seen.length = 0;
    send.mockClear();
  });

  it('runs every record in order and reports no failure', async () => {
    const outcomes: unknown[] = [];
    const handler = streamHandler(deps(), run, (o) => outcomes.push(o));
    const out = await handler(
      { Records: [record('a', '100'), record('b', '200'), record('c', '300')] },
      context,
    );
    expect(out).toEqual({ batchItemFailures: [] });
    expect(seen).toEqual(['100', '200', '300']);
    expect(outcomes).toEqual(['a', 'b', 'c'].map((pk) => ({ status: 'journaled', pk })));
    expect(send).not.toHaveBeenCalled();
  });

  it('stops at the first retryable failure and reports its sequence number (later records do not run)', async () => {
    const handler = streamHandler(deps(), run);
    const out = await handler(
      { Records: [record('a', '100'), record('transient', '200'), record('c', '300')] },
      context,
    );
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
    expect(seen).toEqual(['100', '200']);
  });

  it('parks an invalid record with its reason on the failure queue and goes on', async () => {
    const handler = streamHandler(deps(), run);
    const bad = { ...record('x', '150'), eventName: 'UPSERT' };
    const out = await handler({ Records: [record('a', '100'), bad, record('c', '300')] }, context);
    expect(out).toEqual({ batchItemFailures: [] });
    expect(seen).toEqual(['100', '300']);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.kind).toBe('dynamodb-stream-record');
    expect(sent[0]?.reason).toMatch(/eventName/);
    expect(sent[0]?.record).toEqual(bad);
  });

  it('parks a record that fails for good with the reason and goes on', async () => {
    const handler = streamHandler(deps(), run);
    const out = await handler({ Records: [record('gone', '100'), record('c', '300')] }, context);
    expect(out).toEqual({ batchItemFailures: [] });
    expect(seen).toEqual(['100', '300']);
    expect(sent[0]?.reason).toMatch(/NotFoundError: table orders no longer exists/);
    expect(sent[0]?.record).toMatchObject({ dynamodb: { SequenceNumber: '100' } });
  });

  it('retries from a poison record the failure queue could not take', async () => {
    send.mockRejectedValueOnce(new Error('connect ECONNREFUSED'));
    const handler = streamHandler(deps(), run);
    const out = await handler(
      { Records: [record('a', '100'), record('gone', '200'), record('c', '300')] },
      context,
    );
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
    expect(seen).toEqual(['100', '200']);
  });

  it('parks an event that is not a stream event, and retries nothing', async () => {
    const handler = streamHandler(deps(), async () => {
      throw new ValidationError('never called', '');
    });
    const out = await handler({ hello: 'world' }, context);
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sent[0]?.reason).toMatch(/not a DynamoDB stream event: Records/);
    expect(sent[0]?.record).toEqual({ hello: 'world' });
  });
});
