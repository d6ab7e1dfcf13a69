/**
 * The catalog on DynamoDB: one table, keys `pk`/`sk`.
 *
 * | item      | pk                 | sk                              |
 * |-----------|--------------------|---------------------------------|
 * | plan      | `PLAN`             | `<planId>`                      |
 * | snapshot  | `PLAN#<planId>`    | `SNAPSHOT#<snapshotId>`         |
 * | job       | `PLAN#<planId>`    | `JOB#<snapshotId>`              |
 * | task      | `PLAN#<planId>`    | `TASK#<snapshotId>#<taskId>`    |
 * | running task (sparse index) | `RUNNING` | `TASK#<jobId>#<taskId>` (`indexedAt`; put at start, dropped after it ends) |
 * | journal marker | `JOURNAL#<planId>` | `E#<sha256(bucket, key, sequencer)>` (idempotency) |
 * | journal entry, by time | `JOURNAL#<planId>` | `C#<capturedAt>#<sha256(bucket, key, sequencer)>` |
 * | journal entry, by key | `JKEY#<planId>#<sha256(key)>` | `<sequencer, uppercase, zero-padded to 64>` |
 * | journal entry, by key range | `JRANGE#<planId>` | `<hex of the key's first 430 UTF-8 bytes>#<sha256(bucket, key, sequencer)>` |
 * | drills    | `PLAN#<planId>`    | `DRILLS`                        |
 * | restore job | `RESTORE`        | `JOB#<restoreJobId>`            |
 * | restore slice done | `RESTORE#<restoreJobId>` | `PART#<slice>` (`PART#`: the name before slices were called so) |
 * | snapshot partition done | `PLAN#<planId>` | `PARTITION#<snapshotId>#<000000 partition>` |
 * | partition checkpoint | `PLAN#<planId>` | `CHECKPOINT#<snapshotId>#<000000 partition>` (no parts; `token`, `chunks`) |
 * | its part refs, in order | `PLAN#<planId>` | `CHECKPOINT#<snapshotId>#<000000 partition>#<token>#<0000 chunk>` (`parts`) |
 * | first-listing leg | `PLAN#<planId>` | `LISTING#<snapshotId>#<000000 leg>` (`attribute_not_exists`; long `partitionBoundaries` in overflow items) |
 * | GC mark of a pack | `GC#<vault bucket>` | `PACK#<packId>` (with `markedAt`) |
 * | GC lease of a vault | `GC#<vault bucket>` | `LEASE` (with `owner`, `until`; copies' holds `copy:<holder>`, `version`) |
 * | detector counts of a minute | `DETECTOR#<planId>` | `MINUTE#<YYYY-MM-DDTHH:MM>` (`ADD`ed counts; `expiresAt` for the TTL) |
 * | detector finding | `DETECTOR#<planId>` | `FINDING#<YYYY-MM-DDTHH:MM first seen>#<kind>` |
 *
 * Conditional writes make duplicate deliveries harmless: a job is created once (transaction with
 * `attribute_not_exists`), a snapshot commits once (`#status = RUNNING`), a restore slice counts
 * once (its done marker is put with `attribute_not_exists` in the transaction that `ADD`s its counts),
 * and so does a snapshot partition (its summary, in the transaction that `ADD`s `partitionsDone`).
 * A journal entry is one transaction of three puts: its marker (`attribute_not_exists`), then the
 * entry under the plan's time order and under its key's sequencer order; a redelivered event finds
 * the marker and writes nothing. `sha256(bucket, key, sequencer)` hashes `<bucket>\n<key>\n<sequencer>`.
 * A partition checkpoint's part refs can outgrow DynamoDB's 400 KB item: they are written first, in
 * chunk items of at most {@link CHECKPOINT_CHUNK_BYTES} under a fresh token, then the checkpoint item
 * naming the token and chunk count (conditional on fewer invocations), then the previous token's
 * chunks are deleted. A reader that finds fewer chunks than the checkpoint names reads again.
 *
 * Each narrow port of the catalog has its own file here (plans.ts, snapshots.ts, jobs.ts,
 * restore-jobs.ts, drills.ts, journal.ts, gc.ts), over the shared {@link Table} (table.ts: reads,
 * writes, overflow items), with the key layout in keys.ts and the error mapping in errors.ts;
 * {@link DynamoDbCatalog} composes them.
 * @see ../../../docs/format.md#catalog
 */

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AnomalyFinding, ChangeCounts, FindingWrite, MinuteCounts } from '#domain/detector/model.ts';
import type { SourceSettingsRecord } from '#domain/detector/source-settings.ts';
import type { Catalog } from '#domain/ports.ts';
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
} from '#domain/records.ts';
import { DynamoDbDetectorCatalog } from './detector.ts';
import { DynamoDbDrillCatalog } from './drills.ts';
import { DynamoDbGcCatalog } from './gc.ts';
import { DynamoDbJobCatalog } from './jobs.ts';
import { DynamoDbJournalCatalog } from './journal.ts';
import { DynamoDbPlanCatalog } from './plans.ts';
import { DynamoDbRestoreJobCatalog } from './restore-jobs.ts';
import { DynamoDbSnapshotCatalog } from './snapshots.ts';
import { Table } from './table.ts';

