/**
 * Point-in-time state: what a plan's source held at a moment T, key by key, from the newest
 * committed snapshot taken at or before T (the **base**) and the journal of the changes captured
 * since (each upload stored in the vault within seconds, with its blobs).
 *
 * For each key, its latest journal entry (by S3's sequencer) among those with `eventTime` ≤ T decides,
 * when it is not in the base already — its `eventTime` is after the base's time or, for a base that
 * records its journal horizon, it was captured after that horizon: `captured` → that content,
 * `removed` → absent, `lost-before-capture` → the base's entry stays and a warning names the key. A
 * key whose latest entry the base holds (a late capture of an older change does not count over it),
 * or with no entry, is as the base holds it. Entries after T did not happen yet.
 * Everything here is pure: the same base, journal and window give the same entries.
 * @see ../../docs/format.md#journal
 * @see ../../docs/format.md#manifest-parts
 */

import { compareSequencers } from './journal.ts';
import type { JournalEntry } from './records.ts';
import { compareKeys, type ManifestEntry } from './vault.ts';

/** Which journal entries count for the state at `at`. */
export interface PointInTimeWindow {
  /** ISO-8601: the base snapshot's time; changes at or before it are in the base already. */
  baseTime: string;
  /**
   * ISO-8601: the base's journal horizon, when it records one (`SnapshotRecord.journalUntil`, plans
   * under continuous protection): the base holds every entry captured up to it and none captured
   * after, so an entry captured after it counts even when its event is at or before `baseTime`
   * (an upload just before the snapshot, captured just after).
   */
  baseJournalUntil?: string;
  /** ISO-8601: the moment to restore; later changes are ignored. */
  at: string;
  /**
   * ISO-8601: count only entries captured at or before this time (a restore job records it, so its
   * parts see the same journal however late they run). @default every entry
   */
  capturedUntil?: string;
}

/**
 * What the journal says of one key at T: `present` with the captured content, `absent` (removed),
 * or `lost` (changed, but the change was lost before capture: the base's entry stays).
 */
export type KeyChange =
  | { key: string; state: 'present'; entry: ManifestEntry; journal: JournalEntry }
  | { key: string; state: 'absent'; journal: JournalEntry }
  | { key: string; state: 'lost'; journal: JournalEntry };

const OUTCOME_RANK = { 'lost-before-capture': 0, removed: 1, captured: 2 } as const;

/** Later in a key's history: greater sequencer; for the same sequencer (a duplicate) the later capture, then the more complete outcome. */
function isLater(a: JournalEntry, b: JournalEntry): boolean {
  const bySequencer = compareSequencers(a.sequencer, b.sequencer);
  if (bySequencer !== 0) return bySequencer > 0;
  const byCapture = Date.parse(a.capturedAt) - Date.parse(b.capturedAt);
  if (byCapture) return byCapture > 0;
  return OUTCOME_RANK[outcomeOf(a)] > OUTCOME_RANK[outcomeOf(b)];
}

/** An entry's outcome; entries journaled before outcomes existed (no content) follow their event. */
function outcomeOf(entry: JournalEntry): JournalEntry['outcome'] {
  return entry.outcome ?? (entry.event === 'removed' ? 'removed' : 'lost-before-capture');
}

/**
 * The manifest entry a `captured` journal entry describes, or undefined when it carries no content
 * (no blobs nor item, or no size: such an entry cannot be restored).
 */
export function manifestEntryOfJournal(entry: JournalEntry): ManifestEntry | undefined {
  if (outcomeOf(entry) === 'captured' && entry.item && entry.sizeBytes !== undefined) {
    // A table item: the entry holds it (docs/format.md#table-items).
    return {
      key: entry.key,
      sizeBytes: entry.sizeBytes,
      etag: entry.etag ?? '',
      lastModified: entry.lastModified ?? entry.eventTime,
      blobs: [],
      item: entry.item,
    };
  }
  if (outcomeOf(entry) !== 'captured' || !entry.blobs?.length || entry.sizeBytes === undefined) {
    return undefined;
  }
  return {
    key: entry.key,
    sizeBytes: entry.sizeBytes,
    etag: entry.etag ?? '',
    lastModified: entry.lastModified ?? entry.eventTime,
    ...(entry.contentType === undefined ? {} : { contentType: entry.contentType }),
    ...(entry.metadata === undefined || Object.keys(entry.metadata).length === 0
      ? {}
      : { metadata: entry.metadata }),
    blobs: [...entry.blobs],
    ...(entry.contentSha256 === undefined ? {} : { contentSha256: entry.contentSha256 }),
  };
}

/**
 * What the journal says of each key it changed in (base time, T]: one {@link KeyChange} per key, in
 * key order (UTF-8 binary, as manifests are). Duplicates (the same sequencer twice) count once;
 * arrival order does not matter; entries captured after `capturedUntil` are left out. A `captured`
 * entry without content counts as lost.
 */
