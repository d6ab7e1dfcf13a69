/**
 * What every use case of the pipeline is given: ports, the clock and a few limits.
 * Built once per process by the composition root (shared/runtime/container.ts).
 */
import type { Envelope } from './envelope.ts';
import { NotFoundError, reasonOf } from './errors.ts';
import type { PartBlobCache } from './gc/part-cache.ts';
import type { Catalog, Clock, ObjectStore, ScratchSpace, TaskQueue, VaultStore } from './ports.ts';
import type { PlanRecord, SnapshotRecord } from './records.ts';
import type { Retry } from './retry-policy.ts';
import type { TableStore } from './table/ports.ts';

/**
 * The vault buckets of a deployment: one primary, one per copy region, and its isolated vaults (in
 * another account or at another provider) by name. An isolated vault's store has the location
 * `vault:<name>` ({@link isolatedLocation}) as its `region`.
 */
export interface Vaults {
  primary: VaultStore;
  /** Copy vaults by region. */
  copies: ReadonlyMap<string, VaultStore>;
  /**
   * Isolated vaults by name: copy targets like a copy region's vault, read by restore, verification
   * and drills, but never garbage-collected or re-locked by this deployment. @default none
   */
  isolated?: ReadonlyMap<string, VaultStore>;
}

/** What a location names an isolated vault with (`vault:offsite`); a region name never has it. */
const ISOLATED_PREFIX = 'vault:';

/**
 * The location of isolated vault `name`: the key of its copy in a snapshot record's `regions`, the
 * `region` of its copy task and of a restore from it. @example isolatedLocation('offsite') === 'vault:offsite'
 * @see ../../docs/format.md#isolated-vaults
 */
export function isolatedLocation(name: string): string {
  return `${ISOLATED_PREFIX}${name}`;
}

/** The isolated vault's name of a location (`vault:offsite` → `offsite`), or undefined for a region. */
export function isolatedNameOf(location: string): string | undefined {
  return location.startsWith(ISOLATED_PREFIX) ? location.slice(ISOLATED_PREFIX.length) : undefined;
}

/**
 * Where a plan's snapshots are copied: its copy regions, then its isolated vaults' locations
 * (`vault:<name>`, docs/format.md#isolated-vaults).
 */
export function copyTargetsOf(plan: Pick<PlanRecord, 'copyRegions' | 'isolatedVaults'>): string[] {
  return [...plan.copyRegions, ...(plan.isolatedVaults ?? []).map(isolatedLocation)];
}

/** Whether the deployment has a vault at `location` (the primary or a copy region, or `vault:<name>`). */
export function hasVault(vaults: Vaults, location: string): boolean {
  const name = isolatedNameOf(location);
  if (name !== undefined) return vaults.isolated?.has(name) ?? false;
  return vaults.primary.region === location || vaults.copies.has(location);
}

