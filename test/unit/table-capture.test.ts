/**
 * Table capture on the memory catalog: a DynamoDB stream record becomes one journal entry per plan
 * protecting the table, the item inline; redeliveries and reordering follow the sequence numbers.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#domain/errors.ts';
import { compareSequencers, latestByKey, sequencerSortKey } from '#domain/journal.ts';
import type { JournalEntry, PlanRecord } from '#domain/records.ts';
import {
  captureTableRecord,
  MAX_CAPTURED_ITEM_BYTES,
  MAX_CAPTURED_ITEM_DEPTH,
  type TableCaptureDeps,
} from '#domain/table/capture.ts';
import type { KeySchema } from '#domain/table/definition.ts';
import { canonicalItem, type Item, itemHashOf, itemKeyOf, keyOfItemKey } from '#domain/table/item.ts';
import type { TableDescription, TableStore } from '#domain/table/ports.ts';
import { type DynamoDBStreamRecord, DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { plan } from '../support/memory-pipeline.ts';

const ORDERS: KeySchema = { hash: { name: 'customer', type: 'S' }, range: { name: 'order', type: 'N' } };
const arnOf = (table: string, region = 'us-east-1') =>
  `arn:aws:dynamodb:${region}:123456789012:table/${table}/stream/2026-12-01T00:00:00.000`;

/** A tiny TableStore: describe and getItem over items held by item key; the rest refuses. */
class FakeTables implements TableStore {
  readonly items = new Map<string, Item>();
  describes = 0;
  gets = 0;
  readonly table: string;
  readonly key: KeySchema;
  constructor(table: string, key: KeySchema) {
    this.table = table;
    this.key = key;
  }
  async describe(tableName: string): Promise<TableDescription | undefined> {
    this.describes += 1;
    if (tableName !== this.table) return undefined;
    return {
      definition: {
        tableName,
        region: 'us-east-1',
        key: this.key,
        attributeDefinitions: [],
        globalSecondaryIndexes: [],
        localSecondaryIndexes: [],
        billingMode: 'PAY_PER_REQUEST',
        streamViewType: 'NEW_AND_OLD_IMAGES',
      },
      status: 'ACTIVE',
      itemCount: this.items.size,
      sizeBytes: 0,
    };
  }
  async getItem(tableName: string, key: Item): Promise<Item | undefined> {
    this.gets += 1;
    return tableName === this.table ? this.items.get(itemKeyOf(key, this.key)) : undefined;
  }
  scanPage(): never {
    throw new Error('not in this fake');
  }
  batchWrite(): never {
    throw new Error('not in this fake');
  }
  putItem(): never {
    throw new Error('not in this fake');
  }
  createTable(): never {
    throw new Error('not in this fake');
  }
  deleteTable(): never {
    throw new Error('not in this fake');
  }
}

const tablePlan = (id: string, source: PlanRecord['source'], more: Partial<PlanRecord> = {}) =>
  plan({ id, source, copyRegions: [], ...more });

async function setup(plans: PlanRecord[] = [tablePlan('orders', { table: 'orders' })], key = ORDERS) {
  const catalog = new MemoryCatalog();
  await catalog.putPlans(plans);
  const clock = new ManualClock('2026-12-06T07:10:00.000Z');
  const store = new FakeTables('orders', key);
  const regions: (string | undefined)[] = [];
  const tables = (region?: string) => {
    regions.push(region);
    return store;
  };
  const deps: TableCaptureDeps = { catalog, clock, tables, vaults: { primary: { region: 'us-east-1' } } };
  return { deps, catalog, clock, store, regions };
}

