/**
 * A memory twin of the TableStore port (#domain/table/ports.ts), for unit tests, the contract suite
 * (test/contract/table-store.contract.ts) and the simulator: same contract as the DynamoDB adapter,
 * no network, deterministic.
 *
 * - Scan segments: an item belongs to segment `h mod total`, `h` the first 4 bytes of the SHA-256 of
 *   its partition key's canonical JSON; a segment lists its items by (h, item key). Like DynamoDB, a
 *   page stops at `limit` items or once its items pass `pageBytes` (canonical JSON), and then carries
 *   a `lastEvaluatedKey` even when nothing is left (the next page is empty).
 * - `unprocessed`: batchWrite leaves each write unprocessed with that probability (seeded), as a
 *   throttled BatchWriteItem does, to exercise the callers' retries.
 * - Errors as the adapter maps them: a missing table is NotFoundError (describe: undefined), a
 *   second table of a name ConflictError, a malformed request ValidationError.
 */
import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '#domain/errors.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import { canonicalItemJson, type Item, itemKeyOf, type KeySchema } from '#domain/table/item.ts';
import type { ScanPage, TableDescription, TableStore, TableWrite } from '#domain/table/ports.ts';
import { compareKeys } from '#domain/vault.ts';

/** Options of {@link MemoryTableStore}. */
export interface MemoryTableStoreOptions {
  /** The region definitions are recorded with. @default 'us-east-1' */
  region?: string;
  /** The page cap in canonical JSON bytes (DynamoDB's 1 MB). @default 1_048_576 */
  pageBytes?: number;
  /** Leave a fraction of batch writes unprocessed. */
  unprocessed?: { fraction: number; seed?: number };
}

interface MemoryTable {
  definition: TableDefinition;
  /** By item key. */
  items: Map<string, Item>;
  streamArn?: string;
  /** Each segment's places in scan order, by `index/total`; emptied by every write. */
  segments: Map<string, { hash: number; key: string }[]>;
}

/** DynamoDB's item size limit, approximated by the canonical JSON's bytes. */
const MAX_ITEM_BYTES = 400 * 1024;

/** A small seeded generator (mulberry32): the same seed, the same unprocessed writes. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const clone = <T>(value: T): T => structuredClone(value);
const bytesOf = (item: Item) => Buffer.byteLength(canonicalItemJson(item), 'utf8');

/** The item's place in a scan: the hash of its partition key, then its item key. */
function placeOf(item: Item, key: KeySchema): { hash: number; key: string } {
  const partition = JSON.stringify(item[key.hash.name] ?? null);
  return {
    hash: createHash('sha256').update(partition).digest().readUInt32BE(0),
    key: itemKeyOf(item, key),
  };
}

const comparePlaces = (a: { hash: number; key: string }, b: { hash: number; key: string }) =>
  a.hash - b.hash || compareKeys(a.key, b.key);

/** Tables of items in memory. */
export class MemoryTableStore implements TableStore {
  readonly tables = new Map<string, MemoryTable>();
  readonly region: string;
  readonly #pageBytes: number;
  readonly #unprocessed: number;
  readonly #random: () => number;
  #streams = 0;
  /** Calls of each method, for tests (e.g. how many batches a restore sent). */
  readonly calls = { describe: 0, scanPage: 0, getItem: 0, batchWrite: 0, putItem: 0 };
  /** Called before each scan page is read: lets a test change the table mid-scan. */
  beforeScanPage?: (tableName: string, segment: { index: number; total: number }) => void;

  constructor(options: MemoryTableStoreOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.#pageBytes = options.pageBytes ?? 1_048_576;
    this.#unprocessed = options.unprocessed?.fraction ?? 0;
    this.#random = seeded(options.unprocessed?.seed ?? 1);
  }

