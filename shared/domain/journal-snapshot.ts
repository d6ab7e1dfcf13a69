/**
 * Listing-free incrementals (docs/format.md#journal-built-snapshots): the next snapshot of a
 * continuously protected plan is its parent's manifest plus the journal since the parent, with no
 * listing of the source. Only the parts the changes fall into are read and written again, so the
 * S3 requests grow with the number of changes, not with the bucket.
 * @see ../../docs/format.md#read-and-write-ordering
 */

import pLimit from 'p-limit';
import { NotFoundError, TransientError } from './errors.ts';
import { holdingVault } from './gc/hold.ts';
import { CLOCK_SKEW_MS, latestByKey, supersededBy } from './journal.ts';
import { copyTargetsOf, nowIso, type PipelineDeps, tuningOf } from './pipeline.ts';
import { manifestEntryOfJournal } from './point-in-time.ts';
import type { JournalCatalog, SnapshotCatalog } from './ports.ts';
import type { JournalEntry, PlanRecord, SnapshotRecord } from './records.ts';
import { readManifest, readPart } from './repository/read-documents.ts';
import { writeManifest, writePart } from './repository/write.ts';
import { missingParts } from './retry.ts';
import { sourceOf } from './source/index.ts';
import { jobIdOf } from './tasks.ts';
import { compareKeys, type ManifestEntry, manifestRoot, PART_MAX_ENTRIES, type PartRef } from './vault.ts';

/** What a journal-built snapshot did. */
export interface JournalSnapshotResult {
  status: 'COMMITTED' | 'ALREADY_COMMITTED';
  snapshotId: string;
  objectCount: number;
  logicalBytes: number;
  /** Journal entries read, and the keys they changed. */
  journalEntries: number;
  changedKeys: number;
  /** Parts read (and so rewritten) because a change falls into them. */
  partsRewritten: number;
  /**
   * Keys whose newest change was lost before capture: the snapshot keeps the parent's state for
   * them, and the plan's next snapshot reconciles (lists the source) to repair them.
   */
  lostChanges: number;
  seconds: number;
}

/**
 * The state a journal entry gives its key: the entry to keep (or null when the key is gone), or
 * undefined when the parent's state stays (lost before capture, or the same content). Whether the
 * parent holds a newer state is decided before, by sequencer ({@link parentHoldsNewer}), never by
 * `lastModified` (one-second resolution, and a multipart upload's is its start).
 */
function stateOf(
  change: JournalEntry,
  previous: ManifestEntry | undefined,
): ManifestEntry | null | undefined {
  if (change.outcome === 'removed') return null;
  const entry = manifestEntryOfJournal(change);
  if (!entry) return undefined; // lost before capture: the parent's state stays
  if (previous && previous.etag === entry.etag && previous.sizeBytes === entry.sizeBytes) return undefined;
  return entry;
}

/**
 * Whether the parent already holds a state of `change`'s key newer than `change` (a late capture
 * of an older event), so that applying it would roll the key back:
 * - the journal has an entry of the key with a greater sequencer captured by the parent's
 *   `journalUntil` (the parent holds it, or something newer). Only a change whose event is at most
 *   {@link CLOCK_SKEW_MS} after that horizon can have one (an entry's event precedes its capture).
 *   For a change whose event is at most {@link CLOCK_SKEW_MS} before the horizon, such an entry
 *   (its event no earlier than the change's, give or take the skew; captured at most the skew
 *   before its event) was captured after the horizon − 3 × {@link CLOCK_SKEW_MS}: `nearby`, the
 *   journal already read from then, answers. Only an older event costs a query of the key's history;
 * - or its event is more than {@link CLOCK_SKEW_MS} before `listedAt`, the time of the newest
 *   listing the parent descends from: that listing saw the change or a later one.
 */
