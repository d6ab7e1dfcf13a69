/**
 * Sealing a table snapshot (docs/format.md#table-snapshots): a Scan is not a point in time, so the
 * seal makes the snapshot consistent as of one instant, the cut, by the fuzzy-dump-plus-log
 * technique. The Scan began at the snapshot's planned time T0; the cut H is when its last segment
 * ended. Once capture has had `settleSeconds` past H to journal the stream, the seal merges every
 * segment's runs in key order and applies, key by key, the newest change the stream journaled from
 * T0 (less the clock skew) up to H — unless the Scan read a newer state (`parentHoldsNewer`, with the
 * Scan as the parent). An item the Scan read before a change gets the change; one it read after gets
 * the same state again. Then the parts (cut at the parent's part boundaries, so unchanged parts are
 * shared), the root last, and the commit with `time` and `journalUntil` = H.
 */
import { NotFoundError, TransientError } from '../errors.ts';
import { holdingVault } from '../gc/hold.ts';
import { CLOCK_SKEW_MS, latestByKey } from '../journal.ts';
import { capturedBy, NEARBY_MS, parentHoldsNewer } from '../journal-snapshot.ts';
import { copyTargetsOf, nowIso, type PipelineDeps, tuningOf } from '../pipeline.ts';
import { manifestEntryOfJournal } from '../point-in-time.ts';
import type { JournalEntry, PartitionSummary, PlanRecord, SnapshotRecord } from '../records.ts';
import { readManifest } from '../repository/read-documents.ts';
import { writeManifest, writePart } from '../repository/write.ts';
import { missingParts } from '../retry.ts';
import { cutParts } from '../snapshot/parts.ts';
import type { SnapshotResult } from '../snapshot/result.ts';
import { fanOutAfterCommit, rerunPartitions } from '../snapshot/seal.ts';
import { sourceOf } from '../source/index.ts';
import { jobIdOf } from '../tasks.ts';
import {
  compareKeys,
  type Manifest,
  type ManifestEntry,
  manifestRoot,
  PART_MAX_ENTRIES,
  type PartRef,
} from '../vault.ts';
import { entriesOf, mergeRuns, runsOf } from './merge.ts';
import { describeSource, tableSpecOf } from './scan-partition.ts';

/** Raised while the seal waits for capture to settle past the cut. */
class NotSettled extends TransientError {}

/** Wait until `atMs` by the clock (polling through deps.retry), else throw TransientError (retried). */
async function settle(deps: PipelineDeps, atMs: number, what: string): Promise<void> {
  const waitMs = atMs - deps.clock.now().getTime();
  if (waitMs <= 0) return;
  await deps.retry(
    async () => {
      if (deps.clock.now().getTime() < atMs)
        throw new NotSettled(`${what}: capture settles until ${new Date(atMs).toISOString()}`);
    },
    {
      maxAttempts: Math.ceil(waitMs / 1000) + 5,
      baseDelayMs: 1000,
      maxDelayMs: 1000,
      jitter: 'none',
      retryIf: (e) => e instanceof NotSettled,
    },
  );
}

/**
 * The changes the stream journaled from the Scan's start up to the cut that the Scan may have
 * missed, by key (newest per key by sequencer): captured after T0 − skew and by now (the seal waited
 * `settleSeconds` past the cut, so a change made by the cut is in), with an event by the cut (give
 * or take the stream's time window), and not older than a state the Scan read (an entry of the key
 * with a greater sequencer captured by T0, or an event more than the skew before T0).
 */
async function changesToCut(
  deps: PipelineDeps,
  plan: PlanRecord,
  scanStart: string,
  cut: string,
): Promise<{ changes: Map<string, JournalEntry>; read: number }> {
  const source = sourceOf(deps, plan.source);
  const t0 = Date.parse(scanStart);
  const lastEventMs = Date.parse(cut) + tuningOf(deps).streamTimePrecisionSeconds * 1000;
  const read = (
    await deps.catalog.listJournal(plan.id, {
      capturedAfter: new Date(t0 - NEARBY_MS).toISOString(),
      capturedUntil: nowIso(deps.clock),
    })
  ).filter((e) => source.covers(e) && Date.parse(e.eventTime) <= lastEventMs);
  const nearby = capturedBy(read, scanStart);
  const candidates = [
    ...latestByKey(read.filter((e) => Date.parse(e.capturedAt) > t0 - CLOCK_SKEW_MS)).values(),
  ];
  const changes = new Map<string, JournalEntry>();
  for (const change of candidates) {
    if (!(await parentHoldsNewer(deps.catalog, plan.id, change, scanStart, scanStart, nearby)))
      changes.set(change.key, change);
  }
  return { changes, read: read.length };
}