  /** Every item of a table (copies), in item key order; [] when there is no such table. */
  itemsOf(tableName: string): Item[] {
    const table = this.tables.get(tableName);
    if (!table) return [];
    return [...table.items.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, item]) => clone(item));
  }

  /** Put items directly (no batch limit, no unprocessed writes): a test's fixture. */
  seed(tableName: string, items: readonly Item[]): void {
    const table = this.#table(tableName);
    for (const item of items) table.items.set(itemKeyOf(item, table.definition.key), clone(item));
    table.segments.clear();
  }

  #table(tableName: string): MemoryTable {
    const table = this.tables.get(tableName);
    if (!table) throw new NotFoundError(`table ${tableName}: ResourceNotFoundException: no such table`);
    return table;
  }

  async describe(tableName: string): Promise<TableDescription | undefined> {
    this.calls.describe += 1;
    const table = this.tables.get(tableName);
    if (!table) return undefined;
    let sizeBytes = 0;
    for (const item of table.items.values()) sizeBytes += bytesOf(item);
    return {
      definition: clone(table.definition),
      status: 'ACTIVE',
      itemCount: table.items.size,
      sizeBytes,
      ...(table.streamArn ? { latestStreamArn: table.streamArn } : {}),
    };
  }

  async scanPage(
    tableName: string,
    segment: { index: number; total: number },
    startKey?: Item,
    limit?: number,
  ): Promise<ScanPage> {
    this.calls.scanPage += 1;
    const { index, total } = segment;
    if (
      !Number.isInteger(total) ||
      total < 1 ||
      total > 1_000_000 ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= total
    )
      throw new ValidationError(`segment ${index} of ${total}: Segment must be in [0, TotalSegments)`);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
      throw new ValidationError(`limit ${limit}: Limit must be at least 1`);
    this.beforeScanPage?.(tableName, segment);
    const table = this.#table(tableName);
    const key = table.definition.key;
    const after = startKey ? placeOf(startKey, key) : undefined;
    const places = segmentPlaces(table, index, total);
    // The first place after the start key (binary search: pages of a large table stay cheap).
    let from = 0;
    if (after) {
      let hi = places.length;
      while (from < hi) {
        const mid = (from + hi) >>> 1;
        if (comparePlaces(places[mid] as { hash: number; key: string }, after) > 0) hi = mid;
        else from = mid + 1;
      }
    }
    const items: Item[] = [];
    let bytes = 0;
    let stopped = false;
    for (let i = from; i < places.length; i += 1) {
      const item = table.items.get((places[i] as { key: string }).key) as Item;
      if ((limit !== undefined && items.length >= limit) || bytes >= this.#pageBytes) {
        stopped = true;
        break;
      }
      items.push(clone(item));
      bytes += bytesOf(item);
    }
    // DynamoDB stops a page at the limit, or once it read 1 MB, and then names where it stopped.
    if (!stopped && ((limit !== undefined && items.length >= limit) || bytes >= this.#pageBytes))
      stopped = true;
    const last = items.at(-1);
    return {
      items,
      ...(stopped && last ? { lastEvaluatedKey: keyOf(last, key) } : {}),
      consumedCapacityUnits: Math.ceil(bytes / 4096),
    };
  }

  async getItem(tableName: string, key: Item): Promise<Item | undefined> {
    this.calls.getItem += 1;
    const table = this.#table(tableName);
    const item = table.items.get(this.#keyOf(table, key, true));
    return item ? clone(item) : undefined;
  }

  async batchWrite(tableName: string, writes: readonly TableWrite[]): Promise<TableWrite[]> {
    this.calls.batchWrite += 1;
    if (writes.length > 25)
      throw new ValidationError(`a batch of ${writes.length} writes: BatchWriteItem takes 25 at most`);
    if (writes.length === 0) return [];
    const table = this.#table(tableName);
    const keys = writes.map((w) => this.#keyOf(table, 'put' in w ? w.put : w.delete, 'delete' in w));
    if (new Set(keys).size !== keys.length)
      throw new ValidationError('ValidationException: Provided list of item keys contains duplicates');
    for (const w of writes) if ('put' in w) this.#checkSize(w.put);
    const unprocessed: TableWrite[] = [];
    writes.forEach((write, i) => {
      if (this.#unprocessed > 0 && this.#random() < this.#unprocessed) {
        unprocessed.push(clone(write));
        return;
      }
      const at = keys[i] as string;
      table.segments.clear();
      if ('put' in write) table.items.set(at, clone(write.put));
      else table.items.delete(at);
    });
    return unprocessed;
  }

  async putItem(
    tableName: string,
    item: Item,
    options: { ifAbsent?: boolean } = {},
  ): Promise<'written' | 'exists'> {
    this.calls.putItem += 1;
    const table = this.#table(tableName);
    const at = this.#keyOf(table, item, false);
    this.#checkSize(item);
    if (options.ifAbsent && table.items.has(at)) return 'exists';
    table.segments.clear();
    table.items.set(at, clone(item));
    return 'written';
  }

  async createTable(definition: TableDefinition, tableName: string): Promise<void> {
    if (this.tables.has(tableName))
      throw new ConflictError(`create table ${tableName}: ResourceInUseException: Table already exists`);
    checkDefinition(definition);
    if (definition.billingMode === 'PROVISIONED' && !definition.provisionedThroughput)
      throw new ValidationError(
        `the PROVISIONED table ${definition.tableName} records no provisioned throughput`,
      );
    this.#streams += 1;
    const stored: TableDefinition = { ...clone(definition), tableName, region: this.region };
    this.tables.set(tableName, {
      definition: stored,
      items: new Map(),
      segments: new Map(),
      ...(definition.streamViewType
        ? {
            streamArn: `arn:aws:dynamodb:${this.region}:000000000000:table/${tableName}/stream/${String(this.#streams).padStart(6, '0')}`,
          }
        : {}),
    });
  }

  async deleteTable(tableName: string): Promise<void> {
    const table = this.tables.get(tableName);
    if (!table) return;
    if (table.definition.deletionProtection)
      throw new ValidationError(
        `delete table ${tableName}: Resource cannot be deleted as it is currently protected against deletion`,
      );
    this.tables.delete(tableName);
  }

  /** The item key of `item` (a key, or an item when `exact` is false), as DynamoDB validates it. */
  #keyOf(table: MemoryTable, item: Item, exact: boolean): string {
    const key = table.definition.key;
    const at = itemKeyOf(item, key);
    if (exact && Object.keys(item).length !== (key.range ? 2 : 1))
      throw new ValidationError('ValidationException: The provided key element does not match the schema');
    return at;
  }

  #checkSize(item: Item): void {
    if (bytesOf(item) > MAX_ITEM_BYTES)
      throw new ValidationError('ValidationException: Item size has exceeded the maximum allowed size');
  }
}

/** The places of segment `index` of `total`, in scan order (cached until the next write). */
function segmentPlaces(table: MemoryTable, index: number, total: number): { hash: number; key: string }[] {
  const id = `${index}/${total}`;
  let places = table.segments.get(id);
  if (!places) {
    places = [...table.items.values()]
      .map((item) => placeOf(item, table.definition.key))
      .filter((place) => place.hash % total === index)
      .sort(comparePlaces);
    table.segments.set(id, places);
  }
  return places;
}

/** The key attributes of an item (what LastEvaluatedKey names on a table scan). */
function keyOf(item: Item, key: KeySchema): Item {
  const out: Item = { [key.hash.name]: clone(item[key.hash.name]) } as Item;
  if (key.range) out[key.range.name] = clone(item[key.range.name]) as Item[string];
  return out;
}

/**
 * What CreateTable checks of a definition: the attribute definitions are exactly the attributes of
 * the table's and the indexes' key schemas. @throws ValidationError
 */
function checkDefinition(definition: TableDefinition): void {
  const used = new Set([
    definition.key.hash.name,
    ...(definition.key.range ? [definition.key.range.name] : []),
  ]);
  for (const index of [...definition.globalSecondaryIndexes, ...definition.localSecondaryIndexes])
    for (const k of index.KeySchema) used.add(k.AttributeName);
  const defined = new Set(definition.attributeDefinitions.map((a) => a.AttributeName));
  if (defined.size !== used.size || [...used].some((name) => !defined.has(name)))
    throw new ValidationError(
      'ValidationException: the attribute definitions do not match the key schemas of the table and its indexes',
    );
}
