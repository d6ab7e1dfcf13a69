import type { _Record as SdkStreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import { DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import { lambdaStreamRecord, streamArnInRegion, streamBatchFailureRecord } from '#local/dynamodb-streams.ts';

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