export function changesAt(journal: Iterable<JournalEntry>, window: PointInTimeWindow): KeyChange[] {
  const after = Date.parse(window.baseTime);
  const horizon = window.baseJournalUntil === undefined ? undefined : Date.parse(window.baseJournalUntil);
  const until = Date.parse(window.at);
  const capturedUntil = window.capturedUntil === undefined ? undefined : Date.parse(window.capturedUntil);
  // The latest entry of each key among every change that happened by T, those the base holds
  // included: a late capture of an older change never beats a newer one the base holds.
  const latest = new Map<string, JournalEntry>();
  for (const entry of journal) {
    if (Date.parse(entry.eventTime) > until) continue;
    // An entry journaled before capture times existed has none: it counts.
    if (capturedUntil !== undefined && entry.capturedAt && Date.parse(entry.capturedAt) > capturedUntil) {
      continue;
    }
    const seen = latest.get(entry.key);
    if (!seen || isLater(entry, seen)) latest.set(entry.key, entry);
  }
  const sinceBase = (entry: JournalEntry) =>
    Date.parse(entry.eventTime) > after || (horizon !== undefined && Date.parse(entry.capturedAt) > horizon);
  for (const [key, entry] of latest) if (!sinceBase(entry)) latest.delete(key); // the base holds it
  const changes: KeyChange[] = [];
  for (const [key, journalEntry] of latest) {
    const outcome = outcomeOf(journalEntry);
    const entry = outcome === 'captured' ? manifestEntryOfJournal(journalEntry) : undefined;
    if (entry) changes.push({ key, state: 'present', entry, journal: journalEntry });
    else if (outcome === 'removed') changes.push({ key, state: 'absent', journal: journalEntry });
    else changes.push({ key, state: 'lost', journal: journalEntry });
  }
  return changes.sort((a, b) => compareKeys(a.key, b.key));
}

/**
 * Apply changes (in key order) to base entries (in key order): a `present` change replaces or adds
 * the key's entry, an `absent` one drops it, a `lost` one keeps the base's. Yields in key order.
 */
export function* applyChanges(
  base: Iterable<ManifestEntry>,
  changes: readonly KeyChange[],
): Generator<ManifestEntry> {
  let i = 0;
  const emit = (change: KeyChange) => (change.state === 'present' ? [change.entry] : []);
  for (const entry of base) {
    let change = changes[i];
    while (change && compareKeys(change.key, entry.key) < 0) {
      yield* emit(change);
      i += 1;
      change = changes[i];
    }
    if (change && change.key === entry.key) {
      i += 1;
      if (change.state === 'present') yield change.entry;
      else if (change.state === 'lost') yield entry;
      continue;
    }
    yield entry;
  }
  for (; i < changes.length; i += 1) yield* emit(changes[i] as KeyChange);
}

/** Warnings listed at most; the rest are counted in one more line. */
export const LOST_WARNING_LIMIT = 100;

/**
 * The warning for a key whose change was lost before capture, e.g. `'a.txt' changed at
 * 2026-03-01T10:00:00.000Z but the change was lost before capture (gone before it was read):
 * restoring snapshot 20260301T090000Z's state of it`.
 */
export function lostChangeWarning(change: KeyChange, baseSnapshotId: string): string {
  const reason = change.journal.reason ? ` (${change.journal.reason})` : '';
  return `'${change.key}' changed at ${change.journal.eventTime} but the change was lost before capture${reason}: restoring snapshot ${baseSnapshotId}'s state of it`;
}

/** {@link lostChangeWarning} for each change, at most {@link LOST_WARNING_LIMIT} lines and a count of the rest. */
export function lostChangeWarnings(lost: readonly KeyChange[], baseSnapshotId: string): string[] {
  const warnings = lost.slice(0, LOST_WARNING_LIMIT).map((c) => lostChangeWarning(c, baseSnapshotId));
  if (lost.length > LOST_WARNING_LIMIT) {
    warnings.push(
      `${lost.length - LOST_WARNING_LIMIT} more key(s) changed but the change was lost before capture`,
    );
  }
  return warnings;
}

/**
 * The entries of the source at T: the base snapshot's entries with the journal applied (see the
 * module comment). Pure.
 * @param baseEntries the base snapshot's entries, in key order.
 * @param journal the plan's journal entries, in any order, duplicates allowed.
 * @param window the base's time, T and optionally the capture horizon.
 * @param baseSnapshotId the base's id, for the warnings.
 * @returns the entries at T in key order; the keys whose state came from the journal (`changed`:
 *   present or absent); and a warning for each key whose change was lost before capture.
 * @example
 * ```ts
 * const { entries, warnings } = entriesAt(base, journal, { baseTime: snapshot.time, at: '2026-03-01T10:30:00Z' }, snapshot.snapshotId);
 * ```
 */
export function entriesAt(
  baseEntries: Iterable<ManifestEntry>,
  journal: Iterable<JournalEntry>,
  window: PointInTimeWindow,
  baseSnapshotId = 'base',
): { entries: ManifestEntry[]; changed: number; warnings: string[] } {
  const changes = changesAt(journal, window);
  const entries = [...applyChanges(baseEntries, changes)];
  const lost = changes.filter((c) => c.state === 'lost');
  return {
    entries,
    changed: changes.length - lost.length,
    warnings: lostChangeWarnings(lost, baseSnapshotId),
  };
}
