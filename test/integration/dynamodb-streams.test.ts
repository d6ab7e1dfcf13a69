// The embedded stack's DynamoDB stream event source mapping (shared/local/dynamodb-streams.ts),
// against DynamoDB Local and fauxqs: a table with a NEW_AND_OLD_IMAGES stream, items written,
// updated and deleted, and a stub function in the place of captureTable.
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoDBStreamRecord, DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import { LocalDispatcher } from '#local/dispatcher.ts';
import { startDynamoDbLocal } from '#local/dynamodb-local.ts';
import type { DynamoDbStreamMapping, StreamBatchFailureRecord } from '#local/dynamodb-streams.ts';
import { startSqs } from '../support/emulators.ts';
import { plan } from '../support/memory-pipeline.ts';
import { waitFor } from '../support/wait.ts';

type Handler = (event: { Records: unknown[] }) => Promise<unknown>;

let ddb: Awaited<ReturnType<typeof startDynamoDbLocal>>;
let sqs: Awaited<ReturnType<typeof startSqs>>;
let dynamodb: DynamoDBClient;
let streams: DynamoDBStreamsClient;
let tables = 0;

beforeAll(async () => {
  [ddb, sqs] = await Promise.all([startDynamoDbLocal(), startSqs()]);
  dynamodb = new DynamoDBClient({ region: 'us-east-1', endpoint: ddb.endpoint });
  streams = new DynamoDBStreamsClient({ region: 'us-east-1', endpoint: ddb.endpoint });
}, 120_000);

afterAll(async () => {
  await ddb?.stop();
  await sqs?.stop();
});

/** A fresh table with a NEW_AND_OLD_IMAGES stream. */
async function table(): Promise<string> {
  tables += 1;
  const name = `orders-${process.pid}-${tables}`;
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  return name;
}

const put = (name: string, pk: string, n: number) =>
  dynamodb.send(
    new PutItemCommand({
      TableName: name,
      Item: { pk: { S: pk }, n: { N: String(n) }, raw: { B: new Uint8Array([pk.length, 1, 2]) } },
    }),
  );

/** Start a dispatcher playing `name`'s stream (serverless.yml's local form: label `*`) into `handler`. */
function play(name: string, handler: Handler, overrides: Partial<DynamoDbStreamMapping> = {}) {
  const mapping: DynamoDbStreamMapping = {
    functionName: 'captureTable',
    arn: `arn:aws:dynamodb:us-east-1:000000000000:table/${name}/stream/*`,
    batchSize: 10,
    startingPosition: 'TRIM_HORIZON',
    maximumRetryAttempts: 2,
    bisectBatchOnFunctionError: true,
    reportBatchItemFailures: true,
    ...overrides,
  };
  const dispatcher = new LocalDispatcher({
    functions: [
      {
        name: 'captureTable',
        timeoutSeconds: 30,
        handler: (event: unknown, _context: Context) => handler(event as { Records: unknown[] }),
      },
    ],
    sqs: sqs.client,
    region: 'us-east-1',
    schedules: [],
    s3: [],
    queues: [],
    streams: { mappings: [mapping], dynamodb, streams },
  });
  dispatcher.start();
  return dispatcher;
}

const parsed = (records: unknown[]): DynamoDBStreamRecord[] =>
  records.map((r) => DynamoDBStreamRecordSchema.parse(r));
const pkOf = (r: DynamoDBStreamRecord) => (r.dynamodb.Keys.pk as { S: string }).S;

