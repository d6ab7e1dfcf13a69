/**
 * The restore use case: resolve a request (plan, target, snapshot, region, selection) before
 * anything is written, then restore the selection in this process.
 * @see ../../../docs/format.md#read-and-write-ordering
 */

import type { Envelope } from '../envelope.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { nowIso, type PipelineDeps, vaultBuckets, vaultIn } from '../pipeline.ts';
import { isTableSource } from '../plan.ts';
import type { KeyChange } from '../point-in-time.ts';
import type { VaultStore } from '../ports.ts';
import type { SnapshotRecord } from '../records.ts';
import { readManifest } from '../repository/read-documents.ts';
import { indexOptionsOf, VaultIndex } from '../repository/vault-index.ts';
import type { Manifest, ManifestEntry } from '../vault.ts';
import { restoreEntries } from './entries.ts';
import { pointInTimeChanges } from './point-in-time.ts';
import type { RestoreReport } from './report.ts';
import {
  type ParsedRestoreRequest,
  parseRestoreRequest,
  type RestoreOptions,
  type RestoreRequest,
} from './request.ts';
import { type SelectionSummary, selectFromManifest, selectSnapshot, streamSelection } from './selection.ts';

/**
 * The region's index, loaded on first call; `close` frees the local disk it spilled to (a no-op for
 * a shared index, which the container keeps for its next task).
 */
export type IndexOnce = (() => Promise<VaultIndex>) & { close?: () => void };

/**
 * `load()` once, on first use: the region's index, loaded only when some object is to be written
 * (with the deps' retry, concurrency, scratch space and memory bound).
 * @param options.shared the index a warm container kept from its last task ({@link VaultIndex.shared},
 *   a restore slice): rebuilt only when an index document it loaded is gone, refreshed with those
 *   written since. Every blob read is still checked against its id.
 */
export function indexOnce(
  vault: VaultStore,
  envelope: Envelope,
  deps: Pick<PipelineDeps, 'retry' | 'concurrency' | 'scratch' | 'indexMemoryBlobs'>,
  options: { shared?: boolean } = {},
): IndexOnce {
  let loading: Promise<VaultIndex> | undefined;
  const tuning = indexOptionsOf(deps);
  const index = () => {
    loading ??= options.shared
      ? VaultIndex.shared(vault, envelope, tuning)
      : VaultIndex.load(vault, envelope, { ...tuning, cached: false });
    return loading;
  };
  const close = () => {
    loading?.then(
      (i) => i.close(),
      () => undefined, // never loaded: nothing to free
    );
  };
  return options.shared ? index : Object.assign(index, { close });
}

/** Where a restore reads and writes, resolved from a request before anything is written. */
export interface ResolvedRestore {
  request: ParsedRestoreRequest;
  planId: string;
  snapshot: SnapshotRecord;
  region: string;
  vault: VaultStore;
  /** The region's index, loaded once (on first use) for the whole task. */
  index: IndexOnce;
  targetBucket: string;
  manifestId: string;
  selected: ManifestEntry[];
  warnings: string[];
  /** With `pointInTime`: the capture horizon the journal was read to, and the selected journal versions. */
  journal?: { capturedUntil: string; fromJournal: number };
}

/**
 * Where a restore reads from and writes to, resolved from a request before its selection is read:
 * everything of {@link ResolvedRestore} but the selected entries.
 */
export interface RestoreSource extends Omit<ResolvedRestore, 'selected' | 'warnings' | 'journal'> {
  manifest: Manifest;
  /** With `pointInTime`: the journal's changes to apply, and the capture horizon they were read to. */
  pointInTime?: { at: string; changes: KeyChange[]; capturedUntil: string };
}

/**
 * Resolve a request up to its selection: plan, target (never a vault), snapshot, region, manifest,
 * and for a point in time the journal's changes.
 * @param options.browse the caller reads the tree and writes nothing (ls, diff, find, serve-s3): a
 *   table plan needs no target bucket then (its `targetBucket` is '').
 * @throws ValidationError, NotFoundError (not retryable), as {@link restoreSnapshot}; ValidationError
 *   for a table plan's restore without a target bucket (restore a table with --to-table).
 */
