/**
 * Memory twins of the ports, for unit tests and the contract suites: same contracts as the AWS
 * adapters, no network. `MemoryVaultStore` and `MemoryObjectStore` can inject faults.
 */

import { randomBytes } from 'node:crypto';
import {
  ConflictError,
  NotFoundError,
  SourceUnavailableError,
  TransientError,
  ValidationError,
} from '#domain/errors.ts';
import type {
  ArchiveTier,
  ByteRange,
  Catalog,
  Clock,
  DrillHistory,
  FetchedObject,
  JobRecord,
  JournalEntry,
  ObjectHead,
  ObjectStore,
  PartitionPlan,
  PartitionSummary,
  PlanRecord,
  RegionCopy,
  RestoreJobRecord,
  RestorePartCounts,
  SnapshotRecord,
  SnapshotStatus,
  SourceObject,
  StorageState,
  StoredChecksum,
  StoredObject,
  TaskQueue,
  TaskRecord,
  VaultStore,
} from '#domain/ports.ts';
import type { Task } from '#domain/tasks.ts';
import { compareKeys, contentIdOf, storedChecksumOf } from '#domain/vault.ts';
import { MasterKeyProvider } from './key-providers.ts';

/** A clock that stands still until moved. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: string | Date = '2026-01-01T00:00:00Z') {
    this.#now = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#now);
  }
  /** Move the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#now += ms;
  }
  set(at: string | Date): void {
    this.#now = new Date(at).getTime();
  }
}

/** A fault to inject: fail the n-th matching call (1-based) with the given error. */
export interface Fault {
  op: 'put' | 'get' | 'list' | 'delete' | 'checksum';
  /** Only keys with this prefix count. */
  prefix?: string;
  /** Fail on this matching call; later calls succeed. */
  onCall: number;
  error?: Error;
}

/**
 * A vault bucket in memory. Lists in UTF-8 binary order; `faults` fail chosen calls. Like S3, it
 * records each object's checksum when it is put and reports that record from `checksum`, so a test
 * that changes `objects.get(key).body` behind its back corrupts the bytes, not the checksum.
 */
export class MemoryVaultStore implements VaultStore {
  readonly region: string;
  readonly bucket: string;
  readonly objects = new Map<string, { body: Uint8Array; lastModified: string; checksum: StoredChecksum }>();
  readonly faults: Fault[] = [];
  readonly calls = { put: 0, get: 0, getRange: 0, list: 0, delete: 0, checksum: 0 };
  readonly #clock: Clock;
  readonly #counts = new Map<Fault, number>();

  constructor(region: string, bucket: string, clock: Clock) {
    this.region = region;
    this.bucket = bucket;
    this.#clock = clock;
  }

  async put(key: string, body: Uint8Array): Promise<StoredChecksum> {
    this.calls.put += 1;
    this.#maybeFail('put', key);
    const checksum = storedChecksumOf(body);
    this.objects.set(key, {
      body: Uint8Array.from(body),
      lastModified: this.#clock.now().toISOString(),
      checksum,
    });
    return { ...checksum };
  }

  async checksum(key: string): Promise<StoredChecksum> {
    this.calls.checksum += 1;
    this.#maybeFail('checksum', key);
    const found = this.objects.get(key);
    if (!found) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    return { ...found.checksum };
  }

  async get(key: string): Promise<Uint8Array> {
    this.calls.get += 1;
    this.#maybeFail('get', key);
    const found = this.objects.get(key);
    if (!found) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    const state = this.archived.get(key);
    if (state && state.storageClass !== 'GLACIER_IR' && state.restore !== 'ready') {
      throw new ConflictError(`${key} in ${this.bucket} is in ${state.storageClass}: restore it first`);
    }
    return Uint8Array.from(found.body);
  }

