/**
 * Storing one partition of a snapshot: list its key range, reuse the parent's (or the journal's)
 * entries for unchanged objects, read the others into packs, store packs → index → parts, and count
 * the partition done (or checkpoint and re-enqueue it when time runs low); the last one seals.
 */
import pLimit from 'p-limit';
import { NotFoundError, TransientError } from '../errors.ts';
import { nowIso, type PipelineDeps, throttled, tuningOf } from '../pipeline.ts';
import { DEFAULT_MAX_PARALLEL_PARTITIONS } from '../plan.ts';
import type { SourceObject } from '../ports.ts';
import { type ObjectProgress, ReadPaused, type Resumable } from '../reader.ts';
import type { PartitionCheckpoint, PartitionSummary, PlanRecord, SnapshotRecord } from '../records.ts';
import { keptIndex } from '../repository/kept-index.ts';
import { readAllEntries } from '../repository/manifest-entries.ts';
import { readManifest } from '../repository/read-documents.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import { PackWriter, writeIndex, writePart } from '../repository/write.ts';
import { sourceOf } from '../source/index.ts';
import { jobIdOf, type PartitionResume, partitionTask, type SnapshotTask } from '../tasks.ts';
import { type ContentId, compareKeys, type ManifestEntry, type PartRef } from '../vault.ts';
import { type Counters, entryFor } from './entry.ts';
import { objectProgressOf, recordObjectProgress } from './object-resume.ts';
import { capturedSince, expectedState, keyRange } from './parent.ts';
import { cutParts } from './parts.ts';
import type { SnapshotResult } from './result.ts';
import { seal } from './seal.ts';

/** What a batch's object returns when a read before it paused: not started, the next invocation reads it. */
const NOT_STARTED = Symbol('not started');

/**
 * Where a partition goes on from: the `resume` its message carries or the checkpoint the catalog
 * records for it, whichever is further along (more invocations); none when neither exists.
 */
export async function resumeOf(
  deps: PipelineDeps,
  record: SnapshotRecord,
  index: number,
  fromMessage: PartitionResume | undefined,
): Promise<PartitionResume | undefined> {
  // Work stored under another partition plan (before a state-table restore) covers other keys.
  const ofThisPlan = (r: PartitionResume | undefined) =>
    r && (r.planTime === undefined || r.planTime === record.time) ? r : undefined;
  const message = ofThisPlan(fromMessage);
  const recorded = ofThisPlan(
    (await deps.catalog.listPartitionCheckpoints(record.planId, record.snapshotId)).find(
      (c) => c.partition === index,
    ),
  ) as PartitionCheckpoint | undefined;
  if (!recorded || (message && message.invocations > recorded.invocations)) return message;
  const { partition: _partition, checkpointedAt: _at, ...resume } = recorded;
  return resume;
}

/** A partition about to run: its job, task and partition plan, and when this invocation began it. */
export interface StartedPartition {
  jobId: string;
  taskId: string;
  boundaries: string[];
  started: Date;
}

/**
 * The opening of every partition, of a bucket or a table: check the partition plan, skip a
 * partition already done (a redelivery: only what follows it runs again), else start its task.
 * @throws TransientError (retryable) when the snapshot has no partition plan yet.
 * @throws NotFoundError (not retryable) when the plan has no partition `index`.
 */
export async function startPartition(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
  index: number,
): Promise<StartedPartition | { done: SnapshotResult }> {
  const { catalog, clock } = deps;
  const jobId = jobIdOf(record);
  const taskId = `snapshot:p${index}`;
  const boundaries = record.partitionBoundaries;
  if (!boundaries) throw new TransientError(`snapshot ${jobId} has no partition plan yet`);
  if (index > boundaries.length) throw new NotFoundError(`snapshot ${jobId} has no partition ${index}`);
  if ((await catalog.listPartitions(plan.id, record.snapshotId)).some((p) => p.partition === index)) {
    return { done: await afterPartition(deps, plan, record, task, index, false) };
  }
  const started = clock.now();
  await catalog.startTask(jobId, taskId, started.toISOString());
  return { jobId, taskId, boundaries, started };
}

