/** A snapshot's parent, and what the journal says changed since it in a partition's range. */
import { latestByKey } from '../journal.ts';
import type { PipelineDeps } from '../pipeline.ts';
import { manifestEntryOfJournal } from '../point-in-time.ts';
import type { PlanRecord, SnapshotRecord } from '../records.ts';
import { sourceOf } from '../source/index.ts';
import type { ManifestEntry } from '../vault.ts';

/** The newest COMMITTED snapshot of a plan older than `snapshotId` (ids sort by time). */
export async function latestCommittedBefore(
  deps: PipelineDeps,
  planId: string,
  snapshotId: string,
): Promise<SnapshotRecord | undefined> {
  const all = await deps.catalog.listSnapshots(planId);
  return all.filter((s) => s.status === 'COMMITTED' && s.snapshotId < snapshotId).at(-1);
}

/** A partition's keys: after `after` (exclusive) up to `upTo` (inclusive); an absent bound is open. */
export interface KeyRange {
  after?: string;
  upTo?: string;
}

/** The {@link KeyRange} between two optional bounds. */
export function keyRange(after: string | undefined, upTo: string | undefined): KeyRange {
  return { ...(after === undefined ? {} : { after }), ...(upTo === undefined ? {} : { upTo }) };
}

/**
 * The newest captured version of each key in range that capture journaled after the parent's time,
 * as manifest entries. Their blobs are stored and indexed (capture journals last) and stay live for
 * garbage collection while the parent is (it keeps journaled blobs since the oldest snapshot), so a
 * snapshot may name them without reading the object or the vault index. Empty without a parent.
 * Reads only the range's part of the journal (its key-range index); an entry journaled before that
 * index existed is not seen, and its object is simply read again.
 */
export async function capturedSince(
  deps: PipelineDeps,
  plan: PlanRecord,
  parent: SnapshotRecord | undefined,
  range: KeyRange,
): Promise<Map<string, ManifestEntry>> {
  const out = new Map<string, ManifestEntry>();
  if (!parent?.time) return out;
  const source = sourceOf(deps, plan.source);
  const journal = (
    await deps.catalog.listJournalInRange(plan.id, range, { capturedAfter: parent.time })
  ).filter((e) => source.covers(e));
  for (const [key, change] of latestByKey(journal)) {
    const entry = manifestEntryOfJournal(change);
    if (entry) out.set(key, entry);
  }
  return out;
}

/**
 * What a reconcile partition expects its range to hold: the parent's entries with the journal
 * captured since the parent (up to this snapshot's time) applied, by key.
 */
export async function expectedState(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  parent: SnapshotRecord | undefined,
  parentEntries: ReadonlyMap<string, ManifestEntry>,
  range: KeyRange,
): Promise<Map<string, Pick<ManifestEntry, 'etag' | 'sizeBytes'>>> {
  const expected = new Map<string, Pick<ManifestEntry, 'etag' | 'sizeBytes'>>(parentEntries);
  const journal = await deps.catalog.listJournalInRange(plan.id, range, {
    ...(parent?.journalUntil ? { capturedAfter: parent.journalUntil } : {}),
    ...(record.time ? { capturedUntil: record.time } : {}),
  });
  const source = sourceOf(deps, plan.source);
  const changes = latestByKey(journal.filter((e) => source.covers(e)));
  for (const change of changes.values()) {
    if (change.outcome === 'removed') expected.delete(change.key);
    else if (change.outcome === 'captured') {
      expected.set(change.key, { etag: change.etag ?? '', sizeBytes: change.sizeBytes ?? 0 });
    }
  }
  return expected;
}
