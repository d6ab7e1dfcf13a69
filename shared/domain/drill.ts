/**
 * Restore drills: prove, on a schedule, that a plan's backups restore, and how fast. A drill draws a
 * recent committed snapshot and a sample of its objects (seeded by the drill id, so a redelivery
 * draws the same), and in every region holding the snapshot reads each sampled object from that
 * region's vault as a restore does (the region's index, loaded once, locates each chunk's blob in
 * its pack; one ranged GET per chunk), checks every chunk against its blob id and the whole against
 * the manifest's SHA-256 and size, writes it to a scratch prefix of the drill bucket (one PUT, or a
 * streamed multipart upload above one chunk), and deletes the scratch copies again. It records
 * objects, bytes, seconds, throughput, time to first byte and the estimated RTO of the whole plan per
 * region. A mismatch or a missing blob FAILS the drill, and no redelivery of that drill turns it
 * back into success.
 * @see ../../docs/format.md#restore-drills
 */
import { createHash } from 'node:crypto';
import { drillTableRegion, prepareTableDrill } from './drill-table.ts';
import { IntegrityError, NotFoundError, reasonOf, TransientError, ValidationError } from './errors.ts';
import { nowIso, type PipelineDeps, regionsHolding, vaultBuckets, vaultIn } from './pipeline.ts';
import type { DrillSettings } from './plan.ts';
import type { DrillHistory, DrillRecord, DrillRegion, SnapshotRecord } from './records.ts';
import { readAllEntries } from './repository/manifest-entries.ts';
import { readManifest } from './repository/read-documents.ts';
import { VaultIndex } from './repository/vault-index.ts';
import { writeEntry } from './restore/write.ts';
import type { DrillTask } from './tasks.ts';
import { type contentSha256Of, type ManifestEntry, snapshotIdFor } from './vault.ts';
import { isTableManifest } from './verify/items.ts';

/** A plan's history keeps this many drills (the newest). */
export const DRILLS_KEPT = 10;

/** Scratch copies of a drill live under this prefix of the drill bucket (the drill role may write only there). */
export const DRILL_SCRATCH_ROOT = 'strongbox-drill/';

/** Defaults of a plan's `drill` settings, for a drill run on demand of a plan without them. */
export const DRILL_DEFAULTS = { sampleObjects: 20, recentSnapshots: 3 } as const;

/** At most this many failed keys are recorded per region. */
const MAX_LISTED = 100;

/** What a drill needs besides the pipeline's ports. */
export interface DrillDeps extends PipelineDeps {
  /** The bucket of the scratch copies (never a vault). */
  drillBucket: string;
  /**
   * The deployment's name prefix (`<service>-<stage>`, what STRONGBOX_VAULT_NAME holds): a table
   * plan's drill restores into scratch tables `<prefix>-drill-<plan>-<short id>` (drill-table.ts).
   * @default 'strongbox'
   */
  drillTablePrefix?: string;
  /**
   * A monotonic timer in milliseconds (on Lambda, `performance.now`): what throughput and time to
   * first byte are measured with. Only differences between two readings count.
   */
  elapsedMs: () => number;
}

/** Options of {@link runDrill}. */
export interface DrillOptions {
  /**
   * The random source of the drill's draws, numbers in [0, 1). @default seededRandom of the plan and
   * drill id, so a redelivery of the task repeats the same choices.
   */
  random?: () => number;
}

/**
 * A deterministic pseudo-random source in [0, 1): SHA-256 of `seed` and a counter, 48 bits per draw.
 * @example
 * ```ts
 * const random = seededRandom('photos:20261122T010000Z');
 * random(); // the same sequence for the same seed, every time
 * ```
 */
export function seededRandom(seed: string): () => number {
  let counter = 0;
  return () => {
    const digest = createHash('sha256').update(`${seed}:${counter++}`).digest();
    return digest.readUIntBE(0, 6) / 2 ** 48;
  };
}

