// The DynamoDB adapter of the TableStore port without a network: binaries converted at the edge,
// DescribeTable reduced to a definition and a definition turned back into CreateTable, the requests
// it sends, and how DynamoDB's errors map to the port's. DynamoDB is mocked (aws-sdk-client-mock).
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createTableInputOf,
  DynamoDBTableStore,
  definitionOfDescription,
  fromSdkItem,
  tableFailure,
  toSdkItem,
} from '#adapters/dynamodb-table/index.ts';
import {
  ConflictError,
  isRetryable,
  NotFoundError,
  SourceUnavailableError,
  StrongboxError,
  TransientError,
  ValidationError,
} from '#domain/errors.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import type { Item } from '#domain/table/item.ts';
import { tableStoresOf } from '#runtime/container.ts';
import { testConfig } from '../support/config.ts';

const dynamo = mockClient(DynamoDBClient);
const store = () =>
  new DynamoDBTableStore(new DynamoDBClient({ region: 'eu-west-1' }), {
    minDelaySeconds: 1,
    maxWaitSeconds: 5,
  });

/** An SDK error as DynamoDB's answers deserialize. */
function answer(name: string, status: number): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name,
    message: `${name} happened`,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

const b64 = (...bytes: number[]) => Buffer.from(bytes).toString('base64');

describe('items at the edge', () => {
  const item: Item = {
    pk: { S: 'a' },
    n: { N: '1.5' },
    bin: { B: b64(0, 1, 254, 255) },
    set: { BS: [b64(1), b64(2, 3)] },
    deep: { M: { list: { L: [{ B: b64(9) }, { M: { inner: { BS: [b64(7)] } } }, { NULL: true }] } } },
    flags: { SS: ['x'] },
    nums: { NS: ['1', '2'] },
    yes: { BOOL: false },
  };

  it('decodes base64 binaries to bytes for the SDK, in sets, maps and lists too', () => {
    const sdk = toSdkItem(item);
    expect(sdk.bin?.B).toEqual(new Uint8Array([0, 1, 254, 255]));
    expect(sdk.set?.BS).toEqual([new Uint8Array([1]), new Uint8Array([2, 3])]);
    const list = sdk.deep?.M?.list?.L ?? [];
    expect(list[0]?.B).toEqual(new Uint8Array([9]));
    expect(list[1]?.M?.inner?.BS).toEqual([new Uint8Array([7])]);
    expect(sdk.n).toEqual({ N: '1.5' });
    expect(sdk.yes).toEqual({ BOOL: false });
  });

  it('gives back the same DynamoDB JSON from what the SDK returns', () => {
    expect(fromSdkItem(toSdkItem(item))).toEqual(item);
  });

  it('encodes only the bytes of a view, not the whole buffer behind it', () => {
    const buffer = new Uint8Array([9, 9, 1, 2, 9]);
    expect(fromSdkItem({ b: { B: buffer.subarray(2, 4) } })).toEqual({ b: { B: b64(1, 2) } });
  });

  it('refuses a value of no known type (ValidationError, not retryable)', () => {
    expect(() => fromSdkItem({ x: { $unknown: ['X', 1] } as never })).toThrow(ValidationError);
  });
});

const described: TableDescription = {
  TableName: 'orders',
  TableStatus: 'ACTIVE',
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'N' },
    { AttributeName: 'g', AttributeType: 'B' },
  ],
  KeySchema: [
    { AttributeName: 'sk', KeyType: 'RANGE' },
    { AttributeName: 'pk', KeyType: 'HASH' },
  ],
  BillingModeSummary: { BillingMode: 'PROVISIONED' },
  ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 4, NumberOfDecreasesToday: 1 },
  GlobalSecondaryIndexes: [
    {
      IndexName: 'byG',
      KeySchema: [{ AttributeName: 'g', KeyType: 'HASH' }],
      Projection: { ProjectionType: 'KEYS_ONLY' },
      ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: 1, NumberOfDecreasesToday: 0 },
      IndexStatus: 'ACTIVE',
      IndexSizeBytes: 10,
      ItemCount: 1,
      IndexArn: 'arn:aws:dynamodb:eu-west-1:111122223333:table/orders/index/byG',
    },
  ],
  LocalSecondaryIndexes: [
    {
      IndexName: 'byPkG',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'g', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['total'] },
      IndexSizeBytes: 10,
    },
  ],
  StreamSpecification: { StreamEnabled: false },
  SSEDescription: {
    Status: 'ENABLED',
    SSEType: 'KMS',
    KMSMasterKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k',
  },
  DeletionProtectionEnabled: false,
  ItemCount: 12,
  TableSizeBytes: 3400,
};

