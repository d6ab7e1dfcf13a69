// What the memory twin of the TableStore adds for tests and the simulator: seeded unprocessed batch
// writes, segments fixed by the partition key, DynamoDB's paging (a key at a full page, even the
// last). The port's contract itself runs in test/contract/table-store.test.ts.
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#domain/errors.ts';
import type { Item } from '#domain/table/item.ts';
import { order, ordersDefinition, writeAll } from '../contract/table-store.contract.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';

async function storeWith(items: Item[], options: ConstructorParameters<typeof MemoryTableStore>[0] = {}) {
  const store = new MemoryTableStore(options);
  await store.createTable(ordersDefinition('orders', store.region), 'orders');
  store.seed('orders', items);
  return store;
}

describe('MemoryTableStore', () => {
  it('leaves about the configured fraction of batch writes unprocessed, the same ones for the same seed', async () => {
    const writes = Array.from({ length: 25 }, (_, i) => ({ put: order(i) }));
    const left = async (seed: number) => {
      const store = await storeWith([], { unprocessed: { fraction: 0.4, seed } });
      return (await store.batchWrite('orders', writes)).map((w) => ('put' in w ? w.put.sk : undefined));
    };
    const first = await left(7);
    expect(first.length).toBeGreaterThan(3);
    expect(first.length).toBeLessThan(22);
    expect(await left(7)).toEqual(first);
    expect(await left(8)).not.toEqual(first);
  });

  it('writes everything once the caller sends the unprocessed writes again', async () => {
    const store = await storeWith([], { unprocessed: { fraction: 0.5 } });
    const rounds = await writeAll(
      store,
      'orders',
      Array.from({ length: 100 }, (_, i) => ({ put: order(i) })),
    );
    expect(rounds).toBeGreaterThan(4);
    expect(store.itemsOf('orders')).toHaveLength(100);
  });

  it('puts every item of a partition key in the same segment, whatever the segment count’s run', async () => {
    const items = Array.from({ length: 300 }, (_, i) => order(i));
    const store = await storeWith(items);
    const segmentOf = new Map<string, number>();
    for (let index = 0; index < 5; index += 1) {
      const page = await store.scanPage('orders', { index, total: 5 });
      for (const item of page.items) {
        const pk = (item.pk as { S: string }).S;
        expect(segmentOf.get(pk) ?? index).toBe(index);
        segmentOf.set(pk, index);
      }
    }
    expect(segmentOf.size).toBe(97);
    expect(new Set(segmentOf.values()).size).toBe(5);
  });

  it('names a start key on a full page even when nothing is left, then answers an empty page', async () => {
    const store = await storeWith([order(1), order(2)]);
    const first = await store.scanPage('orders', { index: 0, total: 1 }, undefined, 2);
    expect(first.items).toHaveLength(2);
    expect(first.lastEvaluatedKey).toEqual({ pk: order(2).pk, sk: order(2).sk });
    const next = await store.scanPage('orders', { index: 0, total: 1 }, first.lastEvaluatedKey, 2);
    expect(next).toEqual({ items: [], consumedCapacityUnits: 0 });
  });

  it('refuses what DynamoDB refuses: duplicate keys in a batch, a segment out of range, mismatched attribute definitions', async () => {
    const store = await storeWith([]);
    await expect(
      store.batchWrite('orders', [
        { put: order(1) },
        { delete: { pk: order(1).pk, sk: order(1).sk } as Item },
      ]),
    ).rejects.toThrow(ValidationError);
    await expect(store.scanPage('orders', { index: 4, total: 4 })).rejects.toThrow(ValidationError);
    const definition = ordersDefinition('x', store.region);
    await expect(
      store.createTable(
        { ...definition, attributeDefinitions: definition.attributeDefinitions.slice(1) },
        'x',
      ),
    ).rejects.toThrow(ValidationError);
  });

  it('sees writes made between two pages of a scan (a change not yet scanned shows, a removed item does not)', async () => {
    const store = await storeWith(Array.from({ length: 20 }, (_, i) => order(i)));
    const segment = { index: 0, total: 1 };
    const scanOrder = (await store.scanPage('orders', segment)).items;
    const first = await store.scanPage('orders', segment, undefined, 5);
    const removed = scanOrder[10] as Item;
    const changed = scanOrder[12] as Item;
    await store.batchWrite('orders', [{ delete: { pk: removed.pk, sk: removed.sk } as Item }]);
    await store.putItem('orders', { ...changed, total: { N: '0' } });
    const rest: Item[] = [];
    let startKey = first.lastEvaluatedKey;
    while (startKey) {
      const page = await store.scanPage('orders', segment, startKey, 5);
      rest.push(...page.items);
      startKey = page.lastEvaluatedKey;
    }
    const sks = rest.map((item) => (item.sk as { N: string }).N);
    expect(sks).toHaveLength(14);
    expect(sks).not.toContain((removed.sk as { N: string }).N);
    expect(
      rest.find((item) => (item.sk as { N: string }).N === (changed.sk as { N: string }).N)?.total,
    ).toEqual({ N: '0' });
  });
});