/**
 * The id of a drill scheduled (or requested) at `at`: the same shape as a snapshot id (see
 * {@link snapshotIdFor}): to the second for a scheduled drill, to the millisecond for a requested one.
 */
export function drillIdFor(at: Date, precision: 'second' | 'millisecond' = 'second'): string {
  return snapshotIdFor(at, precision);
}

/** The scratch prefix of one drill in one region: `strongbox-drill/<plan>/<drill id>/<region>/`. */
export function scratchPrefix(planId: string, drillId: string, region: string): string {
  return `${DRILL_SCRATCH_ROOT}${planId}/${drillId}/${region}/`;
}

/**
 * Draw the drill's snapshot among the `recentSnapshots` newest committed ones.
 * @param committed committed snapshots, oldest first.
 */
export function pickSnapshot(
  committed: readonly SnapshotRecord[],
  recentSnapshots: number,
  random: () => number,
): SnapshotRecord | undefined {
  const recent = committed.slice(-Math.max(1, recentSnapshots));
  if (recent.length === 0) return undefined;
  return recent[Math.min(recent.length - 1, Math.floor(random() * recent.length))];
}

/**
 * Draw the sample: entries in a random order (a partial Fisher–Yates shuffle of the manifest's
 * order), the first `sampleObjects` that keep the sample's bytes within `sampleBytes`. The first
 * entry drawn always counts, so a drill always measures something.
 */
export function pickSample(
  entries: readonly ManifestEntry[],
  settings: { sampleObjects: number; sampleBytes?: number },
  random: () => number,
): ManifestEntry[] {
  const pool = [...entries];
  const chosen: ManifestEntry[] = [];
  let bytes = 0;
  for (let i = 0; i < pool.length && chosen.length < settings.sampleObjects; i++) {
    const j = i + Math.min(pool.length - i - 1, Math.floor(random() * (pool.length - i)));
    [pool[i], pool[j]] = [pool[j] as ManifestEntry, pool[i] as ManifestEntry];
    const entry = pool[i] as ManifestEntry;
    if (
      chosen.length > 0 &&
      settings.sampleBytes !== undefined &&
      bytes + entry.sizeBytes > settings.sampleBytes
    ) {
      continue;
    }
    chosen.push(entry);
    bytes += entry.sizeBytes;
  }
  return chosen;
}

/**
 * The RTO estimate: how many seconds restoring `logicalBytes` takes at `throughputBytesPerSecond`
 * (0 for an empty snapshot, and 0 when no throughput was measured rather than Infinity).
 * @example
 * ```ts
 * estimatedRtoSeconds(36 * 2 ** 20, 2 * 2 ** 20); // 18
 * ```
 */
export function estimatedRtoSeconds(logicalBytes: number, throughputBytesPerSecond: number): number {
  if (throughputBytesPerSecond <= 0) return 0;
  return logicalBytes / throughputBytesPerSecond;
}

/**
 * Fold a drill into a plan's history: replace the record of the same drill id unless that record is
 * FAILED (a failed drill stays failed), append a new one, keep the newest {@link DRILLS_KEPT}.
 */
export function mergeDrill(
  previous: DrillHistory | undefined,
  planId: string,
  drill: DrillRecord,
): DrillHistory {
  const drills = [...(previous?.drills ?? [])];
  const i = drills.findIndex((d) => d.drillId === drill.drillId);
  if (i >= 0) {
    if (drills[i]?.status !== 'FAILED') drills[i] = drill;
  } else {
    drills.push(drill);
  }
  return {
    planId,
    version: (previous?.version ?? 0) + 1,
    ...(previous?.scheduledAt ? { scheduledAt: previous.scheduledAt } : {}),
    drills: drills.slice(-DRILLS_KEPT),
  };
}

/**
 * Read-modify-write a plan's drill history with optimistic concurrency (a few tries).
 * @throws TransientError (retryable) when other writers keep winning.
 */