export { CHECKPOINT_CHUNK_BYTES } from './checkpoint-chunks.ts';
export { catalogFailure } from './errors.ts';

/**
 * {@link Catalog} on one DynamoDB table.
 * @example
 * ```ts
 * const catalog = new DynamoDbCatalog(new DynamoDBClient({ region: 'us-east-1' }), 'strongbox-prod-state');
 * ```
 */
export class DynamoDbCatalog implements Catalog {
  readonly #plans: DynamoDbPlanCatalog;
  readonly #snapshots: DynamoDbSnapshotCatalog;
  readonly #jobs: DynamoDbJobCatalog;
  readonly #restoreJobs: DynamoDbRestoreJobCatalog;
  readonly #drills: DynamoDbDrillCatalog;
  readonly #journal: DynamoDbJournalCatalog;
  readonly #gc: DynamoDbGcCatalog;
  readonly #detector: DynamoDbDetectorCatalog;

  constructor(client: DynamoDBClient, tableName: string) {
    const table = new Table(client, tableName);
    this.#plans = new DynamoDbPlanCatalog(table);
    this.#snapshots = new DynamoDbSnapshotCatalog(table);
    this.#jobs = new DynamoDbJobCatalog(table);
    this.#restoreJobs = new DynamoDbRestoreJobCatalog(table);
    this.#drills = new DynamoDbDrillCatalog(table);
    this.#journal = new DynamoDbJournalCatalog(table);
    this.#gc = new DynamoDbGcCatalog(table);
    this.#detector = new DynamoDbDetectorCatalog(table);
  }

  putPlans(plans: readonly PlanRecord[]): Promise<void> {
    return this.#plans.putPlans(plans);
  }

  getPlan(planId: string): Promise<PlanRecord | undefined> {
    return this.#plans.getPlan(planId);
  }

  listPlans(): Promise<PlanRecord[]> {
    return this.#plans.listPlans();
  }

  putQuarantine(quarantine: QuarantineRecord): Promise<boolean> {
    return this.#plans.putQuarantine(quarantine);
  }

  getQuarantine(planId: string): Promise<QuarantineRecord | undefined> {
    return this.#plans.getQuarantine(planId);
  }

  listQuarantines(): Promise<QuarantineRecord[]> {
    return this.#plans.listQuarantines();
  }

  liftQuarantine(planId: string): Promise<boolean> {
    return this.#plans.liftQuarantine(planId);
  }

  addChangeCounts(
    planId: string,
    minute: string,
    counts: Partial<ChangeCounts>,
    expiresAt: string,
    prefix?: string,
  ): Promise<void> {
    return this.#detector.addChangeCounts(planId, minute, counts, expiresAt, prefix);
  }

  listChangeCounts(planId: string, range: { from: string; to: string }): Promise<MinuteCounts[]> {
    return this.#detector.listChangeCounts(planId, range);
  }

  recordFinding(finding: AnomalyFinding): Promise<FindingWrite> {
    return this.#detector.recordFinding(finding);
  }

  listFindings(planId: string): Promise<AnomalyFinding[]> {
    return this.#detector.listFindings(planId);
  }

  latestJournalEntryBefore(planId: string, key: string, before?: string) {
    return this.#detector.latestJournalEntryBefore(planId, key, before);
  }

  getSourceSettings(planId: string): Promise<SourceSettingsRecord | undefined> {
    return this.#detector.getSourceSettings(planId);
  }

