// A restore job's cost must grow with its selection, not with slices × (target or vault): each slice
// lists only its own key range of the target, and the slices a warm worker runs read each index
// document of the vault once. All on the memory twins.
import { beforeEach, describe, expect, it } from 'vitest';
import { restoreSlice, startRestore } from '#domain/restore/jobs.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { RestoreSliceTask } from '#domain/tasks.ts';
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