export async function updateDrillHistory(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  change: (previous: DrillHistory | undefined) => DrillHistory,
): Promise<DrillHistory> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const previous = await deps.catalog.getDrillHistory(planId);
    const next = change(previous);
    if (await deps.catalog.putDrillHistory(next, previous?.version ?? 0)) return next;
  }
  throw new TransientError(`drill history of ${planId}: too many concurrent writers`);
}

/**
 * Run a drill task: draw the snapshot and the sample (from the snapshot's entries, read from the
 * primary vault's manifest parts), restore the sample to scratch in every region holding the
 * snapshot (the primary, and each copy region whose copy is COPIED) reading from that region's vault
 * and index, check every chunk against its blob id and every object against its manifest SHA-256
 * ({@link contentSha256Of}) and size, measure, delete the scratch copies (also when the drill fails
 * or throws), and record the drill on the plan's history. A blob no index of the region locates, a
 * pack gone, a chunk that does not open or match, or an index document that does not load fails the
 * region (a result, not an error). A drill id recorded already is not run again: the task returns
 * its record (so a FAILED drill is never retried into success). From the draw of its snapshot the
 * drill is recorded RUNNING (keeping the reaper's `redrives` of a RUNNING record of its id), beaten
 * on by its worker, and replaced by its result; an error thrown removes the RUNNING record (the queue
 * delivers the task again), a worker killed leaves it to the reaper (shared/domain/reaper.ts).
 * @throws NotFoundError (not retryable) for an unknown plan, or a plan without a committed snapshot,
 *   or when the snapshot's manifest (root or a part) is missing from the primary vault.
 * @throws ValidationError (not retryable) when the drill bucket is a vault bucket.
 * @throws TransientError (retryable) when storage fails; the scratch copies written so far are deleted first.
 * @returns the drill's record.
 * @example
 * ```ts
 * const drill = await runDrill({ ...c.pipeline, drillBucket, elapsedMs: () => performance.now() }, task);
 * if (drill.status === 'FAILED') alarm(drill.reason);
 * ```
 * @see docs/format.md#restore-drills
 */
