/**
 * Continuous protection's rounds on the memory pipeline, timed by task kind: what a prune after
 * every snapshot costs as the history grows, with and without `gcIntervalSeconds` (issue 14).
 *
 * A plan over `--objects` objects (default 20,000), continuously protected, snapshotted once by
 * listing; then `--rounds` rounds (default 100), each `--changes` random changes (default 25: 60%
 * modified, 20% added, 20% deleted, captured as S3 would notify them), a journal-built snapshot
 * `--minutes` after the last (default 5), and what the job runs after it: verification, forget
 * (retention keeps every snapshot, so the history only grows) and GC. `--interval S` is
 * `gcIntervalSeconds` (default: both 0 and 21600, one after the other); `--part-cache` gives GC a
 * PartBlobCache as a warm prune environment has (gc/part-cache.ts). Prints the seconds of the
 * rounds at 1, 20, 60 and 100 snapshots, by task kind, and a JSON line per run.
 *
 * node_modules/.bin/node test/bench/gc-rounds.ts [--objects N] [--rounds N] [--changes N] [--interval S] [--part-cache]
 */
import { parseArgs } from 'node:util';
import { captureChange, type S3EventRecord } from '#domain/capture.ts';
import { PartBlobCache } from '#domain/gc/part-cache.ts';
import type { VaultGcResult } from '#domain/gc/result.ts';
import type { PruneResult } from '#domain/prune.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { Task } from '#domain/tasks.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '100' },
    changes: { type: 'string', default: '25' },
    minutes: { type: 'string', default: '5' },
    interval: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'part-cache': { type: 'boolean', default: false },
  },
});
const OBJECTS = Number(values.objects);
const ROUNDS = Number(values.rounds);
const CHANGES = Number(values.changes);
const MINUTES = Number(values.minutes);
const INTERVALS = values.interval === undefined ? [0, 21_600] : [Number(values.interval)];
/** Snapshots (the first by listing counts as 1) whose round is reported. */
const REPORTED = [1, 2, 20, 60, 100, ROUNDS + 1].filter((n, i, a) => n <= ROUNDS + 1 && a.indexOf(n) === i);

const keyOf = (i: number) => `data/${String(i).padStart(7, '0')}.bin`;

/** A small deterministic PRNG (mulberry32), so both runs make the same changes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let sequence = 0;
function record(key: string, kind: 'Put' | 'Delete', now: Date, etag?: string, size?: number): S3EventRecord {
  sequence += 1;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: now.toISOString(),
    eventName: kind === 'Put' ? 'ObjectCreated:Put' : 'ObjectRemoved:Delete',
    s3: {
      bucket: { name: 'source' },
      object: {
        key: encodeURIComponent(key),
        sequencer: sequence.toString(16).toUpperCase().padStart(16, '0'),
        ...(etag === undefined ? {} : { eTag: etag, size }),
      },
    },
  } as S3EventRecord;
}

/** Seconds by task kind of one round (its snapshot, and what the job ran after it). */
type RoundTimes = Record<string, number>;

/** Start a snapshot now and run every task it leads to, timing each kind. */
async function snapshotRound(p: MemoryPipeline): Promise<{ times: RoundTimes; gc: VaultGcResult[] }> {
  const times: RoundTimes = {};
  const gc: VaultGcResult[] = [];
  const t0 = performance.now();
  await startSnapshotNow(p.deps, 'photos');
  for (let tasks: Task[] = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
    for (const task of tasks) {
      const t = performance.now();
      const result = await p.run(task);
      const kind = task.kind.startsWith('snapshot')
        ? 'snapshot'
        : task.kind.startsWith('verify')
          ? 'verify'
          : task.kind;
      times[kind] = (times[kind] ?? 0) + (performance.now() - t) / 1000;
      if (task.kind === 'gc') gc.push(...Object.values((result as PruneResult).gc));
    }
  }
  times.round = (performance.now() - t0) / 1000;
  return { times, gc };
}

