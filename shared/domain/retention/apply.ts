/**
 * The keep/forget decision: which snapshots of a plan a retention policy keeps, with restic's `forget`
 * semantics. Pure: every time comes in as an argument; windows are measured from the newest snapshot,
 * never from a wall clock.
 *
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */

import {
  COUNT_RULES,
  formatWithin,
  isEmptyPolicy,
  isZeroWithin,
  parseTagList,
  parseWithinField,
  type RetentionPolicy,
  RetentionPolicyError,
  validCount,
  WITHIN_RULES,
} from './policy.ts';
import { checkTimeZone, subtractDuration, utcFields, zonedParts } from './zoned-time.ts';

/**
 * A snapshot as retention sees it.
 *
 * @example
 * ```ts
 * const c: RetentionCandidate = { snapshotId: 'snap-01', time: '2024-05-01T03:00:00Z' };
 * ```
 * @see docs/format.md#retention
 */
export interface RetentionCandidate {
  /** Identifier of the snapshot; breaks ties between snapshots with the same time (ascending). */
  snapshotId: string;
  /** When the snapshot was taken, ISO-8601 with an explicit offset (normally UTC, `…Z`). */
  time: string;
  /** The snapshot's tags (set at backup time), for `keepTag`; none when absent. */
  tags?: readonly string[];
}

/**
 * What retention decided for one snapshot.
 *
 * @example
 * ```ts
 * const d: RetentionDecision = { snapshotId: 'snap-09', time: '2024-05-09T03:00:00Z', keep: true, reasons: ['last snapshot', 'daily snapshot'] };
 * ```
 * @see docs/format.md#retention
 */
export interface RetentionDecision {
  /** The candidate's id. */
  snapshotId: string;
  /** The candidate's time, as given. */
  time: string;
  /** true: keep the snapshot; false: forget it. */
  keep: boolean;
  /**
   * Why it is kept, with restic's wording, in restic's order ('has tags […]' first, then 'within …', then
   * last, hourly, daily, weekly, monthly, yearly, then the '<period> within …' rules): e.g.
   * `['has tags [release]', 'within 7d', 'last snapshot', 'daily snapshot', 'weekly within 1m']`,
   * `'oldest monthly snapshot'`, `'oldest daily within 7d'`, `'no retention policy'`. Empty when removed.
   */
  reasons: string[];
}

/**
 * Outcome of {@link applyRetention}. `keep` and `remove` partition `decisions`; all three are newest first.
 *
 * @see docs/format.md#retention
 */
export interface RetentionResult {
  /** Decisions with `keep: true`, newest first. */
  keep: RetentionDecision[];
  /** Decisions with `keep: false`, newest first. */
  remove: RetentionDecision[];
  /** One decision per candidate, newest first (ties: ascending snapshotId). */
  decisions: RetentionDecision[];
}

/** An ISO-8601 date-time with an explicit offset: without one, Date.parse would read local time. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** ISO-8601 week of a local calendar date, as YYYYWW with the ISO week-numbering year (weeks run Monday–Sunday). */
function isoWeekKey(year: number, month: number, day: number): number {
  const date = utcFields(year, month - 1, day);
  const dayFromMonday = (new Date(date).getUTCDay() + 6) % 7;
  // The Thursday of the same ISO week decides the week-year; week 1 holds the year's first Thursday.
  const thursday = date + (3 - dayFromMonday) * 86_400_000;
  const weekYear = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - utcFields(weekYear, 0, 1)) / 86_400_000 / 7) + 1;
  return weekYear * 100 + week;
}

/**
 * Bucket values of a snapshot (restic's bucker functions, on the wall clock of the zone): the index
 * (keepLast), then hour, day, ISO week, month and year.
 */
function bucketValues(ms: number, index: number, zone: string): readonly number[] {
  const p = zonedParts(ms, zone);
  const ym = p.year * 100 + p.month;
  const ymd = ym * 100 + p.day;
  const ymdh = ymd * 100 + p.hour;
  return [index, ymdh, ymd, isoWeekKey(p.year, p.month, p.day), ym, p.year];
}

