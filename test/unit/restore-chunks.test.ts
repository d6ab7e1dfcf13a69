// Format version 2 on the restore path: objects of several chunks are read blob by blob from their
// packs and streamed to the target; the region's index is loaded once per task; content is checked
// against the manifest's SHA-256 and size; a blob no index locates fails before anything is written.
// All on the memory twins.
import { beforeEach, describe, expect, it } from 'vitest';
import { IntegrityError, NotFoundError } from '#domain/errors.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSlice, startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { verifiedEntryContent, writeEntry } from '#domain/restore/write.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { RestoreSliceTask } from '#domain/tasks.ts';
import { CHUNK_SIZE_BYTES, contentIdOf, type ManifestEntry, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

/** Two full chunks and a short third: each chunk of other bytes, so three distinct blobs. */
const LARGE = Buffer.concat([
  Buffer.alloc(CHUNK_SIZE_BYTES, 1),
  Buffer.alloc(CHUNK_SIZE_BYTES, 2),
  Buffer.alloc(123, 3),
]);

let p: MemoryPipeline;
/** Every `putStream` and `put` to the target, as `<method> <key>`. */
let writes: string[];
/** Every `get` and `getRange` of the target. */
let targetReads: string[];
/** Every listing of the primary vault, by prefix. */
let vaultListings: string[];

async function snapshotNow(): Promise<void> {
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.advance(3600_000);
}

async function entryOf(key: string): Promise<ManifestEntry> {
  const [snapshot] = (await p.catalog.listSnapshots('photos')).slice(-1);
  const manifest = await readManifest(p.primary, p.deps.envelope, 'photos', snapshot?.manifestId as string);
  const entry = (await readAllEntries(p.primary, p.deps.envelope, manifest)).find((e) => e.key === key);
  if (!entry) throw new Error(`no entry for ${key}`);
  return entry;
}

beforeEach(async () => {
  p = memoryPipeline();
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  for (const key of ['a.txt', 'b.txt', 'c.txt']) await putText(p, key, `content of ${key}`);
  await p.objects.put('source', 'large.bin', LARGE, { contentType: 'application/octet-stream' });
  await snapshotNow();
  p.objects.createBucket('restored');
  writes = [];
  targetReads = [];
  // The memory twin's putStream ends in a put of the whole: not counted as one.
  const streaming = new Set<string>();
  const put = p.objects.put.bind(p.objects);
  p.objects.put = async (bucket, key, body, attributes) => {
    if (bucket === 'restored' && !streaming.has(key)) writes.push(`put ${key}`);
    return put(bucket, key, body, attributes);
  };
  const putStream = p.objects.putStream.bind(p.objects);
  p.objects.putStream = async (bucket, key, chunks, attributes) => {
    if (bucket === 'restored') writes.push(`putStream ${key}`);
    streaming.add(key);
    try {
      return await putStream(bucket, key, chunks, attributes);
    } finally {
      streaming.delete(key);
    }
  };
  const get = p.objects.get.bind(p.objects);
  p.objects.get = async (bucket, key) => {
    if (bucket === 'restored') targetReads.push(`get ${key}`);
    return get(bucket, key);
  };
  const getRange = p.objects.getRange.bind(p.objects);
  p.objects.getRange = async (bucket, key, range) => {
    if (bucket === 'restored') targetReads.push(`getRange ${key} ${range.offsetBytes}+${range.lengthBytes}`);
    return getRange(bucket, key, range);
  };
  vaultListings = [];
  const list = p.primary.list.bind(p.primary);
  p.primary.list = (prefix) => {
    vaultListings.push(prefix);
    return list(prefix);
  };
});

describe('objects of several chunks', () => {
  it('is captured as three blobs with the SHA-256 of the whole', async () => {
    const entry = await entryOf('large.bin');
    expect(entry.blobs).toHaveLength(3);
    expect(entry.contentSha256).toBe(contentIdOf(LARGE));
  });

  it('streams an object of several chunks to the target, byte for byte, one ranged GET per blob; one-chunk objects share one', async () => {
    // Prepare
    const rangesBefore = p.primary.calls.getRange;
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    // Assess
    expect(report).toMatchObject({ objects: 4, bytes: LARGE.length + 3 * 'content of a.txt'.length });
    expect(writes.sort()).toEqual(['put a.txt', 'put b.txt', 'put c.txt', 'putStream large.bin']);
    const restored = await p.objects.get('restored', 'large.bin');
    expect(Buffer.compare(Buffer.from(restored.body), LARGE)).toBe(0);
    expect(restored.contentType).toBe('application/octet-stream');
    // Three for the large object's blobs, one for the three small objects' blobs (one pack, adjacent).
    expect(p.primary.calls.getRange - rangesBefore).toBe(3 + 1);
  });

  it("declares the object's size to the upload, which sizes S3's parts from it (10,000 at most)", async () => {
    await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    expect(p.objects.streams).toEqual([{ key: 'restored/large.bin', sizeBytes: LARGE.length }]);
  });

  it("'ifChanged' hashes a large target chunk by chunk: identical is unchanged, one byte off is written", async () => {
    // Prepare
    const other = Buffer.from(LARGE);
    other[other.length - 1] = 9;
    await p.objects.put('restored', 'large.bin', other, {});
    writes = [];
    // Act
    const first = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      key: 'large.bin',
      overwrite: 'ifChanged',
    });
    const second = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      key: 'large.bin',
      overwrite: 'ifChanged',
    });
    // Assess
    expect(first).toMatchObject({ objects: 1, skipped: { unchanged: 0 } });
    expect(second).toMatchObject({ objects: 0, skipped: { unchanged: 1 } });
    expect(writes).toEqual(['putStream large.bin']);
    const ranges = [
      `0+${CHUNK_SIZE_BYTES}`,
      `${CHUNK_SIZE_BYTES}+${CHUNK_SIZE_BYTES}`,
      `${2 * CHUNK_SIZE_BYTES}+123`,
    ];
    expect(targetReads).toEqual([...ranges, ...ranges].map((r) => `getRange large.bin ${r}`));
  });

  it('refuses content whose whole does not hash to the manifest, storing nothing at its key', async () => {
    // Prepare: an entry naming the right chunks but another SHA-256 of the whole
    const entry = await entryOf('large.bin');
    const wrong = { ...entry, contentSha256: contentIdOf('something else') };
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    // Act
    const writing = writeEntry(p.objects, p.primary, p.deps.envelope, index, wrong, 'restored', 'x.bin');
    // Assess
    await expect(writing).rejects.toBeInstanceOf(IntegrityError);
    await expect(writing).rejects.toThrow(/hashes to [0-9a-f]{64}, not to its manifest's SHA-256/);
    expect(p.objects.buckets.get('restored')?.has('x.bin')).toBe(false);
  });

  it('refuses content of another size than the manifest says', async () => {
    const entry = await entryOf('a.txt');
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    const chunks = verifiedEntryContent(p.primary, p.deps.envelope, index, { ...entry, sizeBytes: 3 });
    const read = async () => {
      for await (const _ of chunks) {
        // drain
      }
    };
    await expect(read()).rejects.toThrow(/reads as 16 byte\(s\) .*its manifest entry says 3/);
  });
});

