/**
 * Readers of manifest entries, given a table snapshot (item entries: `item` inline, `blobs: []`):
 * none may take an item entry's missing blob for a blob id, and each shows or restores the item.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { findVersions } from '#domain/browse/find.ts';
import { ServedTree } from '#domain/browse/served-tree.ts';
import { diffTrees, openTree } from '#domain/browse/tree.ts';
import { ValidationError } from '#domain/errors.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { listVersions } from '#domain/restore/versions.ts';
import { canonicalItemJson, type Item, itemEntryOf, itemHashOf } from '#domain/table/item.ts';
import { compareKeys, contentIdOf, contentSha256Of } from '#domain/vault.ts';
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

describe('browsing a table snapshot (ls, diff, find, serve-s3)', () => {
  let p: MemoryPipeline;

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([tablePlan()]);
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items, { perPart: 5 });
  });

  it('ls lists the item keys with their sizes and hashes', async () => {
    const tree = await openTree(p.deps, { plan: 'orders' });
    const listed = [];
    for await (const e of tree.entries) listed.push(e);
    const expected = items
      .map((item) => itemEntryOf(item, ORDERS.key, '2026-03-01T00:00:00.000Z'))
      .sort((a, b) => compareKeys(a.key, b.key));
    expect(listed.map((e) => [e.key, e.sizeBytes, e.contentSha256])).toEqual(
      expected.map((e) => [e.key, e.sizeBytes, e.etag]),
    );
  });

  it('diff names the item that changed between two snapshots', async () => {
    p.clock.advance(3_600_000);
    const changed = items.map((item, i) => (i === 4 ? { ...item, total: { N: '1' } } : item));
    await writeTableSnapshot(p, 'orders', '20260301T010000Z', changed, { perPart: 5 });
    const changes = [];
    for await (const c of (
      await diffTrees(p.deps, { plan: 'orders', snapshot: '20260301T000000Z' }, { plan: 'orders' })
    ).changes)
      changes.push(c);
    expect(changes.map((c) => [c.change, c.key])).toEqual([['modified', 'customer#4/4']]);
  });

  it('find finds an item key in the snapshots', async () => {
    const found = await findVersions(p.deps, { plan: 'orders', pattern: 'customer#4/*' });
    expect(found.versions.map((v) => v.key)).toEqual(['customer#4/11', 'customer#4/4']);
  });

  it('serve-s3 serves an item as its canonical JSON, ranges too', async () => {
    const tree = await ServedTree.open(p.deps, { plan: 'orders' });
    try {
      const entry = await tree.entry('customer#4/4');
      if (!entry) throw new Error('no entry');
      const read = async (range?: { start: number; end: number }) => {
        const chunks: Buffer[] = [];
        for await (const c of tree.content(entry, range)) chunks.push(c);
        return Buffer.concat(chunks).toString('utf8');
      };
      const json = canonicalItemJson(items[4] as never);
      expect(await read()).toBe(json);
      expect(await read({ start: 2, end: 9 })).toBe(json.slice(2, 10));
      // A corrupt item is refused, naming its key.
      const bad = { ...entry, item: { ...entry.item, total: { N: '0' } } };
      await expect(async () => {
        for await (const _c of tree.content(bad)) void _c;
      }).rejects.toThrow(/customer#4\/4/);
    } finally {
      tree.close();
    }
  });
});

describe('versions of an item key', () => {
  it('offers a journaled item change (no blobs, its item inline) as a point in time', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([tablePlan()]);
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items);
    const changed = { ...(items[4] as Item), total: { N: '1' } };
    const entry = itemEntryOf(changed, ORDERS.key, '2026-03-01T00:30:00.000Z');
    await p.catalog.appendJournal({
      planId: 'orders',
      bucket: 'dynamodb:orders',
      key: entry.key,
      event: 'created',
      eventTime: '2026-03-01T00:30:00.000Z',
      sequencer: '100000000000000000001',
      capturedAt: '2026-03-01T00:30:01.000Z',
      outcome: 'captured',
      sizeBytes: entry.sizeBytes,
      etag: entry.etag,
      lastModified: '2026-03-01T00:30:00.000Z',
      item: entry.item as Item,
    });
    const versions = await listVersions(p.deps, { plan: 'orders', key: 'customer#4/4', journal: true });
    expect(versions[0]).toMatchObject({ source: 'journal', pointInTime: '2026-03-01T00:30:00.000Z' });
    // find: the journaled item's SHA-256 is its etag (it has no blob to take one from).
    const found = await findVersions(p.deps, { plan: 'orders', pattern: 'customer#4/4' });
    expect(found.versions.find((v) => v.etag === entry.etag)?.contentSha256).toBe(entry.etag);
  });
});

describe('a fanned-out restore of a table snapshot to a bucket', () => {
  it('writes every item as its JSON object through the restore slices', async () => {
    const p = memoryPipeline();
    p.deps.restoreFanOutThreshold = 4;
    p.deps.restoreSliceSize = 5;
    await p.catalog.putPlans([tablePlan()]);
    await writeTableSnapshot(p, 'orders', '20260301T000000Z', items, { perPart: 5 });
    p.objects.createBucket('orders-files');
    const started = await startRestore(p.deps, { plan: 'orders', targetBucket: 'orders-files' });
    expect(started.job).toBeDefined();
    const ran = await p.drain();
    expect(ran.filter((t) => t.kind === 'restore-slice')).toHaveLength(3);
    for (const item of items) {
      const entry = itemEntryOf(item, ORDERS.key, '2026-03-01T00:00:00.000Z');
      const stored = await p.objects.get('orders-files', entry.key);
      expect(Buffer.from(stored.body).toString('utf8')).toBe(canonicalItemJson(item));
    }
  });
});