/** Dependencies of the pipeline's use cases. */
export interface PipelineDeps {
  catalog: Catalog;
  queue: TaskQueue;
  clock: Clock;
  envelope: Envelope;
  vaults: Vaults;
  /**
   * Restore targets and the drills' scratch bucket; and the protected buckets, which the domain reads
   * only through their `Source` (`sourceOf(deps, plan.source)`, source/index.ts).
   */
  objects: ObjectStore;
  /**
   * DynamoDB of the region a table source lives in (`undefined`: the deployment's region): what
   * table snapshots scan, capture asks when a stream record carries no image, and table restores
   * and drills write (shared/domain/table/ports.ts). Absent where no table is protected.
   */
  tables?: (region?: string) => TableStore;
  /**
   * How the domain tries an operation again (an object re-read after it changed mid-read, the vault
   * index listed again after a document vanished): shared/adapters/retrying.ts's `withRetry`.
   */
  retry: Retry;
  /** Parallel object reads/writes per task (index documents loaded too). @default 16 */
  concurrency?: number;
  /**
   * Age a blob or manifest must reach before garbage collection may delete it unreferenced; longer
   * than the longest snapshot can run. @default 86400 (one day)
   */
  gcGraceSeconds?: number;
  /**
   * A prune after a snapshot collects garbage in a vault only when the vault's last completed
   * garbage-collection run ended at least this long ago (an operator's `strongbox prune` always
   * collects). Bounds GC's cost, which grows with the whole history, under continuous protection:
   * garbage then lingers up to `gcGraceSeconds` plus twice this (plus the plan's snapshot interval)
   * longer. 0 = every prune collects. @default 0 (AWS deployments: the `gcIntervalSeconds`
   * parameter, 21600)
   * @see ../../docs/format.md#garbage-collection
   */
  gcIntervalSeconds?: number;
  /**
   * The blob ids of the manifest parts earlier garbage-collection runs of this container read, so a
   * run reads only the parts new since (gc/part-cache.ts; content-addressed, never stale). The
   * composition root makes one per Lambda environment; absent (tests, the simulator): every run
   * reads every live part.
   */
  partBlobCache?: PartBlobCache;
  /**
   * Garbage collection repacks a pack some of whose blobs are live when more than this percentage
   * of its sealed blob bytes is unreferenced (restic's `--max-unused`): its live blobs go to new
   * packs, the old pack is marked and deleted after the grace period. 0–100. @default 5
   */
  gcMaxUnusedPercent?: number;
  /**
   * Garbage collection consolidates live packs of fewer stored bytes than this (capture stores each
   * upload in a pack of its own): their blobs go to new packs of about 16 MiB (`PACK_TARGET_BYTES`), the old
   * packs are marked and deleted after the grace period (docs/format.md#garbage-collection, step 6).
   * @default 1048576 (1 MiB)
   */
  gcSmallPackBytes?: number;
  /** A run consolidates small packs only when at least this many are older than the grace period. @default 256 */
  gcConsolidateMinPacks?: number;
  /**
   * The most small packs one run consolidates (the rest wait for the next run; a run also stops
   * repacking when its time runs low). 100,000 is what the `--scale` GC row measured in a 1024 MB
   * prune function: 959 MiB peak RSS, over a vault of 3 million blobs (README, "At scale").
   * @default 100000
   */
  gcConsolidateMaxPacks?: number;
  /**
   * Milliseconds this invocation has left (Lambda's `context.getRemainingTimeInMillis`); absent
   * outside a Lambda invocation (no time budget).
   */
  remainingTimeMs?: () => number;
  /**
   * Seconds a DynamoDB stream record's `ApproximateCreationDateTime` may lie before the change it
   * dates, as the functions' clock tells time: its rounding (AWS: down to the second; DynamoDB
   * Local: to the minute, so the embedded stack says 60) plus the skew between DynamoDB's clock and
   * the functions'. A table snapshot's seal applies a journaled change over an item its Scan read
   * only when the change may be later than the read by this much (docs/format.md#table-snapshots).
   * @default 10
   */
  streamTimePrecisionSeconds?: number;
  /**
   * Seconds a snapshot partition keeps in hand: with less left it stores what it has done and
   * re-enqueues the rest. @default 120
   */
  timeReserveSeconds?: number;
  /**
   * Objects a snapshot partition lists and stores between two looks at its time budget (tests and the
   * simulator make it small so partitions continue across invocations). @default 500
   */
  partitionBatchObjects?: number;
  /**
   * Bytes from which a snapshot partition reads an object so that the read can pause between two
   * chunks when time runs low and go on in the next invocation (its SHA-256 kept resumable; see
   * docs/format.md#partitions, step 4). Smaller objects are read whole within one invocation.
   * @default 1073741824 (1 GiB)
   */
  resumableObjectBytes?: number;
  /** Milliseconds between progress updates written to a task record. @default 2000 */
  progressIntervalMs?: number;
  /**
   * Local disk (Lambda's `/tmp`) a vault index spills to once it holds more than
   * {@link indexMemoryBlobs} blobs, so its memory stops growing with the vault
   * (docs/format.md#reading-the-index). Without it, an index stays in memory whatever its size.
   */
  scratch?: ScratchSpace;
  /**
   * Blobs a vault index holds in memory (about 64 bytes each) before it spills to {@link scratch}.
   * @default 1000000
   */
  indexMemoryBlobs?: number;
  /** A restore selecting more objects than this fans out into restore-slice tasks. @default 500 */
  restoreFanOutThreshold?: number;
  /** Selected objects per restore slice. @default 500 */
  restoreSliceSize?: number;
  /**
   * Selected bytes per restore slice, at most (an object larger than this is a slice of its own), so
   * a slice of large objects still ends within a worker's 15 minutes. @default 2 GiB
   */
  restoreSliceBytes?: number;
}

/**
 * The tuning defaults of {@link PipelineDeps}, in one place: what a use case runs with when its deps
 * leave a value out (tests, the simulator). shared/runtime/config.ts takes its defaults from here, so
 * a deployment runs with the same values unless configured otherwise.
 */
export const TUNING_DEFAULTS = {
  concurrency: 16,
  gcGraceSeconds: 86_400,
  gcIntervalSeconds: 0,
  gcMaxUnusedPercent: 5,
  gcSmallPackBytes: 1024 * 1024,
  gcConsolidateMinPacks: 256,
  gcConsolidateMaxPacks: 100_000,
  timeReserveSeconds: 120,
  partitionBatchObjects: 500,
  resumableObjectBytes: 1024 ** 3,
  progressIntervalMs: 2000,
  indexMemoryBlobs: 1_000_000,
  streamTimePrecisionSeconds: 10,
} as const;

