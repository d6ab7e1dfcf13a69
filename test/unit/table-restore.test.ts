// Table restores on the memory twins: table snapshots written directly (items in manifest parts, the
// definition in the root), journaled item changes, and a memory TableStore as the target.
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '#domain/errors.ts';
import type { JournalEntry } from '#domain/records.ts';
import { writeManifest, writePart } from '#domain/repository/write.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import { type Item, itemEntryOf, itemHashOf } from '#domain/table/item.ts';
import { restoreTable } from '#domain/table/restore.ts';
import { isTableRestoreRequest } from '#domain/table/restore-request.ts';
import { compareKeys, manifestRoot, type PartRef } from '#domain/vault.ts';
import type { Container } from '#runtime/container.ts';
import { makeHandler } from '../../functions/restore.ts';
import { testConfig } from '../support/config.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

const definition: TableDefinition = {
  tableName: 'orders',
  region: 'us-east-1',
  key: { hash: { name: 'pk', type: 'S' }, range: { name: 'sk', type: 'S' } },
  attributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
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
  timeToLiveAttribute: 'expires',
};

const order = (customer: number, n: number, extra: Item = {}): Item => ({
  pk: { S: `customer#${customer}` },
  sk: { S: `order#${String(n).padStart(3, '0')}` },
  status: { S: n % 2 === 0 ? 'shipped' : 'open' },
  total: { N: String(n * 10) },
  ...extra,
});

/** An attribute's S or N value, or undefined. */
const str = (item: Item | undefined, name: string) => (item?.[name] as { S?: string } | undefined)?.S;
const num = (item: Item | undefined, name: string) => (item?.[name] as { N?: string } | undefined)?.N;

let p: MemoryPipeline;
let store: MemoryTableStore;
const sleeps: number[] = [];
const options = { sleep: async (ms: number) => void sleeps.push(ms), random: () => 0.5 };

/** Store a committed table snapshot of `items` taken at `time`, in parts of 7 items. */
async function tableSnapshot(snapshotId: string, time: string, items: Item[]): Promise<void> {
  const entries = items
    .map((i) => itemEntryOf(i, definition.key, time))
    .sort((a, b) => compareKeys(a.key, b.key));
  const refs: PartRef[] = [];
  for (let i = 0; i < entries.length; i += 7) {
    refs.push((await writePart(p.primary, p.deps.envelope, 'orders', entries.slice(i, i + 7))).ref);
  }
  const root = manifestRoot(
    {
      planId: 'orders',
      snapshotId,
      parentSnapshotId: null,
      source: { table: 'orders' },
      table: definition,
      scheduledAt: time,
      time,
      completedAt: time,
    },
    refs,
  );
  const { manifestId } = await writeManifest(p.primary, p.deps.envelope, root);
  p.catalog.snapshots.set(`orders/${snapshotId}`, {
    planId: 'orders',
    snapshotId,
    status: 'COMMITTED',
    scheduledAt: time,
    time,
    committedAt: time,
    manifestId,
    parentSnapshotId: null,
    objectCount: entries.length,
  });
}

/** Journal a change of one item (captured a second after `at`). */
async function journal(sequence: number, at: string, key: string, item?: Item): Promise<void> {
  const entry: JournalEntry = {
    planId: 'orders',
    bucket: 'dynamodb:orders',
    key,
    event: item ? 'created' : 'removed',
    eventTime: at,
    sequencer: String(sequence).padStart(20, '0'),
    capturedAt: new Date(Date.parse(at) + 1000).toISOString(),
    outcome: item ? 'captured' : 'removed',
    ...(item
      ? {
          item,
          sizeBytes: itemEntryOf(item, definition.key, at).sizeBytes,
          etag: itemHashOf(item),
          lastModified: at,
        }
      : {}),
  };
  await p.catalog.appendJournal(entry);
}

const items = Array.from({ length: 60 }, (_, i) => order(i % 6, i));