/**
 * The merged Scan with the changes applied: `captured` → its item, `removed` → gone, lost → as
 * scanned. A change applies over an item the Scan read only when it may be later than the read (its
 * event, plus the stream's time precision, after the read's `lastModified`): the Scan read the state
 * a change before the read left, or a newer one the journal may lack (lost, or captured after the
 * cut), which an older journaled change must not replace.
 */
async function* applyChanges(
  scanned: AsyncIterable<ManifestEntry>,
  changes: ReadonlyMap<string, JournalEntry>,
  counts: { lost: number },
  at: { precisionMs: number; scanStartMs: number },
): AsyncGenerator<ManifestEntry> {
  const { precisionMs, scanStartMs } = at;
  const pending = [...changes.values()].sort((a, b) => compareKeys(a.key, b.key));
  let i = 0;
  const resolve = function* (change: JournalEntry, scannedEntry: ManifestEntry | undefined) {
    // When the Scan read the key: its page's time, or (it found no such item) at the latest its start.
    const readMs = scannedEntry ? Date.parse(scannedEntry.lastModified) : scanStartMs;
    if (Date.parse(change.eventTime) + precisionMs <= readMs) {
      if (scannedEntry) yield scannedEntry; // read after the change: the Scan holds it, or a newer state
      return;
    }
    if (change.outcome === 'removed') return;
    const entry = manifestEntryOfJournal(change);
    if (entry) yield entry;
    else {
      counts.lost += 1;
      if (scannedEntry) yield scannedEntry;
    }
  };
  for await (const entry of scanned) {
    while (i < pending.length && compareKeys((pending[i] as JournalEntry).key, entry.key) < 0) {
      yield* resolve(pending[i] as JournalEntry, undefined); // changed after the Scan passed its key
      i += 1;
    }
    const change = pending[i];
    if (change && change.key === entry.key) {
      yield* resolve(change, entry);
      i += 1;
    } else yield entry;
  }
  for (; i < pending.length; i++) yield* resolve(pending[i] as JournalEntry, undefined);
}

/** What the parent plus the journal says a key holds: an etag, gone (null), or unknown (a lost change). */
function expectedOf(
  parent: ManifestEntry | undefined,
  change: JournalEntry | undefined,
): string | null | undefined {
  if (!change) return parent?.etag ?? null;
  if (change.outcome === 'removed') return null;
  return change.outcome === 'captured' ? (change.etag ?? undefined) : undefined;
}

/**
 * A reconcile's count of repairs: keys whose state in the snapshot differs from what the parent plus
 * the journal since the parent's horizon says (the newest journaled change, else the parent's
 * entry): what the stream missed (past its 24 hours, or lost). A key whose newest journaled change
 * was lost before capture is not counted (nothing says what it should hold). Counted as the entries
 * pass, joined with the parent's in key order.
 */
function repairCounter(
  parentEntries: AsyncIterator<ManifestEntry> | undefined,
  changes: ReadonlyMap<string, JournalEntry>,
) {
  let parentHead: ManifestEntry | undefined;
  let started = false;
  const seen = new Set<string>();
  const state = { repaired: 0 };
  const next = async () => {
    const r = parentEntries ? await parentEntries.next() : { done: true as const, value: undefined };
    parentHead = r.done ? undefined : r.value;
  };
  const check = (key: string, parent: ManifestEntry | undefined, actual: ManifestEntry | undefined) => {
    const change = changes.get(key);
    if (change) seen.add(key);
    const expected = expectedOf(parent, change);
    if (expected !== undefined && expected !== (actual?.etag ?? null)) state.repaired += 1;
  };
  return {
    state,
    async see(entry: ManifestEntry | undefined) {
      if (!parentEntries) return;
      if (!started) {
        started = true;
        await next();
      }
      while (parentHead && (!entry || compareKeys(parentHead.key, entry.key) < 0)) {
        check(parentHead.key, parentHead, undefined); // in the parent, not in the table
        await next();
      }
      if (!entry) {
        // Keys the journal says exist that are in neither the parent nor the table.
        for (const key of changes.keys()) if (!seen.has(key)) check(key, undefined, undefined);
        return;
      }
      const parent = parentHead && parentHead.key === entry.key ? parentHead : undefined;
      check(entry.key, parent, entry);
      if (parent) await next();
    },
  };
}

