/**
 * Verification in three tiers, each recorded per snapshot and per region, each runnable on its own:
 * - **catalog**: the manifest root is stored and opens, every manifest part appears in one listing
 *   of the region's `parts/<plan>/`, every referenced blob is located by the region's own index, and
 *   every pack holding one appears in one listing of the region's `packs/` (diffs of listings, not
 *   one request per document);
 * - **checksum**: S3 reports, for every referenced pack, the size and SHA-256 checksum the region's
 *   index recorded when the pack was stored (`HeadObject` with checksum mode; no byte is
 *   downloaded); the root is checked by `HeadObject`, the parts by listing (presence only);
 * - **deep**: a sample (or all) of the blobs is read from the region's packs with one ranged GET
 *   each, opened (decrypted, decompressed) and hashed to its id, resumably: a pass that runs low on
 *   time saves its cursor on the snapshot record and continues in a new task.
 * A failure marks the snapshot and its job and is never turned back into success by a later run.
 * @see ../../docs/format.md#verification
 * @see ../../docs/format.md#packs
 * @see ../../docs/format.md#index
 * @see ../../docs/format.md#manifest-parts
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { idsListed } from './copy.ts';
import { IntegrityError, NotFoundError, ValidationError } from './errors.ts';
import {
  nowIso,
  type PipelineDeps,
  recordTaskFailure,
  regionsHolding,
  throttled,
  tuningOf,
  vaultIn,
} from './pipeline.ts';
import type {
  PlanRecord,
  RegionVerification,
  SnapshotRecord,
  TierVerification,
  Verification,
  VerificationTier,
} from './records.ts';
import { readBlob, readManifest, readPart, VaultIndex } from './repository.ts';
import { jobIdOf, taskIdOf, type VerifyTask } from './tasks.ts';
import {
  CHUNK_SIZE_BYTES,
  type ContentId,
  type Manifest,
  type ManifestPart,
  type StoredBlob,
  VaultLayout,
} from './vault.ts';

/** Tiers in the order a full verification runs them. */
export const VERIFICATION_TIERS: readonly VerificationTier[] = ['catalog', 'checksum', 'deep'];

/** At most this many blob ids are recorded per list (missing, mismatched, corrupt). */
const MAX_LISTED = 100;

/** How a verify task may spend its time. */
export interface VerifyOptions {
  /**
   * Milliseconds the task has left (on Lambda, `context.getRemainingTimeInMillis`). Without it a
   * deep pass runs to the end in one task.
   */
  remainingMs?: () => number;
  /** A deep pass saves its cursor and continues in a new task when fewer milliseconds remain. @default 60000 */
  reserveMs?: number;
}

/**
 * The deep tier's draw for `blobId` in `snapshotId`: a number in [0, 1) from the hash of both, so
 * each snapshot samples different blobs and a retry samples the same ones.
 */
