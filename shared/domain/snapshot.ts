/**
 * Taking a snapshot, fanned out by key range (docs/format.md#partitions):
 *
 * 1. The snapshot task (no `partition`) plans: it splits the source into key ranges — at the
 *    boundaries of the parent's manifest parts, or from a first listing — records the plan once on
 *    the snapshot record (boundaries, parent, time), and enqueues the first partitions.
 * 2. Each partition task lists its range, reuses the parent's entries for unchanged objects, reads
 *    changed ones chunk by chunk into packs, then stores packs → index → manifest parts, and counts
 *    itself done with its summary in one conditional transaction. When its time budget runs low it
 *    stores what it has and re-enqueues itself from the last key done.
 * 3. The partition whose count completes the plan seals: manifest root last, then the conditional
 *    RUNNING → COMMITTED (exactly once, whatever is delivered twice).
 * @see ../../docs/format.md#read-and-write-ordering
 */
import pLimit from 'p-limit';
import { ConflictError, NotFoundError, reasonOf, SourceUnavailableError, TransientError } from './errors.ts';
import { latestByKey } from './journal.ts';
import { snapshotFromJournal } from './journal-snapshot.ts';
import { nowIso, type PipelineDeps, recordTaskFailure, throttled, tuningOf } from './pipeline.ts';
import {
  DEFAULT_MAX_PARALLEL_PARTITIONS,
  DEFAULT_PARTITION_OBJECTS,
  DEFAULT_RECONCILE_SCHEDULE,
} from './plan.ts';
import { manifestEntryOfJournal } from './point-in-time.ts';
import type { SourceObject } from './ports.ts';
import { readObjectChunks } from './reader.ts';
import type {
  PartitionCheckpoint,
  PartitionPlan,
  PartitionSummary,
  PlanRecord,
  SnapshotRecord,
} from './records.ts';
import {
  PackWriter,
  readAllEntries,
  readManifest,
  VaultIndex,
  writeIndex,
  writeManifest,
  writePart,
} from './repository.ts';
import { missingParts, resetLostWork } from './retry.ts';
import { latestOccurrence, parseSchedule } from './schedule.ts';
import { jobIdOf, type PartitionResume, partitionTask, type SnapshotTask, type Task } from './tasks.ts';
import {
  type ContentId,
  compareKeys,
  contentIdOf,
  type Manifest,
  type ManifestEntry,
  manifestRoot,
  PART_MAX_ENTRIES,
  type PartRef,
} from './vault.ts';

/** Entries a new part gets before it is cut, when no parent part boundary cuts it first. */
export const PART_TARGET_ENTRIES = 1000;

/** What a snapshot task did. */
export interface SnapshotResult {
  /**
   * PLANNED: partitions enqueued; PARTITION_DONE: a partition stored and counted (others remain);
   * CONTINUED: the time budget ran low, the rest was re-enqueued (or the seal found parts missing
   * and enqueued their partitions again); COMMITTED: this task sealed it.
   */
  status:
    | 'PLANNED'
    | 'PARTITION_DONE'
    | 'CONTINUED'
    | 'COMMITTED'
    | 'ALREADY_COMMITTED'
    | 'FAILED'
    | 'SKIPPED';
  snapshotId: string;
  partition?: number;
  partitions?: number;
  objectCount?: number;
  logicalBytes?: number;
  objectsRead?: number;
  blobsWritten?: number;
  packsWritten?: number;
  storedBytesWritten?: number;
  /** Objects listed but gone before they could be read (deleted meanwhile). */
  objectsVanished?: number;
  seconds?: number;
  reason?: string;
}

/**
 * Run a snapshot task: `snapshot-plan` plans the snapshot, `snapshot-partition` stores one partition.
 * @throws NotFoundError (not retryable) when the plan or the job does not exist.
 * @throws TransientError (retryable) on storage or catalog failures that may pass; a redelivered
 *   partition starts its range over (or from its last checkpoint), reusing what the index holds.
 * A missing or unreadable source bucket is not thrown: the job and snapshot are marked FAILED with
 * the reason, and the previous snapshots stay intact.
 * @example
 * ```ts
 * await takeSnapshot(deps, { kind: 'snapshot-plan', planId: 'photos', snapshotId, scheduledAt });
 * await takeSnapshot(deps, { kind: 'snapshot-partition', planId: 'photos', snapshotId, scheduledAt, partition: { index: 0 } });
 * ```
 */
