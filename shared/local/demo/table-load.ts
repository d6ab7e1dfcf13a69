/**
 * The demo's and the bench's DynamoDB work through the AWS SDK, as a user's application would do
 * it: create the line table, load it with BatchWriteItem (parallel, unprocessed items sent again),
 * change it item by item, and read a table back with a parallel Scan.
 */

import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  UpdateTableCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import pLimit from 'p-limit';
import type { Item } from '#domain/table/item.ts';
import type { TableChange } from './table-corpus.ts';

/** BatchWriteItem's limit: 25 writes a call. */
export const BATCH_WRITE_MAX = 25;

type SdkItem = Record<string, AttributeValue>;
/** Our items hold no binary attribute: the domain's DynamoDB JSON is the SDK's shape. */
const sdk = (item: Item) => item as unknown as SdkItem;
const plain = (item: SdkItem) => item as unknown as Item;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Create the line table (pk S, sk N; on-demand; with `stream`, a NEW_AND_OLD_IMAGES stream) and
 * wait until it is ACTIVE. @returns the stream's ARN.
 */
export async function createLineTable(
  ddb: DynamoDBClient,
  tableName: string,
  options: { stream?: boolean } = {},
): Promise<string | undefined> {
  await ddb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      ...(options.stream !== false
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
        : {}),
    }),
  );
  return activeTable(ddb, tableName, options.stream !== false);
}

/** Wait until the table is ACTIVE (and, with `stream`, has a stream). @returns the stream's ARN. */
async function activeTable(
  ddb: DynamoDBClient,
  tableName: string,
  stream: boolean,
): Promise<string | undefined> {
  for (let i = 0; i < 600; i += 1) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE' && (!stream || Table.LatestStreamArn)) return Table.LatestStreamArn;
    await sleep(100);
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}

/**
 * Enable a NEW_AND_OLD_IMAGES stream on an existing table (UpdateTable), as when a loaded table is
 * put under protection: the changes from now on flow through capture, the items already there are
 * the full snapshot's Scan's. @returns the stream's ARN.
 */
export async function enableStream(ddb: DynamoDBClient, tableName: string): Promise<string | undefined> {
  await ddb.send(
    new UpdateTableCommand({
      TableName: tableName,
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  return activeTable(ddb, tableName, true);
}

/** Split into chunks of `size`. */
export function chunksOf<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * BatchWriteItem of one batch (≤ 25 writes) until DynamoDB has processed every write: the
 * `UnprocessedItems` it hands back are sent again after an exponential backoff with jitter
 * (50 ms doubling, at most 5 s), at most `maxAttempts` calls.
 * @returns the calls made. @throws when writes are still unprocessed after `maxAttempts` calls.
 */
export async function batchWriteAll(
  ddb: Pick<DynamoDBClient, 'send'>,
  tableName: string,
  writes: WriteRequest[],
  maxAttempts = 12,
): Promise<number> {
  let pending = writes;
  for (let attempt = 1; ; attempt += 1) {
    const out = await ddb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }));
    pending = out.UnprocessedItems?.[tableName] ?? [];
    if (pending.length === 0) return attempt;
    if (attempt >= maxAttempts)
      throw new Error(`${pending.length} writes to ${tableName} still unprocessed after ${attempt} calls`);
    await sleep(Math.min(5000, 50 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
  }
}

/**
 * Put every item with BatchWriteItem, 25 a call, `concurrency` calls at a time.
 * @returns the calls made (retries of unprocessed items included).
 */
export async function putItems(
  ddb: Pick<DynamoDBClient, 'send'>,
  tableName: string,
  items: readonly Item[],
  concurrency: number,
  onBatch: (written: number) => void = () => {},
): Promise<number> {
  const limit = pLimit(concurrency);
  let calls = 0;
  await Promise.all(
    chunksOf(items, BATCH_WRITE_MAX).map((batch) =>
      limit(async () => {
        const made = await batchWriteAll(
          ddb,
          tableName,
          batch.map((item) => ({ PutRequest: { Item: sdk(item) } })),
        );
        calls += made;
        onBatch(batch.length);
      }),
    ),
  );
  return calls;
}

/** Apply changes item by item (UpdateItem, PutItem, DeleteItem), `concurrency` at a time. */
export async function applyTableChanges(
  ddb: Pick<DynamoDBClient, 'send'>,
  tableName: string,
  changes: readonly TableChange[],
  concurrency: number,
): Promise<void> {
  const limit = pLimit(concurrency);
  await Promise.all(
    changes.map((c) =>
      limit(async () => {
        if (c.kind === 'insert')
          await ddb.send(new PutItemCommand({ TableName: tableName, Item: sdk(c.item) }));
        else if (c.kind === 'delete')
          await ddb.send(new DeleteItemCommand({ TableName: tableName, Key: sdk(c.key) }));
        else
          await ddb.send(
            new UpdateItemCommand({
              TableName: tableName,
              Key: sdk(c.key),
              UpdateExpression: 'SET #text = :text, #rev = :rev',
              ExpressionAttributeNames: { '#text': 'text', '#rev': 'rev' },
              ExpressionAttributeValues: { ':text': { S: c.text }, ':rev': { N: String(c.rev) } },
            }),
          );
      }),
    ),
  );
}

/** What a parallel Scan read. */
export interface ScanResult {
  items: Item[];
  /** Scan calls (pages). */
  pages: number;
  /** Sum of the pages' ConsumedCapacity (read capacity units). */
  capacityUnits: number;
}

/**
 * Every item of a table by a parallel Scan of `segments` segments (each read page by page),
 * strongly consistent, with the capacity each page consumed. `keep: false` counts the items
 * without keeping them (the bench's floor: nothing stored).
 */
export async function scanTable(
  ddb: Pick<DynamoDBClient, 'send'>,
  tableName: string,
  segments: number,
  options: { keep?: boolean; consistent?: boolean } = {},
): Promise<ScanResult & { count: number }> {
  const items: Item[] = [];
  let pages = 0;
  let capacityUnits = 0;
  let count = 0;
  await Promise.all(
    Array.from({ length: segments }, async (_, segment) => {
      let start: SdkItem | undefined;
      do {
        const out = await ddb.send(
          new ScanCommand({
            TableName: tableName,
            Segment: segment,
            TotalSegments: segments,
            ConsistentRead: options.consistent ?? true,
            ReturnConsumedCapacity: 'TOTAL',
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        pages += 1;
        capacityUnits += out.ConsumedCapacity?.CapacityUnits ?? 0;
        count += out.Items?.length ?? 0;
        if (options.keep !== false) for (const item of out.Items ?? []) items.push(plain(item));
        start = out.LastEvaluatedKey;
      } while (start);
    }),
  );
  return { items, pages, capacityUnits, count };
}
