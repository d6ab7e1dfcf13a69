/**
 * The catalog's ports: pipeline state (DynamoDB on AWS), one narrow interface per concern, and
 * {@link Catalog}, all of them together. Re-exported by ports.ts; the records they store are in
 * records.ts. @see ../../docs/format.md#catalog
 */

import type { AnomalyFinding, ChangeCounts, FindingWrite, MinuteCounts } from './detector/model.ts';
import type { SourceSettingsRecord } from './detector/source-settings.ts';
import type {
  DrillHistory,
  GcMark,
  JobRecord,
  JournalEntry,
  LegalHold,
  ListingLeg,
  PartitionCheckpoint,
  PartitionPlan,
  PartitionSummary,
  PlanRecord,
  QuarantineRecord,
  RegionCopy,
  RestoreJobRecord,
  RestoreSliceCounts,
  SnapshotRecord,
  SnapshotStatus,
  TaskRecord,
} from './records.ts';

/**
 * Pipeline state (DynamoDB on AWS). Writes that decide who does a piece of work are conditional,
 * so duplicate deliveries cannot both win. The whole catalog, as its adapters implement it; a
 * function that needs only one concern may take the narrow port of that concern instead.
 */
export interface Catalog
  extends PlanCatalog,
    SnapshotCatalog,
    JobCatalog,
    RestoreJobCatalog,
    DrillCatalog,
    JournalCatalog,
    GcCatalog,
    DetectorCatalog {}

/** The catalog's plans: the plans applied, as stored ({@link PlanRecord}), and their quarantines. */
export interface PlanCatalog {
  putPlans(plans: readonly PlanRecord[]): Promise<void>;
  getPlan(planId: string): Promise<PlanRecord | undefined>;
  listPlans(): Promise<PlanRecord[]>;
  /**
   * Quarantine a plan, once: false (nothing written) when it is in quarantine already.
   * @throws TransientError (retryable). @see QuarantineRecord
   */
  putQuarantine(quarantine: QuarantineRecord): Promise<boolean>;
  /** A plan's quarantine, or undefined. @throws TransientError (retryable). */
  getQuarantine(planId: string): Promise<QuarantineRecord | undefined>;
  /** Every quarantine, by plan id. @throws TransientError (retryable). */
  listQuarantines(): Promise<QuarantineRecord[]>;
  /** Lift a plan's quarantine: false when it was in none. @throws TransientError (retryable). */
  liftQuarantine(planId: string): Promise<boolean>;
}

/**
 * The catalog's snapshots: their records (status, copies per region, legal hold) and their
 * partitions: the partition plan, the summaries of completed partitions and the checkpoints of
 * partitions continued across invocations. @see docs/format.md#partitions
 */
export interface SnapshotCatalog {
  getSnapshot(planId: string, snapshotId: string): Promise<SnapshotRecord | undefined>;
  /** Every snapshot of a plan, any status, oldest first. */
  listSnapshots(planId: string): Promise<SnapshotRecord[]>;
  /**
   * Set fields on a snapshot whose status is one of `when`; false when its status is not. A patch that
   * sets `status: 'FORGOTTEN'` also fails (false) while the snapshot is under legal hold, so a hold
   * placed after retention decided still wins. @see docs/format.md#retention
   */
  updateSnapshot(
    planId: string,
    snapshotId: string,
    patch: Partial<SnapshotRecord>,
    when: readonly SnapshotStatus[],
  ): Promise<boolean>;
  /** Set one region's copy state; returns the regions map after the write. */
  setRegionCopy(
    planId: string,
    snapshotId: string,
    region: string,
    copy: RegionCopy,
  ): Promise<Record<string, RegionCopy>>;
  deleteSnapshot(planId: string, snapshotId: string): Promise<void>;
  /**
   * Place (`hold` given) or clear (`hold` undefined: the field is removed) a snapshot's legal hold,
   * unless the snapshot is FORGOTTEN. Idempotent: placing replaces an earlier hold, clearing a snapshot
   * without one succeeds.
   * @returns false when the snapshot does not exist or is FORGOTTEN.
   * @throws TransientError (retryable) when the store fails.
   * @example
   * ```ts
   * await catalog.setLegalHold('photos', '20261121T234500Z', { since: now, reason: 'case 17' });
   * await catalog.setLegalHold('photos', '20261121T234500Z', undefined); // release
   * ```
   * @see docs/format.md#retention
   */
  setLegalHold(planId: string, snapshotId: string, hold: LegalHold | undefined): Promise<boolean>;