async function run(intervalSeconds: number) {
  sequence = 0;
  const random = prng(Number(values.seed));
  const p = memoryPipeline('2026-03-01T00:00:00Z');
  p.deps.gcIntervalSeconds = intervalSeconds;
  if (values['part-cache']) p.deps.partBlobCache = new PartBlobCache(1_000_000);
  await p.catalog.putPlans([
    plan({
      copyRegions: [],
      retention: { keepLast: ROUNDS + 10 },
      continuous: { settleSeconds: 0, reconcileSchedule: 'rate(365 days)' },
    }),
  ]);
  p.objects.createBucket('source');
  const live: number[] = [];
  for (let i = 0; i < OBJECTS; i++) {
    await p.objects.put('source', keyOf(i), Buffer.from(`object ${i} ${random()}`), {});
    live.push(i);
  }
  let next = OBJECTS;
  const first = await snapshotRound(p);
  const rounds: { snapshots: number; captureSeconds: number; times: RoundTimes; gcRan: boolean }[] = [];
  rounds.push({ snapshots: 1, captureSeconds: 0, times: first.times, gcRan: true });
  const started = performance.now();
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    for (let c = 0; c < CHANGES; c++) {
      p.clock.advance(1000);
      const u = random();
      if (u < 0.6 && live.length > 0) {
        const i = live[Math.floor(random() * live.length)] as number;
        await p.objects.put('source', keyOf(i), Buffer.from(`object ${i} changed ${random()}`), {});
        const o = await p.objects.get('source', keyOf(i));
        await captureChange(p.deps, record(keyOf(i), 'Put', p.clock.now(), o.etag, o.sizeBytes));
      } else if (u < 0.8 || live.length === 0) {
        const i = next++;
        live.push(i);
        await p.objects.put('source', keyOf(i), Buffer.from(`object ${i} added ${random()}`), {});
        const o = await p.objects.get('source', keyOf(i));
        await captureChange(p.deps, record(keyOf(i), 'Put', p.clock.now(), o.etag, o.sizeBytes));
      } else {
        const at = Math.floor(random() * live.length);
        const i = live[at] as number;
        live.splice(at, 1);
        await p.objects.delete('source', [keyOf(i)]);
        await captureChange(p.deps, record(keyOf(i), 'Delete', p.clock.now()));
      }
    }
    const captureSeconds = (performance.now() - t) / 1000;
    p.clock.advance(MINUTES * 60_000 - CHANGES * 1000);
    const round = await snapshotRound(p);
    round.times.round = (round.times.round ?? 0) + captureSeconds;
    const gcRan = round.gc.some((g) => !g.deferred);
    rounds.push({ snapshots: r + 2, captureSeconds, times: round.times, gcRan });
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const gcRuns = rounds.filter((r) => r.gcRan).length;
  return { intervalSeconds, rounds, totalSeconds, gcRuns };
}

const f = (n: number | undefined) => (n ?? 0).toFixed(2);
for (const interval of INTERVALS) {
  const result = await run(interval);
  console.log(
    `gcIntervalSeconds=${interval}${values['part-cache'] ? ', part cache' : ''}: ${OBJECTS} objects, ${ROUNDS} rounds of ${CHANGES} changes ${MINUTES} min apart; ${result.totalSeconds.toFixed(1)} s for the rounds, ${result.gcRuns} GC runs (the first snapshot's included)`,
  );
  console.log('  snapshots | round s | capture | snapshot | verify | forget | gc    | gc ran');
  for (const n of REPORTED) {
    const r = result.rounds.find((x) => x.snapshots === n);
    if (!r) continue;
    console.log(
      `  ${String(n).padStart(9)} | ${f(r.times.round).padStart(7)} | ${f(r.captureSeconds).padStart(7)} | ${f(r.times.snapshot).padStart(8)} | ${f(r.times.verify).padStart(6)} | ${f(r.times.forget).padStart(6)} | ${f(r.times.gc).padStart(5)} | ${r.gcRan ? 'yes' : 'no (deferred)'}`,
    );
  }
  const gcTimes = result.rounds.filter((r) => r.gcRan).map((r) => [r.snapshots, Number(f(r.times.gc))]);
  console.log(
    JSON.stringify({
      intervalSeconds: interval,
      objects: OBJECTS,
      rounds: ROUNDS,
      changes: CHANGES,
      totalSeconds: Number(result.totalSeconds.toFixed(1)),
      meanRoundSeconds: Number((result.totalSeconds / ROUNDS).toFixed(2)),
      gcRuns: result.gcRuns,
      gcSecondsWhenRan: gcTimes,
      reported: REPORTED.map((n) => {
        const r = result.rounds.find((x) => x.snapshots === n);
        return { snapshots: n, roundSeconds: Number(f(r?.times.round)), gcSeconds: Number(f(r?.times.gc)) };
      }),
    }),
  );
}