export async function takeSnapshot(deps: PipelineDeps, task: SnapshotTask): Promise<SnapshotResult> {
  const { catalog } = deps;
  const jobId = jobIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  const record = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!record)
    throw new NotFoundError(
      `snapshot ${jobId} has no job: start it with the scheduler or 'strongbox backup'`,
    );
  if (record.status === 'COMMITTED') {
    // A redelivery after the commit: make sure the next stage was asked for, then stop.
    await fanOutAfterCommit(deps, plan, task.snapshotId);
    return { status: 'ALREADY_COMMITTED', snapshotId: task.snapshotId };
  }
  if (record.status !== 'RUNNING')
    return { status: 'SKIPPED', snapshotId: task.snapshotId, reason: record.status };

  const taskId = task.kind === 'snapshot-partition' ? `snapshot:p${task.partition.index}` : 'snapshot';
  try {
    if (task.kind === 'snapshot-plan') return await planSnapshot(deps, plan, record, task);
    const resume = await resumeOf(deps, record, task.partition.index, task.partition.resume);
    return await runPartition(deps, plan, record, task, task.partition.index, resume);
  } catch (error) {
    if (!(error instanceof SourceUnavailableError)) {
      await recordTaskFailure(deps, jobId, taskId, error);
      throw error;
    }
    const reason = reasonOf(error);
    await failSnapshot(deps, record, taskId, reason);
    return { status: 'FAILED', snapshotId: task.snapshotId, reason };
  }
}

async function failSnapshot(deps: PipelineDeps, record: SnapshotRecord, taskId: string, reason: string) {
  const { catalog, clock } = deps;
  const jobId = jobIdOf(record);
  await catalog.updateSnapshot(record.planId, record.snapshotId, { status: 'FAILED', error: reason }, [
    'RUNNING',
  ]);
  await catalog.updateJob(jobId, { status: 'FAILED', error: reason, updatedAt: nowIso(clock) });
  await catalog.updateTask(jobId, taskId, { status: 'FAILED', error: reason, finishedAt: nowIso(clock) });
}

/**
 * Plan a snapshot: record its partition plan (once) and enqueue the partitions not done yet, at most
 * the plan's `maxParallelPartitions` of them; each finishing partition enqueues the next.
 */
async function planSnapshot(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
): Promise<SnapshotResult> {
  const { catalog, clock } = deps;
  const jobId = jobIdOf(record);
  await catalog.startTask(jobId, 'snapshot', nowIso(clock));
  let recorded: PartitionPlan;
  if (record.partitionBoundaries) {
    // Planned before (a retry, or this task delivered again): keep only work that is still whole.
    await resetLostWork(deps, plan.id, record.snapshotId);
    recorded = {
      boundaries: record.partitionBoundaries,
      parentSnapshotId: record.parentSnapshotId ?? null,
      time: record.time ?? nowIso(clock),
    };
  } else {
    const time = nowIso(clock);
    const parent = await latestCommittedBefore(deps, plan.id, record.snapshotId);
    if (plan.continuous && parent?.manifestId) {
      const mode = await continuousMode(deps, plan, parent);
      if (mode === 'journal') return journalBuilt(deps, plan, record, parent);
      await catalog.updateSnapshot(plan.id, record.snapshotId, { mode }, ['RUNNING']);
      record.mode = mode;
    }
    const target = plan.snapshot?.partitionObjects ?? DEFAULT_PARTITION_OBJECTS;
    const boundaries = parent?.manifestId
      ? boundariesFromParent(
          await readManifest(deps.vaults.primary, deps.envelope, plan.id, parent.manifestId),
          target,
        )
      : await boundariesFromListing(deps, plan, target);
    recorded = await catalog.planPartitions(plan.id, record.snapshotId, {
      boundaries,
      parentSnapshotId: parent?.snapshotId ?? null,
      time,
    });
  }
  const total = recorded.boundaries.length + 1;
  const done = new Set((await catalog.listPartitions(plan.id, record.snapshotId)).map((p) => p.partition));
  const window = plan.snapshot?.maxParallelPartitions ?? DEFAULT_MAX_PARALLEL_PARTITIONS;
  const todo = [...Array(total).keys()].filter((i) => !done.has(i)).slice(0, window);
  for (const index of todo) await deps.queue.send(partitionTask(task, index));
  await catalog.updateTask(jobId, 'snapshot', { progress: { done: done.size, total } });
  if (todo.length === 0 && done.size === total) {
    // Every partition is done (a redelivered plan task after a crash before the seal): seal now.
    return seal(deps, plan, record.snapshotId);
  }
  return { status: 'PLANNED', snapshotId: record.snapshotId, partitions: total };
}