  /**
   * Record a RUNNING snapshot's partition plan (boundaries, parent, time) unless one is recorded.
   * @returns the plan now recorded (the first caller's), so every partition works from the same one.
   * @throws ConflictError (not retryable) when the snapshot is not RUNNING; NotFoundError.
   */
  planPartitions(planId: string, snapshotId: string, plan: PartitionPlan): Promise<PartitionPlan>;
  /**
   * Record one leg of a snapshot's first listing unless that leg is recorded already: of two
   * deliveries that listed the same leg, only the first goes on. Any number of boundaries fits
   * (DynamoDB moves long lists to overflow items, written first).
   * @returns false (nothing changed) when the leg is recorded.
   * @throws TransientError (retryable) when the store fails.
   * @see ../../docs/format.md#partitions
   */
  putListingLeg(planId: string, snapshotId: string, leg: ListingLeg): Promise<boolean>;
  /**
   * The recorded legs of a snapshot's first listing, in order, each whole. One query.
   * @throws TransientError (retryable) when the store fails.
   */
  listListingLegs(planId: string, snapshotId: string): Promise<ListingLeg[]>;
  /**
   * Store a partition's summary and count it on its snapshot, atomically and once: a second call for
   * the same partition is not counted. Counting needs the snapshot RUNNING.
   * @returns whether this call was counted, and the snapshot's counters after it.
   */
  completePartition(
    planId: string,
    snapshotId: string,
    summary: PartitionSummary,
  ): Promise<{ counted: boolean; done: number; total: number; status: SnapshotStatus }>;
  /** The summaries of a snapshot's completed partitions, by partition number. */
  listPartitions(planId: string, snapshotId: string): Promise<PartitionSummary[]>;
  /**
   * Record where a partition continued across invocations stands, replacing its previous checkpoint
   * only when `checkpoint.invocations` is greater than the stored one's: of two deliveries of one
   * message, only the first to record its checkpoint goes on. Any number of parts fits (DynamoDB
   * spreads them over several items; readers never see a checkpoint with some of its parts).
   * @returns false (nothing changed) when a checkpoint with as many invocations or more is stored.
   * @throws TransientError (retryable) when the store fails.
   * @see ../../docs/format.md#partitions
   */
  putPartitionCheckpoint(
    planId: string,
    snapshotId: string,
    checkpoint: PartitionCheckpoint,
  ): Promise<boolean>;
  /**
   * The checkpoints of a snapshot's partitions, by partition number, each whole. One query.
   * @throws TransientError (retryable) when the store fails.
   */
  listPartitionCheckpoints(planId: string, snapshotId: string): Promise<PartitionCheckpoint[]>;
  /**
   * Forget what a partition of a RUNNING snapshot did, so it runs again from its first key: remove
   * its summary (taking one from `partitionsDone`, once) and its checkpoint. Used when its parts or
   * blobs are gone (see docs/format.md#partitions, Failure and retry).
   * @returns whether a summary was removed. When the snapshot is not RUNNING nothing changes (false).
   * @throws TransientError (retryable) when the store fails.
   */
  resetPartition(planId: string, snapshotId: string, partition: number): Promise<boolean>;
}

/**
 * The catalog's jobs and their tasks: creating a job (with its RUNNING snapshot record), task
 * starts, updates and heartbeats, the running-task index and the reaper's conditional re-drives.
 * @see docs/format.md#tasks
 */
export interface JobCatalog {
  /** Create the job and its RUNNING snapshot record; false when they already exist (idempotent start). */
  createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  updateJob(jobId: string, patch: Partial<JobRecord>): Promise<void>;
  listJobs(planId: string): Promise<JobRecord[]>;

  /** Record that a task started; increments `attempts` and returns the record after the write. */
  startTask(jobId: string, taskId: string, at: string): Promise<TaskRecord>;
  updateTask(jobId: string, taskId: string, patch: Partial<TaskRecord>): Promise<void>;
  listTasks(jobId: string): Promise<TaskRecord[]>;
  /**
   * Record a heartbeat (`heartbeatAt = at`) on a task, only while it is RUNNING: a task that ended, or
   * was never started, is left alone.
   * @returns whether the heartbeat was recorded. @throws TransientError (retryable).
   * @see docs/format.md#tasks
   */
  heartbeatTask(jobId: string, taskId: string, at: string): Promise<boolean>;
  /**
   * Every task whose status is RUNNING, from the running-task index (item `pk` `RUNNING`, one per
   * task started by {@link Catalog.startTask}); never a scan of the table. Index entries of tasks that
   * ended since are dropped on the way.
   * @throws TransientError (retryable).
   */
  listRunningTasks(): Promise<TaskRecord[]>;
  /**
   * Take the right to re-drive a task, conditionally: only when its `redrives` is still
   * `expectedRedrives` (absent counts as 0) and it has not SUCCEEDED (a RUNNING task, a FAILED one
   * whose message waits for its retry, or no record yet); the record is then RUNNING. Sets `redrives = expectedRedrives + 1` and `heartbeatAt = at`, and indexes the task
   * as running. Of two reapers that read the same record (a tick delivered twice), one wins.
   * @returns false when another reaper got there first or the task ended. @throws TransientError (retryable).
   */
  redriveTask(jobId: string, taskId: string, expectedRedrives: number, at: string): Promise<boolean>;
}