export async function resolveRestoreSource(
  deps: PipelineDeps,
  request: ParsedRestoreRequest,
  options: { browse?: boolean } = {},
): Promise<RestoreSource> {
  const { catalog, envelope, vaults } = deps;
  const plan = await catalog.getPlan(request.plan);
  if (!plan) throw new NotFoundError(`plan '${request.plan}' does not exist`);
  if (isTableSource(plan.source) && options.browse && !request.targetBucket) {
    const chosen = await snapshotSourceOf(deps, plan.id, request);
    return {
      ...chosen,
      request,
      planId: plan.id,
      index: indexOnce(chosen.vault, envelope, deps),
      targetBucket: '',
    };
  }
  if (isTableSource(plan.source) && !request.targetBucket)
    throw new ValidationError(
      `plan '${plan.id}' protects the DynamoDB table '${plan.source.table}': restore its items with --to-table (or give --to-bucket to write them as files)`,
    );
  const targetBucket = request.targetBucket ?? (plan.source as { bucket: string }).bucket;
  if (vaultBuckets(vaults).has(targetBucket)) {
    throw new ValidationError(
      `'${targetBucket}' is a vault bucket: restore refuses to write into a vault`,
      'targetBucket',
    );
  }
  const chosen = await snapshotSourceOf(deps, plan.id, request);
  return {
    ...chosen,
    request,
    planId: plan.id,
    index: indexOnce(chosen.vault, envelope, deps),
    targetBucket,
  };
}

/** The snapshot a request names, where it is read, its manifest, and for a point in time the journal's changes. */
export type SnapshotSource = Pick<
  RestoreSource,
  'snapshot' | 'region' | 'vault' | 'manifestId' | 'manifest' | 'pointInTime'
>;

/**
 * Choose the snapshot a request names in the region it reads (from a copy: among the snapshots
 * copied there), read its manifest, and for a point in time the journal's changes up to now: what
 * object and table restores share.
 * @throws NotFoundError (not retryable) for an unknown snapshot, one not copied to the region, or a
 *   point in time before the first snapshot; TransientError (retryable) when the catalog fails.
 */
export async function snapshotSourceOf(
  deps: PipelineDeps,
  planId: string,
  request: {
    plan: string;
    snapshot: string;
    pointInTime?: string | undefined;
    region?: string | undefined;
    key?: string | undefined;
  },
): Promise<SnapshotSource> {
  const { catalog, envelope, vaults } = deps;
  const region = request.region ?? vaults.primary.region;
  // From a copy (a copy region, an isolated vault), `latest` and a point in time choose among the
  // snapshots copied there: a newer one not copied yet is not there to restore. (None copied there:
  // the choice among all, refused below as not copied.)
  const listed = await catalog.listSnapshots(planId);
  const copied = listed.filter((s) => s.regions?.[region]?.status === 'COPIED');
  const chosenByTime = request.pointInTime !== undefined || request.snapshot === 'latest';
  const snapshot = selectSnapshot(
    region !== vaults.primary.region && chosenByTime && copied.length > 0 ? copied : listed,
    request,
  );
  if (region !== vaults.primary.region && snapshot.regions?.[region]?.status !== 'COPIED') {
    throw new NotFoundError(`snapshot ${snapshot.snapshotId} has not been copied to ${region}`);
  }
  const vault = vaultIn(vaults, region);
  const manifestId = snapshot.manifestId as string;
  const manifest = await readManifest(vault, envelope, planId, manifestId);
  const capturedUntil = nowIso(deps.clock);
  const pointInTime = request.pointInTime
    ? {
        at: request.pointInTime,
        changes: await pointInTimeChanges(
          deps,
          planId,
          { ...request, pointInTime: request.pointInTime },
          snapshot,
          capturedUntil,
        ),
        capturedUntil,
      }
    : undefined;
  return {
    ...(pointInTime ? { pointInTime } : {}),
    snapshot,
    region,
    vault,
    manifestId,
    manifest,
  };
}

/**
 * The whole selection of a resolved source, an entry at a time ({@link streamSelection}); `summary`
 * is filled in once the last entry has been yielded.
 */
export function selectionOf(
  source: Pick<RestoreSource, 'vault' | 'manifest' | 'snapshot' | 'pointInTime'>,
  envelope: Envelope,
  request: ParsedRestoreRequest,
  summary: SelectionSummary,
): AsyncGenerator<ManifestEntry> {
  return streamSelection(
    source.vault,
    envelope,
    source.manifest,
    request,
    source.snapshot.snapshotId,
    summary,
    undefined,
    source.pointInTime,
  );
}

/**
 * Resolve a request: plan, target (never a vault), snapshot, region, manifest and selection.
 * @throws ValidationError, NotFoundError (not retryable), as {@link restoreSnapshot}.
 */