let seq = 100;
/** A stream record of table `orders` (NEW_AND_OLD_IMAGES unless `view` says otherwise). */
function streamRecord(o: {
  eventName?: 'INSERT' | 'MODIFY' | 'REMOVE';
  keys?: Item;
  newImage?: Item;
  sequence?: string;
  table?: string;
  awsRegion?: string | null;
  at?: number | null;
  view?: 'KEYS_ONLY' | 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES';
}): DynamoDBStreamRecord {
  seq += 1;
  const eventName = o.eventName ?? 'INSERT';
  const keys = o.keys ?? { customer: { S: 'customer#42' }, order: { N: '7' } };
  const view = o.view ?? 'NEW_AND_OLD_IMAGES';
  const withNew = eventName !== 'REMOVE' && (view === 'NEW_IMAGE' || view === 'NEW_AND_OLD_IMAGES');
  return DynamoDBStreamRecordSchema.parse({
    eventID: `e${seq}`,
    eventName,
    eventSource: 'aws:dynamodb',
    eventVersion: '1.1',
    ...(o.awsRegion === null ? {} : { awsRegion: o.awsRegion ?? 'us-east-1' }),
    eventSourceARN: arnOf(o.table ?? 'orders'),
    dynamodb: {
      ...(o.at === null ? {} : { ApproximateCreationDateTime: o.at ?? 1796540700 }),
      Keys: keys,
      ...(withNew ? { NewImage: o.newImage ?? { ...keys, status: { S: 'placed' } } } : {}),
      SequenceNumber: o.sequence ?? String(seq),
      StreamViewType: view,
    },
  });
}

const journalOf = (catalog: MemoryCatalog, planId = 'orders'): Promise<JournalEntry[]> =>
  catalog.listJournal(planId);

