/**
 * Shrinking a failing trace: drop chunks of decisions (halving the chunk size, as delta debugging
 * does) while a replay still shows a violation of the same kind (its `[tag]`).
 */
import { type SimOptions, simulate } from './world.ts';

/** The task a decision belongs to (its delivery and its port calls), or the decision itself. */
function groupOf(decision: string): string {
  const resume = /^resume (.*?) #\d+ /.exec(decision);
  if (resume) return (resume[1] as string).replace(/@\d+$/, '');
  if (decision.startsWith('deliver ')) return decision.slice('deliver '.length);
  return decision;
}

const tagOf = (v: string) => /^\[[a-z-]+\]/.exec(v)?.[0] ?? v;

export async function shrink(
  options: SimOptions,
  trace: readonly string[],
  violation: string,
  budget = { replays: 600, ms: 30_000 },
): Promise<string[]> {
  const tag = tagOf(violation);
  const started = Date.now();
  let replays = 0;
  const fails = async (decisions: readonly string[]): Promise<boolean> => {
    replays += 1;
    const r = await simulate({ ...options, replay: decisions });
    return r.violations.some((v) => tagOf(v) === tag);
  };
  let current = trace.filter((d) => !d.startsWith('(skipped)'));
  if (!(await fails(current))) return current; // does not replay alone: keep the whole trace
  // First whole tasks: a delivery (or capture) and every port call its runs made; then the rest.
  const groups = [...new Set(current.map(groupOf))].reverse();
  for (const g of groups) {
    if (replays >= budget.replays || Date.now() - started > budget.ms) return current;
    const candidate = current.filter((d) => groupOf(d) !== g);
    if (candidate.length < current.length && (await fails(candidate))) current = candidate;
  }
  for (let n = Math.floor(current.length / 2); n >= 1; n = Math.floor(n / 2)) {
    for (let i = 0; i < current.length; ) {
      if (replays >= budget.replays || Date.now() - started > budget.ms) return current;
      const candidate = [...current.slice(0, i), ...current.slice(i + n)];
      if (await fails(candidate)) current = candidate;
      else i += n;
    }
  }
  return current;
}