/** Store one partition (or the rest of it, from `resume`); the last to finish seals. */
export async function runPartition(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
  index: number,
  resume: PartitionResume | undefined,
): Promise<SnapshotResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const start = await startPartition(deps, plan, record, task, index);
  if ('done' in start) return start.done;
  const { jobId, taskId, boundaries, started } = start;

  const lower = index > 0 ? boundaries[index - 1] : undefined;
  const upper = index < boundaries.length ? boundaries[index] : undefined;
  const inRange = (key: string) =>
    (lower === undefined || compareKeys(key, lower) > 0) &&
    (upper === undefined || compareKeys(key, upper) <= 0);

  // The parent's entries for this range, and its part boundaries to cut ours at (so unchanged parts
  // come out byte-identical and are shared, not stored again).
  const parentEntries = new Map<string, ManifestEntry>();
  const parentCuts: string[] = [];
  const parentPartIds = new Set<ContentId>();
  const parentRecord = record.parentSnapshotId
    ? await catalog.getSnapshot(plan.id, record.parentSnapshotId)
    : undefined;
  if (parentRecord?.manifestId) {
    const parent = await readManifest(vaults.primary, envelope, plan.id, parentRecord.manifestId);
    const overlapping = parent.parts.filter(
      (p) =>
        (lower === undefined || compareKeys(p.lastKey, lower) > 0) &&
        (upper === undefined || compareKeys(p.firstKey, upper) <= 0),
    );
    for (const part of overlapping) {
      parentCuts.push(part.lastKey);
      parentPartIds.add(part.partId);
    }
    for (const entry of await readAllEntries(vaults.primary, envelope, {
      planId: plan.id,
      parts: overlapping,
    })) {
      if (inRange(entry.key)) parentEntries.set(entry.key, entry);
    }
  }

  // What capture stored since the parent: a listed object whose ETag and size are its key's newest
  // captured version is taken from the journal, not read again (docs/format.md#journal).
  const range = keyRange(lower, upper);
  const captured = await capturedSince(deps, plan, parentRecord, range);

  // A reconcile compares the listing with what the parent and the journal say the range holds.
  const expected =
    record.mode === 'reconcile'
      ? await expectedState(deps, plan, record, parentRecord, parentEntries, range)
      : undefined;
  const seen = new Set<string>();
  let reconcileMissed = resume?.reconcileMissed ?? 0;
  const countUnseen = (upTo: string | undefined) => {
    if (!expected) return;
    for (const key of expected.keys()) {
      if (seen.has(key) || (resume?.afterKey !== undefined && compareKeys(key, resume.afterKey) <= 0))
        continue;
      if (upTo === undefined || compareKeys(key, upTo) <= 0) reconcileMissed += 1;
    }
  };

  const counters: Counters = {
    objectsRead: resume?.objectsRead ?? 0,
    blobsWritten: resume?.blobsWritten ?? 0,
    packsWritten: resume?.packsWritten ?? 0,
    storedBytesWritten: resume?.storedBytesWritten ?? 0,
    objectsVanished: resume?.objectsVanished ?? 0,
  };
  const packs = new PackWriter(vaults.primary, envelope);
  let loadedIndex: VaultIndex | undefined;
  let loadingIndex: Promise<VaultIndex> | undefined;
  const vaultIndex = (): Promise<VaultIndex> => {
    // One look per invocation, shared by every object read in parallel (the promise is kept, not
    // its result: sixteen reads arriving together must not start sixteen loads). The index is the
    // one the container kept from its last invocation, refreshed (loaded on a cold start): blobs of
    // packs garbage collection marked count as absent there, stored again, never reused
    // (docs/format.md#garbage-collection).
    loadingIndex ??= (async () => {
      loadedIndex = await keptIndex(deps, vaults.primary);
      return loadedIndex;
    })();
    return loadingIndex;
  };
  const parts: PartRef[] = [...(resume?.parts ?? [])];
  let pending: ManifestEntry[] = []; // entries done but not yet in a stored part
  let bytesDone = 0;
  const reportProgress = throttled(clock, tuningOf(deps).progressIntervalMs, () =>
    catalog.updateTask(jobId, taskId, {
      progress: { done: parts.reduce((n, p) => n + p.objectCount, 0) + pending.length, bytes: bytesDone },
    }),
  );
  const limit = pLimit(tuningOf(deps).concurrency);
  /**
   * Objects whose read may pause are read one at a time, in batch order: a pause keeps one object's
   * progress, so a second one read beside it would be read again from its first byte by every
   * invocation (N² reads for N such objects). Each is read with its own chunks in parallel anyway.
   */
  const oneResumable = pLimit(1);
  const slotFor =
    (object: SourceObject) =>
    <T>(fn: () => Promise<T>): Promise<T> =>
      // The concurrency slot first, so that objects still start in batch order.
      limit(() => (object.sizeBytes >= tuningOf(deps).resumableObjectBytes ? oneResumable(fn) : fn()));
  const reserveMs = tuningOf(deps).timeReserveSeconds * 1000;

  /** Store the packs, then their index, then the parts of `entries` (write order). */
  const storeParts = async (entries: ManifestEntry[], cutTail: boolean): Promise<ManifestEntry[]> => {
    const stored = await packs.flush();
    loadedIndex?.addDocument(await writeIndex(vaults.primary, envelope, stored), stored);
    const { complete, rest } = cutParts(entries, parentCuts, cutTail);
    for (const group of complete) {
      const { ref } = await writePart(vaults.primary, envelope, plan.id, group, parentPartIds);
      parts.push(ref);
    }
    return rest;
  };

  let lastKey: string | undefined = resume?.afterKey;
  let batch: SourceObject[] = [];
  const outOfTime = () => deps.remainingTimeMs !== undefined && deps.remainingTimeMs() < reserveMs;
  // The object whose read paused in the last invocation goes on where it stopped, if still the same.
  let pausedBefore = resume?.object;
  const readingOf = async (object: SourceObject): Promise<Resumable> => {
    const reading = { pause: outOfTime, minBytes: tuningOf(deps).resumableObjectBytes };
    const before = pausedBefore;
    if (before?.key !== object.key) return reading;
    pausedBefore = undefined;
    if (before.etag !== object.etag || before.sizeBytes !== object.sizeBytes) return reading;
    const from = await objectProgressOf(vaults.primary, envelope, plan.id, before);
    // Its chunks so far are reused only while the index (without marked packs) locates them all.
    const index = from && (await vaultIndex());
    return from && index && from.blobs.every((b) => index.locate(b)) ? { ...reading, from } : reading;
  };
  /**
   * Store the batch's objects. A read that paused (time ran low) ends the batch at its object: the
   * entries before it are kept; the objects after it are not started, or their entries dropped
   * (their blobs are stored, and the next invocation finds them in the index); its progress is
   * returned with `stopped`.
   */
  const runBatch = async (): Promise<{
    stopped: boolean;
    paused?: { progress: ObjectProgress; lastModified: string };
  }> => {
    let stopping = false;
    const results = await Promise.allSettled(
      batch.map((object) =>
        slotFor(object)(async () => {
          if (stopping) return NOT_STARTED; // a read paused: time is short, the next invocation goes on
          try {
            const entry = await entryFor(
              deps,
              plan,
              object,
              parentEntries.get(object.key),
              captured.get(object.key),
              packs,
              vaultIndex,
              counters,
              await readingOf(object),
            );
            bytesDone += object.sizeBytes;
            await reportProgress();
            return entry;
          } catch (error) {
            if (error instanceof ReadPaused) stopping = true;
            throw error;
          }
        }),
      ),
    );
    // The batch ends at its first object that paused or was not started (objects start in order).
    const stop = results.findIndex(
      (r) =>
        (r.status === 'rejected' && r.reason instanceof ReadPaused) ||
        (r.status === 'fulfilled' && r.value === NOT_STARTED),
    );
    const done = stop < 0 ? results : results.slice(0, stop);
    const failed = done.find((r) => r.status === 'rejected');
    if (failed?.status === 'rejected') throw failed.reason;
    for (const r of done)
      if (r.status === 'fulfilled' && r.value && r.value !== NOT_STARTED) pending.push(r.value);
    // A reconcile counts what the listing shows against what it expected for the objects kept only:
    // the others are listed again by the next invocation, and counted then.
    for (const object of expected ? batch.slice(0, done.length) : []) {
      seen.add(object.key);
      const want = expected?.get(object.key);
      if (!want || want.etag !== object.etag || want.sizeBytes !== object.sizeBytes) reconcileMissed += 1;
    }
    const reason = stop < 0 ? undefined : (results[stop] as PromiseSettledResult<unknown>);
    lastKey = (stop < 0 ? batch.at(-1) : batch[stop - 1])?.key ?? lastKey;
    const object = batch[stop];
    batch = [];
    if (stop < 0) return { stopped: false };
    return reason?.status === 'rejected' && reason.reason instanceof ReadPaused && object
      ? { stopped: true, paused: { progress: reason.reason.progress, lastModified: object.lastModified } }
      : { stopped: true };
  };

  /** Store what is done, record the checkpoint, and re-enqueue the partition to go on from it. */
  const continueLater = async (
    paused: { progress: ObjectProgress; lastModified: string } | undefined,
  ): Promise<SnapshotResult> => {
    // Packs, index, parts; then the paused object's progress part: write order.
    pending = await storeParts(pending, true);
    const object =
      paused &&
      (await recordObjectProgress(vaults.primary, envelope, plan.id, paused.progress, paused.lastModified));
    if (lastKey !== undefined) countUnseen(lastKey); // nothing before the paused object is done yet
    const next: PartitionResume = {
      ...(lastKey === undefined ? {} : { afterKey: lastKey }),
      parts,
      ...(expected ? { reconcileMissed } : {}),
      ...counters,
      packsWritten: counters.packsWritten + packs.packsWritten,
      storedBytesWritten: counters.storedBytesWritten + packs.storedBytesWritten,
      invocations: (resume?.invocations ?? 1) + 1,
      seconds: (resume?.seconds ?? 0) + (clock.now().getTime() - started.getTime()) / 1000,
      ...(record.time ? { planTime: record.time } : {}),
      ...(object ? { object } : {}),
    };
    // The checkpoint in the catalog first: it keeps the parts live for garbage collection, and a
    // delivery without `resume` (a re-drive) goes on from it. A second delivery of the message
    // this invocation ran from finds a checkpoint as far along already, and stops.
    const checkpoint = { ...next, partition: index, checkpointedAt: nowIso(clock) };
    if (!(await catalog.putPartitionCheckpoint(plan.id, record.snapshotId, checkpoint))) {
      return {
        status: 'SKIPPED',
        snapshotId: record.snapshotId,
        partition: index,
        reason: 'another delivery of this partition recorded its checkpoint first',
      };
    }
    await deps.queue.send(partitionTask(task, index, next));
    await catalog.updateTask(jobId, taskId, {
      progress: { done: parts.reduce((n, p) => n + p.objectCount, 0) },
    });
    return { status: 'CONTINUED', snapshotId: record.snapshotId, partition: index };
  };

  const startAfter = resume?.afterKey ?? lower;
  for await (const object of sourceOf(deps, plan.source).list(startAfter ? { startAfter } : {})) {
    if (upper !== undefined && compareKeys(object.key, upper) > 0) break;
    if (batch.length >= tuningOf(deps).partitionBatchObjects) {
      const ran = await runBatch();
      // More objects follow: is there time for them? Out of time: the next invocation goes on.
      if (ran.stopped || (outOfTime() && lastKey !== undefined)) return continueLater(ran.paused);
    }
    batch.push(object);
  }
  if (batch.length > 0) {
    const ran = await runBatch();
    if (ran.stopped) return continueLater(ran.paused);
  }
  await storeParts(pending, true);
  countUnseen(undefined);

  const summary: PartitionSummary = {
    partition: index,
    parts,
    objectCount: parts.reduce((n, p) => n + p.objectCount, 0),
    logicalBytes: parts.reduce((n, p) => n + p.logicalBytes, 0),
    ...counters,
    packsWritten: counters.packsWritten + packs.packsWritten,
    storedBytesWritten: counters.storedBytesWritten + packs.storedBytesWritten,
    invocations: resume?.invocations ?? 1,
    seconds: (resume?.seconds ?? 0) + (clock.now().getTime() - started.getTime()) / 1000,
    doneAt: nowIso(clock),
    ...(expected ? { reconcileMissed } : {}),
    ...(record.time ? { planTime: record.time } : {}),
  };
  const { counted } = await catalog.completePartition(plan.id, record.snapshotId, summary);
  await catalog.updateTask(jobId, taskId, {
    status: 'SUCCEEDED',
    finishedAt: nowIso(clock),
    progress: { done: summary.objectCount, total: summary.objectCount, bytes: summary.logicalBytes },
  });
  const result = await afterPartition(deps, plan, record, task, index, counted);
  return { ...summaryResult(summary), ...result, snapshotId: record.snapshotId, partition: index };
}

