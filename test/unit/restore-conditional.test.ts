// A restore with `overwrite: never` into a live bucket: a write that lands at a key after the restore
// decided to write it, and before its PUT, is never replaced (the PUT is conditional, If-None-Match: *),
// and the key counts as skipped because it exists. On the memory twins.
import { beforeEach, describe, expect, it } from 'vitest';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { CHUNK_SIZE_BYTES } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

let p: MemoryPipeline;

async function snapshotNow(): Promise<void> {
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.advance(3600_000);
}

async function textOf(bucket: string, key: string): Promise<string> {
  return Buffer.from((await p.objects.get(bucket, key)).body).toString();
}

/**
 * Make another writer store `newer write` at `key` of `bucket` just before the restore's own write of
 * it reaches the store: after the restore looked at the target, before its PUT (or, for a multipart
 * upload, before it completes).
 */
function raceWriteBeforePut(bucket: string, key: string): void {
  const put = p.objects.put.bind(p.objects);
  let raced = false;
  p.objects.put = async (b, k, body, attributes, conditions) => {
    if (!raced && b === bucket && k === key) {
      raced = true;
      await put(b, k, Buffer.from('newer write'), { contentType: 'text/plain' });
    }
    return put(b, k, body, attributes, conditions);
  };
}

beforeEach(async () => {
  p = memoryPipeline();
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  p.objects.createBucket('restored');
});

describe("restore with overwrite 'never' into a live bucket", () => {
  it('keeps a write that lands between the HEAD and the PUT of a one-chunk object, and counts it skipped', async () => {
    // Prepare
    for (const key of ['a.txt', 'b.txt']) await putText(p, key, `content of ${key}`);
    await snapshotNow();
    raceWriteBeforePut('restored', 'a.txt');
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    // Assess
    expect(await textOf('restored', 'a.txt')).toBe('newer write');
    expect(await textOf('restored', 'b.txt')).toBe('content of b.txt');
    expect(report).toMatchObject({ objects: 1, skipped: { exists: 1, unchanged: 0 } });
    expect(report.bytes).toBe('content of b.txt'.length);
    expect(report.skippedObjects).toEqual([{ key: 'a.txt', reason: 'exists' }]);
  });

  it('keeps a write that lands while an object of several chunks is uploaded', async () => {
    // Prepare
    p.objects.createBucket('source');
    await p.objects.put('source', 'large.bin', Buffer.alloc(CHUNK_SIZE_BYTES + 10, 7), {});
    await snapshotNow();
    raceWriteBeforePut('restored', 'large.bin');
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    // Assess
    expect(await textOf('restored', 'large.bin')).toBe('newer write');
    expect(report).toMatchObject({ objects: 0, bytes: 0, skipped: { exists: 1, unchanged: 0 } });
  });

  it('keeps a write that lands after the listing a large restore decides from', async () => {
    // Prepare: more objects than a restore HEADs one by one (it lists the target instead)
    const keys = Array.from({ length: 120 }, (_, i) => `k/${String(i).padStart(3, '0')}.txt`);
    for (const key of keys) await putText(p, key, `content of ${key}`);
    await snapshotNow();
    raceWriteBeforePut('restored', 'k/042.txt');
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    // Assess
    expect(await textOf('restored', 'k/042.txt')).toBe('newer write');
    expect(await textOf('restored', 'k/041.txt')).toBe('content of k/041.txt');
    expect(report).toMatchObject({ objects: 119, skipped: { exists: 1, unchanged: 0 } });
  });

  it("still replaces the target under 'always' (no condition)", async () => {
    // Prepare
    await putText(p, 'a.txt', 'content of a.txt');
    await snapshotNow();
    raceWriteBeforePut('restored', 'a.txt');
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      overwrite: 'always',
    });
    // Assess
    expect(await textOf('restored', 'a.txt')).toBe('content of a.txt');
    expect(report).toMatchObject({ objects: 1, skipped: { exists: 0, unchanged: 0 } });
  });
});

describe('MemoryObjectStore conditional writes', () => {
  it('stores a new key under ifNoneMatch and refuses an existing one, keeping it', async () => {
    // Act
    const first = await p.objects.put('restored', 'x', Buffer.from('one'), {}, { ifNoneMatch: true });
    const second = await p.objects.put('restored', 'x', Buffer.from('two'), {}, { ifNoneMatch: true });
    const streamed = await p.objects.putStream(
      'restored',
      'x',
      (async function* () {
        yield Buffer.from('three');
      })(),
      {},
      { ifNoneMatch: true },
    );
    // Assess
    expect([first, second, streamed]).toEqual(['written', 'exists', 'exists']);
    expect(await textOf('restored', 'x')).toBe('one');
    expect(await p.objects.put('restored', 'x', Buffer.from('four'), {})).toBe('written');
    expect(await textOf('restored', 'x')).toBe('four');
  });
});
