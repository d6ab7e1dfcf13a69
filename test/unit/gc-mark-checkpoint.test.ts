// Garbage collection whose mark (reading every live part) does not fit one invocation: on the memory
// pipeline, `remainingTimeMs` lets each invocation read one part, so a cold run stops mid-mark
// several times, stores what it read (`gc/mark/`), sends its task again and goes on. It must still
// finish, read each part once per series (a resume, not a restart), delete exactly the garbage and
// never a live blob — also when a snapshot commits between two invocations (reusing a blob of a
// forgotten one) and when an invocation crashes before its checkpoint is written.
// @see docs/format.md#garbage-collection
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { GC_MARK_PREFIX } from '#domain/gc/mark-checkpoint.ts';
import type { PruneResult } from '#domain/prune.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { Task } from '#domain/tasks.ts';
import { makeHandler as makePruneHandler } from '../../functions/prune.ts';
import { testConfig } from '../support/config.ts';
import { checkRestores, garbagePacks, liveBlobs, type SourceModel } from '../support/gc-model.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';
import { sqsRecord } from '../support/sqs.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
/** More invocations than any series here needs: a run that restarts its mark would never end. */
const MAX_INVOCATIONS = 60;

interface Played {
  /** gc invocations run, and those that stopped mid-mark (`continued`). */
  invocations: number;
  continued: number;
  /** Parts the gc invocations read from the vaults. */
  partReads: number;
  results: PruneResult[];
}