export async function runDrill(
  deps: DrillDeps,
  task: DrillTask,
  options: DrillOptions = {},
): Promise<DrillRecord> {
  const { catalog, clock } = deps;
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  if (vaultBuckets(deps.vaults).has(deps.drillBucket)) {
    throw new ValidationError(
      `the drill bucket ${deps.drillBucket} is a vault bucket: drills never write into a vault`,
    );
  }
  const done = (await catalog.getDrillHistory(task.planId))?.drills.find((d) => d.drillId === task.drillId);
  if (done && done.status !== 'RUNNING') return done;

  const settings: Pick<DrillSettings, 'sampleObjects' | 'recentSnapshots'> & { sampleBytes?: number } = {
    ...DRILL_DEFAULTS,
    ...(plan.drill ?? {}),
  };
  const random = options.random ?? seededRandom(`${task.planId}:${task.drillId}`);
  const committed = (await catalog.listSnapshots(task.planId)).filter(
    (s) => s.status === 'COMMITTED' && s.manifestId,
  );
  const snapshot = pickSnapshot(committed, settings.recentSnapshots, random);
  const latest = committed.at(-1);
  if (!snapshot || !latest)
    throw new NotFoundError(`plan '${task.planId}' has no committed snapshot to drill`);
  const startedAt = nowIso(clock);
  const latestLogicalBytes = latest.logicalBytes ?? 0;
  // RUNNING from here, so the reaper can tell a dead drill (it stops beating) from a slow one.
  const running = await markDrillRunning(deps, task, {
    drillId: task.drillId,
    scheduledAt: task.scheduledAt,
    startedAt,
    snapshotId: snapshot.snapshotId,
    latestSnapshotId: latest.snapshotId,
    latestLogicalBytes,
    status: 'RUNNING',
    regions: {},
    heartbeatAt: startedAt,
  });
  if (running.status !== 'RUNNING') return running; // another delivery finished it meanwhile
  const regions: Record<string, DrillRegion> = {};
  try {
    const manifestId = snapshot.manifestId as string;
    const manifest = await readManifest(deps.vaults.primary, deps.envelope, task.planId, manifestId);
    const entries = await readAllEntries(deps.vaults.primary, deps.envelope, manifest);
    const sample = pickSample(entries, settings, random);
    const holding = regionsHolding(deps.vaults, snapshot);
    const table = isTableManifest(manifest)
      ? await prepareTableDrill(deps, task, manifest, holding, { sample, latestLogicalBytes })
      : undefined;
    for (const region of holding) {
      regions[region] = table
        ? await drillTableRegion(deps, table, region)
        : await drillRegion(deps, task, region, sample, latestLogicalBytes);
    }
  } catch (error) {
    // A failure caught is no death: the queue delivers the task again, the reaper leaves it alone.
    await changeRunningDrill(deps, task.planId, task.drillId, () => null).catch(() => false);
    throw error;
  }
  const failures = Object.entries(regions)
    .filter(([, r]) => r.status === 'FAILED')
    .map(([region, r]) => `${region}: ${r.reason}`);
  const record: DrillRecord = {
    drillId: task.drillId,
    scheduledAt: task.scheduledAt,
    startedAt,
    finishedAt: nowIso(clock),
    snapshotId: snapshot.snapshotId,
    latestSnapshotId: latest.snapshotId,
    latestLogicalBytes,
    status: failures.length > 0 ? 'FAILED' : 'PASSED',
    ...(failures.length > 0 ? { reason: `drill failed: ${failures.join('; ')}` } : {}),
    regions,
  };
  const history = await updateDrillHistory(deps, task.planId, (previous) =>
    mergeDrill(previous, task.planId, record),
  );
  // Of two deliveries racing, the first record written wins; report what the history holds.
  return history.drills.find((d) => d.drillId === task.drillId) ?? record;
}

/**
 * Record a drill as RUNNING in its plan's history (keeping the `redrives` of a RUNNING record of the
 * same id). @returns the record now stored under its id: a finished one is returned as it is.
 * @throws TransientError (retryable) when other writers keep winning.
 */
async function markDrillRunning(
  deps: Pick<PipelineDeps, 'catalog'>,
  task: DrillTask,
  running: DrillRecord,
): Promise<DrillRecord> {
  let stored = running;
  await updateDrillHistory(deps, task.planId, (previous) => {
    const found = previous?.drills.find((d) => d.drillId === task.drillId);
    stored =
      found && found.status !== 'RUNNING'
        ? found
        : { ...running, ...(found?.redrives ? { redrives: found.redrives } : {}) };
    return mergeDrill(previous, task.planId, stored);
  });
  return stored;
}

/**
 * Change the RUNNING record of drill `drillId` in its plan's history, with optimistic concurrency:
 * `change` returns the new record, `null` to remove it, or undefined to leave the history alone.
 * @returns false when no RUNNING record of that drill is stored, or `change` returned undefined.
 * @throws TransientError (retryable) when other writers keep winning, or the catalog fails.
 */
export async function changeRunningDrill(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  drillId: string,
  change: (running: DrillRecord) => DrillRecord | null | undefined,
): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const previous = await deps.catalog.getDrillHistory(planId);
    const running = previous?.drills.find((d) => d.drillId === drillId && d.status === 'RUNNING');
    if (!previous || !running) return false;
    const next = change(running);
    if (next === undefined) return false;
    const drills = previous.drills.flatMap((d) => (d === running ? (next ? [next] : []) : [d]));
    if (
      await deps.catalog.putDrillHistory(
        { ...previous, version: previous.version + 1, drills },
        previous.version,
      )
    )
      return true;
  }
  throw new TransientError(`drill history of ${planId}: too many concurrent writers`);
}

