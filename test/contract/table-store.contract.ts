/**
 * The TableStore contract (shared/domain/table/ports.ts): table sources (describe, parallel scan,
 * get) and restore targets (create, batch write with unprocessed retries, conditional put, delete),
 * run against the memory twin and the DynamoDB adapter on DynamoDB Local.
 */
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  isRetryable,
  NotFoundError,
  StrongboxError,
  ValidationError,
} from '#domain/errors.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import { canonicalItemJson, type Item, itemKeyOf } from '#domain/table/item.ts';
import type { TableStore, TableWrite } from '#domain/table/ports.ts';
import { contractCase, type KnownDivergences } from './divergences.ts';

/** A store and a table name no table has yet (unique per call). */
export interface TableStoreUnderTest {
  store: TableStore;
  tableName: string;
  region: string;
}

/** A definition with a composite key, a GSI, an LSI, TTL and a stream: what a restore recreates. */
export function ordersDefinition(tableName: string, region: string): TableDefinition {
  return {
    tableName,
    region,
    key: { hash: { name: 'pk', type: 'S' }, range: { name: 'sk', type: 'N' } },
    attributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'N' },
      { AttributeName: 'status', AttributeType: 'S' },
      { AttributeName: 'placed', AttributeType: 'S' },
    ],
    globalSecondaryIndexes: [
      {
        IndexName: 'byStatus',
        KeySchema: [
          { AttributeName: 'status', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['total'] },
      },
    ],
    localSecondaryIndexes: [
      {
        IndexName: 'byPlaced',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'placed', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
    billingMode: 'PAY_PER_REQUEST',
    timeToLiveAttribute: 'expires',
    streamViewType: 'NEW_AND_OLD_IMAGES',
  };
}

/** Order `i`: every attribute type, binaries (plain, in a set, nested) included. */
export function order(i: number): Item {
  return {
    pk: { S: `customer#${i % 97}` },
    sk: { N: String(i) },
    status: { S: i % 3 === 0 ? 'shipped' : 'open' },
    placed: { S: `2026-12-${String((i % 28) + 1).padStart(2, '0')}` },
    total: { N: `${i}.5` },
    // Far in the future: nothing expires during the test.
    expires: { N: '4102444800' },
    receipt: { B: Buffer.from([i % 256, 0, 255, (i * 7) % 256]).toString('base64') },
    tags: { SS: ['b', 'a', `t${i % 5}`] },
    codes: { BS: [Buffer.from([1, i % 256]).toString('base64'), Buffer.from([2]).toString('base64')] },
    lines: {
      L: [
        {
          M: { sku: { S: `sku-${i}` }, qty: { N: '2' }, raw: { B: Buffer.from('line').toString('base64') } },
        },
        { NULL: true },
        { BOOL: i % 2 === 0 },
      ],
    },
    meta: { M: { ns: { NS: ['1', '2.5'] }, empty: { S: '' } } },
  };
}

const keyOf = (item: Item): Item => ({ pk: item.pk as Item[string], sk: item.sk as Item[string] });
const schema = { hash: { name: 'pk', type: 'S' as const }, range: { name: 'sk', type: 'N' as const } };
const canonical = (items: readonly Item[]) =>
  items.map(canonicalItemJson).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Send `writes` in batches of 25, sending unprocessed writes again until none is left. */
export async function writeAll(
  store: TableStore,
  tableName: string,
  writes: readonly TableWrite[],
): Promise<number> {
  let rounds = 0;
  for (let i = 0; i < writes.length; i += 25) {
    let pending: TableWrite[] = writes.slice(i, i + 25);
    while (pending.length > 0) {
      rounds += 1;
      if (rounds > 10_000) throw new Error('unprocessed writes never drain');
      pending = await store.batchWrite(tableName, pending);
    }
  }
  return rounds;
}

/** Every item of one segment, page by page. */
async function scanSegment(
  store: TableStore,
  tableName: string,
  segment: { index: number; total: number },
  limit?: number,
): Promise<{ items: Item[]; pages: number; capacity: number }> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  let pages = 0;
  let capacity = 0;
  do {
    const page = await store.scanPage(tableName, segment, startKey, limit);
    pages += 1;
    capacity += page.consumedCapacityUnits;
    if (limit !== undefined) expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    startKey = page.lastEvaluatedKey;
  } while (startKey);
  return { items, pages, capacity };
}