/**
 * The catalog's fanned-out restores: restore jobs, their slices' completion markers and counters,
 * heartbeats, re-drives and their end.
 */
export interface RestoreJobCatalog {
  /**
   * Create a restore job; false when one with its id exists already (idempotent start). With
   * `sliceCounts` (its slices were cut by bytes: entries per slice, in order), they are stored
   * first, apart from the job, so the job stays small for the updates every slice makes.
   */
  createRestoreJob(job: RestoreJobRecord, sliceCounts?: readonly number[]): Promise<boolean>;
  /**
   * The entries per slice a job was created with (see {@link createRestoreJob}), or undefined: its
   * slices all hold `sliceSize` entries but the last. @throws TransientError (retryable).
   */
  getRestoreSliceCounts(restoreJobId: string): Promise<number[] | undefined>;
  /**
   * Store the keys slice `slice` of a restore of listed keys restores (at most 256 KiB of them:
   * `MAX_SLICE_KEY_BYTES` in restore/slices.ts), before the job is created; storing them again
   * writes the same. @throws TransientError (retryable).
   */
  putRestoreSliceKeys(restoreJobId: string, slice: number, keys: readonly string[]): Promise<void>;
  /** The keys stored for a slice ({@link putRestoreSliceKeys}), or undefined. @throws TransientError (retryable). */
  getRestoreSliceKeys(restoreJobId: string, slice: number): Promise<string[] | undefined>;
  getRestoreJob(restoreJobId: string): Promise<RestoreJobRecord | undefined>;
  /** The most recent restore jobs, newest first. */
  listRestoreJobs(limit?: number): Promise<RestoreJobRecord[]>;
  /**
   * Mark slice `slice` of a restore job done and add its counts to the job's, atomically and once:
   * a redelivered slice finds its marker and adds nothing (`counted: false`). Returns the job after
   * the write. Throws NotFoundError for an unknown job.
   */
  completeRestoreSlice(
    restoreJobId: string,
    slice: number,
    counts: RestoreSliceCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }>;
  /**
   * The slices of a restore job marked done ({@link Catalog.completeRestoreSlice}), ascending. One
   * query of the job's slice markers, never a scan. @throws TransientError (retryable).
   */
  listRestoreSlicesDone(restoreJobId: string): Promise<number[]>;
  /**
   * Record a heartbeat (`heartbeatAt = at`) on a restore job, only while it is RUNNING.
   * @returns whether it was recorded. @throws TransientError (retryable).
   * @see docs/format.md#tasks
   */
  heartbeatRestoreJob(restoreJobId: string, at: string): Promise<boolean>;
  /**
   * Take the right to re-drive a RUNNING restore job, conditionally: only when its `redrives` is still
   * `expectedRedrives` (absent counts as 0); sets `redrives = expectedRedrives + 1` and
   * `heartbeatAt = at`. Of two reapers that read the same record (a tick delivered twice), one wins.
   * @returns false when another reaper got there first or the job ended. @throws TransientError (retryable).
   */
  redriveRestoreJob(restoreJobId: string, expectedRedrives: number, at: string): Promise<boolean>;
  /**
   * End a RUNNING restore job: SUCCEEDED only once every slice is done, FAILED with a reason. False
   * when the job is not RUNNING (or, for SUCCEEDED, slices are missing): only one caller ends it.
   */
  finishRestoreJob(
    restoreJobId: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; at: string; error?: string },
  ): Promise<boolean>;
}

/** The catalog's restore drills: one drill history per plan, written with optimistic concurrency. */
export interface DrillCatalog {
  /** A plan's drill history; undefined before its first drill. */
  getDrillHistory(planId: string): Promise<DrillHistory | undefined>;
  /**
   * Write a plan's drill history if its stored version is still `expectedVersion` (0: none stored
   * yet); false when another writer got there first (read again and retry).
   */
  putDrillHistory(history: DrillHistory, expectedVersion: number): Promise<boolean>;
}

