/**
 * Journal expiry: a plan's capture journal is read from a little before its oldest snapshot (point-
 * in-time restores, garbage collection's live set), from its newest snapshot's horizon (the next
 * journal-built snapshot) and from an unfinished snapshot's parent (its partitions, on a retry). An
 * entry captured before all of those is never read again, so retention's forget deletes it, once it
 * is also older than any event capture may still be handed.
 * @see ../../docs/format.md#journal
 */
import type { SnapshotRecord } from './records.ts';

/**
 * How far before a snapshot's time (or journal horizon) its readers start: point-in-time restores
 * and garbage collection read from its `time` minus this, journal-built snapshots from its
 * `journalUntil` minus 5 minutes. @see ../../docs/format.md#point-in-time-state
 */
export const JOURNAL_MARGIN_MS = 10 * 60_000;

/**
 * Entries younger than this never expire: the capture failure queue keeps an event 14 days
 * (MessageRetentionPeriod 1,209,600 s in serverless.yml), and `strongbox capture replay` may
 * journal it then. Checking such a late event against the key's history (that it does not roll the
 * key back) needs the entries captured since its event.
 */
export const JOURNAL_MIN_AGE_MS = 15 * 86_400_000;

/**
 * The capture time (ISO-8601 UTC) before which a plan's journal entries are never read again, from
 * the plan's snapshot records; undefined when none may go: no COMMITTED snapshot yet, or a RUNNING
 * or retryable FAILED snapshot whose parent the catalog no longer knows.
 * @example
 * ```ts
 * const before = journalExpiryCutoff(await catalog.listSnapshots('photos'), clock.now());
 * if (before) await catalog.expireJournal('photos', before);
 * ```
 */
export function journalExpiryCutoff(snapshots: readonly SnapshotRecord[], now: Date): string | undefined {
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
  if (!snapshots.some((s) => s.status === 'COMMITTED') || times.length === 0) return undefined;
  const cutoff = Math.min(Math.min(...times) - JOURNAL_MARGIN_MS, now.getTime() - JOURNAL_MIN_AGE_MS);
  return new Date(cutoff).toISOString();
}