beforeEach(async () => {
  p = memoryPipeline('2026-12-06T00:00:00Z');
  store = new MemoryTableStore();
  p.deps.tables = () => store;
  sleeps.length = 0;
  await p.catalog.putPlans([
    plan({ id: 'orders', source: { table: 'orders' }, copyRegions: [] }),
    plan({ id: 'users', source: { table: 'users' }, copyRegions: [] }),
  ]);
  await store.createTable(definition, 'orders');
  store.seed('orders', items);
  await tableSnapshot('s1', '2026-12-06T01:00:00.000Z', items);
  p.clock.set('2026-12-06T05:00:00Z');
});

describe('restoreTable into a new table', () => {
  it('recreates the definition (GSI, TTL) and writes every item identically', async () => {
    const progress: number[] = [];
    const report = await restoreTable(
      p.deps,
      { plan: 'orders', toTable: 'orders-restored' },
      { ...options, onProgress: (x) => progress.push(x.restored) },
    );
    expect(report).toMatchObject({
      kind: 'table',
      complete: true,
      table: 'orders-restored',
      created: true,
      selected: 60,
      restored: 60,
      failed: 0,
      snapshotId: 's1',
    });
    const created = (await store.describe('orders-restored'))?.definition;
    expect(created?.globalSecondaryIndexes.map((g) => g.IndexName)).toEqual(['byStatus']);
    expect(created?.timeToLiveAttribute).toBe('expires');
    expect(store.itemsOf('orders-restored')).toEqual(store.itemsOf('orders'));
    expect(store.calls.batchWrite).toBe(3); // 25 + 25 + 10
    expect(progress.at(-1)).toBe(60);
  });

  it('retries unprocessed items until every one is written, backing off and lowering concurrency', async () => {
    const original = store.itemsOf('orders');
    store = new MemoryTableStore({ unprocessed: { fraction: 0.3, seed: 7 } });
    p.deps.tables = () => store;
    const report = await restoreTable(p.deps, { plan: 'orders', toTable: 'orders-restored' }, options);
    expect(report.restored).toBe(60);
    expect(report.failed).toBe(0);
    expect(report.throttled).toBeGreaterThan(0);
    expect(sleeps.length).toBe(report.throttled);
    expect(store.itemsOf('orders-restored')).toHaveLength(60);
    expect(store.itemsOf('orders-restored')).toEqual(original);
  });

  it('refuses an existing target table, and a table another plan protects, before writing', async () => {
    await store.createTable(definition, 'taken');
    await expect(restoreTable(p.deps, { plan: 'orders', toTable: 'taken' }, options)).rejects.toThrow(
      /'taken' exists/,
    );
    await expect(restoreTable(p.deps, { plan: 'orders', toTable: 'users' }, options)).rejects.toThrow(
      /protected by plan 'users'/,
    );
    await expect(restoreTable(p.deps, { plan: 'orders', toTable: 'orders' }, options)).rejects.toThrow(
      /toOriginal/,
    );
    expect(store.calls.batchWrite + store.calls.putItem).toBe(0);
    expect(store.itemsOf('taken')).toEqual([]);
  });

  it('a dry run counts and lists the first keys, and creates and writes nothing', async () => {
    const report = await restoreTable(
      p.deps,
      { plan: 'orders', toTable: 'orders-dry', dryRun: true },
      options,
    );
    expect(report).toMatchObject({ dryRun: true, selected: 60, restored: 60, created: true });
    expect(report.keys).toHaveLength(10);
    expect(report.keys?.[0]).toBe('customer#0/order#000');
    expect(await store.describe('orders-dry')).toBeUndefined();
    expect(store.calls.batchWrite + store.calls.putItem).toBe(0);
  });

  it("stops reading items when the invocation's time runs low, and says so", async () => {
    let looks = 0;
    p.deps.remainingTimeMs = () => (++looks > 30 ? 60_000 : 900_000);
    const report = await restoreTable(p.deps, { plan: 'orders', toTable: 'partial' }, options);
    expect(report).toMatchObject({ complete: false, selected: 30, restored: 30 });
    expect(report.warnings.join()).toMatch(/time ran low after 30 selected item\(s\)/);
    expect(store.itemsOf('partial')).toHaveLength(30);
  });

  it('leaves out items whose TTL is past', async () => {
    await tableSnapshot('s2', '2026-12-06T02:00:00.000Z', [
      order(1, 1, { expires: { N: String(Date.parse('2026-12-06T03:00:00Z') / 1000) } }),
      order(1, 2, { expires: { N: String(Date.parse('2027-01-01T00:00:00Z') / 1000) } }),
    ]);
    const report = await restoreTable(p.deps, { plan: 'orders', snapshot: 's2', toTable: 'ttl' }, options);
    expect(report).toMatchObject({ selected: 2, expired: 1, restored: 1 });
    expect(store.itemsOf('ttl').map((i) => str(i, 'sk'))).toEqual(['order#002']);
  });
});

