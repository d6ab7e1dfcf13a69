/**
 * Readers of manifest entries, given a table snapshot (item entries: `item` inline, `blobs: []`):
 * none may take an item entry's missing blob for a blob id, and each shows or restores the item.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '#domain/errors.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { canonicalItemJson, itemEntryOf, itemHashOf } from '#domain/table/item.ts';
import { contentIdOf, contentSha256Of } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline } from '../support/memory-pipeline.ts';
import { ORDERS, orderItems, tablePlan, writeTableSnapshot } from '../support/table-snapshot.ts';

const items = orderItems(12);

describe('contentSha256Of an item entry', () => {
  it("is the item's hash (its etag), never an absent blob id", () => {
    const entry = itemEntryOf(items[0] as never, ORDERS.key, '2026-03-01T00:00:00.000Z');
    expect(entry.blobs).toEqual([]);
    expect(contentSha256Of(entry)).toBe(itemHashOf(items[0] as never));
    expect(contentSha256Of(entry)).toBe(contentIdOf(canonicalItemJson(entry.item as never)));
  });
});

describe('restoring a table snapshot to S3', () => {
  let p: MemoryPipeline;

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([tablePlan()]);
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items, { perPart: 5 });
  });

  it('refuses without a target bucket, pointing to --to-table (at once and as a job)', async () => {
    await expect(restoreSnapshot(p.deps, { plan: 'orders' })).rejects.toThrow(/--to-table/);
    await expect(startRestore(p.deps, { plan: 'orders' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('writes each item as its canonical JSON object under its key, with --to-bucket', async () => {
    p.objects.createBucket('orders-files');
    const report = await restoreSnapshot(p.deps, { plan: 'orders', targetBucket: 'orders-files' });
    expect(report.objects).toBe(12);
    const entry = itemEntryOf(items[3] as never, ORDERS.key, '2026-03-01T00:00:00.000Z');
    const stored = await p.objects.get('orders-files', entry.key);
    expect(Buffer.from(stored.body).toString('utf8')).toBe(canonicalItemJson(items[3] as never));
    expect(stored.contentType).toBe('application/json');
  });

  it('finds the items it wrote unchanged with overwrite ifChanged (their SHA-256 is the etag)', async () => {
    p.objects.createBucket('orders-files');
    await restoreSnapshot(p.deps, { plan: 'orders', targetBucket: 'orders-files' });
    const again = await restoreSnapshot(p.deps, {
      plan: 'orders',
      targetBucket: 'orders-files',
      overwrite: 'ifChanged',
    });
    expect(again.objects).toBe(0);
  });
});
