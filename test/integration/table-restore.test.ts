/**
 * A table restore against DynamoDB Local through the DynamoDB adapter: a snapshot of a table the
 * snapshot use case scanned, restored into a new table (created from the recorded definition) and
 * compared item by item; then selected items back into the original under `never`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DynamoDBTableStore } from '#adapters/dynamodb-table/index.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import { canonicalItem, type Item } from '#domain/table/item.ts';
import type { TableStore } from '#domain/table/ports.ts';
import { restoreTable } from '#domain/table/restore.ts';
import { startDynamoDb } from '../support/emulators.ts';
import { memoryPipeline, plan } from '../support/memory-pipeline.ts';

const ITEMS = 5000;
let ddb: Awaited<ReturnType<typeof startDynamoDb>>;
let store: DynamoDBTableStore;

const definition: TableDefinition = {
  tableName: 'orders',
  region: 'us-east-1',
  key: { hash: { name: 'pk', type: 'S' }, range: { name: 'sk', type: 'N' } },
  attributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'N' },
    { AttributeName: 'status', AttributeType: 'S' },
  ],
  globalSecondaryIndexes: [
    {
      IndexName: 'byStatus',
      KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
  localSecondaryIndexes: [],
  billingMode: 'PAY_PER_REQUEST',
};

/** Every item of a table (one segment), canonical, sorted by key. */
async function scanAll(tables: TableStore, table: string): Promise<Item[]> {
  const out: Item[] = [];
  let startKey: Item | undefined;
  do {
    const page = await tables.scanPage(table, { index: 0, total: 1 }, startKey);
    out.push(...page.items.map(canonicalItem));
    startKey = page.lastEvaluatedKey;
  } while (startKey);
  return out.sort((a, b) => JSON.stringify([a.pk, a.sk]).localeCompare(JSON.stringify([b.pk, b.sk])));
}

beforeAll(async () => {
  ddb = await startDynamoDb();
  store = new DynamoDBTableStore(ddb.client);
  await store.createTable(definition, 'orders');
  const items = Array.from(
    { length: ITEMS },
    (_, i): Item => ({
      pk: { S: `file#${i % 97}` },
      sk: { N: String(i) },
      status: { S: i % 3 === 0 ? 'open' : 'done' },
      text: { S: `line ${i}: ${'lorem ipsum '.repeat(i % 7)}` },
      tags: { SS: ['a', `t${i % 5}`] },
    }),
  );
  for (let i = 0; i < items.length; i += 25) {
    let left = items.slice(i, i + 25).map((put) => ({ put }));
    while (left.length > 0) left = (await store.batchWrite('orders', left)) as typeof left;
  }
}, 180_000);
afterAll(async () => {
  await ddb?.stop();
});

it('restores a scanned snapshot into a new table, and selected items into the original', async () => {
  const p = memoryPipeline(new Date().toISOString());
  p.deps.tables = () => store;
  p.deps.concurrency = 16;
  await p.catalog.putPlans([
    plan({ id: 'orders', source: { table: 'orders' }, copyRegions: [], continuous: { settleSeconds: 0 } }),
  ]);
  const { snapshotId } = await startSnapshotNow(p.deps, 'orders');
  await p.drain();

  const started = performance.now();
  const report = await restoreTable(p.deps, {
    plan: 'orders',
    snapshot: snapshotId,
    toTable: 'orders-restored',
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `table restore on DynamoDB Local: ${report.restored} items in ${seconds.toFixed(1)} s (${(report.restored / seconds).toFixed(0)} items/s)`,
  );
  expect(report).toMatchObject({ restored: ITEMS, failed: 0, created: true });
  expect(
    (await store.describe('orders-restored'))?.definition.globalSecondaryIndexes.map((g) => g.IndexName),
  ).toEqual(['byStatus']);
  expect(await scanAll(store, 'orders-restored')).toEqual(await scanAll(store, 'orders'));

  // Back into the original: one partition key's items, deleted there, come back; others are kept.
  await store.batchWrite('orders', [{ delete: { pk: { S: 'file#5' }, sk: { N: '5' } } }]);
  await store.putItem('orders', { pk: { S: 'file#5' }, sk: { N: '102' }, status: { S: 'changed' } });
  const back = await restoreTable(p.deps, {
    plan: 'orders',
    snapshot: snapshotId,
    toOriginal: true,
    select: { keyPrefix: 'file#5/' },
  });
  expect(back.selected).toBe(Math.ceil((ITEMS - 5) / 97));
  expect(back).toMatchObject({ restored: 1, failed: 0 });
  expect(back.skipped).toBe(back.selected - 1);
  expect(await store.getItem('orders', { pk: { S: 'file#5' }, sk: { N: '5' } })).toBeDefined();
  expect((await store.getItem('orders', { pk: { S: 'file#5' }, sk: { N: '102' } }))?.status).toEqual({
    S: 'changed',
  });
}, 300_000);
