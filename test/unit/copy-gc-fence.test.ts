// Copy vs garbage collection in a copy region (issue 12, known defect 4), on the memory twins, one
// step at a time. A GC run reads the live set once, then the marks, then decides what to sweep; a
// copy that runs in between relies on what the region holds at its own listing. Nothing but a fence
// keeps the run from deleting a pack the copy found there and did not copy again.
// @see docs/format.md#garbage-collection
import { describe, expect, it } from 'vitest';
import { isRetryable } from '#domain/errors.ts';
import type { PruneResult } from '#domain/prune.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { Task } from '#domain/tasks.ts';
import { checkRestores, type SourceModel } from '../support/gc-model.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { pauseAt } from '../support/pause-at.ts';

const GRACE_SECONDS = 3600;
const REGION = 'eu-west-1';

/** Run the queued tasks of these kinds (and those of these kinds they enqueue); others stay queued. */
async function runQueued(p: MemoryPipeline, kinds: readonly Task['kind'][]): Promise<Task[]> {
  const ran: Task[] = [];
  for (;;) {
    const ready = p.queue.sent.filter((t) => kinds.includes(t.kind));
    if (ready.length === 0) return ran;
    const rest = p.queue.sent.filter((t) => !kinds.includes(t.kind));
    p.queue.sent.splice(0, p.queue.sent.length, ...rest);
    for (const task of ready) {
      await p.run(task);
      ran.push(task);
    }
  }
}

/** Take a snapshot of the source as it is now and record it in the model; its copy stays queued. */
async function snapshot(p: MemoryPipeline, model: SourceModel, source: Map<string, string>): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  model.set(`photos/${snapshotId}`, new Map(source));
  await runQueued(p, ['snapshot-plan', 'snapshot-partition']);
  return snapshotId;
}

/**
 * The region's vault holds pack P (x's blob) from an earlier copy, marked unreferenced there longer
 * than the grace period ago; the primary never marked it (its GC task of that prune has not run:
 * each region's GC is its own task, and one can be deferred or redelivered late). A new snapshot S3
 * of x then reuses P in the primary. Returns S3's id once it is committed, with a GC run of the
 * region that read its live set BEFORE S3 committed, now held right after it re-read the marks
 * (its step 7: it has decided to sweep P).
 */
async function gcHeldBeforeItsSweep(p: MemoryPipeline, model: SourceModel) {
  const source = new Map<string, string>();
  const put = async (key: string, text: string) => {
    source.set(key, text);
    await putText(p, key, text);
  };
  await p.catalog.putPlans([plan({ retention: { keepLast: 1 }, verification: { samplePercent: 0 } })]);
  p.deps.gcGraceSeconds = GRACE_SECONDS;

  // S1 = {x}: pack P, copied to the region.
  await put('x.txt', 'x comes, goes and comes back');
  const s1 = await snapshot(p, model, source);
  await runQueued(p, ['copy']);
  p.queue.drain(); // its verify and prune are not needed here
  p.clock.advance(60_000);

  // S2 = {y}: retention forgets S1; the region's GC marks P (the primary's GC task waits).
  source.delete('x.txt');
  await p.objects.delete('source', ['x.txt']);
  await put('y.txt', 'y stays');
  const s2 = await snapshot(p, model, source);
  await runQueued(p, ['copy']);
  p.queue.drain();
  await p.run({ kind: 'forget', planId: 'photos', snapshotId: s2 });
  const gcTasks = p.queue.drain();
  const regionGc = gcTasks.find((t) => t.kind === 'gc' && t.region === REGION) as Task;
  const marked = (await p.run(regionGc)) as PruneResult;
  expect(marked.gc[REGION]?.packsMarked).toBeGreaterThan(0);
  expect((await p.catalog.getSnapshot('photos', s1))?.status).toBe('FORGOTTEN'); // forgotten: its record stays as a tombstone
  p.clock.advance((GRACE_SECONDS + 1) * 1000);

  // A GC run of the region starts: it reads the live set (S3 is not committed yet), then the marks.
  await put('x.txt', 'x comes, goes and comes back');
  const { snapshotId: s3 } = await startSnapshotNow(p.deps, 'photos');
  model.set(`photos/${s3}`, new Map(source));
  const isRegion = (vault: string) => vault === p.copy.bucket;
  const marksRead = pauseAt(p.catalog, 'listGcMarks', isRegion);
  const gc = p.run({
    kind: 'gc',
    planId: 'photos',
    snapshotId: s3,
    region: REGION,
  }) as Promise<PruneResult>;
  await marksRead.reached;

  // Meanwhile S3 = {x, y} commits: the primary's index locates x's blob in P, unmarked there.
  await runQueued(p, ['snapshot-plan', 'snapshot-partition']);
  expect((await p.catalog.getSnapshot('photos', s3))?.status).toBe('COMMITTED');

  // The run goes on to its sweep: it re-reads the marks (P's is as old as before) and is held there.
  const marksReadAgain = pauseAt(p.catalog, 'listGcMarks', isRegion);
  marksRead.release();
  await marksReadAgain.reached;
  return { s3, gc, release: () => marksReadAgain.release() };
}