const definition: TableDefinition = {
  tableName: 'orders',
  region: 'eu-west-1',
  key: { hash: { name: 'pk', type: 'S' }, range: { name: 'sk', type: 'N' } },
  attributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'N' },
    { AttributeName: 'g', AttributeType: 'B' },
  ],
  globalSecondaryIndexes: [
    {
      IndexName: 'byG',
      KeySchema: [{ AttributeName: 'g', KeyType: 'HASH' }],
      Projection: { ProjectionType: 'KEYS_ONLY' },
      ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: 1 },
    },
  ],
  localSecondaryIndexes: [
    {
      IndexName: 'byPkG',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'g', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['total'] },
    },
  ],
  billingMode: 'PROVISIONED',
  provisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 4 },
  timeToLiveAttribute: 'expires',
  sse: { type: 'KMS', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k' },
};

describe('definitionOfDescription', () => {
  it('keeps what CreateTable takes back: keys with their types, indexes, capacity, TTL, SSE', () => {
    expect(
      definitionOfDescription(
        described,
        { TimeToLiveStatus: 'ENABLED', AttributeName: 'expires' },
        'eu-west-1',
      ),
    ).toEqual(definition);
  });

  it('leaves out what is off: TTL disabled, no stream, SSE owned by DynamoDB, on-demand capacity', () => {
    const onDemand = definitionOfDescription(
      {
        ...described,
        BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
        ProvisionedThroughput: { ReadCapacityUnits: 0, WriteCapacityUnits: 0 },
        GlobalSecondaryIndexes: described.GlobalSecondaryIndexes?.map((g) => ({
          ...g,
          ProvisionedThroughput: { ReadCapacityUnits: 0, WriteCapacityUnits: 0 },
        })),
        SSEDescription: { Status: 'ENABLED', SSEType: 'AES256' },
      },
      { TimeToLiveStatus: 'DISABLED' },
      'eu-west-1',
    );
    expect(onDemand.billingMode).toBe('PAY_PER_REQUEST');
    expect(onDemand).not.toHaveProperty('provisionedThroughput');
    expect(onDemand.globalSecondaryIndexes[0]).not.toHaveProperty('ProvisionedThroughput');
    for (const absent of ['timeToLiveAttribute', 'streamViewType', 'sse', 'deletionProtection'])
      expect(onDemand).not.toHaveProperty(absent);
  });

  it('records an enabled stream, deletion protection, and a table without BillingModeSummary as PROVISIONED', () => {
    const { BillingModeSummary: _, ...old } = described;
    const out = definitionOfDescription(
      {
        ...old,
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
        DeletionProtectionEnabled: true,
      },
      { TimeToLiveStatus: 'ENABLING', AttributeName: 'ttl' },
      'eu-west-1',
    );
    expect(out).toMatchObject({
      billingMode: 'PROVISIONED',
      streamViewType: 'NEW_IMAGE',
      deletionProtection: true,
      timeToLiveAttribute: 'ttl',
    });
  });

  it('refuses a description that makes no definition (ValidationError)', () => {
    expect(() => definitionOfDescription({ TableName: 'x', KeySchema: [] }, undefined, 'eu-west-1')).toThrow(
      ValidationError,
    );
  });
});

describe('createTableInputOf', () => {
  it('makes the same table under another name; a GSI without capacity gets the table’s', () => {
    const input = createTableInputOf(
      {
        ...definition,
        globalSecondaryIndexes: [
          { ...definition.globalSecondaryIndexes[0], ProvisionedThroughput: undefined } as never,
        ],
        streamViewType: 'NEW_AND_OLD_IMAGES',
        deletionProtection: true,
      },
      'orders-restored',
    );
    expect(input).toEqual({
      TableName: 'orders-restored',
      AttributeDefinitions: definition.attributeDefinitions,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PROVISIONED',
      ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 4 },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byG',
          KeySchema: [{ AttributeName: 'g', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
          ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 4 },
        },
      ],
      LocalSecondaryIndexes: definition.localSecondaryIndexes,
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      SSESpecification: {
        Enabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/k',
      },
      DeletionProtectionEnabled: true,
    });
  });

  it('sends no capacity for an on-demand table, nor empty index lists', () => {
    const input = createTableInputOf(
      {
        ...definition,
        billingMode: 'PAY_PER_REQUEST',
        provisionedThroughput: undefined,
        globalSecondaryIndexes: [],
        localSecondaryIndexes: [],
        sse: undefined,
      } as TableDefinition,
      't2',
    );
    expect(Object.keys(input).sort()).toEqual([
      'AttributeDefinitions',
      'BillingMode',
      'KeySchema',
      'TableName',
    ]);
  });

  it('refuses a PROVISIONED definition without capacity (ValidationError)', () => {
    const { provisionedThroughput: _, ...without } = definition;
    expect(() => createTableInputOf(without as TableDefinition, 't')).toThrow(ValidationError);
  });
});

