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
import { compareSequencers, journalEntryHash, sequencerSortKey } from '#domain/journal.ts';
import type {
  ArchiveTier,
  ByteRange,
  Catalog,
  Clock,
  CurrentVersion,
  FetchedObject,
  LockMode,
  ObjectHead,
  ObjectStore,
  PutOptions,
  ReadOptions,
  SourceObject,
  StorageState,
  StoredChecksum,
  StoredObject,
  TaskQueue,
  VaultStore,
  WriteConditions,
  WriteOutcome,
} from '#domain/ports.ts';
import type {
  DrillHistory,
  GcMark,
  JobRecord,
  JournalEntry,
  LegalHold,
  PartitionCheckpoint,
  PartitionPlan,
  PartitionSummary,
  PlanRecord,
  RegionCopy,
  RestoreJobRecord,
  RestorePartCounts,
  SnapshotRecord,
  SnapshotStatus,
  TaskRecord,
} from '#domain/records.ts';
import type { Task } from '#domain/tasks.ts';
import { compareKeys, contentIdOf, storedChecksumOf } from '#domain/vault.ts';
import { assertItemSize, type OverflowAttribute, splitOverflow } from './item-size.ts';
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

/** Storage classes whose objects must be restored before they can be read. */
const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

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

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<StoredChecksum> {
    this.calls.put += 1;
    this.#maybeFail('put', key);
    if (options.retainUntil !== undefined && !options.lockMode) {
      throw new ValidationError(`retain-until ${options.retainUntil} needs a lock mode`, 'retainUntil');
    }
    const checksum = storedChecksumOf(body);
    this.objects.set(key, {
      body: Uint8Array.from(body),
      lastModified: this.#clock.now().toISOString(),
      checksum,
    });
    this.putOptions.set(key, { ...options });
    if (options.storageClass && options.storageClass !== 'STANDARD') {
      this.archived.set(key, { storageClass: options.storageClass, restore: 'none' });
    } else {
      this.archived.delete(key);
    }
    if (options.retainUntil && options.lockMode) this.#retain(key, options.retainUntil, options.lockMode);
    return { ...checksum };
  }

  /**
   * Object Lock simulation: each key's retention (mode and retain-until, ISO-8601 UTC). Like S3, a
   * retention is only ever extended, and the mode of a retained key never changes. Unlike S3 (whose
   * DELETE without a version id adds a delete marker and keeps the locked version), {@link delete}
   * refuses a key retained until after the clock's now: what deleting the locked version does in
   * COMPLIANCE mode. That lets a domain test see that nothing tried to delete a retained document.
   */
  readonly retention = new Map<string, { mode: LockMode; retainUntil: string }>();
  /** The options of each key's latest put (storage class, lock), as given. */
  readonly putOptions = new Map<string, PutOptions>();
  /** Every `extendRetention` call that moved a date, in order. */
  readonly retentionExtensions: { key: string; retainUntil: string }[] = [];

  #retain(key: string, retainUntil: string, mode: LockMode): boolean {
    const current = this.retention.get(key);
    if (current && Date.parse(current.retainUntil) >= Date.parse(retainUntil)) return false;
    this.retention.set(key, {
      mode: current?.mode ?? mode,
      retainUntil: new Date(retainUntil).toISOString(),
    });
    return true;
  }

  async retainUntil(key: string): Promise<string | undefined> {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    return this.retention.get(key)?.retainUntil;
  }

  async extendRetention(key: string, retainUntil: string, mode: LockMode): Promise<boolean> {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    if (Number.isNaN(Date.parse(retainUntil))) {
      throw new ValidationError(`${retainUntil} is not an ISO-8601 time`, 'retainUntil');
    }
    const moved = this.#retain(key, retainUntil, mode);
    if (moved) this.retentionExtensions.push({ key, retainUntil: new Date(retainUntil).toISOString() });
    return moved;
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
    if (state && ARCHIVE_CLASSES.has(state.storageClass) && state.restore !== 'ready') {
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

  /**
   * @throws ConflictError (not retryable), deleting nothing, when a key is retained (Object Lock)
   *   until after the clock's now.
   */
  async delete(keys: readonly string[]): Promise<void> {
    this.calls.delete += 1;
    for (const key of keys) this.#maybeFail('delete', key);
    const now = this.#clock.now().getTime();
    for (const key of keys) {
      const held = this.objects.has(key) ? this.retention.get(key) : undefined;
      if (held && Date.parse(held.retainUntil) > now) {
        throw new ConflictError(
          `${key} in ${this.bucket} is retained (${held.mode}) until ${held.retainUntil}: not deleted`,
        );
      }
    }
    for (const key of keys) {
      this.objects.delete(key);
      this.retention.delete(key);
      this.putOptions.delete(key);
    }
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
    if (!state || !ARCHIVE_CLASSES.has(state.storageClass)) {
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

  /** How many listings were started (a journal-built snapshot lists nothing). */
  listings = 0;

  async *list(
    bucket: string,
    prefix: string,
    options: { startAfter?: string } = {},
  ): AsyncIterable<SourceObject> {
    this.listings += 1;
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

  /** Every `get` and `getRange` call, in order (what a test checks reads against). */
  readonly reads: { bucket: string; key: string; range?: ByteRange; options?: ReadOptions }[] = [];

  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<FetchedObject> {
    this.beforeGet?.(bucket, key);
    this.reads.push({ bucket, key, options: { ...options } });
    const o = this.#read(bucket, key, options);
    return { ...o, body: Uint8Array.from(o.body) };
  }

  async getRange(bucket: string, key: string, range: ByteRange): Promise<FetchedObject> {
    this.beforeGet?.(bucket, key);
    this.reads.push({ bucket, key, range: { ...range } });
    const o = this.#read(bucket, key, range);
    const body = o.body.subarray(range.offsetBytes, range.offsetBytes + range.lengthBytes);
    return { ...o, body: Uint8Array.from(body) };
  }

  /** The object (or version) a read names, after its conditions: S3's 404 and 412. */
  #read(bucket: string, key: string, options: ReadOptions): FetchedObject {
    const o =
      options.versionId === undefined
        ? this.buckets.get(bucket)?.get(key)
        : this.versions
            .get(`${bucket}/${key}`)
            ?.find((v) => v.versionId === options.versionId && !v.deleteMarker);
    if (!o) {
      throw new NotFoundError(
        `no such key ${key}${options.versionId === undefined ? '' : ` version ${options.versionId}`} in ${bucket}`,
      );
    }
    if (options.ifMatch !== undefined && options.ifMatch !== o.etag) {
      throw new ConflictError(`${bucket}/${key} changed since it was listed (precondition failed)`);
    }
    return o;
  }

  /**
   * Versioning, as S3 does it: buckets made versioned keep every version put, each with a new
   * `versionId`; a simple delete ({@link delete}) adds a delete marker (a version with no data) and
   * keeps the others; deleting one version ({@link deleteVersion}) removes it for good, and the key's
   * newest remaining version, unless it is a delete marker, becomes the current object.
   */
  readonly versioned = new Set<string>();
  /** Versions (delete markers included) by `<bucket>/<key>`, oldest first. */
  readonly versions = new Map<string, MemoryVersion[]>();
  #versionCount = 0;

  #nextVersionId(): string {
    this.#versionCount += 1;
    return `v${String(this.#versionCount).padStart(6, '0')}`;
  }

  /**
   * `DeleteObject` with a `VersionId`: remove that version (or delete marker) of `key` for good;
   * the key's newest remaining version becomes current, and when it is a delete marker or none is
   * left the key has no current object. Deleting a missing version succeeds (as S3's does).
   * @returns whether the deleted version was a delete marker (S3 answers `x-amz-delete-marker`).
   */
  async deleteVersion(bucket: string, key: string, versionId: string): Promise<{ deleteMarker: boolean }> {
    const all = this.versions.get(`${bucket}/${key}`) ?? [];
    const at = all.findIndex((v) => v.versionId === versionId);
    if (at < 0) return { deleteMarker: false };
    const [deleted] = all.splice(at, 1);
    const newest = all.at(-1);
    const objects = this.buckets.get(bucket);
    if (!newest || newest.deleteMarker) objects?.delete(key);
    else objects?.set(key, newest);
    return { deleteMarker: deleted?.deleteMarker === true };
  }

  /** What a GET without a version id reads now: the key's current version, or undefined (none, or a delete marker). */
  async currentVersion(bucket: string, key: string): Promise<CurrentVersion | undefined> {
    this.heads.push(`${bucket}/${key}`);
    const o = this.buckets.get(bucket)?.get(key);
    if (!o) return undefined;
    return {
      key,
      sizeBytes: o.sizeBytes,
      etag: o.etag,
      lastModified: o.lastModified,
      ...(o.versionId === undefined ? {} : { versionId: o.versionId }),
    };
  }

  /** Turn versioning on for a bucket (creating it). */
  enableVersioning(bucket: string): void {
    this.createBucket(bucket);
    this.versioned.add(bucket);
  }

  /** As S3's multipart upload: `conditions` are checked once every chunk is in (CompleteMultipartUpload). */
  async putStream(
    bucket: string,
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    return this.put(bucket, key, Buffer.concat(parts), attributes, conditions);
  }

  /** Every `head` call, as `bucket/key`. */
  readonly heads: string[] = [];

  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    this.heads.push(`${bucket}/${key}`);
    const o = this.buckets.get(bucket)?.get(key);
    if (!o) return undefined;
    return { sizeBytes: o.sizeBytes, etag: o.etag, ...(o.metadata ? { metadata: { ...o.metadata } } : {}) };
  }

  /** With `conditions.ifNoneMatch`, stores nothing and answers `exists` when the key has an object (S3's 412). */
  async put(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    const objects = this.buckets.get(bucket);
    if (!objects) throw new NotFoundError(`bucket ${bucket} does not exist`);
    if (conditions.ifNoneMatch && objects.has(key)) return 'exists';
    const object: FetchedObject = {
      key,
      body: Uint8Array.from(body),
      sizeBytes: body.length,
      etag: contentIdOf(body).slice(0, 32),
      lastModified: this.#clock.now().toISOString(),
      ...attributes,
    };
    if (this.versioned.has(bucket)) {
      object.versionId = this.#nextVersionId();
      const all = this.versions.get(`${bucket}/${key}`) ?? [];
      all.push(object);
      this.versions.set(`${bucket}/${key}`, all);
    }
    objects.set(key, object);
    return 'written';
  }
  /** A simple delete: on a versioned bucket it adds a delete marker, keeping the versions. */
  async delete(bucket: string, keys: readonly string[]): Promise<void> {
    const objects = this.buckets.get(bucket);
    for (const key of keys) {
      objects?.delete(key);
      if (!this.versioned.has(bucket)) continue;
      const all = this.versions.get(`${bucket}/${key}`) ?? [];
      all.push({
        key,
        body: new Uint8Array(),
        sizeBytes: 0,
        etag: '',
        lastModified: this.#clock.now().toISOString(),
        versionId: this.#nextVersionId(),
        deleteMarker: true,
      });
      this.versions.set(`${bucket}/${key}`, all);
    }
  }
}

/** A version {@link MemoryObjectStore} keeps: an object's, or a delete marker (no data). */
export type MemoryVersion = FetchedObject & { deleteMarker?: true };

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
  async createRestoreJob(job: RestoreJobRecord): Promise<boolean> {
    if (this.restoreJobs.has(job.restoreJobId)) return false;
    fitsInItem('RESTORE', `JOB#${job.restoreJobId}`, job);
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
  async listRestorePartsDone(restoreJobId: string): Promise<number[]> {
    const prefix = `${restoreJobId}#`;
    return [...this.restoreParts]
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
  async releaseGcLease(vault: string, owner: string): Promise<void> {
    if (this.gcLeases.get(vault)?.owner === owner) this.gcLeases.delete(vault);
  }
  /** Copies' holds on vaults: vault bucket → holder → until. */
  readonly copyHolds = new Map<string, Map<string, string>>();
  async acquireCopyHold(vault: string, holder: string, now: string, until: string): Promise<boolean> {
    const lease = this.gcLeases.get(vault);
    if (lease && lease.until >= now) return false;
    const holds = this.copyHolds.get(vault) ?? new Map<string, string>();
    holds.set(holder, until);
    this.copyHolds.set(vault, holds);
    return true;
  }
  async releaseCopyHold(vault: string, holder: string): Promise<void> {
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