export function sampleDraw(snapshotId: string, blobId: string): number {
  return createHash('sha256').update(`${snapshotId}:${blobId}`).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Whether `blobId` is in the percent sample of `snapshotId`.
 * @param samplePercent 0–100.
 */
export function inSample(snapshotId: string, blobId: string, samplePercent: number): boolean {
  return sampleDraw(snapshotId, blobId) < samplePercent / 100;
}

/** What verification knows of a referenced blob before reading it. */
export interface ExpectedBlob {
  /** Plaintext size of the blob (its chunk of the object), in bytes. */
  logicalBytes: number;
  /** Sealed size in its pack, in bytes, by the primary's index; undefined when no index locates it. */
  storedBytes?: number;
}

/**
 * The blobs a deep pass checks, in the stable order it checks them (ascending draw, then id): all
 * referenced blobs, or the sample — a blob whose draw falls below `samplePercent`, or whose
 * predecessors in that order add up to fewer than `sampleBytes` stored bytes, and at least the first
 * blob when either setting is positive.
 * @param expected referenced blob ids with their sizes in bytes (a blob without a stored size counts
 *   its logical size).
 * @see docs/format.md#verification
 */
export function deepPassOrder(
  snapshotId: string,
  expected: ReadonlyMap<ContentId, ExpectedBlob>,
  scope: { all: boolean; samplePercent: number; sampleBytes?: number },
): ContentId[] {
  const ordered = [...expected.keys()]
    .map((id) => ({ id, draw: sampleDraw(snapshotId, id) }))
    .sort((a, b) => a.draw - b.draw || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (scope.all) return ordered.map((o) => o.id);
  const sampleBytes = scope.sampleBytes ?? 0;
  const chosen: ContentId[] = [];
  let before = 0;
  ordered.forEach(({ id, draw }, i) => {
    const info = expected.get(id);
    if (
      draw < scope.samplePercent / 100 ||
      before < sampleBytes ||
      (i === 0 && (scope.samplePercent > 0 || sampleBytes > 0))
    ) {
      chosen.push(id);
    }
    before += info?.storedBytes ?? info?.logicalBytes ?? 0;
  });
  return chosen;
}

/**
 * Run a verify task: without `task.tier`, the catalog and checksum tiers and a deep pass over the
 * plan's sample, then ask for prune (the pipeline's verify step); with `task.tier`, that tier alone
 * (a scheduled run, or a deep pass continuing from its cursor).
 *
 * Reads the manifest root and its parts from the primary (a part the primary lacks or cannot open
 * is read from a copy region), and each region's index once; each region is judged by its own
 * index and listings.
 * @throws NotFoundError (not retryable) for an unknown plan or snapshot, or a root missing from the
 *   primary or a part missing from every region (nothing to verify against).
 * @throws TransientError (retryable) when storage fails; missing or corrupt data is a result, not an error.
 * @returns the snapshot's verification record after this run, or undefined for a snapshot that is not
 *   committed (or was forgotten and its record removed since: a late redelivery does nothing).
 * @example
 * ```ts
 * const v = await verifySnapshot(deps, { kind: 'verify', planId: 'photos', snapshotId, tier: 'deep' }, {
 *   remainingMs: () => context.getRemainingTimeInMillis(),
 * });
 * if (v?.status === 'FAILED') alarm(v);
 * ```
 * @see ../../docs/format.md#verification
 */
export async function verifySnapshot(
  deps: PipelineDeps,
  task: VerifyTask,
  options: VerifyOptions = {},
): Promise<Verification | undefined> {
  const { catalog, clock, envelope, vaults } = deps;
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  const snapshot = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!snapshot) {
    // A late redelivery after prune forgot the snapshot and removed its record (its job stays).
    if (await catalog.getJob(jobId)) return undefined;
    throw new NotFoundError(`snapshot ${jobId} does not exist`);
  }
  if (snapshot.status !== 'COMMITTED' || !snapshot.manifestId) return undefined;
  const manifestId = snapshot.manifestId;
  await catalog.startTask(jobId, taskId, nowIso(clock));
  try {
    const manifest = await readManifest(vaults.primary, envelope, task.planId, manifestId);
    const regions = regionsHolding(deps.vaults, snapshot);
    const context: TierContext = {
      deps,
      options,
      task,
      plan,
      snapshot,
      manifestId,
      manifest,
      expected: new Map(),
      unreadableParts: new Map(),
      regions,
      indexes: new Map(),
    };
    await loadExpected(context);
    const results: Partial<Record<VerificationTier, TierVerification>> = {};
    for (const tier of task.tier ? [task.tier] : VERIFICATION_TIERS) {
      if (tier === 'catalog') results.catalog = await catalogTier(context);
      else if (tier === 'checksum') results.checksum = await checksumTier(context);
      else results.deep = await deepTier(context);
    }

    // Re-read just before writing, so a tier that ran meanwhile is kept, and a failure stays a failure.
    const latest = await catalog.getSnapshot(task.planId, task.snapshotId);
    const verification = mergeVerification(latest?.verification, results, nowIso(clock));
    await catalog.updateSnapshot(task.planId, task.snapshotId, { verification }, ['COMMITTED']);

    const failure = describeFailure(results);
    const deep = results.deep;
    await catalog.updateTask(jobId, taskId, {
      status: failure ? 'FAILED' : 'SUCCEEDED',
      finishedAt: nowIso(clock),
      ...(failure ? { error: failure } : {}),
      result: {
        tiers: Object.keys(results).join(','),
        regions: context.regions.length,
        referencedBlobs: context.expected.size,
        referencedParts: manifest.parts.length,
        ...(deep ? { deep: deep.status } : {}),
      },
    });
    if (failure)
      await catalog.updateJob(jobId, { status: 'FAILED', error: failure, updatedAt: nowIso(clock) });
    if (deep?.status === 'RUNNING') {
      // Out of time: the pass continues from its cursor in a new task.
      await deps.queue.send({
        kind: 'verify',
        planId: task.planId,
        snapshotId: task.snapshotId,
        tier: 'deep',
        ...(deep.scope === 'all' ? { all: true } : {}),
      });
    }
    if (!task.tier)
      await deps.queue.send({ kind: 'prune', planId: task.planId, snapshotId: task.snapshotId });
    return verification;
  } catch (error) {
    await recordTaskFailure(deps, jobId, taskId, error);
    throw error;
  }
}

/**
 * Fold one run's tier results into a snapshot's verification record: the tiers run replace their
 * previous results; the overall status is FAILED when any tier failed now or the record was FAILED
 * before (a failure is never turned back into success).
 */
export function mergeVerification(
  previous: Verification | undefined,
  results: Partial<Record<VerificationTier, TierVerification>>,
  checkedAt: string,
): Verification {
  const tiers = { ...(previous?.tiers ?? {}), ...results };
  const failed = previous?.status === 'FAILED' || Object.values(results).some(tierHasFailures);
  return { status: failed ? 'FAILED' : 'PASSED', checkedAt, tiers };
}

interface TierContext {
  deps: PipelineDeps;
  options: VerifyOptions;
  task: VerifyTask;
  plan: PlanRecord;
  snapshot: SnapshotRecord;
  manifestId: ContentId;
  manifest: Manifest;
  /** Referenced blobs and their sizes. */
  expected: Map<ContentId, ExpectedBlob>;
  /** Per region, the parts found there but unreadable while reading the entries (counted as missing). */
  unreadableParts: Map<string, Set<ContentId>>;
  regions: string[];
  /** Each region's index, loaded once per task. */
  indexes: Map<string, Promise<VaultIndex>>;
}

/** A region's index, loaded on first use and shared by the tiers of one task. */
function regionIndex(c: TierContext, region: string): Promise<VaultIndex> {
  let index = c.indexes.get(region);
  if (!index) {
    index = VaultIndex.load(vaultIn(c.deps.vaults, region), c.deps.envelope, c.deps);
    c.indexes.set(region, index);
  }
  return index;
}

/**
 * Read every part (from the primary, else from the first copy region that has it and opens it) and
 * collect the referenced blobs with their sizes (the stored size from the primary's index). Parts
 * are folded in as they arrive, so memory holds the blob ids, not the entries.
 */
async function loadExpected(c: TierContext): Promise<void> {
  const { deps, manifest } = c;
  const primaryIndex = await regionIndex(c, deps.vaults.primary.region);
  const limit = pLimit(8);
  await Promise.all(
    manifest.parts.map((ref) =>
      limit(async () => {
        const part = await readPartAnywhere(c, ref.partId);
        for (const entry of part.entries) {
          entry.blobs.forEach((blobId, i) => {
            if (c.expected.has(blobId)) return;
            const where = primaryIndex.locate(blobId);
            const chunk = Math.max(0, Math.min(CHUNK_SIZE_BYTES, entry.sizeBytes - i * CHUNK_SIZE_BYTES));
            c.expected.set(blobId, {
              logicalBytes: where?.sizeBytes ?? chunk,
              ...(where ? { storedBytes: where.lengthBytes } : {}),
            });
          });
        }
      }),
    ),
  );
}

async function readPartAnywhere(c: TierContext, partId: ContentId): Promise<ManifestPart> {
  let first: unknown;
  for (const region of c.regions) {
    try {
      return await readPart(vaultIn(c.deps.vaults, region), c.deps.envelope, c.task.planId, partId);
    } catch (error) {
      if (
        !(
          error instanceof NotFoundError ||
          error instanceof IntegrityError ||
          error instanceof ValidationError
        )
      )
        throw error;
      if (!(error instanceof NotFoundError)) {
        const set = c.unreadableParts.get(region) ?? new Set<ContentId>();
        set.add(partId);
        c.unreadableParts.set(region, set);
      }
      first ??= error;
    }
  }
  throw first ?? new NotFoundError(`part ${partId} of ${c.task.planId}/${c.task.snapshotId} is in no region`);
}

/** The referenced blobs grouped by the pack the region's index puts them in, and those it does not locate. */
function locateReferenced(
  c: TierContext,
  index: VaultIndex,
): { byPack: Map<ContentId, ContentId[]>; unlocated: ContentId[] } {
  const byPack = new Map<ContentId, ContentId[]>();
  const unlocated: ContentId[] = [];
  for (const blobId of c.expected.keys()) {
    const where = index.locate(blobId);
    if (!where) {
      unlocated.push(blobId);
      continue;
    }
    const blobs = byPack.get(where.packId);
    if (blobs) blobs.push(blobId);
    else byPack.set(where.packId, [blobId]);
  }
  return { byPack, unlocated };
}

/** The snapshot's parts not listed in the region (or found unreadable there). */
async function missingPartsIn(c: TierContext, region: string): Promise<ContentId[]> {
  const vault = vaultIn(c.deps.vaults, region);
  const listed = await idsListed(vault, VaultLayout.partsPrefix(c.task.planId), VaultLayout.partIdOf);
  const unreadable = c.unreadableParts.get(region);
  return c.manifest.parts.map((ref) => ref.partId).filter((id) => !listed.has(id) || unreadable?.has(id));
}

/** Sorted, de-duplicated and capped at {@link MAX_LISTED}. */
function listed(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort().slice(0, MAX_LISTED);
}

/**
 * Whether `probe` finds its document: false when it is missing (NotFoundError), or, with
 * `unreadableIsMissing`, when it cannot be opened (IntegrityError). Anything else is rethrown.
 */
async function documentPresent(
  probe: () => Promise<unknown>,
  unreadableIsMissing: boolean,
): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    if (
      error instanceof NotFoundError ||
      (unreadableIsMissing && (error instanceof IntegrityError || error instanceof ValidationError))
    )
      return false;
    throw error;
  }
}

