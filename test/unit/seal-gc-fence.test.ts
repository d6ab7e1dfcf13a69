// Seal vs garbage collection in the primary, on the memory twins, one step at a time (found by the
// simulator at seed 9444 of `--faults all --garbage`). Parts are content-addressed: a partition can
// write a part that a forgotten snapshot left behind, byte for byte the same. A GC run that listed
// `parts/` before that write sees the part as old and unreferenced; if nothing fences it, it deletes
// the part after the seal checked it and committed a root naming it.
// @see docs/format.md#garbage-collection
import { describe, expect, it } from 'vitest';
import { captureChange, type S3EventRecord } from '#domain/capture.ts';
import { isRetryable } from '#domain/errors.ts';
import type { PruneResult } from '#domain/prune.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { Task } from '#domain/tasks.ts';
import { checkRestores, type SourceModel } from '../support/gc-model.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { pauseAt } from '../support/pause-at.ts';

const GRACE_SECONDS = 3600;
const SNAPSHOT_KINDS: readonly Task['kind'][] = ['snapshot-plan', 'snapshot-partition'];

/**
 * Run the queued snapshot tasks (and those they enqueue); others stay queued. A task that fails
 * retryably is kept, as SQS would deliver it again, and returned.
 */
async function runSnapshotTasks(p: MemoryPipeline): Promise<{ retried: Task[]; errors: unknown[] }> {
  const retried: Task[] = [];
  const errors: unknown[] = [];
  for (;;) {
    const ready = p.queue.sent.filter((t) => SNAPSHOT_KINDS.includes(t.kind));
    if (ready.length === 0) return { retried, errors };
    const rest = p.queue.sent.filter((t) => !SNAPSHOT_KINDS.includes(t.kind));
    p.queue.sent.splice(0, p.queue.sent.length, ...rest);
    for (const task of ready) {
      try {
        await p.run(task);
      } catch (error) {
        if (!isRetryable(error)) throw error;
        retried.push(task);
        errors.push(error);
      }
    }
  }
}

/**
 * With S3 started and X garbage: a GC run of the primary reads its live set, lists X as old and
 * unreferenced and is held before it deletes anything; S3's tasks run meanwhile; then the run
 * deletes what it planned, and the tasks refused meanwhile are delivered again.
 */
async function raceHeldGc(p: MemoryPipeline, s3: string) {
  const region = p.deps.vaults.primary.region;
  const gate = pauseAt(p.deps.vaults.primary, 'delete', () => true, { before: true });
  const gc = p.run({ kind: 'gc', planId: 'photos', snapshotId: s3, region }) as Promise<PruneResult>;
  await gate.reached;
  const during = await runSnapshotTasks(p);
  gate.release();
  const result = (await gc).gc[region];
  for (const task of during.retried) p.queue.sent.push(task);
  const after = await runSnapshotTasks(p);
  return { during, after, result };
}

