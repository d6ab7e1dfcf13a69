/**
 * Restore jobs: a large selection fans out as a restore job in the catalog and one restore-slice task
 * per slice of the selection, each run by {@link restoreSlice}.
 * @see ../../../docs/format.md#catalog (the restore job record)
 */

import { NotFoundError, reasonOf } from '../errors.ts';
import { nowIso, type PipelineDeps, tuningOf, vaultIn } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';
import type { RestoreJobRecord } from '../records.ts';
import { readManifest } from '../repository/read-documents.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import type { RestoreSliceTask, RestoreUpload } from '../tasks.ts';
import { contentIdOf, type ManifestEntry } from '../vault.ts';
import { prepareArchiveOfPacks } from './archive.ts';
import { type Resumable, restoreEntries } from './entries.ts';
import type { SkipReason } from './overwrite.ts';
import { pointInTimeChanges } from './point-in-time.ts';
import type { RestoreReport } from './report.ts';
import {
  type ParsedRestoreRequest,
  parseRestoreRequest,
  type RestoreOptions,
  type RestoreRequest,
} from './request.ts';
import {
  indexOnce,
  type RestoreSource,
  resolvedOf,
  resolveRestoreSource,
  restoreResolved,
  selectionOf,
} from './restore.ts';
import { restoreResumably } from './resumable.ts';
import { type SelectionSummary, selectFromManifest } from './selection.ts';
import { DEFAULT_SLICE_BYTES, type MeasuredSelection, measureSelection } from './slices.ts';

/** Selected objects above which a restore fans out, unless configured. */
export const DEFAULT_FANOUT_THRESHOLD = 500;
/** Selected objects per restore slice, unless configured. */
export const DEFAULT_SLICE_SIZE = 500;
/** What {@link startRestore} did: restored at once (`report`) or created a restore job (`job`). */
export type RestoreStart =
  | { report: RestoreReport; job?: undefined }
  | { job: RestoreJobRecord; report?: undefined };

/** `restore-<yyyymmddThhmmssZ>-<8 hex of the request>`: the same request in the same second is the same job. */
export function restoreJobIdOf(request: ParsedRestoreRequest, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `restore-${stamp}-${contentIdOf(JSON.stringify(request)).slice(0, 8)}`;
}

/**
 * Start a restore: small selections (≤ `deps.restoreFanOutThreshold` objects, 500 by default, and
 * ≤ `deps.restoreSliceBytes`, 2 GiB) and dry runs are restored at once, as {@link restoreSnapshot};
 * larger ones (or any with `fanOut: true`) become
 * a RUNNING restore job in the catalog whose selection is split into slices (manifest order) of
 * `deps.restoreSliceSize` entries, cut short before `deps.restoreSliceBytes` (see {@link cutSlices}),
 * one restore-slice task each, sent in batches, and this returns the job at once. The selection is
 * read an entry at a time, never held. Every check of the request happens before the job is
 * created, including that the region's index locates every blob of the selection; the archived packs holding them are asked
 * for first (as a synchronous restore does), so slices find them readable.
 * @throws as {@link restoreSnapshot}; ArchivePendingError (retryable) before any job is created.
 * @throws TransientError (retryable) when the catalog or the queue fails: start it again — a job
 *   whose slices could not all be sent is marked FAILED, and a slice enqueued twice counts once.
 * @example
 * ```ts
 * const started = await startRestore(deps, { plan: 'photos', targetBucket: 'photos-restored' });
 * if (started.job) console.log(`restore job ${started.job.restoreJobId}: ${started.job.slicesTotal} slices`);
 * ```
 */
export async function startRestore(
  deps: PipelineDeps,
  input: RestoreRequest,
  options: RestoreOptions = {},
): Promise<RestoreStart> {
  const request = parseRestoreRequest(input);
  const started = deps.clock.now();
  const source = await resolveRestoreSource(deps, request);
  try {
    return await startFrom(deps, request, source, started, options);
  } finally {
    source.index.close?.(); // the slices load their own
  }
}