describe('restoreTable: selected items into the original table', () => {
  it('by key, under never: a missing item is written, an existing one kept', async () => {
    await store.batchWrite('orders', [{ delete: { pk: { S: 'customer#1' }, sk: { S: 'order#001' } } }]);
    await store.putItem('orders', order(2, 2, { total: { N: '999' } }));
    const report = await restoreTable(
      p.deps,
      {
        plan: 'orders',
        toOriginal: true,
        select: { keys: ['customer#1/order#001', 'customer#2/order#002'] },
      },
      options,
    );
    expect(report).toMatchObject({ selected: 2, restored: 1, skipped: 1, created: false, toOriginal: true });
    const rows = store.itemsOf('orders');
    expect(rows).toHaveLength(60);
    expect(rows.find((i) => str(i, 'sk') === 'order#002')?.total).toEqual({ N: '999' });
  });

  it("by key prefix, under always: the partition key's items are replaced", async () => {
    for (const i of items.filter((x) => str(x, 'pk') === 'customer#4'))
      await store.putItem('orders', { ...i, total: { N: '0' } });
    const report = await restoreTable(
      p.deps,
      { plan: 'orders', toOriginal: true, select: { keyPrefix: 'customer#4/' }, overwrite: 'always' },
      options,
    );
    expect(report).toMatchObject({ selected: 10, restored: 10, skipped: 0 });
    expect(store.itemsOf('orders')).toHaveLength(60);
    expect(
      store.itemsOf('orders').filter((i) => str(i, 'pk') === 'customer#4' && num(i, 'total') === '0'),
    ).toEqual([]);
    expect(store.itemsOf('orders').filter((i) => num(i, 'total') === '0')).toHaveLength(1); // order#000 is customer#0's
  });

  it('by filter: only the matching items are written', async () => {
    await store.deleteTable('orders');
    const report = await restoreTable(
      p.deps,
      {
        plan: 'orders',
        toOriginal: true,
        select: {
          filter: '#s = :s AND total >= :min',
          names: { '#s': 'status' },
          values: { ':s': { S: 'open' }, ':min': { N: '500' } },
        },
      },
      options,
    );
    // The original table was gone: created again from the definition.
    expect(report.created).toBe(true);
    const rows = store.itemsOf('orders');
    expect(rows.length).toBe(report.restored);
    expect(rows.every((i) => str(i, 'status') === 'open' && Number(num(i, 'total')) >= 500)).toBe(true);
    expect(report.restored).toBe(
      items.filter((i) => str(i, 'status') === 'open' && Number(num(i, 'total')) >= 500).length,
    );
  });

  it('refuses an invalid filter, naming the position, before anything is written', async () => {
    await expect(
      restoreTable(
        p.deps,
        { plan: 'orders', toOriginal: true, select: { filter: 'total >> :v', values: { ':v': { N: '1' } } } },
        options,
      ),
    ).rejects.toThrow(/position 8/);
    await expect(
      restoreTable(p.deps, { plan: 'orders', toOriginal: true, select: { filter: 'total > :v' } }, options),
    ).rejects.toThrow(ValidationError);
    expect(store.calls.putItem + store.calls.batchWrite).toBe(0);
  });
});