describe('captureTableRecord', () => {
  it('journals an INSERT as created/captured with the canonical item inline', async () => {
    const { deps, catalog } = await setup();
    const image: Item = {
      status: { S: 'placed' },
      order: { N: '7' },
      customer: { S: 'customer#42' },
      tags: { SS: ['b', 'a'] },
    };
    const out = await captureTableRecord(
      deps,
      streamRecord({ newImage: image, sequence: '111000000000023456789012', at: 1796540700.25 }),
    );
    expect(out).toMatchObject({
      status: 'journaled',
      bucket: 'dynamodb:orders',
      key: 'customer#42/7',
      plans: ['orders'],
      journaled: ['orders'],
      outcome: 'captured',
      eventTime: '2026-12-06T07:05:00.250Z',
    });
    const json = JSON.stringify(canonicalItem(image));
    expect(await journalOf(catalog)).toEqual([
      {
        planId: 'orders',
        bucket: 'dynamodb:orders',
        key: 'customer#42/7',
        event: 'created',
        eventTime: '2026-12-06T07:05:00.250Z',
        sequencer: '111000000000023456789012',
        capturedAt: '2026-12-06T07:10:00.000Z',
        outcome: 'captured',
        sizeBytes: Buffer.byteLength(json),
        etag: itemHashOf(image),
        lastModified: '2026-12-06T07:05:00.250Z',
        item: canonicalItem(image),
      },
    ]);
    // Canonical: names sorted, sets sorted.
    expect(JSON.stringify((await journalOf(catalog))[0]?.item)).toBe(json);
    expect(json).toContain('"SS":["a","b"]');
  });

  it('journals a MODIFY as created with the new image, and a REMOVE as removed', async () => {
    const { deps, catalog } = await setup();
    await captureTableRecord(deps, streamRecord({ sequence: '200' }));
    const modify = await captureTableRecord(
      deps,
      streamRecord({
        eventName: 'MODIFY',
        sequence: '300',
        newImage: { customer: { S: 'customer#42' }, order: { N: '7' }, status: { S: 'shipped' } },
      }),
    );
    const remove = await captureTableRecord(deps, streamRecord({ eventName: 'REMOVE', sequence: '400' }));
    expect(modify).toMatchObject({ status: 'journaled', outcome: 'captured' });
    expect(remove).toMatchObject({ status: 'journaled', outcome: 'removed' });
    const entries = await catalog.listJournalForKey('orders', 'customer#42/7');
    expect(entries.map((e) => [e.sequencer, e.event, e.outcome, e.item?.status])).toEqual([
      ['200', 'created', 'captured', { S: 'placed' }],
      ['300', 'created', 'captured', { S: 'shipped' }],
      ['400', 'removed', 'removed', undefined],
    ]);
  });

  it('takes capturedAt as the event time when the record has no ApproximateCreationDateTime', async () => {
    const { deps, catalog } = await setup();
    await captureTableRecord(deps, streamRecord({ at: null }));
    const [entry] = await journalOf(catalog);
    expect(entry?.eventTime).toBe('2026-12-06T07:10:00.000Z');
    expect(entry?.lastModified).toBe('2026-12-06T07:10:00.000Z');
  });

  it('journals the same record delivered twice once', async () => {
    const { deps, catalog, clock } = await setup();
    const record = streamRecord({ sequence: '500' });
    expect((await captureTableRecord(deps, record)).status).toBe('journaled');
    clock.advance(60_000);
    expect(await captureTableRecord(deps, record)).toMatchObject({
      status: 'duplicate',
      plans: ['orders'],
      outcome: 'captured',
    });
    expect(await journalOf(catalog)).toHaveLength(1);
  });

  it('orders by sequence number, not arrival: MODIFY 200 before INSERT 100 leaves 200 latest', async () => {
    const { deps, catalog } = await setup();
    const keys = { customer: { S: 'c' }, order: { N: '1' } };
    await captureTableRecord(
      deps,
      streamRecord({ eventName: 'MODIFY', keys, sequence: '200', newImage: { ...keys, v: { N: '2' } } }),
    );
    await captureTableRecord(
      deps,
      streamRecord({ keys, sequence: '100', newImage: { ...keys, v: { N: '1' } } }),
    );
    const latest = latestByKey(await journalOf(catalog)).get('c/1');
    expect(latest?.sequencer).toBe('200');
    expect(latest?.item?.v).toEqual({ N: '2' });
  });

  it('reads the item strongly when the stream carries no new image (KEYS_ONLY), removed when gone', async () => {
    const { deps, catalog, store } = await setup();
    const keys = { customer: { S: 'c' }, order: { N: '1' } };
    store.items.set('c/1', { ...keys, status: { S: 'now' } });
    const read = await captureTableRecord(deps, streamRecord({ keys, view: 'KEYS_ONLY', sequence: '10' }));
    expect(read).toMatchObject({ status: 'journaled', outcome: 'captured' });
    expect(store.gets).toBe(1);
    store.items.delete('c/1');
    const gone = await captureTableRecord(
      deps,
      streamRecord({ eventName: 'MODIFY', keys, view: 'OLD_IMAGE', sequence: '11' }),
    );
    expect(gone).toMatchObject({ status: 'journaled', outcome: 'removed' });
    const entries = await catalog.listJournalForKey('orders', 'c/1');
    expect(entries.map((e) => [e.event, e.outcome, e.item?.status])).toEqual([
      ['created', 'captured', { S: 'now' }],
      ['created', 'removed', undefined],
    ]);
  });

  it('journals an item over the size limit lost-before-capture, and one at the limit captured', async () => {
    const { deps, catalog } = await setup();
    const keys = { customer: { S: 'big' }, order: { N: '1' } };
    const sized = (bytes: number): Item => {
      const base = JSON.stringify(canonicalItem({ ...keys, blob: { S: '' } }));
      return { ...keys, blob: { S: 'x'.repeat(bytes - Buffer.byteLength(base)) } };
    };
    const atLimit = sized(MAX_CAPTURED_ITEM_BYTES);
    const fits = await captureTableRecord(deps, streamRecord({ keys, newImage: atLimit, sequence: '1' }));
    expect(fits).toMatchObject({ status: 'journaled', outcome: 'captured' });
    const over = await captureTableRecord(
      deps,
      streamRecord({
        eventName: 'MODIFY',
        keys,
        newImage: sized(MAX_CAPTURED_ITEM_BYTES + 1),
        sequence: '2',
      }),
    );
    expect(over).toMatchObject({ status: 'journaled', outcome: 'lost-before-capture' });
    expect(over.status === 'journaled' && over.reason).toMatch(
      /too large to journal: item big\/1 is 65537 bytes/,
    );
    const [first, second] = await catalog.listJournalForKey('orders', 'big/1');
    expect(first?.sizeBytes).toBe(MAX_CAPTURED_ITEM_BYTES);
    expect(second).toMatchObject({ outcome: 'lost-before-capture', sizeBytes: MAX_CAPTURED_ITEM_BYTES + 1 });
    expect(second?.item).toBeUndefined();
  });

  it('journals an item nested deeper than the catalog can store lost-before-capture', async () => {
    const { deps, catalog } = await setup();
    const keys = { customer: { S: 'deep' }, order: { N: '1' } };
    // k maps inside each other: DynamoDB JSON depth 2k + 2 (the item, then two levels per map).
    const nested = (k: number): Item => {
      let value: Item[string] = { S: 'bottom' };
      for (let i = 0; i < k; i++) value = { M: { a: value } };
      return { ...keys, nest: value };
    };
    const deepest = Math.floor((MAX_CAPTURED_ITEM_DEPTH - 2) / 2);
    const fits = await captureTableRecord(
      deps,
      streamRecord({ keys, newImage: nested(deepest), sequence: '1' }),
    );
    expect(fits).toMatchObject({ outcome: 'captured' });
    const out = await captureTableRecord(
      deps,
      streamRecord({ keys, newImage: nested(deepest + 1), sequence: '2' }),
    );
    expect(out).toMatchObject({ outcome: 'lost-before-capture' });
    expect((await catalog.listJournalForKey('orders', 'deep/1'))[1]?.reason).toMatch(/too deeply nested/);
  });

  it('journals one entry per plan on the table, in its region, disabled ones too (as bucket capture does)', async () => {
    const { deps, catalog, regions } = await setup([
      tablePlan('orders', { table: 'orders' }),
      tablePlan('orders-eu', { table: 'orders', region: 'eu-west-1' }),
      tablePlan('orders-here', { table: 'orders', region: 'us-east-1' }),
      tablePlan('orders-off', { table: 'orders' }, { enabled: false }),
      tablePlan('other', { table: 'customers' }),
      tablePlan('photos', { bucket: 'orders', prefix: '' }),
    ]);
    const out = await captureTableRecord(deps, streamRecord({ sequence: '7' }));
    expect(out).toMatchObject({ status: 'journaled', plans: ['orders', 'orders-here', 'orders-off'] });
    expect((await journalOf(catalog, 'orders')).map((e) => e.key)).toEqual(['customer#42/7']);
    expect((await journalOf(catalog, 'orders-here')).map((e) => e.key)).toEqual(['customer#42/7']);
    // A disabled plan is only not scheduled: its journal goes on, so enabling it again loses nothing.
    expect((await journalOf(catalog, 'orders-off')).map((e) => e.key)).toEqual(['customer#42/7']);
    for (const id of ['orders-eu', 'other', 'photos']) expect(await journalOf(catalog, id)).toEqual([]);
    expect(regions).toEqual([undefined]);
    // The same record again: both plans hold it already.
    expect((await captureTableRecord(deps, streamRecord({ sequence: '7' }))).status).toBe('duplicate');
  });

  it('matches every region when the record has no awsRegion', async () => {
    const { deps } = await setup([tablePlan('orders-eu', { table: 'orders', region: 'eu-west-1' })]);
    const out = await captureTableRecord(deps, streamRecord({ awsRegion: null }));
    expect(out).toMatchObject({ status: 'journaled', plans: ['orders-eu'] });
  });

  it('ignores a record of a table no plan protects, asking DynamoDB nothing', async () => {
    const { deps, catalog, store } = await setup();
    const out = await captureTableRecord(deps, streamRecord({ table: 'sessions' }));
    expect(out).toMatchObject({ status: 'ignored', bucket: 'dynamodb:sessions' });
    expect(out.status === 'ignored' && out.reason).toBe('no plan protects this table');
    expect(store.describes).toBe(0);
    expect(catalog.journal.size).toBe(0);
  });

  it('describes a table once for many records (the key schema is cached)', async () => {
    const { deps, store } = await setup();
    for (let i = 0; i < 3; i++) await captureTableRecord(deps, streamRecord({}));
    expect(store.describes).toBe(1);
  });

  it('refuses a record whose Keys lack a key attribute (not retryable)', async () => {
    const { deps } = await setup();
    const bad = streamRecord({ keys: { customer: { S: 'c' } } });
    await expect(captureTableRecord(deps, bad)).rejects.toBeInstanceOf(ValidationError);
  });

  it("names composite keys with '/' and '%' in their values so keyOfItemKey gives them back", async () => {
    const schema: KeySchema = { hash: { name: 'pk', type: 'S' }, range: { name: 'sk', type: 'S' } };
    const { deps, catalog } = await setup([tablePlan('orders', { table: 'orders' })], schema);
    const keys = { pk: { S: 'a/b%2Fc' }, sk: { S: '100%/x' } };
    const out = await captureTableRecord(deps, streamRecord({ keys, newImage: { ...keys, v: { S: '1' } } }));
    expect(out).toMatchObject({ key: 'a%2Fb%252Fc/100%25%2Fx' });
    const [entry] = await journalOf(catalog);
    expect(keyOfItemKey(entry?.key ?? '', schema)).toEqual(keys);
  });
});

