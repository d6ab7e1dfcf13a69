// The deterministic simulation of the whole pipeline (test/sim): a few hundred seeds with the fault
// kinds CI enables (CI_FAULTS in test/sim/faults.ts), every invariant checked after every step. A
// failure names its seed: `npm run simulate -- --seed <seed> --faults ci` replays it and prints a
// shrunk trace. The RUNNING-deadline check (`runningDeadlineSeconds`) runs on fewer seeds: it lets
// six hours of ticks pass at the end of each.
import { describe, expect, it } from 'vitest';
import { CI_FAULTS, FAULT_KINDS } from '../sim/faults.ts';
import { type SimOptions, simulate } from '../sim/world.ts';

const SEEDS = 300;

type SeedOptions = Partial<Omit<SimOptions, 'seed'>>;

/**
 * Seeds `first`..`last` with the CI fault kinds, 400 steps and 200 quiet ones, and `options` (or
 * each seed's own): the first violation of each failing seed, and the stats summed over all.
 */
async function runSeeds(
  first: number,
  last: number,
  options: SeedOptions | ((seed: number) => SeedOptions) = {},
): Promise<{ failures: string[]; totals: Record<string, number> }> {
  const failures: string[] = [];
  const totals: Record<string, number> = {};
  for (let seed = first; seed <= last; seed++) {
    const own = typeof options === 'function' ? options(seed) : options;
    const result = await simulate({ faults: CI_FAULTS, steps: 400, quietSteps: 200, ...own, seed });
    for (const [k, v] of Object.entries(result.stats)) totals[k] = (totals[k] ?? 0) + v;
    if (result.violations.length > 0) failures.push(`seed ${seed}: ${result.violations[0]}`);
  }
  return { failures, totals };
}

