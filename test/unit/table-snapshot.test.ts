/**
 * Table snapshots (issue 17; docs/format.md#table-snapshots): a parallel Scan in segments, checkpoints
 * and crashes mid-scan, the consistent cut (changes during the Scan applied from the stream's
 * journal), journal-built incrementals without a Scan, reconciles counting what the stream missed,
 * and differential snapshots.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, TransientError } from '#domain/errors.ts';
import type { PlanRecord, SnapshotRecord } from '#domain/records.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { captureTableRecord } from '#domain/table/capture.ts';
import { canonicalItem, type Item, itemKeyOf } from '#domain/table/item.ts';
import { DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import type { Task } from '#domain/tasks.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';
import { type MemoryPipeline, memoryPipeline } from '../support/memory-pipeline.ts';
import { ORDERS, orderItems, runTableSnapshot, snapshotItems, tablePlan } from '../support/table-snapshot.ts';

let p: MemoryPipeline;
let store: MemoryTableStore;
let sequence = 1000;

async function setUp(items: number, overrides: Partial<PlanRecord> = {}) {
  p = memoryPipeline();
  store = new MemoryTableStore();
  p.deps.tables = () => store;
  p.deps.partitionBatchObjects = 50;
  await store.createTable(ORDERS, 'orders');
  store.seed('orders', orderItems(items));
  await p.catalog.putPlans([
    tablePlan({ continuous: { settleSeconds: 0 }, snapshot: { scanSegments: 3 }, ...overrides }),
  ]);
}

/** Change the table and let capture see the stream record, as the event source mapping would. */
async function change(kind: 'put' | 'delete', item: Item) {
  p.clock.advance(1000);
  const keys = { pk: item.pk as Item[string], sk: item.sk as Item[string] };
  const existed = (await store.getItem('orders', keys)) !== undefined;
  if (kind === 'put') await store.putItem('orders', item);
  else await store.batchWrite('orders', [{ delete: keys }]);
  sequence += 1;
  const record = DynamoDBStreamRecordSchema.parse({
    eventID: `e${sequence}`,
    eventName: kind === 'delete' ? 'REMOVE' : existed ? 'MODIFY' : 'INSERT',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000',
    dynamodb: {
      ApproximateCreationDateTime: p.clock.now().getTime() / 1000,
      Keys: keys,
      ...(kind === 'put' ? { NewImage: item } : {}),
      SequenceNumber: String(sequence),
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  });
  await captureTableRecord(p.deps, record);
}

const snapshot = (options: { beforeTask?: (t: Task) => Promise<void> } = {}) =>
  runTableSnapshot(p, 'orders', options);
const itemsOf = (record: SnapshotRecord) => snapshotItems(p, record);

function tableNow(): Map<string, Item> {
  return new Map(store.itemsOf('orders').map((i) => [itemKeyOf(i, ORDERS.key), canonicalItem(i)]));
}

describe('a full table snapshot', () => {
  beforeEach(() => setUp(1200));

  it('scans every segment into sorted parts of items, with the definition in the root', async () => {
    const record = await snapshot();
    expect(record.status).toBe('COMMITTED');
    expect(record.objectCount).toBe(1200);
    expect(await itemsOf(record)).toEqual(tableNow());
    const manifest = await readManifest(p.primary, p.deps.envelope, 'orders', record.manifestId as string);
    expect(manifest.table?.key).toEqual(ORDERS.key);
    expect(manifest.source).toEqual({ table: 'orders' });
    const keys = manifest.parts.flatMap((part) => [part.firstKey, part.lastKey]);
    expect(keys).toEqual([...keys].sort());
    expect(record.time).toBe(record.journalUntil);
  });

  it('goes on across invocations when its time runs low, and stores every item once', async () => {
    let pages = 0;
    p.deps.remainingTimeMs = () => (pages % 4 === 3 ? 0 : 10 * 60_000);
    store.beforeScanPage = () => {
      pages += 1;
    };
    const record = await snapshot();
    expect(record.status).toBe('COMMITTED');
    expect(await itemsOf(record)).toEqual(tableNow());
    const checkpoints = await p.catalog.listPartitionCheckpoints('orders', record.snapshotId);
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(checkpoints.every((c) => c.scanKey !== undefined)).toBe(true);
  });

  it('survives a crash mid-scan: the redelivered segment goes on from its checkpoint', async () => {
    let pages = 0;
    p.deps.remainingTimeMs = () => (pages === 3 ? 0 : 10 * 60_000);
    store.beforeScanPage = () => {
      pages += 1;
      if (pages === 6) throw new TransientError('the function crashed mid-scan');
    };
    const record = await snapshot();
    expect(record.status).toBe('COMMITTED');
    expect(record.objectCount).toBe(1200);
    expect(await itemsOf(record)).toEqual(tableNow());
  });

  it('refuses a segment its partition plan does not have, scanning nothing', async () => {
    // Three segments (0–2): a message naming segment 3 (from another partition plan) is no work of
    // this snapshot's, and a bucket partition refuses it the same way.
    let pages = 0;
    store.beforeScanPage = () => {
      pages += 1;
    };
    let refused: unknown;
    const record = await snapshot({
      beforeTask: async (t) => {
        if (refused !== undefined || t.kind !== 'snapshot-partition') return;
        refused = await p.run({ ...t, partition: { index: 3 } }).catch((error: unknown) => error);
        expect(pages).toBe(0);
      },
    });
    expect(refused).toBeInstanceOf(NotFoundError);
    expect(String(refused)).toMatch(/has no partition 3/);
    expect(record.status).toBe('COMMITTED');
    expect(await itemsOf(record)).toEqual(tableNow());
  });

  it('is consistent at the cut: changes during the Scan come from the stream journal', async () => {
    let pages = 0;
    const changed: [kind: 'put' | 'delete', item: Item][] = [
      ...Array.from(
        { length: 40 },
        (_v, i) => ['put', { ...(orderItems(1200)[i * 30] as Item), total: { N: '-1' } }] as ['put', Item],
      ),
      ['delete', orderItems(1200)[7] as Item],
      ['put', { pk: { S: 'customer#new' }, sk: { N: '1' }, total: { N: '3' } }],
    ];
    let due = false;
    store.beforeScanPage = (_table, segment) => {
      pages += 1;
      // Changes land while segment 0 is half read, on items scanned already and items not yet;
      // capture journals them before the next segment runs (before the cut).
      if (pages === 5 && segment.index === 0) due = true;
    };
    const record = await snapshot({
      beforeTask: async () => {
        if (!due) return;
        due = false;
        for (const [kind, item] of changed) await change(kind, item);
      },
    });
    expect(record.status).toBe('COMMITTED');
    expect(changed.length).toBe(42);
    const items = await itemsOf(record);
    expect(items.get('customer#new/1')).toBeDefined();
    expect(items.has(itemKeyOf(orderItems(1200)[7] as Item, ORDERS.key))).toBe(false);
    expect(items).toEqual(tableNow());
  });
});

describe('next snapshots of a table', () => {
  beforeEach(() => setUp(600));

  it('are built from the stream journal without a Scan', async () => {
    await snapshot();
    await change('put', { pk: { S: 'customer#1' }, sk: { N: '1' }, total: { N: '99' } });
    await change('delete', orderItems(600)[2] as Item);
    await change('put', { pk: { S: 'customer#9' }, sk: { N: '9000' }, note: { S: 'a/b%c' } });
    const scans = store.calls.scanPage;
    const next = await snapshot();
    expect(next.mode).toBe('journal');
    expect(store.calls.scanPage).toBe(scans);
    expect(await itemsOf(next)).toEqual(tableNow());
    const manifest = await readManifest(p.primary, p.deps.envelope, 'orders', next.manifestId as string);
    expect(manifest.table?.tableName).toBe('orders');
  });

  it('reconcile with a full Scan every N snapshots and count what the stream missed', async () => {
    const plan = (await p.catalog.getPlan('orders')) as PlanRecord;
    await p.catalog.putPlans([{ ...plan, continuous: { settleSeconds: 0, fullEvery: 2 } }]);
    await snapshot();
    await change('put', { pk: { S: 'customer#1' }, sk: { N: '1' }, total: { N: '5' } });
    expect((await snapshot()).mode).toBe('journal');
    await change('put', { pk: { S: 'customer#1' }, sk: { N: '1' }, total: { N: '6' } });
    // Two changes the stream never delivered (older than its 24 hours, say).
    await store.putItem('orders', { pk: { S: 'customer#2' }, sk: { N: '2' }, total: { N: '-7' } });
    await store.batchWrite('orders', [{ delete: { pk: { S: 'customer#3' }, sk: { N: '3' } } }]);
    const full = await snapshot();
    expect(full.mode).toBe('reconcile');
    expect(full.reconcileMissed).toBe(2);
    expect(await itemsOf(full)).toEqual(tableNow());
  });

  it('differential: each is built from the last full snapshot', async () => {
    const plan = (await p.catalog.getPlan('orders')) as PlanRecord;
    await p.catalog.putPlans([{ ...plan, continuous: { settleSeconds: 0, differential: true } }]);
    const full = await snapshot();
    await change('put', { pk: { S: 'customer#1' }, sk: { N: '1' }, total: { N: '5' } });
    const first = await snapshot();
    await change('put', { pk: { S: 'customer#2' }, sk: { N: '2' }, total: { N: '6' } });
    const second = await snapshot();
    expect(first.parentSnapshotId).toBe(full.snapshotId);
    expect(second.parentSnapshotId).toBe(full.snapshotId);
    expect(await itemsOf(second)).toEqual(tableNow());
  });
});
