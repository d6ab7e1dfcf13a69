import type { Catalog } from '#domain/ports.ts';
import type { JobRecord, RestoreJobRecord } from '#domain/records.ts';

/** Poll `check` until it returns a value (not undefined), or fail after `timeoutMs` with `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The snapshot job `planId/snapshotId` once it is no longer RUNNING. */
export function jobEnded(
  catalog: Pick<Catalog, 'getJob'>,
  planId: string,
  snapshotId: string,
  timeoutMs?: number,
): Promise<JobRecord> {
  return waitFor(
    `job ${planId}/${snapshotId}`,
    async () => {
      const job = await catalog.getJob(`${planId}/${snapshotId}`);
      return job && job.status !== 'RUNNING' ? job : undefined;
    },
    timeoutMs,
  );
}

/** The restore job `restoreJobId` once it is no longer RUNNING. */
export function restoreJobEnded(
  catalog: Pick<Catalog, 'getRestoreJob'>,
  restoreJobId: string,
  timeoutMs?: number,
): Promise<RestoreJobRecord> {
  return waitFor(
    `restore job ${restoreJobId}`,
    async () => {
      const job = await catalog.getRestoreJob(restoreJobId);
      return job && job.status !== 'RUNNING' ? job : undefined;
    },
    timeoutMs,
  );
}
