/**
 * A memory twin of the Catalog port, for unit tests and the contract suites: same contract as the
 * DynamoDB catalog, no network.
 */

import { assertItemSize, type OverflowAttribute, splitOverflow } from '#adapters/item-size.ts';
import {
  type AnomalyFinding,
  type ChangeCounts,
  COUNT_FIELDS,
  type FindingWrite,
  type MinuteCounts,
  minuteOf,
} from '#domain/detector/model.ts';
import type { SourceSettingsRecord } from '#domain/detector/source-settings.ts';
import { ConflictError, NotFoundError } from '#domain/errors.ts';
import { compareSequencers, journalEntryHash, sequencerSortKey } from '#domain/journal.ts';
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
import { compareKeys, contentIdOf } from '#domain/vault.ts';

/**
 * A deep copy, so no caller shares a record with the store (as with DynamoDB). Catalog records are
 * plain data: objects and arrays are copied by hand (several times faster than structuredClone on
 * these small records); anything else (a Map, a Buffer) goes through structuredClone.
 */
function clone<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = clone(x);
  return out as T;
}

/**
 * What every put of {@link MemoryCatalog} checks first: DynamoDB's 400 KB item limit, on the item as
 * the DynamoDB catalog stores it (its keys; a long `overflow` list in overflow items beside it).
 * @throws ValidationError (not retryable), as DynamoDB's ValidationException maps to.
 */
function fitsInItem(pk: string, sk: string, record: object, overflow?: OverflowAttribute): void {
  const split = overflow
    ? splitOverflow({ pk, sk, ...record }, overflow)
    : { item: { pk, sk, ...record }, chunks: [] };
  for (const item of [split.item, ...split.chunks]) assertItemSize(item, `${pk} ${sk}`);
}
/** An ISO-8601 time in `toISOString` form (what `capturedAt` is stored as). */
const isoOf = (t: string): string => new Date(t).toISOString();