/**
 * Seal a table snapshot: merge the segments' runs, apply the stream's changes up to the cut, write
 * the parts, then (holding the vault) the root and the conditional commit RUNNING → COMMITTED.
 * @throws TransientError (retryable) when not every segment is done, while capture settles past the
 *   cut, or when garbage collection holds the vault; NotFoundError (not retryable) when the snapshot
 *   is gone. A missing run part sends its segment again (CONTINUED).
 */
export async function sealTable(
  deps: PipelineDeps,
  plan: PlanRecord,
  snapshotId: string,
): Promise<SnapshotResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const record = await catalog.getSnapshot(plan.id, snapshotId);
  if (!record) throw new NotFoundError(`snapshot ${plan.id}/${snapshotId} does not exist`);
  if (record.status === 'COMMITTED') return { status: 'ALREADY_COMMITTED', snapshotId };
  if (record.status !== 'RUNNING') return { status: 'SKIPPED', snapshotId, reason: record.status };
  const summaries = (await catalog.listPartitions(plan.id, snapshotId)).sort(
    (a, b) => a.partition - b.partition,
  );
  const total = (record.partitionBoundaries?.length ?? 0) + 1;
  if (summaries.length !== total)
    throw new TransientError(`snapshot ${plan.id}/${snapshotId}: not every segment is done`);
  const runParts = summaries.flatMap((s) => s.parts);
  const missing = await missingParts(deps, plan.id, runParts);
  if (missing.size > 0) return rerunPartitions(deps, plan, record, summaries, missing);

  const started = clock.now();
  const scanStart = record.time ?? started.toISOString();
  const cutMs = Math.max(...summaries.map((s) => Date.parse(s.doneAt)), Date.parse(scanStart));
  const cut = new Date(cutMs).toISOString();
  await settle(
    deps,
    cutMs + (plan.continuous?.settleSeconds ?? 30) * 1000,
    `snapshot ${plan.id}/${snapshotId}`,
  );
  const { changes, read } = await changesToCut(deps, plan, scanStart, cut);

  const parentRecord = record.parentSnapshotId
    ? await catalog.getSnapshot(plan.id, record.parentSnapshotId)
    : undefined;
  const parent = parentRecord?.manifestId
    ? await readManifest(vaults.primary, envelope, plan.id, parentRecord.manifestId)
    : undefined;
  const counter = repairCounter(
    record.mode === 'reconcile' && parent
      ? entriesOf(vaults.primary, envelope, plan.id, parent.parts)[Symbol.asyncIterator]()
      : undefined,
    record.mode === 'reconcile' && parentRecord?.journalUntil
      ? await changedSince(deps, plan, parentRecord.journalUntil, cut)
      : new Map(),
  );
  const counts = { lost: 0 };
  const runs = runsOf(runParts).map((run) => entriesOf(vaults.primary, envelope, plan.id, run));
  const precisionMs = tuningOf(deps).streamTimePrecisionSeconds * 1000;
  const parts = await writeParts(
    deps,
    plan,
    applyChanges(mergeRuns(runs), changes, counts, { precisionMs, scanStartMs: Date.parse(scanStart) }),
    parent,
    counter.see,
  );
  await counter.see(undefined);

  const sealed = await holdingVault(deps, vaults.primary, `seal:${plan.id}/${snapshotId}`, async () => {
    const gone = await missingParts(deps, plan.id, parts.written);
    if (gone.size > 0)
      throw new TransientError(
        `snapshot ${plan.id}/${snapshotId}: ${gone.size} part(s) were deleted as garbage meanwhile; sealed again`,
      );
    const { definition } = await describeSource(deps, tableSpecOf(plan));
    const completedAt = clock.now();
    const manifest = manifestRoot(
      {
        planId: plan.id,
        snapshotId,
        parentSnapshotId: record.parentSnapshotId ?? null,
        source: plan.source,
        table: definition,
        scheduledAt: record.scheduledAt,
        time: cut,
        completedAt: completedAt.toISOString(),
      },
      parts.all,
    );
    const { manifestId } = await writeManifest(vaults.primary, envelope, manifest);
    const committed = await commit(deps, plan, record, summaries, manifest, manifestId, {
      cut,
      completedAt,
      journalEntries: read,
      journalLost: counts.lost,
      ...(record.mode === 'reconcile' ? { reconcileMissed: counter.state.repaired } : {}),
    });
    return { committed, manifest, completedAt };
  });
  if (!sealed.committed) return { status: 'ALREADY_COMMITTED', snapshotId };
  const seconds = (sealed.completedAt.getTime() - Date.parse(scanStart)) / 1000;
  const totals = {
    objectCount: sealed.manifest.totals.objectCount,
    logicalBytes: sealed.manifest.totals.logicalBytes,
  };
  await catalog.updateTask(jobIdOf(record), 'snapshot', {
    status: 'SUCCEEDED',
    finishedAt: sealed.completedAt.toISOString(),
    progress: { done: totals.objectCount, total: totals.objectCount, bytes: totals.logicalBytes },
    result: { status: 'COMMITTED', partitions: total, seconds, ...totals, changesApplied: changes.size },
  });
  await fanOutAfterCommit(deps, plan, snapshotId);
  return {
    status: 'COMMITTED',
    snapshotId,
    partitions: total,
    seconds,
    ...totals,
    objectsRead: sum(summaries, (s) => s.objectsRead),
  };
}