describe('garbage collection: a mark checkpointed across invocations', () => {
  let p: MemoryPipeline;
  const model: SourceModel = new Map();
  /** Budget per gc invocation: parts it may read before `remainingTimeMs` says time is short. */
  let inGc = false;
  let looks = 0;
  let partReads = 0;

  beforeEach(async () => {
    p = memoryPipeline();
    model.clear();
    // One part at a time, so each invocation reads exactly one before it looks at its time.
    Object.assign(p.deps, {
      concurrency: 1,
      // The first look (when the run begins) sees 15 minutes; every later one, 1 s.
      remainingTimeMs: () => (!inGc || looks++ === 0 ? 900_000 : 1000),
    });
    const get = p.primary.get.bind(p.primary);
    p.primary.get = async (key: string) => {
      if (inGc && key.startsWith('parts/')) partReads += 1;
      return get(key);
    };
    await p.catalog.putPlans([
      plan({ id: 'photos', source: { bucket: 'photos', prefix: '' }, retention: { keepLast: 3 } }),
      plan({ id: 'docs', source: { bucket: 'docs', prefix: '' }, retention: { keepLast: 3 } }),
    ]);
    // Three snapshots of each plan, every one with content of its own (a part each), GC unbudgeted.
    for (let i = 0; i < 3; i++) {
      await snapshot('photos', { 'base.txt': 'shared', 'f.txt': `photo ${i}` });
      await snapshot('docs', { 'd.txt': `doc ${i}` });
    }
    await play({ budget: false });
  });

  async function snapshot(planId: string, files: Record<string, string>): Promise<void> {
    for (const [key, text] of Object.entries(files)) await putText(p, key, text, planId);
    const started = await startSnapshotNow(p.deps, planId);
    model.set(`${planId}/${started.snapshotId}`, new Map(Object.entries(files)));
    // The snapshot (and its copies, verification and forget) now; gc tasks wait for `play`.
    const waiting: Task[] = [];
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      for (const task of tasks) {
        if (task.kind === 'gc') waiting.push(task);
        else await p.run(task);
      }
    }
    for (const task of waiting) await p.queue.send(task);
    p.clock.advance(MINUTE);
  }

  /**
   * Play the queues until empty. gc tasks run one invocation at a time (with the one-part budget
   * unless `budget` is false); `between` runs after each invocation that continued, and `crash`
   * decides whether an invocation's checkpoint write fails (the task is then delivered again).
   */
  async function play(
    options: {
      budget?: boolean;
      between?: (continued: number) => Promise<void>;
      crash?: (invocation: number) => boolean;
    } = {},
  ): Promise<Played> {
    const played: Played = { invocations: 0, continued: 0, partReads: 0, results: [] };
    const put = p.primary.put.bind(p.primary);
    p.primary.put = async (key, body, opts) => {
      if (key.startsWith(GC_MARK_PREFIX) && options.crash?.(played.invocations))
        throw new Error('the invocation died before its checkpoint was written');
      return put(key, body, opts);
    };
    try {
      for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
        for (const task of tasks) await runOne(task, options, played);
      }
    } finally {
      p.primary.put = put;
    }
    return played;
  }

  async function runOne(
    task: Task,
    options: { budget?: boolean; between?: (n: number) => Promise<void> },
    played: Played,
  ) {
    if (task.kind !== 'gc') {
      await p.run(task);
      return;
    }
    expect(played.invocations++).toBeLessThan(MAX_INVOCATIONS);
    inGc = options.budget !== false;
    looks = 0;
    partReads = 0;
    try {
      const result = (await p.run(task)) as PruneResult;
      played.results.push(result);
      if (result.gc[task.region]?.continued) {
        played.continued += 1;
        await options.between?.(played.continued);
      }
    } catch {
      await p.queue.send(task); // the queue delivers it again
    } finally {
      played.partReads += partReads;
      inGc = false;
      p.clock.advance(MINUTE);
    }
  }

  /** Forget the oldest snapshot of each plan (a new one each), collect, then sweep a grace period later. */
  async function collectWithGarbage(options: Parameters<typeof play>[0] = {}): Promise<[Played, Played]> {
    await snapshot('photos', { 'base.txt': 'shared', 'f.txt': 'photo 3' });
    await snapshot('docs', { 'd.txt': 'doc 3' });
    const marking = await play(options);
    // A grace period on, prunes that forget nothing more: their runs sweep what the earlier marked
    // (twice: the first sweep's deletions of roots and parts leave more packs unreferenced).
    const latest = (await p.catalog.listSnapshots('photos')).at(-1)?.snapshotId as string;
    const sweeping: Played = { invocations: 0, continued: 0, partReads: 0, results: [] };
    for (let round = 0; round < 2; round++) {
      p.clock.advance(HOUR + MINUTE);
      await p.queue.send({ kind: 'forget', planId: 'photos', snapshotId: latest });
      const played = await play(options);
      sweeping.invocations += played.invocations;
      sweeping.continued += played.continued;
      sweeping.partReads += played.partReads;
      sweeping.results.push(...played.results);
    }
    return [marking, sweeping];
  }

  /** Every committed snapshot restores whole; no pack left is garbage; no checkpoint is left. */
  async function expectExactlyTheGarbageGone(): Promise<void> {
    const planIds = ['photos', 'docs'];
    const { problems, checked } = await checkRestores(
      p.catalog,
      p.deps.vaults,
      p.deps.envelope,
      planIds,
      model,
    );
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(6);
    const live = await liveBlobs(p.catalog, p.deps.vaults, p.deps.envelope);
    for (const vault of [p.primary, p.copy]) {
      expect([...(await garbagePacks(vault, p.deps.envelope, live))]).toEqual([]);
      expect([...vault.objects.keys()].filter((k) => k.startsWith('gc/'))).toEqual([]);
    }
  }

  it('stops mid-mark several times, reads each part once per series, and ends deleting exactly the garbage', async () => {
    const [marking, sweeping] = await collectWithGarbage();
    for (const played of [marking, sweeping]) {
      expect(played.continued).toBeGreaterThanOrEqual(3);
      // Each series (a gc task and its continuations: one per region and forget) reads each of the
      // 3 + 3 live parts once (from the primary), whatever the number of invocations it takes.
      const series = played.results.filter((r) => !Object.values(r.gc)[0]?.continued).length;
      expect(played.partReads).toBe(series * 6);
      expect(played.continued).toBe(series * 5);
    }
    const completed = [...marking.results, ...sweeping.results].map((r) => Object.values(r.gc)[0]);
    expect(completed.filter((g) => g && !g.continued && !g.deferred).length).toBeGreaterThanOrEqual(4);
    expect(completed.reduce((n, g) => n + (g?.packsDeleted ?? 0), 0)).toBeGreaterThan(0);
    // Nothing is marked or deleted by an invocation that stopped mid-mark.
    for (const g of completed.filter((g) => g?.continued)) {
      expect(g).toMatchObject({ packsMarked: 0, packsDeleted: 0, partsDeleted: 0, manifestsDeleted: 0 });
    }
    await expectExactlyTheGarbageGone();
  });

  it('keeps a snapshot committed between two invocations whole, though it reuses a forgotten snapshot’s blob', async () => {
    let committedMidRun = 0;
    await collectWithGarbage({
      between: async (continued) => {
        if (continued !== 2 || committedMidRun > 0) return;
        committedMidRun += 1;
        // 'photo 0' is a forgotten snapshot's content, its pack marked: the new snapshot stores it
        // again (or finds it rescued); either way its blob must survive the sweep.
        await snapshot('docs', { 'd.txt': 'photo 0', 'e.txt': 'new mid-run' });
      },
    });
    expect(committedMidRun).toBe(1);
    const docs = await p.catalog.listSnapshots('docs');
    expect(docs.filter((s) => s.status === 'COMMITTED').length).toBe(3);
    await expectExactlyTheGarbageGone();
  });

  it('goes on from the last stored checkpoint when an invocation crashes before writing its own', async () => {
    let crashes = 0;
    const [marking] = await collectWithGarbage({
      crash: (invocation) => invocation % 3 === 2 && crashes++ < 3,
    });
    expect(crashes).toBeGreaterThanOrEqual(3);
    expect(marking.continued).toBeGreaterThanOrEqual(2);
    await expectExactlyTheGarbageGone();
  });

  it('the prune function gives the run its Lambda time: a gc task short of it is sent again to go on', async () => {
    const handler = makePruneHandler({
      config: testConfig(),
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: silentMetrics(),
    });
    const task: Task = { kind: 'gc', planId: 'photos', snapshotId: 'gc', region: 'us-east-1', force: true };
    const record = sqsRecord(
      'm-1',
      JSON.stringify(task),
      'arn:aws:sqs:us-east-1:111122223333:strongbox-prune',
    );
    const response = await handler({ Records: [record] }, {
      getRemainingTimeInMillis: () => 1000,
    } as Context);
    expect(response.batchItemFailures).toEqual([]);
    expect(p.queue.drain()).toEqual([task]);
    expect([...p.primary.objects.keys()].filter((k) => k.startsWith(GC_MARK_PREFIX))).toHaveLength(1);
  });
});