/** Go's zero time (0001-01-01T00:00:00Z): restic's "latest" when every snapshot lies in the future. */
const GO_ZERO_TIME = utcFields(1, 0, 1);

/**
 * Decides which snapshots a retention policy keeps, with restic's `forget` semantics:
 *
 * - snapshots are sorted newest first (equal times: ascending `snapshotId`);
 * - `keepTag` keeps every snapshot holding all the tags of any entry (reason `has tags [a, b]`), uncounted;
 * - `keepWithin` keeps every snapshot strictly after (newest snapshot time − duration), the duration
 *   subtracted with calendar arithmetic in `timeZone` like Go's `AddDate(-y, -m, -d)` (an overflowing
 *   day rolls over: 2016-03-31 − 1m = "2016-02-31" = 2016-03-02), then `-h` hours (reason `within 2d`);
 * - `keepLast: n` keeps the n newest;
 * - `keepHourly|Daily|Weekly|Monthly|Yearly: n` walks newest to oldest and keeps a snapshot when its
 *   bucket (hour, day, ISO week Monday–Sunday, month, year, on the wall clock of `timeZone`) differs from
 *   the last bucket that rule kept, while the rule has count left (-1 = unlimited), decrementing the
 *   count: the newest snapshot of each of the last n buckets that contain a snapshot. Like restic ≥ 0.17,
 *   when a rule still has count left at the OLDEST snapshot, that snapshot is kept too (reason
 *   `'oldest <rule> snapshot'`) to lengthen the history;
 * - `keepWithinHourly|Daily|Weekly|Monthly|Yearly: d` does the same, uncounted, for the snapshots
 *   strictly after (newest − d): the newest of each bucket within d of the newest snapshot (reason
 *   `'daily within 7d'`; `'oldest daily within 7d'` for the oldest snapshot when it lies in the window);
 * - rules are OR-ed; every matching rule adds its reason, in that order;
 * - an empty policy ({@link isEmptyPolicy}) keeps everything with reason `'no retention policy'` (restic
 *   refuses to forget without a policy).
 *
 * Differences from restic: the newest snapshot is found among all candidates unless `options.now` is
 * given (then, like restic, among those not after it; none: Go's zero time, year 1); no grouping
 * (callers group per plan); a `keepTag` entry has no empty tag.
 *
 * @param snapshots - candidates of ONE plan/group, any order; times ISO-8601 with an offset.
 * @param policy - the rules; counts positive integers or -1, durations like `'2y5m7d3h'`, `timeZone` an
 *   IANA name (default UTC).
 * @param options.now - the wall clock: snapshots after it are not taken as the newest (restic's
 *   `findLatestTimestamp`).
 * @returns `{ keep, remove, decisions }`, each newest first; `keep` ∪ `remove` = `decisions`, one per candidate.
 * @throws {RetentionPolicyError} (not retryable) when a count is not an integer ≥ -1, a duration does not
 *   parse ({@link parseKeepWithin}; field named after the rule), a `keepTag` entry holds an invalid tag,
 *   `timeZone` is unknown, or a snapshot time is not an ISO-8601 date-time with an offset (field
 *   `snapshots[i].time`).
 * @example
 * ```ts
 * const { keep, remove } = applyRetention(
 *   [{ snapshotId: 'a', time: '2024-05-01T03:00:00Z' }, { snapshotId: 'b', time: '2024-05-01T15:00:00Z' }],
 *   { keepDaily: 7, timeZone: 'Europe/Paris' },
 * );
 * // keep: b ('daily snapshot'), a ('oldest daily snapshot'); remove: []
 * ```
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */
export function applyRetention(
  snapshots: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  options: { now?: Date } = {},
): RetentionResult {
  const counts = COUNT_RULES.map(([name]) => validCount(policy, name));
  const within =
    policy.keepWithin === undefined ? undefined : parseWithinField(policy.keepWithin, 'keepWithin');
  const withinRules = WITHIN_RULES.map(([name, reason]) => {
    const value = policy[name];
    return { reason, duration: value === undefined ? undefined : parseWithinField(value, name) };
  });
  const tagLists = (policy.keepTag ?? []).map((entry, i) => parseTagList(entry, `keepTag[${i}]`));
  const zone = policy.timeZone === undefined ? 'UTC' : checkTimeZone(policy.timeZone);

  const sorted = snapshots
    .map((s, i) => {
      const ms = ISO_WITH_OFFSET.test(s.time) ? Date.parse(s.time) : Number.NaN;
      if (Number.isNaN(ms)) {
        throw new RetentionPolicyError(
          `not an ISO-8601 time with an offset (e.g. 2024-05-01T03:00:00Z): ${JSON.stringify(s.time)}`,
          `snapshots[${i}].time`,
        );
      }
      return { snapshotId: s.snapshotId, time: s.time, ms, tags: new Set(s.tags ?? []) };
    })
    .sort((a, b) => b.ms - a.ms || (a.snapshotId < b.snapshotId ? -1 : a.snapshotId > b.snapshotId ? 1 : 0));

  const decisions: RetentionDecision[] = [];
  if (isEmptyPolicy(policy)) {
    for (const s of sorted) {
      decisions.push({
        snapshotId: s.snapshotId,
        time: s.time,
        keep: true,
        reasons: ['no retention policy'],
      });
    }
    return { keep: [...decisions], remove: [], decisions };
  }
  if (sorted.length === 0) return { keep: [], remove: [], decisions };

  const nowMs = options.now?.getTime();
  const latest =
    nowMs === undefined
      ? (sorted[0]?.ms ?? GO_ZERO_TIME)
      : (sorted.find((s) => s.ms <= nowMs)?.ms ?? GO_ZERO_TIME);

  let withinCutoff = Number.NaN;
  let withinReason = '';
  if (within && !isZeroWithin(within)) {
    withinCutoff = subtractDuration(latest, within, zone);
    withinReason = `within ${formatWithin(within)}`;
  }
  const windows = withinRules.map(({ reason, duration }) =>
    duration && !isZeroWithin(duration)
      ? { cutoff: subtractDuration(latest, duration, zone), reason, label: formatWithin(duration) }
      : undefined,
  );

  const remaining = [...counts];
  const lastBucket: (number | undefined)[] = COUNT_RULES.map(() => undefined);
  const lastWithinBucket: (number | undefined)[] = WITHIN_RULES.map(() => undefined);

  sorted.forEach((s, index) => {
    const reasons: string[] = [];
    for (const list of tagLists) {
      if (list.every((t) => s.tags.has(t))) reasons.push(`has tags [${list.join(', ')}]`);
    }
    if (withinReason && s.ms > withinCutoff) reasons.push(withinReason);

    const isOldest = index === sorted.length - 1;
    const values = bucketValues(s.ms, index, zone);
    COUNT_RULES.forEach(([, reason], r) => {
      const left = remaining[r] ?? 0;
      if (left === 0) return;
      const value = values[r];
      const sameBucket = value === lastBucket[r];
      if (!sameBucket || isOldest) {
        reasons.push(sameBucket ? `oldest ${reason}` : reason);
        lastBucket[r] = value;
        if (left > 0) remaining[r] = left - 1;
      }
    });

    windows.forEach((w, r) => {
      if (!w || !(s.ms > w.cutoff)) return;
      // Hour, day, week, month, year: the bucket values after keepLast's index.
      const value = values[r + 1];
      const sameBucket = value === lastWithinBucket[r];
      if (!sameBucket || isOldest) {
        reasons.push(`${sameBucket ? 'oldest ' : ''}${w.reason} ${w.label}`);
        lastWithinBucket[r] = value;
      }
    });

    decisions.push({ snapshotId: s.snapshotId, time: s.time, keep: reasons.length > 0, reasons });
  });

  return {
    keep: decisions.filter((d) => d.keep),
    remove: decisions.filter((d) => !d.keep),
    decisions,
  };
}