function secondsSince(deps: PipelineDeps, started: Date): number {
  return (deps.clock.now().getTime() - started.getTime()) / 1000;
}

/**
 * Tier 1: the root opens, every part and every pack is listed, every blob is located by the
 * region's index. @see ../../docs/format.md#index
 */
async function catalogTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, manifestId } = c;
  const regions: Record<string, RegionVerification> = {};
  for (const region of c.regions) {
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const [manifestPresent, missingParts, packsListed, index] = await Promise.all([
      documentPresent(() => readManifest(vault, deps.envelope, task.planId, manifestId), true),
      missingPartsIn(c, region),
      idsListed(vault, VaultLayout.packsPrefix, VaultLayout.packIdOf),
      regionIndex(c, region),
    ]);
    const { byPack, unlocated } = locateReferenced(c, index);
    const missingPacks = [...byPack.keys()].filter((id) => !packsListed.has(id));
    regions[region] = {
      referencedBlobs: c.expected.size,
      referencedPacks: byPack.size,
      manifestPresent,
      missingParts: listed(missingParts),
      missingBlobs: listed([...unlocated, ...missingPacks.flatMap((id) => byPack.get(id) ?? [])]),
      missingPacks: listed(missingPacks),
      corruptBlobs: [],
      checkedBlobs: c.expected.size,
      seconds: secondsSince(deps, started),
    };
  }
  return tierResult(deps, regions);
}