function sum(summaries: readonly PartitionSummary[], f: (s: PartitionSummary) => number): number {
  return summaries.reduce((n, s) => n + f(s), 0);
}

/** The newest journaled change of each key captured after `since` (less the skew), up to `until`. */
async function changedSince(
  deps: PipelineDeps,
  plan: PlanRecord,
  since: string,
  until: string,
): Promise<Map<string, JournalEntry>> {
  const source = sourceOf(deps, plan.source);
  const entries = await deps.catalog.listJournal(plan.id, {
    capturedAfter: new Date(Date.parse(since) - CLOCK_SKEW_MS).toISOString(),
    capturedUntil: until,
  });
  return latestByKey(entries.filter((e) => source.covers(e)));
}

/** Write the entries as parts, cut at the parent's part boundaries; an unchanged part is the parent's. */
async function writeParts(
  deps: PipelineDeps,
  plan: PlanRecord,
  entries: AsyncIterable<ManifestEntry>,
  parent: Manifest | undefined,
  see: (entry: ManifestEntry) => Promise<void>,
): Promise<{ all: PartRef[]; written: PartRef[] }> {
  const parentCuts = parent?.parts.map((p) => p.lastKey) ?? [];
  const known = new Set(parent?.parts.map((p) => p.partId) ?? []);
  const all: PartRef[] = [];
  const written: PartRef[] = [];
  let held: ManifestEntry[] = [];
  const store = async (groups: ManifestEntry[][]) => {
    for (const group of groups) {
      const part = await writePart(deps.vaults.primary, deps.envelope, plan.id, group, known);
      all.push(part.ref);
      if (part.written) written.push(part.ref);
    }
  };
  for await (const entry of entries) {
    await see(entry);
    held.push(entry);
    if (held.length >= 2 * PART_MAX_ENTRIES) {
      const { complete, rest } = cutParts(held, parentCuts, false);
      await store(complete);
      held = rest;
    }
  }
  await store(cutParts(held, parentCuts, true).complete);
  return { all, written };
}

/** Commit RUNNING → COMMITTED at the cut (conditionally: once). */
async function commit(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  summaries: readonly PartitionSummary[],
  manifest: Manifest,
  manifestId: string,
  at: {
    cut: string;
    completedAt: Date;
    journalEntries: number;
    journalLost: number;
    reconcileMissed?: number;
  },
): Promise<boolean> {
  return deps.catalog.updateSnapshot(
    plan.id,
    record.snapshotId,
    {
      status: 'COMMITTED',
      time: at.cut,
      journalUntil: at.cut,
      startedAt: record.time ?? nowIso(deps.clock),
      committedAt: at.completedAt.toISOString(),
      manifestId,
      objectCount: manifest.totals.objectCount,
      logicalBytes: manifest.totals.logicalBytes,
      objectsRead: sum(summaries, (s) => s.objectsRead),
      blobsWritten: 0,
      packsWritten: 0,
      storedBytesWritten: 0,
      journalEntries: at.journalEntries,
      journalLost: at.journalLost,
      seconds: (at.completedAt.getTime() - Date.parse(record.time ?? at.cut)) / 1000,
      ...(at.reconcileMissed === undefined ? {} : { reconcileMissed: at.reconcileMissed }),
      regions: Object.fromEntries(
        copyTargetsOf(plan).map((region) => [region, { status: 'PENDING' as const }]),
      ),
    },
    ['RUNNING'],
  );
}
