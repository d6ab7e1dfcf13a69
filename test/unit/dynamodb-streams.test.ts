import type { _Record as SdkStreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import { DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import {
  type DynamoDbStreamMapping,
  DynamoDbStreamPoller,
  type LambdaStreamRecord,
  lambdaStreamRecord,
  streamArnInRegion,
  streamBatchFailureRecord,
} from '#local/dynamodb-streams.ts';

const LOCAL_ARN = 'arn:aws:dynamodb:ddblocal:000000000000:table/orders/stream/2026-12-06T07:23:00.530';

/** A record as the SDK returns it from DynamoDB Local (Dates, Uint8Arrays, no eventSourceARN). */
const sdkRecord = (): SdkStreamRecord => ({
  eventID: 'ad4a1c8e-6bd3-4ad7-804e-e605b7f291f2',
  eventName: 'MODIFY',
  eventVersion: '1.1',
  eventSource: 'aws:dynamodb',
  awsRegion: 'ddblocal',
  dynamodb: {
    ApproximateCreationDateTime: new Date('2026-12-06T07:23:00.000Z'),
    Keys: { pk: { S: 'a' } },
    NewImage: {
      pk: { S: 'a' },
      blob: { B: new Uint8Array([1, 2, 3]) },
      blobs: { BS: [new Uint8Array([255]), new Uint8Array([0, 1])] },
      nested: { M: { inner: { L: [{ B: new Uint8Array([104, 105]) }, { N: '7' }, { NULL: true }] } } },
      tags: { SS: ['x', 'y'] },
      ok: { BOOL: false },
    },
    OldImage: { pk: { S: 'a' }, n: { N: '1' } },
    SequenceNumber: '000000000000000000002',
    SizeBytes: 42,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
});

describe('lambdaStreamRecord', () => {
  it('gives the record Lambda’s JSON form: epoch seconds, base64 binaries, the stream ARN in the stack’s region', () => {
    const r = lambdaStreamRecord(sdkRecord(), LOCAL_ARN, 'us-east-1');
    expect(r).toEqual({
      eventID: 'ad4a1c8e-6bd3-4ad7-804e-e605b7f291f2',
      eventName: 'MODIFY',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: 'us-east-1',
      dynamodb: {
        ApproximateCreationDateTime: Date.parse('2026-12-06T07:23:00.000Z') / 1000,
        Keys: { pk: { S: 'a' } },
        NewImage: {
          pk: { S: 'a' },
          blob: { B: 'AQID' },
          blobs: { BS: ['/w==', 'AAE='] },
          nested: { M: { inner: { L: [{ B: 'aGk=' }, { N: '7' }, { NULL: true }] } } },
          tags: { SS: ['x', 'y'] },
          ok: { BOOL: false },
        },
        OldImage: { pk: { S: 'a' }, n: { N: '1' } },
        SequenceNumber: '000000000000000000002',
        SizeBytes: 42,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
      eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-12-06T07:23:00.530',
    });
    // It survives JSON (the function host's IPC) unchanged, and the handler's schema accepts it.
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(DynamoDBStreamRecordSchema.safeParse(r).success).toBe(true);
  });

  it('keeps a REMOVE’s old image and no new image; a KEYS_ONLY record has Keys alone', () => {
    const remove = sdkRecord();
    remove.eventName = 'REMOVE';
    delete remove.dynamodb?.NewImage;
    const r = lambdaStreamRecord(remove, LOCAL_ARN, 'eu-west-1');
    expect(r.dynamodb.NewImage).toBeUndefined();
    expect(r.dynamodb.OldImage).toEqual({ pk: { S: 'a' }, n: { N: '1' } });
    const keysOnly = lambdaStreamRecord(
      {
        eventName: 'INSERT',
        eventID: 'e',
        dynamodb: { Keys: { pk: { N: '1' } }, SequenceNumber: '5', StreamViewType: 'KEYS_ONLY' },
      },
      LOCAL_ARN,
      'eu-west-1',
    );
    expect(keysOnly.dynamodb).toEqual({
      Keys: { pk: { N: '1' } },
      SequenceNumber: '5',
      StreamViewType: 'KEYS_ONLY',
    });
    expect(keysOnly.eventSourceARN).toMatch(/^arn:aws:dynamodb:eu-west-1:/);
  });
});

describe('streamBatchFailureRecord', () => {
  it('describes the discarded batch as Lambda’s on-failure record: shard, first and last sequence numbers, arrivals, size', () => {
    const first = lambdaStreamRecord(sdkRecord(), LOCAL_ARN, 'us-east-1');
    const second = lambdaStreamRecord(
      {
        ...sdkRecord(),
        dynamodb: {
          ...sdkRecord().dynamodb,
          SequenceNumber: '000000000000000000009',
          ApproximateCreationDateTime: new Date('2026-12-06T07:24:01.000Z'),
        },
      },
      LOCAL_ARN,
      'us-east-1',
    );
    const at = new Date('2026-12-06T08:00:00.000Z');
    const arn = streamArnInRegion(LOCAL_ARN, 'us-east-1');
    const record = streamBatchFailureRecord([first, second], 'shardId-0001', {
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:captureTable',
      invokeCount: 3,
      streamArn: arn,
      at,
    });
    expect(record).toEqual({
      requestContext: {
        requestId: expect.any(String),
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:captureTable',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: '2026-12-06T08:00:00.000Z',
      DDBStreamBatchInfo: {
        shardId: 'shardId-0001',
        startSequenceNumber: '000000000000000000002',
        endSequenceNumber: '000000000000000000009',
        approximateArrivalOfFirstRecord: '2026-12-06T07:23:00Z',
        approximateArrivalOfLastRecord: '2026-12-06T07:24:01Z',
        batchSize: 2,
        streamArn: arn,
      },
    });
  });
});

/** A stream of two shards, as DynamoDB Streams answers: a closed parent and its open child, listed first. */
function fakeStream(records: Record<string, number[]>, closed: Set<string>) {
  const arn = 'arn:aws:dynamodb:ddblocal:000000000000:table/orders/stream/label';
  const calls: string[] = [];
  const at = (shard: string, after: number) => JSON.stringify({ shard, after });
  const send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    const { input } = command;
    calls.push(command.constructor.name);
    switch (command.constructor.name) {
      case 'DescribeTableCommand':
        return { Table: { TableName: input.TableName, LatestStreamArn: arn } };
      case 'DescribeStreamCommand':
        return {
          StreamDescription: {
            Shards: [
              { ShardId: 'child', ParentShardId: 'parent' },
              { ShardId: 'parent', SequenceNumberRange: { EndingSequenceNumber: '2' } },
            ],
          },
        };
      case 'GetShardIteratorCommand': {
        const shard = input.ShardId as string;
        const all = records[shard] ?? [];
        const after =
          input.ShardIteratorType === 'AFTER_SEQUENCE_NUMBER'
            ? Number(input.SequenceNumber)
            : input.ShardIteratorType === 'LATEST'
              ? (all[all.length - 1] ?? 0)
              : 0;
        return { ShardIterator: at(shard, after) };
      }
      case 'GetRecordsCommand': {
        const { shard, after } = JSON.parse(input.ShardIterator as string) as {
          shard: string;
          after: number;
        };
        const next = (records[shard] ?? []).filter((n) => n > after).slice(0, input.Limit as number);
        const end = closed.has(shard) && next.length === 0;
        return {
          Records: next.map((n) => ({
            eventID: `e${n}`,
            eventName: 'INSERT',
            dynamodb: {
              Keys: { pk: { S: `k${n}` } },
              SequenceNumber: String(n),
              StreamViewType: 'KEYS_ONLY',
            },
          })),
          ...(end ? {} : { NextShardIterator: at(shard, next[next.length - 1] ?? after) }),
        };
      }
      default:
        throw new Error(`unexpected ${command.constructor.name}`);
    }
  };
  return { client: { send } as never, calls };
}

describe('DynamoDbStreamPoller', () => {
  async function play(
    mapping: Partial<DynamoDbStreamMapping>,
    stream: ReturnType<typeof fakeStream>,
    answer: (records: LambdaStreamRecord[]) => unknown,
    until: (delivered: string[][]) => boolean,
  ) {
    const delivered: string[][] = [];
    let running = true;
    const poller = new DynamoDbStreamPoller(
      {
        functionName: 'captureTable',
        arn: 'arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/*',
        batchSize: 10,
        startingPosition: 'TRIM_HORIZON',
        maximumRetryAttempts: 2,
        bisectBatchOnFunctionError: true,
        reportBatchItemFailures: true,
        ...mapping,
      },
      {
        dynamodb: stream.client,
        streams: stream.client,
        region: 'us-east-1',
        invoke: async (_name, event) => {
          delivered.push(event.Records.map((r) => r.dynamodb.SequenceNumber));
          if (until(delivered)) running = false;
          return answer(event.Records);
        },
        sendFailure: async () => {},
        running: () => running,
        sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
        idleMs: 1,
      },
    );
    const stop = setTimeout(() => {
      running = false;
    }, 2000);
    await poller.run();
    clearTimeout(stop);
    return delivered;
  }

  it('reads a parent shard to its end before its child, though the child is listed first', async () => {
    const stream = fakeStream({ parent: [1, 2], child: [3, 4] }, new Set(['parent']));
    const delivered = await play(
      { batchSize: 1 },
      stream,
      () => ({ batchItemFailures: [] }),
      (d) => d.length >= 4,
    );
    expect(delivered).toEqual([['1'], ['2'], ['3'], ['4']]);
  });

  it('starts at LATEST: only records after the end it first saw', async () => {
    const records = { parent: [1, 2], child: [3, 4] };
    const stream = fakeStream(records, new Set(['parent']));
    setTimeout(() => records.child.push(5), 50);
    const delivered = await play(
      { startingPosition: 'LATEST' },
      stream,
      () => ({ batchItemFailures: [] }),
      (d) => d.flat().includes('5'),
    );
    expect(delivered).toEqual([['5']]);
  });

  it('fails the whole batch when a batchItemFailures identifier names no record of it', async () => {
    const stream = fakeStream({ parent: [1, 2], child: [] }, new Set(['parent']));
    let first = true;
    const delivered = await play(
      {},
      stream,
      () => {
        if (!first) return { batchItemFailures: [] };
        first = false;
        return { batchItemFailures: [{ itemIdentifier: '999' }] };
      },
      (d) => d.length >= 2,
    );
    expect(delivered).toEqual([
      ['1', '2'],
      ['1', '2'],
    ]);
  });
});