export async function resolveRestore(
  deps: PipelineDeps,
  request: ParsedRestoreRequest,
): Promise<ResolvedRestore> {
  const source = await resolveRestoreSource(deps, request);
  const { selected, warnings, fromJournal } = await selectFromManifest(
    source.vault,
    deps.envelope,
    source.manifest,
    request,
    source.snapshot.snapshotId,
    undefined,
    source.pointInTime,
  );
  return resolvedOf(source, selected, warnings, fromJournal);
}

/** A resolved restore from its source and its selection. */
export function resolvedOf(
  source: RestoreSource,
  selected: ManifestEntry[],
  warnings: string[],
  fromJournal: number,
): ResolvedRestore {
  const { pointInTime, manifest: _manifest, ...rest } = source;
  return {
    ...rest,
    ...(pointInTime ? { journal: { capturedUntil: pointInTime.capturedUntil, fromJournal } } : {}),
    selected,
    warnings,
  };
}

/** Run a resolved restore in this process and report it. */
export async function restoreResolved(
  deps: PipelineDeps,
  resolved: ResolvedRestore,
  opts: RestoreOptions,
  started: Date,
): Promise<RestoreReport> {
  const { request, snapshot, selected, warnings } = resolved;
  const outcome = await restoreEntries(deps, resolved, selected, opts);
  const report: RestoreReport = {
    planId: resolved.planId,
    snapshotId: snapshot.snapshotId,
    ...(snapshot.time ? { snapshotTime: snapshot.time } : {}),
    ...(request.pointInTime ? { pointInTime: request.pointInTime } : {}),
    ...(resolved.journal ? { fromJournal: resolved.journal.fromJournal } : {}),
    region: resolved.region,
    targetBucket: resolved.targetBucket,
    targetPrefix: request.targetPrefix,
    overwrite: request.overwrite,
    dryRun: request.dryRun,
    selected: selected.length,
    objects: outcome.objects,
    bytes: outcome.bytes,
    skipped: outcome.skipped,
    skippedObjects: outcome.skippedObjects,
    seconds: 0,
    warnings,
  };
  if (outcome.archive) {
    report.archive = { ...outcome.archive, tier: request.archiveTier };
    if (request.dryRun) {
      warnings.push(
        `${outcome.archive.blobs} blob(s) are in ${outcome.archive.packs} archived pack(s): a real restore first restores them with tier ${request.archiveTier}`,
      );
    }
  }
  if (request.dryRun) report.keys = outcome.keys;
  report.seconds = (deps.clock.now().getTime() - started.getTime()) / 1000;
  return report;
}

/**
 * Restore a snapshot (or part of it) in this process. Everything that can make a request bad is
 * checked before anything is written or asked of the archive.
 * Memory: the selected entries, about one chunk (8 MiB) per object of several chunks being written,
 * and up to max(2, concurrency / 8) coalesced reads of one-chunk objects (8 MiB each at most).
 * @param options progress callbacks and the injected `sleep` for archived packs; a bare function is
 *   taken as `onProgress`.
 * @throws ValidationError (not retryable) for a bad request, a target that is a vault bucket, or
 *   `Expedited` for a DEEP_ARCHIVE pack.
 * @throws NotFoundError (not retryable) for an unknown plan, snapshot, region or key, a point in time
 *   before the first snapshot, or a blob the region's index does not locate (checked before any
 *   write), or a pack gone since.
 * @throws IntegrityError (not retryable) when a chunk does not hash to its blob id, or the object to
 *   the manifest's SHA-256 and size: nothing is stored at its key (a multipart upload is not completed).
 * @throws ArchivePendingError (retryable) when archived packs are not readable yet.
 * @see startRestore for restores that fan out through the restore queue.
 * @example
 * ```ts
 * await restoreSnapshot(deps, { plan: 'photos', include: ['2026/**'], exclude: ['**\/*.tmp'], overwrite: 'ifChanged' });
 * ```
 */
export async function restoreSnapshot(
  deps: PipelineDeps,
  input: RestoreRequest,
  options: RestoreOptions | RestoreOptions['onProgress'] = {},
): Promise<RestoreReport> {
  const opts: RestoreOptions = typeof options === 'function' ? { onProgress: options } : (options ?? {});
  const request = parseRestoreRequest(input);
  const resolved = await resolveRestore(deps, request);
  try {
    return await restoreResolved(deps, resolved, opts, deps.clock.now());
  } finally {
    resolved.index.close?.();
  }
}