/**
 * Tier 2: S3 reports, for every referenced pack, the stored size and checksum the region's index
 * recorded, without a download; the root is present (HeadObject), the parts listed.
 * @see ../../docs/format.md#index
 */
async function checksumTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, manifestId } = c;
  const regions: Record<string, RegionVerification> = {};
  for (const region of c.regions) {
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const [manifestPresent, missingParts, index] = await Promise.all([
      documentPresent(() => vault.checksum(VaultLayout.manifestKey(task.planId, manifestId)), false),
      missingPartsIn(c, region),
      regionIndex(c, region),
    ]);
    const { byPack, unlocated } = locateReferenced(c, index);
    const missingPacks: ContentId[] = [];
    const mismatchedPacks: ContentId[] = [];
    const missingBlobs: ContentId[] = [...unlocated];
    const mismatchedBlobs: ContentId[] = [];
    let checkedPacks = 0;
    let checkedBlobs = 0;
    const limit = pLimit(tuningOf(deps).concurrency);
    await Promise.all(
      [...byPack].map(([packId, blobs]) =>
        limit(async () => {
          let reported: StoredBlob;
          try {
            reported = await vault.checksum(VaultLayout.packKey(packId));
          } catch (error) {
            if (error instanceof NotFoundError) {
              missingPacks.push(packId);
              missingBlobs.push(...blobs);
              return;
            }
            throw error;
          }
          checkedPacks += 1;
          checkedBlobs += blobs.length;
          const stored = index.pack(packId)?.stored;
          if (
            !stored ||
            reported.sizeBytes !== stored.sizeBytes ||
            reported.checksumSha256 !== stored.checksumSha256 ||
            reported.checksumType !== stored.checksumType
          ) {
            mismatchedPacks.push(packId);
            mismatchedBlobs.push(...blobs);
          }
        }),
      ),
    );
    regions[region] = {
      referencedBlobs: c.expected.size,
      referencedPacks: byPack.size,
      manifestPresent,
      missingParts: listed(missingParts),
      missingBlobs: listed(missingBlobs),
      missingPacks: listed(missingPacks),
      mismatchedBlobs: listed(mismatchedBlobs),
      mismatchedPacks: listed(mismatchedPacks),
      corruptBlobs: [],
      checkedBlobs,
      checkedPacks,
      seconds: secondsSince(deps, started),
    };
  }
  return tierResult(deps, regions);
}

