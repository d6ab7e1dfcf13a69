import { beforeEach, describe, expect, it } from 'vitest';
import type { Verification } from '#domain/records.ts';
import { itemEntryOf } from '#domain/table/item.ts';
import { itemEntryProblem } from '#domain/verify/items.ts';
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import { verificationLines } from '#local/cli/format/status.ts';
import { type MemoryPipeline, memoryPipeline } from '../support/memory-pipeline.ts';
import {
  editTableSnapshot,
  ORDERS,
  orderItems,
  tablePlan,
  writeTableSnapshot,
} from '../support/table-snapshot.ts';

const SNAPSHOT = '20260301T000000Z';

describe('itemEntryProblem', () => {
  const [item] = orderItems(1);
  const entry = itemEntryOf(item as never, ORDERS.key, '2026-03-01T00:00:00.000Z');

  it('finds nothing wrong with an entry itemEntryOf made', () => {
    expect(itemEntryProblem(entry, ORDERS.key)).toBeUndefined();
  });

  it('names an item that does not hash to its etag, a wrong size, a wrong key', () => {
    expect(itemEntryProblem({ ...entry, item: { ...entry.item, total: { N: '1' } } }, ORDERS.key)).toMatch(
      /does not hash to its etag/,
    );
    expect(itemEntryProblem({ ...entry, sizeBytes: entry.sizeBytes + 1 }, ORDERS.key)).toMatch(/bytes, not/);
    expect(itemEntryProblem({ ...entry, key: 'customer#0/1' }, ORDERS.key)).toMatch(/key is 'customer#0\/0'/);
    expect(itemEntryProblem({ ...entry, item: undefined } as never, ORDERS.key)).toBe('no item');
  });
});

describe('verification of a table snapshot', () => {
  let p: MemoryPipeline;

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([tablePlan()]);
  });

  const verify = () => verifySnapshot(p.deps, { kind: 'verify', planId: 'orders', snapshotId: SNAPSHOT });

  it('passes every tier and counts the items it checked', async () => {
    await writeTableSnapshot(p, 'orders', SNAPSHOT, orderItems(50), { perPart: 20 });
    const v = await verify();
    expect(v?.status).toBe('PASSED');
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      const region = v?.tiers[tier]?.regions['us-east-1'];
      expect(region?.itemsChecked, tier).toBe(50);
      expect(region?.corruptItems, tier).toEqual([]);
      expect(region?.referencedBlobs, tier).toBe(0);
    }
  });

  it('fails, naming the key, when an item in a part was changed', async () => {
    const snapshot = await writeTableSnapshot(p, 'orders', SNAPSHOT, orderItems(30), { perPart: 10 });
    await editTableSnapshot(p, snapshot, (e) =>
      e.key === 'customer#3/10' ? { ...e, item: { ...e.item, total: { N: '999' } } } : e,
    );
    const v = await verify();
    expect(v?.status).toBe('FAILED');
    expect(v?.tiers.catalog?.regions['us-east-1']?.corruptItems).toEqual(['customer#3/10']);
    const task = [...p.catalog.tasks.values()].find((t) => t.jobId === `orders/${SNAPSHOT}`);
    expect(task?.error).toMatch(/1 corrupt item\(s\) \(customer#3\/10…\)/);
  });

  it('fails when a part counts other items than it holds, or the root other totals', async () => {
    const snapshot = await writeTableSnapshot(p, 'orders', SNAPSHOT, orderItems(30), { perPart: 10 });
    await editTableSnapshot(
      p,
      snapshot,
      (e) => e,
      (m) => ({ ...m, parts: m.parts.map((r, i) => (i === 1 ? { ...r, objectCount: 11 } : r)) }),
    );
    const v = await verify();
    expect(v?.status).toBe('FAILED');
    const problems = v?.tiers.catalog?.regions['us-east-1']?.itemProblems ?? [];
    expect(problems.some((t) => /counts 11 item\(s\), it holds 10/.test(t))).toBe(true);
    expect(problems.some((t) => /the root's totals \(30 item\(s\)/.test(t))).toBe(true);
  });

  it('fails when a key is in two parts (keys unique across parts)', async () => {
    const snapshot = await writeTableSnapshot(p, 'orders', SNAPSHOT, orderItems(20), { perPart: 10 });
    // A faulty writer stored one item twice: in place of 'customer#2/9', a twin of 'customer#3/10'.
    const items = orderItems(20);
    await editTableSnapshot(p, snapshot, (e) => {
      if (e.key !== 'customer#2/9') return e;
      return itemEntryOf(items[10] as never, ORDERS.key, e.lastModified);
    });
    const v = await verify();
    expect(v?.status).toBe('FAILED');
    const problems = v?.tiers.catalog?.regions['us-east-1']?.itemProblems ?? [];
    expect(problems.join('\n')).toMatch(/customer#3\/10/);
  });
});

describe('status lines of a table snapshot', () => {
  it('show the items each tier checked, and a corrupt item by key', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([tablePlan()]);
    const snapshot = await writeTableSnapshot(p, 'orders', SNAPSHOT, orderItems(10));
    await editTableSnapshot(p, snapshot, (e) =>
      e.key === 'customer#2/2' ? { ...e, item: { ...e.item, total: { N: '0' } } } : e,
    );
    const v = await verifySnapshot(p.deps, { kind: 'verify', planId: 'orders', snapshotId: SNAPSHOT });
    const lines = verificationLines(SNAPSHOT, v as Verification);
    expect(lines.find((l) => l.trimStart().startsWith('catalog'))).toMatch(
      /FAILED\s+0\/0 blobs listed, 10 items checked: 1 corrupt item\(s\) \(customer#2\/2…\)/,
    );
  });
});