describe('tableFailure', () => {
  const cases: [string, unknown, new (...a: never[]) => StrongboxError, boolean][] = [
    ['throttled', answer('ProvisionedThroughputExceededException', 400), TransientError, true],
    ['request limit', answer('RequestLimitExceeded', 400), TransientError, true],
    ['throttling', answer('ThrottlingException', 400), TransientError, true],
    ['a 500', answer('InternalServerError', 500), TransientError, true],
    [
      'the network',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      TransientError,
      true,
    ],
    ['a missing table', answer('ResourceNotFoundException', 400), NotFoundError, false],
    ['access denied', answer('AccessDeniedException', 400), SourceUnavailableError, false],
    ['bad credentials', answer('UnrecognizedClientException', 400), SourceUnavailableError, false],
    ['a table in use', answer('ResourceInUseException', 400), ConflictError, false],
    ['a failed condition', answer('ConditionalCheckFailedException', 400), ConflictError, false],
    ['an invalid request', answer('ValidationException', 400), ValidationError, false],
    ['another 4xx', answer('ItemCollectionSizeLimitExceededException', 400), StrongboxError, false],
  ];
  it.each(cases)('maps %s', (_, error, type, retryable) => {
    const mapped = tableFailure('scan orders', error);
    expect(mapped).toBeInstanceOf(type);
    expect(isRetryable(mapped)).toBe(retryable);
    expect(mapped.message).toContain('scan orders');
  });
});