describe('DynamoDB stream event source mapping on DynamoDB Local', () => {
  it('delivers inserts, updates and deletes in sequence order, in the shape Lambda gives them', async () => {
    const name = await table();
    await put(name, 'a', 1);
    await put(name, 'bb', 1);
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: name,
        Key: { pk: { S: 'a' } },
        UpdateExpression: 'SET n = :n',
        ExpressionAttributeValues: { ':n': { N: '2' } },
      }),
    );
    await dynamodb.send(new DeleteItemCommand({ TableName: name, Key: { pk: { S: 'bb' } } }));
    const seen: unknown[] = [];
    const dispatcher = play(name, async (event) => {
      seen.push(...event.Records);
      return { batchItemFailures: [] };
    });
    try {
      await waitFor('four records', async () => (seen.length >= 4 ? true : undefined), 30_000);
      // A change made while the mapping runs arrives too, after the others.
      await put(name, 'c', 1);
      await waitFor('the fifth record', async () => (seen.length >= 5 ? true : undefined), 30_000);
    } finally {
      await dispatcher.stop();
    }
    const records = parsed(seen);
    expect(records.map((r) => [r.eventName, pkOf(r)])).toEqual([
      ['INSERT', 'a'],
      ['INSERT', 'bb'],
      ['MODIFY', 'a'],
      ['REMOVE', 'bb'],
      ['INSERT', 'c'],
    ]);
    const sequence = records.map((r) => BigInt(r.dynamodb.SequenceNumber));
    expect([...sequence].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(sequence);
    expect(new Set(sequence).size).toBe(5);
    for (const r of records) {
      expect(r.eventSource).toBe('aws:dynamodb');
      expect(r.eventVersion).toBe('1.1');
      expect(r.awsRegion).toBe('us-east-1');
      expect(r.eventSourceARN).toMatch(
        new RegExp(`^arn:aws:dynamodb:us-east-1:000000000000:table/${name}/stream/\\d{4}-\\d\\d-\\d\\dT`),
      );
      expect(r.dynamodb.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
      expect(typeof r.dynamodb.ApproximateCreationDateTime).toBe('number');
      expect(Math.abs((r.dynamodb.ApproximateCreationDateTime ?? 0) * 1000 - Date.now())).toBeLessThan(
        120_000,
      );
    }
    const [insertA, , modifyA, removeBb] = records as [
      DynamoDBStreamRecord,
      DynamoDBStreamRecord,
      DynamoDBStreamRecord,
      DynamoDBStreamRecord,
    ];
    expect(insertA.dynamodb.NewImage).toEqual({ pk: { S: 'a' }, n: { N: '1' }, raw: { B: 'AQEC' } });
    expect(insertA.dynamodb.OldImage).toBeUndefined();
    expect(modifyA.dynamodb.OldImage?.n).toEqual({ N: '1' });
    expect(modifyA.dynamodb.NewImage?.n).toEqual({ N: '2' });
    expect(removeBb.dynamodb.NewImage).toBeUndefined();
    expect(removeBb.dynamodb.OldImage?.raw).toEqual({ B: 'AgEC' });
  }, 90_000);

  it('redelivers from the record a batchItemFailures response names, not from earlier ones', async () => {
    const name = await table();
    for (const pk of ['r1', 'r2', 'r3', 'r4']) await put(name, pk, 1);
    const batches: string[][] = [];
    let failed = false;
    const dispatcher = play(name, async (event) => {
      const records = parsed(event.Records);
      batches.push(records.map(pkOf));
      const r3 = records.find((r) => pkOf(r) === 'r3');
      if (r3 && !failed) {
        failed = true;
        return { batchItemFailures: [{ itemIdentifier: r3.dynamodb.SequenceNumber }] };
      }
      return { batchItemFailures: [] };
    });
    try {
      await waitFor('the retry', async () => (batches.length >= 2 ? true : undefined), 30_000);
      await new Promise((r) => setTimeout(r, 1000)); // nothing more should come
    } finally {
      await dispatcher.stop();
    }
    expect(batches).toEqual([
      ['r1', 'r2', 'r3', 'r4'],
      ['r3', 'r4'],
    ]);
  }, 90_000);

  it('bisects a batch whose invocation throws, then sends the failing record’s batch info to the on-failure queue and moves on', async () => {
    const name = await table();
    for (const pk of ['p1', 'p2', 'poison', 'p4']) await put(name, pk, 1);
    const queueUrl = await sqs.queue(`capture-failures-${process.pid}`);
    const batches: string[][] = [];
    const done: string[] = [];
    const dispatcher = play(
      name,
      async (event) => {
        const pks = parsed(event.Records).map(pkOf);
        batches.push(pks);
        if (pks.includes('poison')) throw new Error('cannot capture poison');
        done.push(...pks);
        return { batchItemFailures: [] };
      },
      {
        maximumRetryAttempts: 1,
        onFailure: {
          queueUrl,
          queueArn: `arn:aws:sqs:us-east-1:000000000000:capture-failures-${process.pid}`,
        },
      },
    );
    let failure: StreamBatchFailureRecord | undefined;
    try {
      failure = await waitFor(
        'the on-failure record',
        async () => {
          const out = await sqs.client.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }),
          );
          const body = out.Messages?.[0]?.Body;
          return body ? (JSON.parse(body) as StreamBatchFailureRecord) : undefined;
        },
        30_000,
      );
      // The shard moves on: a change after the poison record is delivered.
      await put(name, 'after', 1);
      await waitFor('the change after it', async () => (done.includes('after') ? true : undefined), 30_000);
    } finally {
      await dispatcher.stop();
    }
    // [p1 p2 poison p4] throws → halves [p1 p2] ok, [poison p4] throws → [poison] throws twice (one
    // retry), discarded; [p4] ok.
    expect(batches.slice(0, 6)).toEqual([
      ['p1', 'p2', 'poison', 'p4'],
      ['p1', 'p2'],
      ['poison', 'p4'],
      ['poison'],
      ['poison'],
      ['p4'],
    ]);
    expect(done).toEqual(['p1', 'p2', 'p4', 'after']);
    const info = failure?.DDBStreamBatchInfo;
    expect(failure?.requestContext.condition).toBe('RetryAttemptsExhausted');
    expect(failure?.requestContext.functionArn).toBe(
      'arn:aws:lambda:us-east-1:000000000000:function:captureTable',
    );
    expect(info?.batchSize).toBe(1);
    expect(info?.startSequenceNumber).toBe(info?.endSequenceNumber);
    expect(info?.startSequenceNumber).toMatch(/^\d+$/);
    expect(info?.shardId).toMatch(/^shardId-/);
    expect(info?.streamArn).toMatch(
      new RegExp(`^arn:aws:dynamodb:us-east-1:000000000000:table/${name}/stream/`),
    );
    expect(info?.approximateArrivalOfFirstRecord).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }, 90_000);
});