/** Boundaries at the parent's part boundaries, grouping parts until a group holds `target` objects. */
export function boundariesFromParent(parent: Pick<Manifest, 'parts'>, target: number): string[] {
  const boundaries: string[] = [];
  let objects = 0;
  for (const [i, part] of parent.parts.entries()) {
    objects += part.objectCount;
    if (objects >= target && i < parent.parts.length - 1) {
      boundaries.push(part.lastKey);
      objects = 0;
    }
  }
  return boundaries;
}

/** Boundaries every `target` keys of one listing (the first snapshot of a plan). Keeps only the keys. */
async function boundariesFromListing(
  deps: PipelineDeps,
  plan: PlanRecord,
  target: number,
): Promise<string[]> {
  const boundaries: string[] = [];
  let n = 0;
  let pending: string | undefined;
  for await (const o of deps.objects.list(plan.source.bucket, plan.source.prefix)) {
    if (pending !== undefined) {
      boundaries.push(pending); // only a boundary when some key follows it
      pending = undefined;
    }
    n += 1;
    if (n % target === 0) pending = o.key;
  }
  return boundaries;
}

interface Counters {
  objectsRead: number;
  blobsWritten: number;
  packsWritten: number;
  storedBytesWritten: number;
  objectsVanished: number;
}

/**
 * Where a partition goes on from: the `resume` its message carries or the checkpoint the catalog
 * records for it, whichever is further along (more invocations); none when neither exists.
 */
