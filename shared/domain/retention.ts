/**
 * Retention: which snapshots of a plan to keep and which to forget, with restic's `forget` policy
 * semantics (`--keep-last`, `--keep-hourly` … `--keep-yearly`, `--keep-within`).
 *
 * Pure: every time comes in as an argument; windows are measured from the newest snapshot, never from
 * a wall clock.
 *
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */

import { ValidationError } from './errors.ts';

/**
 * Retention rules of a plan (restic's forget options). Counts: a positive integer, or -1 for unlimited;
 * 0 or absent means "rule not set". Rules are OR-ed: a snapshot is kept when any rule keeps it.
 *
 * @example
 * ```ts
 * const policy: RetentionPolicy = { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: -1, keepWithin: '2d' };
 * ```
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */
export interface RetentionPolicy {
  /** Keep the n newest snapshots (`--keep-last`). */
  keepLast?: number;
  /** For the last n UTC hours that have a snapshot, keep the newest of each (`--keep-hourly`). */
  keepHourly?: number;
  /** For the last n UTC days that have a snapshot, keep the newest of each (`--keep-daily`). */
  keepDaily?: number;
  /** For the last n ISO weeks (Monday–Sunday, UTC) that have a snapshot, keep the newest of each (`--keep-weekly`). */
  keepWeekly?: number;
  /** For the last n UTC months that have a snapshot, keep the newest of each (`--keep-monthly`). */
  keepMonthly?: number;
  /** For the last n UTC years that have a snapshot, keep the newest of each (`--keep-yearly`). */
  keepYearly?: number;
  /** Keep every snapshot taken within this duration of the NEWEST snapshot, restic syntax like '2y5m7d3h' (y, m, d, h units). */
  keepWithin?: string;
}

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
   * Why it is kept, with restic's wording, in restic's order ('within …' first, then last, hourly, daily,
   * weekly, monthly, yearly): e.g. `['within 7d', 'last snapshot', 'daily snapshot']`,
   * `'oldest monthly snapshot'`, `'no retention policy'`. Empty when removed.
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

/**
 * A retention policy (or a snapshot time given to retention) is invalid. Not retryable: the same input
 * fails the same way.
 *
 * @example
 * ```ts
 * try { parseKeepWithin('7w'); } catch (e) { if (e instanceof RetentionPolicyError) console.log(e.field, e.retryable); } // keepWithin false
 * ```
 * @see docs/format.md#retention
 */
export class RetentionPolicyError extends ValidationError {
  /** Never retryable. */
  override readonly retryable = false;
}

/** A `keepWithin` duration, in calendar units (not normalised: 36h stays 36 hours). */
interface WithinDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const UNIT_FIELDS = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;

/**
 * Parses a restic duration like `2y5m7d3h` (units y = years, m = months, d = days, h = hours; each at most
 * once, any order, non-negative integers; surrounding blanks ignored).
 *
 * @param s - the duration, e.g. `'7d'`, `'1m14d'`, `'1y2m3d3h'`.
 * @returns `{ years, months, days, hours }`, each a non-negative integer (0 for a missing unit).
 * @throws {RetentionPolicyError} (field `keepWithin`, not retryable) when `s` is empty, has a number
 *   without unit, an unknown unit (`w`, `s`, `M`, …), a sign, a fraction or a repeated unit.
 * @example
 * ```ts
 * parseKeepWithin('2y5m7d3h'); // { years: 2, months: 5, days: 7, hours: 3 }
 * ```
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */
export function parseKeepWithin(s: string): { years: number; months: number; days: number; hours: number } {
  const input = String(s).trim();
  if (input === '')
    throw new RetentionPolicyError('empty duration, expected e.g. 7d or 2y5m7d3h', 'keepWithin');
  const result: WithinDuration = { years: 0, months: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  const token = /(\d+)([a-zA-Z]?)/y;
  let pos = 0;
  while (pos < input.length) {
    token.lastIndex = pos;
    const m = token.exec(input);
    if (!m) {
      throw new RetentionPolicyError(
        `invalid duration ${JSON.stringify(input)}: expected a number at offset ${pos} (use e.g. 7d or 2y5m7d3h)`,
        'keepWithin',
      );
    }
    const [whole, digits = '', unit = ''] = m;
    if (unit === '') {
      throw new RetentionPolicyError(
        `invalid duration ${JSON.stringify(input)}: no unit after number ${digits} (use y, m, d or h)`,
        'keepWithin',
      );
    }
    if (!Object.hasOwn(UNIT_FIELDS, unit)) {
      throw new RetentionPolicyError(
        `invalid duration ${JSON.stringify(input)}: unknown unit ${JSON.stringify(unit)} (use y, m, d or h)`,
        'keepWithin',
      );
    }
    if (seen.has(unit)) {
      throw new RetentionPolicyError(
        `invalid duration ${JSON.stringify(input)}: unit ${JSON.stringify(unit)} given twice`,
        'keepWithin',
      );
    }
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) {
      throw new RetentionPolicyError(
        `invalid duration ${JSON.stringify(input)}: ${digits} is too large`,
        'keepWithin',
      );
    }
    seen.add(unit);
    result[UNIT_FIELDS[unit as keyof typeof UNIT_FIELDS]] = value;
    pos += whole.length;
  }
  return result;
}