describe('the embedded stack', () => {
  it('plays captureTable’s stream event from serverless.yml (params.local: label *) once the protected table exists, and journals the change', async () => {
    const { startLocalStack } = await import('#local/stack.ts');
    const stack = await startLocalStack({ logLevel: 'SILENT' });
    try {
      const name = 'strongbox-local-source-table';
      await stack.dynamodb.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
        }),
      );
      const { catalog } = stack.container().pipeline;
      await catalog.putPlans([plan({ id: 'source-table', source: { table: name }, copyRegions: [] })]);
      await stack.dynamodb.send(
        new PutItemCommand({ TableName: name, Item: { pk: { S: 'k1' }, raw: { B: new Uint8Array([7]) } } }),
      );
      // The real captureTable journals it (its item inline), and the mapping acknowledges.
      const journal = await waitFor(
        'the journal entry',
        async () => {
          const entries = await catalog.listJournal('source-table');
          return entries.length > 0 ? entries : undefined;
        },
        60_000,
      );
      expect(journal.map((e) => [e.bucket, e.key, e.outcome])).toEqual([
        [`dynamodb:${name}`, 'k1', 'captured'],
      ]);
      const invocation = stack.dispatcher.invocations.find((i) => i.functionName === 'captureTable');
      expect(invocation).toMatchObject({ source: 'stream', ok: true });
      expect(invocation?.batchItemFailures).toBeUndefined();
    } finally {
      await stack.stop();
    }
  }, 180_000);
});
