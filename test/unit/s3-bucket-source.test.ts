/**
 * S3BucketSource over the memory object store: the Source contract, for a whole bucket and for a
 * prefix, then what only the S3 source does (versions, the requests it sends, S3 event records).
 */
import { describe, expect, it } from 'vitest';
import { S3EventRecordSchema } from '#domain/capture.ts';
import { NotFoundError } from '#domain/errors.ts';
import { changeOf, S3BucketSource, sourceOf } from '#domain/source/index.ts';
import { CHUNK_SIZE_BYTES } from '#domain/vault.ts';
import { sourceContract } from '../contract/source.contract.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryObjectStore } from '../support/memory/object-store.ts';

function memorySource(prefix: string) {
  const objects = new MemoryObjectStore(new ManualClock());
  objects.createBucket('photos-src');
  objects.createBucket('elsewhere');
  return { objects, source: new S3BucketSource(objects, 'photos-src', prefix) };
}

for (const prefix of ['', '2026/']) {
  sourceContract(`S3BucketSource (memory, prefix '${prefix}')`, async () => {
    const { objects, source } = memorySource(prefix);
    return {
      source,
      container: 'photos-src',
      keyOf: (name) => `${prefix}${name}`,
      write: async (key, body, attributes = {}) =>
        void (await objects.put('photos-src', key, body, attributes)),
      remove: (key) => objects.delete('photos-src', [key]),
    };
  });
}

