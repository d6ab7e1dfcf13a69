/**
 * Known divergences between an implementation and its port's contract: a case an implementation is
 * known to fail runs as `it.fails` for it (so the suite notices the day it is fixed), named with the
 * reason. Each suite file runs every implementation; the test file that runs them passes, per
 * implementation, the ids of the cases it diverges on and why.
 */
import { it } from 'vitest';

/** Case id → why this implementation fails it (the divergence, in a sentence). */
export type KnownDivergences = Readonly<Record<string, string>>;

/**
 * Declare case `id`: `it` normally; `it.fails`, with the divergence appended to its title, when
 * `known` lists it.
 */
export function contractCase(
  known: KnownDivergences | undefined,
  id: string,
  title: string,
  fn: () => Promise<void>,
): void {
  const reason = known?.[id];
  if (reason === undefined) it(title, fn);
  else it.fails(`${title} [known divergence: ${reason}]`, fn);
}