/** {@link startRestore} from its resolved source. */
async function startFrom(
  deps: PipelineDeps,
  request: ParsedRestoreRequest,
  source: RestoreSource,
  started: Date,
  options: RestoreOptions,
): Promise<RestoreStart> {
  const threshold = deps.restoreFanOutThreshold ?? DEFAULT_FANOUT_THRESHOLD;
  // Read the selection up to one entry past the threshold: whether it fans out.
  const summary: SelectionSummary = { selectedCount: 0, warnings: [], fromJournal: 0 };
  const stream = selectionOf(source, deps.envelope, request, summary);
  const head: ManifestEntry[] = [];
  let more = false;
  // A few objects can be more bytes than one invocation writes (a restore slice's budget): they fan
  // out too, so that a restore worker restores them, pausing inside an object if it must.
  const sliceBytes = deps.restoreSliceBytes ?? DEFAULT_SLICE_BYTES;
  let headBytes = 0;
  for await (const entry of stream) {
    if (head.length === threshold || headBytes > sliceBytes) {
      more = true;
      break; // the stream is closed: a fanned-out selection is read again, an entry at a time
    }
    head.push(entry);
    headBytes += entry.sizeBytes;
  }
  if (headBytes > sliceBytes) more = true;
  const fanOut = request.fanOut ?? more;
  if (request.dryRun || !fanOut || head.length === 0) {
    // Restored (or reported) in this process: the whole selection in memory, read again from the
    // same source when the first reading stopped early (a dry run of a large selection).
    if (more) {
      head.length = 0;
      for await (const entry of selectionOf(source, deps.envelope, request, summary)) head.push(entry);
    }
    const resolved = resolvedOf(source, head, summary.warnings, summary.fromJournal);
    return { report: await restoreResolved(deps, resolved, options, started) };
  }
  head.length = 0;
  // One pass over the whole selection, never held: totals, slices, and every blob located in the
  // region's index; then the archived packs asked for, all before the job exists.
  const sliceSize = deps.restoreSliceSize ?? DEFAULT_SLICE_SIZE;
  const measured = await measureSelection(source, deps.envelope, request, await source.index(), {
    sliceSize,
    sliceBytes,
  });
  await prepareArchiveOfPacks(deps, source.vault, measured.packs, request, options);
  const slices = measured.slices;
  const restoreJobId = restoreJobIdOf(request, started);
  // A list of keys is stored per slice, before the job exists, not in the job (one catalog item).
  if (request.keys) await storeSliceKeys(deps, restoreJobId, measured.sliceKeys ?? []);
  const job = restoreJobRecord(restoreJobId, source, request, measured, started, sliceSize);
  await deps.catalog.createRestoreJob(job, slices.uniform ? undefined : slices.counts);
  try {
    // SendMessageBatch: a job of 2,000 slices is 200 requests, not 2,000 one after another.
    let first = 0;
    await deps.queue.sendBatch(
      slices.counts.map((count, slice) => {
        const task = {
          kind: 'restore-slice' as const,
          restoreJobId: job.restoreJobId,
          manifestId: job.manifestId,
          slice,
          first,
          count,
        };
        first += count;
        return task;
      }),
    );
  } catch (error) {
    // A job whose slices were not all sent would stay RUNNING for ever.
    await deps.catalog.finishRestoreJob(job.restoreJobId, {
      status: 'FAILED',
      at: nowIso(deps.clock),
      error: `could not send every slice: ${reasonOf(error)}`,
    });
    throw error;
  }
  return { job };
}