/**
 * Record a heartbeat on a RUNNING drill (`heartbeatAt = at`); a drill that ended, or is not RUNNING
 * yet, is left alone. @returns whether it was recorded.
 * @throws TransientError (retryable).
 * @see docs/format.md#tasks
 */
export function heartbeatDrill(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  drillId: string,
  at: string,
): Promise<boolean> {
  return changeRunningDrill(deps, planId, drillId, (d) => ({ ...d, heartbeatAt: at }));
}

/** Failures of the data (not of storage): they fail the object, and the drill, and are not retried. */
function isDataFailure(error: unknown): boolean {
  return (
    error instanceof NotFoundError || error instanceof IntegrityError || error instanceof ValidationError
  );
}

/**
 * Restore the sample from one region's vault to scratch, check, measure, and delete the copies.
 * The region's index is loaded once, before the clock starts (a restore loads it once too).
 */
async function drillRegion(
  deps: DrillDeps,
  task: DrillTask,
  region: string,
  sample: readonly ManifestEntry[],
  latestLogicalBytes: number,
): Promise<DrillRegion> {
  const vault = vaultIn(deps.vaults, region);
  const prefix = scratchPrefix(task.planId, task.drillId, region);
  const scratchKeys = sample.map((e) => `${prefix}${e.key}`);
  const failedObjects: string[] = [];
  const reasons: string[] = [];
  let objects = 0;
  let bytes = 0;
  let timeToFirstByteMs = 0;
  let index: VaultIndex | undefined;
  try {
    index = await VaultIndex.load(vault, deps.envelope, deps);
  } catch (error) {
    if (!isDataFailure(error)) throw error;
    reasons.push(`the index of ${vault.bucket} does not load: ${reasonOf(error)}`);
  }
  const started = deps.elapsedMs();
  let ended = started;
  try {
    for (const [i, entry] of index ? sample.entries() : []) {
      const before = deps.elapsedMs();
      let firstChunk = i === 0;
      const onChunk = () => {
        // Time to first byte: the first blob's ranged GET of the first object.
        if (firstChunk) timeToFirstByteMs = deps.elapsedMs() - before;
        firstChunk = false;
      };
      try {
        const written = await writeEntry(
          deps.objects,
          vault,
          deps.envelope,
          index as VaultIndex,
          entry,
          deps.drillBucket,
          `${prefix}${entry.key}`,
          onChunk,
        );
        objects += 1;
        bytes += written;
      } catch (error) {
        if (!isDataFailure(error)) throw error;
        failedObjects.push(entry.key);
      } finally {
        if (firstChunk) onChunk(); // the first object failed before its first byte
      }
    }
    ended = deps.elapsedMs();
  } finally {
    index?.close(); // the local disk the index spilled to, if any
    // The scratch copies go whatever happened (a redelivery would write the same keys again).
    await deps.objects.delete(deps.drillBucket, scratchKeys);
  }
  const seconds = Math.max(0, (ended - started) / 1000);
  const throughputBytesPerSecond = seconds > 0 ? bytes / seconds : 0;
  if (failedObjects.length > 0) {
    reasons.push(
      `${failedObjects.length} object(s) missing or not matching the manifest's hash (${failedObjects[0]}…)`,
    );
  }
  return {
    status: reasons.length > 0 ? 'FAILED' : 'PASSED',
    objects,
    bytes,
    seconds,
    throughputBytesPerSecond,
    timeToFirstByteMs,
    estimatedRtoSeconds: estimatedRtoSeconds(latestLogicalBytes, throughputBytesPerSecond),
    ...(failedObjects.length > 0 ? { failedObjects: failedObjects.slice(0, MAX_LISTED) } : {}),
    ...(reasons.length > 0 ? { reason: reasons.join(', ') } : {}),
  };
}
