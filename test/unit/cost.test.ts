// The cost report on the memory twins: logical, unique and stored bytes per plan and region,
// dedup and compression ratios, shared packs, storage classes and the price table.
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  costReport,
  DEFAULT_PRICES_USD_PER_GB_MONTH,
  gatherCostInputs,
  objectMonthlyUsd,
} from '#domain/cost.ts';
import { Envelope } from '#domain/envelope.ts';
import { NotFoundError } from '#domain/errors.ts';
import { withWritePolicy } from '#domain/immutability.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { VaultStore } from '#domain/ports.ts';
import { PackWriter, writeIndex, writeManifest, writePart } from '#domain/repository/write.ts';
import { contentIdOf, VAULT_FORMAT_VERSION } from '#domain/vault.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { plan } from '../support/memory-pipeline.ts';

const GIB = 2 ** 30;
let clock: ManualClock;
let catalog: MemoryCatalog;
let primary: MemoryVaultStore;
let copy: MemoryVaultStore;
let deps: Pick<PipelineDeps, 'catalog' | 'vaults' | 'envelope' | 'concurrency'>;

beforeEach(async () => {
  clock = new ManualClock('2026-03-01T00:00:00Z');
  catalog = new MemoryCatalog();
  primary = new MemoryVaultStore('us-east-1', 'vault-use1', clock);
  copy = new MemoryVaultStore('eu-west-1', 'vault-euw1', clock);
  deps = {
    catalog,
    envelope: new Envelope(memoryKeyProvider()),
    vaults: { primary, copies: new Map([['eu-west-1', copy]]) },
    concurrency: 4,
  };
  await catalog.putPlans([plan({ id: 'photos' }), plan({ id: 'logs', copyRegions: [] })]);
});

/** Store one snapshot (one object per blob) in `vaults`, and its COMMITTED record. */
async function snapshot(
  planId: string,
  snapshotId: string,
  blobs: Buffer[],
  vaults: VaultStore[],
  { copied = false, fresh = blobs }: { copied?: boolean; fresh?: Buffer[] } = {},
): Promise<void> {
  const entries = blobs.map((b, i) => ({
    key: `k${i}`,
    sizeBytes: b.length,
    etag: 'e',
    lastModified: '2026-02-01T00:00:00.000Z',
    blobs: [contentIdOf(b)],
  }));
  let manifestId = '';
  for (const vault of vaults) {
    const writer = new PackWriter(vault, deps.envelope);
    for (const b of fresh) await writer.add(contentIdOf(b), b);
    await writeIndex(vault, deps.envelope, await writer.flush());
    const { ref } = await writePart(vault, deps.envelope, planId, entries);
    ({ manifestId } = await writeManifest(vault, deps.envelope, {
      version: VAULT_FORMAT_VERSION,
      type: 'manifest',
      planId,
      snapshotId,
      parentSnapshotId: null,
      source: { bucket: 'source', prefix: '' },
      scheduledAt: '2026-03-01T00:00:00.000Z',
      time: '2026-03-01T00:00:00.000Z',
      completedAt: '2026-03-01T00:00:00.000Z',
      totals: { objectCount: entries.length, logicalBytes: blobs.reduce((s, b) => s + b.length, 0) },
      parts: [ref],
    }));
  }
  const at = '2026-03-01T00:00:00.000Z';
  await catalog.createJob(
    {
      jobId: `${planId}/${snapshotId}`,
      planId,
      snapshotId,
      status: 'SUCCEEDED',
      createdAt: at,
      updatedAt: at,
    },
    {
      planId,
      snapshotId,
      status: 'COMMITTED',
      scheduledAt: at,
      time: at,
      manifestId,
      logicalBytes: blobs.reduce((s, b) => s + b.length, 0),
      ...(copied ? { regions: { 'eu-west-1': { status: 'COPIED' as const } } } : {}),
    },
  );
}

