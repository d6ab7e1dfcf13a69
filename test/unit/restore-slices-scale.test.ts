// A restore job's cost must grow with its selection, not with slices × (target or vault): each slice
// lists only its own key range of the target, and the slices a warm worker runs read each index
// document of the vault once. All on the memory twins.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { reapStaleWork } from '#domain/reaper.ts';
import type { SnapshotRecord } from '#domain/records.ts';
import { cachedIndexCount, readIndex } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { writeIndex, writePart } from '#domain/repository/write.ts';
import { restoreSlice, startRestore } from '#domain/restore/jobs.ts';
import { parseRestoreRequest } from '#domain/restore/request.ts';
import { cutSlices, measureSelection, sliceRanges } from '#domain/restore/slices.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { RestoreSliceTask } from '#domain/tasks.ts';
import { type ContentId, contentIdOf, type Manifest, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

/**
 * 330 objects under `big/`: with slices of 110 (above the listing threshold of 100, so each slice
 * lists the target rather than HEAD each key), three slices: 000–109, 110–219, 220–329.
 */
const KEYS = Array.from({ length: 330 }, (_, i) => `big/${String(i).padStart(3, '0')}.txt`);

let p: MemoryPipeline;

beforeEach(async () => {
  p = memoryPipeline();
  p.deps.restoreFanOutThreshold = 10;
  p.deps.restoreSliceSize = 110;
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  for (const key of KEYS) await putText(p, key, `content of ${key}`);
  p.objects.createBucket('restored');
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.advance(3600_000);
});

async function fanOut(request: Record<string, unknown> = {}) {
  const started = await startRestore(p.deps, { plan: 'photos', targetBucket: 'restored', ...request });
  const slices = p.queue.drain() as RestoreSliceTask[];
  if (!started.job) throw new Error('expected a restore job');
  return { job: started.job, slices };
}

/** Count the target objects every listing of `bucket` yields (what a listing costs: pages of keys). */
function countListed(bucket: string): { objects: number } {
  const seen = { objects: 0 };
  const list = p.objects.list.bind(p.objects);
  p.objects.list = async function* (b, prefix, options) {
    for await (const o of list(b, prefix, options)) {
      if (b === bucket) seen.objects += 1;
      yield o;
    }
  };
  return seen;
}

describe('a restore slice looks at its own part of the target', () => {
  it('lists only its key range, however much the target holds after it', async () => {
    // Prepare: the target already holds 2,000 objects under the slices' common prefix, after their keys
    for (let i = 0; i < 2000; i++) await putText(p, `big/zz-other-${i}`, 'other', 'restored');
    const listed = countListed('restored');
    const { job, slices } = await fanOut({ prefix: 'big/' });
    expect(slices).toHaveLength(3);
    // Act
    for (const slice of slices) await restoreSlice(p.deps, slice);
    // Assess: each slice saw at most its own 110 keys (before this change each listed the 2,000 too)
    expect(listed.objects).toBeLessThanOrEqual(330);
    expect(p.catalog.restoreJobs.get(job.restoreJobId)).toMatchObject({ status: 'SUCCEEDED', objects: 330 });
  });

  it('still decides the first and last key of each slice from what the target holds', async () => {
    // Prepare: identical copies at each slice's first key, one in the middle and the last key
    const same = ['big/000.txt', 'big/110.txt', 'big/150.txt', 'big/220.txt', 'big/329.txt'];
    for (const key of same) await putText(p, key, `content of ${key}`, 'restored');
    const { job, slices } = await fanOut({ prefix: 'big/', overwrite: 'ifChanged' });
    // Act
    for (const slice of slices) await restoreSlice(p.deps, slice);
    // Assess: the five are unchanged, not written again
    expect(p.catalog.restoreJobs.get(job.restoreJobId)).toMatchObject({
      status: 'SUCCEEDED',
      objects: 325,
      skippedUnchanged: 5,
    });
  });
});

describe('starting a restore job', () => {
  it('sends its slices with one batch call, not one send per slice', async () => {
    // Arrange: slices of 10 objects, so 33 slices
    p.deps.restoreSliceSize = 10;
    let sends = 0;
    const send = p.queue.send.bind(p.queue);
    p.queue.send = async (task) => {
      sends += 1;
      return send(task);
    };
    const batches = p.queue.batches;
    // Act
    const { job, slices } = await fanOut({ prefix: 'big/' });
    // Assess: every slice sent, through sendBatch (the memory queue's sendBatch sends each inside)
    expect(job.slicesTotal).toBe(33);
    expect(slices.map((s) => s.slice)).toEqual(Array.from({ length: 33 }, (_, i) => i));
    expect(p.queue.batches - batches).toBe(1);
    expect(sends).toBe(33);
  });
});

describe('a warm restore worker', () => {
  it('reads each index document once across the slices it runs', async () => {
    // Prepare: count the reads of index documents
    const indexReads: string[] = [];
    const get = p.primary.get.bind(p.primary);
    p.primary.get = async (key) => {
      if (key.startsWith('index/')) indexReads.push(key);
      return get(key);
    };
    const { slices } = await fanOut({ prefix: 'big/' });
    const before = indexReads.length;
    // Act
    for (const slice of slices) await restoreSlice(p.deps, slice);
    // Assess: no document read twice (before this change each slice read every document again)
    const read = indexReads.slice(before);
    expect(read).toEqual([...new Set(read)]);
  });
});

describe('a warm restore worker keeps its index between slices', () => {
  /** The index document keys of the primary vault. */
  async function indexKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of p.primary.list(VaultLayout.indexPrefix)) keys.push(o.key);
    return keys;
  }

  it('builds it once while every index document it loaded is still listed', async () => {
    // Prepare: count the indexes built (a million-blob vault's index rebuilt for every slice of
    // 500 objects is what took a worker past 1024 MB and 0.6 CPU seconds a slice)
    const loads = vi.spyOn(VaultIndex, 'load');
    const { job, slices } = await fanOut({ prefix: 'big/' });
    loads.mockClear();
    // Act
    for (const slice of slices) await restoreSlice(p.deps, slice);
    // Assess: one build for the three slices
    expect(loads).toHaveBeenCalledTimes(1);
    expect(p.catalog.restoreJobs.get(job.restoreJobId)).toMatchObject({ status: 'SUCCEEDED', objects: 330 });
    loads.mockRestore();
  });

  it('builds it again once garbage collection rewrote a document, and reads from the packs it names now', async () => {
    // Prepare: the first slice runs; then the vault's packs are moved as a repack would (the new
    // pack and its index written first, then the old index and pack deleted)
    const { job, slices } = await fanOut({ prefix: 'big/' });
    const [first, ...rest] = slices;
    await restoreSlice(p.deps, first as RestoreSliceTask);
    const moved = [];
    for (const key of await indexKeys()) {
      const doc = await readIndex(p.primary, p.deps.envelope, VaultLayout.indexIdOf(key) as ContentId);
      for (const pack of doc.packs) {
        const packId = contentIdOf(`moved ${pack.packId}`);
        await p.primary.put(
          VaultLayout.packKey(packId),
          await p.primary.get(VaultLayout.packKey(pack.packId)),
        );
        moved.push({ ...pack, blobs: [...pack.blobs], packId });
        await p.primary.delete([VaultLayout.packKey(pack.packId)]);
      }
      await p.primary.delete([key]);
    }
    await writeIndex(p.primary, p.deps.envelope, moved);
    const loads = vi.spyOn(VaultIndex, 'load');
    // Act
    for (const slice of rest) await restoreSlice(p.deps, slice);
    // Assess: built again (the kept one would read the deleted packs), and every object restored;
    // the read cache keeps only the documents listed now (a warm worker at a million blobs kept the
    // rewritten ones too, and went past 1024 MB)
    expect(loads).toHaveBeenCalledTimes(1);
    expect(cachedIndexCount(p.primary)).toBe((await indexKeys()).length);
    expect(p.catalog.restoreJobs.get(job.restoreJobId)).toMatchObject({ status: 'SUCCEEDED', objects: 330 });
    const last = KEYS.at(-1) as string;
    expect(Buffer.from((await p.objects.get('restored', last)).body).toString()).toBe(`content of ${last}`);
    loads.mockRestore();
  });
});

