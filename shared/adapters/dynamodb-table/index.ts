/**
 * The TableStore port over one region's DynamoDB (#domain/table/ports.ts), on the SDK's low-level
 * API through an injected `DynamoDBClient`. Items cross the port in the vault's DynamoDB JSON
 * (binaries as base64); ./attribute-values.ts converts them at the edge. Errors as ./errors.ts maps
 * them. Retries: the SDK's own (the client's `maxAttempts`/`retryMode`); nothing more here.
 * @see ../../../docs/format.md#table-items
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateTimeToLiveCommand,
  type WriteRequest,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import { ValidationError } from '#domain/errors.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import type { Item, KeySchema } from '#domain/table/item.ts';
import type { ScanPage, TableDescription, TableStore, TableWrite } from '#domain/table/ports.ts';
import { fromSdkItem, type SdkItem, toSdkItem } from './attribute-values.ts';
import { createTableInputOf, definitionOfDescription } from './definition.ts';
import { tableFailure } from './errors.ts';

export { fromSdkItem, fromSdkValue, type SdkItem, toSdkItem, toSdkValue } from './attribute-values.ts';
export { createTableInputOf, definitionOfDescription } from './definition.ts';
export { tableFailure } from './errors.ts';

/** BatchWriteItem's limit: 25 put or delete requests. */
export const MAX_BATCH_WRITES = 25;

/** Options of {@link DynamoDBTableStore}. */
export interface DynamoDBTableStoreOptions {
  /** The region definitions are recorded with. @default the client's configured region */
  region?: string;
  /** How long createTable and deleteTable wait for the table to be ACTIVE or gone. @default 600 */
  maxWaitSeconds?: number;
  /** The waiters' first and longest poll interval. @default 1 and 10 (the SDK's are 20 and 120) */
  minDelaySeconds?: number;
  maxDelaySeconds?: number;
}

const writeRequestOf = (write: TableWrite): WriteRequest =>
  'put' in write
    ? { PutRequest: { Item: toSdkItem(write.put) } }
    : { DeleteRequest: { Key: toSdkItem(write.delete) } };

function tableWriteOf(request: WriteRequest): TableWrite {
  if (request.PutRequest?.Item) return { put: fromSdkItem(request.PutRequest.Item) };
  return { delete: fromSdkItem(request.DeleteRequest?.Key as SdkItem) };
}

/**
 * DynamoDB tables of one region as table sources and restore targets.
 *
 * `putItem(…, { ifAbsent: true })` needs the partition key's name for its condition
 * (`attribute_not_exists(<hash key>)`): it takes it from a cached DescribeTable, one per table and
 * store (createTable fills the cache from the definition; deleteTable and a missing table empty it).
 * @example
 * ```ts
 * const tables = new DynamoDBTableStore(new DynamoDBClient({ region: 'eu-west-1' }));
 * const page = await tables.scanPage('orders', { index: 0, total: 8 });
 * ```
 */
export class DynamoDBTableStore implements TableStore {
  readonly #client: DynamoDBClient;
  readonly #options: DynamoDBTableStoreOptions;
  /** Each table's key schema, for conditional puts. */
  readonly #keys = new Map<string, Promise<KeySchema>>();

  constructor(client: DynamoDBClient, options: DynamoDBTableStoreOptions = {}) {
    this.#client = client;
    this.#options = options;
  }

