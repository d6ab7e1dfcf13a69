// Browsing history without restoring it (`strongbox ls` and `strongbox diff`), on the memory twins:
// the tree at a snapshot or a point in time, under a prefix, and what changed between two trees,
// reading only the manifest parts the two do not share.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { findVersions } from '#domain/browse/find.ts';
import { diffTrees, openTree, type TreeChange, type TreeEntry } from '#domain/browse/tree.ts';
import { captureChange, S3EventRecordSchema } from '#domain/capture.ts';
import { NotFoundError } from '#domain/errors.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import {
  formatFind,
  parseSizeFilter,
  parseTreeSpec,
  printDiff,
  printTree,
  treeOf,
} from '#local/cli/browse.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

let p: MemoryPipeline;

async function snapshotNow(): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  return snapshotId;
}

/** Capture the upload of `key` (already in the source bucket) at the clock's time. */
async function captureUpload(key: string, sequencer: string): Promise<void> {
  const o = p.objects.buckets.get('source')?.get(key);
  await captureChange(
    p.deps,
    S3EventRecordSchema.parse({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: p.clock.now().toISOString(),
      eventName: 'ObjectCreated:Put',
      s3: { bucket: { name: 'source' }, object: { key, size: o?.sizeBytes, eTag: o?.etag, sequencer } },
    }),
  );
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
  await p.catalog.putPlans([plan({ copyRegions: [], retention: { keepLast: 10 } })]);
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
    await captureUpload('photos/3.jpg', '0000000000000000A1');
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

describe('findVersions (strongbox find)', () => {
  it('finds every version of matching keys across snapshots and the journal, reading each distinct part once', async () => {
    // 4,500 objects: three parts; three snapshots that change only keys of the last part
    for (let n = 0; n < 4_500; n++) await putText(p, `k/${String(n).padStart(5, '0')}`, `v${n}`);
    await putText(p, 'z/cat one.jpg', 'meow');
    await putText(p, 'z/dog.jpg', 'woof');
    const s1 = await snapshotNow();
    p.clock.set('2026-12-01T01:00:00Z');
    await putText(p, 'z/cat one.jpg', 'meow meow'); // a second version
    const s2 = await snapshotNow();
    p.clock.set('2026-12-01T02:00:00Z');
    await putText(p, 'z/cat ünï.jpg', 'purr');
    const s3 = await snapshotNow();
    const get = vi.spyOn(p.primary, 'get');
    const result = await findVersions(p.deps, { plan: 'photos', pattern: 'z/cat*.jpg' });
    expect(
      result.versions.map((v) => [v.key, v.sizeBytes, v.firstSeen.in, v.lastSeen.in, v.snapshots]),
    ).toEqual([
      ['z/cat one.jpg', 4, s1, s1, 1],
      ['z/cat one.jpg', 9, s2, s3, 2],
      ['z/cat ünï.jpg', 4, s3, s3, 1],
    ]);
    expect(result.snapshotsSearched).toBe(3);
    // Under the pattern's prefix 'z/' lies only the last part of each snapshot: three distinct ones
    // (each snapshot changed it), read once each; the 'k/' parts are not read at all.
    expect(result.partsRead).toBe(3);
    expect(get.mock.calls.filter(([key]) => key.startsWith('parts/'))).toHaveLength(3);
    // Filters: time window, size, ETag
    const window = await findVersions(p.deps, {
      plan: 'photos',
      pattern: 'z/**',
      since: '2026-12-01T00:30:00Z',
    });
    expect(window.snapshotsSearched).toBe(2);
    expect(new Set(window.versions.map((v) => v.firstSeen.in))).toEqual(new Set([s2, s3]));
    const big = await findVersions(p.deps, { plan: 'photos', pattern: 'z/**', minSizeBytes: 5 });
    expect(big.versions.map((v) => v.key)).toEqual(['z/cat one.jpg']);
    const etag = result.versions[0]?.etag as string;
    const byEtag = await findVersions(p.deps, { plan: 'photos', pattern: '**', etag });
    expect(byEtag.versions.map((v) => [v.key, v.etag])).toEqual([['z/cat one.jpg', etag]]);
  });

  it('reads the parts of a long history several at a time, and still counts each sighting in order', async () => {
    // Prepare: six snapshots, each with a part of its own (one key changed each time)
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) {
      await putText(p, 'a/1.txt', `version ${n}`);
      p.clock.advance(3_600_000);
      ids.push(await snapshotNow());
    }
    let inFlight = 0;
    let most = 0;
    const get = p.primary.get.bind(p.primary);
    p.primary.get = async (key: string) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      try {
        return await get(key);
      } finally {
        inFlight -= 1;
      }
    };
    // Act
    const result = await findVersions(p.deps, { plan: 'photos', pattern: 'a/1.txt' });
    // Assess
    expect(most).toBeGreaterThan(1);
    expect(result.versions.map((v) => [v.firstSeen.in, v.lastSeen.in])).toEqual(ids.map((id) => [id, id]));
  });

  it('reads a part shared by many snapshots once', async () => {
    await putText(p, 'a/1.txt', 'one');
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      p.clock.advance(3_600_000);
      ids.push(await snapshotNow());
    }
    const result = await findVersions(p.deps, { plan: 'photos', pattern: 'a/1.txt' });
    expect(result.versions).toHaveLength(1);
    expect(result.versions[0]).toMatchObject({
      snapshots: 5,
      firstSeen: { in: ids[0] },
      lastSeen: { in: ids[4] },
    });
    expect([result.partsRead, result.partsSkipped]).toEqual([1, 4]);
  });

  it('finds versions captured between snapshots, in the journal', async () => {
    await putText(p, 'z/a.txt', 'first');
    const s1 = await snapshotNow();
    p.clock.set('2026-12-01T01:00:00Z');
    await putText(p, 'z/a.txt', 'second!');
    await captureUpload('z/a.txt', '0000000000000000B1');
    const result = await findVersions(p.deps, { plan: 'photos', pattern: 'z/*.txt' });
    expect(result.versions.map((v) => [v.sizeBytes, v.firstSeen.in, v.snapshots, v.captures])).toEqual([
      [5, s1, 1, 0],
      [7, 'journal', 0, 1],
    ]);
    expect(result.journalEntriesSearched).toBe(1);
  });

  it('prints a line per version and what was searched; reads sizes as find(1) does', async () => {
    expect(parseSizeFilter('1024')).toEqual({ minSizeBytes: 1024, maxSizeBytes: 1024 });
    expect(parseSizeFilter('+10M')).toEqual({ minSizeBytes: 10 * 1024 * 1024 });
    expect(parseSizeFilter('-1.5KiB')).toEqual({ maxSizeBytes: 1536 });
    expect(() => parseSizeFilter('big')).toThrow(/not a size/);
    await putText(p, 'docs/read me.txt', 'hello');
    const s1 = await snapshotNow();
    const result = await findVersions(p.deps, { plan: 'photos', pattern: 'docs/**' });
    const lines = formatFind(result, false).split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^docs/read me\\.txt {2}5 B {2}etag \\S+ {2}first 2026-12-01 00:00:00 \\(snapshot ${s1}\\) {2}last .* in 1 snapshot\\(s\\)$`,
      ),
    );
    expect(lines[1]).toBe(
      '1 version(s) of 1 key(s); searched 1 snapshot(s), read 1 manifest part(s) (0 skipped: shared or outside the pattern) and 0 journal entries',
    );
    expect((JSON.parse(formatFind(result, true)) as typeof result).versions[0]?.key).toBe('docs/read me.txt');
  });
});