describe('cutting a selection into slices', () => {
  it('ends a slice at the object count, or before the entry that would pass the byte budget', () => {
    expect(cutSlices([], 3, 100)).toEqual([]);
    expect(cutSlices([1, 1, 1, 1, 1, 1, 1], 3, 100)).toEqual([3, 3, 1]);
    expect(cutSlices([40, 40, 40, 10], 10, 100)).toEqual([2, 2]);
    // larger than the budget: a slice of its own, wherever it falls
    expect(cutSlices([500, 1, 1, 500], 10, 100)).toEqual([1, 2, 1]);
  });

  it('gives each slice its range from the recorded counts, or from the slice size without them', () => {
    const job = { selected: 23, sliceSize: 10 };
    expect(sliceRanges(job, [2])).toEqual([{ slice: 2, first: 20, count: 3 }]);
    expect(sliceRanges(job, [3, 1], [10, 1, 10, 2])).toEqual([
      { slice: 3, first: 21, count: 2 },
      { slice: 1, first: 10, count: 1 },
    ]);
  });
});

describe('slices cut by bytes as well as objects', () => {
  /** Each object is 22 bytes (`content of big/NNN.txt`); big/150.txt is replaced by 5,000 bytes. */
  const BIG = 'x'.repeat(5000);

  beforeEach(async () => {
    await putText(p, 'big/150.txt', BIG);
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    p.clock.advance(3600_000);
    p.deps.restoreSliceSize = 110;
    p.deps.restoreSliceBytes = 22 * 50; // 50 small objects a slice
  });

  it('gives a slice at most restoreSliceBytes (a larger object alone), and restores every object', async () => {
    // Act
    const { job, slices } = await fanOut({ prefix: 'big/' });
    for (const slice of slices) await restoreSlice(p.deps, slice);
    // Assess: contiguous slices covering the 330 entries, 50 each but for the big object's
    const ranges = slices.map((t) => [t.first, t.count]);
    expect(ranges).toEqual([
      [0, 50],
      [50, 50],
      [100, 50],
      [150, 1],
      [151, 50],
      [201, 50],
      [251, 50],
      [301, 29],
    ]);
    expect(job).toMatchObject({ slicesTotal: 8, slicesCutByBytes: true });
    expect(await p.catalog.getRestoreSliceCounts(job.restoreJobId)).toEqual([50, 50, 50, 1, 50, 50, 50, 29]);
    expect(p.catalog.restoreJobs.get(job.restoreJobId)).toMatchObject({ status: 'SUCCEEDED', objects: 330 });
    expect(Buffer.from((await p.objects.get('restored', 'big/150.txt')).body).toString()).toBe(BIG);
  });

  it('re-drives a missing slice with the range it was cut with', async () => {
    // Prepare: every slice but the big object's runs; the job goes silent
    const { job, slices } = await fanOut({ prefix: 'big/' });
    for (const slice of slices) if (slice.slice !== 3) await restoreSlice(p.deps, slice);
    p.clock.advance(10 * 60_000);
    // Act
    const { reaped } = await reapStaleWork(p.deps, p.clock.now().toISOString(), {
      staleSeconds: 180,
      maxRedrives: 3,
    });
    // Assess
    expect(reaped).toMatchObject([{ jobId: job.restoreJobId, action: 'redriven' }]);
    expect(p.queue.drain()).toEqual([slices[3]]);
  });
});