/** The capture journal: what capture did with each S3 event, per plan. @see ../../docs/format.md#journal */
export interface JournalCatalog {
  /**
   * Journal one event for one plan, atomically: false (nothing written) when an entry with the same
   * (planId, bucket, key, sequencer) exists already. Call only after the bytes it names are stored.
   * @throws TransientError (retryable) when the catalog write fails; appending again is harmless.
   * @see ../../docs/format.md#journal
   */
  appendJournal(entry: JournalEntry): Promise<boolean>;
  /**
   * A plan's journal ordered by `capturedAt` (entries captured at the same instant in an order
   * fixed by their identity), optionally only those with `capturedAfter < capturedAt <= capturedUntil`
   * (ISO-8601 UTC). One query of the plan's journal, never a scan of the table.
   */
  listJournal(
    planId: string,
    options?: { capturedAfter?: string; capturedUntil?: string },
  ): Promise<JournalEntry[]>;
  /** Every entry of one key of a plan, ordered by sequencer (oldest event first). One query. */
  listJournalForKey(planId: string, key: string): Promise<JournalEntry[]>;
  /**
   * A plan's entries whose key is in `(range.after, range.upTo]` (UTF-8 binary order; an absent
   * bound is open) and whose `capturedAt` is in `(capturedAfter, capturedUntil]`, in key order, then
   * by capture. Reads only that key range of the journal (one query), however long the journal is:
   * what a snapshot partition reads. Entries journaled before this index existed are not listed.
   * @throws TransientError (retryable) when the store fails.
   * @see ../../docs/format.md#journal
   */
  listJournalInRange(
    planId: string,
    range: { after?: string; upTo?: string },
    window?: { capturedAfter?: string; capturedUntil?: string },
  ): Promise<JournalEntry[]>;
  /**
   * Delete a plan's journal entries captured before `capturedBefore` (ISO-8601 UTC, exclusive),
   * each whole (its idempotency marker, its items by time and by key, their overflow items), a page
   * at a time. Deleting what is gone succeeds, so a rerun finishes what a failed run began. Only
   * journal expiry calls it (see docs/format.md#journal, Expiry).
   * @returns how many entries it deleted.
   * @throws TransientError (retryable) when the store fails.
   */
  expireJournal(planId: string, capturedBefore: string): Promise<number>;
}

/**
 * Garbage collection's state per vault bucket: the marks on unreferenced packs, the lease that keeps
 * two GC runs apart, and the holds of copies that keep a GC run out. @see ../../docs/format.md#garbage-collection
 */
export interface GcCatalog {
  /**
   * Record garbage-collection marks on packs of the vault bucket `vault` (item `pk` `GC#<vault>`,
   * `sk` `PACK#<packId>`). A mark already stored for a pack is overwritten (a later `markedAt` only
   * delays its deletion). @throws TransientError (retryable).
   * @see ../../docs/format.md#garbage-collection
   */
  putGcMarks(vault: string, marks: readonly GcMark[]): Promise<void>;
  /** Every mark of the vault bucket `vault`, in pack id order. @throws TransientError (retryable). */
  listGcMarks(vault: string): Promise<GcMark[]>;
  /**
   * Remove the marks of `packIds` (a rescue, or the pack is gone); removing a missing mark succeeds.
   * @throws TransientError (retryable).
   */
  deleteGcMarks(vault: string, packIds: readonly string[]): Promise<void>;
  /**
   * Take the garbage-collection lease of the vault bucket `vault` (item `pk` `GC#<vault>`, `sk`
   * `LEASE`) for `owner` until `until` (ISO-8601 UTC), conditionally: only when no lease is held or
   * the held one ended before `now`, and no copy holds the vault (no hold of
   * {@link acquireVaultHold} whose `until` is at or after `now`). Two GC runs of one vault never
   * overlap (a stale index rewrite of one could bring back an entry the other dropped), nor a GC
   * run and a copy into that vault (the run could delete what the copy found there and relies on).
   * @returns false when another owner holds it, or a copy does. @throws TransientError (retryable).
   * @see ../../docs/format.md#garbage-collection
   */
  acquireGcLease(vault: string, owner: string, now: string, until: string): Promise<boolean>;
  /**
   * Give the lease back if `owner` holds it (a no-op otherwise). With `completedAt` (ISO-8601 UTC),
   * also record it, in the same write, as the end of the vault's last completed run (attribute
   * `completedAt` of the lease item), which {@link lastGcCompletedAt} returns; a run that failed or
   * deferred part of its work gives none. @throws TransientError (retryable).
   */
  releaseGcLease(vault: string, owner: string, completedAt?: string): Promise<void>;
  /**
   * When the vault bucket `vault`'s last completed garbage-collection run ended (ISO-8601 UTC), as
   * {@link releaseGcLease} recorded it; undefined when none has. A prune after a snapshot collects
   * only when it is at least `gcIntervalSeconds` old. @throws TransientError (retryable).
   * @see ../../docs/format.md#garbage-collection
   */
  lastGcCompletedAt(vault: string): Promise<string | undefined>;
  /**
   * Hold the vault bucket `vault` against garbage collection for a writer that relies on what it
   * found there (a copy into it, a sealer from its part check to its commit), as `holder` until
   * `until` (ISO-8601 UTC), conditionally: only when no garbage-collection lease is held, or the
   * held one ended before `now`. Holds coexist (writers do not exclude each other); while any is
   * held, {@link acquireGcLease} refuses. Stored on the lease item (`pk` `GC#<vault>`, `sk`
   * `LEASE`, attribute `copy:<holder>`: the name the first holders, copies, gave it).
   * @returns false when a garbage-collection run holds the vault. @throws TransientError (retryable).
   * @example
   * ```ts
   * if (!(await catalog.acquireVaultHold('vault-euw1', holder, now, until))) throw new TransientError('GC is running');
   * try { ... } finally { await catalog.releaseVaultHold('vault-euw1', holder); }
   * ```
   * @see ../../docs/format.md#garbage-collection
   */
  acquireVaultHold(vault: string, holder: string, now: string, until: string): Promise<boolean>;
  /** Give a hold back (a no-op when it is not held). @throws TransientError (retryable). */
  releaseVaultHold(vault: string, holder: string): Promise<void>;
}