async function resumeOf(
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

/** Store one partition (or the rest of it, from `resume`); the last to finish seals. */
async function runPartition(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
  index: number,
  resume: PartitionResume | undefined,
): Promise<SnapshotResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const jobId = jobIdOf(record);
  const taskId = `snapshot:p${index}`;
  const boundaries = record.partitionBoundaries;
  if (!boundaries) throw new TransientError(`snapshot ${jobId} has no partition plan yet`);
  if (index > boundaries.length) throw new NotFoundError(`snapshot ${jobId} has no partition ${index}`);
  if ((await catalog.listPartitions(plan.id, record.snapshotId)).some((p) => p.partition === index)) {
    return afterPartition(deps, plan, record, task, index, false);
  }
  const started = clock.now();
  await catalog.startTask(jobId, taskId, started.toISOString());

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
  const captured = await capturedSince(deps, plan, parentRecord, inRange);

  // A reconcile compares the listing with what the parent and the journal say the range holds.
  const expected =
    record.mode === 'reconcile'
      ? await expectedState(deps, plan, record, parentRecord, parentEntries, inRange)
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
    // One load per invocation, shared by every object read in parallel (the promise is kept, not
    // its result: sixteen reads arriving together must not start sixteen loads).
    // Blobs of packs garbage collection marked count as absent: stored again, never reused
    // (docs/format.md#garbage-collection). The marks are read before the index is listed.
    loadingIndex ??= (async () => {
      const marks = await catalog.listGcMarks(vaults.primary.bucket);
      loadedIndex = await VaultIndex.load(vaults.primary, envelope, {
        ...deps,
        cached: true,
        exclude: new Set(marks.map((m) => m.packId)),
      });
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
  const reserveMs = tuningOf(deps).timeReserveSeconds * 1000;

  /** Store the packs, then their index, then the parts of `entries` (write order). */
  const storeParts = async (entries: ManifestEntry[], cutTail: boolean): Promise<ManifestEntry[]> => {
    const stored = await packs.flush();
    await writeIndex(vaults.primary, envelope, stored);
    for (const pack of stored) loadedIndex?.addPack(pack);
    const { complete, rest } = cutParts(entries, parentCuts, cutTail);
    for (const group of complete) {
      const { ref } = await writePart(vaults.primary, envelope, plan.id, group, parentPartIds);
      parts.push(ref);
    }
    return rest;
  };

  let lastKey: string | undefined = resume?.afterKey;
  let batch: SourceObject[] = [];
  const runBatch = async () => {
    const results = await Promise.all(
      batch.map((object) =>
        limit(async () => {
          const entry = await entryFor(
            deps,
            plan,
            object,
            parentEntries.get(object.key),
            captured.get(object.key),
            packs,
            vaultIndex,
            counters,
          );
          bytesDone += object.sizeBytes;
          await reportProgress();
          return entry;
        }),
      ),
    );
    for (const entry of results) if (entry) pending.push(entry);
    lastKey = batch.at(-1)?.key ?? lastKey;
    batch = [];
  };

  const startAfter = resume?.afterKey ?? lower;
  for await (const object of deps.objects.list(
    plan.source.bucket,
    plan.source.prefix,
    startAfter ? { startAfter } : {},
  )) {
    if (upper !== undefined && compareKeys(object.key, upper) > 0) break;
    if (expected) {
      seen.add(object.key);
      const want = expected.get(object.key);
      if (!want || want.etag !== object.etag || want.sizeBytes !== object.sizeBytes) reconcileMissed += 1;
    }
    if (batch.length >= tuningOf(deps).partitionBatchObjects) {
      await runBatch();
      // More objects follow: is there time for them?
      if (deps.remainingTimeMs && deps.remainingTimeMs() < reserveMs && lastKey !== undefined) {
        // Out of time: store what is done (packs, index, parts) and let the next invocation go on.
        pending = await storeParts(pending, true);
        countUnseen(lastKey);
        const next: PartitionResume = {
          afterKey: lastKey,
          parts,
          ...(expected ? { reconcileMissed } : {}),
          ...counters,
          packsWritten: counters.packsWritten + packs.packsWritten,
          storedBytesWritten: counters.storedBytesWritten + packs.storedBytesWritten,
          invocations: (resume?.invocations ?? 1) + 1,
          seconds: (resume?.seconds ?? 0) + (clock.now().getTime() - started.getTime()) / 1000,
          ...(record.time ? { planTime: record.time } : {}),
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
      }
    }
    batch.push(object);
  }
  if (batch.length > 0) await runBatch();
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
async function afterPartition(
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

/**
 * Seal: every partition is done, so write the manifest root (last) and commit RUNNING → COMMITTED.
 * Two sealers (a duplicate delivery, a crash after counting) may both write a root; the conditional
 * commit lets one win, and the other root is never visible (garbage collection removes it).
 */
async function seal(deps: PipelineDeps, plan: PlanRecord, snapshotId: string): Promise<SnapshotResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const record = await catalog.getSnapshot(plan.id, snapshotId);
  if (!record) throw new NotFoundError(`snapshot ${plan.id}/${snapshotId} does not exist`);
  if (record.status === 'COMMITTED') return { status: 'ALREADY_COMMITTED', snapshotId };
  if (record.status !== 'RUNNING') return { status: 'SKIPPED', snapshotId, reason: record.status };
  const summaries = await catalog.listPartitions(plan.id, snapshotId);
  const total = (record.partitionBoundaries?.length ?? 0) + 1;
  if (summaries.length !== total)
    throw new TransientError(`snapshot ${plan.id}/${snapshotId}: not every partition is done`);
  const parts = summaries.flatMap((s) => s.parts);
  // Never a root naming a part the vault lacks (garbage collection deleted the work of a snapshot
  // that was failed long enough): the partitions that wrote such parts run again.
  const missing = await missingParts(deps, plan.id, parts);
  if (missing.size > 0) {
    const rerun = summaries.filter((s) => s.parts.some((p) => missing.has(p.partId))).map((s) => s.partition);
    for (const index of rerun) {
      await catalog.resetPartition(plan.id, snapshotId, index);
      await deps.queue.send({
        kind: 'snapshot-partition',
        planId: plan.id,
        snapshotId,
        scheduledAt: record.scheduledAt,
        partition: { index },
      });
    }
    return {
      status: 'CONTINUED',
      snapshotId,
      reason: `partition(s) ${rerun.join(', ')} run again: ${missing.size} part(s) are missing`,
    };
  }
  const completedAt = clock.now();
  const time = record.time ?? completedAt.toISOString();
  const manifest = manifestRoot(
    {
      planId: plan.id,
      snapshotId,
      parentSnapshotId: record.parentSnapshotId ?? null,
      source: plan.source,
      scheduledAt: record.scheduledAt,
      time,
      completedAt: completedAt.toISOString(),
    },
    parts,
  );
  // Manifest root last: every part, index and pack it depends on is stored by now.
  const { manifestId } = await writeManifest(vaults.primary, envelope, manifest);
  const sum = (f: (s: PartitionSummary) => number) => summaries.reduce((n, s) => n + f(s), 0);
  const seconds = (completedAt.getTime() - Date.parse(time)) / 1000;
  const totals = {
    objectCount: manifest.totals.objectCount,
    logicalBytes: manifest.totals.logicalBytes,
    objectsRead: sum((s) => s.objectsRead),
    blobsWritten: sum((s) => s.blobsWritten),
    packsWritten: sum((s) => s.packsWritten),
    storedBytesWritten: sum((s) => s.storedBytesWritten),
    objectsVanished: sum((s) => s.objectsVanished),
  };
  const committed = await catalog.updateSnapshot(
    plan.id,
    snapshotId,
    {
      status: 'COMMITTED',
      startedAt: time,
      committedAt: completedAt.toISOString(),
      manifestId,
      objectCount: totals.objectCount,
      logicalBytes: totals.logicalBytes,
      objectsRead: totals.objectsRead,
      blobsWritten: totals.blobsWritten,
      packsWritten: totals.packsWritten,
      storedBytesWritten: totals.storedBytesWritten,
      seconds,
      // The listing ran after `time`: every change captured up to then is in it.
      ...(plan.continuous ? { journalUntil: time } : {}),
      ...(record.mode === 'reconcile' ? { reconcileMissed: sum((s) => s.reconcileMissed ?? 0) } : {}),
      regions: Object.fromEntries(plan.copyRegions.map((region) => [region, { status: 'PENDING' as const }])),
    },
    ['RUNNING'],
  );
  if (!committed) return { status: 'ALREADY_COMMITTED', snapshotId };
  const jobId = jobIdOf(record);
  await catalog.updateTask(jobId, 'snapshot', {
    status: 'SUCCEEDED',
    finishedAt: completedAt.toISOString(),
    progress: { done: totals.objectCount, total: totals.objectCount, bytes: totals.logicalBytes },
    result: { status: 'COMMITTED', partitions: total, seconds, ...totals },
  });
  await fanOutAfterCommit(deps, plan, snapshotId);
  return { status: 'COMMITTED', snapshotId, partitions: total, seconds, ...totals };
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

/**
 * Cut entries (in key order) into parts: at the parent's part boundaries (so an unchanged part is
 * the same part), at {@link PART_TARGET_ENTRIES} where no parent part covers the keys, and never
 * above {@link PART_MAX_ENTRIES}. With `cutTail` false the last, possibly unfinished group is
 * returned as `rest`.
 */
export function cutParts(
  entries: readonly ManifestEntry[],
  parentCuts: readonly string[],
  cutTail: boolean,
): { complete: ManifestEntry[][]; rest: ManifestEntry[] } {
  const slotOf = (key: string): number => {
    let lo = 0;
    let hi = parentCuts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(parentCuts[mid] as string, key) >= 0) hi = mid;
      else lo = mid + 1;
    }
    return lo; // the first parent part whose last key is ≥ key; parentCuts.length = past them all
  };
  const complete: ManifestEntry[][] = [];
  let group: ManifestEntry[] = [];
  let slot = -1;
  for (const entry of entries) {
    const s = slotOf(entry.key);
    const limit = s < parentCuts.length ? PART_MAX_ENTRIES : PART_TARGET_ENTRIES;
    if (group.length > 0 && (s !== slot || group.length >= limit)) {
      complete.push(group);
      group = [];
    }
    group.push(entry);
    slot = s;
  }
  if (group.length > 0) {
    if (cutTail) complete.push(group);
    else return { complete, rest: group };
  }
  return { complete, rest: [] };
}

/**
 * The manifest entry of one listed object: the parent's when unchanged (same ETag and size), else
 * read chunk by chunk into the pack writer. Undefined when the object vanished after the listing.
 */
async function entryFor(
  deps: PipelineDeps,
  plan: PlanRecord,
  object: SourceObject,
  previous: ManifestEntry | undefined,
  captured: ManifestEntry | undefined,
  packs: PackWriter,
  vaultIndex: () => Promise<VaultIndex>,
  counters: Counters,
): Promise<ManifestEntry | undefined> {
  for (const known of [previous, captured]) {
    if (known && known.etag === object.etag && known.sizeBytes === object.sizeBytes) {
      return { ...known, lastModified: object.lastModified };
    }
  }
  const index = await vaultIndex();
  const store = async (chunk: Uint8Array): Promise<ContentId> => {
    const blobId = contentIdOf(chunk);
    if (!packs.added.has(blobId) && !index.locate(blobId)) {
      counters.blobsWritten += 1;
      await packs.add(blobId, chunk);
    }
    return blobId;
  };
  // Overwritten while its chunks were read: read it again, whole, at once (3 reads in all).
  const retryIf = (error: unknown) => error instanceof ConflictError;
  try {
    const read = () => readObjectChunks(deps.objects, plan.source.bucket, object, {}, store);
    const entry = await deps.retry(read, { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0, retryIf });
    counters.objectsRead += 1;
    return entry;
  } catch (error) {
    if (error instanceof NotFoundError) {
      counters.objectsVanished += 1; // deleted after the listing: not part of this snapshot
      return undefined;
    }
    throw error instanceof ConflictError
      ? new TransientError(`${object.key} keeps changing while it is read`, { cause: error })
      : error;
  }
}

/**
 * The newest captured version of each key in range that capture journaled after the parent's time,
 * as manifest entries. Their blobs are stored and indexed (capture journals last) and stay live for
 * garbage collection while the parent is (it keeps journaled blobs since the oldest snapshot), so a
 * snapshot may name them without reading the object or the vault index. Empty without a parent.
 */
async function capturedSince(
  deps: PipelineDeps,
  plan: PlanRecord,
  parent: SnapshotRecord | undefined,
  inRange: (key: string) => boolean,
): Promise<Map<string, ManifestEntry>> {
  const out = new Map<string, ManifestEntry>();
  if (!parent?.time) return out;
  const journal = (await deps.catalog.listJournal(plan.id, { capturedAfter: parent.time })).filter(
    (e) => e.bucket === plan.source.bucket && e.key.startsWith(plan.source.prefix) && inRange(e.key),
  );
  for (const [key, change] of latestByKey(journal)) {
    const entry = manifestEntryOfJournal(change);
    if (entry) out.set(key, entry);
  }
  return out;
}

/**
 * Under continuous protection, how the next snapshot is built: from the journal, unless the parent
 * has no journal position (continuous protection just began: a listing), its journal lost a change
 * (a reconcile repairs it), or an occurrence of the reconcile schedule has passed since the last
 * snapshot that listed the source (a reconcile).
 */
async function continuousMode(
  deps: PipelineDeps,
  plan: PlanRecord,
  parent: SnapshotRecord,
): Promise<'journal' | 'listing' | 'reconcile'> {
  if (!parent.journalUntil) return 'listing';
  if (parent.journalLost) return 'reconcile';
  const listed = (await deps.catalog.listSnapshots(plan.id))
    .filter((s) => s.status === 'COMMITTED' && s.mode !== 'journal' && s.time)
    .at(-1);
  const schedule = parseSchedule(plan.continuous?.reconcileSchedule ?? DEFAULT_RECONCILE_SCHEDULE);
  const occurrence = latestOccurrence(schedule, new Date(plan.createdAt), deps.clock.now());
  return occurrence && (!listed || occurrence.getTime() > Date.parse(listed.time as string))
    ? 'reconcile'
    : 'journal';
}

/** Build the snapshot from its parent and the journal (no listing), and ask for the next stage. */
async function journalBuilt(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  parent: SnapshotRecord,
): Promise<SnapshotResult> {
  const settleMs = (plan.continuous?.settleSeconds ?? 30) * 1000;
  const now = deps.clock.now().getTime();
  const until = new Date(Math.max(Date.parse(parent.journalUntil as string), now - settleMs)).toISOString();
  const result = await snapshotFromJournal(deps, plan, record, parent, until);
  if (result.status === 'COMMITTED') await fanOutAfterCommit(deps, plan, record.snapshotId);
  return {
    status: result.status,
    snapshotId: record.snapshotId,
    objectCount: result.objectCount,
    logicalBytes: result.logicalBytes,
    objectsRead: 0,
    seconds: result.seconds,
  };
}

/**
 * What a reconcile partition expects its range to hold: the parent's entries with the journal
 * captured since the parent (up to this snapshot's time) applied, by key.
 */
async function expectedState(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  parent: SnapshotRecord | undefined,
  parentEntries: ReadonlyMap<string, ManifestEntry>,
  inRange: (key: string) => boolean,
): Promise<Map<string, Pick<ManifestEntry, 'etag' | 'sizeBytes'>>> {
  const expected = new Map<string, Pick<ManifestEntry, 'etag' | 'sizeBytes'>>(parentEntries);
  const journal = await deps.catalog.listJournal(plan.id, {
    ...(parent?.journalUntil ? { capturedAfter: parent.journalUntil } : {}),
    ...(record.time ? { capturedUntil: record.time } : {}),
  });
  const changes = latestByKey(
    journal.filter(
      (e) => e.bucket === plan.source.bucket && e.key.startsWith(plan.source.prefix) && inRange(e.key),
    ),
  );
  for (const change of changes.values()) {
    if (change.outcome === 'removed') expected.delete(change.key);
    else if (change.outcome === 'captured') {
      expected.set(change.key, { etag: change.etag ?? '', sizeBytes: change.sizeBytes ?? 0 });
    }
  }
  return expected;
}

/** The newest COMMITTED snapshot of a plan older than `snapshotId` (ids sort by time). */
async function latestCommittedBefore(
  deps: PipelineDeps,
  planId: string,
  snapshotId: string,
): Promise<SnapshotRecord | undefined> {
  const all = await deps.catalog.listSnapshots(planId);
  return all.filter((s) => s.status === 'COMMITTED' && s.snapshotId < snapshotId).at(-1);
}

/**
 * Ask for the stage after a commit: a copy task per copy region, or verification when the plan
 * copies nowhere. Safe to repeat: every downstream task is idempotent.
 */
async function fanOutAfterCommit(deps: PipelineDeps, plan: PlanRecord, snapshotId: string): Promise<void> {
  const next: Task[] =
    plan.copyRegions.length > 0
      ? plan.copyRegions.map((region) => ({ kind: 'copy', planId: plan.id, snapshotId, region }))
      : [{ kind: 'verify', planId: plan.id, snapshotId }];
  for (const task of next) await deps.queue.send(task);
}
