import { beforeEach, describe, expect, it } from 'vitest';
import { type DrillDeps, runDrill } from '#domain/drill.ts';
import { scratchDefinition, scratchTableName, scratchTablePrefix } from '#domain/drill-table.ts';
import { TransientError, ValidationError } from '#domain/errors.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import type { Item } from '#domain/table/item.ts';
import type { DrillTask } from '#domain/tasks.ts';
import { drillLine } from '#local/cli/format/status.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';
import { type MemoryPipeline, memoryPipeline } from '../support/memory-pipeline.ts';
import {
  editTableSnapshot,
  ORDERS,
  orderItems,
  tablePlan,
  writeTableSnapshot,
} from '../support/table-snapshot.ts';

const PREFIX = 'strongbox-test';
const DRILL = '20260302T000000Z';

/** The memory store, with ListTables (the port's optional method). */
class ListingTableStore extends MemoryTableStore {
  created: string[] = [];
  deleted: string[] = [];

  async listTables(prefix: string): Promise<string[]> {
    return [...this.tables.keys()].filter((name) => name.startsWith(prefix));
  }

  override async createTable(definition: TableDefinition, tableName: string): Promise<void> {
    this.created.push(tableName);
    return super.createTable(definition, tableName);
  }

  override async deleteTable(tableName: string): Promise<void> {
    if (this.tables.has(tableName)) this.deleted.push(tableName);
    return super.deleteTable(tableName);
  }
}

const task = (drillId = DRILL): DrillTask => ({
  kind: 'drill',
  planId: 'orders',
  drillId,
  scheduledAt: '2026-03-02T00:00:00.000Z',
});