  putSourceSettings(record: SourceSettingsRecord): Promise<void> {
    return this.#detector.putSourceSettings(record);
  }

  createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean> {
    return this.#jobs.createJob(job, snapshot);
  }

  getJob(jobId: string): Promise<JobRecord | undefined> {
    return this.#jobs.getJob(jobId);
  }

  updateJob(jobId: string, patch: Partial<JobRecord>): Promise<void> {
    return this.#jobs.updateJob(jobId, patch);
  }

  listJobs(planId: string): Promise<JobRecord[]> {
    return this.#jobs.listJobs(planId);
  }

  getSnapshot(planId: string, snapshotId: string): Promise<SnapshotRecord | undefined> {
    return this.#snapshots.getSnapshot(planId, snapshotId);
  }

  listSnapshots(planId: string): Promise<SnapshotRecord[]> {
    return this.#snapshots.listSnapshots(planId);
  }

  updateSnapshot(
    planId: string,
    snapshotId: string,
    patch: Partial<SnapshotRecord>,
    when: readonly SnapshotStatus[],
  ): Promise<boolean> {
    return this.#snapshots.updateSnapshot(planId, snapshotId, patch, when);
  }

  setLegalHold(planId: string, snapshotId: string, hold: LegalHold | undefined): Promise<boolean> {
    return this.#snapshots.setLegalHold(planId, snapshotId, hold);
  }

  setRegionCopy(
    planId: string,
    snapshotId: string,
    region: string,
    copy: RegionCopy,
  ): Promise<Record<string, RegionCopy>> {
    return this.#snapshots.setRegionCopy(planId, snapshotId, region, copy);
  }

  deleteSnapshot(planId: string, snapshotId: string): Promise<void> {
    return this.#snapshots.deleteSnapshot(planId, snapshotId);
  }

  planPartitions(planId: string, snapshotId: string, plan: PartitionPlan): Promise<PartitionPlan> {
    return this.#snapshots.planPartitions(planId, snapshotId, plan);
  }

  putListingLeg(planId: string, snapshotId: string, leg: ListingLeg): Promise<boolean> {
    return this.#snapshots.putListingLeg(planId, snapshotId, leg);
  }

  listListingLegs(planId: string, snapshotId: string): Promise<ListingLeg[]> {
    return this.#snapshots.listListingLegs(planId, snapshotId);
  }

  completePartition(planId: string, snapshotId: string, summary: PartitionSummary) {
    return this.#snapshots.completePartition(planId, snapshotId, summary);
  }

  listPartitions(planId: string, snapshotId: string): Promise<PartitionSummary[]> {
    return this.#snapshots.listPartitions(planId, snapshotId);
  }

  putPartitionCheckpoint(
    planId: string,
    snapshotId: string,
    checkpoint: PartitionCheckpoint,
  ): Promise<boolean> {
    return this.#snapshots.putPartitionCheckpoint(planId, snapshotId, checkpoint);
  }

  listPartitionCheckpoints(planId: string, snapshotId: string): Promise<PartitionCheckpoint[]> {
    return this.#snapshots.listPartitionCheckpoints(planId, snapshotId);
  }

  resetPartition(planId: string, snapshotId: string, partition: number): Promise<boolean> {
    return this.#snapshots.resetPartition(planId, snapshotId, partition);
  }

  startTask(jobId: string, taskId: string, at: string): Promise<TaskRecord> {
    return this.#jobs.startTask(jobId, taskId, at);
  }

  updateTask(jobId: string, taskId: string, patch: Partial<TaskRecord>): Promise<void> {
    return this.#jobs.updateTask(jobId, taskId, patch);
  }

  heartbeatTask(jobId: string, taskId: string, at: string): Promise<boolean> {
    return this.#jobs.heartbeatTask(jobId, taskId, at);
  }

  listRunningTasks(): Promise<TaskRecord[]> {
    return this.#jobs.listRunningTasks();
  }

  redriveTask(jobId: string, taskId: string, expectedRedrives: number, at: string): Promise<boolean> {
    return this.#jobs.redriveTask(jobId, taskId, expectedRedrives, at);
  }

  listTasks(jobId: string): Promise<TaskRecord[]> {
    return this.#jobs.listTasks(jobId);
  }

  createRestoreJob(job: RestoreJobRecord, sliceCounts?: readonly number[]): Promise<boolean> {
    return this.#restoreJobs.createRestoreJob(job, sliceCounts);
  }