describe('the region index', () => {
  it('is loaded once for a whole restore', async () => {
    await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    expect(vaultListings.filter((prefix) => prefix === VaultLayout.indexPrefix)).toHaveLength(1);
  });

  it('is not loaded when nothing is to be written', async () => {
    await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    vaultListings = [];
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    expect(report.skipped.exists).toBe(4);
    expect(vaultListings).toEqual([]);
  });

  it('is loaded once per restore slice', async () => {
    // Prepare
    p.deps.restoreSliceSize = 2;
    const started = await startRestore(p.deps, { plan: 'photos', targetBucket: 'restored', fanOut: true });
    const slices = p.queue.drain() as RestoreSliceTask[];
    vaultListings = [];
    // Act
    for (const task of slices) await restoreSlice(p.deps, task);
    // Assess
    expect(started.job?.slicesTotal).toBe(2);
    expect(vaultListings).toEqual([VaultLayout.indexPrefix, VaultLayout.indexPrefix]);
    expect((await p.catalog.getRestoreJob(started.job?.restoreJobId as string))?.status).toBe('SUCCEEDED');
  });

  it('must locate every blob: otherwise nothing is written', async () => {
    // Prepare: the vault loses its index documents
    for (const key of [...p.primary.objects.keys()]) {
      if (key.startsWith(VaultLayout.indexPrefix)) p.primary.objects.delete(key);
    }
    // Act
    const restoring = restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    // Assess
    await expect(restoring).rejects.toBeInstanceOf(NotFoundError);
    await expect(restoring).rejects.toThrow(/^blob [0-9a-f]{64} of '.+' is in no index of vault-use1/);
    expect(writes).toEqual([]);
  });
});
