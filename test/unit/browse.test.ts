// Browsing history without restoring it (`strongbox ls` and `strongbox diff`), on the memory twins:
// the tree at a snapshot or a point in time, under a prefix, and what changed between two trees,
// reading only the manifest parts the two do not share.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { diffTrees, openTree, type TreeChange, type TreeEntry } from '#domain/browse/tree.ts';
import { captureChange, S3EventRecordSchema } from '#domain/capture.ts';
import { NotFoundError } from '#domain/errors.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { parseTreeSpec, printDiff, printTree, treeOf } from '#local/cli/browse.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

let p: MemoryPipeline;

async function snapshotNow(): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  return snapshotId;
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const keysOf = (entries: readonly TreeEntry[]) => entries.map((e) => e.key);
const summary = (changes: readonly TreeChange[]) => changes.map((c) => `${c.change} ${c.key}`);

beforeEach(async () => {
  p = memoryPipeline('2026-12-01T00:00:00Z');
  await p.catalog.putPlans([plan({ copyRegions: [] })]);
});

describe('openTree (strongbox ls)', () => {
  beforeEach(async () => {
    for (const [key, text] of [
      ['docs/read me.txt', 'hello'],
      ['docs/ünïcødé/naïve.txt', 'bonjour'],
      ['photos/1.jpg', 'jpeg one'],
      ['photos/2.jpg', 'jpeg two'],
    ])
      await putText(p, key as string, text as string);
  });

  it('lists a snapshot in key order, with sizes, dates, ETags and SHA-256s, spaces and non-ASCII kept', async () => {
    const snapshotId = await snapshotNow();
    const tree = await openTree(p.deps, { plan: 'photos' });
    const entries = await all(tree.entries);
    expect(tree.source.snapshot.snapshotId).toBe(snapshotId);
    expect(tree.source.region).toBe('us-east-1');
    expect(keysOf(entries)).toEqual([
      'docs/read me.txt',
      'docs/ünïcødé/naïve.txt',
      'photos/1.jpg',
      'photos/2.jpg',
    ]);
    const source = p.objects.buckets.get('source')?.get('docs/ünïcødé/naïve.txt');
    expect(entries[1]).toEqual({
      key: 'docs/ünïcødé/naïve.txt',
      sizeBytes: 7,
      lastModified: source?.lastModified,
      etag: source?.etag,
      contentSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('lists only a prefix', async () => {
    await snapshotNow();
    const tree = await openTree(p.deps, { plan: 'photos' }, 'docs/');
    expect(keysOf(await all(tree.entries))).toEqual(['docs/read me.txt', 'docs/ünïcødé/naïve.txt']);
  });

  it('lists an older snapshot by id, and the tree at a time between snapshots with the journal applied', async () => {
    const first = await snapshotNow();
    p.clock.set('2026-12-01T01:00:00Z');
    await putText(p, 'photos/3.jpg', 'jpeg three');
    const o = p.objects.buckets.get('source')?.get('photos/3.jpg');
    await captureChange(
      p.deps,
      S3EventRecordSchema.parse({
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: '2026-12-01T01:00:00.000Z',
        eventName: 'ObjectCreated:Put',
        s3: {
          bucket: { name: 'source' },
          object: { key: 'photos/3.jpg', size: o?.sizeBytes, eTag: o?.etag, sequencer: '0000000000000000A1' },
        },
      }),
    );
    p.clock.set('2026-12-01T02:00:00Z');
    await p.objects.delete('source', ['photos/1.jpg']);
    await snapshotNow();
    const older = await openTree(p.deps, { plan: 'photos', snapshot: first }, 'photos/');
    expect(keysOf(await all(older.entries))).toEqual(['photos/1.jpg', 'photos/2.jpg']);
    const between = await openTree(
      p.deps,
      { plan: 'photos', pointInTime: '2026-12-01T01:30:00Z' },
      'photos/',
    );
    expect(between.source.snapshot.snapshotId).toBe(first);
    expect(between.source.pointInTime).toEqual({ at: '2026-12-01T01:30:00Z', changes: 1 });
    expect(keysOf(await all(between.entries))).toEqual(['photos/1.jpg', 'photos/2.jpg', 'photos/3.jpg']);
    const latest = await openTree(p.deps, { plan: 'photos' }, 'photos/');
    expect(keysOf(await all(latest.entries))).toEqual(['photos/2.jpg', 'photos/3.jpg']);
  });

  it('refuses a time before the first snapshot, naming it', async () => {
    await snapshotNow();
    await expect(openTree(p.deps, { plan: 'photos', pointInTime: '2026-11-01T00:00:00Z' })).rejects.toThrow(
      NotFoundError,
    );
    await expect(openTree(p.deps, { plan: 'nope' })).rejects.toThrow(/plan 'nope' does not exist/);
  });
});

describe('diffTrees (strongbox diff)', () => {
  it('reports added, removed and modified keys, not those only re-uploaded, and reads no shared part', async () => {
    // 4,500 objects: three manifest parts, of which the changes touch only the last
    for (let n = 0; n < 4_500; n++) await putText(p, `k/${String(n).padStart(5, '0')}`, `v${n}`);
    await putText(p, 'z/modified é.txt', 'before');
    await putText(p, 'z/removed.txt', 'gone soon');
    await putText(p, 'z/touched.txt', 'same bytes');
    const a = await snapshotNow();
    p.clock.advance(3_600_000);
    await putText(p, 'z/added ✓.txt', 'new');
    await putText(p, 'z/modified é.txt', 'after!');
    await p.objects.delete('source', ['z/removed.txt']);
    await putText(p, 'z/touched.txt', 'same bytes'); // a new lastModified, the same bytes
    const b = await snapshotNow();
    const get = vi.spyOn(p.primary, 'get');
    const diff = await diffTrees(p.deps, { plan: 'photos', snapshot: a }, { plan: 'photos', snapshot: b });
    const changes = await all(diff.changes);
    expect(summary(changes)).toEqual([
      'added z/added ✓.txt',
      'modified z/modified é.txt',
      'removed z/removed.txt',
    ]);
    const modified = changes[1] as Extract<TreeChange, { change: 'modified' }>;
    expect([modified.before.sizeBytes, modified.after.sizeBytes]).toEqual([6, 6]);
    expect(modified.before.contentSha256).not.toBe(modified.after.contentSha256);
    expect(diff.sharedParts).toBeGreaterThanOrEqual(2);
    const partReads = get.mock.calls.filter(([key]) => key.startsWith('parts/')).length;
    expect(partReads).toBe(2); // the last part of each side, not the shared ones
    // The other way round, and under a prefix
    const back = await diffTrees(
      p.deps,
      { plan: 'photos', snapshot: b },
      { plan: 'photos', snapshot: a },
      'z/',
    );
    expect(summary(await all(back.changes))).toEqual([
      'removed z/added ✓.txt',
      'modified z/modified é.txt',
      'added z/removed.txt',
    ]);
    const same = await diffTrees(p.deps, { plan: 'photos', snapshot: b }, { plan: 'photos', snapshot: b });
    expect(await all(same.changes)).toEqual([]);
  });
});

describe('strongbox ls and diff, as printed', () => {
  it('reads PLAN, PLAN@SNAPSHOT and PLAN@TIME', () => {
    expect(parseTreeSpec('photos')).toEqual({ plan: 'photos' });
    expect(parseTreeSpec('photos@latest')).toEqual({ plan: 'photos', snapshot: 'latest' });
    expect(parseTreeSpec('photos@20261201T000000Z')).toEqual({
      plan: 'photos',
      snapshot: '20261201T000000Z',
    });
    expect(parseTreeSpec('photos@2026-12-01T01:30:00Z')).toEqual({
      plan: 'photos',
      pointInTime: '2026-12-01T01:30:00Z',
    });
    expect(parseTreeSpec('photos@2026-12-01T02:30:00+01:00')).toEqual({
      plan: 'photos',
      pointInTime: '2026-12-01T02:30:00+01:00',
    });
    expect(() => parseTreeSpec('@latest')).toThrow(/names no plan/);
  });

  it('prints a line per object and a total, or JSON lines that give back every key exactly', async () => {
    await putText(p, 'docs/read me.txt', 'hello');
    await putText(p, 'docs/ünïcødé/naïve.txt', 'bonjour');
    const snapshotId = await snapshotNow();
    const text: string[] = [];
    const tree = await openTree(p.deps, { plan: 'photos' });
    await printTree(tree.entries, tree.source, false, (l) => text.push(l));
    expect(text[0]).toMatch(/^ +5 B {2}2026-12-01 00:00:00 {2}docs\/read me\.txt$/);
    expect(text[1]).toMatch(/ {2}docs\/ünïcødé\/naïve\.txt$/);
    expect(text[2]).toBe(`2 object(s), 12 B in snapshot ${snapshotId} of plan photos (us-east-1)`);
    const json: string[] = [];
    const again = await openTree(p.deps, { plan: 'photos' });
    await printTree(again.entries, again.source, true, (l) => json.push(l));
    expect(json.map((l) => (JSON.parse(l) as TreeEntry).key)).toEqual([
      'docs/read me.txt',
      'docs/ünïcødé/naïve.txt',
    ]);
  });

  it('prints +, - and M lines with sizes and a count, or JSON lines', async () => {
    await putText(p, 'a.txt', 'one');
    await putText(p, 'b é.txt', 'two');
    const a = await snapshotNow();
    p.clock.advance(3_600_000);
    await putText(p, 'b é.txt', 'three');
    await putText(p, 'c.txt', 'four');
    await p.objects.delete('source', ['a.txt']);
    const b = await snapshotNow();
    const text: string[] = [];
    await printDiff(await diffTrees(p.deps, treeOf('photos', a), treeOf('photos', b)), false, (l) =>
      text.push(l),
    );
    expect(text).toEqual([
      '- a.txt  (3 B)',
      'M b é.txt  (3 B → 5 B)',
      '+ c.txt  (4 B)',
      `1 added, 1 removed, 1 modified from snapshot ${a} of plan photos (us-east-1) to snapshot ${b} of plan photos (us-east-1) (0 manifest part(s) shared, not read)`,
    ]);
    const json: string[] = [];
    await printDiff(await diffTrees(p.deps, treeOf('photos', a), treeOf('photos', 'latest')), true, (l) =>
      json.push(l),
    );
    expect(json.map((l) => JSON.parse(l) as TreeChange).map((c) => [c.change, c.key])).toEqual([
      ['removed', 'a.txt'],
      ['modified', 'b é.txt'],
      ['added', 'c.txt'],
    ]);
  });
});