describe('scratch tables of table drills', () => {
  it('are named <prefix>-drill-<plan>-<short id>, the same for the same drill and region', () => {
    const name = scratchTableName(PREFIX, 'orders', DRILL, 'us-east-1');
    expect(name).toMatch(/^strongbox-test-drill-orders-[0-9a-f]{10}$/);
    expect(name.startsWith(scratchTablePrefix(PREFIX, 'orders'))).toBe(true);
    expect(scratchTableName(PREFIX, 'orders', DRILL, 'us-east-1')).toBe(name);
    expect(scratchTableName(PREFIX, 'orders', DRILL, 'eu-west-1')).not.toBe(name);
  });

  it('are created on demand, without stream, TTL, deletion protection or KMS key', () => {
    const definition: TableDefinition = {
      ...ORDERS,
      billingMode: 'PROVISIONED',
      provisionedThroughput: { ReadCapacityUnits: 100, WriteCapacityUnits: 100 },
      globalSecondaryIndexes: [
        {
          IndexName: 'by-total',
          KeySchema: [{ AttributeName: 'total', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
          ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
        },
      ],
      timeToLiveAttribute: 'expires',
      streamViewType: 'NEW_IMAGE',
      sse: { type: 'KMS', kmsKeyArn: 'arn:aws:kms:us-east-1:1:key/x' },
      deletionProtection: true,
    };
    expect(scratchDefinition(definition)).toEqual({
      ...ORDERS,
      billingMode: 'PAY_PER_REQUEST',
      globalSecondaryIndexes: [
        {
          IndexName: 'by-total',
          KeySchema: [{ AttributeName: 'total', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });
});

describe('runDrill of a table plan', () => {
  let p: MemoryPipeline;
  let store: ListingTableStore;
  let deps: DrillDeps;
  const items = orderItems(40);

  beforeEach(async () => {
    p = memoryPipeline();
    // A third of the batch writes come back unprocessed: the drill sends them again.
    store = new ListingTableStore({ unprocessed: { fraction: 0.3, seed: 7 } });
    await p.catalog.putPlans([
      tablePlan({ drill: { schedule: 'rate(1 day)', sampleObjects: 30, recentSnapshots: 1 } }),
    ]);
    deps = {
      ...p.deps,
      tables: () => store,
      drillBucket: 'drill-scratch',
      drillTablePrefix: PREFIX,
      elapsedMs: () => p.clock.now().getTime(),
    };
  });

  it('restores the sample into a scratch table, reads every item back equal, and deletes the table', async () => {
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items, { perPart: 8 });
    const drill = await runDrill(deps, task());
    const name = scratchTableName(PREFIX, 'orders', DRILL, 'us-east-1');
    expect(drill.status).toBe('PASSED');
    expect(drill.regions['us-east-1']).toMatchObject({ status: 'PASSED', objects: 30, scratchTable: name });
    expect(drill.regions['us-east-1']?.bytes).toBeGreaterThan(0);
    expect(store.created).toEqual([name]);
    expect(store.deleted).toEqual([name]);
    expect(store.tables.size).toBe(0);
    expect(store.calls.getItem).toBe(30);
    expect(drillLine(drill)).toMatch(/us-east-1 30 items /);
    // Unprocessed writes were sent again: more batches than ceil(30 / 25).
    expect(store.calls.batchWrite).toBeGreaterThan(2);
  });

  it('fails naming the item when an item in the vault is corrupt, and deletes the table', async () => {
    const snapshot = await writeTableSnapshot(p, 'orders', '20260301T000000Z', items, { perPart: 8 });
    await editTableSnapshot(p, snapshot, (e) =>
      e.key === 'customer#3/10' ? { ...e, item: { ...e.item, total: { N: '999' } } } : e,
    );
    await p.catalog.putPlans([
      tablePlan({ drill: { schedule: 'rate(1 day)', sampleObjects: 1000, recentSnapshots: 1 } }),
    ]);
    const drill = await runDrill(deps, task());
    expect(drill.status).toBe('FAILED');
    expect(drill.regions['us-east-1']?.failedObjects).toEqual(['customer#3/10']);
    expect(drill.reason).toMatch(/1 item\(s\) missing, corrupt or not read back equal \(customer#3\/10…\)/);
    expect(drill.regions['us-east-1']?.objects).toBe(39);
    expect(store.tables.size).toBe(0);
    expect(store.deleted).toHaveLength(1);
  });

  it('fails naming the item when the table gives back another item', async () => {
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items);
    const get = store.getItem.bind(store);
    store.getItem = async (table: string, key: Item) => {
      const item = await get(table, key);
      return item && JSON.stringify(key.sk) === '{"N":"5"}' ? { ...item, total: { N: '0' } } : item;
    };
    await p.catalog.putPlans([
      tablePlan({ drill: { schedule: 'rate(1 day)', sampleObjects: 1000, recentSnapshots: 1 } }),
    ]);
    const drill = await runDrill(deps, task());
    expect(drill.status).toBe('FAILED');
    expect(drill.regions['us-east-1']?.failedObjects).toEqual(['customer#5/5']);
    expect(store.tables.size).toBe(0);
  });

  it('deletes the scratch table when DynamoDB fails mid-drill, and throws for a retry', async () => {
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items);
    store.getItem = async () => {
      throw new TransientError('ProvisionedThroughputExceededException');
    };
    await expect(runDrill(deps, task())).rejects.toBeInstanceOf(TransientError);
    expect(store.created).toHaveLength(1);
    expect(store.tables.size).toBe(0);
  });

  it("deletes the scratch tables a crashed drill left behind, by the plan's name prefix", async () => {
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items);
    const left = scratchTableName(PREFIX, 'orders', '20260201T000000Z', 'us-east-1');
    const otherPlan = scratchTableName(PREFIX, 'invoices', '20260201T000000Z', 'us-east-1');
    await store.createTable(ORDERS, left);
    await store.createTable(ORDERS, otherPlan);
    const drill = await runDrill(deps, task());
    expect(drill.status).toBe('PASSED');
    expect([...store.tables.keys()]).toEqual([otherPlan]);
    expect(store.deleted).toContain(left);
  });

  it('keeps the scratch table of another drill of the plan still RUNNING (the reaper re-drives it)', async () => {
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items);
    const running = scratchTableName(PREFIX, 'orders', '20260301T120000Z', 'us-east-1');
    await store.createTable(ORDERS, running);
    await p.catalog.putDrillHistory(
      {
        planId: 'orders',
        version: 1,
        drills: [
          {
            drillId: '20260301T120000Z',
            scheduledAt: '2026-03-01T12:00:00.000Z',
            startedAt: '2026-03-01T12:00:00.000Z',
            heartbeatAt: '2026-03-01T12:00:00.000Z',
            snapshotId: '20260301T000000Z',
            latestSnapshotId: '20260301T000000Z',
            latestLogicalBytes: 0,
            status: 'RUNNING',
            regions: {},
          },
        ],
      },
      0,
    );
    const drill = await runDrill(deps, task());
    expect(drill.status).toBe('PASSED');
    expect([...store.tables.keys()]).toEqual([running]);
  });

  it('without ListTables, deletes the scratch tables of the finished drills in its history', async () => {
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items);
    const plain = new MemoryTableStore();
    deps = { ...deps, tables: () => plain };
    const left = scratchTableName(PREFIX, 'orders', '20260201T000000Z', 'us-east-1');
    await plain.createTable(ORDERS, left);
    await p.catalog.putDrillHistory(
      {
        planId: 'orders',
        version: 1,
        drills: [
          {
            drillId: '20260201T000000Z',
            scheduledAt: '2026-02-01T00:00:00.000Z',
            startedAt: '2026-02-01T00:00:00.000Z',
            finishedAt: '2026-02-01T00:10:00.000Z',
            snapshotId: '20260131T000000Z',
            latestSnapshotId: '20260131T000000Z',
            latestLogicalBytes: 0,
            status: 'FAILED',
            reason: 'redriven too often',
            regions: {},
          },
        ],
      },
      0,
    );
    const drill = await runDrill(deps, task());
    expect(drill.status).toBe('PASSED');
    expect(plain.tables.size).toBe(0);
  });

  it('refuses a table plan when the deployment gives the drill no DynamoDB access', async () => {
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items);
    const { tables: _none, ...without } = deps;
    await expect(runDrill(without, task())).rejects.toThrow(ValidationError);
  });
});
