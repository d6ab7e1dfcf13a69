/**
 * A deterministic simulation of the whole pipeline on the memory twins (FoundationDB-style): one
 * seeded scheduler owns every source of nondeterminism — which pending port call goes next, whether
 * it crashes, message and S3-event delivery, the clock — and the invariants are checked after every
 * step. A run is a list of named decisions, so a failure replays from its seed, and a shrunk list of
 * decisions replays too.
 *
 * Every port call of a task is a yield point: the wrapped port returns a promise the scheduler
 * settles later (or never: a kill stops resolving the task's promises, so no catch of the task runs).
 * Each invocation runs in a container (its ports); a killed container is thrown away, and capture's
 * may live on across invocations (`warm-capture`), keeping its module-level index cache. SQS is
 * modelled with receive counts, visibility timeouts and the task handler's last-receive recording;
 * S3 events with Lambda's asynchronous retries. Time passes mostly while no function runs.
 *
 * Invariants, after every step:
 * - `[restore]`: every COMMITTED snapshot restores byte-identically in the primary and in every
 *   region where it is COPIED (the same bytes everywhere);
 * - `[lost]`: its root, parts and blobs stay stored and indexed there (docs/format.md, Read and
 *   Write Ordering);
 * - `[content]`: a listing snapshot holds, per key, a state the source had while it ran;
 *   `[journal]`: a journal-built snapshot equals the source after the newest change it journaled
 *   by its cut (keys whose events are lost, late or changed since are not judged);
 * - `[retention]`: retention never forgets the newest committed snapshot;
 * - `[state-restore]`: snapshots a state-table restore dropped from the catalog keep their documents
 *   (unless the snapshot ran again and committed a root holding every key alike);
 * - `[restore-job]`: a SUCCEEDED restore job wrote what its snapshot holds;
 * - `[running]` (with `runningDeadlineSeconds`): no RUNNING snapshot or restore job outlives its deadline
 *   (clock jumps not counted: no tick runs the reaper during them);
 * - `[quarantine]` (fault kind `quarantine`): while a plan is in quarantine its held snapshot stays
 *   COMMITTED with its legal hold (and restores, as every committed one), no forget task that started
 *   while that quarantine was recorded forgets a snapshot of the plan, and no GC run that started
 *   while it was recorded deletes a vault object;
 * - `[keys]` (fault kind `rotation`): the envelopes use the keyring; after every rotation, retirement
 *   (finished or killed halfway) and master-key deletion, every committed snapshot is restored again
 *   from each region's vault alone (its key documents only), with the master keys that still exist;
 * - `[table]`, `[table-reconcile]`, `[table-pit]`, `[table-restore]`, `[table-capture]` (fault kind
 *   `tables`): table snapshots hold the table at their cut, reconciles count what the stream missed,
 *   a point in time between two snapshots restores the table as it was, a snapshot restores into a
 *   new table item for item, capture never refuses a valid record (test/sim/tables.ts says which
 *   keys each leaves undecided, and why);
 * - `[garbage]` (with `checkGarbage`): no unreferenced pack outlives the grace period plus one GC run
 *   ("unreferenced" as GC's live set defines it: test/support/gc-model.ts's liveBlobs and
 *   keptRootBlobs, plus journaled blobs); the quiet phase then ends with a GC cycle per region.
 * @see ../../docs/format.md#read-and-write-ordering
 */

import { withRetry } from '#adapters/retrying.ts';
import { captureChange, type S3EventRecord } from '#domain/capture.ts';
import { copyToRegion } from '#domain/copy.ts';
import { runDetector } from '#domain/detector/run.ts';
import { runDrill } from '#domain/drill.ts';
import { isRetryable, reasonOf, SourceUnavailableError, TransientError } from '#domain/errors.ts';
import { PartBlobCache } from '#domain/gc/part-cache.ts';
import { KeyringKeyProvider, retireRecipient, rotateKeys, withKeyDocuments } from '#domain/keyring.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { type BucketSourceSpec, isTableSource } from '#domain/plan.ts';
import type { Catalog, Clock, ObjectStore, TaskQueue, VaultStore } from '#domain/ports.ts';
import { prunePlan } from '#domain/prune.ts';
import { quarantinePlan } from '#domain/quarantine.ts';
import { DEFAULT_REAPER_OPTIONS, reapStaleWork } from '#domain/reaper.ts';
import type { JournalEntry, PlanRecord, QuarantineRecord, SnapshotRecord } from '#domain/records.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readIndex, readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSlice, startRestore } from '#domain/restore/jobs.ts';
import {
  retrySnapshot,
  startDrillNow,
  startDueDrills,
  startDueSnapshots,
  startDueVerifications,
  startSnapshotNow,
} from '#domain/scheduling.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import { captureTableRecord } from '#domain/table/capture.ts';
import { canonicalItemJson, itemHashOf } from '#domain/table/item.ts';
import type { TableStore } from '#domain/table/ports.ts';
import { jobIdOf, queueOf, type Task, taskIdOf } from '#domain/tasks.ts';
import { type ContentId, VaultLayout } from '#domain/vault.ts';
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import { GarbageWatch, garbagePacks, keptRootBlobs, liveBlobs } from '../support/gc-model.ts';
import { MemoryCatalog, type MemoryCatalogState } from '../support/memory/catalog.ts';
import { MemoryScratchSpace } from '../support/memory/scratch.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { SimEnvelope } from './envelope.ts';
import type { FaultKind } from './faults.ts';
import { SimMasterKey, SimRandom } from './keys.ts';
import { SimObjectStore } from './object-store.ts';
import { Prng } from './prng.ts';
import { MAX_LAG_MS, type StreamDelivery, type TableCheckContext, TableModel, tablePlans } from './tables.ts';

/** The bucket a simulated bucket plan protects. */
function bucketOf(plan: PlanRecord): string {
  return (plan.source as BucketSourceSpec).bucket;
}

export interface SimOptions {
  seed: number;
  /** Scheduler steps with faults, before the quiet phase that lets everything finish. @default 300 */
  steps?: number;
  faults: readonly FaultKind[];
  /**
   * Seconds a RUNNING snapshot or restore job may stay RUNNING (by S3's clock) before it is a
   * violation; undefined: not checked (until the reaper lands).
   */
  runningDeadlineSeconds?: number;
  /**
   * Also check that no unreferenced pack outlives the grace period plus one GC run (test/support/
   * gc-model.ts's GarbageWatch, against the live set GC defines today). @default false
   */
  checkGarbage?: boolean;
  /**
   * A deliberately broken vault that drops every delete of a pack (a garbage collection that leaks):
   * for the test that shows the `[garbage]` check can fail. @default false
   */
  leakPacks?: boolean;
  /**
   * A deliberately broken catalog that answers "journaled" to a table item's removal and stores
   * nothing (a capture that loses deletes): for the test that shows the `[table]` checks can fail.
   * @default false
   */
  loseTableRemovals?: boolean;
  /** Steps of the quiet phase (no faults: what is under way finishes). @default 300 */
  quietSteps?: number;
  /**
   * Blobs every vault index, and garbage collection's live set and index documents, hold in memory
   * before they spill to scratch files (memory ones here; `indexMemoryBlobs`): 0 spills everything
   * at once. Undefined: no scratch space, nothing spills. The result's stat `spill.bytes` counts
   * what was written to scratch.
   */
  spillBlobs?: number;
  /**
   * `gcIntervalSeconds` of every function (a `gc` task collects only when the vault's last completed
   * run ended this long ago; deferred otherwise). Undefined: 0, every task collects. The garbage
   * check counts completed runs only, so its bound ("grace plus one run") holds whatever it is.
   */
  gcIntervalSeconds?: number;
  /** Each container's GC keeps a PartBlobCache (gc/part-cache.ts), as a warm prune environment does. */
  partCache?: boolean;
  /** Replay these decisions instead of drawing them (a shrunk trace); a decision that no longer applies is skipped. */
  replay?: readonly string[];
}

export interface SimResult {
  seed: number;
  violations: string[];
  /** Every decision taken, in order (the trace). */
  decisions: string[];
  /** The decision after which the first violation was seen (index into `decisions`), or -1. */
  failedAt: number;
  stats: Record<string, number>;
}

/** The scheduler's EventBridge rate: `rate(1 minute)`. */
const TICK_MS = 60_000;
const PRIMARY = 'us-east-1';
const COPY = 'eu-west-1';
const GRACE_SECONDS = 600;
const CALL_MS = 100;
/** Steps past `quietSteps` the quiet phase's closing garbage-collection cycle may take. */
const END_GC_STEPS = 400;
const LAMBDA_TIMEOUT_MS = 300_000;
const VISIBILITY_MS = 5_400_000;
const MAX_RECEIVES = 3;
/** Journal-built snapshots cut `settleSeconds` (default 30) before now. */
const SETTLE_MS = 30_000;
const CAPTURE_ATTEMPTS = 3;
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];
/** Contents: a small alphabet, so blobs dedupe, die and come back. */
const ALPHABET = [...'abcdefghijklmnopqrst'].map((c, i) => c.repeat(2 + (i % 4)));
const START = Date.parse('2026-03-01T00:00:00Z');

interface Run {
  name: string;
  kind: string;
  container: Container;
  message?: Message;
  event?: SimEvent;
  deadlineT: number;
  calls: number;
  state: 'running' | 'done' | 'killed';
  /** The quarantine records stored when the run started (forget and gc tasks; `quarantine` faults). */
  quarantines?: QuarantineRecord[];
  /** What a kill hands back for delivery again (a table capture's stream record). */
  requeue?: () => void;
}