/** The catalog in memory, with the same conditional semantics as the DynamoDB catalog. */
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class MemoryCatalog implements Catalog {
  readonly plans = new Map<string, PlanRecord>();
  readonly jobs = new Map<string, JobRecord>();
  readonly snapshots = new Map<string, SnapshotRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  readonly journal = new Map<string, JournalEntry>();
  readonly drills = new Map<string, DrillHistory>();
  readonly restoreJobs = new Map<string, RestoreJobRecord>();
  /** Done markers of restore slices: `<restoreJobId>#<slice>`. */
  readonly restoreSlices = new Set<string>();
  /** Partition summaries by `<planId>/<snapshotId>#<partition>`. */
  readonly partitions = new Map<string, PartitionSummary>();

  async planPartitions(planId: string, snapshotId: string, plan: PartitionPlan): Promise<PartitionPlan> {
    const s = this.snapshots.get(`${planId}/${snapshotId}`);
    if (!s) throw new NotFoundError(`snapshot ${planId}/${snapshotId} does not exist`);
    if (s.partitionBoundaries) {
      return {
        boundaries: clone(s.partitionBoundaries),
        parentSnapshotId: s.parentSnapshotId ?? null,
        time: s.time ?? '',
      };
    }
    if (s.status !== 'RUNNING') throw new ConflictError(`snapshot ${planId}/${snapshotId} is ${s.status}`);
    fitsInItem(
      `PLAN#${planId}`,
      `SNAPSHOT#${snapshotId}`,
      { ...s, partitionBoundaries: plan.boundaries },
      'partitionBoundaries',
    );
    s.partitionBoundaries = [...plan.boundaries];
    s.partitionsTotal = plan.boundaries.length + 1;
    s.partitionsDone = s.partitionsDone ?? 0;
    s.parentSnapshotId = plan.parentSnapshotId;
    s.time = plan.time;
    return clone(plan);
  }

  async completePartition(planId: string, snapshotId: string, summary: PartitionSummary) {
    const s = this.snapshots.get(`${planId}/${snapshotId}`);
    if (!s) throw new NotFoundError(`snapshot ${planId}/${snapshotId} does not exist`);
    const key = `${planId}/${snapshotId}#${summary.partition}`;
    fitsInItem(
      `PLAN#${planId}`,
      `PARTITION#${snapshotId}#${String(summary.partition).padStart(6, '0')}`,
      summary,
      'parts',
    );
    const counted =
      !this.partitions.has(key) &&
      s.status === 'RUNNING' &&
      (summary.planTime === undefined || summary.planTime === s.time);
    if (counted) {
      this.partitions.set(key, clone(summary));
      s.partitionsDone = (s.partitionsDone ?? 0) + 1;
    }
    return { counted, done: s.partitionsDone ?? 0, total: s.partitionsTotal ?? 0, status: s.status };
  }

  async listPartitions(planId: string, snapshotId: string): Promise<PartitionSummary[]> {
    const prefix = `${planId}/${snapshotId}#`;
    return [...this.partitions.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => clone(v))
      .sort((a, b) => a.partition - b.partition);
  }

  /** Partition checkpoints by `<planId>/<snapshotId>#<partition>`. */
  readonly checkpoints = new Map<string, PartitionCheckpoint>();
  readonly listingLegs = new Map<string, ListingLeg>();

  async putListingLeg(planId: string, snapshotId: string, leg: ListingLeg): Promise<boolean> {
    const key = `${planId}/${snapshotId}#${leg.leg}`;
    if (this.listingLegs.has(key)) return false;
    this.listingLegs.set(key, clone(leg));
    return true;
  }

  async listListingLegs(planId: string, snapshotId: string): Promise<ListingLeg[]> {
    const prefix = `${planId}/${snapshotId}#`;
    return [...this.listingLegs.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => clone(v))
      .sort((a, b) => a.leg - b.leg);
  }

  async putPartitionCheckpoint(
    planId: string,
    snapshotId: string,
    checkpoint: PartitionCheckpoint,
  ): Promise<boolean> {
    const key = `${planId}/${snapshotId}#${checkpoint.partition}`;
    const stored = this.checkpoints.get(key);
    if (stored && stored.invocations >= checkpoint.invocations) return false;
    this.checkpoints.set(key, clone(checkpoint));
    return true;
  }

  async listPartitionCheckpoints(planId: string, snapshotId: string): Promise<PartitionCheckpoint[]> {
    const prefix = `${planId}/${snapshotId}#`;
    return [...this.checkpoints.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => clone(v))
      .sort((a, b) => a.partition - b.partition);
  }

  async resetPartition(planId: string, snapshotId: string, partition: number): Promise<boolean> {
    const s = this.snapshots.get(`${planId}/${snapshotId}`);
    if (s?.status !== 'RUNNING') return false;
    const key = `${planId}/${snapshotId}#${partition}`;
    this.checkpoints.delete(key);
    if (!this.partitions.delete(key)) return false;
    s.partitionsDone = (s.partitionsDone ?? 1) - 1;
    return true;
  }

  async putPlans(plans: readonly PlanRecord[]): Promise<void> {
    for (const p of plans) fitsInItem('PLAN', p.id, p);
    for (const p of plans) this.plans.set(p.id, clone(p));
  }
  async getPlan(planId: string): Promise<PlanRecord | undefined> {
    const p = this.plans.get(planId);
    return p && clone(p);
  }
  async listPlans(): Promise<PlanRecord[]> {
    return [...this.plans.values()].sort((a, b) => a.id.localeCompare(b.id)).map(clone);
  }
  async putQuarantine(quarantine: QuarantineRecord): Promise<boolean> {
    if (this.quarantines.has(quarantine.planId)) return false;
    fitsInItem('QUARANTINE', quarantine.planId, quarantine);
    this.quarantines.set(quarantine.planId, clone(quarantine));
    return true;
  }
  async getQuarantine(planId: string): Promise<QuarantineRecord | undefined> {
    const q = this.quarantines.get(planId);
    return q && clone(q);
  }
  async listQuarantines(): Promise<QuarantineRecord[]> {
    return [...this.quarantines.values()].sort((a, b) => (a.planId < b.planId ? -1 : 1)).map(clone);
  }
  async liftQuarantine(planId: string): Promise<boolean> {
    return this.quarantines.delete(planId);
  }
  /** `<planId>#<minute>` → that minute's counts (and `expiresAt`, ISO-8601, never acted on). */
  readonly changeCounts = new Map<string, MinuteCounts & { expiresAt: string }>();
  /** `<planId>#<first minute>#<kind>` → the finding. */
  readonly findings = new Map<string, AnomalyFinding>();
  async addChangeCounts(
    planId: string,
    minute: string,
    counts: Partial<ChangeCounts>,
    expiresAt: string,
    prefix?: string,
  ): Promise<void> {
    const added = COUNT_FIELDS.filter((f) => (counts[f] ?? 0) !== 0);
    if (added.length === 0) return;
    const id = prefix === undefined ? `${planId}#${minute}` : `${planId}#${minute}#${prefix}`;
    const item = this.changeCounts.get(id) ?? {
      planId,
      minute,
      expiresAt,
      ...(prefix === undefined ? {} : { prefix }),
    };
    for (const f of added) item[f] = (item[f] ?? 0) + (counts[f] ?? 0);
    item.expiresAt = expiresAt;
    this.changeCounts.set(id, item);
  }
  async listChangeCounts(planId: string, range: { from: string; to: string }): Promise<MinuteCounts[]> {
    return (
      [...this.changeCounts.values()]
        .filter((m) => m.planId === planId && m.minute >= range.from && m.minute <= range.to)
        // As the table's sort keys: the minute, then the plan's item before its prefixes', by prefix.
        .sort((a, b) => compareStrings(a.minute, b.minute) || compareStrings(a.prefix ?? '', b.prefix ?? ''))
        .map(({ expiresAt: _e, ...m }) => clone(m))
    );
  }
  /** planId → what the settings watch last saw. */
  readonly sourceSettings = new Map<string, SourceSettingsRecord>();
  async getSourceSettings(planId: string): Promise<SourceSettingsRecord | undefined> {
    const r = this.sourceSettings.get(planId);
    return r ? clone(r) : undefined;
  }
  async putSourceSettings(record: SourceSettingsRecord): Promise<void> {
    this.sourceSettings.set(record.planId, clone(record));
  }
  async recordFinding(finding: AnomalyFinding): Promise<FindingWrite> {
    const id = `${finding.planId}#${minuteOf(finding.firstSeenAt)}#${finding.kind}${finding.perPrefix ? `#${finding.prefix}` : ''}`;
    const stored = this.findings.get(id);
    if (!stored) {
      fitsInItem(`DETECTOR#${finding.planId}`, `FINDING#${id}`, finding);
      this.findings.set(id, clone(finding));
      return 'created';
    }
    if (stored.count >= finding.count) return 'unchanged';
    Object.assign(stored, {
      count: finding.count,
      peakPerMinute: finding.peakPerMinute,
      lastSeenAt: finding.lastSeenAt,
    });
    return 'raised';
  }
  async latestJournalEntryBefore(
    planId: string,
    key: string,
    before?: string,
  ): Promise<Pick<JournalEntry, 'outcome' | 'sequencer' | 'encryption'> | undefined> {
    const last = (await this.listJournalForKey(planId, key))
      .filter((e) => before === undefined || compareSequencers(e.sequencer, before) < 0)
      .at(-1);
    return (
      last && {
        outcome: last.outcome,
        sequencer: last.sequencer,
        ...(last.encryption ? { encryption: last.encryption } : {}),
      }
    );
  }
  async listFindings(planId: string): Promise<AnomalyFinding[]> {
    return [...this.findings.entries()]
      .filter(([, f]) => f.planId === planId)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, f]) => clone(f));
  }
  async createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean> {
    if (this.jobs.has(job.jobId)) return false;
    fitsInItem(`PLAN#${job.planId}`, `JOB#${job.snapshotId}`, job);
    fitsInItem(`PLAN#${snapshot.planId}`, `SNAPSHOT#${snapshot.snapshotId}`, snapshot);
    this.jobs.set(job.jobId, clone(job));
    this.snapshots.set(`${snapshot.planId}/${snapshot.snapshotId}`, clone(snapshot));
    return true;
  }
  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const j = this.jobs.get(jobId);
    return j && clone(j);
  }
  async updateJob(jobId: string, patch: Partial<JobRecord>): Promise<void> {
    const j = this.jobs.get(jobId);
    if (!j) throw new NotFoundError(`job ${jobId} does not exist`);
    fitsInItem(`PLAN#${j.planId}`, `JOB#${j.snapshotId}`, { ...j, ...patch });
    Object.assign(j, clone(patch));
  }
  async listJobs(planId: string): Promise<JobRecord[]> {
    return [...this.jobs.values()]
      .filter((j) => j.planId === planId)
      .sort((a, b) => (a.jobId < b.jobId ? -1 : 1))
      .map(clone);
  }
  async getSnapshot(planId: string, snapshotId: string): Promise<SnapshotRecord | undefined> {
    const s = this.snapshots.get(`${planId}/${snapshotId}`);
    return s && clone(s);
  }
  async listSnapshots(planId: string): Promise<SnapshotRecord[]> {
    return [...this.snapshots.values()]
      .filter((s) => s.planId === planId)
      .sort((a, b) => (a.snapshotId < b.snapshotId ? -1 : 1))
      .map(clone);
  }
  async updateSnapshot(
    planId: string,
    snapshotId: string,
    patch: Partial<SnapshotRecord>,
    when: readonly SnapshotStatus[],
  ): Promise<boolean> {
    const s = this.snapshots.get(`${planId}/${snapshotId}`);
    if (!s || !when.includes(s.status)) return false;
    if (patch.status === 'FORGOTTEN' && s.legalHold) return false;
    fitsInItem(`PLAN#${planId}`, `SNAPSHOT#${snapshotId}`, { ...s, ...patch }, 'partitionBoundaries');
    Object.assign(s, clone(patch));
    return true;
  }
  async setLegalHold(planId: string, snapshotId: string, hold: LegalHold | undefined): Promise<boolean> {
    const s = this.snapshots.get(`${planId}/${snapshotId}`);
    if (!s || s.status === 'FORGOTTEN') return false;
    fitsInItem(`PLAN#${planId}`, `SNAPSHOT#${snapshotId}`, { ...s, legalHold: hold }, 'partitionBoundaries');
    if (hold) s.legalHold = clone(hold);
    else delete s.legalHold;
    return true;
  }
  async setRegionCopy(
    planId: string,
    snapshotId: string,
    region: string,
    copy: RegionCopy,
  ): Promise<Record<string, RegionCopy>> {
    const s = this.snapshots.get(`${planId}/${snapshotId}`);
    if (!s) throw new ConflictError(`snapshot ${planId}/${snapshotId} does not exist`);
    const regions = { ...(s.regions ?? {}), [region]: copy };
    fitsInItem(`PLAN#${planId}`, `SNAPSHOT#${snapshotId}`, { ...s, regions }, 'partitionBoundaries');
    s.regions = { ...(s.regions ?? {}), [region]: clone(copy) };
    return clone(s.regions);
  }
  async deleteSnapshot(planId: string, snapshotId: string): Promise<void> {
    this.snapshots.delete(`${planId}/${snapshotId}`);
  }
  async startTask(jobId: string, taskId: string, at: string): Promise<TaskRecord> {
    const id = `${jobId}#${taskId}`;
    const previous = this.tasks.get(id);
    const record: TaskRecord = {
      jobId,
      taskId,
      status: 'RUNNING',
      attempts: (previous?.attempts ?? 0) + 1,
      startedAt: at,
      heartbeatAt: at,
      ...(previous?.redrives !== undefined ? { redrives: previous.redrives } : {}),
    };
    fitsInItem(`TASK#${jobId}`, taskId, record);
    this.tasks.set(id, record);
    return clone(record);
  }
  async heartbeatTask(jobId: string, taskId: string, at: string): Promise<boolean> {
    const t = this.tasks.get(`${jobId}#${taskId}`);
    if (t?.status !== 'RUNNING') return false;
    t.heartbeatAt = at;
    return true;
  }
  async listRunningTasks(): Promise<TaskRecord[]> {
    return [...this.tasks.values()].filter((t) => t.status === 'RUNNING').map(clone);
  }
  async redriveTask(jobId: string, taskId: string, expectedRedrives: number, at: string): Promise<boolean> {
    const id = `${jobId}#${taskId}`;
    const t = this.tasks.get(id);
    if (t && (t.status === 'SUCCEEDED' || (t.redrives ?? 0) !== expectedRedrives)) return false;
    if (!t && expectedRedrives !== 0) return false;
    const record: TaskRecord = t ?? { jobId, taskId, status: 'RUNNING', attempts: 0, startedAt: at };
    record.status = 'RUNNING';
    record.redrives = expectedRedrives + 1;
    record.heartbeatAt = at;
    this.tasks.set(id, record);
    return true;
  }
  async updateTask(jobId: string, taskId: string, patch: Partial<TaskRecord>): Promise<void> {
    const id = `${jobId}#${taskId}`;
    const t = this.tasks.get(id) ?? { jobId, taskId, status: 'RUNNING', attempts: 0 };
    fitsInItem(`TASK#${jobId}`, taskId, { ...t, ...patch });
    this.tasks.set(id, Object.assign(t, clone(patch)));
  }
  async listTasks(jobId: string): Promise<TaskRecord[]> {
    return [...this.tasks.values()].filter((t) => t.jobId === jobId).map(clone);
  }
  /** Each restore job's slice counts, when it was created with them (an item of their own). */
  readonly restoreSliceCounts = new Map<string, number[]>();
  readonly quarantines = new Map<string, QuarantineRecord>();
  /** `<restoreJobId>#<slice>` → the keys of that slice of a restore of listed keys. */
  readonly restoreSliceKeys = new Map<string, string[]>();
  async createRestoreJob(job: RestoreJobRecord, sliceCounts?: readonly number[]): Promise<boolean> {
    if (sliceCounts) {
      fitsInItem(`RESTORE#${job.restoreJobId}`, 'SLICES', { counts: sliceCounts });
      this.restoreSliceCounts.set(job.restoreJobId, [...sliceCounts]);
    }
    if (this.restoreJobs.has(job.restoreJobId)) return false;
    fitsInItem('RESTORE', `JOB#${job.restoreJobId}`, job);
    this.restoreJobs.set(job.restoreJobId, clone(job));
    return true;
  }
  async getRestoreSliceCounts(restoreJobId: string): Promise<number[] | undefined> {
    const counts = this.restoreSliceCounts.get(restoreJobId);
    return counts && [...counts];
  }
  async putRestoreSliceKeys(restoreJobId: string, slice: number, keys: readonly string[]): Promise<void> {
    fitsInItem(`RESTORE#${restoreJobId}`, `KEYS#${slice}`, { keys });
    this.restoreSliceKeys.set(`${restoreJobId}#${slice}`, [...keys]);
  }
  async getRestoreSliceKeys(restoreJobId: string, slice: number): Promise<string[] | undefined> {
    const keys = this.restoreSliceKeys.get(`${restoreJobId}#${slice}`);
    return keys && [...keys];
  }
  async getRestoreJob(restoreJobId: string): Promise<RestoreJobRecord | undefined> {
    const j = this.restoreJobs.get(restoreJobId);
    return j && clone(j);
  }
  async listRestoreJobs(limit = 20): Promise<RestoreJobRecord[]> {
    return [...this.restoreJobs.values()]
      .sort((a, b) => (a.restoreJobId < b.restoreJobId ? 1 : -1))
      .slice(0, limit)
      .map(clone);
  }
  async completeRestoreSlice(
    restoreJobId: string,
    slice: number,
    counts: RestoreSliceCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }> {
    const j = this.restoreJobs.get(restoreJobId);
    if (!j) throw new NotFoundError(`restore job ${restoreJobId} does not exist`);
    const marker = `${restoreJobId}#${slice}`;
    if (this.restoreSlices.has(marker)) return { counted: false, job: clone(j) };
    this.restoreSlices.add(marker);
    j.objects += counts.objects;
    j.bytes += counts.bytes;
    j.skippedExists += counts.skippedExists;
    j.skippedUnchanged += counts.skippedUnchanged;
    j.slicesDone += 1;
    j.updatedAt = at;
    return { counted: true, job: clone(j) };
  }
  async listRestoreSlicesDone(restoreJobId: string): Promise<number[]> {
    const prefix = `${restoreJobId}#`;
    return [...this.restoreSlices]
      .filter((m) => m.startsWith(prefix))
      .map((m) => Number(m.slice(prefix.length)))
      .sort((a, b) => a - b);
  }

  async heartbeatRestoreJob(restoreJobId: string, at: string): Promise<boolean> {
    const j = this.restoreJobs.get(restoreJobId);
    if (j?.status !== 'RUNNING') return false;
    j.heartbeatAt = at;
    return true;
  }

  async redriveRestoreJob(restoreJobId: string, expectedRedrives: number, at: string): Promise<boolean> {
    const j = this.restoreJobs.get(restoreJobId);
    if (j?.status !== 'RUNNING' || (j.redrives ?? 0) !== expectedRedrives) return false;
    j.redrives = expectedRedrives + 1;
    j.heartbeatAt = at;
    return true;
  }

  async finishRestoreJob(
    restoreJobId: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; at: string; error?: string },
  ): Promise<boolean> {
    const j = this.restoreJobs.get(restoreJobId);
    if (j?.status !== 'RUNNING') return false;
    if (end.status === 'SUCCEEDED' && j.slicesDone !== j.slicesTotal) return false;
    j.status = end.status;
    j.updatedAt = end.at;
    j.finishedAt = end.at;
    if (end.error !== undefined) j.error = end.error;
    return true;
  }
  async getDrillHistory(planId: string): Promise<DrillHistory | undefined> {
    const h = this.drills.get(planId);
    return h && clone(h);
  }
  async putDrillHistory(history: DrillHistory, expectedVersion: number): Promise<boolean> {
    if ((this.drills.get(history.planId)?.version ?? 0) !== expectedVersion) return false;
    fitsInItem(`PLAN#${history.planId}`, 'DRILLS', history);
    this.drills.set(history.planId, clone(history));
    return true;
  }
  /**
   * Like the DynamoDB catalog: idempotent on (plan, bucket, key, sequencer), listed by
   * `<capturedAt>#<sha256(bucket, key, sequencer)>` (time, then identity) or by padded sequencer.
   */
  async appendJournal(entry: JournalEntry): Promise<boolean> {
    const id = `${entry.planId}\n${journalEntryHash(entry)}`;
    if (this.journal.has(id)) return false;
    const bySequencer = sequencerSortKey(entry.sequencer); // refuses a sequencer DynamoDB could not sort by
    fitsInItem(`JOURNAL#${entry.planId}`, `C#${entry.capturedAt}#${journalEntryHash(entry)}`, entry, 'blobs');
    fitsInItem(`JKEY#${entry.planId}#${contentIdOf(entry.key)}`, bySequencer, entry, 'blobs');
    this.journal.set(id, clone(entry));
    return true;
  }
  async listJournal(
    planId: string,
    options: { capturedAfter?: string; capturedUntil?: string } = {},
  ): Promise<JournalEntry[]> {
    const entries = this.#journalByTime(planId, options);
    this.journalReads.byTime += entries.length;
    return entries;
  }
  #journalByTime(
    planId: string,
    options: { capturedAfter?: string; capturedUntil?: string },
  ): JournalEntry[] {
    const after = options.capturedAfter === undefined ? undefined : isoOf(options.capturedAfter);
    const until = options.capturedUntil === undefined ? undefined : isoOf(options.capturedUntil);
    const order = (e: JournalEntry) => `${e.capturedAt}#${journalEntryHash(e)}`;
    return [...this.journal.values()]
      .filter(
        (e) =>
          e.planId === planId &&
          (after === undefined || e.capturedAt > after) &&
          (until === undefined || e.capturedAt <= until),
      )
      .sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0))
      .map(clone);
  }
  async listJournalForKey(planId: string, key: string): Promise<JournalEntry[]> {
    return [...this.journal.values()]
      .filter((e) => e.planId === planId && e.key === key)
      .sort((a, b) => compareSequencers(a.sequencer, b.sequencer))
      .map(clone);
  }
  /** Journal entries returned so far: by {@link listJournalInRange}, and by {@link listJournal}. */
  readonly journalReads = { byRange: 0, byTime: 0 };
  async listJournalInRange(
    planId: string,
    range: { after?: string; upTo?: string },
    window: { capturedAfter?: string; capturedUntil?: string } = {},
  ): Promise<JournalEntry[]> {
    const inRange = (key: string) =>
      (range.after === undefined || compareKeys(key, range.after) > 0) &&
      (range.upTo === undefined || compareKeys(key, range.upTo) <= 0);
    // Key order, then capture order (the time order is stable under the key sort).
    const entries = this.#journalByTime(planId, window)
      .filter((e) => inRange(e.key))
      .sort((a, b) => compareKeys(a.key, b.key));
    this.journalReads.byRange += entries.length;
    return entries;
  }
  async expireJournal(planId: string, capturedBefore: string): Promise<number> {
    // Like the DynamoDB catalog: the entries captured before, and those each supersedes (its key's
    // lower sequencers, captured later).
    const before = isoOf(capturedBefore);
    const newest = new Map<string, string>();
    for (const e of this.journal.values()) {
      if (e.planId !== planId || e.capturedAt >= before) continue;
      const seen = newest.get(e.key);
      if (seen === undefined || compareSequencers(e.sequencer, seen) > 0) newest.set(e.key, e.sequencer);
    }
    let deleted = 0;
    for (const [id, e] of this.journal) {
      if (e.planId !== planId) continue;
      const superseding = newest.get(e.key);
      const doomed =
        e.capturedAt < before ||
        (superseding !== undefined && compareSequencers(e.sequencer, superseding) < 0);
      if (doomed && this.journal.delete(id)) deleted += 1;
    }
    return deleted;
  }
  /** Garbage-collection marks: vault bucket → pack id → mark. */
  readonly gcMarks = new Map<string, Map<string, GcMark>>();
  async putGcMarks(vault: string, marks: readonly GcMark[]): Promise<void> {
    const byPack = this.gcMarks.get(vault) ?? new Map<string, GcMark>();
    for (const m of marks) fitsInItem(`GC#${vault}`, `PACK#${m.packId}`, m);
    for (const m of marks) byPack.set(m.packId, clone(m));
    this.gcMarks.set(vault, byPack);
  }
  async listGcMarks(vault: string): Promise<GcMark[]> {
    return [...(this.gcMarks.get(vault)?.values() ?? [])]
      .sort((a, b) => (a.packId < b.packId ? -1 : a.packId > b.packId ? 1 : 0))
      .map(clone);
  }
  async deleteGcMarks(vault: string, packIds: readonly string[]): Promise<void> {
    const byPack = this.gcMarks.get(vault);
    for (const id of packIds) byPack?.delete(id);
  }
  /** Garbage-collection leases: vault bucket → holder. */
  readonly gcLeases = new Map<string, { owner: string; until: string }>();
  async acquireGcLease(vault: string, owner: string, now: string, until: string): Promise<boolean> {
    const held = this.gcLeases.get(vault);
    if (held && held.owner !== owner && held.until >= now) return false;
    if ([...(this.copyHolds.get(vault)?.values() ?? [])].some((end) => end >= now)) return false;
    this.gcLeases.set(vault, { owner, until });
    return true;
  }
  async releaseGcLease(vault: string, owner: string, completedAt?: string): Promise<void> {
    if (this.gcLeases.get(vault)?.owner !== owner) return;
    this.gcLeases.delete(vault);
    if (completedAt) this.gcCompleted.set(vault, completedAt);
  }
  /** The end of each vault's last completed garbage-collection run: vault bucket → ISO-8601 UTC. */
  readonly gcCompleted = new Map<string, string>();
  async lastGcCompletedAt(vault: string): Promise<string | undefined> {
    return this.gcCompleted.get(vault);
  }
  /** Copies' holds on vaults: vault bucket → holder → until. */
  readonly copyHolds = new Map<string, Map<string, string>>();
  async acquireVaultHold(vault: string, holder: string, now: string, until: string): Promise<boolean> {
    const lease = this.gcLeases.get(vault);
    if (lease && lease.until >= now) return false;
    const holds = this.copyHolds.get(vault) ?? new Map<string, string>();
    holds.set(holder, until);
    this.copyHolds.set(vault, holds);
    return true;
  }
  async releaseVaultHold(vault: string, holder: string): Promise<void> {
    this.copyHolds.get(vault)?.delete(holder);
  }

  /**
   * A deep copy of every item of the catalog: what a point-in-time backup of the state table holds.
   * With {@link importState}, tests emulate a PITR restore of the table to an earlier point.
   * @example
   * ```ts
   * const before = catalog.exportState();
   * // … snapshots commit …
   * catalog.importState(before); // the table "restored" to before they committed
   * ```
   */
  exportState(): MemoryCatalogState {
    const state: MemoryCatalogState = new Map();
    for (const [name, value] of Object.entries(this)) {
      if (value instanceof Map || value instanceof Set) state.set(name, clone(value));
    }
    return state;
  }

  /** Replace every item with those of `state` (from {@link exportState}): a PITR restore of the table. */
  importState(state: MemoryCatalogState): void {
    for (const [name, value] of Object.entries(this)) {
      const from = state.get(name);
      if (value instanceof Map) {
        value.clear();
        for (const [k, v] of clone((from as Map<unknown, unknown> | undefined) ?? new Map())) value.set(k, v);
      } else if (value instanceof Set) {
        value.clear();
        for (const v of clone((from as Set<unknown> | undefined) ?? new Set())) value.add(v);
      }
    }
  }
}

/**
 * Every item of a {@link MemoryCatalog}, as {@link MemoryCatalog.exportState} copies them: each of its
 * item maps and sets (plans, snapshots, partitions, checkpoints, journal, marks, leases, …) by field name,
 * so an item kind added later is covered too.
 */
export type MemoryCatalogState = Map<string, Map<unknown, unknown> | Set<unknown>>;