/** restic's Duration.String(): units in y, m, d, h order, zero units left out (e.g. '1y1d1m' → '1y1m1d'). */
function formatWithin(d: WithinDuration): string {
  return `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${d.hours ? `${d.hours}h` : ''}`;
}

function isZeroWithin(d: WithinDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/**
 * Whether a policy sets no rule at all: every count absent or 0 and `keepWithin` absent or a zero
 * duration (e.g. `'0d'`), like restic's `ExpirePolicy.Empty()`. Never throws: a `keepWithin` that does
 * not parse counts as set (so that {@link applyRetention} reports it).
 *
 * @param p - the policy.
 * @returns true when no rule is set; {@link applyRetention} then keeps every snapshot.
 * @example
 * ```ts
 * isEmptyPolicy({ keepDaily: 0 }); // true
 * isEmptyPolicy({ keepLast: 1 }); // false
 * ```
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-all-snapshots
 */
export function isEmptyPolicy(p: RetentionPolicy): boolean {
  const counts = [p.keepLast, p.keepHourly, p.keepDaily, p.keepWeekly, p.keepMonthly, p.keepYearly];
  if (counts.some((c) => c !== undefined && c !== 0)) return false;
  if (p.keepWithin === undefined) return true;
  try {
    return isZeroWithin(parseKeepWithin(p.keepWithin));
  } catch {
    return false;
  }
}

const COUNT_RULES = [
  ['keepLast', 'last snapshot'],
  ['keepHourly', 'hourly snapshot'],
  ['keepDaily', 'daily snapshot'],
  ['keepWeekly', 'weekly snapshot'],
  ['keepMonthly', 'monthly snapshot'],
  ['keepYearly', 'yearly snapshot'],
] as const;

type CountRuleName = (typeof COUNT_RULES)[number][0];

function validCount(policy: RetentionPolicy, name: CountRuleName): number {
  const c = policy[name];
  if (c === undefined) return 0;
  if (!Number.isSafeInteger(c) || c < -1) {
    throw new RetentionPolicyError(
      `must be a positive integer, 0 (not set) or -1 (unlimited), got ${c}`,
      name,
    );
  }
  return c;
}

/** An ISO-8601 date-time with an explicit offset: without one, Date.parse would read local time. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** ISO-8601 week of a UTC instant, as YYYYWW with the ISO week-numbering year (weeks run Monday–Sunday). */
function isoWeekKey(ms: number): number {
  const d = new Date(ms);
  const dayFromMonday = (d.getUTCDay() + 6) % 7;
  // The Thursday of the same ISO week decides the week-year; week 1 holds the year's first Thursday.
  const thursday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - dayFromMonday + 3);
  const weekYear = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(weekYear, 0, 1)) / 86_400_000 / 7) + 1;
  return weekYear * 100 + week;
}

/** Bucket value of a snapshot for each counted rule, in COUNT_RULES order (restic's bucker functions). */
function bucketValues(ms: number, index: number): readonly number[] {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const ym = y * 100 + d.getUTCMonth() + 1;
  const ymd = ym * 100 + d.getUTCDate();
  const ymdh = ymd * 100 + d.getUTCHours();
  return [index, ymdh, ymd, isoWeekKey(ms), ym, y];
}