export async function parentHoldsNewer(
  catalog: JournalCatalog,
  planId: string,
  change: JournalEntry,
  parentJournalUntil: string,
  listedAt: string | undefined,
  nearby: ReadonlyMap<string, readonly JournalEntry[]>,
): Promise<boolean> {
  const eventMs = Date.parse(change.eventTime);
  const horizonMs = Date.parse(parentJournalUntil);
  if (listedAt !== undefined && eventMs < Date.parse(listedAt) - CLOCK_SKEW_MS) return true;
  if (eventMs > horizonMs + CLOCK_SKEW_MS) return false;
  const history =
    eventMs >= horizonMs - CLOCK_SKEW_MS
      ? (nearby.get(change.key) ?? [])
      : await catalog.listJournalForKey(planId, change.key);
  return supersededBy(change, history, parentJournalUntil) !== undefined;
}

/** Changed parts read, changed and written at once (each holds at most two parts' entries). */
const PARTS_IN_FLIGHT = 16;

/** How far before the parent's horizon the journal is read for {@link parentHoldsNewer}'s `nearby`. */
export const NEARBY_MS = 3 * CLOCK_SKEW_MS;

/** The entries captured by `horizon`, by key. */
export function capturedBy(entries: readonly JournalEntry[], horizon: string): Map<string, JournalEntry[]> {
  const until = Date.parse(horizon);
  return Map.groupBy(
    entries.filter((e) => Date.parse(e.capturedAt) <= until),
    (e) => e.key,
  );
}

/**
 * Apply a part's changes to its entries (by key), in place. An entry captured by the parent's
 * `horizon` counts only when {@link newerThan} the parent's state.
 * @returns how many applied changes were lost before capture.
 */
function applyChanges(
  entries: Map<string, ManifestEntry>,
  changes: readonly JournalEntry[],
  horizon: string,
): number {
  let lost = 0;
  for (const change of changes) {
    const previous = entries.get(change.key);
    if (change.capturedAt <= horizon && !newerThan(change, previous)) continue; // the parent's, or older
    if (change.outcome === 'lost-before-capture') lost += 1;
    const state = stateOf(change, previous);
    if (state === null) entries.delete(change.key);
    else if (state) entries.set(change.key, state);
  }
  return lost;
}

/**
 * Whether `change` is newer, by S3's clock in whole seconds, than the parent's state of its key:
 * the parent does not hold the key, or its `lastModified` is in an earlier second than the
 * change's event. For entries captured by the parent's horizon, which the parent may have applied
 * or listed a newer state of: a tie keeps the parent's state.
 */
function newerThan(change: JournalEntry, previous: ManifestEntry | undefined): boolean {
  if (!previous) return true;
  const second = (iso: string) => Math.floor(Date.parse(iso) / 1000);
  return second(previous.lastModified) < second(change.eventTime);
}

/** The time of the newest committed snapshot that listed the source, at or before `parent`'s time. */
async function listedAtOrBefore(
  catalog: SnapshotCatalog,
  parent: SnapshotRecord,
): Promise<string | undefined> {
  if (parent.mode !== 'journal') return parent.time;
  const until = Date.parse(parent.time as string);
  return (await catalog.listSnapshots(parent.planId))
    .filter((s) => s.status === 'COMMITTED' && s.mode !== 'journal' && s.time && Date.parse(s.time) <= until)
    .at(-1)?.time;
}

