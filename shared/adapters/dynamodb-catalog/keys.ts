/** Sort keys of the catalog's table and the job ids they are built from (see index.ts for the layout). */
import { NotFoundError } from '#domain/errors.ts';

/** Sort key of a partition checkpoint (a chunk of its parts: `<sk>#<token>#<0000 chunk>`). */
export function checkpointSk(snapshotId: string, partition: number): string {
  return `CHECKPOINT#${snapshotId}#${String(partition).padStart(6, '0')}`;
}

export function chunkSk(head: string, token: string, chunk: number): string {
  return `${head}#${token}#${String(chunk).padStart(4, '0')}`;
}

/**
 * Sort key of a leg of a snapshot's first listing (zero-padded: a query returns them in order), or,
 * without a leg, the prefix of them all.
 */
export function listingSk(snapshotId: string, leg: number | undefined): string {
  return `LISTING#${snapshotId}#${leg === undefined ? '' : String(leg).padStart(6, '0')}`;
}

/** Sort key of a partition summary; the number is zero-padded so a query returns them in order. */
export function partitionSk(snapshotId: string, partition: number): string {
  return `PARTITION#${snapshotId}#${String(partition).padStart(6, '0')}`;
}

export function splitJobId(jobId: string): { planId: string; snapshotId: string } {
  const i = jobId.indexOf('/');
  if (i < 0) throw new NotFoundError(`job id '${jobId}' is not <plan>/<snapshot>`);
  return { planId: jobId.slice(0, i), snapshotId: jobId.slice(i + 1) };
}