/**
 * Decides which snapshots a retention policy keeps, with restic's `forget` semantics:
 *
 * - snapshots are sorted newest first (equal times: ascending `snapshotId`);
 * - `keepLast: n` keeps the n newest;
 * - `keepHourly|Daily|Weekly|Monthly|Yearly: n` walks newest to oldest and keeps a snapshot when its UTC
 *   bucket (hour, day, ISO week, month, year) differs from the last bucket that rule kept, while the rule
 *   has count left (-1 = unlimited), decrementing the count: the newest snapshot of each of the last n
 *   buckets that contain a snapshot. Like restic ≥ 0.17, when a rule still has count left at the OLDEST
 *   snapshot, that snapshot is kept too (reason `'oldest <rule> snapshot'`) to lengthen the history;
 * - `keepWithin` keeps every snapshot strictly after (newest snapshot time − duration), the duration
 *   subtracted with calendar arithmetic like Go's `AddDate(-y, -m, -d)` (an overflowing day rolls over:
 *   2016-03-31 − 1m = "2016-02-31" = 2016-03-02) and then `-h` hours;
 * - rules are OR-ed; every matching rule adds its reason;
 * - an empty policy ({@link isEmptyPolicy}) keeps everything with reason `'no retention policy'` (restic
 *   refuses to forget without a policy).
 *
 * Differences from restic: no wall clock, so snapshots dated in the future are not set aside when
 * finding the newest one; no tag, `keep-within-<period>` or grouping options (callers group per plan).
 *
 * @param snapshots - candidates of ONE plan/group, any order; times ISO-8601 with an offset.
 * @param policy - the rules; counts positive integers or -1, `keepWithin` like `'2y5m7d3h'`.
 * @returns `{ keep, remove, decisions }`, each newest first; `keep` ∪ `remove` = `decisions`, one per candidate.
 * @throws {RetentionPolicyError} (not retryable) when a count is not an integer ≥ -1, `keepWithin` does not
 *   parse ({@link parseKeepWithin}) or a snapshot time is not an ISO-8601 date-time with an offset
 *   (field `snapshots[i].time`).
 * @example
 * ```ts
 * const { keep, remove } = applyRetention(
 *   [{ snapshotId: 'a', time: '2024-05-01T03:00:00Z' }, { snapshotId: 'b', time: '2024-05-01T15:00:00Z' }],
 *   { keepDaily: 7 },
 * );
 * // keep: b ('daily snapshot'), a ('oldest daily snapshot'); remove: []
 * ```
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */
export function applyRetention(
  snapshots: readonly RetentionCandidate[],
  policy: RetentionPolicy,
): RetentionResult {
  const counts = COUNT_RULES.map(([name]) => validCount(policy, name));
  const within = policy.keepWithin === undefined ? undefined : parseKeepWithin(policy.keepWithin);

  const sorted = snapshots
    .map((s, i) => {
      const ms = ISO_WITH_OFFSET.test(s.time) ? Date.parse(s.time) : Number.NaN;
      if (Number.isNaN(ms)) {
        throw new RetentionPolicyError(
          `not an ISO-8601 time with an offset (e.g. 2024-05-01T03:00:00Z): ${JSON.stringify(s.time)}`,
          `snapshots[${i}].time`,
        );
      }
      return { snapshotId: s.snapshotId, time: s.time, ms };
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

  const newest = sorted[0];
  let withinCutoff = Number.NaN;
  let withinReason = '';
  if (newest && within && !isZeroWithin(within)) {
    // Like Go's AddDate: shift the calendar fields, let overflowing months and days roll over, then subtract
    // the hours as a duration. setUTCFullYear, unlike Date.UTC, does not read years 0–99 as 1900–1999.
    const cutoff = new Date(newest.ms);
    cutoff.setUTCFullYear(
      cutoff.getUTCFullYear() - within.years,
      cutoff.getUTCMonth() - within.months,
      cutoff.getUTCDate() - within.days,
    );
    // A window reaching before the earliest representable date (±273,790 years) covers every snapshot.
    withinCutoff = Number.isNaN(cutoff.getTime()) ? -Infinity : cutoff.getTime() - within.hours * 3_600_000;
    withinReason = `within ${formatWithin(within)}`;
  }

  const remaining = [...counts];
  const lastBucket: (number | undefined)[] = COUNT_RULES.map(() => undefined);

  sorted.forEach((s, index) => {
    const reasons: string[] = [];
    if (withinReason && s.ms > withinCutoff) reasons.push(withinReason);

    const isOldest = index === sorted.length - 1;
    const values = bucketValues(s.ms, index);
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

    decisions.push({ snapshotId: s.snapshotId, time: s.time, keep: reasons.length > 0, reasons });
  });

  return {
    keep: decisions.filter((d) => d.keep),
    remove: decisions.filter((d) => !d.keep),
    decisions,
  };
}