/** The tuning values of {@link PipelineDeps}, resolved. */
export type Tuning = { -readonly [K in keyof typeof TUNING_DEFAULTS]: number };

/**
 * `deps`' tuning: each value it gives, else its {@link TUNING_DEFAULTS} default. Every use site
 * reads its tuning through this, never with a default of its own.
 * @example
 * ```ts
 * const limit = pLimit(tuningOf(deps).concurrency);
 * ```
 */
export function tuningOf(deps: Partial<Tuning>): Tuning {
  const d = TUNING_DEFAULTS;
  return {
    concurrency: deps.concurrency ?? d.concurrency,
    gcGraceSeconds: deps.gcGraceSeconds ?? d.gcGraceSeconds,
    gcIntervalSeconds: deps.gcIntervalSeconds ?? d.gcIntervalSeconds,
    gcMaxUnusedPercent: deps.gcMaxUnusedPercent ?? d.gcMaxUnusedPercent,
    gcSmallPackBytes: deps.gcSmallPackBytes ?? d.gcSmallPackBytes,
    gcConsolidateMinPacks: deps.gcConsolidateMinPacks ?? d.gcConsolidateMinPacks,
    gcConsolidateMaxPacks: deps.gcConsolidateMaxPacks ?? d.gcConsolidateMaxPacks,
    timeReserveSeconds: deps.timeReserveSeconds ?? d.timeReserveSeconds,
    partitionBatchObjects: deps.partitionBatchObjects ?? d.partitionBatchObjects,
    resumableObjectBytes: deps.resumableObjectBytes ?? d.resumableObjectBytes,
    progressIntervalMs: deps.progressIntervalMs ?? d.progressIntervalMs,
    indexMemoryBlobs: deps.indexMemoryBlobs ?? d.indexMemoryBlobs,
    streamTimePrecisionSeconds: deps.streamTimePrecisionSeconds ?? d.streamTimePrecisionSeconds,
  };
}

/**
 * The vault of `region` (the primary region's or a copy region's), or of an isolated vault's
 * location (`vault:<name>`). @throws NotFoundError
 */
export function vaultIn(vaults: Vaults, region: string): VaultStore {
  if (vaults.primary.region === region) return vaults.primary;
  const isolated = isolatedNameOf(region);
  if (isolated !== undefined) {
    const vault = vaults.isolated?.get(isolated);
    if (!vault) throw new NotFoundError(`no isolated vault named '${isolated}' is configured`);
    return vault;
  }
  const vault = vaults.copies.get(region);
  if (!vault) throw new NotFoundError(`no vault is configured in region ${region}`);
  return vault;
}

/** Every vault bucket name of the deployment (restores refuse to write into one). */
export function vaultBuckets(vaults: Vaults): Set<string> {
  return new Set(
    [vaults.primary, ...vaults.copies.values(), ...(vaults.isolated?.values() ?? [])].map((v) => v.bucket),
  );
}

/** ISO-8601 UTC string of the clock's now. */
export function nowIso(clock: Clock): string {
  return clock.now().toISOString();
}

/**
 * Calls `write` at most once per `intervalMs` (by the injected clock), for progress updates that
 * must not cost a catalog write per object.
 */
export function throttled(clock: Clock, intervalMs: number, write: () => Promise<void>): () => Promise<void> {
  let last = 0;
  return async () => {
    const now = clock.now().getTime();
    if (now - last < intervalMs) return;
    last = now;
    await write();
  };
}

/**
 * The regions holding a snapshot: the primary, and every copy region whose copy is COPIED; and the
 * locations (`vault:<name>`) of the isolated vaults it was copied to that are still configured.
 */
export function regionsHolding(vaults: Vaults, snapshot: Pick<SnapshotRecord, 'regions'>): string[] {
  return [
    vaults.primary.region,
    ...Object.entries(snapshot.regions ?? {})
      .filter(([, copy]) => copy.status === 'COPIED')
      .map(([region]) => region)
      .filter((region) => isolatedNameOf(region) === undefined || hasVault(vaults, region)),
  ];
}

/**
 * Record that a task failed with `error` (its reason, and when), for `strongbox status` and the
 * job's history. The caller rethrows, so the handler still decides retry or DLQ.
 */
export async function recordTaskFailure(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  jobId: string,
  taskId: string,
  error: unknown,
): Promise<void> {
  await deps.catalog.updateTask(jobId, taskId, {
    status: 'FAILED',
    error: reasonOf(error),
    finishedAt: nowIso(deps.clock),
  });
}