describe('DynamoDB sequence numbers as journal sequencers', () => {
  it('orders decimal sequence numbers numerically, whatever their lengths', () => {
    expect(compareSequencers('9', '10')).toBeLessThan(0);
    expect(compareSequencers('10', '9')).toBeGreaterThan(0);
    const d21 = '900000000000000000000'; // 21 digits
    const d26 = '10000000000000000000000000'; // 26 digits: greater, though '1' < '9'
    expect(compareSequencers(d21, d26)).toBeLessThan(0);
    const d40 = '9'.repeat(40);
    expect(compareSequencers(d26, d40)).toBeLessThan(0);
    expect(sequencerSortKey(d21) < sequencerSortKey(d26)).toBe(true);
    expect(compareSequencers('000123', '123')).toBe(0);
  });

  it('sorts random decimal sequence numbers (1 to 40 digits) as BigInt does', () => {
    let state = 12345;
    const next = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state;
    };
    const numbers = Array.from({ length: 300 }, () => {
      const digits = 1 + (next() % 40);
      return [
        String(1 + (next() % 9)),
        ...Array.from({ length: digits - 1 }, () => String(next() % 10)),
      ].join('');
    });
    const byBigInt = [...numbers].sort((a, b) =>
      BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0,
    );
    expect([...numbers].sort(compareSequencers)).toEqual(byBigInt);
    expect([...numbers].sort((a, b) => (sequencerSortKey(a) < sequencerSortKey(b) ? -1 : 1))).toEqual(
      byBigInt,
    );
  });

  it("keeps the greater sequence number latest in latestByKey and in the catalog's per-key order", async () => {
    const entry = (sequencer: string): JournalEntry => ({
      planId: 'orders',
      bucket: 'dynamodb:orders',
      key: 'k',
      event: 'created',
      eventTime: '2026-12-06T07:00:00.000Z',
      sequencer,
      capturedAt: '2026-12-06T07:00:01.000Z',
      outcome: 'removed',
    });
    const small = '99999999999999999999'; // 20 digits
    const big = '100000000000000000000000001'; // 27 digits
    expect(latestByKey([entry(big), entry(small)]).get('k')?.sequencer).toBe(big);
    const catalog = new MemoryCatalog();
    await catalog.appendJournal(entry(big));
    await catalog.appendJournal(entry(small));
    expect((await catalog.listJournalForKey('orders', 'k')).map((e) => e.sequencer)).toEqual([small, big]);
  });
});