describe('deterministic simulation of the pipeline', () => {
  it(`${SEEDS} seeds with the CI fault kinds: no invariant is ever violated`, async () => {
    const { failures, totals } = await runSeeds(1, SEEDS, { checkGarbage: true });
    expect(failures).toEqual([]);
    // The seeds did exercise what the invariants are about.
    expect(totals['end.COMMITTED'] ?? 0).toBeGreaterThan(SEEDS / 2);
    expect(totals['end.COMMITTED.journal'] ?? 0).toBeGreaterThan(SEEDS / 10);
    expect(totals['runs.copy'] ?? 0).toBeGreaterThan(SEEDS / 4);
    expect(totals['gc.packsMarked'] ?? 0).toBeGreaterThan(SEEDS / 4);
    expect(totals.errors ?? 0).toBeGreaterThan(SEEDS / 4);
    expect(Object.entries(totals).filter(([k]) => k.startsWith('kills.')).length).toBeGreaterThan(0);
    expect(totals['gc.packsDeleted'] ?? 0).toBeGreaterThan(SEEDS / 20);
  }, 300_000);

  it('60 seeds with the RUNNING deadline: nothing stays RUNNING past 6 hours of ticks', async () => {
    const { failures } = await runSeeds(1001, 1060, { runningDeadlineSeconds: 21_600 });
    expect(failures).toEqual([]);
  }, 180_000);

  it('60 seeds with every index and the live set spilled to scratch files: no invariant is ever violated', async () => {
    // What a vault past `indexMemoryBlobs` does (docs/format.md#reading-the-index, #garbage-collection):
    // the indexes every task loads, and garbage collection's live set and index documents, on disk.
    const { failures, totals } = await runSeeds(2001, 2060, (seed) => ({
      checkGarbage: true,
      spillBlobs: seed % 3, // 0: everything at once; 1, 2: after a blob or two, so later ones join a spill
    }));
    expect(failures).toEqual([]);
    expect(totals['spill.bytes'] ?? 0).toBeGreaterThan(0);
    expect(totals['gc.packsDeleted'] ?? 0).toBeGreaterThan(3);
    expect(totals['end.COMMITTED'] ?? 0).toBeGreaterThan(30);
  }, 180_000);

  it('60 seeds with gcIntervalSeconds (GC deferred within it) and part caches: no invariant is ever violated, garbage still goes', async () => {
    // What AWS deployments run (docs/format.md#garbage-collection, step 0): a prune after a snapshot
    // collects only when the vault's last completed run ended the interval ago (half the grace period
    // here, so the runs asked at the end of the quiet phase, a grace period apart, are never
    // deferred), and a warm container's run reads only the manifest parts new since its last.
    const { failures, totals } = await runSeeds(3001, 3060, {
      checkGarbage: true,
      gcIntervalSeconds: 300,
      partCache: true,
    });
    expect(failures).toEqual([]);
    expect(Object.keys(totals).some((k) => k.startsWith('gc.deferred.last GC '))).toBe(true);
    expect(totals['gc.packsDeleted'] ?? 0).toBeGreaterThan(3);
    expect(totals['end.COMMITTED'] ?? 0).toBeGreaterThan(30);
  }, 240_000);

  it('the garbage check fails on a garbage collection that never deletes a pack', async () => {
    const found: string[] = [];
    for (let seed = 1; seed <= 40 && found.length === 0; seed++) {
      const result = await simulate({
        seed,
        faults: CI_FAULTS,
        steps: 400,
        quietSteps: 200,
        checkGarbage: true,
        leakPacks: true,
      });
      found.push(...result.violations.filter((v) => v.startsWith('[garbage]')));
    }
    expect(found[0]).toMatch(/^\[garbage\] .*: pack \w+ unreferenced since .* outlived GC runs at /);
  }, 120_000);

  it('seed 9444 with every fault kind, every invariant: a seal racing a GC run that listed its part as garbage', async () => {
    // Found in the 10,000-seed run: a partition wrote a part a forgotten snapshot had left (same
    // content, same id) after a GC run listed it as garbage; the run deleted it after the seal had
    // checked it. Fixed by the sealer's hold (docs/format.md#garbage-collection, step 9).
    const result = await simulate({
      seed: 9444,
      steps: 600,
      // Every kind there was then (later kinds draw decisions of their own: another trace).
      faults: FAULT_KINDS.filter((k) => !['quarantine', 'rotation', 'tables', 'capture-lag'].includes(k)),
      runningDeadlineSeconds: 21_600,
      checkGarbage: true,
    });
    expect(result.violations).toEqual([]);
  }, 60_000);

  it('40 seeds with quarantine and key rotation (issue 15): no invariant is ever violated', async () => {
    // An operator or the detector quarantines and releases the plan; the envelopes use the keyring
    // and the operator rotates the master key and retires the old one, each command dying halfway
    // at times. Every committed snapshot restores from each region's vault alone after each.
    const { failures, totals } = await runSeeds(4001, 4040, {
      faults: [...CI_FAULTS, 'quarantine', 'rotation'],
    });
    expect(failures).toEqual([]);
    expect(totals['quarantine.operator'] ?? 0).toBeGreaterThan(3);
    expect(totals['quarantine.held'] ?? 0).toBeGreaterThan(3);
    expect(Object.keys(totals).some((k) => k.startsWith('gc.deferred.paused: plan(s) in quarantine'))).toBe(
      true,
    );
    expect(totals['keys.rotated'] ?? 0).toBeGreaterThan(10);
    expect(totals['keys.retired'] ?? 0).toBeGreaterThan(0);
  }, 180_000);

  it('30 seeds with table sources (issue 17): no invariant is ever violated', async () => {
    // Two plans of one DynamoDB table (test/sim/tables.ts): item changes whose stream records are
    // lost, redelivered, reordered and late (under settleSeconds) on their way to table capture;
    // full Scans crashing, running out of time and going on, journal-built incrementals,
    // differentials and reconciles, copies, GC. Each committed table snapshot holds the table at its
    // cut, restores into a new table item for item, and a point in time before it restores the
    // table as it was. Table work takes many more steps per simulated hour: longer seeds.
    const { failures, totals } = await runSeeds(5001, 5030, {
      faults: [...CI_FAULTS, 'tables', 'capture-lag'],
      steps: 3000,
      quietSteps: 600,
    });
    expect(failures).toEqual([]);
    expect(totals['table.cut.checked'] ?? 0).toBeGreaterThan(300);
    expect(totals['table.pit.checked'] ?? 0).toBeGreaterThan(150);
    expect(totals['table.restores'] ?? 0).toBeGreaterThan(60);
    expect(totals['end.COMMITTED.reconcile'] ?? 0).toBeGreaterThan(3);
    expect(totals['table.records-lost'] ?? 0).toBeGreaterThan(10);
    expect(totals['table.reconcileMissed'] ?? 0).toBeGreaterThan(0);
    expect(totals['table.cut.captured-after-cut'] ?? 0).toBeGreaterThan(0);
  }, 240_000);

  it('the table checks fail on a capture that loses the removals of items', async () => {
    const found: string[] = [];
    for (let seed = 5001; seed <= 5020 && found.length === 0; seed++) {
      const result = await simulate({
        seed,
        faults: [...CI_FAULTS, 'tables', 'capture-lag'],
        steps: 3000,
        quietSteps: 600,
        loseTableRemovals: true,
      });
      found.push(...result.violations.filter((v) => v.startsWith('[table')));
    }
    expect(found[0]).toMatch(/^\[table(-pit)?\] .* has .* = \{.*, the table had \(absent\)/);
  }, 120_000);

  it('seed 33 with quarantine and rotation: a part written again under a newer data key while a copy read it', async () => {
    // A copy copied the keyring first, then a part a later snapshot had written again (same id)
    // under a data key the copy region lacked: the copy region alone could not open it. Fixed by
    // copying the key documents the primary gained once more before the root (copy.ts).
    // (Seeds 110, 136 and 171 of 1-300 failed so too.)
    const result = await simulate({ seed: 33, steps: 600, faults: [...CI_FAULTS, 'quarantine', 'rotation'] });
    expect(result.violations).toEqual([]);
  }, 60_000);

  it('replays a seed exactly', async () => {
    const a = await simulate({ seed: 7, faults: CI_FAULTS, steps: 120, quietSteps: 50 });
    const b = await simulate({ seed: 7, faults: CI_FAULTS, steps: 120, quietSteps: 50 });
    expect(b.decisions).toEqual(a.decisions);
    const replayed = await simulate({ seed: 7, faults: CI_FAULTS, replay: a.decisions });
    expect(replayed.decisions).toEqual(a.decisions);
  }, 30_000);
});
