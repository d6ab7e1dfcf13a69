/**
 * Point-in-time restores: the journaled changes a request applies to its base snapshot.
 * @see ../../../docs/format.md#journal
 */

import pLimit from 'p-limit';
import type { PipelineDeps } from '../pipeline.ts';
import { changesAt, type KeyChange } from '../point-in-time.ts';
import type { SnapshotRecord } from '../records.ts';

/**
 * Capture time is at or after event time; this much earlier than the base's time the journal is read
 * from, for clocks that disagree a little (entries are then filtered by event time).
 */
const JOURNAL_SKEW_MS = 5 * 60_000;

/**
 * The journaled changes a point-in-time request applies to its base snapshot, in key order: of the
 * one key (its history, by sequencer) or of every key (entries captured since shortly before the
 * base, up to `capturedUntil`), filtered and reduced by {@link changesAt}.
 * @param capturedUntil ISO-8601: entries captured later are left out (the restore's horizon).
 * @throws TransientError (retryable) when the catalog fails.
 */
export async function pointInTimeChanges(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  request: { key?: string | undefined; pointInTime: string },
  base: Pick<SnapshotRecord, 'time' | 'journalUntil'>,
  capturedUntil: string,
): Promise<KeyChange[]> {
  const { catalog } = deps;
  const baseTime = base.time as string;
  const from = Math.min(Date.parse(baseTime), Date.parse(base.journalUntil ?? baseTime)) - JOURNAL_SKEW_MS;
  const entries =
    request.key !== undefined
      ? await catalog.listJournalForKey(planId, request.key)
      : await catalog.listJournal(planId, {
          capturedAfter: new Date(from).toISOString(),
          capturedUntil,
        });
  const ofKey = request.key === undefined ? entries : entries.filter((e) => e.key === request.key);
  const window = {
    baseTime,
    ...(base.journalUntil === undefined ? {} : { baseJournalUntil: base.journalUntil }),
    at: request.pointInTime,
    capturedUntil,
  };
  const changes = changesAt(ofKey, window);
  if (request.key !== undefined) return changes;
  // A late capture (its event at or before the base's time) may be older than an entry the base
  // holds that was captured before the query's start: such keys are decided on their whole history.
  const late = new Set(
    changes.filter((c) => Date.parse(c.journal.eventTime) <= Date.parse(baseTime)).map((c) => c.key),
  );
  if (late.size === 0) return changes;
  const limit = pLimit(16);
  const histories = await Promise.all(
    [...late].map((key) => limit(() => catalog.listJournalForKey(planId, key))),
  );
  const decided = new Map(changesAt(histories.flat(), window).map((c) => [c.key, c]));
  return changes.flatMap((c) => {
    if (!late.has(c.key)) return [c];
    const change = decided.get(c.key);
    return change ? [change] : [];
  });
}