describe('restoreTable at a point in time', () => {
  const key = 'customer#3/order#003';
  beforeEach(async () => {
    await journal(1, '2026-12-06T02:00:00.000Z', key, order(3, 3, { total: { N: '111' } }));
    await journal(2, '2026-12-06T03:00:00.000Z', key, order(3, 3, { total: { N: '222' } }));
    await journal(3, '2026-12-06T02:10:00.000Z', 'customer#5/order#005'); // removed before T
    await journal(4, '2026-12-06T02:45:00.000Z', 'customer#9/order#900', order(9, 900)); // inserted after T
  });

  it('restores each item as it was at T: changed, removed and inserted ones', async () => {
    const report = await restoreTable(
      p.deps,
      { plan: 'orders', pointInTime: '2026-12-06T02:30:00Z', toTable: 'orders-0230' },
      options,
    );
    const rows = store.itemsOf('orders-0230');
    expect(rows.find((i) => str(i, 'sk') === 'order#003')?.total).toEqual({ N: '111' });
    expect(rows.find((i) => str(i, 'sk') === 'order#005')).toBeUndefined();
    expect(rows.find((i) => str(i, 'sk') === 'order#900')).toBeUndefined();
    expect(rows).toHaveLength(59);
    expect(report).toMatchObject({
      pointInTime: '2026-12-06T02:30:00Z',
      snapshotId: 's1',
      restored: 59,
      fromJournal: 1,
    });
  });

  it('a point in time before the first snapshot is refused', async () => {
    await expect(
      restoreTable(
        p.deps,
        { plan: 'orders', pointInTime: '2026-12-05T00:00:00Z', toTable: 'early' },
        options,
      ),
    ).rejects.toThrow(NotFoundError);
  });
});

describe('table restore requests', () => {
  it('are told from object restores, and need exactly one target', async () => {
    expect(isTableRestoreRequest({ plan: 'orders', toTable: 'x' })).toBe(true);
    expect(isTableRestoreRequest({ plan: 'orders', kind: 'table' })).toBe(true);
    expect(isTableRestoreRequest({ plan: 'photos', targetBucket: 'b' })).toBe(false);
    await expect(restoreTable(p.deps, { plan: 'orders', toTable: 'xyz', toOriginal: true })).rejects.toThrow(
      /exactly one/,
    );
    await expect(restoreTable(p.deps, { plan: 'orders' })).rejects.toThrow(/exactly one/);
  });
});

describe('the restore function', () => {
  it('runs a request naming toTable as a table restore in this invocation', async () => {
    const container: Container = {
      config: testConfig(),
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: silentMetrics(),
    };
    const context = { functionName: 'restore', getRemainingTimeInMillis: () => 900_000 } as Context;
    const report = await makeHandler(container)(
      { plan: 'orders', toTable: 'orders-fn', select: { keyPrefix: 'customer#2/' } },
      context,
    );
    expect(report).toMatchObject({ kind: 'table', table: 'orders-fn', selected: 10, restored: 10 });
    expect(store.itemsOf('orders-fn')).toHaveLength(10);
    expect(p.queue.drain()).toEqual([]); // no restore job, no fan-out
    await expect(makeHandler(container)({ plan: 'orders', toTable: 'x!' }, context)).rejects.toThrow(
      /not a valid DynamoDB table name/,
    );
  });
});