  async #region(): Promise<string> {
    return this.#options.region ?? (await this.#client.config.region());
  }

  #waiter(): { client: DynamoDBClient; maxWaitTime: number; minDelay: number; maxDelay: number } {
    return {
      client: this.#client,
      maxWaitTime: this.#options.maxWaitSeconds ?? 600,
      minDelay: this.#options.minDelaySeconds ?? 1,
      maxDelay: this.#options.maxDelaySeconds ?? 10,
    };
  }

  async describe(tableName: string): Promise<TableDescription | undefined> {
    try {
      const [{ Table: table }, { TimeToLiveDescription: ttl }] = await Promise.all([
        this.#client.send(new DescribeTableCommand({ TableName: tableName })),
        this.#client.send(new DescribeTimeToLiveCommand({ TableName: tableName })),
      ]);
      if (!table) return undefined;
      const definition = definitionOfDescription(table, ttl, await this.#region());
      this.#keys.set(tableName, Promise.resolve(definition.key));
      return {
        definition,
        status: table.TableStatus ?? 'ACTIVE',
        itemCount: table.ItemCount ?? 0,
        sizeBytes: table.TableSizeBytes ?? 0,
        ...(table.LatestStreamArn && definition.streamViewType
          ? { latestStreamArn: table.LatestStreamArn }
          : {}),
      };
    } catch (error) {
      if ((error as Error)?.name === 'ResourceNotFoundException') {
        this.#keys.delete(tableName);
        return undefined;
      }
      throw tableFailure(`describe table ${tableName}`, error);
    }
  }

  async scanPage(
    tableName: string,
    segment: { index: number; total: number },
    startKey?: Item,
    limit?: number,
  ): Promise<ScanPage> {
    const what = `scan ${tableName} segment ${segment.index}/${segment.total}`;
    try {
      const out = await this.#client.send(
        new ScanCommand({
          TableName: tableName,
          Segment: segment.index,
          TotalSegments: segment.total,
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
          ...(limit !== undefined ? { Limit: limit } : {}),
          ...(startKey ? { ExclusiveStartKey: toSdkItem(startKey) } : {}),
        }),
      );
      return {
        items: (out.Items ?? []).map(fromSdkItem),
        ...(out.LastEvaluatedKey ? { lastEvaluatedKey: fromSdkItem(out.LastEvaluatedKey) } : {}),
        consumedCapacityUnits: out.ConsumedCapacity?.CapacityUnits ?? 0,
      };
    } catch (error) {
      throw tableFailure(what, error);
    }
  }

  async getItem(tableName: string, key: Item): Promise<Item | undefined> {
    try {
      const out = await this.#client.send(
        new GetItemCommand({ TableName: tableName, Key: toSdkItem(key), ConsistentRead: true }),
      );
      return out.Item ? fromSdkItem(out.Item) : undefined;
    } catch (error) {
      throw tableFailure(`get an item of ${tableName}`, error);
    }
  }

  /** @throws ValidationError (not retryable) for more than {@link MAX_BATCH_WRITES} writes. */
  async batchWrite(tableName: string, writes: readonly TableWrite[]): Promise<TableWrite[]> {
    if (writes.length > MAX_BATCH_WRITES)
      throw new ValidationError(
        `a batch of ${writes.length} writes: BatchWriteItem takes ${MAX_BATCH_WRITES} at most`,
      );
    if (writes.length === 0) return [];
    try {
      const out = await this.#client.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: writes.map(writeRequestOf) } }),
      );
      return (out.UnprocessedItems?.[tableName] ?? []).map(tableWriteOf);
    } catch (error) {
      throw tableFailure(`write ${writes.length} items of ${tableName}`, error);
    }
  }

  async putItem(
    tableName: string,
    item: Item,
    options: { ifAbsent?: boolean } = {},
  ): Promise<'written' | 'exists'> {
    const what = `put an item of ${tableName}`;
    try {
      const hash = options.ifAbsent ? (await this.#keySchema(tableName)).hash.name : undefined;
      await this.#client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: toSdkItem(item),
          ...(hash
            ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': hash } }
            : {}),
        }),
      );
      return 'written';
    } catch (error) {
      if ((error as Error)?.name === 'ConditionalCheckFailedException') return 'exists';
      if ((error as Error)?.name === 'ResourceNotFoundException') this.#keys.delete(tableName);
      throw tableFailure(what, error);
    }
  }

  /** The table's key schema, from the cache or a DescribeTable. @throws NotFoundError when absent. */
  #keySchema(tableName: string): Promise<KeySchema> {
    let key = this.#keys.get(tableName);
    if (!key) {
      key = this.#client
        .send(new DescribeTableCommand({ TableName: tableName }))
        .then(async ({ Table }) => definitionOfDescription(Table ?? {}, undefined, await this.#region()).key);
      key.catch(() => this.#keys.delete(tableName));
      this.#keys.set(tableName, key);
    }
    return key;
  }

  /**
   * CreateTable (./definition.ts `createTableInputOf`), wait until ACTIVE, then UpdateTimeToLive
   * when the definition names a TTL attribute.
   * @throws ConflictError (not retryable) when a table of that name exists; TransientError when it
   * did not become ACTIVE within `maxWaitSeconds`.
   */
  async createTable(definition: TableDefinition, tableName: string): Promise<void> {
    const what = `create table ${tableName}`;
    try {
      await this.#client.send(new CreateTableCommand(createTableInputOf(definition, tableName)));
      this.#keys.set(tableName, Promise.resolve(definition.key));
      await waitUntilTableExists(this.#waiter(), { TableName: tableName });
      if (definition.timeToLiveAttribute)
        await this.#client.send(
          new UpdateTimeToLiveCommand({
            TableName: tableName,
            TimeToLiveSpecification: { Enabled: true, AttributeName: definition.timeToLiveAttribute },
          }),
        );
    } catch (error) {
      throw tableFailure(what, error);
    }
  }

  /**
   * DeleteTable, then wait until it is gone; nothing when it does not exist. A table being created
   * is waited for first; one already being deleted is only waited for. Deletion protection is not
   * lifted: such a table fails with ValidationError (not retryable).
   */
  async deleteTable(tableName: string): Promise<void> {
    const what = `delete table ${tableName}`;
    this.#keys.delete(tableName);
    try {
      try {
        await this.#client.send(new DeleteTableCommand({ TableName: tableName }));
      } catch (error) {
        if ((error as Error)?.name === 'ResourceNotFoundException') return;
        if ((error as Error)?.name !== 'ResourceInUseException') throw error;
        const { Table } = await this.#client.send(new DescribeTableCommand({ TableName: tableName }));
        if (Table?.TableStatus !== 'DELETING') {
          await waitUntilTableExists(this.#waiter(), { TableName: tableName });
          await this.#client.send(new DeleteTableCommand({ TableName: tableName }));
        }
      }
      await waitUntilTableNotExists(this.#waiter(), { TableName: tableName });
    } catch (error) {
      if ((error as Error)?.name === 'ResourceNotFoundException') return;
      throw tableFailure(what, error);
    }
  }
}