/** The RUNNING restore job of a measured selection: the request replayed without its `keys`. */
function restoreJobRecord(
  restoreJobId: string,
  source: RestoreSource,
  request: ParsedRestoreRequest,
  measured: MeasuredSelection,
  started: Date,
  sliceSize: number,
): RestoreJobRecord {
  const { snapshot, pointInTime } = source;
  const slices = measured.slices;
  const at = started.toISOString();
  const { keys, ...replayed } = request;
  return {
    restoreJobId,
    status: 'RUNNING',
    planId: source.planId,
    snapshotId: snapshot.snapshotId,
    ...(snapshot.time ? { snapshotTime: snapshot.time } : {}),
    manifestId: source.manifestId,
    ...(pointInTime ? { journalUntil: pointInTime.capturedUntil } : {}),
    ...(pointInTime && snapshot.journalUntil ? { snapshotJournalUntil: snapshot.journalUntil } : {}),
    region: source.region,
    targetBucket: source.targetBucket,
    request: { ...replayed },
    ...(keys ? { listedKeys: new Set(keys).size } : {}),
    selected: measured.selected,
    selectedBytes: measured.selectedBytes,
    objects: 0,
    bytes: 0,
    skippedExists: 0,
    skippedUnchanged: 0,
    slicesTotal: slices.counts.length,
    slicesDone: 0,
    sliceSize,
    ...(slices.uniform ? {} : { slicesCutByBytes: true }),
    warnings: measured.summary.warnings,
    createdAt: at,
    updatedAt: at,
  };
}

/** Slices whose keys are stored at once. */
const KEY_WRITES_AT_ONCE = 8;

/** Store each slice's keys of a restore of listed keys (a few writes at a time). */
async function storeSliceKeys(
  deps: PipelineDeps,
  restoreJobId: string,
  sliceKeys: readonly (readonly string[])[],
): Promise<void> {
  for (let i = 0; i < sliceKeys.length; i += KEY_WRITES_AT_ONCE) {
    await Promise.all(
      sliceKeys
        .slice(i, i + KEY_WRITES_AT_ONCE)
        .map((keys, n) => deps.catalog.putRestoreSliceKeys(restoreJobId, i + n, keys)),
    );
  }
}

/** What one restore slice did. */
export interface RestoreSliceResult {
  restoreJobId: string;
  slice: number;
  /** False when the slice had been counted already (a redelivery) or the job had ended. */
  counted: boolean;
  objects: number;
  bytes: number;
  /** Whether this slice ended the job (it was the last to finish). */
  finishedJob: boolean;
  /**
   * Set when the slice's one large object paused between two upload parts: a restore-slice task
   * that goes on from there was sent, and nothing is counted yet.
   */
  continued?: RestoreUpload;
}

/**
 * Restore one slice of a restore job: replay the job's request over the slice's entries (the
 * selected entries `first` to `first + count - 1` in manifest order, reading only the manifest parts
 * needed for them; the same per-entry work as a synchronous restore, with the region's index the
 * worker kept from its last slice while its documents are all still listed, see
 * `VaultIndex.shared`), add what it did to the job's counters once, and — when every slice is
 * done — mark the job SUCCEEDED (once, whoever gets there first). A slice of a job
 * that has ended does nothing.
 * @throws NotFoundError (not retryable) for an unknown job or a selection that no longer has the
 *   slice's range.
 * @throws NotFoundError (not retryable) for a blob no index of the region locates.
 * @throws IntegrityError (not retryable) for content that does not match the manifest.
 * @throws ArchivePendingError, TransientError (retryable): SQS delivers the slice again.
 * @example
 * ```ts
 * await restoreSlice(deps, { kind: 'restore-slice', restoreJobId, manifestId, slice: 0, first: 0, count: 500 });
 * ```
 */