describe('a table snapshot the snapshot use case took', () => {
  it('restores into a new table item for item', async () => {
    const { startSnapshotNow } = await import('#domain/scheduling.ts');
    p.catalog.snapshots.clear();
    await p.catalog.putPlans([
      plan({ id: 'orders', source: { table: 'orders' }, copyRegions: [], continuous: { settleSeconds: 0 } }),
    ]);
    const { snapshotId } = await startSnapshotNow(p.deps, 'orders');
    await p.drain();
    const report = await restoreTable(
      p.deps,
      { plan: 'orders', snapshot: snapshotId, toTable: 'from-scan' },
      options,
    );
    expect(report).toMatchObject({ snapshotId, restored: 60, failed: 0, created: true });
    expect(store.itemsOf('from-scan')).toEqual(store.itemsOf('orders'));
    expect((await store.describe('from-scan'))?.definition.globalSecondaryIndexes).toHaveLength(1);
  });

  it("restores from a copy region's vault", async () => {
    const { startSnapshotNow } = await import('#domain/scheduling.ts');
    p.catalog.snapshots.clear();
    await p.catalog.putPlans([
      plan({
        id: 'orders',
        source: { table: 'orders' },
        copyRegions: ['eu-west-1'],
        continuous: { settleSeconds: 0 },
      }),
    ]);
    const { snapshotId } = await startSnapshotNow(p.deps, 'orders');
    await p.drain();
    expect((await p.catalog.getSnapshot('orders', snapshotId))?.regions?.['eu-west-1']?.status).toBe(
      'COPIED',
    );
    const primaryReads = p.primary.objects.size;
    p.primary.objects.clear(); // the primary vault is lost
    const report = await restoreTable(
      p.deps,
      { plan: 'orders', region: 'eu-west-1', toTable: 'from-copy', select: { keyPrefix: 'customer#0/' } },
      options,
    );
    expect(primaryReads).toBeGreaterThan(0);
    expect(report).toMatchObject({ region: 'eu-west-1', snapshotId, restored: 10 });
    expect(store.itemsOf('from-copy')).toEqual(
      store.itemsOf('orders').filter((i) => str(i, 'pk') === 'customer#0'),
    );
  });

  it('restores the table as of a moment between two captured changes of one item', async () => {
    const { startSnapshotNow } = await import('#domain/scheduling.ts');
    const { captureTableRecord } = await import('#domain/table/capture.ts');
    const { DynamoDBStreamRecordSchema } = await import('#domain/table/stream.ts');
    p.catalog.snapshots.clear();
    await p.catalog.putPlans([
      plan({ id: 'orders', source: { table: 'orders' }, copyRegions: [], continuous: { settleSeconds: 0 } }),
    ]);
    await startSnapshotNow(p.deps, 'orders');
    await p.drain();
    let sequence = 5000;
    const change = async (kind: 'put' | 'delete', item: Item) => {
      p.clock.advance(60_000);
      const keys = { pk: item.pk as Item[string], sk: item.sk as Item[string] };
      const existed = (await store.getItem('orders', keys)) !== undefined;
      if (kind === 'put') await store.putItem('orders', item);
      else await store.batchWrite('orders', [{ delete: keys }]);
      sequence += 1;
      await captureTableRecord(
        p.deps,
        DynamoDBStreamRecordSchema.parse({
          eventID: `e${sequence}`,
          eventName: kind === 'delete' ? 'REMOVE' : existed ? 'MODIFY' : 'INSERT',
          eventSourceARN:
            'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-12-06T00:00:00.000',
          dynamodb: {
            ApproximateCreationDateTime: p.clock.now().getTime() / 1000,
            Keys: keys,
            ...(kind === 'put' ? { NewImage: item } : {}),
            SequenceNumber: String(sequence),
            StreamViewType: 'NEW_AND_OLD_IMAGES',
          },
        }),
      );
    };
    await change('put', order(3, 3, { total: { N: '111' } }));
    await change('delete', order(5, 5));
    const before = store.itemsOf('orders');
    p.clock.advance(30_000);
    const at = p.clock.now().toISOString();
    await change('put', order(3, 3, { total: { N: '222' } }));
    await change('put', order(9, 900));
    const report = await restoreTable(p.deps, { plan: 'orders', pointInTime: at, toTable: 'as-of' }, options);
    expect(store.itemsOf('as-of')).toEqual(before);
    expect(report).toMatchObject({ restored: 59, fromJournal: 1, pointInTime: at });
  });
});