  async getRange(key: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    const body = await this.get(key);
    this.calls.get -= 1;
    this.calls.getRange += 1;
    if (offsetBytes + lengthBytes > body.length) {
      throw new ValidationError(
        `range ${offsetBytes}+${lengthBytes} is past the end of ${key} (${body.length})`,
      );
    }
    return body.subarray(offsetBytes, offsetBytes + lengthBytes);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    this.calls.list += 1;
    this.#maybeFail('list', prefix);
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    for (const key of keys) {
      const o = this.objects.get(key);
      if (o) {
        const storageClass = this.archived.get(key)?.storageClass ?? 'STANDARD';
        yield { key, sizeBytes: o.body.length, lastModified: o.lastModified, storageClass };
      }
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    this.calls.delete += 1;
    for (const key of keys) this.#maybeFail('delete', key);
    for (const key of keys) this.objects.delete(key);
  }

  /**
   * Archive simulation: storage classes of objects moved out of STANDARD by {@link archive}. A `get`
   * of an archived object (GLACIER, DEEP_ARCHIVE) throws until its restore is `ready`, like S3's
   * InvalidObjectState.
   */
  readonly archived = new Map<string, StorageState>();
  /** Every `requestRestore` call, in order. */
  readonly restoreRequests: { key: string; tier: ArchiveTier; days: number }[] = [];

  /** Move a stored object to an archive class (test set-up). */
  archive(key: string, storageClass: 'GLACIER' | 'DEEP_ARCHIVE' | 'GLACIER_IR'): void {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    this.archived.set(key, { storageClass, restore: 'none' });
  }

  /** Finish every restore under way (what S3 does hours after `RestoreObject`). */
  completeRestores(): void {
    for (const state of this.archived.values()) if (state.restore === 'ongoing') state.restore = 'ready';
  }

  async storageStateOf(key: string): Promise<StorageState> {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    return { ...(this.archived.get(key) ?? { storageClass: 'STANDARD', restore: 'none' }) };
  }

  async requestRestore(key: string, tier: ArchiveTier, days: number): Promise<void> {
    const state = this.archived.get(key);
    if (!state || state.storageClass === 'GLACIER_IR') {
      throw new ConflictError(`${key} in ${this.bucket} is not in an archive class: nothing to restore`);
    }
    this.restoreRequests.push({ key, tier, days });
    if (state.restore === 'none') state.restore = 'ongoing';
  }

  #maybeFail(op: Fault['op'], key: string): void {
    for (const fault of this.faults) {
      if (fault.op !== op || (fault.prefix && !key.startsWith(fault.prefix))) continue;
      const n = (this.#counts.get(fault) ?? 0) + 1;
      this.#counts.set(fault, n);
      if (n === fault.onCall) throw fault.error ?? new TransientError(`injected ${op} fault on ${key}`);
    }
  }
}

/** Buckets of objects in memory (sources and restore targets). */
export class MemoryObjectStore implements ObjectStore {
  readonly buckets = new Map<string, Map<string, FetchedObject>>();
  readonly #clock: Clock;
  /** Called before each get: lets a test change or delete an object mid-snapshot. */
  beforeGet?: (bucket: string, key: string) => void;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  async *list(
    bucket: string,
    prefix: string,
    options: { startAfter?: string } = {},
  ): AsyncIterable<SourceObject> {
    const objects = this.buckets.get(bucket);
    if (!objects) throw new SourceUnavailableError(`bucket ${bucket} does not exist`);
    const after = options.startAfter;
    const keys = [...objects.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0))
      .sort(compareKeys);
    for (const key of keys) {
      const o = objects.get(key);
      if (o) yield { key, sizeBytes: o.sizeBytes, etag: o.etag, lastModified: o.lastModified };
    }
  }

  async get(bucket: string, key: string): Promise<FetchedObject> {
    this.beforeGet?.(bucket, key);
    const o = this.buckets.get(bucket)?.get(key);
    if (!o) throw new NotFoundError(`no such key ${key} in ${bucket}`);
    return { ...o, body: Uint8Array.from(o.body) };
  }

  async getRange(bucket: string, key: string, range: ByteRange): Promise<FetchedObject> {
    this.beforeGet?.(bucket, key);
    const o = this.buckets.get(bucket)?.get(key);
    if (!o) throw new NotFoundError(`no such key ${key} in ${bucket}`);
    if (range.ifMatch !== undefined && range.ifMatch !== o.etag) {
      throw new ConflictError(`${bucket}/${key} changed since it was listed (precondition failed)`);
    }
    const body = o.body.subarray(range.offsetBytes, range.offsetBytes + range.lengthBytes);
    return { ...o, body: Uint8Array.from(body) };
  }

  async putStream(
    bucket: string,
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    attributes: { contentType?: string; metadata?: Record<string, string> },
  ): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    await this.put(bucket, key, Buffer.concat(parts), attributes);
  }

  /** Every `head` call, as `bucket/key`. */
  readonly heads: string[] = [];

  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    this.heads.push(`${bucket}/${key}`);
    const o = this.buckets.get(bucket)?.get(key);
    if (!o) return undefined;
    return { sizeBytes: o.sizeBytes, etag: o.etag, ...(o.metadata ? { metadata: { ...o.metadata } } : {}) };
  }

  async put(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> },
  ): Promise<void> {
    const objects = this.buckets.get(bucket);
    if (!objects) throw new NotFoundError(`bucket ${bucket} does not exist`);
    objects.set(key, {
      key,
      body: Uint8Array.from(body),
      sizeBytes: body.length,
      etag: contentIdOf(body).slice(0, 32),
      lastModified: this.#clock.now().toISOString(),
      ...attributes,
    });
  }
  async delete(bucket: string, keys: readonly string[]): Promise<void> {
    const objects = this.buckets.get(bucket);
    for (const key of keys) objects?.delete(key);
  }
}

