/**
 * The Source contract (shared/domain/source/source.ts): what snapshots and capture rely on of a
 * protected source, run against every implementation (today S3BucketSource over the memory object
 * store; a DynamoDB table source runs it too when it comes).
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '#domain/errors.ts';
import type { Source, SourceItem } from '#domain/source/index.ts';
import { CHUNK_SIZE_BYTES, compareKeys } from '#domain/vault.ts';

/** A source, empty, and how a test changes what it holds. */
export interface SourceUnderTest {
  source: Source;
  /** The key the source knows the item `name` by (an S3 bucket source under a prefix: prefix + name). */
  keyOf(name: string): string;
  /** Where the source's keys live (S3: the bucket), for `covers`. */
  container: string;
  /** Make the source hold `body` at `key` (a new version of it, when it had one). */
  write(
    key: string,
    body: Uint8Array,
    attributes?: { contentType?: string; metadata?: Record<string, string> },
  ): Promise<void>;
  /** Remove `key` from the source. */
  remove(key: string): Promise<void>;
}

const bytes = (s: string) => Buffer.from(s);

async function listed(source: Source, startAfter?: string): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const item of source.list(startAfter === undefined ? undefined : { startAfter })) out.push(item);
  return out;
}

async function chunksOf(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

export function sourceContract(name: string, setup: () => Promise<SourceUnderTest>): void {
  describe(`Source contract: ${name}`, () => {
    it('lists every item once, in key order, only after startAfter when given', async () => {
      const t = await setup();
      const names = ['b', 'a/2', 'a/10', 'é', 'c d'];
      for (const n of names) await t.write(t.keyOf(n), bytes(n));
      const all = await listed(t.source);
      const keys = names.map((n) => t.keyOf(n)).sort(compareKeys);
      expect(all.map((i) => i.key)).toEqual(keys);
      expect(all.find((i) => i.key === t.keyOf('b'))).toMatchObject({ sizeBytes: 1 });
      expect(all.every((i) => i.etag.length > 0 && !i.etag.includes('"'))).toBe(true);
      expect((await listed(t.source, keys[1])).map((i) => i.key)).toEqual(keys.slice(2));
    });

    it('reads an item as its chunks with the attributes a restore gives back', async () => {
      const t = await setup();
      const key = t.keyOf('cat.jpg');
      await t.write(key, bytes('meow'), { contentType: 'image/jpeg', metadata: { camera: 'x100' } });
      const read = await t.source.read({ key, sizeBytes: 4 });
      expect(read).toMatchObject({ sizeBytes: 4, contentType: 'image/jpeg', metadata: { camera: 'x100' } });
      expect(Buffer.concat(await chunksOf(read.chunks)).toString()).toBe('meow');
      const [listedItem] = await listed(t.source);
      expect(read.etag).toBe(listedItem?.etag);
    });

    it('cuts a large item into chunks of CHUNK_SIZE_BYTES and an empty one into one empty chunk', async () => {
      const t = await setup();
      const big = Buffer.alloc(CHUNK_SIZE_BYTES + 100, 7);
      await t.write(t.keyOf('big'), big);
      await t.write(t.keyOf('empty'), new Uint8Array());
      const read = await t.source.read({ key: t.keyOf('big'), sizeBytes: big.length });
      const chunks = await chunksOf(read.chunks);
      expect(chunks.map((c) => c.length)).toEqual([CHUNK_SIZE_BYTES, 100]);
      expect(Buffer.concat(chunks).equals(big)).toBe(true);
      const empty = await t.source.read({ key: t.keyOf('empty'), sizeBytes: 0 });
      expect((await chunksOf(empty.chunks)).map((c) => c.length)).toEqual([0]);
    });

    it('fails a read of an item that changed (ConflictError) or is gone (NotFoundError)', async () => {
      const t = await setup();
      const key = t.keyOf('k');
      await t.write(key, bytes('one'));
      await expect(t.source.read({ key, sizeBytes: 3 }, { ifMatch: 'not-its-etag' })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(t.source.read({ key: t.keyOf('missing'), sizeBytes: 1 })).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it('never mixes two versions: an item overwritten between two chunks fails the read', async () => {
      const t = await setup();
      const key = t.keyOf('big');
      await t.write(key, Buffer.alloc(CHUNK_SIZE_BYTES + 1, 1));
      const read = await t.source.read({ key, sizeBytes: CHUNK_SIZE_BYTES + 1 });
      await t.write(key, Buffer.alloc(CHUNK_SIZE_BYTES + 1, 2));
      await expect(chunksOf(read.chunks)).rejects.toBeInstanceOf(ConflictError);
    });

    it('tells a key current version, and undefined once it is removed', async () => {
      const t = await setup();
      const key = t.keyOf('k');
      await t.write(key, bytes('three'));
      const [item] = await listed(t.source);
      expect(await t.source.currentVersion(key)).toMatchObject({ key, sizeBytes: 5, etag: item?.etag });
      await t.remove(key);
      expect(await t.source.currentVersion(key)).toBeUndefined();
      expect(await t.source.currentVersion(t.keyOf('never'))).toBeUndefined();
    });

    it('covers its own keys only', async () => {
      const t = await setup();
      expect(t.source.covers({ bucket: t.container, key: t.keyOf('x') })).toBe(true);
      expect(t.source.covers({ bucket: `${t.container}-other`, key: t.keyOf('x') })).toBe(false);
    });
  });
}