interface Pending {
  run: Run;
  name: string;
  effect: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Container {
  kind: string;
  deps: PipelineDeps;
  /** The master key its configuration named when it started (fault kind `rotation`). */
  master?: SimMasterKey;
  current?: Run;
  dead: boolean;
}

interface Message {
  name: string;
  task: Task;
  receives: number;
  state: 'visible' | 'inflight' | 'gone';
  visibleAt: number;
  runs: Run[];
}

interface SimEvent {
  name: string;
  record: S3EventRecord;
  attempts: number;
}

interface Mutation {
  seq: number;
  step: number;
  /** Content of the key after it (null: absent). */
  after: string | null;
}

interface CheckedSnapshot {
  planId: string;
  snapshotId: string;
  manifestId: string;
  contents: Map<string, string>;
  regions: Set<string>;
}

interface Candidate {
  name: string;
  weight: number;
  /** Draw the decision's variant (outcome, content, seconds); '' when it has none. */
  variant?: (rng: Prng) => string;
  exec: (variant: string) => Promise<void> | void;
}

/** A rotation under way (fault kind `rotation`): from the configured key to a new one. */
interface KeyRotation {
  phase: 'rotating' | 'rotated' | 'switched' | 'rerotated';
  from: SimMasterKey;
  to: SimMasterKey;
}

const short = (s: string) => s.replace(/[0-9a-f]{64}/g, (h) => h.slice(0, 8));

/** A clock whose time is `T + skew` of the world. */
class SimClock implements Clock {
  readonly world: World;
  readonly skewed: boolean;
  constructor(world: World, skewed: boolean) {
    this.world = world;
    this.skewed = skewed;
  }
  now(): Date {
    return new Date(this.world.T + (this.skewed ? this.world.skewMs : 0));
  }
}

export class World {
  readonly rng: Prng;
  /** Draws made inside effects (a send delivered twice, an S3 event lost): a stream of their own. */
  readonly effects: Prng;
  readonly faults: ReadonlySet<FaultKind>;
  readonly opts: SimOptions;
  /** S3's time (milliseconds): only ever moves forward. */
  T = START;
  /** How far the functions' clock is off S3's. */
  skewMs = 0;
  readonly s3Clock = new SimClock(this, false);
  readonly fnClock = new SimClock(this, true);
  readonly catalog = new MemoryCatalog();
  readonly primary = new MemoryVaultStore(PRIMARY, 'vault-use1', this.s3Clock);
  readonly copy = new MemoryVaultStore(COPY, 'vault-euw1', this.s3Clock);
  readonly objects = new SimObjectStore(this.s3Clock);
  /** Fault kind `tables`: the protected table, its history and its stream. */
  readonly table: TableModel | undefined;
  /** The envelope the checks open documents with (per check and region with `rotation`: #checkers). */
  envelope = new SimEnvelope();
  readonly plans: PlanRecord[] = [];
  readonly pending: Pending[] = [];
  readonly runs: Run[] = [];
  readonly messages: Message[] = [];
  readonly events: SimEvent[] = [];
  readonly decisions: string[] = [];
  readonly violations: string[] = [];
  readonly stats: Record<string, number> = {};
  /** Where indexes and GC's live set spill with `spillBlobs` (one space: scratch files are per container in Lambda, but nothing here shares them). */
  readonly scratch = new MemoryScratchSpace();
  step = 0;
  #quiet = false;
  /** The source buckets refuse access (a policy change, a deleted bucket): listings fail. */
  sourceDown = false;
  get quiet(): boolean {
    return this.#quiet;
  }
  /** The quiet phase: no faults, and the sources are reachable again. */
  set quiet(on: boolean) {
    this.#quiet = on;
    if (on) {
      this.sourceDown = false;
      this.#quietT = this.T;
    }
  }
  /** When the quiet phase began (S3's clock). */
  #quietT = 0;
  /** Per region, when the quiet phase last asked for a garbage-collection run (S3's clock). */
  readonly #endGcAsked = new Map<string, number>();

  /**
   * With `checkGarbage`, the quiet phase ends with a garbage-collection cycle in each region: a run that
   * started in the quiet phase, and one that started a grace period after it (the one that marks, the
   * one that sweeps). Work arrives much more often than garbage-collection runs, so without it few
   * seeds last long enough for a sweep, and the garbage check would see little.
   * @returns a region whose cycle needs a run now; `'wait'` when one needs time to pass; undefined when done.
   */
  endGcDue(): string | undefined {
    if (!this.opts.checkGarbage) return undefined;
    let wait = false;
    for (const region of [PRIMARY, COPY]) {
      const runs = this.#watch.runs.filter((r) => r.region === region && r.startedMs >= this.#quietT);
      const first = runs[0];
      if (first && runs.some((r) => r.startedMs >= first.startedMs + GRACE_SECONDS * 1000)) continue;
      const asked = this.#endGcAsked.get(region);
      // A run deferred (a lease held, a copy's hold) is asked again once a grace period has passed.
      const next = Math.max(
        first ? first.startedMs + GRACE_SECONDS * 1000 : 0,
        (asked ?? -Infinity) + GRACE_SECONDS * 1000,
      );
      if (this.T + this.skewMs >= next) return region;
      wait = true;
    }
    return wait ? 'wait' : undefined;
  }
  /** Catalog calls and state restores so far (the checks skip work when nothing changed). */
  writes = 0;
  #checkedAt = '';
  readonly #blobsOf = new Map<string, { parts: string[]; blobs: ContentId[] }>();
  readonly #locatedAt = new Map<string, { at: string; located: Map<ContentId, ContentId[]> }>();
  #warmCapture: Container | undefined;
  #sent = new Map<string, number>();
  #runCount = new Map<string, number>();
  #sequencer = 0;
  /** Source history by `<bucket>/<key>`: every mutation, in order. */
  readonly history = new Map<string, Mutation[]>();
  /** The step each snapshot record was first seen (window start), and each manifest committed (window end). */
  readonly #created = new Map<string, { step: number; T: number }>();
  readonly #checked = new Map<string, CheckedSnapshot>();
  /** Committed snapshots a state restore dropped from the catalog: the vault must keep them. */
  readonly #orphans = new Map<string, CheckedSnapshot>();
  /** Snapshots seen FORGOTTEN (or removed by retention): a state restore may bring their records back. */
  readonly #forgotten = new Set<string>();
  #savedState: unknown;
  readonly #watch = new GarbageWatch(GRACE_SECONDS);
  /** When each journal entry was first written (the functions' clock), by `<plan>/<key>/<sequencer>`. */
  readonly #appendedAt = new Map<string, number>();
  /** The same, with each entry's `capturedAt` (ms), for the table checks. */
  readonly #journaled = new Map<string, { capturedAt: number; appendedAt: number }>();
  /** `[table-capture]`: stream records capture refused for good (they are valid: it never should). */
  readonly #tableBreaches: string[] = [];
  #restores = 0;
  /** `rotation`: the nonce counter every container's envelope shares, and the seed's byte source. */
  readonly #nonces = { n: 0 };
  readonly #random: SimRandom;
  /** `rotation`: the master keys made so far (K1 first); a retired one is deleted (it wraps and unwraps nothing). */
  readonly #masterKeys: SimMasterKey[] = [];
  /** `rotation`: the master key the configuration names (new containers wrap to it and unwrap with it). */
  #configured: SimMasterKey | undefined;
  /**
   * `rotation`, the operator's procedure (README "Keys: rotation and retirement"): `rotate --to NEW`
   * until it succeeds, point the configuration at NEW, `rotate --to NEW` again, `retire OLD`.
   */
  #keys: KeyRotation | undefined;
  /** Bumped when restorability may have changed for every snapshot (keyring operations): everything is restored again. */
  #keysEpoch = 0;
  #keysCheckedEpoch = 0;
  /** Per check, the envelopes opening documents of one region's vault alone (and of both: 'all'). */
  #checkers = new Map<string, SimEnvelope>();
  /** When the state table was last restored to an earlier point (the functions' clock), or -Infinity. */
  #stateRestoredT = Number.NEGATIVE_INFINITY;
  /** `[quarantine]` breaches seen at the port calls (a forget or a delete a quarantine should have stopped). */
  readonly #quarantineBreaches: string[] = [];
  readonly #indexCache = new Map<string, ReadonlyMap<ContentId, readonly ContentId[]>>();

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = new Prng(opts.seed);
    this.effects = new Prng(opts.seed ^ 0x5bd1e995);
    this.faults = new Set(opts.faults);
    this.table = this.faults.has('tables') ? new TableModel() : undefined;
    this.#random = new SimRandom(opts.seed);
    if (this.faults.has('rotation')) {
      this.#configured = new SimMasterKey(opts.seed, 1);
      this.#masterKeys.push(this.#configured);
    }
  }

  has(f: FaultKind): boolean {
    return !this.quiet && this.faults.has(f);
  }

  count(what: string, n = 1): void {
    this.stats[what] = (this.stats[what] ?? 0) + n;
  }

  // ---------------------------------------------------------------- set-up

  async setUp(): Promise<void> {
    const at = new Date(START).toISOString();
    const base = {
      schedule: 'rate(20 minutes)',
      enabled: true,
      createdAt: at,
      updatedAt: at,
      verification: { samplePercent: 50, schedules: { checksum: 'rate(2 hours)' } },
      snapshot: { partitionObjects: 2, maxParallelPartitions: 2 },
      continuous: { reconcileSchedule: 'rate(2 hours)' },
      drill: { schedule: 'rate(3 hours)', sampleObjects: 2, recentSnapshots: 2 },
    };
    this.plans.push({
      ...base,
      id: 'photos',
      source: { bucket: 'src-photos', prefix: '' },
      retention: { keepLast: 2 },
      copyRegions: [COPY],
    } as PlanRecord);
    this.objects.createBucket('src-photos');
    if (this.faults.has('versioned')) {
      this.plans.push({
        ...base,
        id: 'docs',
        source: { bucket: 'src-docs', prefix: '' },
        retention: { keepLast: 1 },
        copyRegions: [],
      } as PlanRecord);
      this.objects.createBucket('src-docs', true);
    }
    if (this.table) this.plans.push(...tablePlans(base, COPY));
    this.objects.createBucket('restored');
    this.objects.createBucket('drill-scratch');
    await this.catalog.putPlans(this.plans);
    // A first state of each source: every key present.
    for (const plan of this.bucketPlans())
      for (const key of KEYS) this.mutate(bucketOf(plan), key, 'put', this.rng.pick(ALPHABET), false);
    await this.table?.setUp(() => this.rng.pick(ALPHABET), this.T);
  }

  /** The plans of buckets (the table plans change through {@link TableModel}). */
  bucketPlans(): PlanRecord[] {
    return this.plans.filter((p) => !isTableSource(p.source));
  }

  // ---------------------------------------------------------------- containers and ports