/** A queue per task kind, in memory. */
export class MemoryTaskQueue implements TaskQueue {
  readonly sent: Task[] = [];
  async send(task: Task): Promise<void> {
    this.sent.push(structuredClone(task));
  }
  /** Remove and return every queued task. */
  drain(): Task[] {
    return this.sent.splice(0);
  }
}

/** A key provider with a random master key in memory. */
export function memoryKeyProvider(master: Uint8Array = randomBytes(32)): MasterKeyProvider {
  return new MasterKeyProvider(async () => Buffer.from(master), 'memory');
}

const clone = <T>(v: T): T => structuredClone(v);

/** The catalog in memory, with the same conditional semantics as the DynamoDB catalog. */
export class MemoryCatalog implements Catalog {
  readonly plans = new Map<string, PlanRecord>();
  readonly jobs = new Map<string, JobRecord>();
  readonly snapshots = new Map<string, SnapshotRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  readonly journal = new Map<string, JournalEntry>();
  readonly drills = new Map<string, DrillHistory>();
  readonly restoreJobs = new Map<string, RestoreJobRecord>();
  /** Done markers of restore parts: `<restoreJobId>#<part>`. */
  readonly restoreParts = new Set<string>();
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
    const counted = !this.partitions.has(key) && s.status === 'RUNNING';
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

  async putPlans(plans: readonly PlanRecord[]): Promise<void> {
    for (const p of plans) this.plans.set(p.id, clone(p));
  }
  async getPlan(planId: string): Promise<PlanRecord | undefined> {
    const p = this.plans.get(planId);
    return p && clone(p);
  }
  async listPlans(): Promise<PlanRecord[]> {
    return [...this.plans.values()].sort((a, b) => a.id.localeCompare(b.id)).map(clone);
  }
  async createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean> {
    if (this.jobs.has(job.jobId)) return false;
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
    Object.assign(s, clone(patch));
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
    };
    this.tasks.set(id, record);
    return clone(record);
  }
  async updateTask(jobId: string, taskId: string, patch: Partial<TaskRecord>): Promise<void> {
    const id = `${jobId}#${taskId}`;
    const t = this.tasks.get(id) ?? { jobId, taskId, status: 'RUNNING', attempts: 0 };
    this.tasks.set(id, Object.assign(t, clone(patch)));
  }
  async listTasks(jobId: string): Promise<TaskRecord[]> {
    return [...this.tasks.values()].filter((t) => t.jobId === jobId).map(clone);
  }
  async createRestoreJob(job: RestoreJobRecord): Promise<boolean> {
    if (this.restoreJobs.has(job.restoreJobId)) return false;
    this.restoreJobs.set(job.restoreJobId, clone(job));
    return true;
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
  async completeRestorePart(
    restoreJobId: string,
    part: number,
    counts: RestorePartCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }> {
    const j = this.restoreJobs.get(restoreJobId);
    if (!j) throw new NotFoundError(`restore job ${restoreJobId} does not exist`);
    const marker = `${restoreJobId}#${part}`;
    if (this.restoreParts.has(marker)) return { counted: false, job: clone(j) };
    this.restoreParts.add(marker);
    j.objects += counts.objects;
    j.bytes += counts.bytes;
    j.skippedExists += counts.skippedExists;
    j.skippedUnchanged += counts.skippedUnchanged;
    j.partsDone += 1;
    j.updatedAt = at;
    return { counted: true, job: clone(j) };
  }
  async finishRestoreJob(
    restoreJobId: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; at: string; error?: string },
  ): Promise<boolean> {
    const j = this.restoreJobs.get(restoreJobId);
    if (j?.status !== 'RUNNING') return false;
    if (end.status === 'SUCCEEDED' && j.partsDone !== j.partsTotal) return false;
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
    this.drills.set(history.planId, clone(history));
    return true;
  }
  async appendJournal(entry: JournalEntry): Promise<boolean> {
    const id = `${entry.planId}#${entry.bucket}#${entry.key}#${entry.sequencer}`;
    if (this.journal.has(id)) return false;
    this.journal.set(id, clone(entry));
    return true;
  }
  async listJournal(planId: string): Promise<JournalEntry[]> {
    return [...this.journal.values()].filter((e) => e.planId === planId).map(clone);
  }
}