/**
 * Tier 3: read (one ranged GET of its pack), open and hash blobs in {@link deepPassOrder}, region
 * after region, each region through its own index, from the cursor of a pass still RUNNING; when
 * time runs low, record the cursor and return RUNNING. A blob the region's index does not locate,
 * or whose pack is gone, is missing; one that does not open or hash to its id is corrupt.
 * @see ../../docs/format.md#packs
 */
async function deepTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, plan, options } = c;
  const all = task.all ?? false;
  const scope = all ? 'all' : 'sample';
  const previous = c.snapshot.verification?.tiers?.deep;
  // A task naming the deep tier continues a pass that ran out of time; the pipeline's step starts one.
  const resume = task.tier === 'deep' && previous?.status === 'RUNNING' && previous.scope === scope;
  const order = deepPassOrder(task.snapshotId, c.expected, {
    all,
    samplePercent: plan.verification.samplePercent,
    ...(plan.verification.sampleBytes === undefined ? {} : { sampleBytes: plan.verification.sampleBytes }),
  });
  const reserveMs = options.reserveMs ?? 60_000;
  const concurrency = tuningOf(deps).concurrency;
  const outOfTime = () => options.remainingMs !== undefined && options.remainingMs() < reserveMs;
  const regions: Record<string, RegionVerification> = {};
  let batches = 0;
  let stopped = false;
  const taskId = taskIdOf(task);
  const jobId = jobIdOf(task);
  let done = 0;
  let bytes = 0;
  const report = throttled(deps.clock, tuningOf(deps).progressIntervalMs, () =>
    deps.catalog.updateTask(jobId, taskId, {
      progress: { done, total: order.length * c.regions.length, bytes },
    }),
  );
  for (const region of c.regions) {
    const before = resume ? previous?.regions[region] : undefined;
    const result: RegionVerification = {
      referencedBlobs: c.expected.size,
      manifestPresent: true,
      missingBlobs: [...(before?.missingBlobs ?? [])],
      corruptBlobs: [...(before?.corruptBlobs ?? [])],
      checkedBlobs: before?.checkedBlobs ?? 0,
      checkedBytes: before?.checkedBytes ?? 0,
      totalBlobs: order.length,
      cursor: Math.min(before?.cursor ?? 0, order.length),
      seconds: before?.seconds ?? 0,
    };
    regions[region] = result;
    if (stopped || (result.cursor ?? 0) >= order.length) continue;
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const index = await regionIndex(c, region);
    const limit = pLimit(concurrency);
    while ((result.cursor ?? 0) < order.length) {
      // Always make progress: the first batch of a task runs whatever the time left.
      if (batches > 0 && outOfTime()) {
        stopped = true;
        break;
      }
      const from = result.cursor ?? 0;
      const batch = order.slice(from, from + concurrency);
      await Promise.all(
        batch.map((blobId) =>
          limit(async () => {
            const where = index.locate(blobId);
            if (!where) result.missingBlobs.push(blobId);
            else {
              try {
                result.checkedBytes = (result.checkedBytes ?? 0) + where.lengthBytes;
                bytes += where.lengthBytes;
                await readBlob(vault, deps.envelope, where);
              } catch (error) {
                // ValidationError: the pack is shorter than the index says (a range past its end).
                if (error instanceof IntegrityError || error instanceof ValidationError)
                  result.corruptBlobs.push(blobId);
                else if (error instanceof NotFoundError) result.missingBlobs.push(blobId);
                else throw error;
              }
            }
            result.checkedBlobs += 1;
            done += 1;
          }),
        ),
      );
      batches += 1;
      result.cursor = from + batch.length;
      await report();
    }
    result.missingBlobs = result.missingBlobs.slice(0, MAX_LISTED);
    result.corruptBlobs = result.corruptBlobs.slice(0, MAX_LISTED);
    result.seconds += secondsSince(deps, started);
  }
  const failed = Object.values(regions).some((r) => r.missingBlobs.length > 0 || r.corruptBlobs.length > 0);
  return {
    // A pass cut short is RUNNING even when it found corrupt blobs already: those fail the snapshot
    // now, and the pass goes on to check the rest.
    status: stopped ? 'RUNNING' : failed ? 'FAILED' : 'PASSED',
    checkedAt: nowIso(deps.clock),
    scope,
    regions,
  };
}