  #container(kind: string): Container {
    const c: Container = { kind, dead: false } as Container;
    const call = <T>(name: string, effect: () => Promise<T>): Promise<T> => {
      const run = c.current;
      // A frozen container (its invocation ended or died): the call never returns.
      if (run?.state !== 'running') return new Promise<T>(() => {});
      return new Promise<T>((resolve, reject) => {
        run.calls += 1;
        this.pending.push({
          run,
          name: `${run.name} #${run.calls} ${short(name)}`,
          effect,
          resolve: resolve as (v: unknown) => void,
          reject,
        });
      });
    };
    const wrapVault = (raw: MemoryVaultStore, tag: string): VaultStore => ({
      region: raw.region,
      bucket: raw.bucket,
      put: (key, body, options) =>
        call(`${tag}.put ${key}`, () => {
          // A key document rewritten outside a keyring operation (a copy's): restore everything again.
          if (key.startsWith('keys/') && c.kind !== 'keys' && raw.objects.has(key)) this.#keysEpoch += 1;
          return raw.put(key, body, options);
        }),
      extendRetention: (key, until, mode) =>
        call(`${tag}.extendRetention ${key}`, () => raw.extendRetention(key, until, mode)),
      retainUntil: (key) => call(`${tag}.retainUntil ${key}`, () => raw.retainUntil(key)),
      get: (key) => call(`${tag}.get ${key}`, () => raw.get(key)),
      getRange: (key, o, l) => call(`${tag}.getRange ${key}`, () => raw.getRange(key, o, l)),
      checksum: (key) => call(`${tag}.checksum ${key}`, () => raw.checksum(key)),
      delete: (keys) => {
        const run = c.current;
        return call(`${tag}.delete ${keys.length}`, () => {
          if (keys.length > 0 && run?.message?.task.kind === 'gc') this.#quarantineGc(run, tag, keys.length);
          return raw.delete(this.opts.leakPacks ? keys.filter((k) => !VaultLayout.packIdOf(k)) : keys);
        });
      },
      list: (prefix) => ({
        async *[Symbol.asyncIterator]() {
          yield* await call(`${tag}.list ${prefix}`, async () => {
            const out = [];
            for await (const o of raw.list(prefix)) out.push(o);
            return out;
          });
        },
      }),
    });
    const raw = this.catalog as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const catalog = new Proxy(this.catalog, {
      get: (target, prop) => {
        const f = (target as unknown as Record<string | symbol, unknown>)[prop];
        if (typeof f !== 'function') return f;
        const run = c.current;
        return (...args: unknown[]) =>
          call(`catalog.${String(prop)}`, () => {
            if (prop === 'updateSnapshot' && run?.quarantines?.length)
              return this.#quarantineForget(run, target, args);
            if (!/^(get|list)/.test(String(prop))) this.writes += 1; // reads change nothing to check
            if (prop === 'deleteGcMarks' && c.kind === 'copy') this.count('copy-rescues');
            if (prop === 'appendJournal') {
              const e = args[0] as JournalEntry;
              const id = `${e.planId}/${e.key}/${e.sequencer}`;
              if (!this.#appendedAt.has(id)) {
                this.#appendedAt.set(id, this.T + this.skewMs);
                this.#journaled.set(id, {
                  capturedAt: Date.parse(e.capturedAt),
                  appendedAt: this.T + this.skewMs,
                });
              }
              if (this.opts.loseTableRemovals && e.bucket.startsWith('dynamodb:') && e.outcome === 'removed')
                return Promise.resolve(true);
            }
            return (raw[prop as string] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          });
      },
    }) as Catalog;
    const queue: TaskQueue = {
      send: (task) => {
        const copy = structuredClone(task);
        return call(`queue.send ${copy.kind}`, async () => this.enqueue(copy));
      },
      sendBatch: (tasks) => {
        const copies = tasks.map((t) => structuredClone(t));
        return call(`queue.sendBatch ${copies[0]?.kind ?? 'none'}`, async () => {
          for (const copy of copies) this.enqueue(copy);
        });
      },
    };
    const o = this.objects;
    const self = this;
    const objects: ObjectStore = {
      list: (bucket, prefix, options) => ({
        async *[Symbol.asyncIterator]() {
          yield* await call(`s3.list ${bucket}`, async () => {
            if (self.sourceDown && bucket.startsWith('src-'))
              throw new SourceUnavailableError(`access to bucket ${bucket} is denied`);
            const out = [];
            for await (const x of o.list(bucket, prefix, options)) out.push(x);
            return out;
          });
        },
      }),
      get: (bucket, key, options) => call(`s3.get ${bucket}/${key}`, () => o.get(bucket, key, options)),
      getRange: (bucket, key, range) =>
        call(`s3.getRange ${bucket}/${key}`, () => o.getRange(bucket, key, range)),
      head: (bucket, key) => call(`s3.head ${bucket}/${key}`, () => o.head(bucket, key)),
      put: (bucket, key, body, attrs, conditions) =>
        call(`s3.put ${bucket}/${key}`, () => o.put(bucket, key, body, attrs, conditions)),
      putStream: async (bucket, key, chunks, attrs, conditions) => {
        const parts: Uint8Array[] = [];
        for await (const chunk of chunks) parts.push(chunk);
        const body = Buffer.concat(parts);
        return call(`s3.put ${bucket}/${key}`, () => o.put(bucket, key, body, attrs, conditions));
      },
      createUpload: (bucket, key, attrs) =>
        call(`s3.createUpload ${bucket}/${key}`, () => o.createUpload(bucket, key, attrs)),
      uploadPart: (bucket, key, uploadId, partNumber, body) =>
        call(`s3.uploadPart ${bucket}/${key}`, () => o.uploadPart(bucket, key, uploadId, partNumber, body)),
      completeUpload: (bucket, key, uploadId, etags, conditions) =>
        call(`s3.completeUpload ${bucket}/${key}`, () =>
          o.completeUpload(bucket, key, uploadId, etags, conditions),
        ),
      abortUpload: (bucket, key, uploadId) =>
        call(`s3.abortUpload ${bucket}/${key}`, () => o.abortUpload(bucket, key, uploadId)),
      currentVersion: (bucket, key) =>
        call(`s3.currentVersion ${bucket}/${key}`, () => o.currentVersion(bucket, key)),
      delete: (bucket, keys) => call(`s3.delete ${bucket}`, () => o.delete(bucket, keys)),
    };
    const rawTables = this.table?.store;
    // DynamoDB as the container's table store: every call a yield point. A page holds at most 2
    // items (DynamoDB may return fewer than the Limit), so scans interleave with item changes.
    const tables: TableStore | undefined = rawTables && {
      describe: (t) => call(`ddb.describe ${t}`, () => rawTables.describe(t)),
      scanPage: (t, segment, startKey, limit) =>
        call(`ddb.scan ${t} ${segment.index}/${segment.total}`, () =>
          rawTables.scanPage(t, segment, startKey, Math.min(limit ?? 2, 2)),
        ),
      getItem: (t, key) => call(`ddb.getItem ${t}`, () => rawTables.getItem(t, key)),
      batchWrite: (t, writes) => call(`ddb.batchWrite ${t}`, () => rawTables.batchWrite(t, writes)),
      putItem: (t, item, options) => call(`ddb.putItem ${t}`, () => rawTables.putItem(t, item, options)),
      createTable: (definition, t) =>
        call(`ddb.createTable ${t}`, () => rawTables.createTable(definition, t)),
      deleteTable: (t) => call(`ddb.deleteTable ${t}`, () => rawTables.deleteTable(t)),
    };
    let envelope = this.envelope;
    let primary = wrapVault(this.primary, 'use1');
    let copy = wrapVault(this.copy, 'euw1');
    if (this.#configured) {
      // The keyring as a function's container builds it (shared/runtime/container.ts): the master
      // key its configuration names, key documents read through its ports, stored before each put.
      const master = this.#configured;
      c.master = master;
      const ports = [primary, copy];
      const keyring = new KeyringKeyProvider({
        vaults: () => ports,
        recipients: async () => [master],
        holders: async () => [master],
        clock: this.fnClock,
        randomBytes: (n) => this.#random.bytes(n),
      });
      envelope = new SimEnvelope(keyring, this.#nonces);
      primary = withKeyDocuments(primary, keyring);
      copy = withKeyDocuments(copy, keyring);
    }
    c.deps = {
      catalog,
      queue,
      clock: this.fnClock,
      envelope,
      vaults: { primary, copies: new Map([[COPY, copy]]) },
      objects,
      // A wait between attempts is a call that lets S3's clock move on by it (a table seal waits
      // for capture to settle past its cut so); no timer, no randomness.
      retry: (attempt, policy) =>
        withRetry(attempt, {
          ...policy,
          random: () => 0.5,
          sleep: (ms) =>
            call(`sleep ${ms}`, async () => {
              this.T += ms;
            }),
        }),
      ...(tables ? { tables: () => tables } : {}),
      // A stream record's time is its second, on a clock up to 5 s off the functions' (clock-skew):
      // the seal's window is 6 s, under AMBIGUOUS_MS (tables.ts).
      streamTimePrecisionSeconds: 6,
      concurrency: 2,
      gcGraceSeconds: GRACE_SECONDS,
      ...(this.opts.gcIntervalSeconds === undefined
        ? {}
        : { gcIntervalSeconds: this.opts.gcIntervalSeconds }),
      ...(this.opts.partCache ? { partBlobCache: new PartBlobCache(100_000) } : {}),
      gcMaxUnusedPercent: 30,
      // Every pack here is small: runs consolidate live packs whenever two are old, three at most.
      gcConsolidateMinPacks: 2,
      gcConsolidateMaxPacks: 3,
      remainingTimeMs: () => (c.current ? c.current.deadlineT - this.T : LAMBDA_TIMEOUT_MS),
      timeReserveSeconds: this.faults.has('continuation') ? LAMBDA_TIMEOUT_MS / 1000 - 8 : 120,
      ...(this.faults.has('continuation') ? { partitionBatchObjects: 1 } : {}),
      progressIntervalMs: 0,
      restoreFanOutThreshold: 1,
      restoreSliceSize: 2,
      ...(this.opts.spillBlobs === undefined
        ? {}
        : { scratch: this.scratch, indexMemoryBlobs: this.opts.spillBlobs }),
    };
    return c;
  }

  /** Start `body` as an invocation in a container of `kind` (the warm capture container when it is idle). */
  #start(
    kind: string,
    label: string,
    body: (deps: PipelineDeps) => Promise<void>,
    extra: Partial<Run> = {},
  ): Run {
    let c: Container;
    const warm = this.#warmCapture;
    if (
      kind === 'capture' &&
      this.faults.has('warm-capture') &&
      warm &&
      !warm.dead &&
      warm.current?.state !== 'running'
    ) {
      c = warm;
    } else {
      c = this.#container(kind);
      if (kind === 'capture' && this.faults.has('warm-capture') && (!warm || warm.dead))
        this.#warmCapture = c;
    }
    const n = (this.#runCount.get(label) ?? 0) + 1;
    this.#runCount.set(label, n);
    const run: Run = {
      name: n > 1 ? `${label}@${n}` : label,
      kind,
      container: c,
      deadlineT: this.T + LAMBDA_TIMEOUT_MS,
      calls: 0,
      state: 'running',
      ...extra,
    };
    c.current = run;
    this.runs.push(run);
    this.count(`runs.${kind}`);
    void body(c.deps).then(
      () => {
        if (run.state === 'running') run.state = 'done';
      },
      (error) => {
        if (run.state !== 'running') return;
        run.state = 'done';
        this.violations.push(`[sim] ${run.name} escaped with ${reasonOf(error)}`);
      },
    );
    return run;
  }

  /** Kill an invocation (`kill`: at a port call; `timeout`: Lambda's): no catch of it runs, ever. */
  #kill(run: Run, why: 'kill' | 'timeout'): void {
    if (run.state !== 'running') return;
    run.state = 'killed';
    run.container.dead = true;
    this.count(`kills.${why}`);
    if (run.kind === 'keys') this.#keysEpoch += 1; // a keyring operation stopped halfway
    for (let i = this.pending.length - 1; i >= 0; i--)
      if (this.pending[i]?.run === run) this.pending.splice(i, 1);
    if (run.event) this.#retryEvent(run.event);
    run.requeue?.();
  }

  // ---------------------------------------------------------------- queues

  enqueue(task: Task): void {
    const base = short(describeTask(task));
    const n = (this.#sent.get(base) ?? 0) + 1;
    this.#sent.set(base, n);
    const copies = this.has('duplicate') && this.effects.chance(0.1) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const name = `${base}#${n}${i > 0 ? 'd' : ''}`;
      this.messages.push({
        name,
        task: structuredClone(task),
        receives: 0,
        state: 'visible',
        visibleAt: 0,
        runs: [],
      });
    }
  }

  #deliver(m: Message): void {
    m.receives += 1;
    m.state = 'inflight';
    m.visibleAt = this.T + VISIBILITY_MS;
    // A container per function, as Lambda's: the queue's (`forget` and `gc` both run in prune's).
    const run = this.#start(queueOf(m.task.kind), m.name, async (deps) => {
      const outcome = await this.#handle(deps, m.task, m.receives);
      if (outcome === 'ok' || outcome === 'dlq') m.state = 'gone';
      // 'retry': the message stays in flight until its visibility timeout.
    });
    run.message = m;
    if (m.task.kind === 'forget' || m.task.kind === 'gc')
      run.quarantines = [...this.catalog.quarantines.values()];
    m.runs.push(run);
  }

  /** A forget's `updateSnapshot`: forgetting while the quarantine its run started under still holds is a breach. */
  async #quarantineForget(run: Run, catalog: MemoryCatalog, args: unknown[]): Promise<boolean> {
    this.writes += 1;
    const [planId, snapshotId, patch] = args as [string, string, Partial<SnapshotRecord>];
    const ok = await catalog.updateSnapshot(...(args as Parameters<MemoryCatalog['updateSnapshot']>));
    if (ok && patch.status === 'FORGOTTEN' && run.message?.task.kind === 'forget') {
      const q = this.catalog.quarantines.get(planId);
      if (q && run.quarantines?.includes(q))
        this.#quarantineBreaches.push(
          `[quarantine] ${run.name} forgot ${planId}/${snapshotId}: it started while the plan was in quarantine (since ${q.since})`,
        );
    }
    return ok;
  }

  /** A GC run's delete: deleting while a quarantine recorded when the run started still holds is a breach. */
  #quarantineGc(run: Run, tag: string, n: number): void {
    const q = run.quarantines?.find((x) => this.catalog.quarantines.get(x.planId) === x);
    if (q)
      this.#quarantineBreaches.push(
        `[quarantine] ${run.name} deleted ${n} object(s) from ${tag}: it started while plan ${q.planId} was in quarantine (since ${q.since})`,
      );
  }

  /** What the SQS task handler does (shared/runtime/sqs-task-handler.ts), on the container's ports. */
  async #handle(deps: PipelineDeps, task: Task, receives: number): Promise<'ok' | 'retry' | 'dlq'> {
    try {
      await this.#useCase(deps, task);
      return 'ok';
    } catch (error) {
      this.count('task-errors');
      const retryable = isRetryable(error);
      if (retryable && receives < MAX_RECEIVES) return 'retry';
      const reason = retryable
        ? `${reasonOf(error)} (failed ${receives} times; the task is in the DLQ)`
        : reasonOf(error);
      await recordOnJob(deps, task, reason);
      return 'dlq';
    }
  }

  async #useCase(deps: PipelineDeps, task: Task): Promise<unknown> {
    switch (task.kind) {
      case 'snapshot-plan':
      case 'snapshot-partition':
        return takeSnapshot(deps, task);
      case 'copy':
        return copyToRegion(deps, task);
      case 'verify':
      case 'verify-tier':
        return verifySnapshot(deps, task);
      case 'forget':
      case 'gc': {
        const seq = this.#watch.started();
        const startedMs = this.T + this.skewMs;
        const result = await prunePlan(deps, task);
        // A run counts once it planned: not deferred, nor stopped mid-mark (its task goes on).
        const ran = task.kind === 'gc' ? result.gc[task.region] : undefined;
        if (task.kind === 'gc' && !ran?.deferred && !ran?.continued)
          this.#watch.ran(task.region, startedMs, seq, this.T + this.skewMs);
        for (const gc of Object.values(result.gc)) {
          for (const [k, v] of Object.entries(gc))
            if (typeof v === 'number' && v > 0) this.count(`gc.${k}`, v);
          if (gc.deferred) this.count(`gc.deferred.${gc.deferred.slice(0, 40)}`);
          if (gc.continued) this.count('gc.continued');
        }
        return result;
      }
      case 'restore-slice':
        return restoreSlice(deps, task);
      case 'drill':
        return runDrill({ ...deps, drillBucket: 'drill-scratch', elapsedMs: () => this.T }, task);
    }
  }

  /** Messages whose visibility timeout passed are visible again (or, on their last receive, dead-lettered). */
  #expireVisibility(): void {
    for (const m of this.messages) {
      if (m.state !== 'inflight' || this.T < m.visibleAt) continue;
      if (m.receives >= MAX_RECEIVES) {
        m.state = 'gone';
        this.count('dlq');
      } else m.state = 'visible';
    }
    // Lambda's timeout: an invocation past it dies (no catch runs).
    if (this.faults.has('kill'))
      for (const run of this.runs)
        if (run.state === 'running' && this.T > run.deadlineT) this.#kill(run, 'timeout');
    this.runs.splice(0, this.runs.length, ...this.runs.filter((r) => r.state === 'running'));
  }

  // ---------------------------------------------------------------- sources and S3 events

  /** Change a source key (S3's side) and emit its event (maybe lost, maybe twice). */
  mutate(
    bucket: string,
    key: string,
    op: 'put' | 'delete' | 'delete-version',
    arg: string,
    events = true,
  ): void {
    const seq = ++this.#sequencer;
    const sequencer = seq.toString(16).toUpperCase().padStart(16, '0');
    let eventName: string;
    let object: Record<string, unknown> = { key, sequencer };
    if (op === 'put') {
      const v = this.objects.putVersion(bucket, key, Buffer.from(arg), { contentType: 'text/plain' });
      eventName = 'ObjectCreated:Put';
      object = {
        ...object,
        size: v.sizeBytes,
        eTag: v.etag,
        ...(v.versionId !== 'null' ? { versionId: v.versionId } : {}),
      };
    } else if (op === 'delete') {
      const marker = this.objects.deleteKey(bucket, key);
      eventName = marker ? 'ObjectRemoved:DeleteMarkerCreated' : 'ObjectRemoved:Delete';
      if (marker) object = { ...object, versionId: marker.versionId };
    } else {
      this.objects.deleteVersion(bucket, key, arg);
      eventName = 'ObjectRemoved:Delete';
      object = { ...object, versionId: arg };
    }
    const now = this.objects.current(bucket, key);
    const list = this.history.get(`${bucket}/${key}`) ?? [];
    list.push({ seq, step: this.step, after: now ? Buffer.from(now.body).toString('utf8') : null });
    this.history.set(`${bucket}/${key}`, list);
    if (!events) return;
    const record = {
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: PRIMARY,
      eventTime: new Date(this.T).toISOString(),
      eventName,
      s3: { bucket: { name: bucket }, object },
    } as S3EventRecord;
    if (this.has('event-loss') && this.effects.chance(0.1)) {
      this.count('events-lost');
      return;
    }
    const copies = this.has('event-dup') && this.effects.chance(0.1) ? 2 : 1;
    for (let i = 0; i < copies; i++)
      this.events.push({ name: `${bucket}/${key}@${seq}${i ? 'd' : ''}`, record, attempts: 0 });
  }

  #retryEvent(e: SimEvent): void {
    // Lambda retries an asynchronous invocation; without event-reorder it goes first again.
    if (e.attempts < CAPTURE_ATTEMPTS) {
      if (this.faults.has('event-reorder')) this.events.push(e);
      else this.events.unshift(e);
    } else this.count('events-dropped');
  }

  #capture(e: SimEvent): void {
    e.attempts += 1;
    this.#start(
      'capture',
      `capture ${e.name}`,
      async (deps) => {
        try {
          await captureChange(deps, e.record);
        } catch (error) {
          if (isRetryable(error)) this.#retryEvent(e);
        }
      },
      { event: e },
    );
  }

  // ---------------------------------------------------------------- table sources

  /** Change an item of the table (fault kind `tables`): its stream record maybe lost, twice, late. */
  #changeItem(k: { pk: string; sk: number }, op: 'put' | 'delete', value: string): void {
    const lost = this.has('event-loss') && this.effects.chance(0.1);
    const copies = this.has('event-dup') && this.effects.chance(0.1) ? 2 : 1;
    const lags = Array.from({ length: copies }, () =>
      this.has('capture-lag') ? this.effects.int(MAX_LAG_MS) : 0,
    );
    (this.table as TableModel).change(k, op, value, this.T, lost, lags);
    if (lost) this.count('table.records-lost');
  }

  #itemChanges(): Candidate[] {
    return (this.table as TableModel).keys().flatMap((k) => [
      {
        name: `item put ${k.name}`,
        weight: 1,
        variant: (rng: Prng) => rng.pick(ALPHABET),
        exec: (v: string) => this.#changeItem(k, 'put', v),
      },
      ...(k.present
        ? [{ name: `item delete ${k.name}`, weight: 0.4, exec: () => this.#changeItem(k, 'delete', '') }]
        : []),
    ]);
  }

  /**
   * The stream records capture may take now: those past their lag; without `event-reorder` the
   * oldest alone, one capture at a time (a shard's records in order).
   */
  #tableCaptures(): Candidate[] {
    const table = this.table;
    if (!table) return [];
    const reorder = this.faults.has('event-reorder');
    if (!reorder && this.runs.some((r) => r.state === 'running' && r.kind === 'capture-table')) return [];
    const waiting = table.stream.filter((d) => !d.running);
    return (reorder ? waiting : waiting.slice(0, 1))
      .filter((d) => d.notBefore <= this.T)
      .map((d) => ({ name: `capture-table ${d.name}`, weight: 1, exec: () => this.#captureTable(d) }));
  }

  /** Table capture (its own function) on one record; retried (redelivered) until it succeeds. */
  #captureTable(d: StreamDelivery): void {
    const table = this.table as TableModel;
    d.running = true;
    d.attempts += 1;
    const again = () => {
      d.running = false;
    };
    this.#start(
      'capture-table',
      `capture-table ${d.name}`,
      async (deps) => {
        try {
          await captureTableRecord(deps, d.record);
          table.stream.splice(table.stream.indexOf(d), 1);
        } catch (error) {
          if (isRetryable(error)) return again();
          table.stream.splice(table.stream.indexOf(d), 1);
          this.#tableBreaches.push(`[table-capture] ${d.name} refused: ${reasonOf(error)}`);
        }
      },
      { requeue: again },
    );
  }

  // ---------------------------------------------------------------- the scheduler

  /**
   * What may happen next, by category: each category's weight, and a builder of its candidates (built
   * only for the category drawn, or the one a replayed decision names).
   */
  #categories(): { name: string; weight: number; build: () => Candidate[] }[] {
    const cats: { name: string; weight: number; build: () => Candidate[] }[] = [];
    const visible = this.messages.filter((m) => m.state === 'visible' && this.#deliverable(m));
    // Functions run much faster than work arrives: most steps are port calls of running tasks.
    if (this.pending.length > 0) cats.push({ name: 'resume', weight: 600, build: () => this.#resumes() });
    if (visible.length > 0)
      cats.push({
        name: 'deliver',
        weight: 60,
        build: () =>
          visible.map((m) => ({ name: `deliver ${m.name}`, weight: 1, exec: () => this.#deliver(m) })),
      });
    // Without event-reorder, S3 events reach capture one at a time, in the order they happened.
    const inOrder = !this.faults.has('event-reorder');
    const capturing = inOrder && this.runs.some((r) => r.state === 'running' && r.kind === 'capture');
    if (this.events.length > 0 && !capturing)
      cats.push({
        name: 'capture',
        weight: 30,
        build: () =>
          (inOrder ? this.events.slice(0, 1) : this.events).map((e) => ({
            name: `capture ${e.name}`,
            weight: 1,
            exec: () => {
              this.events.splice(this.events.indexOf(e), 1);
              this.#capture(e);
            },
          })),
      });
    const tableCaptures = this.#tableCaptures();
    if (tableCaptures.length > 0)
      cats.push({ name: 'capture-table', weight: 30, build: () => tableCaptures });
    if (this.quiet) {
      // The operator releases a quarantine left at the end (garbage collection waits for it), and
      // takes a rotation under way on to its end (`--from OLD` where it needs it).
      const release = cats.length === 0 && this.catalog.quarantines.size > 0 && this.faults.has('quarantine');
      const keys = cats.length === 0 && !release && this.#keys ? this.#keyOps() : [];
      const gc = cats.length === 0 && !release && keys.length === 0 ? this.endGcDue() : undefined;
      if (keys.length > 0) {
        const next = keys[0] as Candidate;
        cats.push({ name: next.name, weight: 1, build: () => [{ ...next, variant: () => 'from-old' }] });
      } else if (release) {
        if (!this.runs.some((r) => r.state === 'running' && r.name.startsWith('release ')))
          cats.push({
            name: 'release',
            weight: 1,
            build: () => [{ name: 'release photos', weight: 1, exec: () => this.#release() }],
          });
        else
          cats.push({
            name: 'tick',
            weight: 1,
            build: () => [{ name: 'tick', weight: 1, exec: () => this.#tick() }],
          });
      } else if (gc && gc !== 'wait') {
        cats.push({
          name: 'gc',
          weight: 1,
          build: () => [
            {
              name: `gc ${gc}`,
              weight: 1,
              exec: () => {
                this.#endGcAsked.set(gc, this.T + this.skewMs);
                this.enqueue({ kind: 'gc', planId: 'photos', snapshotId: 'gc', region: gc });
              },
            },
          ],
        });
      } else if (cats.length === 0) {
        cats.push({
          name: 'advance',
          weight: 1,
          build: () => [
            {
              name: 'advance',
              weight: 1,
              variant: () => '600',
              exec: (v) => this.#advance(Number(v) * 1000),
            },
          ],
        });
        cats.push({
          name: 'tick',
          weight: 1,
          build: () => [{ name: 'tick', weight: 1, exec: () => this.#tick() }],
        });
      }
      return cats;
    }
    cats.push({ name: 'put', weight: 3, build: () => this.#puts() });
    cats.push({ name: 'delete', weight: 1, build: () => this.#deletes() });
    if (this.faults.has('versioned'))
      cats.push({ name: 'delete-version', weight: 0.5, build: () => this.#deleteVersions() });
    if (this.table) cats.push({ name: 'item', weight: 3, build: () => this.#itemChanges() });
    cats.push({ name: 'op', weight: 12, build: () => this.#operations() });
    return cats;
  }

  #deliverable(m: Message): boolean {
    if (this.faults.has('copy-gc-overlap')) return true;
    // Without the fault, a copy to a region and that region's GC never run together.
    const t = m.task;
    const busy = (pred: (x: Task) => boolean) =>
      this.runs.some((r) => r.state === 'running' && r.message && pred(r.message.task));
    if (t.kind === 'copy') return !busy((x) => x.kind === 'gc' && x.region === t.region);
    if (t.kind === 'gc') return !busy((x) => x.kind === 'copy' && x.region === t.region);
    return true;
  }

  #resumes(): Candidate[] {
    const faults = this.has('kill') || this.has('error');
    return this.pending.map((p) => ({
      name: `resume ${p.name}`,
      weight: 1,
      variant: (rng: Prng) => {
        if (!faults) return 'ok';
        const r = rng.next();
        if (this.has('kill') && r < 0.0015) return 'kill-before';
        if (this.has('kill') && r < 0.003) return 'kill-after';
        if (this.has('error') && r < 0.008) return 'error';
        return 'ok';
      },
      exec: (v: string) => this.#resume(p, v),
    }));
  }

  #puts(): Candidate[] {
    return this.bucketPlans().flatMap((plan) =>
      KEYS.map((key) => ({
        name: `put ${bucketOf(plan)}/${key}`,
        weight: 1,
        variant: (rng: Prng) => rng.pick(ALPHABET),
        exec: (v: string) => this.mutate(bucketOf(plan), key, 'put', v),
      })),
    );
  }

  #deletes(): Candidate[] {
    return this.bucketPlans().flatMap((plan) =>
      KEYS.filter((key) => this.objects.current(bucketOf(plan), key)).map((key) => ({
        name: `delete ${bucketOf(plan)}/${key}`,
        weight: 1,
        exec: () => this.mutate(bucketOf(plan), key, 'delete', ''),
      })),
    );
  }

  #deleteVersions(): Candidate[] {
    const out: Candidate[] = [];
    for (const plan of this.bucketPlans())
      for (const key of KEYS)
        for (const v of this.objects.versionsOf(bucketOf(plan), key).slice(-3)) {
          if (v.versionId === 'null') continue;
          out.push({
            name: `delete-version ${bucketOf(plan)}/${key}@${v.versionId}`,
            weight: 1,
            exec: () => this.mutate(bucketOf(plan), key, 'delete-version', v.versionId),
          });
        }
    return out;
  }

  #operations(): Candidate[] {
    const out: Candidate[] = [];
    for (const plan of this.plans) {
      out.push({
        name: `backup ${plan.id}`,
        weight: 0.3,
        exec: () => this.#cli(`backup ${plan.id}`, (d) => startSnapshotNow(d, plan.id)),
      });
      out.push({
        name: `drill ${plan.id}`,
        weight: 0.2,
        exec: () => this.#cli(`drill ${plan.id}`, (d) => startDrillNow(d, plan.id)),
      });
      for (const s of this.catalog.snapshots.values()) {
        if (s.planId !== plan.id) continue;
        if (s.status === 'FAILED' && !s.manifestId && this.has('failed-retry'))
          out.push({
            name: `retry ${plan.id}/${s.snapshotId}`,
            weight: 1,
            exec: () =>
              this.#cli(`retry ${plan.id}/${s.snapshotId}`, (d) => retrySnapshot(d, plan.id, s.snapshotId)),
          });
        if (s.status === 'COMMITTED')
          out.push({
            name: `restore ${plan.id}/${s.snapshotId}`,
            weight: 0.1,
            variant: (rng) => rng.pick([PRIMARY, ...(s.regions?.[COPY]?.status === 'COPIED' ? [COPY] : [])]),
            exec: (region) => this.#restore(plan.id, s.snapshotId, region),
          });
      }
    }
    if (this.has('quarantine')) out.push(...this.#quarantineOps());
    if (this.has('rotation')) out.push(...this.#keyOps());
    if (this.has('failed-retry'))
      out.push({
        name: this.sourceDown ? 'outage-ends' : 'outage',
        weight: 0.4,
        exec: () => {
          this.sourceDown = !this.sourceDown;
        },
      });
    out.push({ name: 'tick', weight: 2, exec: () => this.#tick() });
    for (const region of [PRIMARY, COPY])
      out.push({
        name: `gc ${region}`,
        // With copy-gc-overlap the copy region collects more often than the primary, so a pack can be
        // marked there while the primary still lets snapshots reuse it.
        weight: this.faults.has('copy-gc-overlap') ? (region === COPY ? 1.2 : 0.1) : 0.8,
        exec: () => this.enqueue({ kind: 'gc', planId: 'photos', snapshotId: 'gc', region }),
      });
    // Time passes mostly while no function runs (tasks take seconds; the clock jumps between them).
    const idle = !this.runs.some((r) => r.state === 'running');
    // Stream records waiting for capture hold time back (#advance): capture them first.
    const streaming = (this.table?.stream.length ?? 0) > 0;
    out.push({
      name: 'advance',
      weight: idle && !streaming ? 40 : 4,
      variant: (rng) => String(idle ? 60 * (1 + rng.int(30)) : 1 + rng.int(20)),
      exec: (v) => this.#advance(Number(v) * 1000, true),
    });
    if (this.has('clock-jump'))
      out.push({
        name: 'jump',
        weight: 0.1,
        variant: (rng) => String(3600 * (1 + rng.int(3))),
        exec: (v) => {
          const before = this.T;
          this.#advance(Number(v) * 1000);
          this.#jumps.push({ T: before, ms: this.T - before });
        },
      });
    if (this.has('clock-skew'))
      out.push({
        name: 'skew',
        weight: 0.3,
        variant: (rng) => String(rng.int(11) - 5),
        exec: (v) => {
          this.skewMs = Number(v) * 1000;
        },
      });
    if (this.has('visibility'))
      for (const m of this.messages)
        if (m.state === 'inflight' && m.runs.some((r) => r.state === 'running'))
          out.push({
            name: `expire ${m.name}`,
            weight: 0.3,
            exec: () => {
              m.state = 'visible';
            },
          });
    if (this.has('state-restore')) {
      out.push({ name: 'save-state', weight: 0.2, exec: () => this.#saveState() });
      if (this.#savedState)
        out.push({ name: 'restore-state', weight: 0.2, exec: () => this.#restoreState() });
    }
    return out;
  }

  /**
   * `quarantine`: an operator quarantines the photos plan from a recent time, or the detector does
   * (counts of a mass deletion injected for this minute); later it is released, and sometimes the
   * snapshot it held too. One such command at a time (an operator's).
   */
  #quarantineOps(): Candidate[] {
    if (
      this.runs.some(
        (r) => r.state === 'running' && r.kind === 'cli' && /^(quarantine|release) /.test(r.name),
      )
    )
      return [];
    const out: Candidate[] = [];
    // Mostly once a snapshot is committed, so that most quarantines hold one.
    const committed = [...this.catalog.snapshots.values()].some(
      (s) => s.planId === 'photos' && s.status === 'COMMITTED',
    );
    if (!this.catalog.quarantines.has('photos'))
      out.push({
        name: 'quarantine photos',
        weight: committed ? 3 : 0.05,
        variant: (rng) => (rng.chance(0.3) ? 'detector' : String(rng.int(15))),
        exec: (v) => this.#quarantine(v),
      });
    else out.push({ name: 'release photos', weight: 1, exec: () => this.#release() });
    const held = [...this.catalog.snapshots.values()].filter((s) => s.planId === 'photos' && s.legalHold);
    if (!this.catalog.quarantines.has('photos'))
      for (const s of held)
        out.push({
          name: `release photos/${s.snapshotId}`,
          weight: 0.1,
          exec: () =>
            this.#cli(`release photos/${s.snapshotId}`, (d) =>
              d.catalog.setLegalHold('photos', s.snapshotId, undefined),
            ),
        });
    return out;
  }

  #quarantine(variant: string): void {
    this.#cli('quarantine photos', async (d) => {
      const now = d.clock.now().getTime();
      if (variant === 'detector') {
        const minute = new Date(now).toISOString().slice(0, 16);
        const expires = new Date(now + 86_400_000).toISOString();
        await d.catalog.addChangeCounts('photos', minute, { removals: 5000 }, expires);
        const run = await runDetector(d, 'photos');
        if (run.quarantine?.created) this.count('quarantine.detector');
        if (run.quarantine?.quarantine.heldSnapshotId) this.count('quarantine.held');
        return;
      }
      const since = new Date(now - Number(variant) * 60_000).toISOString();
      const q = await quarantinePlan(d, 'photos', { since, reason: 'sim', by: 'operator' });
      if (q.created) this.count('quarantine.operator');
      if (q.quarantine.heldSnapshotId) this.count('quarantine.held');
    });
  }

  /** `strongbox release photos` (shared/local/cli/quarantine.ts releaseQuarantine: the same catalog calls). */
  #release(): void {
    this.#cli('release photos', async (d) => {
      const q = await d.catalog.getQuarantine('photos');
      if (q && (await d.catalog.liftQuarantine('photos'))) this.count('quarantine.released');
    });
  }

  /**
   * `rotation`: the operator's procedure (README "Keys: rotation and retirement"), one command at a
   * time: `keys rotate --to NEW` (again until it succeeds), point the configuration at NEW, `keys
   * rotate --to NEW` again (with or without `--from OLD`), `keys retire OLD` (again, or rotate again,
   * until it succeeds), then OLD is deleted. Every command may die halfway, and runs again.
   */
  #keyOps(): Candidate[] {
    if (this.runs.some((r) => r.state === 'running' && r.kind === 'keys')) return [];
    const k = this.#keys;
    const rotate = (weight: number): Candidate => ({
      name: 'rotate',
      weight,
      variant: (rng) =>
        k?.phase === 'switched' || k?.phase === 'rerotated' ? rng.pick(['', 'from-old']) : '',
      exec: (v) => this.#rotate(v === 'from-old'),
    });
    // An operator may also retire too early (before the second rotation): the check must refuse it
    // while a key document names OLD alone. (Not before the switch: functions still wrapping to OLD
    // store key documents the check cannot see yet; seeds 401, 546 and 701 lost snapshots so.)
    const early: Candidate = { name: 'retire', weight: 0.4, exec: () => this.#retire(k as KeyRotation) };
    if (!k) return [rotate(0.6)];
    if (k.phase === 'rotating') return [rotate(3)];
    if (k.phase === 'switched') return [rotate(3), early];
    if (k.phase === 'rotated')
      return [
        {
          name: 'switch-key',
          weight: 3,
          exec: () => {
            // New containers name NEW; a warm one is replaced (Lambda's on a configuration change).
            this.#configured = k.to;
            k.phase = 'switched';
            this.#warmCapture = undefined;
            this.count('keys.switched');
          },
        },
      ];
    return [{ name: 'retire', weight: 3, exec: () => this.#retire(k) }, rotate(1)];
  }

  #rotate(fromOld: boolean): void {
    if (!this.#keys) {
      const to = new SimMasterKey(this.opts.seed, this.#masterKeys.length + 1);
      this.#masterKeys.push(to);
      this.#keys = { phase: 'rotating', from: this.#configured as SimMasterKey, to };
    }
    const k = this.#keys;
    const holders = [this.#configured as SimMasterKey, ...(fromOld ? [k.from] : [])];
    this.#keysRun(`rotate ${k.to.keyId}`, async (d) => {
      await rotateKeys([d.vaults.primary, ...d.vaults.copies.values()], { holders, to: k.to });
      if (k.phase === 'rotating') k.phase = 'rotated';
      else if (k.phase === 'switched') k.phase = 'rerotated';
      this.count('keys.rotated');
    });
  }

  #retire(k: KeyRotation): void {
    this.#keysRun(`retire ${k.from.keyId}`, async (d) => {
      await retireRecipient([d.vaults.primary, ...d.vaults.copies.values()], { keyId: k.from.keyId }).catch(
        (error: unknown) => {
          // Refused (a key document names OLD alone): the operator runs `keys rotate` first.
          if (/only recipient/.test(reasonOf(error)) && k.phase === 'rerotated') k.phase = 'switched';
          throw error;
        },
      );
      // Removed from the key service: nothing wraps to it or unwraps with it any more.
      k.from.deleted = true;
      if (this.#keys === k) this.#keys = undefined;
      this.count('keys.retired');
    });
  }

  /** A keyring command (the CLI): its failure is the operator's to see; it ends a keys epoch. */
  #keysRun(label: string, body: (deps: PipelineDeps) => Promise<void>): void {
    this.#start('keys', label, async (deps) => {
      try {
        await body(deps);
      } catch (error) {
        this.count(
          `keys.failed.${label.split(' ')[0]}: ${reasonOf(error)
            .replace(/[0-9a-f]{32}/g, 'ID')
            .slice(0, 60)}`,
        );
      } finally {
        this.#keysEpoch += 1;
      }
    });
  }

  async #resume(p: Pending, variant: string): Promise<void> {
    this.pending.splice(this.pending.indexOf(p), 1);
    this.T += CALL_MS;
    if (variant === 'kill-before') return this.#kill(p.run, 'kill');
    if (variant === 'error') {
      this.count('errors');
      return p.reject(new TransientError(`injected failure of ${p.name}`));
    }
    let result: unknown;
    let error: unknown;
    let failed = false;
    try {
      result = await p.effect();
    } catch (e) {
      failed = true;
      error = e;
    }
    if (variant === 'kill-after') return this.#kill(p.run, 'kill');
    if (failed) p.reject(error);
    else p.resolve(result);
  }

  /** Move S3's clock on; `capped`: not past a running invocation's timeout (a jump may be). */
  #advance(ms: number, capped = false): void {
    let by = ms;
    if (capped || !this.faults.has('kill')) {
      // Without kills no invocation outlives its timeout: the clock waits for the running ones.
      // (and leaves each at least a third of its budget: time passes while functions are idle)
      for (const r of this.runs)
        if (r.state === 'running') by = Math.min(by, r.deadlineT - LAMBDA_TIMEOUT_MS / 3 - this.T);
    }
    // Capture lags the stream by less than settleSeconds (the design's assumption): time waits
    // for a record not captured by its deadline (clock jumps too: the stream flows meanwhile).
    const wanted = by;
    for (const d of this.table?.stream ?? []) by = Math.min(by, d.deadline - this.T);
    if (by < wanted) this.count('advance.streamCapMs', wanted - Math.max(0, by));
    this.T += Math.max(0, by);
    // EventBridge fires the scheduler every minute whatever else happens: once a minute has passed
    // since the last tick, one fires now (the minutes a jump skipped coalesce into it).
    if (
      this.T - this.#lastTickT >= TICK_MS &&
      !this.runs.some((r) => r.kind === 'scheduler' && r.state === 'running')
    )
      this.#tick();
  }

  /** Move every clock on by `ms` (the quiet phase's wait for deadlines). */
  advanceBy(ms: number): void {
    this.decisions.push(`wait | ${ms / 1000}`);
    this.#advance(ms, true);
  }

  #lastTickT = 0;
  /**
   * The clock jumps taken (S3's clock before, and by how much): the minutes a jump skips coalesce
   * into one tick, so the reaper cannot act during them, and they do not count toward a RUNNING
   * deadline.
   */
  readonly #jumps: { T: number; ms: number }[] = [];

  /** Milliseconds since `T` in which the scheduler ticked every minute (clock jumps left out). */
  #tickedSince(T: number): number {
    return this.T - T - this.#jumps.reduce((n, j) => n + (j.T >= T ? j.ms : 0), 0);
  }

  #tick(): void {
    this.#lastTickT = this.T;
    this.#start('scheduler', 'tick', async (deps) => {
      try {
        const at = deps.clock.now().toISOString();
        await startDueSnapshots(deps, at);
        await startDueVerifications(deps, at);
        await startDueDrills(deps, at);
        await reapStaleWork(deps, at, DEFAULT_REAPER_OPTIONS);
      } catch {
        // EventBridge invokes again at the next tick
      }
    });
  }

  /** An operator's command (the CLI): its failure is reported to the operator, nothing else. */
  #cli(label: string, body: (deps: PipelineDeps) => Promise<unknown>): void {
    this.#start('cli', label, async (deps) => {
      try {
        await body(deps);
      } catch {
        // refused or failed: the operator sees the error
      }
    });
  }

  #restore(planId: string, snapshotId: string, region: string): void {
    const prefix = `r${++this.#restores}/`;
    this.#cli(`restore ${planId}/${snapshotId} ${region}`, (deps) =>
      startRestore(deps, {
        plan: planId,
        snapshot: snapshotId,
        region,
        targetBucket: 'restored',
        targetPrefix: prefix,
        fanOut: true,
      }),
    );
  }

  #saveState(): void {
    // Every item of the table, as PITR keeps them (checkpoints, running-task index, holds included).
    this.#savedState = this.catalog.exportState();
  }

  #restoreState(): void {
    const before = [...this.catalog.snapshots.values()].filter((s) => s.status === 'COMMITTED');
    this.catalog.importState(this.#savedState as MemoryCatalogState);
    this.count('state-restores');
    this.#stateRestoredT = this.T + this.skewMs;
    this.writes += 1;
    // The GC marks live in the state table too: those written since the saved point are gone, so a
    // run before the restore no longer counts as the one that marked a pack (garbage waits one grace
    // period more; nothing live is at stake).
    this.#watch.forgetRuns();
    for (const s of before) {
      const now = this.catalog.snapshots.get(`${s.planId}/${s.snapshotId}`);
      if (now?.status === 'COMMITTED' && now.manifestId === s.manifestId) continue;
      const checked = this.#checked.get(`${s.planId}/${s.snapshotId}/${s.manifestId}`);
      if (checked) this.#orphans.set(`${s.planId}/${s.snapshotId}/${s.manifestId}`, checked);
    }
  }

  /** Take one decision (drawn, or the next replayed one); false when there is nothing to do. */
  async decide(): Promise<boolean> {
    let chosen: Candidate | undefined;
    let variant = '';
    const categories = this.#categories();
    if (this.opts.replay) {
      const next = this.opts.replay[this.decisions.length];
      if (next === undefined) return false;
      if (next === 'quiet') {
        this.quiet = true;
        this.decisions.push(next);
        return true;
      }
      if (next.startsWith('wait | ')) {
        this.decisions.push(next);
        this.#advance(Number(next.slice('wait | '.length)) * 1000, true);
        return true;
      }
      const [name = '', v = ''] = next.split(' | ');
      const first = name.split(' ')[0] as string;
      const category = categories.find((c) => c.name === first) ?? categories.find((c) => c.name === 'op');
      chosen = category?.build().find((c) => c.name === name);
      variant = v;
      if (!chosen) {
        this.decisions.push(`(skipped) ${next}`);
        return true;
      }
    } else {
      if (categories.length === 0) return false;
      const category = this.#draw(categories);
      const candidates = category.build();
      if (candidates.length === 0) return true;
      chosen = this.#draw(candidates);
      variant = chosen.variant ? chosen.variant(this.rng) : '';
    }
    this.decisions.push(variant ? `${chosen.name} | ${variant}` : chosen.name);
    this.step += 1;
    await chosen.exec(variant);
    // Let every task run on to its next port call (all of it is microtasks: one turn settles it).
    await new Promise((r) => setImmediate(r));
    this.#expireVisibility();
    return true;
  }

  #draw<T extends { weight: number }>(items: readonly T[]): T {
    const total = items.reduce((n, c) => n + c.weight, 0);
    let r = this.rng.next() * total;
    for (const c of items) {
      r -= c.weight;
      if (r <= 0) return c;
    }
    return items.at(-1) as T;
  }

  // ---------------------------------------------------------------- invariants

  /** Check every invariant; @returns the new violations. */
  async check(full = false): Promise<string[]> {
    const found: string[] = [];
    // Every invariant but [running] depends only on what the catalog and the vaults hold: with
    // nothing written since the last look, only the clock moved, and only [running] can change.
    const at = `${this.writes}/${this.#vaultVersion(this.primary)}/${this.#vaultVersion(this.copy)}/${this.#keysEpoch}`;
    if (at === this.#checkedAt && !full)
      return this.#fresh([...this.#running([...this.catalog.snapshots.values()]), ...this.#tableBreaches]);
    this.#checkedAt = at;
    this.#checkers.clear();
    // After a keyring operation (or a copy rewriting a key document) every snapshot restores again.
    const keysChanged = this.#keysEpoch !== this.#keysCheckedEpoch;
    this.#keysCheckedEpoch = this.#keysEpoch;
    const snapshots = [...this.catalog.snapshots.values()];
    for (const s of snapshots) {
      const id = `${s.planId}/${s.snapshotId}`;
      if (!this.#created.has(id)) this.#created.set(id, { step: this.step, T: this.T });
      if (s.status === 'FORGOTTEN') this.#forgotten.add(id);
    }
    // Retention never forgets the newest committed snapshot.
    for (const s of snapshots) {
      if (s.status !== 'FORGOTTEN') continue;
      // Newest by the data it holds (`time`, when its listing or journal cut began), as retention orders them.
      const timeOf = (x: SnapshotRecord) => x.time ?? x.scheduledAt;
      const newer = snapshots.some(
        (x) => x.planId === s.planId && x.status === 'COMMITTED' && timeOf(x) >= timeOf(s),
      );
      if (!newer)
        found.push(
          `[retention] ${s.planId}/${s.snapshotId} was forgotten, and no newer snapshot is committed`,
        );
    }
    // Every COMMITTED snapshot restores byte-identically in every region where it is COPIED.
    for (const s of snapshots) {
      if (s.status !== 'COMMITTED' || !s.manifestId) continue;
      const id = `${s.planId}/${s.snapshotId}`;
      if (this.#forgotten.has(id)) continue; // brought back by a state restore after retention dropped it
      const key = `${id}/${s.manifestId}`;
      let checked = this.#checked.get(key);
      const regions = [PRIMARY, ...(s.regions?.[COPY]?.status === 'COPIED' ? [COPY] : [])];
      for (const region of regions) {
        if (checked?.regions.has(region) && !full && !keysChanged) continue;
        const restored = await this.#restoreAll(s, region).catch((e: unknown) => `${reasonOf(e)}`);
        if (typeof restored === 'string') {
          found.push(`[restore] ${id} (committed) does not restore in ${region}: ${short(restored)}`);
          continue;
        }
        if (!checked) {
          checked = {
            planId: s.planId,
            snapshotId: s.snapshotId,
            manifestId: s.manifestId,
            contents: restored,
            regions: new Set(),
          };
          this.#checked.set(key, checked);
          found.push(...(await this.#judgeAny(s, restored)));
        } else if (!sameMap(checked.contents, restored)) {
          found.push(`[restore] ${id} restores differently in ${region} than in ${[...checked.regions][0]}`);
        }
        checked.regions.add(region);
      }
      if (checked) found.push(...(await this.#present(checked, regions)));
    }
    found.push(...this.#quarantined(), ...this.#tableBreaches);
    // Committed snapshots a state restore dropped from the catalog keep their documents.
    for (const o of this.#orphans.values()) {
      if (this.#forgotten.has(`${o.planId}/${o.snapshotId}`)) continue;
      // The snapshot ran again and committed another root holding every key as this one held it
      // (GC deletes such a root as a losing sealer's: nothing this one held is lost with it).
      const now = this.catalog.snapshots.get(`${o.planId}/${o.snapshotId}`);
      const winner =
        now?.status === 'COMMITTED' && this.#checked.get(`${o.planId}/${o.snapshotId}/${now.manifestId}`);
      if (winner && [...o.contents].every(([k, v]) => winner.contents.get(k) === v)) continue;
      for (const v of await this.#present(o, [PRIMARY]))
        found.push(`[state-restore] ${v} (its record was lost to a state-table restore)`);
    }
    found.push(...this.#running(snapshots));
    // A finished restore job wrote what its snapshot holds.
    for (const j of this.catalog.restoreJobs.values()) {
      if (j.status !== 'SUCCEEDED' || this.#created.has(`done:${j.restoreJobId}`)) continue;
      this.#created.set(`done:${j.restoreJobId}`, { step: this.step, T: this.T });
      const checked = this.#checked.get(`${j.planId}/${j.snapshotId}/${j.manifestId}`);
      const prefix = String((j.request as { targetPrefix?: string }).targetPrefix ?? '');
      if (!checked) continue;
      for (const [k, content] of checked.contents) {
        const got = this.objects.current('restored', `${prefix}${k}`);
        if (!got || Buffer.from(got.body).toString('utf8') !== content)
          found.push(
            `[restore-job] ${j.restoreJobId} SUCCEEDED but ${prefix}${k} is ${got ? 'different' : 'missing'}`,
          );
      }
    }
    if (this.opts.checkGarbage) found.push(...(await this.#garbage()));
    return this.#fresh(found);
  }

  /**
   * `[quarantine]`: a quarantined plan's held snapshot is COMMITTED and held (its restorability is
   * the committed snapshots' check), and the breaches the ports saw (a forget, a GC delete).
   */
  #quarantined(): string[] {
    const found = [...this.#quarantineBreaches];
    for (const q of this.catalog.quarantines.values()) {
      if (!q.heldSnapshotId) continue;
      // A state-table restore after the command began may have rolled back the hold it placed and the
      // snapshot's record, then seen the quarantine recorded (two writes): not judged.
      if (this.#stateRestoredT >= Date.parse(q.at)) continue;
      const s = this.catalog.snapshots.get(`${q.planId}/${q.heldSnapshotId}`);
      if (s?.status === 'COMMITTED' && s.legalHold) continue;
      found.push(
        `[quarantine] ${q.planId} is in quarantine (since ${q.since}, by ${q.by}) holding ${q.heldSnapshotId}, which is ${s ? `${s.status}${s.legalHold ? '' : ' without a legal hold'}` : 'gone from the catalog'}`,
      );
    }
    return found;
  }

  /**
   * The envelope the checks open a region's documents with: with `rotation`, over a keyring reading
   * key documents from that region's vault alone (`all`: both) and holding every master key that
   * still exists; made afresh for each check (no data key stays unwrapped from an earlier one).
   */
  #checker(region: string): SimEnvelope {
    if (!this.faults.has('rotation')) return this.envelope;
    let envelope = this.#checkers.get(region);
    if (!envelope) {
      const vaults =
        region === PRIMARY ? [this.primary] : region === COPY ? [this.copy] : [this.primary, this.copy];
      const keys = new KeyringKeyProvider({
        vaults: () => vaults,
        recipients: async () => this.#masterKeys.filter((k) => !k.deleted),
        holders: async () => this.#masterKeys.filter((k) => !k.deleted),
        clock: this.s3Clock,
      });
      envelope = new SimEnvelope(keys, { n: 0 });
      this.#checkers.set(region, envelope);
    }
    return envelope;
  }

  /** The violations not reported before (recorded as reported now). */
  #fresh(found: readonly string[]): string[] {
    const fresh = found.filter((v) => !this.violations.includes(v));
    this.violations.push(...fresh);
    return fresh;
  }

  /** `[running]`: no RUNNING snapshot or restore job outlives its deadline (in ticked time). */
  #running(snapshots: readonly SnapshotRecord[]): string[] {
    const found: string[] = [];
    const deadline = this.opts.runningDeadlineSeconds;
    if (deadline !== undefined) {
      for (const s of snapshots) {
        const since = this.#created.get(`${s.planId}/${s.snapshotId}`);
        if (s.status === 'RUNNING' && since && this.#tickedSince(since.T) > deadline * 1000)
          found.push(
            `[running] ${s.planId}/${s.snapshotId} is still RUNNING ${Math.round((this.T - since.T) / 1000)} s after it started (${Math.round(this.#tickedSince(since.T) / 1000)} s of ticks)`,
          );
      }
      for (const j of this.catalog.restoreJobs.values()) {
        const since = this.#created.get(j.restoreJobId) ?? { step: this.step, T: this.T };
        this.#created.set(j.restoreJobId, since);
        if (j.status === 'RUNNING' && this.#tickedSince(since.T) > deadline * 1000)
          found.push(
            `[running] restore job ${j.restoreJobId} is still RUNNING ${Math.round((this.T - since.T) / 1000)} s after it started (${Math.round(this.#tickedSince(since.T) / 1000)} s of ticks)`,
          );
      }
    }
    return found;
  }

  /** Restore a snapshot from a region, every byte, on the raw stores: key → content. */
  async #restoreAll(s: SnapshotRecord, region: string): Promise<Map<string, string>> {
    const vault = region === PRIMARY ? this.primary : this.copy;
    const envelope = this.#checker(region);
    const root = await readManifest(vault, envelope, s.planId, s.manifestId as string);
    const entries = await readAllEntries(vault, envelope, root);
    const index = await VaultIndex.load(vault, envelope, { retry: withRetry });
    const out = new Map<string, string>();
    for (const e of entries) {
      if (e.item) {
        // A table item lives in its entry: its canonical JSON, which must hash to its etag.
        if (itemHashOf(e.item) !== e.etag) throw new Error(`item ${e.key} does not hash to its etag`);
        out.set(e.key, canonicalItemJson(e.item));
      } else out.set(e.key, (await readEntryContent(vault, envelope, index, e)).toString('utf8'));
    }
    return out;
  }

  /** Judge a snapshot's restored contents once: a table plan's by the table model, a bucket plan's by #judge. */
  async #judgeAny(s: SnapshotRecord, restored: Map<string, string>): Promise<string[]> {
    const plan = this.plans.find((p) => p.id === s.planId);
    if (!this.table || !plan || !isTableSource(plan.source)) return this.#judge(s, restored);
    // After a state restore the journal is no longer one history (entries lost, captured again).
    if (this.stats['state-restores']) return [];
    return this.table.judge(s, restored, this.#tableContext());
  }

  /** What the table checks read: the raw stores (no yield points, no faults), the journal's history. */
  #tableContext(): TableCheckContext {
    return {
      deps: (store) =>
        ({
          catalog: this.catalog,
          queue: { send: async () => {}, sendBatch: async () => {} },
          clock: this.fnClock,
          envelope: this.#checker(PRIMARY),
          vaults: { primary: this.primary, copies: new Map([[COPY, this.copy]]) },
          objects: this.objects,
          retry: withRetry,
          concurrency: 2,
          tables: () => store,
        }) as unknown as PipelineDeps,
      journaled: (planId, key, sequencer) => this.#journaled.get(`${planId}/${key}/${sequencer}`),
      captures: (planId) => {
        const out = new Map<string, number[]>();
        for (const [id, j] of this.#journaled) {
          if (!id.startsWith(`${planId}/`)) continue;
          const key = id.slice(planId.length + 1, id.lastIndexOf('/'));
          out.set(key, [...(out.get(key) ?? []), j.capturedAt]);
        }
        return out;
      },
      journal: (planId) => [...this.catalog.journal.values()].filter((e) => e.planId === planId),
      contentsOf: (planId, snapshotId) =>
        [...this.#checked.values()].find((c) => c.planId === planId && c.snapshotId === snapshotId)?.contents,
      snapshots: () => [...this.catalog.snapshots.values()],
      count: (what, n) => this.count(what, n),
    };
  }

  /** Is the restored content one the source could have given this snapshot? */
  #judge(s: SnapshotRecord, restored: Map<string, string>): string[] {
    const plan = this.plans.find((p) => p.id === s.planId) as PlanRecord;
    const bucket = bucketOf(plan);
    const id = `${s.planId}/${s.snapshotId}`;
    const out: string[] = [];
    if (s.mode === 'journal') {
      // After a state restore the journal is no longer one history (entries lost, then captured again).
      if (this.stats['state-restores']) return out;
      // A journal-built snapshot equals the source at its cut, for every key whose newest change up to
      // the cut was journaled and has not changed since (keys with lost or late events are skipped).
      const until = s.journalUntil as string;
      for (const key of KEYS) {
        const history = this.history.get(`${bucket}/${key}`) ?? [];
        const journaled = [...this.catalog.journal.values()].filter(
          (e) => e.planId === s.planId && e.key === key && e.capturedAt <= until,
        );
        if (journaled.length === 0) continue;
        // The cut trusts that an entry is written within `settleSeconds` of its `capturedAt`: an entry
        // written later (a capture stalled between the two) may be missed by design; not judged.
        const late = journaled.some(
          (e) =>
            (this.#appendedAt.get(`${e.planId}/${e.key}/${e.sequencer}`) ?? 0) >
            Date.parse(e.capturedAt) + SETTLE_MS,
        );
        if (late) {
          this.count('late-journal-writes');
          continue;
        }
        const top = journaled.reduce((a, b) =>
          parseInt(a.sequencer, 16) >= parseInt(b.sequencer, 16) ? a : b,
        );
        if (top.outcome === 'lost-before-capture') continue;
        const seq = parseInt(top.sequencer, 16);
        const m = history.find((h) => h.seq === seq);
        if (!m || history.some((h) => h.seq > seq && h.step <= this.step)) continue;
        const got = restored.get(key) ?? null;
        if (got !== m.after)
          out.push(
            `[journal] ${id} (journal-built, cut ${until}) has ${key} = ${got ?? '(absent)'}, the source had ${m.after ?? '(absent)'} after the change it journaled last (${top.event} ${top.versionId ?? ''} seq ${seq})`,
          );
      }
      return out;
    }
    // A listing snapshot holds, for each key, a state the key had while the snapshot ran.
    const from = this.#created.get(id)?.step ?? 0;
    for (const key of KEYS) {
      const history = this.history.get(`${bucket}/${key}`) ?? [];
      const allowed = new Set<string | null>();
      let atStart: string | null = null;
      for (const h of history) {
        if (h.step <= from) atStart = h.after;
        else allowed.add(h.after);
      }
      allowed.add(atStart);
      const got = restored.get(key) ?? null;
      if (!allowed.has(got))
        out.push(
          `[content] ${id} has ${key} = ${got ?? '(absent)'}, the source held only ${[...allowed].map((a) => a ?? '(absent)').join(', ')} while it ran`,
        );
    }
    return out;
  }

  /**
   * No unreferenced pack outlives the grace period plus one GC run (live: as GC defines it, for the
   * vault being collected: its kept roots count, see gc-model.ts's liveBlobs).
   */
  async #garbage(): Promise<string[]> {
    const vaults = { primary: this.primary, copies: new Map([[COPY, this.copy as VaultStore]]) };
    // GC keeps the blobs journaled since a little before the oldest committed snapshot.
    const journaled = new Set<ContentId>();
    for (const plan of this.plans) {
      const oldest = [...this.catalog.snapshots.values()].find(
        (x) => x.planId === plan.id && x.status === 'COMMITTED' && x.time,
      );
      const after = oldest ? new Date(Date.parse(oldest.time as string) - 10 * 60_000).toISOString() : '';
      for (const e of this.catalog.journal.values())
        if (e.planId === plan.id && e.capturedAt > after) for (const b of e.blobs ?? []) journaled.add(b);
    }
    const now = new Date(this.T + this.skewMs);
    let common: Set<ContentId>;
    try {
      common = await liveBlobs(this.catalog, vaults, this.#checker('all'), { now });
    } catch {
      return []; // a live document is unreadable: the restore checks report that
    }
    const out: string[] = [];
    for (const vault of [this.primary, this.copy]) {
      let live: Set<ContentId>;
      try {
        live = new Set([
          ...common,
          ...(await keptRootBlobs(this.catalog, vaults, this.#checker('all'), vault)),
        ]);
      } catch {
        continue;
      }
      for (const b of journaled) live.add(b);
      const garbage = await garbagePacks(vault, this.#checker(vault.region), live).catch(() => undefined);
      if (garbage)
        for (const overdue of this.#watch.observe(vault.region, garbage, this.T + this.skewMs))
          out.push(`[garbage] ${overdue}`);
    }
    return out;
  }

  #vaultVersion(v: MemoryVaultStore): number {
    return v.calls.put * 100_000 + v.calls.delete;
  }

  /** The documents of a checked snapshot are still stored and indexed in each region. */
  async #present(c: CheckedSnapshot, regions: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (const region of regions) {
      const vault = region === PRIMARY ? this.primary : this.copy;
      const where = `${c.planId}/${c.snapshotId} in ${region}`;
      const rootKey = VaultLayout.manifestKey(c.planId, c.manifestId);
      if (!vault.objects.has(rootKey)) {
        out.push(`[lost] ${where}: its manifest root is gone`);
        continue;
      }
      const key = `${c.planId}/${c.manifestId}`;
      let docs = this.#blobsOf.get(key);
      if (!docs) {
        const root = await readManifest(vault, this.#checker(region), c.planId, c.manifestId);
        const blobs = new Set<ContentId>();
        for (const e of await readAllEntries(vault, this.#checker(region), root))
          for (const b of e.blobs) blobs.add(b);
        docs = { parts: root.parts.map((p) => VaultLayout.partKey(c.planId, p.partId)), blobs: [...blobs] };
        this.#blobsOf.set(key, docs);
      }
      const gone = docs.parts.filter((p) => !vault.objects.has(p));
      if (gone.length > 0) {
        out.push(`[lost] ${where}: ${gone.length} manifest part(s) gone (${short(gone[0] as string)})`);
        continue;
      }
      const located = await this.#located(vault);
      for (const b of docs.blobs) {
        const packs = located.get(b) ?? [];
        if (!packs.some((p) => vault.objects.has(VaultLayout.packKey(p))))
          out.push(
            `[lost] ${where}: blob ${b.slice(0, 8)} is in no stored pack its index names (${packs.length} named)`,
          );
      }
    }
    return out;
  }

  /** Blob → packs naming it, over every index document of a vault. */
  async #located(vault: MemoryVaultStore): Promise<Map<ContentId, ContentId[]>> {
    const version = String(this.#vaultVersion(vault));
    const cached = this.#locatedAt.get(vault.bucket);
    if (cached?.at === version) return cached.located;
    const out = new Map<ContentId, ContentId[]>();
    for (const key of vault.objects.keys()) {
      const id = VaultLayout.indexIdOf(key);
      if (!id) continue;
      let doc = this.#indexCache.get(`${vault.bucket}/${id}`);
      if (!doc) {
        const m = new Map<ContentId, ContentId[]>();
        // An index document that does not open: the restore checks report what it costs.
        const index = await readIndex(vault, this.#checker(vault.region), id).catch(() => undefined);
        if (!index) continue;
        for (const p of index.packs)
          for (const b of p.blobs) m.set(b.blobId, [...(m.get(b.blobId) ?? []), p.packId]);
        doc = m;
        this.#indexCache.set(`${vault.bucket}/${id}`, doc);
      }
      for (const [b, packs] of doc) out.set(b, [...(out.get(b) ?? []), ...packs]);
    }
    this.#locatedAt.set(vault.bucket, { at: version, located: out });
    return out;
  }
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function describeTask(t: Task): string {
  switch (t.kind) {
    case 'snapshot-plan':
      return `snapshot ${t.planId}/${t.snapshotId}`;
    case 'snapshot-partition':
      return `snapshot ${t.planId}/${t.snapshotId} p${t.partition.index}${t.partition.resume ? `>${t.partition.resume.afterKey}` : ''}`;
    case 'copy':
      return `copy ${t.planId}/${t.snapshotId} ${t.region}`;
    case 'verify':
      return `verify ${t.planId}/${t.snapshotId}`;
    case 'verify-tier':
      return `verify ${t.planId}/${t.snapshotId} ${t.tier}`;
    case 'forget':
      return `forget ${t.planId}/${t.snapshotId}`;
    case 'gc':
      return `gc ${t.planId}/${t.snapshotId} ${t.region}`;
    case 'restore-slice':
      return `restore-slice ${t.restoreJobId} ${t.slice}`;
    case 'drill':
      return `drill ${t.planId} ${t.drillId}`;
  }
}

/** What the SQS handler records when a task fails for the last time (sqs-task-handler.ts `recordOnJob`). */
async function recordOnJob(deps: PipelineDeps, task: Task, failure: string): Promise<void> {
  const { catalog, clock } = deps;
  const at = clock.now().toISOString();
  if (task.kind === 'drill') return;
  try {
    if (task.kind === 'restore-slice') {
      await catalog.finishRestoreJob(task.restoreJobId, {
        status: 'FAILED',
        at,
        error: `slice ${task.slice}: ${failure}`,
      });
      return;
    }
    const jobId = jobIdOf(task);
    const reason =
      task.kind === 'snapshot-partition' ? `partition ${task.partition.index}: ${failure}` : failure;
    if (!(await catalog.getJob(jobId))) return;
    await catalog.updateTask(jobId, taskIdOf(task), { status: 'FAILED', error: reason, finishedAt: at });
    await catalog.updateJob(jobId, { status: 'FAILED', error: reason, updatedAt: at });
    if (queueOf(task.kind) === 'snapshot')
      await catalog.updateSnapshot(task.planId, task.snapshotId, { status: 'FAILED', error: reason }, [
        'RUNNING',
      ]);
  } catch {
    // could not record: logged by the real handler
  }
}

/**
 * Run one seed: the steps with faults, then a quiet phase (no faults) until nothing is left to do,
 * checking every invariant after every step.
 */
export async function simulate(opts: SimOptions): Promise<SimResult> {
  const w = new World(opts);
  await w.setUp();
  let failedAt = -1;
  const steps = opts.steps ?? 300;
  const record = (fresh: string[]) => {
    if (fresh.length > 0 && failedAt < 0) failedAt = w.decisions.length - 1;
  };
  if (opts.replay) {
    while (failedAt < 0 && (await w.decide())) record(await w.check());
    if (failedAt < 0) record(await w.check(true));
    return { seed: opts.seed, violations: w.violations, decisions: w.decisions, failedAt, stats: w.stats };
  }
  for (let i = 0; i < steps; i++) {
    if (!(await w.decide())) break;
    record(await w.check());
    if (failedAt >= 0) break;
  }
  if (failedAt < 0) {
    w.quiet = true;
    w.decisions.push('quiet');
    const quietSteps = opts.quietSteps ?? 300;
    // The garbage-collection cycle that ends the quiet phase (endGcDue) has steps of its own.
    for (let i = 0; i < quietSteps || (i < quietSteps + END_GC_STEPS && w.endGcDue() !== undefined); i++) {
      if (!(await w.decide())) break;
      record(await w.check());
      if (failedAt >= 0) break;
      const streaming = (w.table?.stream.length ?? 0) > 0;
      if (
        w.pending.length === 0 &&
        w.events.length === 0 &&
        !streaming &&
        !w.messages.some((m) => m.state !== 'gone')
      ) {
        if (i > 0 && w.decisions.at(-1)?.startsWith('tick') && w.endGcDue() === undefined) break;
      }
    }
    if (failedAt < 0 && opts.runningDeadlineSeconds !== undefined) {
      // Nothing is left to do: let the deadline pass (ticks run meanwhile, for a reaper) and look again.
      const until = w.T + opts.runningDeadlineSeconds * 1000 + 2 * VISIBILITY_MS;
      for (let i = 0; i < 3000 && failedAt < 0 && w.T < until; i++) {
        if (!w.runs.some((r) => r.state === 'running'))
          w.advanceBy(Math.ceil((opts.runningDeadlineSeconds * 1000) / 20));
        if (!(await w.decide())) break;
        record(await w.check());
      }
    }
    if (failedAt < 0) record(await w.check(true));
  }
  w.count('hours', (w.T - START) / 3_600_000);
  if (w.scratch.appendedBytes > 0) w.count('spill.bytes', w.scratch.appendedBytes);
  for (const x of w.catalog.snapshots.values()) w.count(`end.${x.status}${x.mode ? `.${x.mode}` : ''}`);
  return { seed: opts.seed, violations: w.violations, decisions: w.decisions, failedAt, stats: w.stats };
}