/** The index of the first part whose last key is ≥ `key` (`parts.length` past them all). */
function slotOf(parts: readonly PartRef[], key: string): number {
  let lo = 0;
  let hi = parts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys((parts[mid] as PartRef).lastKey, key) >= 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Build and commit a snapshot from `parent` and the journal captured after the parent's
 * `journalUntil` up to `journalUntil`. A key whose newest change was lost before capture keeps the
 * parent's state and is counted (`journalLost`), which makes the next snapshot a reconcile. Reads
 * the changed parts only; writes the changed parts, then the root, then commits RUNNING → COMMITTED
 * (conditionally: once). No source object is read and no pack is written: capture stored them.
 * @throws NotFoundError (not retryable) when the parent's manifest is missing; TransientError
 *   (retryable) on storage or catalog failures — a redelivery builds the same snapshot again.
 */
export async function snapshotFromJournal(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  parent: SnapshotRecord,
  journalUntil: string,
): Promise<JournalSnapshotResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const started = clock.now();
  if (!parent.manifestId || !parent.journalUntil) {
    throw new NotFoundError(`snapshot ${plan.id}/${parent.snapshotId} cannot be a journal parent`);
  }
  const base = await readManifest(vaults.primary, envelope, plan.id, parent.manifestId);
  // From CLOCK_SKEW_MS before the parent's horizon: a capture whose clock ran behind dates a change
  // the parent never saw before it (docs/format.md#journal-built-snapshots). An entry captured by
  // the horizon counts only when it is newer, by S3's clock, than the parent's state of its key.
  const horizon = parent.journalUntil;
  const capturedAfterMs = Date.parse(horizon) - CLOCK_SKEW_MS;
  const source = sourceOf(deps, plan.source);
  const read = await catalog.listJournal(plan.id, {
    capturedAfter: new Date(Date.parse(horizon) - NEARBY_MS).toISOString(),
    capturedUntil: journalUntil,
  });
  const journal = read.filter((e) => Date.parse(e.capturedAt) > capturedAfterMs && source.covers(e));
  const nearby = capturedBy(read, horizon);
  // Latest entry per key by sequencer; then drop those the parent holds a newer state of (never
  // roll a key back: docs/format.md#journal-built-snapshots).
  const listedAt = await listedAtOrBefore(catalog, parent);
  const latest = [...latestByKey(journal).values()];
  const limit = pLimit(tuningOf(deps).concurrency);
  const stale = await Promise.all(
    latest.map((change) =>
      limit(() =>
        parentHoldsNewer(catalog, plan.id, change, parent.journalUntil as string, listedAt, nearby),
      ),
    ),
  );
  const changes = latest.filter((_, i) => !stale[i]).sort((a, b) => compareKeys(a.key, b.key));

  // Group the changes by the parent part whose key range holds them; read only those parts. (One
  // pass: copying a slot's array per change made keys appended after the last part quadratic.)
  // Each changed slot is read, changed and written again on its own, several at a time (each is a
  // round trip or two to S3), holding only the slots in flight.
  const bySlot = Map.groupBy(changes, (change) => slotOf(base.parts, change.key));
  let lostChanges = 0;
  const rewritten = new Map<number, PartRef[]>();
  const written: PartRef[] = [];
  const known = new Set(base.parts.map((p) => p.partId));
  const slotLimit = pLimit(Math.min(PARTS_IN_FLIGHT, tuningOf(deps).concurrency));
  await Promise.all(
    [...bySlot].map(([slot, slotChanges]) =>
      slotLimit(async () => {
        const ref = base.parts[slot];
        const entries = new Map<string, ManifestEntry>();
        if (ref) {
          for (const e of (await readPart(vaults.primary, envelope, plan.id, ref.partId)).entries)
            entries.set(e.key, e);
        }
        lostChanges += applyChanges(entries, slotChanges, horizon);
        const sorted = [...entries.values()].sort((a, b) => compareKeys(a.key, b.key));
        const refs: PartRef[] = [];
        for (let i = 0; i < sorted.length; i += PART_MAX_ENTRIES) {
          const part = await writePart(
            vaults.primary,
            envelope,
            plan.id,
            sorted.slice(i, i + PART_MAX_ENTRIES),
            known,
          );
          refs.push(part.ref);
          if (part.written) written.push(part.ref);
        }
        rewritten.set(slot, refs);
      }),
    ),
  );
  // The changed parts (their blobs were stored and indexed by capture) in key order, then the root.
  const parts: PartRef[] = [];
  for (let slot = 0; slot <= base.parts.length; slot++) {
    const refs = rewritten.get(slot);
    const ref = base.parts[slot];
    if (refs) parts.push(...refs);
    else if (ref) parts.push(ref);
  }
  // Held against garbage collection from the check to the commit (docs/format.md#garbage-collection,
  // step 9): a part written here may be one a run listed as garbage before (same content, same id).
  const { committed, manifest, seconds } = await holdingVault(
    deps,
    vaults.primary,
    `seal:${plan.id}/${record.snapshotId}`,
    async () => {
      await checkStillWhole(deps, plan.id, parent, written);
      const completedAt = clock.now();
      const manifest = manifestRoot(
        {
          planId: plan.id,
          snapshotId: record.snapshotId,
          parentSnapshotId: parent.snapshotId,
          source: plan.source,
          // A table source's definition, as its last listing recorded it.
          ...(base.table ? { table: base.table } : {}),
          scheduledAt: record.scheduledAt,
          time: journalUntil,
          completedAt: completedAt.toISOString(),
        },
        parts,
      );
      const { manifestId } = await writeManifest(vaults.primary, envelope, manifest);
      const seconds = (completedAt.getTime() - started.getTime()) / 1000;
      const committed = await catalog.updateSnapshot(
        plan.id,
        record.snapshotId,
        {
          status: 'COMMITTED',
          mode: 'journal',
          time: journalUntil,
          journalUntil,
          parentSnapshotId: parent.snapshotId,
          startedAt: started.toISOString(),
          committedAt: completedAt.toISOString(),
          manifestId,
          objectCount: manifest.totals.objectCount,
          logicalBytes: manifest.totals.logicalBytes,
          objectsRead: 0,
          blobsWritten: 0,
          packsWritten: 0,
          storedBytesWritten: 0,
          journalEntries: journal.length,
          journalLost: lostChanges,
          seconds,
          regions: Object.fromEntries(
            copyTargetsOf(plan).map((region) => [region, { status: 'PENDING' as const }]),
          ),
        },
        ['RUNNING'],
      );
      return { committed, manifest, seconds };
    },
  );
  const result: JournalSnapshotResult = {
    status: committed ? 'COMMITTED' : 'ALREADY_COMMITTED',
    snapshotId: record.snapshotId,
    objectCount: manifest.totals.objectCount,
    logicalBytes: manifest.totals.logicalBytes,
    journalEntries: journal.length,
    changedKeys: changes.length,
    partsRewritten: rewritten.size,
    lostChanges,
    seconds,
  };
  if (committed) {
    await catalog.updateTask(jobIdOf(record), 'snapshot', {
      status: 'SUCCEEDED',
      finishedAt: nowIso(clock),
      progress: { done: result.objectCount, total: result.objectCount, bytes: result.logicalBytes },
      result: { mode: 'journal', ...result },
    });
  }
  return result;
}

/**
 * Before the root names them: the parts this snapshot wrote are stored (a run that ended before the
 * hold may have deleted one it listed as garbage before it was written again), and the parent whose
 * unchanged parts it names is still COMMITTED (its root kept them live for every run that ended).
 * @throws TransientError (retryable) otherwise: the snapshot is built again.
 */
async function checkStillWhole(
  deps: PipelineDeps,
  planId: string,
  parent: SnapshotRecord,
  written: readonly PartRef[],
): Promise<void> {
  const missing = await missingParts(deps, planId, written);
  if (missing.size > 0) {
    throw new TransientError(
      `snapshot of ${planId}: ${missing.size} part(s) it wrote were deleted as garbage meanwhile; it is built again`,
    );
  }
  const now = await deps.catalog.getSnapshot(planId, parent.snapshotId);
  if (now?.status !== 'COMMITTED') {
    throw new TransientError(
      `snapshot of ${planId}: its parent ${parent.snapshotId} is ${now?.status ?? 'gone'}; it is built again`,
    );
  }
}