describe('events/dynamodb-stream/batch.json', () => {
  const batch = JSON.parse(
    readFileSync(new URL('../../events/dynamodb-stream/batch.json', import.meta.url), 'utf8'),
  ) as { Records: unknown[] };

  it('parses with DynamoDBStreamRecordSchema: INSERT, MODIFY, REMOVE with NEW_AND_OLD_IMAGES', () => {
    const records = batch.Records.map((r) => DynamoDBStreamRecordSchema.parse(r));
    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    expect(records.every((r) => r.dynamodb.StreamViewType === 'NEW_AND_OLD_IMAGES')).toBe(true);
    expect(records[2]?.dynamodb.NewImage).toBeUndefined();
    expect(records[2]?.userIdentity?.principalId).toBe('dynamodb.amazonaws.com');
  });

  it('captures the batch into three entries of one item, the REMOVE latest', async () => {
    const { deps, catalog } = await setup([tablePlan('orders', { table: 'orders' })], ORDERS);
    for (const raw of batch.Records) await captureTableRecord(deps, DynamoDBStreamRecordSchema.parse(raw));
    const entries = await catalog.listJournalForKey('orders', 'customer#42/7');
    expect(entries.map((e) => [e.event, e.outcome, e.eventTime])).toEqual([
      ['created', 'captured', '2026-12-06T07:05:00.000Z'],
      ['created', 'captured', '2026-12-06T07:06:01.000Z'],
      ['removed', 'removed', '2026-12-06T08:05:00.000Z'],
    ]);
    expect(entries[1]?.item?.label).toEqual({ B: 'JVBERi0xLjQK' });
    expect(latestByKey(entries).get('customer#42/7')?.outcome).toBe('removed');
  });
});
