// What `strongbox serve-s3` serves: a snapshot's tree with S3's listing semantics (prefix, delimiter,
// pages that resume after a key or after a whole common prefix), one object's entry, and its bytes
// in any range, across chunk boundaries. On the memory pipeline.
import { beforeEach, describe, expect, it } from 'vitest';
import { ServedTree } from '#domain/browse/served-tree.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { CHUNK_SIZE_BYTES, compareKeys } from '#domain/vault.ts';
import { parseRange } from '#local/serve-s3.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

/** Keys that sort around the delimiter ('-' < '/' < '0'), nested, with spaces and non-ASCII. */
const KEYS = [
  'a-b',
  'a/b',
  'a/b/c',
  'a/b/d e.txt',
  'a/c',
  'a0',
  'docs/ünï/çødé.txt',
  'docs/ünï/z',
  'docs/read me.txt',
  ...Array.from({ length: 25 }, (_, i) => `logs/2026/12/${String(i).padStart(2, '0')}.log`),
  'z',
].sort(compareKeys);

let p: MemoryPipeline;
let tree: ServedTree;

/** S3's listing of KEYS, every page at once: keys and common prefixes (once each), in order. */
function reference(prefix: string, delimiter?: string): string[] {
  const out: string[] = [];
  for (const key of KEYS.filter((k) => k.startsWith(prefix))) {
    const at = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const item = at >= 0 ? `CP:${key.slice(0, at + (delimiter as string).length)}` : key;
    if (out.at(-1) !== item) out.push(item);
  }
  return out;
}

/** Every page of a listing, following `next` as a continuation token does. */
async function pages(prefix: string, delimiter: string | undefined, maxKeys: number): Promise<string[][]> {
  const all: string[][] = [];
  let resume: { after?: string; afterPrefix?: boolean } = {};
  for (;;) {
    const page = await tree.list({ prefix, ...(delimiter ? { delimiter } : {}), maxKeys, ...resume });
    // Keys and common prefixes interleave in key order in S3's sense; compare as one ordered list.
    all.push(
      [...page.entries.map((e) => e.key), ...page.commonPrefixes.map((c) => `CP:${c}`)].sort((a, b) =>
        compareKeys(a.replace(/^CP:/, ''), b.replace(/^CP:/, '')),
      ),
    );
    if (!page.truncated) return all;
    expect(page.next).toBeDefined();
    resume = { after: page.next as string, afterPrefix: page.nextIsPrefix === true };
  }
}

beforeEach(async () => {
  p = memoryPipeline();
  await p.catalog.putPlans([plan({ copyRegions: [] })]);
  for (const key of KEYS) await putText(p, key, `content of ${key}`);
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  tree = await ServedTree.open(p.deps, { plan: 'photos' });
});

describe('ServedTree.list', () => {
  it.each([
    ['', undefined, 1000],
    ['', '/', 1000],
    ['', '/', 1],
    ['', '/', 3],
    ['a', '/', 2],
    ['a/', '/', 1],
    ['docs/', '/', 1],
    ['logs/', '/', 1000],
    ['logs/2026/12/', '/', 7],
    ['', undefined, 4],
    ['nothing/', '/', 10],
  ])(
    'lists prefix %j, delimiter %j, %i a page, as S3 does, across every page',
    async (prefix, delimiter, max) => {
      const listed = await pages(prefix, delimiter, max);
      expect(listed.flat()).toEqual(reference(prefix, delimiter));
      for (const page of listed.slice(0, -1)) expect(page).toHaveLength(max);
    },
  );

  it('resumes after a common prefix without listing it again, however many keys it holds', async () => {
    const first = await tree.list({ delimiter: '/', maxKeys: 4 });
    expect(first.commonPrefixes).toEqual(['a/', 'docs/']);
    const second = await tree.list({ delimiter: '/', maxKeys: 1, after: 'docs/', afterPrefix: true });
    expect(second.commonPrefixes).toEqual(['logs/']);
  });

  it('gives each object its size, ETag and time as the snapshot recorded them', async () => {
    const { entries } = await tree.list({ prefix: 'docs/read', maxKeys: 10 });
    expect(entries).toEqual([
      expect.objectContaining({ key: 'docs/read me.txt', sizeBytes: 'content of docs/read me.txt'.length }),
    ]);
  });
});

describe('ServedTree.entry and content', () => {
  it('finds one entry, keys exactly as stored, and nothing for a key the tree does not hold', async () => {
    expect((await tree.entry('docs/ünï/çødé.txt'))?.key).toBe('docs/ünï/çødé.txt');
    expect(await tree.entry('docs/ünï')).toBeUndefined();
    expect(await tree.entry('zz')).toBeUndefined();
  });

  it('reads a part once for a listing and the reads of its objects that follow', async () => {
    p.primary.calls.get = 0;
    const page = await tree.list({ maxKeys: 1000 });
    for (const e of page.entries) await tree.entry(e.key);
    expect(p.primary.calls.get).toBe(1);
  });

  it('reads any range, across the boundary between two chunks', async () => {
    // Prepare: an object of two chunks, each byte its offset mod 251
    const size = CHUNK_SIZE_BYTES + 1000;
    const body = Buffer.alloc(size, 0).map((_, i) => i % 251);
    p.objects.createBucket('source');
    await p.objects.put('source', 'big.bin', body, {});
    p.clock.advance(3600_000);
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    const served = await ServedTree.open(p.deps, { plan: 'photos' });
    const entry = await served.entry('big.bin');
    if (!entry) throw new Error('big.bin is not in the snapshot');
    const read = async (range?: { start: number; end: number }) => {
      const chunks: Buffer[] = [];
      for await (const c of served.content(entry, range)) chunks.push(c);
      return Buffer.concat(chunks);
    };
    // Act / Assess
    const across = { start: CHUNK_SIZE_BYTES - 10, end: CHUNK_SIZE_BYTES + 9 };
    expect(await read(across)).toEqual(body.subarray(across.start, across.end + 1));
    expect(await read({ start: size - 5, end: size + 100 })).toEqual(body.subarray(size - 5));
    expect(await read({ start: 0, end: 0 })).toEqual(body.subarray(0, 1));
    expect((await read()).equals(body)).toBe(true);
  });
});

describe('parseRange', () => {
  it.each([
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=50-5000', 100, { start: 50, end: 99 }],
    ['bytes=0-1,5-6', 100, undefined],
    ['items=0-1', 100, undefined],
    [undefined, 100, undefined],
  ])('reads %s of %i bytes as %j', (header, size, range) => {
    expect(parseRange(header, size)).toEqual(range);
  });

  it.each([
    ['bytes=100-', 100],
    ['bytes=5-2', 100],
    ['bytes=-0', 100],
    ['bytes=0-', 0],
  ])('refuses %s of %i bytes as S3 does: InvalidRange', (header, size) => {
    expect(() => parseRange(header, size)).toThrow('The requested range is not satisfiable');
  });
});