/** After a partition is done (now or before): enqueue the next one in its window, seal when last. */
export async function afterPartition(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
  index: number,
  counted: boolean,
): Promise<SnapshotResult> {
  const { catalog } = deps;
  const total = (record.partitionBoundaries?.length ?? 0) + 1;
  const summaries = await catalog.listPartitions(plan.id, record.snapshotId);
  const done = new Set(summaries.map((s) => s.partition));
  const window = plan.snapshot?.maxParallelPartitions ?? DEFAULT_MAX_PARALLEL_PARTITIONS;
  const next = index + window;
  if (next < total && !done.has(next)) await deps.queue.send(partitionTask(task, next));
  await catalog.updateTask(jobIdOf(record), 'snapshot', {
    progress: {
      done: summaries.reduce((n, s) => n + s.objectCount, 0),
      bytes: summaries.reduce((n, s) => n + s.logicalBytes, 0),
    },
  });
  if (done.size === total) return seal(deps, plan, record.snapshotId);
  return { status: counted ? 'PARTITION_DONE' : 'SKIPPED', snapshotId: record.snapshotId, partition: index };
}

function summaryResult(s: PartitionSummary): Omit<SnapshotResult, 'status' | 'snapshotId'> {
  return {
    objectCount: s.objectCount,
    logicalBytes: s.logicalBytes,
    objectsRead: s.objectsRead,
    blobsWritten: s.blobsWritten,
    packsWritten: s.packsWritten,
    storedBytesWritten: s.storedBytesWritten,
    objectsVanished: s.objectsVanished,
    seconds: s.seconds,
  };
}