describe('copy vs garbage collection in a copy region', () => {
  it('never lets a run that read the live set before a snapshot committed delete what its copy relies on', async () => {
    // Prepare
    const p = memoryPipeline();
    const model: SourceModel = new Map();
    const { s3, gc, release } = await gcHeldBeforeItsSweep(p, model);
    const copyTask = p.queue.drain().find((t) => t.kind === 'copy') as Task;

    // Act: the copy of S3 runs while the run is held; then the run finishes (rewrites the region's
    // index without P, deletes P); a copy that was refused is delivered again afterwards.
    const during = await p.run(copyTask).then(
      () => undefined,
      (error: unknown) => error,
    );
    release();
    const result = (await gc).gc[REGION];
    if (during !== undefined) {
      expect(isRetryable(during)).toBe(true); // refused while the run holds the vault: retried
      await p.run(copyTask);
    }

    // Assess: S3 is COPIED, and restores byte-identically from the primary and from the region.
    expect((await p.catalog.getSnapshot('photos', s3))?.regions?.[REGION]?.status).toBe('COPIED');
    const { problems, checked } = await checkRestores(
      p.catalog,
      p.deps.vaults,
      p.deps.envelope,
      ['photos'],
      model,
    );
    expect(problems).toEqual([]);
    expect(checked).toBe(4); // S2 and S3, in each region
    expect(result?.packsDeleted).toBeGreaterThan(0); // the run did sweep P
  });

  it('makes a garbage-collection run of the region defer while a copy into it is under way', async () => {
    // Prepare: a copy of a committed snapshot, held at its first write into the region.
    const p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 1 }, verification: { samplePercent: 0 } })]);
    const model: SourceModel = new Map();
    const source = new Map([['a.txt', 'alpha']]);
    await putText(p, 'a.txt', 'alpha');
    const s1 = await snapshot(p, model, source);
    const copyTask = p.queue.drain().find((t) => t.kind === 'copy') as Task;
    const firstPut = pauseAt(p.copy, 'put');
    const copy = p.run(copyTask);
    await firstPut.reached;

    // Act: the region's GC runs meanwhile.
    const gc = (await p.run({
      kind: 'gc',
      planId: 'photos',
      snapshotId: s1,
      region: REGION,
    })) as PruneResult;
    firstPut.release();
    await copy;

    // Assess: it did nothing, and said why; the copy finished and restores.
    expect(gc.gc[REGION]?.deferred).toMatch(/copy/);
    expect(gc.gc[REGION]?.packsMarked).toBe(0);
    const { problems, checked } = await checkRestores(
      p.catalog,
      p.deps.vaults,
      p.deps.envelope,
      ['photos'],
      model,
    );
    expect(problems).toEqual([]);
    expect(checked).toBe(2);
  });

  it("rescues only the region's packs it relies on: a pack the region repacked stays marked and is swept", async () => {
    // Prepare: S1 = {x, d0…d8} in one pack P, copied to the region.
    const p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 1 }, verification: { samplePercent: 0 } })]);
    p.deps.gcGraceSeconds = GRACE_SECONDS;
    const model: SourceModel = new Map();
    const source = new Map<string, string>();
    const put = async (key: string, text: string) => {
      source.set(key, text);
      await putText(p, key, text);
    };
    await put('x.txt', 'x stays for good');
    const dead = Array.from({ length: 9 }, (_, i) => `d${i}.txt`);
    for (const key of dead) await put(key, `${key} is gone soon `.repeat(50));
    await snapshot(p, model, source);
    await runQueued(p, ['copy']);
    p.queue.drain();
    p.clock.advance((GRACE_SECONDS + 60) * 1000);
    // S2 = {x}: S1 is forgotten; only the region's GC runs. P is old and mostly unused there, so it
    // is repacked: x's blob moves to a new pack, P's index entry keeps only the dead blobs, P is marked.
    for (const key of dead) source.delete(key);
    await p.objects.delete('source', dead);
    const s2 = await snapshot(p, model, source);
    await runQueued(p, ['copy']);
    p.queue.drain();
    await p.run({ kind: 'forget', planId: 'photos', snapshotId: s2 });
    const regionGc = p.queue.drain().find((t) => t.kind === 'gc' && t.region === REGION) as Task;
    const repacked = (await p.run(regionGc)) as PruneResult;
    expect(repacked.gc[REGION]?.packsRepacked).toBe(1);
    const markedBefore = (await p.catalog.listGcMarks(p.copy.bucket)).map((m) => m.packId);
    expect(markedBefore).toHaveLength(1);

    // Act: S3 = {x, z} is copied; the primary (never collected) still locates x's blob in P.
    p.clock.advance(60_000);
    await put('z.txt', 'z is new');
    const s3 = await snapshot(p, model, source);
    await runQueued(p, ['copy']);
    p.queue.drain();

    // Assess: the copy left P's mark alone (the region locates x in the new pack), so the region's
    // next run a grace period on sweeps P; every snapshot still restores in both regions.
    expect((await p.catalog.getSnapshot('photos', s3))?.regions?.[REGION]?.status).toBe('COPIED');
    expect((await p.catalog.listGcMarks(p.copy.bucket)).map((m) => m.packId)).toEqual(markedBefore);
    p.clock.advance((GRACE_SECONDS + 60) * 1000);
    const swept = (await p.run({
      kind: 'gc',
      planId: 'photos',
      snapshotId: s3,
      region: REGION,
    })) as PruneResult;
    expect(swept.gc[REGION]?.packsDeleted).toBe(1);
    const { problems, checked } = await checkRestores(
      p.catalog,
      p.deps.vaults,
      p.deps.envelope,
      ['photos'],
      model,
    );
    expect(problems).toEqual([]);
    expect(checked).toBe(4); // S2 and S3, in each region (retention has not run since S3)
  });
});
