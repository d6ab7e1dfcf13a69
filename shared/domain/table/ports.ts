/**
 * The `TableStore` port: the DynamoDB operations table sources and table restores need, over one
 * region's DynamoDB (shared/adapters/dynamodb-table/ implements it over an injected DynamoDBClient;
 * test/support has an in-memory one). Items cross it in DynamoDB JSON (item.ts).
 * @see ../../../docs/format.md#table-items
 */
import type { TableDefinition } from './definition.ts';
import type { Item } from './item.ts';

/** What DescribeTable says of a table, beyond its definition. */
export interface TableDescription {
  definition: TableDefinition;
  /** ACTIVE, CREATING, UPDATING, DELETING, … as DynamoDB says. */
  status: string;
  /** DynamoDB's estimate (updated about every 6 hours): sizes the parallel scan. */
  itemCount: number;
  sizeBytes: number;
  /** The latest stream's ARN, when a stream is enabled. */
  latestStreamArn?: string;
}

/** One page of a parallel Scan segment. */
export interface ScanPage {
  items: Item[];
  /** Where the next page starts; absent: the segment is done. */
  lastEvaluatedKey?: Item;
  /** Read capacity units the page consumed (ReturnConsumedCapacity TOTAL). */
  consumedCapacityUnits: number;
}

/** One write of a batch: a put of a whole item, or a delete by key. */
export type TableWrite = { put: Item } | { delete: Item };

/**
 * The table operations. Every method retries nothing itself beyond what the SDK does: throttling
 * and 5xx surface as TransientError (retryable); a missing table as NotFoundError (not retryable);
 * access denied as SourceUnavailableError (not retryable); a failed condition as ConflictError.
 */
export interface TableStore {
  /** DescribeTable (+ DescribeTimeToLive); undefined when the table does not exist. */
  describe(tableName: string): Promise<TableDescription | undefined>;
  /**
   * One page of `Scan` with `Segment`/`TotalSegments`, strongly consistent, from `startKey`.
   * @param limit items per page at most (DynamoDB also stops a page at 1 MB).
   */
  scanPage(
    tableName: string,
    segment: { index: number; total: number },
    startKey?: Item,
    limit?: number,
  ): Promise<ScanPage>;
  /** GetItem, strongly consistent; undefined when absent. */
  getItem(tableName: string, key: Item): Promise<Item | undefined>;
  /**
   * BatchWriteItem of at most 25 writes; returns the writes DynamoDB left unprocessed (throttled),
   * for the caller to send again with backoff.
   */
  batchWrite(tableName: string, writes: readonly TableWrite[]): Promise<TableWrite[]>;
  /**
   * PutItem; with `ifAbsent`, only when no item has the key (attribute_not_exists on the partition
   * key). @returns 'written', or 'exists' when the condition failed.
   */
  putItem(tableName: string, item: Item, options?: { ifAbsent?: boolean }): Promise<'written' | 'exists'>;
  /** CreateTable from a definition under another name, then wait until ACTIVE (TTL applied after). */
  createTable(definition: TableDefinition, tableName: string): Promise<void>;
  /** DeleteTable, then wait until it is gone; nothing when it does not exist. */
  deleteTable(tableName: string): Promise<void>;
  /**
   * ListTables: the names of the region's tables that start with `prefix` (all pages). Optional:
   * restore drills find the scratch tables a crashed drill left by their name prefix with it, and
   * fall back to the names their drill history implies without it.
   */
  listTables?(prefix: string): Promise<string[]>;
}
