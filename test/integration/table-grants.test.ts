// The DynamoDB grants of the table use cases, derived from the code rather than written by hand: each
// function's table use case runs through the real DynamoDBTableStore on a recording client (every
// command it sends is recorded, and answered by a memory table), and the packaged template (`npm run
// package`, serverless.yml's defaults) must grant the function every action it sent, on the ARN of
// the table it sent it to. The embedded stack enforces no IAM: without this, a grant the code needs
// but the allow-list of template.test.ts forgot shows only on AWS (drills' GetItem, and
// captureTable's and restore's DescribeTimeToLive, did).
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  type TableDescription as SdkTableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTableInputOf,
  DynamoDBTableStore,
  definitionOfDescription,
  fromSdkItem,
  type SdkItem,
  toSdkItem,
} from '#adapters/dynamodb-table/index.ts';
import { runDrill } from '#domain/drill.ts';
import { captureTableRecord } from '#domain/table/capture.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import type { Item } from '#domain/table/item.ts';
import { restoreTable } from '#domain/table/restore.ts';
import { DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import {
  asList,
  evaluate,
  pseudoParameters,
  type Resource,
  roleStatements,
  type Template,
} from '../support/cloudformation.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';
import { type MemoryPipeline, memoryPipeline } from '../support/memory-pipeline.ts';
import { type Packaged, runPackage } from '../support/package.ts';
import { ORDERS, orderItems, runTableSnapshot, tablePlan } from '../support/table-snapshot.ts';

// serverless.yml's defaults (stage dev): protectedTables, restoreTables, and the drill's scratch
// tables `<service>-<stage>-drill-…` (functions/drill.ts: the vault name is the prefix).
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const PROTECTED = 'strongbox-dev-source-table';
const RESTORED = 'strongbox-dev-restore-orders';
const RESTORED_DRY = 'strongbox-dev-restore-dry-run';
const DRILL_PREFIX = 'strongbox-dev';
const tableArn = (name: string) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;

const TABLE_FUNCTIONS = ['snapshot', 'captureTable', 'restore', 'drill'] as const;
type TableFunction = (typeof TABLE_FUNCTIONS)[number];

/** One command the adapter sent: `dynamodb:<command name without Command>` on a table. */
interface Sent {
  action: string;
  table: string;
}

/** The protected table: TTL and a stream, so restores also UpdateTimeToLive. */
const SOURCE: TableDefinition = {
  ...ORDERS,
  tableName: PROTECTED,
  timeToLiveAttribute: 'expires',
  streamViewType: 'NEW_AND_OLD_IMAGES',
};
const ITEMS = orderItems(120);

const notFound = (table: string) =>
  new ResourceNotFoundException({
    message: `Requested resource not found: Table: ${table} not found`,
    $metadata: {},
  });

/** DescribeTable's answer for a table of the memory twin. */
function sdkDescription(twin: MemoryTableStore, name: string): SdkTableDescription {
  const table = twin.tables.get(name);
  if (!table) throw notFound(name);
  const input = createTableInputOf(table.definition, name);
  return {
    ...(input as SdkTableDescription),
    BillingModeSummary: { BillingMode: table.definition.billingMode },
    TableStatus: 'ACTIVE',
    ItemCount: table.items.size,
    TableSizeBytes: 0,
    ...(table.streamArn ? { LatestStreamArn: table.streamArn } : {}),
  };
}

/**
 * A DynamoDB client whose `send` records every command and answers it from `twin` (a memory
 * DynamoDB): DescribeTable (ResourceNotFound when absent, which the not-exists waiter waits for),
 * DescribeTimeToLive, Scan pages, GetItem, BatchWriteItem (nothing unprocessed), conditional PutItem,
 * CreateTable (ACTIVE at once for the exists waiter), UpdateTimeToLive, DeleteTable. Any other
 * command fails the use case (and is recorded all the same).
 */
function recordingClient(twin: MemoryTableStore) {
  const client = new DynamoDBClient({
    region: REGION,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const mock = mockClient(client);
  mock.onAnyCommand().rejects(new Error('a DynamoDB command the recording client does not answer'));
  mock.on(DescribeTableCommand).callsFake(async (i) => ({ Table: sdkDescription(twin, i.TableName) }));
  mock.on(DescribeTimeToLiveCommand).callsFake(async (i) => {
    const ttl =
      sdkDescription(twin, i.TableName) && twin.tables.get(i.TableName)?.definition.timeToLiveAttribute;
    return {
      TimeToLiveDescription: ttl
        ? { TimeToLiveStatus: 'ENABLED', AttributeName: ttl }
        : { TimeToLiveStatus: 'DISABLED' },
    };
  });
  mock.on(ScanCommand).callsFake(async (i) => {
    const page = await twin.scanPage(
      i.TableName,
      { index: i.Segment ?? 0, total: i.TotalSegments ?? 1 },
      i.ExclusiveStartKey ? fromSdkItem(i.ExclusiveStartKey) : undefined,
      i.Limit,
    );
    return {
      Items: page.items.map(toSdkItem),
      ...(page.lastEvaluatedKey ? { LastEvaluatedKey: toSdkItem(page.lastEvaluatedKey) } : {}),
      ConsumedCapacity: { TableName: i.TableName, CapacityUnits: page.consumedCapacityUnits },
    };
  });
  mock.on(GetItemCommand).callsFake(async (i) => {
    if (!twin.tables.has(i.TableName)) throw notFound(i.TableName);
    const item = await twin.getItem(i.TableName, fromSdkItem(i.Key as SdkItem));
    return item ? { Item: toSdkItem(item) } : {};
  });
  mock.on(BatchWriteItemCommand).callsFake(async (i) => {
    for (const [name, requests] of Object.entries(i.RequestItems as Record<string, unknown[]>)) {
      if (!twin.tables.has(name)) throw notFound(name);
      const writes = (requests as { PutRequest?: { Item: SdkItem }; DeleteRequest?: { Key: SdkItem } }[]).map(
        (r) =>
          r.PutRequest
            ? { put: fromSdkItem(r.PutRequest.Item) }
            : { delete: fromSdkItem(r.DeleteRequest?.Key as SdkItem) },
      );
      await twin.batchWrite(name, writes);
    }
    return { UnprocessedItems: {} };
  });
  mock.on(PutItemCommand).callsFake(async (i) => {
    if (!twin.tables.has(i.TableName)) throw notFound(i.TableName);
    const ifAbsent = i.ConditionExpression !== undefined;
    if ((await twin.putItem(i.TableName, fromSdkItem(i.Item as SdkItem), { ifAbsent })) === 'exists')
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    return {};
  });
  mock.on(CreateTableCommand).callsFake(async (i: CreateTableCommandInput) => {
    if (twin.tables.has(i.TableName as string))
      throw new ResourceInUseException({ message: `Table already exists: ${i.TableName}`, $metadata: {} });
    const definition = definitionOfDescription(
      { ...(i as SdkTableDescription), BillingModeSummary: { BillingMode: i.BillingMode ?? 'PROVISIONED' } },
      undefined,
      REGION,
    );
    await twin.createTable(definition, i.TableName as string);
    return { TableDescription: sdkDescription(twin, i.TableName as string) };
  });
  mock.on(UpdateTimeToLiveCommand).callsFake(async (i) => {
    const table = twin.tables.get(i.TableName);
    if (!table) throw notFound(i.TableName);
    table.definition = { ...table.definition, timeToLiveAttribute: i.TimeToLiveSpecification?.AttributeName };
    return { TimeToLiveSpecification: i.TimeToLiveSpecification };
  });
  mock.on(DeleteTableCommand).callsFake(async (i) => {
    if (!twin.tables.has(i.TableName)) throw notFound(i.TableName);
    await twin.deleteTable(i.TableName);
    return {};
  });

  /** What was sent since the last call, as actions on tables. */
  let seen = 0;
  const take = (): Sent[] => {
    const calls = mock.calls().slice(seen);
    seen += calls.length;
    return calls.flatMap((call) => {
      const command = call.args[0] as unknown as {
        constructor: { name: string };
        input: Record<string, unknown>;
      };
      const action = `dynamodb:${command.constructor.name.replace(/Command$/, '')}`;
      const tables =
        typeof command.input.TableName === 'string'
          ? [command.input.TableName]
          : Object.keys((command.input.RequestItems as object | undefined) ?? {});
      return tables.map((table) => ({ action, table }));
    });
  };
  return { client, take, unmock: () => mock.restore() };
}

/** A stream record of the protected table, as the event source mapping delivers it. */
function streamRecord(view: 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY', item: Item, sequence: number) {
  return DynamoDBStreamRecordSchema.parse({
    eventID: `e${sequence}`,
    eventName: 'MODIFY',
    eventSource: 'aws:dynamodb',
    awsRegion: REGION,
    eventSourceARN: `${tableArn(PROTECTED)}/stream/2026-03-01T00:00:00.000`,
    dynamodb: {
      ApproximateCreationDateTime: Date.parse('2026-03-01T00:30:00Z') / 1000,
      Keys: { pk: item.pk, sk: item.sk },
      ...(view === 'NEW_AND_OLD_IMAGES' ? { NewImage: item, OldImage: item } : {}),
      SequenceNumber: String(sequence),
      StreamViewType: view,
    },
  });
}

const fullSnapshot = (p: MemoryPipeline) => runTableSnapshot(p, 'orders');

/**
 * Run each function's table use case through the real adapter and return what each one sent: a full
 * table snapshot; capture of a NEW_AND_OLD_IMAGES and of a KEYS_ONLY record; a restore into a new
 * table and a dry run; a table drill. Each asserts the use case did its work, so a recording of a
 * use case that failed early cannot pass for its needs.
 */
async function tableUseCases(): Promise<Record<TableFunction, Sent[]>> {
  const twin = new MemoryTableStore({ region: REGION });
  await twin.createTable(SOURCE, PROTECTED);
  twin.seed(PROTECTED, ITEMS);
  const { client, take, unmock } = recordingClient(twin);
  // A new factory per use case: captureTable caches key schemas per factory.
  const tables = () => () => new DynamoDBTableStore(client);
  try {
    const p = memoryPipeline();
    p.deps.partitionBatchObjects = 50;
    await p.catalog.putPlans([
      tablePlan({
        source: { table: PROTECTED },
        continuous: { settleSeconds: 0 },
        snapshot: { scanSegments: 3 },
        drill: { schedule: 'rate(1 day)', sampleObjects: 30, recentSnapshots: 1 },
      }),
    ]);

    p.deps.tables = tables(); // p.run's snapshot tasks use p.deps
    const snapshot = await fullSnapshot(p);
    expect(snapshot).toMatchObject({ status: 'COMMITTED', objectCount: ITEMS.length });
    const sent: Partial<Record<TableFunction, Sent[]>> = { snapshot: take() };

    const changed = { ...(ITEMS[3] as Item), total: { N: '-1' } };
    const full = await captureTableRecord(
      { ...p.deps, tables: tables() },
      streamRecord('NEW_AND_OLD_IMAGES', changed, 2001),
    );
    const keysOnly = await captureTableRecord(
      { ...p.deps, tables: tables() },
      streamRecord('KEYS_ONLY', changed, 2002),
    );
    expect([full.status, keysOnly.status]).toEqual(['journaled', 'journaled']);
    sent.captureTable = take();

    const options = { sleep: async () => {}, random: () => 0.5 };
    const restored = await restoreTable(
      { ...p.deps, tables: tables() },
      { plan: 'orders', toTable: RESTORED },
      options,
    );
    expect(restored).toMatchObject({ complete: true, created: true, restored: ITEMS.length, failed: 0 });
    expect(twin.itemsOf(RESTORED)).toHaveLength(ITEMS.length);
    const dry = await restoreTable(
      { ...p.deps, tables: tables() },
      { plan: 'orders', toTable: RESTORED_DRY, dryRun: true },
      options,
    );
    expect(dry).toMatchObject({ dryRun: true, restored: ITEMS.length });
    sent.restore = take();

    p.objects.createBucket('drill-scratch');
    const drill = await runDrill(
      {
        ...p.deps,
        tables: tables(),
        drillBucket: 'drill-scratch',
        drillTablePrefix: DRILL_PREFIX,
        elapsedMs: () => p.clock.now().getTime(),
      },
      {
        kind: 'drill',
        planId: 'orders',
        drillId: '20260302T000000Z',
        scheduledAt: '2026-03-02T00:00:00.000Z',
      },
    );
    expect(drill.status, drill.reason).toBe('PASSED');
    expect(drill.regions[REGION]?.objects).toBe(30);
    sent.drill = take();
    return sent as Record<TableFunction, Sent[]>;
  } finally {
    unmock();
  }
}

/** `*` and `?` of an IAM action or resource pattern; actions match case-insensitively. */
function covers(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

const logicalId = (fn: string) => fn.charAt(0).toUpperCase() + fn.slice(1);
const BINDINGS = pseudoParameters(REGION, ACCOUNT);

/** A function's role, by the Lambda function's `Role: !GetAtt <X>.Arn`. */
function roleOf(t: Template, fn: string): Resource {
  const role = evaluate(t.Resources[`${logicalId(fn)}LambdaFunction`]?.Properties?.Role, BINDINGS) as string;
  const resource = t.Resources[/^<(\w+)\.Arn>$/.exec(role)?.[1] ?? ''];
  if (resource?.Type !== 'AWS::IAM::Role') throw new Error(`${fn} has no role of this stack (${role})`);
  return resource;
}

/** The Allow statements of a function's role, evaluated. */
const allowsOf = (t: Template, fn: string) =>
  roleStatements(roleOf(t, fn), BINDINGS).filter(
    (s) => s.Effect === 'Allow' && !s.NotAction && !s.NotResource,
  );

/** What `sent` needs that the function's role does not grant, one line each. */
function missingGrants(t: Template, fn: TableFunction, sent: Sent[]): string[] {
  const allows = allowsOf(t, fn);
  const needs = [...new Set(sent.map((s) => `${s.action} ${tableArn(s.table)}`))].sort();
  return needs
    .filter((need) => {
      const [action, arn] = need.split(' ') as [string, string];
      return !allows.some(
        (s) =>
          asList(s.Action).some((a) => covers(a, action, true)) &&
          asList(s.Resource).some((r) => covers(r, arn)),
      );
    })
    .map((need) => `${fn} sends ${need.replace(' ', ' to ')}, which its role does not allow`);
}

let packaged: Packaged | undefined;
let sent: Record<TableFunction, Sent[]>;

beforeAll(async () => {
  [packaged, sent] = await Promise.all([runPackage(['--stage', 'dev']), tableUseCases()]);
}, 300_000);

afterAll(async () => {
  await packaged?.dispose();
});

describe('the DynamoDB grants of the table use cases, derived from what the adapter sends', () => {
  const t = () => (packaged as Packaged).template;
  const actionsOn = (fn: TableFunction) =>
    [...new Set(sent[fn].map((s) => `${s.action} ${s.table.replace(/-[0-9a-f]{10}$/, '-…')}`))].sort();

  it('records what each use case sends, on the tables it should touch', () => {
    // Not the list to grant (the template is checked against the recording itself): a check that
    // the recording saw each use case do its work on the tables it is meant to touch.
    expect(actionsOn('snapshot')).toEqual(
      expect.arrayContaining([`dynamodb:Scan ${PROTECTED}`, `dynamodb:DescribeTable ${PROTECTED}`]),
    );
    expect(actionsOn('captureTable')).toEqual(
      expect.arrayContaining([`dynamodb:DescribeTimeToLive ${PROTECTED}`, `dynamodb:GetItem ${PROTECTED}`]),
    );
    expect(actionsOn('restore')).toEqual(
      expect.arrayContaining([
        `dynamodb:CreateTable ${RESTORED}`,
        `dynamodb:BatchWriteItem ${RESTORED}`,
        `dynamodb:UpdateTimeToLive ${RESTORED}`,
        `dynamodb:DescribeTable ${RESTORED_DRY}`,
      ]),
    );
    expect(actionsOn('drill')).toEqual(
      expect.arrayContaining([
        'dynamodb:CreateTable strongbox-dev-drill-orders-…',
        'dynamodb:GetItem strongbox-dev-drill-orders-…',
        'dynamodb:DeleteTable strongbox-dev-drill-orders-…',
      ]),
    );
    const tablesOf = (fn: TableFunction) =>
      new Set(sent[fn].map((s) => s.table.replace(/-[0-9a-f]{10}$/, '-…')));
    expect(tablesOf('snapshot')).toEqual(new Set([PROTECTED]));
    expect(tablesOf('captureTable')).toEqual(new Set([PROTECTED]));
    expect(tablesOf('restore')).toEqual(new Set([RESTORED, RESTORED_DRY]));
    expect(tablesOf('drill')).toEqual(new Set(['strongbox-dev-drill-orders-…']));
  });

  it.each(TABLE_FUNCTIONS)('grants %s every DynamoDB action it sends, on the table it sends it to', (fn) => {
    expect(missingGrants(t(), fn, sent[fn]), `serverless.yml: grants ${fn} lacks`).toEqual([]);
  });

  it('names the function, the action and the table of a grant taken away', () => {
    // The check itself: captureTable's role without DescribeTimeToLive (the grant it once lacked).
    const without = structuredClone(t());
    const policies = (roleOf(without, 'captureTable').Properties?.Policies ?? []) as {
      PolicyDocument: { Statement: { Action?: unknown }[] };
    }[];
    for (const s of policies.flatMap((policy) => asList(policy.PolicyDocument.Statement)))
      s.Action = asList(s.Action as string | string[]).filter((a) => a !== 'dynamodb:DescribeTimeToLive');
    expect(missingGrants(without, 'captureTable', sent.captureTable)).toEqual([
      `captureTable sends dynamodb:DescribeTimeToLive to ${tableArn(PROTECTED)}, which its role does not allow`,
    ]);
  });
});
