/**
 * Table capture's limits hold on the DynamoDB catalog (DynamoDB Local): the largest item capture
 * journals (MAX_CAPTURED_ITEM_BYTES, with wide maps) and the deepest (MAX_CAPTURED_ITEM_DEPTH) are
 * written in one transaction and read back exactly, by time, by key and by key range; decimal
 * sequence numbers of different lengths come back in numeric order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCatalog } from '#adapters/dynamodb-catalog/index.ts';
import { latestByKey } from '#domain/journal.ts';
import {
  captureTableRecord,
  MAX_CAPTURED_ITEM_BYTES,
  MAX_CAPTURED_ITEM_DEPTH,
  type TableCaptureDeps,
} from '#domain/table/capture.ts';
import type { KeySchema } from '#domain/table/definition.ts';
import { canonicalItem, type Item } from '#domain/table/item.ts';
import type { TableStore } from '#domain/table/ports.ts';
import { DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import { startDynamoDb } from '../support/emulators.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { plan } from '../support/memory-pipeline.ts';

let ddb: Awaited<ReturnType<typeof startDynamoDb>>;
beforeAll(async () => {
  ddb = await startDynamoDb();
});
afterAll(async () => {
  await ddb?.stop();
});

const SCHEMA: KeySchema = { hash: { name: 'pk', type: 'S' } };
/** Only DescribeTable is asked: every record carries its new image. */
const tables = (): TableStore =>
  ({
    describe: async (tableName: string) => ({
      definition: {
        tableName,
        region: 'us-east-1',
        key: SCHEMA,
        attributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        globalSecondaryIndexes: [],
        localSecondaryIndexes: [],
        billingMode: 'PAY_PER_REQUEST',
      },
      status: 'ACTIVE',
      itemCount: 0,
      sizeBytes: 0,
    }),
  }) as unknown as TableStore;

const record = (pk: string, sequence: string, image: Item) =>
  DynamoDBStreamRecordSchema.parse({
    eventID: `e${sequence}`,
    eventName: 'MODIFY',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-12-01T00:00:00.000',
    dynamodb: {
      ApproximateCreationDateTime: 1796540700,
      Keys: { pk: { S: pk } },
      NewImage: { pk: { S: pk }, ...image },
      SequenceNumber: sequence,
      StreamViewType: 'NEW_IMAGE',
    },
  });

/** An item of exactly `bytes` of canonical JSON, in many small attributes (the map overhead DynamoDB counts). */
function wideItem(pk: string, bytes: number): Item {
  const attributes: Item = { pk: { S: pk } };
  for (let i = 0; i < 1500; i++) attributes[`a${String(i).padStart(4, '0')}`] = { N: String(i) };
  const size = () => Buffer.byteLength(JSON.stringify(canonicalItem(attributes)));
  attributes.zz = { S: '' };
  attributes.zz = { S: 'x'.repeat(bytes - size()) };
  return attributes;
}

describe('table capture on the DynamoDB catalog (DynamoDB Local)', () => {
  it('journals the largest and the deepest item capture allows, and reads them back exactly', async () => {
    const catalog = new DynamoDbCatalog(ddb.client, await ddb.table());
    await catalog.putPlans([plan({ id: 'orders', source: { table: 'orders' }, copyRegions: [] })]);
    const deps: TableCaptureDeps = {
      catalog,
      clock: new ManualClock('2026-12-06T07:10:00.000Z'),
      tables,
      vaults: { primary: { region: 'us-east-1' } },
    };
    const wide = wideItem('wide', MAX_CAPTURED_ITEM_BYTES);
    // 14 maps in each other around a string set: 31 levels of DynamoDB JSON (the item, two per map, two
    // for the set), the most capture journals.
    let deep: Item[string] = { SS: ['a', 'b'] };
    for (let i = 0; i < (MAX_CAPTURED_ITEM_DEPTH - 3) / 2; i++) deep = { M: { a: deep, b: { L: [] } } };
    const outcomes = [
      await captureTableRecord(deps, record('wide', '900000000000000000000', wide)),
      await captureTableRecord(deps, record('wide', '10000000000000000000000000', { v: { N: '2' } })),
      await captureTableRecord(deps, record('deep', '5', { nest: deep })),
    ];
    expect(outcomes.map((o) => o.status === 'journaled' && o.outcome)).toEqual([
      'captured',
      'captured',
      'captured',
    ]);

    const byKey = await catalog.listJournalForKey('orders', 'wide');
    expect(byKey.map((e) => e.sequencer)).toEqual(['900000000000000000000', '10000000000000000000000000']);
    expect(byKey[0]?.sizeBytes).toBe(MAX_CAPTURED_ITEM_BYTES);
    expect(byKey[0]?.item).toEqual(canonicalItem(wide));
    expect(latestByKey(byKey).get('wide')?.item?.v).toEqual({ N: '2' });
    const [deepEntry] = await catalog.listJournalInRange('orders', {});
    expect(deepEntry?.item).toEqual(canonicalItem({ pk: { S: 'deep' }, nest: deep }));
    expect(await catalog.listJournal('orders')).toHaveLength(3);
  });

  it('refuses an item one level deeper: why capture journals it lost-before-capture instead', async () => {
    const catalog = new DynamoDbCatalog(ddb.client, await ddb.table());
    // 15 maps around a string: 32 levels (the item, two per map, one for the string's value).
    let deep: Item[string] = { S: 'x' };
    for (let i = 0; i < (MAX_CAPTURED_ITEM_DEPTH - 1) / 2; i++) deep = { M: { a: deep } };
    const entry = {
      planId: 'orders',
      bucket: 'dynamodb:orders',
      key: 'deep',
      event: 'created' as const,
      eventTime: '2026-12-06T07:05:00.000Z',
      sequencer: '1',
      capturedAt: '2026-12-06T07:10:00.000Z',
      outcome: 'captured' as const,
      item: { pk: { S: 'deep' }, nest: deep },
    };
    await expect(catalog.appendJournal(entry)).rejects.toThrow(/nest/i);
  });
});
