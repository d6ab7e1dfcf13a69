/**
 * The ObjectStore contract (shared/domain/ports.ts): protected buckets (read) and restore targets
 * (write), run against every implementation: the memory twin and S3 on the emulator. Versioned
 * buckets are left to the twin's and the adapter's own tests: the emulator keeps no versions.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, isRetryable, NotFoundError, SourceUnavailableError } from '#domain/errors.ts';
import type { ObjectStore, SourceObject } from '#domain/ports.ts';
import { compareKeys } from '#domain/vault.ts';
import { contractCase, type KnownDivergences } from './divergences.ts';

/** A store and one of its buckets, empty. */
export interface ObjectStoreUnderTest {
  store: ObjectStore;
  bucket: string;
}

/** A bucket no implementation under test has. */
const MISSING_BUCKET = 'strongbox-contract-missing';

/** A key that needs escaping everywhere: spaces, `+`, `%`, `?`, `#`, two- and four-byte UTF-8. */
const AWKWARD_KEY = 'dir/a b+c%20d?e#f é 😀.txt';

async function listed(store: ObjectStore, bucket: string, prefix: string, startAfter?: string) {
  const out: SourceObject[] = [];
  for await (const o of store.list(bucket, prefix, startAfter === undefined ? {} : { startAfter }))
    out.push(o);
  return out;
}
const keysOf = (objects: readonly SourceObject[]) => objects.map((o) => o.key);
const text = (body: Uint8Array) => Buffer.from(body).toString();
const bytes = (s: string) => Buffer.from(s);

/** `size` bytes that differ from offset to offset, so a range read from the wrong place shows. */
function patterned(size: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) body.writeUInt32BE(i, i);
  return body;
}

async function* chunksOf(body: Buffer, chunkBytes: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < body.length; i += chunkBytes) yield body.subarray(i, i + chunkBytes);
}