export async function restoreSlice(deps: PipelineDeps, task: RestoreSliceTask): Promise<RestoreSliceResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const job = await catalog.getRestoreJob(task.restoreJobId);
  if (!job) throw new NotFoundError(`restore job ${task.restoreJobId} does not exist`);
  const result: RestoreSliceResult = {
    restoreJobId: job.restoreJobId,
    slice: task.slice,
    counted: false,
    objects: 0,
    bytes: 0,
    finishedJob: false,
  };
  if (job.status !== 'RUNNING') {
    // A paused object's upload of a job that ended (another delivery finished it, or it failed).
    if (task.upload)
      await abandonUpload(deps, job.targetBucket, task.upload, parseRestoreRequest(job.request));
    return result;
  }
  // A job the reaper re-drove may get a slice again that a dead worker had finished, and a paused
  // object's task may come again after another delivery finished it: skip its writes.
  const mayBeDone = job.redrives || task.upload !== undefined;
  if (mayBeDone && (await catalog.listRestoreSlicesDone(job.restoreJobId)).includes(task.slice)) {
    // Another delivery's upload completed the object: this one's parts are dropped (S3 bills them).
    if (task.upload)
      await abandonUpload(deps, job.targetBucket, task.upload, parseRestoreRequest(job.request));
    if (job.slicesDone >= job.slicesTotal) {
      result.finishedJob = await catalog.finishRestoreJob(job.restoreJobId, {
        status: 'SUCCEEDED',
        at: nowIso(clock),
      });
    }
    return result;
  }
  const { request, range } = await sliceRequest(deps, job, task);
  const vault = vaultIn(vaults, job.region);
  const manifest = await readManifest(vault, envelope, job.planId, task.manifestId);
  // A point-in-time job replays the journal up to the capture horizon it recorded: every slice
  // derives the same selection, however late it runs.
  const pointInTime =
    request.pointInTime && job.journalUntil && job.snapshotTime
      ? {
          at: request.pointInTime,
          changes: await pointInTimeChanges(
            deps,
            job.planId,
            { ...request, pointInTime: request.pointInTime },
            {
              time: job.snapshotTime,
              ...(job.snapshotJournalUntil === undefined ? {} : { journalUntil: job.snapshotJournalUntil }),
            },
            job.journalUntil,
          ),
        }
      : undefined;
  const { selected: entries, selectedCount } = await selectFromManifest(
    vault,
    envelope,
    manifest,
    request,
    job.snapshotId,
    range,
    pointInTime,
  );
  if (entries.length !== task.count) {
    throw new NotFoundError(
      `restore job ${job.restoreJobId} selects ${selectedCount} object(s): slice ${task.slice} (${task.first}+${task.count}) is out of range`,
    );
  }
  const index = indexOnce(vault, envelope, deps, { shared: true });
  const { remainingTimeMs } = deps;
  const tuning = tuningOf(deps);
  const resumable = {
    minBytes: tuning.resumableObjectBytes,
    shouldPause: () => remainingTimeMs !== undefined && remainingTimeMs() < tuning.timeReserveSeconds * 1000,
  };
  const outcome = task.upload
    ? await goOnWithUpload(
        deps,
        { request, vault, index, targetBucket: job.targetBucket },
        entries,
        task.upload,
        resumable,
      )
    : await restoreEntries(
        deps,
        { request, vault, index, targetBucket: job.targetBucket, listVault: false, resumable },
        entries,
        {},
      );
  if (outcome.paused) {
    await deps.queue.send({ ...task, upload: outcome.paused });
    return { ...result, continued: outcome.paused };
  }
  const done = await catalog.completeRestoreSlice(
    job.restoreJobId,
    task.slice,
    {
      objects: outcome.objects,
      bytes: outcome.bytes,
      skippedExists: outcome.skipped.exists,
      skippedUnchanged: outcome.skipped.unchanged,
    },
    nowIso(clock),
  );
  result.counted = done.counted;
  result.objects = outcome.objects;
  result.bytes = outcome.bytes;
  if (done.job.slicesDone >= done.job.slicesTotal) {
    result.finishedJob = await catalog.finishRestoreJob(job.restoreJobId, {
      status: 'SUCCEEDED',
      at: nowIso(clock),
    });
  }
  return result;
}

/**
 * The request a slice replays and the range of its selection it restores: the job's request and
 * the slice's range, or — for a restore of listed keys — the slice's own keys, all of them.
 * @throws NotFoundError (not retryable) when a slice of listed keys has none stored.
 */