describe('seal vs garbage collection in the primary', () => {
  it('never commits a root naming a part that a run which listed it as garbage deletes afterwards', async () => {
    // Prepare: S1 = {x} stores part X; S2 = {w, x} stores one part [w, x] (cut at S1's part boundary, after x), and retention forgets S1,
    // so X is garbage; the grace period passes.
    const p = memoryPipeline();
    const model: SourceModel = new Map();
    const source = new Map<string, string>();
    const put = async (key: string, text: string) => {
      source.set(key, text);
      await putText(p, key, text);
    };
    await p.catalog.putPlans([plan({ retention: { keepLast: 1 }, verification: { samplePercent: 0 } })]);
    p.deps.gcGraceSeconds = GRACE_SECONDS;
    await put('x.txt', 'x stays as it is');
    const { snapshotId: s1 } = await startSnapshotNow(p.deps, 'photos');
    await runSnapshotTasks(p);
    p.clock.advance(60_000);
    await put('w.txt', 'w comes and goes');
    const { snapshotId: s2 } = await startSnapshotNow(p.deps, 'photos');
    model.set(`photos/${s2}`, new Map(source));
    await runSnapshotTasks(p);
    p.queue.drain();
    await p.run({ kind: 'forget', planId: 'photos', snapshotId: s2 });
    p.queue.drain();
    expect((await p.catalog.getSnapshot('photos', s1))?.status).toBe('FORGOTTEN');
    p.clock.advance((GRACE_SECONDS + 1) * 1000);

    // w goes: the next snapshot S3 = {x} cuts the same part X again, byte for byte.
    source.delete('w.txt');
    await p.objects.delete('source', ['w.txt']);
    const { snapshotId: s3 } = await startSnapshotNow(p.deps, 'photos');
    model.set(`photos/${s3}`, new Map(source));

    // Act: a GC run of the primary reads its live set (S3 has no partition done yet), lists
    // `parts/` (X is old and unreferenced: S1's root is condemned) and is held before it deletes;
    // S3 runs meanwhile (its partition writes X again and the seal checks it); then the run deletes.
    const { during, after, result } = await raceHeldGc(p, s3);

    // Assess: the run did delete X, and S3, committed, restores byte-identically everywhere.
    expect(result?.partsDeleted).toBeGreaterThan(0);
    expect(after.retried).toEqual([]);
    expect((await p.catalog.getSnapshot('photos', s3))?.status).toBe('COMMITTED');
    const { problems } = await checkRestores(p.catalog, p.deps.vaults, p.deps.envelope, ['photos'], model);
    expect(problems).toEqual([]);
    // The seal was refused while the run held the vault, and the retry found X gone and ran the
    // partition again.
    expect(during.errors.map(String)).toEqual([
      expect.stringMatching(/garbage collection of vault-use1 is running/),
    ]);
  });

  it('never commits a journal-built root naming a part that a run which listed it as garbage deletes afterwards', async () => {
    // Prepare, under continuous protection: S0 = {w, x} lists the source (one part [w, x]; a legal
    // hold keeps it, so snapshots go on being built from the journal); w goes, and S1 = S0 + the
    // journal is part X = [x]; w comes back, and S2 is [w, x] again; retention forgets S1, so X is
    // garbage; the grace period passes; w goes, and capture journals it.
    const p = memoryPipeline();
    const model: SourceModel = new Map();
    const source = new Map<string, string>();
    let sequence = 0;
    const captured = async (key: string, text: string | undefined) => {
      p.clock.advance(1000);
      if (text === undefined) {
        source.delete(key);
        await p.objects.delete('source', [key]);
      } else {
        source.set(key, text);
        await putText(p, key, text);
      }
      const o = text === undefined ? undefined : await p.objects.get('source', key);
      sequence += 1;
      await captureChange(p.deps, {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: p.clock.now().toISOString(),
        eventName: o ? 'ObjectCreated:Put' : 'ObjectRemoved:DeleteMarkerCreated',
        s3: {
          bucket: { name: 'source' },
          object: {
            key: encodeURIComponent(key),
            sequencer: sequence.toString(16).toUpperCase().padStart(16, '0'),
            ...(o ? { eTag: o.etag, size: o.sizeBytes } : {}),
          },
        },
      } as S3EventRecord);
    };
    await p.catalog.putPlans([
      plan({
        copyRegions: [],
        retention: { keepLast: 1 },
        verification: { samplePercent: 0 },
        continuous: { settleSeconds: 0, reconcileSchedule: 'rate(7 days)' },
      }),
    ]);
    p.deps.gcGraceSeconds = GRACE_SECONDS;
    await putText(p, 'x.txt', 'x stays as it is');
    source.set('x.txt', 'x stays as it is');
    await putText(p, 'w.txt', 'w comes and goes');
    source.set('w.txt', 'w comes and goes');
    const journalBuilt = async () => {
      p.clock.advance(60_000);
      const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
      model.set(`photos/${snapshotId}`, new Map(source));
      await runSnapshotTasks(p);
      p.queue.drain();
      return snapshotId;
    };
    const s0 = await journalBuilt(); // the first snapshot lists the source
    await p.catalog.setLegalHold('photos', s0, { since: p.clock.now().toISOString(), reason: 'test' });
    await captured('w.txt', undefined);
    const s1 = await journalBuilt();
    await captured('w.txt', 'w comes back');
    const s2 = await journalBuilt();
    expect((await p.catalog.getSnapshot('photos', s2))?.mode).toBe('journal');
    await p.run({ kind: 'forget', planId: 'photos', snapshotId: s2 });
    p.queue.drain();
    expect((await p.catalog.getSnapshot('photos', s1))?.status).toBe('FORGOTTEN');
    model.delete(`photos/${s1}`);
    p.clock.advance((GRACE_SECONDS + 1) * 1000);
    await captured('w.txt', undefined);
    p.clock.advance(60_000);
    const { snapshotId: s3 } = await startSnapshotNow(p.deps, 'photos');
    model.set(`photos/${s3}`, new Map(source));

    // Act: as above; S3 is built from the journal while the run is held (it writes X again).
    const { during, after, result } = await raceHeldGc(p, s3);

    // Assess: the run deleted X, and S3, committed from the journal, restores byte-identically.
    expect(result?.partsDeleted).toBeGreaterThan(0);
    expect(after.retried).toEqual([]);
    const s3Record = await p.catalog.getSnapshot('photos', s3);
    expect([s3Record?.status, s3Record?.mode]).toEqual(['COMMITTED', 'journal']);
    const { problems } = await checkRestores(p.catalog, p.deps.vaults, p.deps.envelope, ['photos'], model);
    expect(problems).toEqual([]);
    expect(during.errors.map(String)).toEqual([
      expect.stringMatching(/garbage collection of vault-use1 is running/),
    ]);
  });
});