export function objectStoreContract(
  name: string,
  make: () => Promise<ObjectStoreUnderTest>,
  known?: KnownDivergences,
): void {
  describe(`ObjectStore contract: ${name}`, () => {
    describe('list', () => {
      it('lists every key under a prefix once, in UTF-8 binary order, across pages, from any startAfter', async () => {
        const { store, bucket } = await make();
        // Over S3's page of 1000 keys; first characters whose UTF-16 and UTF-8 orders differ.
        const firsts = ['a', 'B', '_', 'é', '-', 'Z', '\uff5e', '😀', ' ', '+'];
        const keys = Array.from({ length: 1105 }, (_, i) => `src/${firsts[i % firsts.length]}${i}`);
        await Promise.all(keys.map((k) => store.put(bucket, k, bytes(k), {})));
        await store.put(bucket, 'srcX/outside', bytes('x'), {});
        await store.put(bucket, 'other/outside', bytes('x'), {});
        const sorted = [...keys].sort(compareKeys);
        expect(keysOf(await listed(store, bucket, 'src/'))).toEqual(sorted);
        // From a key that exists (the 50th), and from one that does not: every key after it, once.
        const from = sorted[49] as string;
        expect(keysOf(await listed(store, bucket, 'src/', from))).toEqual(sorted.slice(50));
        expect(keysOf(await listed(store, bucket, 'src/', 'src/_'))).toEqual(
          sorted.filter((k) => compareKeys(k, 'src/_') > 0),
        );
        expect(keysOf(await listed(store, bucket, 'src/', sorted.at(-1)))).toEqual([]);
        // The whole bucket: the prefix is a plain string prefix, not a folder.
        expect(await listed(store, bucket, '')).toHaveLength(1107);
        expect(keysOf(await listed(store, bucket, 'src'))).toHaveLength(1106);
      });

      it('lists nothing under a prefix without keys; a missing bucket is SourceUnavailableError (not retryable)', async () => {
        const { store, bucket } = await make();
        await store.put(bucket, 'a/1', bytes('1'), {});
        expect(await listed(store, bucket, 'b/')).toEqual([]);
        const error = await listed(store, MISSING_BUCKET, '').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SourceUnavailableError);
        expect(isRetryable(error)).toBe(false);
      });

      it('reports each object’s size, ETag and last-modified time as get and head do', async () => {
        const { store, bucket } = await make();
        await store.put(bucket, 'p/sized', Buffer.alloc(1234, 1), {});
        await store.put(bucket, 'p/small', Buffer.alloc(1, 1), {});
        const [sized, small] = await listed(store, bucket, 'p/');
        expect(sized?.sizeBytes).toBe(1234);
        expect(small?.sizeBytes).toBe(1);
        expect(sized?.etag).toMatch(/^[^"]+$/);
        expect(sized?.etag).not.toBe(small?.etag);
        expect(Number.isNaN(Date.parse(sized?.lastModified ?? ''))).toBe(false);
        expect(sized?.lastModified).toBe(new Date(sized?.lastModified ?? '').toISOString());
        const got = await store.get(bucket, 'p/sized');
        expect({ sizeBytes: got.sizeBytes, etag: got.etag }).toEqual({ sizeBytes: 1234, etag: sized?.etag });
        expect(await store.head(bucket, 'p/sized')).toMatchObject({ sizeBytes: 1234, etag: sized?.etag });
      });
    });

    describe('get, getRange and head', () => {
      it('returns the bytes, content type and metadata put, under a key that needs escaping', async () => {
        const { store, bucket } = await make();
        const body = patterned(3000);
        const attributes = { contentType: 'image/jpeg', metadata: { origin: 'camera', 'taken-at': '2026' } };
        expect(await store.put(bucket, AWKWARD_KEY, body, attributes)).toBe('written');
        const got = await store.get(bucket, AWKWARD_KEY);
        expect(Buffer.from(got.body).equals(body)).toBe(true);
        expect(got).toMatchObject({ key: AWKWARD_KEY, sizeBytes: 3000, ...attributes });
        expect(await store.head(bucket, AWKWARD_KEY)).toEqual({
          sizeBytes: 3000,
          etag: got.etag,
          metadata: attributes.metadata,
        });
        expect(keysOf(await listed(store, bucket, 'dir/'))).toEqual([AWKWARD_KEY]);
      });

      contractCase(known, 'empty-object', 'stores, lists and reads an empty object', async () => {
        const { store, bucket } = await make();
        expect(await store.put(bucket, 'empty', new Uint8Array(), {})).toBe('written');
        const got = await store.get(bucket, 'empty');
        expect(got.body.length).toBe(0);
        expect(got.sizeBytes).toBe(0);
        expect((await store.head(bucket, 'empty'))?.sizeBytes).toBe(0);
        expect((await listed(store, bucket, ''))[0]).toMatchObject({ key: 'empty', sizeBytes: 0 });
      });

      it('throws NotFoundError for a missing key or bucket; head answers undefined', async () => {
        const { store, bucket } = await make();
        await expect(store.get(bucket, 'missing')).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.get(MISSING_BUCKET, 'missing')).rejects.toBeInstanceOf(NotFoundError);
        const range = { offsetBytes: 0, lengthBytes: 1 };
        await expect(store.getRange(bucket, 'missing', range)).rejects.toBeInstanceOf(NotFoundError);
        expect(await store.head(bucket, 'missing')).toBeUndefined();
        expect(await store.head(MISSING_BUCKET, 'missing')).toBeUndefined();
      });

      it('reads a byte range, reporting the whole object’s size', async () => {
        const { store, bucket } = await make();
        const body = patterned(10_000);
        await store.put(bucket, 'ranged', body, {});
        const middle = await store.getRange(bucket, 'ranged', { offsetBytes: 4096, lengthBytes: 100 });
        expect(Buffer.from(middle.body).equals(body.subarray(4096, 4196))).toBe(true);
        expect(middle.sizeBytes).toBe(10_000);
        const head = await store.getRange(bucket, 'ranged', { offsetBytes: 0, lengthBytes: 1 });
        expect(Buffer.from(head.body).equals(body.subarray(0, 1))).toBe(true);
        const tail = await store.getRange(bucket, 'ranged', { offsetBytes: 9_990, lengthBytes: 10 });
        expect(Buffer.from(tail.body).equals(body.subarray(9_990))).toBe(true);
        expect(tail.etag).toBe((await store.head(bucket, 'ranged'))?.etag);
      });

      it('reads only the object it listed: ifMatch fails with ConflictError (not retryable) once it changed', async () => {
        const { store, bucket } = await make();
        await store.put(bucket, 'k', bytes('first'), {});
        const [before] = await listed(store, bucket, 'k');
        const etag = before?.etag as string;
        expect(text((await store.get(bucket, 'k', { ifMatch: etag })).body)).toBe('first');
        expect(
          text((await store.getRange(bucket, 'k', { offsetBytes: 1, lengthBytes: 2, ifMatch: etag })).body),
        ).toBe('ir');
        await store.put(bucket, 'k', bytes('second'), {});
        const error = await store.get(bucket, 'k', { ifMatch: etag }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConflictError);
        expect(isRetryable(error)).toBe(false);
        await expect(
          store.getRange(bucket, 'k', { offsetBytes: 0, lengthBytes: 1, ifMatch: etag }),
        ).rejects.toBeInstanceOf(ConflictError);
        const now = (await store.head(bucket, 'k'))?.etag as string;
        expect(text((await store.get(bucket, 'k', { ifMatch: now })).body)).toBe('second');
      });
    });

    describe('put and putStream', () => {
      it('overwrites unconditionally; with ifNoneMatch writes only a key that has no object', async () => {
        const { store, bucket } = await make();
        expect(await store.put(bucket, 'k', bytes('first'), {}, { ifNoneMatch: true })).toBe('written');
        expect(await store.put(bucket, 'k', bytes('second'), {}, { ifNoneMatch: true })).toBe('exists');
        expect(text((await store.get(bucket, 'k')).body)).toBe('first');
        expect(await store.put(bucket, 'k', bytes('third'), { metadata: { v: '3' } })).toBe('written');
        expect(await store.put(bucket, 'k', bytes('fourth'), {}, { ifNoneMatch: false })).toBe('written');
        expect(text((await store.get(bucket, 'k')).body)).toBe('fourth');
        // Once deleted, the key is free again.
        await store.delete(bucket, ['k']);
        expect(await store.put(bucket, 'k', bytes('fifth'), {}, { ifNoneMatch: true })).toBe('written');
        expect(text((await store.get(bucket, 'k')).body)).toBe('fifth');
      });

      it('lets one of several conditional writes of one key at the same time store its object', async () => {
        const { store, bucket } = await make();
        const bodies = ['a', 'b', 'c', 'd', 'e'].map((x) => bytes(x.repeat(1000)));
        const outcomes = await Promise.all(
          bodies.map((b) =>
            store.put(bucket, 'raced', b, {}, { ifNoneMatch: true }).catch((e: unknown) => e),
          ),
        );
        // The others find the object (`exists`), or raced its write (a retryable error, S3's 409).
        expect(outcomes.filter((o) => o === 'written')).toHaveLength(1);
        for (const o of outcomes) if (o !== 'written' && o !== 'exists') expect(isRetryable(o)).toBe(true);
        const winner = bodies[outcomes.indexOf('written')] as Buffer;
        expect(Buffer.from((await store.get(bucket, 'raced')).body).equals(winner)).toBe(true);
      });

      it('stores a stream of chunks as one object, conditionally too', async () => {
        const { store, bucket } = await make();
        const body = patterned(100_000);
        const attributes = { contentType: 'text/plain', metadata: { origin: 'stream' } };
        expect(await store.putStream(bucket, 's', chunksOf(body, 7_000), attributes)).toBe('written');
        const got = await store.get(bucket, 's');
        expect(Buffer.from(got.body).equals(body)).toBe(true);
        expect(got).toMatchObject({ sizeBytes: 100_000, ...attributes });
        const again = chunksOf(Buffer.from('other'), 2);
        expect(await store.putStream(bucket, 's', again, {}, { ifNoneMatch: true })).toBe('exists');
        expect(Buffer.from((await store.get(bucket, 's')).body).equals(body)).toBe(true);
        expect(await store.putStream(bucket, 'empty', chunksOf(Buffer.alloc(0), 1), {})).toBe('written');
        expect((await store.head(bucket, 'empty'))?.sizeBytes).toBe(0);
      });

      it('stores a stream over one upload part (8 MiB) whole, and checks ifNoneMatch when it completes', async () => {
        const { store, bucket } = await make();
        const body = patterned(9 * 1024 * 1024 + 123);
        const written = await store.putStream(
          bucket,
          'big',
          chunksOf(body, 1024 * 1024),
          {},
          { ifNoneMatch: true },
        );
        expect(written).toBe('written');
        expect(Buffer.from((await store.get(bucket, 'big')).body).equals(body)).toBe(true);
        const again = await store.putStream(
          bucket,
          'big',
          chunksOf(patterned(9 * 1024 * 1024), 1024 * 1024),
          {},
          {
            ifNoneMatch: true,
          },
        );
        expect(again).toBe('exists');
        expect((await store.head(bucket, 'big'))?.sizeBytes).toBe(body.length);
        expect(keysOf(await listed(store, bucket, ''))).toEqual(['big']);
      });

      it('throws NotFoundError for a write into a bucket that does not exist', async () => {
        const { store } = await make();
        await expect(store.put(MISSING_BUCKET, 'k', bytes('x'), {})).rejects.toBeInstanceOf(NotFoundError);
        await expect(
          store.putStream(MISSING_BUCKET, 'k', chunksOf(Buffer.from('x'), 1), {}),
        ).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    describe('multipart uploads across invocations', () => {
      const MiB = 1024 * 1024;

      it('stores the parts in order as one object, with the attributes given at its start', async () => {
        const { store, bucket } = await make();
        const body = patterned(10 * MiB + 321);
        const attributes = { contentType: 'application/x-dump', metadata: { origin: 'parts' } };
        const uploadId = await store.createUpload(bucket, AWKWARD_KEY, attributes);
        // Out of order, and part 2 sent twice: the second replaces the first.
        const second = await store.uploadPart(bucket, AWKWARD_KEY, uploadId, 2, body.subarray(5 * MiB));
        const first = await store.uploadPart(bucket, AWKWARD_KEY, uploadId, 1, body.subarray(0, 5 * MiB));
        const again = await store.uploadPart(bucket, AWKWARD_KEY, uploadId, 2, body.subarray(5 * MiB));
        expect(again).toBe(second);
        expect(await store.completeUpload(bucket, AWKWARD_KEY, uploadId, [first, again])).toBe('written');
        const got = await store.get(bucket, AWKWARD_KEY);
        expect(Buffer.from(got.body).equals(body)).toBe(true);
        expect(got).toMatchObject(attributes);
      });

      it('with ifNoneMatch, completes as exists over an object stored meanwhile, keeping it', async () => {
        const { store, bucket } = await make();
        const uploadId = await store.createUpload(bucket, 'dump', {});
        const etag = await store.uploadPart(bucket, 'dump', uploadId, 1, patterned(1000));
        await store.put(bucket, 'dump', bytes('newer'), {});
        expect(await store.completeUpload(bucket, 'dump', uploadId, [etag], { ifNoneMatch: true })).toBe(
          'exists',
        );
        expect(text((await store.get(bucket, 'dump')).body)).toBe('newer');
      });

      it('after an abort stores nothing, and the upload is gone (NotFoundError)', async () => {
        const { store, bucket } = await make();
        const uploadId = await store.createUpload(bucket, 'dump', {});
        const etag = await store.uploadPart(bucket, 'dump', uploadId, 1, patterned(1000));
        await store.abortUpload(bucket, 'dump', uploadId);
        await expect(store.completeUpload(bucket, 'dump', uploadId, [etag])).rejects.toBeInstanceOf(
          NotFoundError,
        );
        expect(await store.head(bucket, 'dump')).toBeUndefined();
        await expect(store.createUpload(MISSING_BUCKET, 'k', {})).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    describe('delete and currentVersion', () => {
      it('deletes keys, more than one S3 request holds (1000), and deleting a missing key succeeds', async () => {
        const { store, bucket } = await make();
        const keys = Array.from({ length: 1003 }, (_, i) => `scratch/${String(i).padStart(4, '0')}`);
        await Promise.all(keys.map((k) => store.put(bucket, k, bytes('x'), {})));
        await store.put(bucket, 'kept', bytes('k'), {});
        await store.delete(bucket, [...keys, 'scratch/never']);
        expect(keysOf(await listed(store, bucket, ''))).toEqual(['kept']);
        await store.delete(bucket, []);
        await store.delete(bucket, ['scratch/never']);
        expect(await store.head(bucket, 'scratch/0000')).toBeUndefined();
      });

      contractCase(
        known,
        'current-version-unversioned',
        'reports the current version of a key of an unversioned bucket, and none once it is deleted',
        async () => {
          const { store, bucket } = await make();
          expect(await store.currentVersion(bucket, 'k')).toBeUndefined();
          await store.put(bucket, 'k', bytes('first'), {});
          await store.put(bucket, 'k', bytes('second!'), {});
          const current = await store.currentVersion(bucket, 'k');
          const [listing] = await listed(store, bucket, 'k');
          expect(current).toMatchObject({ key: 'k', sizeBytes: 7, etag: listing?.etag });
          expect(current).not.toHaveProperty('versionId');
          // HEAD reports the time to the second (HTTP date); a listing may say more.
          const seconds = (t?: string) => Math.floor(Date.parse(t ?? '') / 1000);
          expect(seconds(current?.lastModified)).toBe(seconds(listing?.lastModified));
          await store.delete(bucket, ['k']);
          expect(await store.currentVersion(bucket, 'k')).toBeUndefined();
          expect(await store.currentVersion(MISSING_BUCKET, 'k')).toBeUndefined();
        },
      );
    });
  });
}