  getRestoreSliceCounts(restoreJobId: string): Promise<number[] | undefined> {
    return this.#restoreJobs.getRestoreSliceCounts(restoreJobId);
  }
  putRestoreSliceKeys(restoreJobId: string, slice: number, keys: readonly string[]): Promise<void> {
    return this.#restoreJobs.putRestoreSliceKeys(restoreJobId, slice, keys);
  }
  getRestoreSliceKeys(restoreJobId: string, slice: number): Promise<string[] | undefined> {
    return this.#restoreJobs.getRestoreSliceKeys(restoreJobId, slice);
  }

  getRestoreJob(restoreJobId: string): Promise<RestoreJobRecord | undefined> {
    return this.#restoreJobs.getRestoreJob(restoreJobId);
  }

  listRestoreJobs(limit = 20): Promise<RestoreJobRecord[]> {
    return this.#restoreJobs.listRestoreJobs(limit);
  }

  completeRestoreSlice(
    restoreJobId: string,
    slice: number,
    counts: RestoreSliceCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }> {
    return this.#restoreJobs.completeRestoreSlice(restoreJobId, slice, counts, at);
  }

  listRestoreSlicesDone(restoreJobId: string): Promise<number[]> {
    return this.#restoreJobs.listRestoreSlicesDone(restoreJobId);
  }

  heartbeatRestoreJob(restoreJobId: string, at: string): Promise<boolean> {
    return this.#restoreJobs.heartbeatRestoreJob(restoreJobId, at);
  }

  redriveRestoreJob(restoreJobId: string, expectedRedrives: number, at: string): Promise<boolean> {
    return this.#restoreJobs.redriveRestoreJob(restoreJobId, expectedRedrives, at);
  }

  finishRestoreJob(
    restoreJobId: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; at: string; error?: string },
  ): Promise<boolean> {
    return this.#restoreJobs.finishRestoreJob(restoreJobId, end);
  }

  getDrillHistory(planId: string): Promise<DrillHistory | undefined> {
    return this.#drills.getDrillHistory(planId);
  }

  putDrillHistory(history: DrillHistory, expectedVersion: number): Promise<boolean> {
    return this.#drills.putDrillHistory(history, expectedVersion);
  }

  appendJournal(entry: JournalEntry): Promise<boolean> {
    return this.#journal.appendJournal(entry);
  }

  listJournal(
    planId: string,
    options: { capturedAfter?: string; capturedUntil?: string } = {},
  ): Promise<JournalEntry[]> {
    return this.#journal.listJournal(planId, options);
  }

  listJournalForKey(planId: string, key: string): Promise<JournalEntry[]> {
    return this.#journal.listJournalForKey(planId, key);
  }

  listJournalInRange(
    planId: string,
    range: { after?: string; upTo?: string },
    window?: { capturedAfter?: string; capturedUntil?: string },
  ): Promise<JournalEntry[]> {
    return this.#journal.listJournalInRange(planId, range, window);
  }

  expireJournal(planId: string, capturedBefore: string): Promise<number> {
    return this.#journal.expireJournal(planId, capturedBefore);
  }

  putGcMarks(vault: string, marks: readonly GcMark[]): Promise<void> {
    return this.#gc.putGcMarks(vault, marks);
  }

  listGcMarks(vault: string): Promise<GcMark[]> {
    return this.#gc.listGcMarks(vault);
  }

  deleteGcMarks(vault: string, packIds: readonly string[]): Promise<void> {
    return this.#gc.deleteGcMarks(vault, packIds);
  }

  acquireGcLease(vault: string, owner: string, now: string, until: string): Promise<boolean> {
    return this.#gc.acquireGcLease(vault, owner, now, until);
  }

  releaseGcLease(vault: string, owner: string, completedAt?: string): Promise<void> {
    return this.#gc.releaseGcLease(vault, owner, completedAt);
  }

  lastGcCompletedAt(vault: string): Promise<string | undefined> {
    return this.#gc.lastGcCompletedAt(vault);
  }

  acquireVaultHold(vault: string, holder: string, now: string, until: string): Promise<boolean> {
    return this.#gc.acquireVaultHold(vault, holder, now, until);
  }

  releaseVaultHold(vault: string, holder: string): Promise<void> {
    return this.#gc.releaseVaultHold(vault, holder);
  }
}
