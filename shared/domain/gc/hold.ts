/**
 * Holding a vault against garbage collection while a writer relies on what it found there: a
 * sealer (a snapshot's last step) from the moment it checks that every part its root names is
 * stored until its commit. Parts are content-addressed, so a partition may write a part that a
 * forgotten snapshot left behind, byte for byte the same; a run that listed `parts/` before that
 * write sees it old and unreferenced, and without the hold could delete it after the check.
 * @see ../../../docs/format.md#garbage-collection
 */
import { randomUUID } from 'node:crypto';
import { TransientError } from '../errors.ts';
import type { PipelineDeps } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';

/**
 * How long a sealer holds the vault: longer than the rest of a sealing invocation can take (the
 * snapshot function's timeout is at most 15 minutes), so a live sealer's hold never lapses; one
 * that died holding it blocks garbage collection no longer.
 */
export const SEAL_HOLD_SECONDS = 900;

/**
 * Run `fn` holding `vault` against garbage collection (`Catalog.acquireVaultHold`, as a copy does;
 * holds coexist, and no run takes the vault's lease while one is held), and give the hold back
 * afterwards, whatever happens. A hold not given back (the catalog failed) lapses at its end.
 * @param holder what holds the vault, for the lease item (`seal:<plan>/<snapshot>`); a unique
 *   suffix is added.
 * @returns what `fn` returns.
 * @throws TransientError (retryable) when a garbage-collection run holds the vault: the task is
 *   delivered again once the run is over (a run is bounded by its lease). Whatever `fn` throws.
 * @example
 * ```ts
 * await holdingVault(deps, deps.vaults.primary, `seal:${planId}/${snapshotId}`, async () => {
 *   // check the parts, write the root, commit
 * });
 * ```
 */
export async function holdingVault<T>(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  vault: Pick<VaultStore, 'bucket'>,
  holder: string,
  fn: () => Promise<T>,
): Promise<T> {
  const id = `${holder}:${randomUUID()}`;
  const now = deps.clock.now();
  const until = new Date(now.getTime() + SEAL_HOLD_SECONDS * 1000).toISOString();
  if (!(await deps.catalog.acquireVaultHold(vault.bucket, id, now.toISOString(), until))) {
    throw new TransientError(`garbage collection of ${vault.bucket} is running; ${holder} is retried`);
  }
  try {
    return await fn();
  } finally {
    await deps.catalog.releaseVaultHold(vault.bucket, id).catch(() => undefined);
  }
}