describe('S3BucketSource', () => {
  it('lists and covers only keys under its prefix', async () => {
    const { objects, source } = memorySource('2026/');
    for (const key of ['2025/a', '2026/b', '2026x', '2027/c'])
      await objects.put('photos-src', key, Buffer.from(key), {});
    const keys: string[] = [];
    for await (const item of source.list()) keys.push(item.key);
    expect(keys).toEqual(['2026/b']);
    expect(source.covers({ bucket: 'photos-src', key: '2025/a' })).toBe(false);
    expect(source.uriOf('2026/b')).toBe('s3://photos-src/2026/b');
  });

  it('sends one whole GET for a small object, a first range then ranges held to its ETag for a large one', async () => {
    const { objects, source } = memorySource('');
    await objects.put('photos-src', 'small', Buffer.from('hi'), {});
    await objects.put('photos-src', 'big', Buffer.alloc(CHUNK_SIZE_BYTES + 5), {});
    for await (const _ of (await source.read({ key: 'small', sizeBytes: 2 })).chunks);
    const big = await source.read({ key: 'big', sizeBytes: CHUNK_SIZE_BYTES + 5 });
    for await (const _ of big.chunks);
    expect(objects.reads).toEqual([
      { bucket: 'photos-src', key: 'small', options: {} },
      { bucket: 'photos-src', key: 'big', range: { offsetBytes: 0, lengthBytes: CHUNK_SIZE_BYTES } },
      {
        bucket: 'photos-src',
        key: 'big',
        range: { offsetBytes: CHUNK_SIZE_BYTES, lengthBytes: 5, ifMatch: big.etag },
      },
    ]);
  });

  it("reads a large object's chunks ahead, in parallel and in order, within one byte budget shared by every read", async () => {
    // Prepare: two objects of 12 chunks, each chunk's bytes its number; every ranged read takes a while
    const { objects, source } = memorySource('');
    const size = 12 * CHUNK_SIZE_BYTES;
    const body = (tag: number) => {
      const b = Buffer.alloc(size);
      for (let c = 0; c < 12; c++) b.fill(tag * 16 + c, c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES);
      return b;
    };
    await objects.put('photos-src', 'a', body(1), {});
    await objects.put('photos-src', 'b', body(2), {});
    let inFlight = 0;
    let most = 0;
    const getRange = objects.getRange.bind(objects);
    objects.getRange = async (...args: Parameters<typeof getRange>) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      try {
        return await getRange(...args);
      } finally {
        inFlight -= 1;
      }
    };
    const firsts = async (key: string) => {
      const got: number[] = [];
      for await (const chunk of (await source.read({ key, sizeBytes: size })).chunks)
        got.push(chunk[0] as number);
      return got;
    };
    // Act: one read alone, then two at once
    const alone = await firsts('a');
    const mostAlone = most;
    most = 0;
    const [a, b] = await Promise.all([firsts('a'), firsts('b')]);
    // Assess: in order; one read keeps its next chunk plus 8 more (64 MiB) in flight; two share the 8
    const inOrder = (tag: number) => Array.from({ length: 12 }, (_, c) => tag * 16 + c);
    expect([alone, a, b]).toEqual([inOrder(1), inOrder(1), inOrder(2)]);
    expect(mostAlone).toBe(1 + 8);
    expect(most).toBeLessThanOrEqual(2 + 8);
  });

  it('reads the version asked for, and a deleted version is NotFoundError', async () => {
    const { objects, source } = memorySource('');
    objects.enableVersioning('photos-src');
    await objects.put('photos-src', 'k', Buffer.from('old'), {});
    await objects.put('photos-src', 'k', Buffer.from('new'), {});
    const [first, second] = objects.versions.get('photos-src/k') ?? [];
    const read = await source.read({ key: 'k', sizeBytes: 3 }, { versionId: first?.versionId as string });
    expect(read.versionId).toBe(first?.versionId);
    const chunks: Uint8Array[] = [];
    for await (const chunk of read.chunks) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('old');
    expect((await source.currentVersion('k'))?.versionId).toBe(second?.versionId);
    await objects.deleteVersion('photos-src', 'k', first?.versionId as string);
    await expect(
      source.read({ key: 'k', sizeBytes: 3 }, { versionId: first?.versionId as string }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('is what sourceOf builds for a plan source', () => {
    const { objects } = memorySource('');
    const source = sourceOf({ objects }, { bucket: 'photos-src', prefix: 'a/' });
    expect(source).toBeInstanceOf(S3BucketSource);
    expect(source).toMatchObject({ kind: 's3-bucket', bucket: 'photos-src', prefix: 'a/' });
  });
});

describe('changeOf an S3 event record', () => {
  const record = (eventName: string, object: Record<string, unknown>) =>
    S3EventRecordSchema.parse({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: '2026-11-21T23:45:00Z',
      eventName,
      s3: { bucket: { name: 'photos-src' }, object: { key: 'my+cat%C3%A9.jpg', sequencer: '0A', ...object } },
    });

  it('an upload is written: the decoded key, the ETag without quotes, the size, no null version', () => {
    expect(changeOf(record('ObjectCreated:Put', { size: 3, eTag: '"abc"', versionId: 'null' }))).toEqual({
      bucket: 'photos-src',
      key: 'my caté.jpg',
      eventTime: '2026-11-21T23:45:00.000Z',
      sequencer: '0A',
      after: 'written',
      sizeBytes: 3,
      etag: 'abc',
    });
  });

  it('a delete of one version leaves the key unknown; every other removal is gone', () => {
    const stateAfter = (eventName: string, object: Record<string, unknown> = {}) =>
      changeOf(record(eventName, object)).after;
    expect(stateAfter('ObjectRemoved:Delete', { versionId: 'v1' })).toBe('unknown');
    expect(stateAfter('LifecycleExpiration:Delete', { versionId: 'v1' })).toBe('unknown');
    expect(stateAfter('ObjectRemoved:Delete')).toBe('gone');
    expect(stateAfter('ObjectRemoved:Delete', { versionId: 'null' })).toBe('gone');
    expect(stateAfter('ObjectRemoved:DeleteMarkerCreated', { versionId: 'dm1' })).toBe('gone');
    expect(changeOf(record('ObjectRemoved:DeleteMarkerCreated', { versionId: 'dm1' })).versionId).toBe('dm1');
  });
});