export function tableStoreContract(
  name: string,
  make: () => Promise<TableStoreUnderTest>,
  known?: KnownDivergences,
): void {
  describe(`TableStore contract: ${name}`, () => {
    it('creates a table from a definition (GSI, LSI, TTL, stream) that describe gives back', async () => {
      const { store, tableName, region } = await make();
      const definition = ordersDefinition('orders', region);
      expect(await store.describe(tableName)).toBeUndefined();
      await store.createTable(definition, tableName);
      const described = await store.describe(tableName);
      expect(described?.status).toBe('ACTIVE');
      expect(described?.definition).toEqual({ ...definition, tableName });
      expect(described?.itemCount).toBe(0);
      // A stream is enabled: its ARN names the new table's stream.
      expect(described?.latestStreamArn).toMatch(
        new RegExp(`^arn:aws:dynamodb:[^:]+:\\d{12}:table/${tableName}/stream/.+`),
      );
      await store.deleteTable(tableName);
    });

    it('writes 1,000 items by batch; 4 scan segments list each exactly once, binaries intact', async () => {
      const { store, tableName, region } = await make();
      await store.createTable(ordersDefinition('orders', region), tableName);
      const items = Array.from({ length: 1000 }, (_, i) => order(i));
      await writeAll(
        store,
        tableName,
        items.map((put) => ({ put })),
      );
      const segments = await Promise.all(
        [0, 1, 2, 3].map((index) => scanSegment(store, tableName, { index, total: 4 }, 90)),
      );
      const all = segments.flatMap((s) => s.items);
      const keys = all.map((item) => itemKeyOf(item, schema));
      expect(new Set(keys).size).toBe(keys.length);
      expect(canonical(all)).toEqual(canonical(items));
      // Every segment holds some of the items (97 partition keys spread over 4 segments).
      for (const s of segments) expect(s.items.length).toBeGreaterThan(0);
      // One segment of one: the same items; strongly consistent reads consume capacity.
      const whole = await scanSegment(store, tableName, { index: 0, total: 1 });
      expect(canonical(whole.items)).toEqual(canonical(items));
      expect(whole.capacity).toBeGreaterThan(0);
      await store.deleteTable(tableName);
    });

    it('stops a page at about 1 MB and names where it stopped', async () => {
      const { store, tableName, region } = await make();
      await store.createTable(ordersDefinition('orders', region), tableName);
      const big = 'x'.repeat(100 * 1024);
      const items = Array.from({ length: 14 }, (_, i) => ({ ...keyOf(order(i)), blob: { S: big } }));
      await writeAll(
        store,
        tableName,
        items.map((put) => ({ put })),
      );
      const first = await store.scanPage(tableName, { index: 0, total: 1 });
      expect(first.items.length).toBeLessThan(14);
      expect(first.items.length).toBeGreaterThanOrEqual(9);
      expect(first.lastEvaluatedKey).toBeDefined();
      const rest = await scanSegment(store, tableName, { index: 0, total: 1 });
      expect(rest.items).toHaveLength(14);
      expect(rest.pages).toBeGreaterThan(1);
      await store.deleteTable(tableName);
    });

    it('gets an item by key; a missing item is undefined', async () => {
      const { store, tableName, region } = await make();
      await store.createTable(ordersDefinition('orders', region), tableName);
      await writeAll(store, tableName, [{ put: order(7) }, { put: order(8) }]);
      const got = await store.getItem(tableName, keyOf(order(7)));
      expect(got && canonicalItemJson(got)).toBe(canonicalItemJson(order(7)));
      expect(await store.getItem(tableName, keyOf(order(9)))).toBeUndefined();
      await store.deleteTable(tableName);
    });

    it('deletes by key in a batch; more than 25 writes is ValidationError (not retryable)', async () => {
      const { store, tableName, region } = await make();
      await store.createTable(ordersDefinition('orders', region), tableName);
      await writeAll(store, tableName, [{ put: order(1) }, { put: order(2) }]);
      await writeAll(store, tableName, [{ delete: keyOf(order(1)) }, { put: order(3) }]);
      expect(await store.getItem(tableName, keyOf(order(1)))).toBeUndefined();
      expect(await store.getItem(tableName, keyOf(order(3)))).toBeDefined();
      const tooMany = Array.from({ length: 26 }, (_, i) => ({ put: order(100 + i) }));
      const error = await store.batchWrite(tableName, tooMany).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(isRetryable(error)).toBe(false);
      expect(await store.batchWrite(tableName, [])).toEqual([]);
      await store.deleteTable(tableName);
    });

    it('puts an item; with ifAbsent, only when no item has its key', async () => {
      const { store, tableName, region } = await make();
      await store.createTable(ordersDefinition('orders', region), tableName);
      expect(await store.putItem(tableName, order(5), { ifAbsent: true })).toBe('written');
      const changed = { ...order(5), total: { N: '1' } };
      expect(await store.putItem(tableName, changed, { ifAbsent: true })).toBe('exists');
      expect((await store.getItem(tableName, keyOf(order(5))))?.total).toEqual({ N: '5.5' });
      // Same partition key, another sort key: a different item, absent.
      expect(await store.putItem(tableName, { ...order(5), sk: { N: '100005' } }, { ifAbsent: true })).toBe(
        'written',
      );
      expect(await store.putItem(tableName, changed)).toBe('written');
      expect((await store.getItem(tableName, keyOf(order(5))))?.total).toEqual({ N: '1' });
      await store.deleteTable(tableName);
    });

    it('a second table of a name is ConflictError; deleteTable removes it and then does nothing', async () => {
      const { store, tableName, region } = await make();
      const definition = ordersDefinition('orders', region);
      await store.createTable(definition, tableName);
      const error = await store.createTable(definition, tableName).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      await store.deleteTable(tableName);
      expect(await store.describe(tableName)).toBeUndefined();
      await store.deleteTable(tableName);
    });

    it('a missing table is NotFoundError (not retryable) to scan, get, write and put', async () => {
      const { store, tableName } = await make();
      const calls: (() => Promise<unknown>)[] = [
        () => store.scanPage(tableName, { index: 0, total: 1 }),
        () => store.getItem(tableName, keyOf(order(1))),
        () => store.batchWrite(tableName, [{ put: order(1) }]),
        () => store.putItem(tableName, order(1)),
        () => store.putItem(tableName, order(1), { ifAbsent: true }),
      ];
      for (const call of calls) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(NotFoundError);
        expect(isRetryable(error)).toBe(false);
      }
    });

    it('a provisioned table without a stream or TTL round-trips; a protected table is not deleted', async () => {
      const { store, tableName, region } = await make();
      const definition: TableDefinition = {
        tableName: 'ledger',
        region,
        key: { hash: { name: 'id', type: 'B' } },
        attributeDefinitions: [{ AttributeName: 'id', AttributeType: 'B' }],
        globalSecondaryIndexes: [],
        localSecondaryIndexes: [],
        billingMode: 'PROVISIONED',
        provisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 3 },
        deletionProtection: true,
      };
      await store.createTable(definition, tableName);
      const described = await store.describe(tableName);
      expect(described?.definition).toEqual({ ...definition, tableName });
      expect(described?.latestStreamArn).toBeUndefined();
      const id = { id: { B: Buffer.from([0, 1, 2, 250]).toString('base64') } };
      expect(await store.putItem(tableName, { ...id, n: { N: '1' } }, { ifAbsent: true })).toBe('written');
      expect(await store.putItem(tableName, { ...id, n: { N: '2' } }, { ifAbsent: true })).toBe('exists');
      expect(await store.getItem(tableName, id)).toEqual({ ...id, n: { N: '1' } });
      const error = await store.deleteTable(tableName).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StrongboxError);
      expect(isRetryable(error)).toBe(false);
      expect(await store.describe(tableName)).toBeDefined();
    });

    contractCase(known, 'sse-kms', 'records SSE with a KMS key and recreates it', async () => {
      const { store, tableName, region } = await make();
      const kmsKeyArn = `arn:aws:kms:${region}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
      const definition: TableDefinition = {
        ...ordersDefinition('orders', region),
        sse: { type: 'KMS', kmsKeyArn },
      };
      await store.createTable(definition, tableName);
      const described = await store.describe(tableName);
      await store.deleteTable(tableName);
      expect(described?.definition.sse).toEqual({ type: 'KMS', kmsKeyArn });
    });
  });
}
