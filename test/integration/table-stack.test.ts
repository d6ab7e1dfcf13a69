/**
 * A DynamoDB table plan on the embedded stack, end to end (issue 17): the protected table on
 * DynamoDB Local with its stream, a full snapshot (a parallel Scan, copied to the copy region and
 * verified), changes that reach the real captureTable through the dispatcher's stream mapping, a
 * journal-built snapshot (no Scan), and a restore of it into a new table, item for item.
 * Point-in-time restores between two changes are covered by unit tests and the demo: DynamoDB
 * Local dates stream records to the minute, so a second-precise moment cannot be checked here.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromSdkItem, toSdkItem } from '#adapters/dynamodb-table/attribute-values.ts';
import type { PlanRecord, SnapshotRecord } from '#domain/records.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { canonicalItem, type Item, itemKeyOf } from '#domain/table/item.ts';
import { restoreTable } from '#domain/table/restore.ts';
import type { LocalStack } from '#local/stack.ts';
import { plan } from '../support/memory-pipeline.ts';
import { jobEnded, waitFor } from '../support/wait.ts';

const SOURCE = 'strongbox-local-source-table';
const KEY = { hash: { name: 'pk', type: 'S' as const }, range: { name: 'sk', type: 'N' as const } };
let stack: LocalStack;

async function tableItems(name: string): Promise<Map<string, Item>> {
  const items = new Map<string, Item>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await stack.dynamodb.send(
      new ScanCommand({ TableName: name, ConsistentRead: true, ExclusiveStartKey: start as never }),
    );
    for (const raw of page.Items ?? []) {
      const item = fromSdkItem(raw);
      items.set(itemKeyOf(item, KEY), canonicalItem(item));
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

async function snapshotOf(planId: string): Promise<SnapshotRecord> {
  const { catalog } = stack.container().pipeline;
  const { snapshotId } = await startSnapshotNow(stack.container().pipeline, planId);
  await jobEnded(catalog, planId, snapshotId, 240_000);
  return waitFor(
    `snapshot ${snapshotId} verified`,
    async () => {
      const s = await catalog.getSnapshot(planId, snapshotId);
      return s?.verification?.status ? s : undefined;
    },
    240_000,
  );
}

beforeAll(async () => {
  const { startLocalStack } = await import('#local/stack.ts');
  stack = await startLocalStack({ visibilityTimeoutSeconds: 1, logLevel: 'SILENT' });
  await stack.dynamodb.send(
    new CreateTableCommand({
      TableName: SOURCE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  const items: Item[] = Array.from({ length: 600 }, (_v, i) => ({
    pk: { S: `file/${i % 40}` },
    sk: { N: String(i) },
    text: { S: `line ${i} of a file` },
    raw: { B: Buffer.from([i % 256, 7]).toString('base64') },
  }));
  for (let i = 0; i < items.length; i += 25) {
    await stack.dynamodb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [SOURCE]: items.slice(i, i + 25).map((item) => ({ PutRequest: { Item: toSdkItem(item) } })),
        },
      }),
    );
  }
  const tablePlan: PlanRecord = plan({
    id: 'lines',
    source: { table: SOURCE },
    copyRegions: ['eu-west-1'],
    verification: { samplePercent: 100 },
    continuous: { settleSeconds: 1 },
    snapshot: { scanSegments: 3 },
  });
  await stack.container().pipeline.catalog.putPlans([tablePlan]);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

describe('a DynamoDB table plan on the embedded stack', () => {
  it('takes a full snapshot, then one from the stream alone, and restores it item for item', async () => {
    const { catalog } = stack.container().pipeline;
    // The load's stream records reach capture before or after the plan exists (ignored, or
    // journaled): either way the full snapshot holds the table as of its cut.
    const full = await snapshotOf('lines');
    expect(full.status).toBe('COMMITTED');
    expect(full.objectCount).toBe(600);
    expect(full.verification?.status).toBe('PASSED');
    expect(full.regions?.['eu-west-1']?.status).toBe('COPIED');

    await stack.dynamodb.send(
      new PutItemCommand({
        TableName: SOURCE,
        Item: toSdkItem({ pk: { S: 'file/1' }, sk: { N: '1' }, text: { S: 'changed' } }),
      }),
    );
    await stack.dynamodb.send(
      new DeleteItemCommand({ TableName: SOURCE, Key: toSdkItem({ pk: { S: 'file/2' }, sk: { N: '2' } }) }),
    );
    await stack.dynamodb.send(
      new PutItemCommand({
        TableName: SOURCE,
        Item: toSdkItem({ pk: { S: 'new/a%b' }, sk: { N: '7' }, text: { S: 'inserted' } }),
      }),
    );
    const changed = ['file%2F1/1', 'file%2F2/2', 'new%2Fa%25b/7'];
    await waitFor(
      'the changes journaled',
      async () => {
        const keys = new Set((await catalog.listJournal('lines')).map((e) => e.key));
        return changed.every((k) => keys.has(k)) ? true : undefined;
      },
      120_000,
      300,
    );
    await new Promise((r) => setTimeout(r, 1500)); // past settleSeconds
    const next = await snapshotOf('lines');
    expect(next.status).toBe('COMMITTED');
    expect(next.mode).toBe('journal');
    expect(next.verification?.status).toBe('PASSED');

    const report = await restoreTable(stack.container().pipeline, {
      plan: 'lines',
      snapshot: next.snapshotId,
      toTable: 'strongbox-local-restore-lines',
    });
    expect(report.restored).toBe(600 + 1 - 1);
    const restored = await tableItems('strongbox-local-restore-lines');
    expect(restored).toEqual(await tableItems(SOURCE));
    expect(restored.get('file%2F1/1')?.text).toEqual({ S: 'changed' });
    expect(restored.has('file%2F2/2')).toBe(false);
    expect(restored.get('new%2Fa%25b/7')?.text).toEqual({ S: 'inserted' });
  }, 900_000);
});