/**
 * The detector's state per plan: change counts per minute (capture adds to them) and findings.
 * @see ../../docs/format.md#detector
 */
export interface DetectorCatalog {
  /**
   * Add `counts` to a plan's counts of one minute, atomically (DynamoDB `ADD`): concurrent capture
   * invocations all count. The item expires (DynamoDB TTL) after `expiresAt` (ISO-8601 UTC).
   * @param minute `YYYY-MM-DDTHH:MM` (UTC).
   * @param prefix the prefix the counts are of (an item of its own); absent: the whole plan's.
   * @throws TransientError (retryable): adding again counts twice.
   */
  addChangeCounts(
    planId: string,
    minute: string,
    counts: Partial<ChangeCounts>,
    expiresAt: string,
    prefix?: string,
  ): Promise<void>;
  /**
   * A plan's counts of the minutes from `range.from` to `range.to` (both inclusive, `YYYY-MM-DDTHH:MM`),
   * oldest first, the plan's before its prefixes' within a minute (those with `prefix`); minutes
   * without changes have no item. One query.
   * @throws TransientError (retryable).
   */
  listChangeCounts(planId: string, range: { from: string; to: string }): Promise<MinuteCounts[]>;
  /**
   * Record a finding once per (plan, kind, first minute), conditionally: `created` when new,
   * `raised` when a recorded one had a lower count (its count, peak and `lastSeenAt` are replaced),
   * else `unchanged` (nothing written). Concurrent callers agree: one of them creates.
   * @throws TransientError (retryable).
   */
  recordFinding(finding: AnomalyFinding): Promise<FindingWrite>;
  /** A plan's findings, oldest first seen first. One query. @throws TransientError (retryable). */
  listFindings(planId: string): Promise<AnomalyFinding[]>;
  /**
   * What the journal says a key held before the change `before` names (a sequencer; absent: now):
   * the outcome, sequencer and encryption of the key's newest entry with a lower sequencer, or
   * undefined when it has none. Reads the key's journal newest first and stops at that entry, so a
   * key changed thousands of times costs what one changed once does.
   * @throws TransientError (retryable).
   */
  latestJournalEntryBefore(
    planId: string,
    key: string,
    before?: string,
  ): Promise<Pick<JournalEntry, 'outcome' | 'sequencer' | 'encryption'> | undefined>;
  /** What the settings watch last saw of a plan's bucket, if anything. @throws TransientError (retryable). */
  getSourceSettings(planId: string): Promise<SourceSettingsRecord | undefined>;
  /** Replace what the settings watch saw of a plan's bucket. @throws TransientError (retryable). */
  putSourceSettings(record: SourceSettingsRecord): Promise<void>;
}