describe('DynamoDBTableStore requests', () => {
  afterEach(() => dynamo.reset());

  it('scans one segment strongly consistent, from a start key with binaries, and converts the page', async () => {
    dynamo.on(ScanCommand).resolves({
      Items: [{ id: { B: new Uint8Array([5]) } }],
      LastEvaluatedKey: { id: { B: new Uint8Array([5]) } },
      ConsumedCapacity: { TableName: 't', CapacityUnits: 2.5 },
    });
    const page = await store().scanPage('t', { index: 3, total: 8 }, { id: { B: b64(4) } }, 100);
    expect(page).toEqual({
      items: [{ id: { B: b64(5) } }],
      lastEvaluatedKey: { id: { B: b64(5) } },
      consumedCapacityUnits: 2.5,
    });
    expect(dynamo.commandCalls(ScanCommand)[0]?.args[0].input).toEqual({
      TableName: 't',
      Segment: 3,
      TotalSegments: 8,
      ConsistentRead: true,
      ReturnConsumedCapacity: 'TOTAL',
      Limit: 100,
      ExclusiveStartKey: { id: { B: new Uint8Array([4]) } },
    });
  });

  it('gets an item strongly consistent', async () => {
    dynamo.on(GetItemCommand).resolves({});
    expect(await store().getItem('t', { id: { S: 'a' } })).toBeUndefined();
    expect(dynamo.commandCalls(GetItemCommand)[0]?.args[0].input.ConsistentRead).toBe(true);
  });

  it('gives back the writes DynamoDB left unprocessed, in DynamoDB JSON', async () => {
    dynamo.on(BatchWriteItemCommand).resolves({
      UnprocessedItems: {
        t: [
          { PutRequest: { Item: { id: { B: new Uint8Array([1]) }, v: { N: '1' } } } },
          { DeleteRequest: { Key: { id: { B: new Uint8Array([2]) } } } },
        ],
      },
    });
    const left = await store().batchWrite('t', [
      { put: { id: { B: b64(1) }, v: { N: '1' } } },
      { delete: { id: { B: b64(2) } } },
      { put: { id: { B: b64(3) } } },
    ]);
    expect(left).toEqual([{ put: { id: { B: b64(1) }, v: { N: '1' } } }, { delete: { id: { B: b64(2) } } }]);
    const sent = dynamo.commandCalls(BatchWriteItemCommand)[0]?.args[0].input.RequestItems?.t;
    expect(sent?.[1]).toEqual({ DeleteRequest: { Key: { id: { B: new Uint8Array([2]) } } } });
  });

  it('puts ifAbsent on the partition key it describes once per table; a failed condition is "exists"', async () => {
    dynamo.on(DescribeTableCommand).resolves({ Table: described });
    dynamo
      .on(PutItemCommand)
      .resolvesOnce({})
      .rejects(Object.assign(answer('ConditionalCheckFailedException', 400), {}));
    const tables = store();
    const item = { pk: { S: 'a' }, sk: { N: '1' } };
    expect(await tables.putItem('orders', item, { ifAbsent: true })).toBe('written');
    expect(await tables.putItem('orders', item, { ifAbsent: true })).toBe('exists');
    expect(dynamo.commandCalls(DescribeTableCommand)).toHaveLength(1);
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
    });
  });

  it('puts unconditionally without describing; throttling is TransientError', async () => {
    dynamo.on(PutItemCommand).rejects(answer('ProvisionedThroughputExceededException', 400));
    const error = await store()
      .putItem('orders', { pk: { S: 'a' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect(dynamo.commandCalls(DescribeTableCommand)).toHaveLength(0);
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input).not.toHaveProperty('ConditionExpression');
  });

  it('describes a missing table as undefined, and a table with its stream ARN and estimates', async () => {
    dynamo.on(DescribeTableCommand).rejectsOnce(answer('ResourceNotFoundException', 400));
    dynamo
      .on(DescribeTimeToLiveCommand)
      .resolves({ TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    const tables = store();
    expect(await tables.describe('orders')).toBeUndefined();
    const arn = 'arn:aws:dynamodb:eu-west-1:111122223333:table/orders/stream/2026-12-06T00:00:00.000';
    dynamo.on(DescribeTableCommand).resolves({
      Table: {
        ...described,
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
        LatestStreamArn: arn,
      },
    });
    expect(await tables.describe('orders')).toMatchObject({
      status: 'ACTIVE',
      itemCount: 12,
      sizeBytes: 3400,
      latestStreamArn: arn,
      definition: { streamViewType: 'NEW_IMAGE', region: 'eu-west-1' },
    });
  });

  it('creates the table, waits until ACTIVE, then turns TTL on', async () => {
    dynamo.on(CreateTableCommand).resolves({});
    dynamo
      .on(DescribeTableCommand)
      .resolvesOnce({ Table: { ...described, TableStatus: 'CREATING' } })
      .resolves({ Table: described });
    dynamo.on(UpdateTimeToLiveCommand).resolves({});
    await store().createTable(definition, 'orders-restored');
    expect(dynamo.commandCalls(DescribeTableCommand).length).toBeGreaterThanOrEqual(2);
    expect(dynamo.commandCalls(UpdateTimeToLiveCommand)[0]?.args[0].input).toEqual({
      TableName: 'orders-restored',
      TimeToLiveSpecification: { Enabled: true, AttributeName: 'expires' },
    });
  }, 20_000);

  it('deletes nothing when the table is absent; an existing name to create is ConflictError', async () => {
    dynamo.on(DeleteTableCommand).rejects(answer('ResourceNotFoundException', 400));
    await store().deleteTable('gone');
    dynamo.on(CreateTableCommand).rejects(answer('ResourceInUseException', 400));
    const error = await store()
      .createTable(definition, 'orders')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(dynamo.commandCalls(UpdateTimeToLiveCommand)).toHaveLength(0);
  });
});

describe('tableStoresOf (the container)', () => {
  afterEach(() => dynamo.reset());

  it('makes one store per region, the primary over the given client, each recording its own region', async () => {
    const named: string[] = [];
    const primary = new DynamoDBClient({ region: 'us-east-1' });
    const tables = tableStoresOf(
      testConfig({ endpoints: { s3: new Map(), dynamodb: 'http://127.0.0.1:1' } }),
      primary,
      (port, name) => {
        named.push(name);
        return port;
      },
    );
    expect(tables()).toBe(tables('us-east-1'));
    expect(tables('eu-west-1')).toBe(tables('eu-west-1'));
    expect(named).toEqual(['tables', 'tables:eu-west-1']);
    dynamo.on(DescribeTableCommand).resolves({ Table: described });
    dynamo.on(DescribeTimeToLiveCommand).resolves({});
    expect((await tables('eu-west-1').describe('orders'))?.definition.region).toBe('eu-west-1');
    expect((await tables().describe('orders'))?.definition.region).toBe('us-east-1');
  });
});
