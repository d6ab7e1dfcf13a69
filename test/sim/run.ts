/**
 * `npm run simulate -- --seeds N [--seed S] [--steps K] [--faults a,b|all|ci] [--running-deadline s]
 *   [--garbage] [--gc-interval s] [--part-cache] [--no-shrink] [--verbose]`
 *
 * Runs seeds S, S+1, … S+N-1 (S defaults to 1; N to 1 with `--seed`, else 100) of the deterministic
 * simulation (world.ts), K scheduler steps each (default 600) and a quiet phase, with the fault kinds
 * of faults.ts (default `all`; `ci` is the set CI runs). Each
 * failing seed prints its first violation and a minimal trace (the decisions up to the violation,
 * shrunk by dropping decisions while the same kind of violation still shows); `--seed S` replays a
 * seed exactly. `--gc-interval s` runs every function with `gcIntervalSeconds` s (default 0);
 * `--part-cache` gives each container's GC a PartBlobCache.
 * Ends with `N seeds, M violations, T s`; exits 1 when any seed failed.
 */
import { performance } from 'node:perf_hooks';
import { parseFaults } from './faults.ts';
import { shrink } from './shrink.ts';
import { type SimOptions, simulate } from './world.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seedArg = arg('seed');
const seeds = Number(arg('seeds') ?? (seedArg ? 1 : 100));
const first = Number(seedArg ?? 1);
const steps = Number(arg('steps') ?? 600);
const faults = parseFaults(arg('faults') ?? 'all');
const deadline = arg('running-deadline');
const gcInterval = arg('gc-interval');
const noShrink = process.argv.includes('--no-shrink');
const verbose = process.argv.includes('--verbose');

const started = performance.now();
let failing = 0;
const totals: Record<string, number> = {};
for (let seed = first; seed < first + seeds; seed++) {
  const options: SimOptions = {
    seed,
    steps,
    faults,
    ...(deadline ? { runningDeadlineSeconds: Number(deadline) } : {}),
    ...(process.argv.includes('--garbage') ? { checkGarbage: true } : {}),
    ...(gcInterval ? { gcIntervalSeconds: Number(gcInterval) } : {}),
    ...(process.argv.includes('--part-cache') ? { partCache: true } : {}),
  };
  const result = await simulate(options);
  for (const [k, v] of Object.entries(result.stats)) totals[k] = (totals[k] ?? 0) + v;
  if (result.violations.length === 0) {
    if (verbose) console.log(`seed ${seed}: ok (${result.decisions.length} decisions)`);
    continue;
  }
  failing += 1;
  console.log(`\nseed ${seed}: ${result.violations[0]}`);
  for (const v of result.violations.slice(1, 4)) console.log(`  also: ${v}`);
  const trace = result.decisions.slice(0, result.failedAt + 1);
  const minimal = noShrink ? trace : await shrink(options, trace, result.violations[0] as string);
  console.log(`  trace (${minimal.length} of ${trace.length} decisions${noShrink ? '' : ', shrunk'}):`);
  for (const d of minimal) console.log(`    ${d}`);
  console.log(
    `  replay: npm run simulate -- --seed ${seed} --steps ${steps} --faults ${faults.join(',') || 'none'}${deadline ? ` --running-deadline ${deadline}` : ''}${options.checkGarbage ? ' --garbage' : ''}${gcInterval ? ` --gc-interval ${gcInterval}` : ''}${options.partCache ? ' --part-cache' : ''}`,
  );
}
const seconds = (performance.now() - started) / 1000;
if (verbose) console.log(JSON.stringify(totals));
console.log(`${seeds} seeds, ${failing} violations, ${seconds.toFixed(1)} s`);
process.exitCode = failing > 0 ? 1 : 0;