async function sliceRequest(
  deps: PipelineDeps,
  job: RestoreJobRecord,
  task: RestoreSliceTask,
): Promise<{ request: ParsedRestoreRequest; range: { first: number; count: number } }> {
  if (job.listedKeys === undefined) {
    return { request: parseRestoreRequest(job.request), range: { first: task.first, count: task.count } };
  }
  const keys = await deps.catalog.getRestoreSliceKeys(job.restoreJobId, task.slice);
  if (!keys) {
    throw new NotFoundError(`restore job ${job.restoreJobId} has no keys stored for slice ${task.slice}`);
  }
  return { request: parseRestoreRequest({ ...job.request, keys }), range: { first: 0, count: task.count } };
}

/**
 * Abort a paused object's multipart upload that another delivery made redundant. Best effort: the
 * upload may be the one that completed (S3 then answers NoSuchUpload), or already aborted.
 */
async function abandonUpload(
  deps: PipelineDeps,
  bucket: string,
  upload: RestoreUpload,
  request: ParsedRestoreRequest,
): Promise<void> {
  await deps.objects.abortUpload(bucket, request.targetPrefix + upload.key, upload.uploadId).catch(() => {});
}

/**
 * Go on with a slice's one large object from where its upload paused (a restore-slice task with
 * `upload`): the overwrite decision and the archived packs were settled when it started.
 * @throws NotFoundError (not retryable) when the slice's entry is not the paused one.
 */
async function goOnWithUpload(
  deps: PipelineDeps,
  at: {
    request: ParsedRestoreRequest;
    vault: VaultStore;
    index: () => Promise<VaultIndex>;
    targetBucket: string;
  },
  entries: readonly ManifestEntry[],
  upload: RestoreUpload,
  resumable: Pick<Resumable, 'shouldPause'>,
): Promise<{ objects: number; bytes: number; skipped: Record<SkipReason, number>; paused?: RestoreUpload }> {
  const [entry] = entries;
  if (entries.length !== 1 || !entry) {
    throw new NotFoundError(`a paused restore of '${upload.key}' is in a slice of ${entries.length} objects`);
  }
  const target = {
    objects: deps.objects,
    vault: at.vault,
    envelope: deps.envelope,
    index: await at.index(),
    bucket: at.targetBucket,
    key: at.request.targetPrefix + entry.key,
    shouldPause: resumable.shouldPause,
  };
  const done = await restoreResumably(target, entry, upload.ifNoneMatch, upload);
  if ('paused' in done)
    return { objects: 0, bytes: 0, skipped: { exists: 0, unchanged: 0 }, paused: done.paused };
  const exists = done.outcome === 'exists';
  return { objects: exists ? 0 : 1, bytes: done.bytes, skipped: { exists: exists ? 1 : 0, unchanged: 0 } };
}

/**
 * A restore job as a restore report (what the CLI prints when the job ends or is re-attached to).
 * `seconds` runs from creation to the end (or the last update of a running job).
 */
export function reportOfRestoreJob(job: RestoreJobRecord): RestoreReport {
  const request = parseRestoreRequest(job.request);
  const end = Date.parse(job.finishedAt ?? job.updatedAt);
  return {
    planId: job.planId,
    snapshotId: job.snapshotId,
    ...(job.snapshotTime ? { snapshotTime: job.snapshotTime } : {}),
    ...(request.pointInTime ? { pointInTime: request.pointInTime } : {}),
    region: job.region,
    targetBucket: job.targetBucket,
    targetPrefix: request.targetPrefix,
    overwrite: request.overwrite,
    dryRun: false,
    selected: job.selected,
    objects: job.objects,
    bytes: job.bytes,
    skipped: { exists: job.skippedExists, unchanged: job.skippedUnchanged },
    skippedObjects: [],
    seconds: Math.max(0, (end - Date.parse(job.createdAt)) / 1000),
    warnings: [...job.warnings, ...(job.error ? [`restore job ${job.status}: ${job.error}`] : [])],
  };
}
