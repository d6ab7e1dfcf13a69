/**
 * Restore: write a snapshot's objects (all, or those matching include globs) into a target bucket,
 * each under its original key below an optional prefix, with its content type and metadata, after
 * checking that the blob hashes to its address.
 * @see ../../docs/format.md#read-and-write-ordering
 */

import pLimit from 'p-limit';
import picomatch from 'picomatch';
import { z } from 'zod';
import { IntegrityError, NotFoundError, ValidationError } from './errors.ts';
import { readManifest } from './manifests.ts';
import { type PipelineDeps, vaultBuckets, vaultIn } from './pipeline.ts';
import type { SnapshotRecord } from './ports.ts';
import { blobAssociatedData, contentIdOf, VaultLayout } from './vault.ts';

/** A restore request, as the restore function and the CLI accept it. */
export const RestoreRequestSchema = z.strictObject({
  plan: z.string().min(1),
  /** A snapshot id, or "latest". @default "latest" */
  snapshot: z.string().min(1).default('latest'),
  /** ISO-8601: restore the newest snapshot taken at or before this time (instead of `snapshot`). */
  pointInTime: z.iso.datetime({ offset: true }).optional(),
  targetBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name'),
  targetPrefix: z.string().default(''),
  /** Globs over the original keys (picomatch syntax, `**` crosses `/`); none = everything. */
  include: z.array(z.string().min(1)).optional(),
  /** The region whose vault to read. @default the primary region */
  region: z.string().optional(),
  dryRun: z.boolean().default(false),
});
export type RestoreRequest = z.input<typeof RestoreRequestSchema>;

/** What a restore did (or, with `dryRun`, would do). */
export interface RestoreReport {
  planId: string;
  snapshotId: string;
  region: string;
  targetBucket: string;
  targetPrefix: string;
  dryRun: boolean;
  objects: number;
  bytes: number;
  seconds: number;
  /** With `dryRun`: the first 1000 keys that would be written. */
  keys?: string[];
}

/**
 * Parse a restore request.
 * @throws ValidationError (not retryable) naming the field.
 */
export function parseRestoreRequest(input: unknown): z.output<typeof RestoreRequestSchema> {
  const parsed = RestoreRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid restore request', issue?.path.join('.') ?? '');
  }
  return parsed.data;
}

/** Choose the snapshot a request names among a plan's snapshots. @throws NotFoundError */
export function selectSnapshot(
  snapshots: readonly SnapshotRecord[],
  request: { plan: string; snapshot: string; pointInTime?: string | undefined },
): SnapshotRecord {
  const committed = snapshots.filter((s) => s.status === 'COMMITTED' && s.time);
  if (request.pointInTime) {
    const at = Date.parse(request.pointInTime);
    const found = committed.filter((s) => Date.parse(s.time as string) <= at).at(-1);
    if (!found)
      throw new NotFoundError(
        `plan '${request.plan}' has no committed snapshot at or before ${request.pointInTime}`,
      );
    return found;
  }
  if (request.snapshot === 'latest') {
    const found = committed.at(-1);
    if (!found) throw new NotFoundError(`plan '${request.plan}' has no committed snapshot yet`);
    return found;
  }
  const found = snapshots.find((s) => s.snapshotId === request.snapshot);
  if (!found) throw new NotFoundError(`plan '${request.plan}' has no snapshot '${request.snapshot}'`);
  if (found.status !== 'COMMITTED') {
    throw new NotFoundError(
      `snapshot '${request.snapshot}' of plan '${request.plan}' is ${found.status}, not restorable`,
    );
  }
  return found;
}

/**
 * Restore a snapshot.
 * @param onProgress called after each object with the running totals.
 * @throws ValidationError (not retryable) for a bad request or a target that is a vault bucket.
 * @throws NotFoundError (not retryable) for an unknown plan, snapshot or region, or a missing blob.
 * @throws IntegrityError (not retryable) when a blob does not hash to its address: nothing is written for it.
 * @example
 * ```ts
 * await restoreSnapshot(deps, { plan: 'photos', snapshot: 'latest', targetBucket: 'photos-restored', include: ['2026/**'] });
 * ```
 */
export async function restoreSnapshot(
  deps: PipelineDeps,
  input: RestoreRequest,
  onProgress?: (p: { objects: number; bytes: number; total: number }) => void,
): Promise<RestoreReport> {
  const request = parseRestoreRequest(input);
  const { catalog, clock, envelope, objects, vaults } = deps;
  if (vaultBuckets(vaults).has(request.targetBucket)) {
    throw new ValidationError(
      `'${request.targetBucket}' is a vault bucket: restore refuses to write into a vault`,
      'targetBucket',
    );
  }
  const plan = await catalog.getPlan(request.plan);
  if (!plan) throw new NotFoundError(`plan '${request.plan}' does not exist`);
  const snapshot = selectSnapshot(await catalog.listSnapshots(plan.id), request);
  const region = request.region ?? vaults.primary.region;
  if (region !== vaults.primary.region && snapshot.regions?.[region]?.status !== 'COPIED') {
    throw new NotFoundError(`snapshot ${snapshot.snapshotId} has not been copied to ${region}`);
  }
  const vault = vaultIn(vaults, region);
  const started = clock.now();
  const manifest = await readManifest(vault, envelope, plan.id, snapshot.manifestId as string);
  const matchers = request.include?.map((glob) => picomatch(glob, { dot: true }));
  const selected = manifest.entries.filter((e) => !matchers || matchers.some((m) => m(e.key)));
  const report: RestoreReport = {
    planId: plan.id,
    snapshotId: snapshot.snapshotId,
    region,
    targetBucket: request.targetBucket,
    targetPrefix: request.targetPrefix,
    dryRun: request.dryRun,
    objects: 0,
    bytes: 0,
    seconds: 0,
  };
  if (request.dryRun) {
    report.objects = selected.length;
    report.bytes = selected.reduce((sum, e) => sum + e.sizeBytes, 0);
    report.keys = selected.slice(0, 1000).map((e) => request.targetPrefix + e.key);
    return report;
  }
  const limit = pLimit(deps.concurrency ?? 16);
  await Promise.all(
    selected.map((entry) =>
      limit(async () => {
        const sealed = await vault.get(VaultLayout.blobKey(entry.blobId));
        const body = await envelope.open(sealed, blobAssociatedData(entry.blobId));
        if (contentIdOf(body) !== entry.blobId) {
          throw new IntegrityError(`blob ${entry.blobId} of '${entry.key}' does not hash to its address`);
        }
        await objects.put(request.targetBucket, request.targetPrefix + entry.key, body, {
          ...(entry.contentType === undefined ? {} : { contentType: entry.contentType }),
          ...(entry.metadata === undefined ? {} : { metadata: entry.metadata }),
        });
        report.objects += 1;
        report.bytes += body.length;
        onProgress?.({ objects: report.objects, bytes: report.bytes, total: selected.length });
      }),
    ),
  );
  report.seconds = (clock.now().getTime() - started.getTime()) / 1000;
  return report;
}
