/**
 * Journal expiry: a plan's capture journal is read from a little before its oldest snapshot (point-
 * in-time restores, garbage collection's live set), from its newest snapshot's horizon (the next
 * journal-built snapshot) and from an unfinished snapshot's parent (its partitions, on a retry). An
 * entry captured before all of those is never read again, so retention's forget deletes it, once it
 * is also older than any event capture may still be handed.
 * @see ../../docs/format.md#journal
 */
import type { RestoreJobRecord, SnapshotRecord } from './records.ts';

/**
 * How far before a snapshot's time its readers start: point-in-time restores and garbage
 * collection's live set read from its `time` minus this. @see ../../docs/format.md#point-in-time-state
 */
export const JOURNAL_MARGIN_MS = 10 * 60_000;

/**
 * How far before the earliest time any reader starts from entries are kept: above every reader's own
 * margin ({@link JOURNAL_MARGIN_MS}; a journal-built snapshot's check of nearby entries reads from its
 * parent's horizon minus 3 × 5 minutes), with room to spare.
 */
export const EXPIRY_MARGIN_MS = 60 * 60_000;

/**
 * Entries younger than this never expire: the capture failure queue keeps an event 14 days
 * (MessageRetentionPeriod 1,209,600 s in serverless.yml), and `strongbox capture replay` may
 * journal it then. Checking such a late event against the key's history (that it does not roll the
 * key back) needs the entries captured since its event.
 */
export const JOURNAL_MIN_AGE_MS = 15 * 86_400_000;

/**
 * The capture time (ISO-8601 UTC) before which a plan's journal entries are never read again, from
 * the plan's snapshot records and its running point-in-time restore jobs; undefined when none may
 * go: no COMMITTED snapshot yet, a RUNNING or retryable FAILED snapshot whose parent the catalog no
 * longer knows, or a running restore job that does not say where its journal starts.
 * @example
 * ```ts
 * const before = journalExpiryCutoff(await catalog.listSnapshots('photos'), clock.now());
 * if (before) await catalog.expireJournal('photos', before);
 * ```
 */
export function journalExpiryCutoff(
  snapshots: readonly SnapshotRecord[],
  now: Date,
  restoreJobs: readonly RestoreJobRecord[] = [],
): string | undefined {
  const byId = new Map(snapshots.map((s) => [s.snapshotId, s]));
  const readFrom = (s: SnapshotRecord) =>
    [s.time, s.journalUntil, s.scheduledAt].filter((t): t is string => t !== undefined).map(Date.parse);
  const times: number[] = [];
  for (const s of snapshots) {
    if (s.status === 'COMMITTED') times.push(...readFrom(s));
    const unfinished = s.status === 'RUNNING' || (s.status === 'FAILED' && !s.abandonedAt);
    if (!unfinished) continue;
    times.push(...readFrom(s));
    if (!s.parentSnapshotId) continue;
    const parent = byId.get(s.parentSnapshotId);
    if (!parent) return undefined; // its partitions read the journal since a parent we cannot date
    times.push(...readFrom(parent));
  }
  // A running point-in-time restore job's slices replay the journal from its snapshot, however
  // late they run (even after retention forgot that snapshot).
  for (const job of restoreJobs) {
    if (job.status !== 'RUNNING' || job.journalUntil === undefined) continue;
    const from = job.snapshotJournalUntil ?? job.snapshotTime;
    if (from === undefined) return undefined;
    times.push(Date.parse(from));
  }
  if (!snapshots.some((s) => s.status === 'COMMITTED') || times.length === 0) return undefined;
  const cutoff = Math.min(Math.min(...times) - EXPIRY_MARGIN_MS, now.getTime() - JOURNAL_MIN_AGE_MS);
  return new Date(cutoff).toISOString();
}