describe('measuring a fanned-out selection', () => {
  it('locates entries while later parts are still unread: the selection is streamed, never held', async () => {
    // Prepare: a manifest of 12 parts of 10 entries; reads of its parts and locates, in order
    const events: string[] = [];
    const parts = [];
    for (let k = 0; k < 12; k++) {
      const entries = Array.from({ length: 10 }, (_, i) => ({
        key: `p${String(k).padStart(2, '0')}/${i}`,
        sizeBytes: 1,
        etag: '"e"',
        lastModified: '2026-01-01T00:00:00.000Z',
        blobs: [contentIdOf(`${k}/${i}`)],
      }));
      parts.push((await writePart(p.primary, p.deps.envelope, 'photos', entries)).ref);
    }
    const get = p.primary.get.bind(p.primary);
    p.primary.get = async (key) => {
      if (key.startsWith('parts/')) events.push('read');
      return get(key);
    };
    const index = {
      locate: (blobId: ContentId) => {
        events.push('locate');
        return { blobId, packId: contentIdOf('pack'), offsetBytes: 0, lengthBytes: 1, sizeBytes: 1 };
      },
    };
    const source = {
      vault: p.primary,
      snapshot: { snapshotId: 'S' } as SnapshotRecord,
      manifest: { planId: 'photos', parts } as unknown as Manifest,
    };
    // Act
    const measured = await measureSelection(
      source,
      p.deps.envelope,
      parseRestoreRequest({ plan: 'photos' }),
      index,
      {
        sliceSize: 25,
        sliceBytes: 1000,
      },
    );
    // Assess: all 120 counted in 5 slices; the first entry was located before the last part was read
    expect(measured).toMatchObject({
      selected: 120,
      selectedBytes: 120,
      slices: { counts: [25, 25, 25, 25, 20] },
    });
    expect(events.indexOf('locate')).toBeLessThan(events.lastIndexOf('read'));
    expect(events.filter((e) => e === 'read')).toHaveLength(12);
  });
});

describe('a dry run of a selection over the fan-out threshold', () => {
  it('resolves the request once and reports every selected object', async () => {
    // Prepare: count the catalog's snapshot listings (one per resolution of the request)
    let listings = 0;
    const listSnapshots = p.catalog.listSnapshots.bind(p.catalog);
    p.catalog.listSnapshots = async (planId) => {
      listings += 1;
      return listSnapshots(planId);
    };
    // Act
    const started = await startRestore(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      prefix: 'big/',
      dryRun: true,
    });
    // Assess
    expect(started.report).toMatchObject({ dryRun: true, selected: 330, objects: 330 });
    expect(listings).toBe(1);
  });
});
