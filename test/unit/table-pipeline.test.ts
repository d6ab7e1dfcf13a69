/**
 * The pipeline's blob-minded steps, given table snapshots (item entries: `item` inline in the part,
 * `blobs: []`): copy carries the parts (the items travel in them) and no packs, garbage collection
 * keeps the parts of live table snapshots and names no blob for them, the cost report counts the
 * items as part (metadata) bytes, and a copy verifies in its region.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { copyToRegion } from '#domain/copy.ts';
import { costReport, gatherCostInputs } from '#domain/cost.ts';
import { prunePlan } from '#domain/prune.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultLayout } from '#domain/vault.ts';
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import { type MemoryPipeline, memoryPipeline } from '../support/memory-pipeline.ts';
import { orderItems, tablePlan, writeTableSnapshot } from '../support/table-snapshot.ts';

const S1 = '20260301T000000Z';

describe('a table snapshot through copy, GC and cost', () => {
  let p: MemoryPipeline;

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([tablePlan({ copyRegions: ['eu-west-1'], retention: { keepLast: 5 } })]);
  });

  const listed = async (vault: MemoryPipeline['primary'], prefix: string) => {
    const out = [];
    for await (const o of vault.list(prefix)) out.push(o);
    return out;
  };
  const keysOf = async (vault: MemoryPipeline['primary'], prefix: string) =>
    (await listed(vault, prefix)).map((o) => o.key).sort();

  it('copy carries the root and the parts, and no pack; the copy verifies in its region', async () => {
    await writeTableSnapshot(p, 'orders', S1, orderItems(30), { perPart: 10 });
    await copyToRegion(p.deps, { kind: 'copy', planId: 'orders', snapshotId: S1, region: 'eu-west-1' });
    expect(await keysOf(p.copy, VaultLayout.partsPrefix('orders'))).toEqual(
      await keysOf(p.primary, VaultLayout.partsPrefix('orders')),
    );
    expect(await keysOf(p.copy, VaultLayout.partsPrefix('orders'))).toHaveLength(3);
    expect(await keysOf(p.copy, VaultLayout.packsPrefix)).toEqual([]);
    const record = await p.catalog.getSnapshot('orders', S1);
    expect(record?.regions?.['eu-west-1']?.status).toBe('COPIED');
    const v = await verifySnapshot(p.deps, {
      kind: 'verify-tier',
      planId: 'orders',
      snapshotId: S1,
      tier: 'catalog',
    });
    expect(v?.status).toBe('PASSED');
    expect(v?.tiers.catalog?.regions['eu-west-1']).toMatchObject({ itemsChecked: 30, missingParts: [] });
  });

  it('garbage collection keeps the parts of a live table snapshot', async () => {
    const s = await writeTableSnapshot(p, 'orders', S1, orderItems(30), { perPart: 10 });
    const parts = await keysOf(p.primary, VaultLayout.partsPrefix('orders'));
    p.deps.gcGraceSeconds = 0;
    await prunePlan(p.deps, {
      kind: 'gc',
      planId: 'orders',
      snapshotId: S1,
      region: 'us-east-1',
      force: true,
    });
    p.clock.advance(60_000);
    await prunePlan(p.deps, {
      kind: 'gc',
      planId: 'orders',
      snapshotId: S1,
      region: 'us-east-1',
      force: true,
    });
    expect(await keysOf(p.primary, VaultLayout.partsPrefix('orders'))).toEqual(parts);
    await readManifest(p.primary, p.deps.envelope, 'orders', s.manifestId as string);
  });

  it('the cost report counts the items as part bytes: no blob, no pack', async () => {
    await writeTableSnapshot(p, 'orders', S1, orderItems(30), { perPart: 10 });
    const report = costReport(await gatherCostInputs(p.deps));
    const region = report.plans.find((x) => x.planId === 'orders')?.regions[0];
    const stored = await listed(p.primary, VaultLayout.partsPrefix('orders'));
    const roots = await listed(p.primary, VaultLayout.manifestsPrefix('orders'));
    expect(region).toMatchObject({
      uniqueBlobs: 0,
      packs: 0,
      packBytes: 0,
      unlocatedBlobs: 0,
      missingObjects: 0,
    });
    expect(region?.metadataObjects).toBe(stored.length + roots.length);
    expect(region?.metadataBytes).toBe([...stored, ...roots].reduce((n, o) => n + o.sizeBytes, 0));
    expect(region?.storedBytes).toBe(region?.metadataBytes);
    expect(region?.keptLogicalBytes).toBeGreaterThan(0);
  });
});
