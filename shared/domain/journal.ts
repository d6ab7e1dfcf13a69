/**
 * The journal's ordering rules, pure: S3's sequencers order the events of one key, whatever order
 * their notifications arrive in (S3 does not promise delivery order, and delivers at least once).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see ../../docs/format.md#journal
 */
import { ValidationError } from './errors.ts';
import type { JournalEntry } from './records.ts';
import { type ContentId, contentIdOf } from './vault.ts';

/**
 * How far S3's event times (`eventTime`) and the functions' clocks (`capturedAt`, snapshot times)
 * may disagree, in milliseconds: a comparison between the two counts only beyond this margin.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** Hex digits a sequencer may have (S3's are about 18); sort keys are padded to this width. */
export const SEQUENCER_MAX_DIGITS = 64;

const HEX = /^[0-9A-Fa-f]+$/;

/**
 * A sequencer as a fixed-width, uppercase string: left-padded with zeros to
 * {@link SEQUENCER_MAX_DIGITS}, so that string order is S3's order (the catalog's sort key).
 * @throws ValidationError (not retryable) for a sequencer that is not 1 to 64 hex digits.
 * @example sequencerSortKey('0055AED6DCD90281E5') === '0000…0055AED6DCD90281E5' (64 characters)
 */
export function sequencerSortKey(sequencer: string): string {
  if (!HEX.test(sequencer) || sequencer.length > SEQUENCER_MAX_DIGITS) {
    throw new ValidationError(
      `sequencer '${sequencer}' is not 1 to ${SEQUENCER_MAX_DIGITS} hex digits`,
      's3.object.sequencer',
    );
  }
  return sequencer.toUpperCase().padStart(SEQUENCER_MAX_DIGITS, '0');
}

/**
 * Compare two sequencers of the same key the way S3 says to: left-pad the shorter with zeros, then
 * compare lexicographically (as hex: case does not matter). The greater is the later event.
 * @returns a negative number when `a` is earlier, 0 when equal, positive when later.
 * @throws ValidationError (not retryable) when either is not hex.
 * @example compareSequencers('0A', '00B') < 0
 */
export function compareSequencers(a: string, b: string): number {
  const x = sequencerSortKey(a);
  const y = sequencerSortKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The latest entry of every key: the one with the greatest sequencer, whatever order the entries
 * are given in (arrival order does not count; a duplicate of the same sequencer is the same event,
 * the first given wins). Give it the entries of one plan (a plan protects one bucket, so a key
 * names one object).
 * @returns a map from key to its latest entry, in the order keys were first seen.
 * @example
 * ```ts
 * const latest = latestByKey(await catalog.listJournalForKey('photos', 'cat.jpg')).get('cat.jpg');
 * ```
 */
export function latestByKey(entries: Iterable<JournalEntry>): Map<string, JournalEntry> {
  const latest = new Map<string, JournalEntry>();
  for (const entry of entries) {
    const current = latest.get(entry.key);
    if (!current || compareSequencers(entry.sequencer, current.sequencer) > 0) latest.set(entry.key, entry);
  }
  return latest;
}

/**
 * The identity of a journal entry within its plan: the lowercase hex SHA-256 of
 * `<bucket>\n<key>\n<sequencer>` (the catalog's idempotency key and tie-breaker).
 */
export function journalEntryHash(entry: Pick<JournalEntry, 'bucket' | 'key' | 'sequencer'>): ContentId {
  return contentIdOf(`${entry.bucket}\n${entry.key}\n${entry.sequencer}`);
}

/**
 * Whether the journal says a state newer than `change` was already held by a snapshot whose journal
 * horizon is `horizon`: some entry of the same key (from `history`, that key's entries in any order)
 * with a greater sequencer was captured at or before `horizon`. Such a snapshot holds that newer
 * state or a later one, so applying `change` on top of it would roll the key back.
 * @param horizon ISO-8601 UTC: the snapshot's `journalUntil`.
 * @example supersededBy(late, await catalog.listJournalForKey(plan.id, late.key), parent.journalUntil)
 */
export function supersededBy(
  change: Pick<JournalEntry, 'key' | 'sequencer'>,
  history: Iterable<JournalEntry>,
  horizon: string,
): JournalEntry | undefined {
  const until = Date.parse(horizon);
  for (const entry of history) {
    if (entry.key !== change.key || compareSequencers(entry.sequencer, change.sequencer) <= 0) continue;
    if (Date.parse(entry.capturedAt) <= until) return entry;
  }
  return undefined;
}