function tierResult(deps: PipelineDeps, regions: Record<string, RegionVerification>): TierVerification {
  const failed = Object.values(regions).some((r) => regionProblems(r).length > 0);
  return { status: failed ? 'FAILED' : 'PASSED', checkedAt: nowIso(deps.clock), regions };
}

/** Whether a tier found anything wrong (a deep pass still RUNNING may already have). */
export function tierHasFailures(t: TierVerification): boolean {
  return t.status === 'FAILED' || Object.values(t.regions).some((r) => regionProblems(r).length > 0);
}

/**
 * One line per failed tier and region, e.g. `deep us-east-1: 1 corrupt blob(s)`; undefined when
 * nothing failed. The CLI's status shows the same words.
 */
export function describeFailure(
  tiers: Partial<Record<VerificationTier, TierVerification>>,
): string | undefined {
  const lines: string[] = [];
  for (const tier of VERIFICATION_TIERS) {
    const result = tiers[tier];
    if (!result || !tierHasFailures(result)) continue;
    for (const [region, r] of Object.entries(result.regions)) {
      const problems = regionProblems(r);
      if (problems.length > 0) lines.push(`${tier} ${region}: ${problems.join(', ')}`);
    }
  }
  return lines.length > 0 ? `verification failed: ${lines.join('; ')}` : undefined;
}

/**
 * What is wrong in one region's result, in words (empty when nothing is), causes first: e.g.
 * `1 missing pack(s) (ab12…), 3 missing blob(s) (cd34…)`. A checksum mismatch is named by pack
 * (format 2) or, in a format-1 record, by blob.
 */
export function regionProblems(r: RegionVerification): string[] {
  const problems: string[] = [];
  const some = (what: string, ids: readonly string[] | undefined) => {
    if (ids && ids.length > 0) problems.push(`${ids.length} ${what} (${ids[0]}…)`);
  };
  if (!r.manifestPresent) problems.push('manifest missing');
  some('missing part(s)', r.missingParts);
  some('missing pack(s)', r.missingPacks);
  some('missing blob(s)', r.missingBlobs);
  if (r.mismatchedPacks !== undefined) some('pack checksum mismatch(es)', r.mismatchedPacks);
  else some('checksum mismatch(es)', r.mismatchedBlobs);
  some('corrupt blob(s)', r.corruptBlobs);
  return problems;
}