describe('costReport on the memory twins', () => {
  it('reports logical, unique and stored bytes, ratios, classes and cost per plan and region', async () => {
    // Prepare: photos has two snapshots of the same 4000 random bytes plus 1000 zero bytes (compressible);
    // the first is copied to eu-west-1, whose packs are GLACIER_IR. logs holds the zeros too: it
    // reuses photos' pack, as a snapshot reuses what the index locates.
    const random = randomBytes(4000);
    const zeros = Buffer.alloc(1000);
    const euw1 = withWritePolicy(copy, { packStorageClass: 'GLACIER_IR' }, clock);
    await snapshot('photos', '20260301T000000Z', [random, zeros], [primary, euw1], { copied: true });
    await snapshot('photos', '20260301T010000Z', [random, zeros], [primary], { fresh: [] });
    await snapshot('logs', '20260301T000000Z', [zeros], [primary], { fresh: [] });
    // Act
    const report = costReport(await gatherCostInputs(deps));
    // Assess
    const photos = report.plans.find((p) => p.planId === 'photos');
    const use1 = photos?.regions.find((r) => r.region === 'us-east-1');
    const euw1Cost = photos?.regions.find((r) => r.region === 'eu-west-1');
    expect(use1).toMatchObject({
      snapshots: 2,
      newestSnapshotId: '20260301T010000Z',
      newestLogicalBytes: 5000,
      keptLogicalBytes: 10_000,
      uniqueBlobs: 2,
      uniquePlaintextBytes: 5000,
      dedupRatio: 2,
      unlocatedBlobs: 0,
      missingObjects: 0,
    });
    // One pack, shared with logs (counted whole in both).
    expect(use1).toMatchObject({ packs: 1, sharedPacks: 1 });
    expect(use1?.metadataObjects).toBe(2 + 1); // two roots, one part shared by both
    expect(use1?.objects).toBe(use1 ? use1.packs + use1.metadataObjects : -1);
    expect(use1?.storedBytes).toBe((use1?.packBytes ?? 0) + (use1?.metadataBytes ?? 0));
    // Zeros compress: plaintext ÷ sealed blob bytes > 1.
    expect(use1?.compressionRatio).toBeGreaterThan(1);
    expect(Object.keys(use1?.byStorageClass ?? {})).toEqual(['STANDARD']);
    expect(use1?.monthlyUsd).toBeCloseTo(((use1?.storedBytes ?? 0) / GIB) * 0.023, 12);
    expect(euw1Cost).toMatchObject({ snapshots: 1, keptLogicalBytes: 5000, dedupRatio: 1, packs: 1 });
    expect(euw1Cost?.byStorageClass.GLACIER_IR?.objects).toBe(1);
    expect(euw1Cost?.byStorageClass.STANDARD?.objects).toBe(2); // root and part stay STANDARD
    // GLACIER_IR bills at least 128 KiB per object.
    expect(euw1Cost?.byStorageClass.GLACIER_IR?.monthlyUsd).toBeCloseTo((128 * 1024 * 0.004) / GIB, 12);
    const logs = report.plans.find((p) => p.planId === 'logs');
    expect(logs?.regions.map((r) => r.region)).toEqual(['us-east-1']);
    expect(logs?.regions[0]).toMatchObject({
      keptLogicalBytes: 1000,
      uniquePlaintextBytes: 1000,
      packs: 1,
      sharedPacks: 1,
      packBytes: use1?.packBytes,
    });
    // Per vault, every object once, index documents included.
    const vault = report.vaults.find((v) => v.region === 'us-east-1');
    expect(vault?.objects).toBe(primary.objects.size);
    expect(vault?.bytes).toBe([...primary.objects.values()].reduce((s, o) => s + o.body.length, 0));
  });

  it('counts a pack two plans reference whole in each, and says it is shared', async () => {
    const shared = randomBytes(500);
    await snapshot('photos', '20260301T000000Z', [shared], [primary]);
    await snapshot('logs', 's', [shared], [primary], { fresh: [] });
    const report = costReport(await gatherCostInputs(deps));
    const [photos, logs] = ['photos', 'logs'].map(
      (id) => report.plans.find((p) => p.planId === id)?.regions[0],
    );
    expect(photos).toMatchObject({ packs: 1, sharedPacks: 1 });
    expect(logs).toMatchObject({ packs: 1, sharedPacks: 1, packBytes: photos?.packBytes });
    // One plan only: sharing is among the plans of the report.
    const one = costReport(await gatherCostInputs(deps, 'logs'));
    expect(one.plans.map((p) => p.planId)).toEqual(['logs']);
    expect(one.plans[0]?.regions[0]?.sharedPacks).toBe(0);
  });

  it('takes price overrides, prices archive overhead, and refuses an unknown plan', async () => {
    const report = costReport({ plans: [], vaults: [] }, { prices: { GLACIER_IR: 0.005 } });
    expect(report.prices).toEqual({ ...DEFAULT_PRICES_USD_PER_GB_MONTH, GLACIER_IR: 0.005 });
    expect(objectMonthlyUsd(GIB, 'STANDARD', report.prices)).toBeCloseTo(0.023, 12);
    expect(objectMonthlyUsd(GIB, 'DEEP_ARCHIVE', report.prices)).toBeCloseTo(
      ((GIB + 32 * 1024) / GIB) * 0.00099 + ((8 * 1024) / GIB) * 0.023,
      12,
    );
    await expect(gatherCostInputs(deps, 'nope')).rejects.toBeInstanceOf(NotFoundError);
  });
});
