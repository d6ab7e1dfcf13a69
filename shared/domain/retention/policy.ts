/**
 * Retention policies: the rules of a plan (restic's `forget` options), their parsing and validation
 * (durations, counts, tags), and whether a policy sets any rule.
 *
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */

import { ValidationError } from '../errors.ts';

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
  /** For the last n hours (of {@link timeZone}) that have a snapshot, keep the newest of each (`--keep-hourly`). */
  keepHourly?: number;
  /** For the last n days (of {@link timeZone}) that have a snapshot, keep the newest of each (`--keep-daily`). */
  keepDaily?: number;
  /** For the last n ISO weeks (Monday–Sunday in {@link timeZone}) that have a snapshot, keep the newest of each (`--keep-weekly`). */
  keepWeekly?: number;
  /** For the last n months (of {@link timeZone}) that have a snapshot, keep the newest of each (`--keep-monthly`). */
  keepMonthly?: number;
  /** For the last n years (of {@link timeZone}) that have a snapshot, keep the newest of each (`--keep-yearly`). */
  keepYearly?: number;
  /** Keep every snapshot taken within this duration of the NEWEST snapshot, restic syntax like '2y5m7d3h' (y, m, d, h units). */
  keepWithin?: string;
  /**
   * Keep every snapshot that has the tags of any entry (`--keep-tag`, repeatable). An entry is one tag
   * (`'release'`) or, as in restic, a comma-separated tag list a snapshot must hold all of
   * (`'monthly,audited'`; blanks around each tag are ignored). Tags are not counted. An empty array is
   * "rule not set".
   */
  keepTag?: string[];
  /** Within this duration of the newest snapshot, keep the newest snapshot of each hour (`--keep-within-hourly`). */
  keepWithinHourly?: string;
  /** Within this duration of the newest snapshot, keep the newest snapshot of each day (`--keep-within-daily`). */
  keepWithinDaily?: string;
  /** Within this duration of the newest snapshot, keep the newest snapshot of each ISO week (`--keep-within-weekly`). */
  keepWithinWeekly?: string;
  /** Within this duration of the newest snapshot, keep the newest snapshot of each month (`--keep-within-monthly`). */
  keepWithinMonthly?: string;
  /** Within this duration of the newest snapshot, keep the newest snapshot of each year (`--keep-within-yearly`). */
  keepWithinYearly?: string;
  /**
   * IANA time zone (e.g. `'Europe/Paris'`) the calendar buckets (hour, day, ISO week, month, year) and
   * the calendar arithmetic of the `keepWithin*` windows use, as restic uses the snapshots' local time.
   * Not a rule. @default 'UTC'
   */
  timeZone?: string;
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
export interface WithinDuration {
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
export function formatWithin(d: WithinDuration): string {
  return `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${d.hours ? `${d.hours}h` : ''}`;
}

export function isZeroWithin(d: WithinDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** The `keepWithin*` duration rules, in restic's order, with the reason word of the bucketed ones. */
export const WITHIN_RULES = [
  ['keepWithinHourly', 'hourly within'],
  ['keepWithinDaily', 'daily within'],
  ['keepWithinWeekly', 'weekly within'],
  ['keepWithinMonthly', 'monthly within'],
  ['keepWithinYearly', 'yearly within'],
] as const;

type WithinRuleName = 'keepWithin' | (typeof WITHIN_RULES)[number][0];

/** Parses a duration rule, reporting errors under the rule's own name. */
export function parseWithinField(s: string, field: WithinRuleName): WithinDuration {
  try {
    return parseKeepWithin(s);
  } catch (error) {
    if (error instanceof RetentionPolicyError && field !== 'keepWithin') {
      throw new RetentionPolicyError(error.message.replace(/^keepWithin: /, ''), field);
    }
    throw error;
  }
}

/**
 * Whether a policy sets no rule at all: every count absent or 0, `keepTag` absent or empty, and every
 * duration (`keepWithin`, `keepWithinHourly` … `keepWithinYearly`) absent or zero (e.g. `'0d'`), like
 * restic's `ExpirePolicy.Empty()`. `timeZone` is not a rule. Never throws: a duration that does not
 * parse counts as set (so that {@link applyRetention} reports it).
 *
 * @param p - the policy.
 * @returns true when no rule is set; {@link applyRetention} then keeps every snapshot.
 * @example
 * ```ts
 * isEmptyPolicy({ keepDaily: 0, keepTag: [], timeZone: 'Europe/Paris' }); // true
 * isEmptyPolicy({ keepWithinDaily: '7d' }); // false
 * ```
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-all-snapshots
 */
export function isEmptyPolicy(p: RetentionPolicy): boolean {
  const counts = [p.keepLast, p.keepHourly, p.keepDaily, p.keepWeekly, p.keepMonthly, p.keepYearly];
  if (counts.some((c) => c !== undefined && c !== 0)) return false;
  if (p.keepTag !== undefined && p.keepTag.length > 0) return false;
  const durations = [p.keepWithin, ...WITHIN_RULES.map(([name]) => p[name])];
  return durations.every((d) => {
    if (d === undefined) return true;
    try {
      return isZeroWithin(parseKeepWithin(d));
    } catch {
      return false;
    }
  });
}

export const COUNT_RULES = [
  ['keepLast', 'last snapshot'],
  ['keepHourly', 'hourly snapshot'],
  ['keepDaily', 'daily snapshot'],
  ['keepWeekly', 'weekly snapshot'],
  ['keepMonthly', 'monthly snapshot'],
  ['keepYearly', 'yearly snapshot'],
] as const;

type CountRuleName = (typeof COUNT_RULES)[number][0];

export function validCount(policy: RetentionPolicy, name: CountRuleName): number {
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

/** A tag: letters, digits and `. _ - : @ + = /`, 1–128 characters (no comma, no blank). */
const TAG = /^[A-Za-z0-9._\-:@+=/]{1,128}$/;

/**
 * Checks a snapshot tag (`strongbox backup --tag`, `SnapshotRecord.tags`).
 *
 * @param tag - e.g. `'release'`, `'before-migration'`, `'v1.2'`.
 * @returns the tag, unchanged.
 * @throws {RetentionPolicyError} (field `field`, not retryable) unless the tag is 1–128 letters, digits
 *   or `. _ - : @ + = /` (commas separate tags in a `keepTag` entry; blanks are not allowed).
 * @example
 * ```ts
 * checkTag('release'); // 'release'
 * ```
 * @see docs/format.md#retention
 */
export function checkTag(tag: string, field = 'tags'): string {
  if (typeof tag !== 'string' || !TAG.test(tag)) {
    throw new RetentionPolicyError(
      `invalid tag ${JSON.stringify(tag)}: use 1–128 letters, digits or . _ - : @ + = /`,
      field,
    );
  }
  return tag;
}

/**
 * Splits a `keepTag` entry into its tag list, like restic's `--keep-tag a,b`: commas separate the tags,
 * blanks around each are ignored.
 *
 * @param entry - e.g. `'release'` or `'monthly, audited'`.
 * @returns the tags, e.g. `['monthly', 'audited']`.
 * @throws {RetentionPolicyError} (field `keepTag[i]`, not retryable) when a tag of the list is empty or
 *   not a valid tag ({@link checkTag}).
 * @example
 * ```ts
 * parseTagList('monthly, audited'); // ['monthly', 'audited']
 * ```
 * @see docs/format.md#retention
 */
export function parseTagList(entry: string, field = 'keepTag'): string[] {
  return String(entry)
    .split(',')
    .map((t) => checkTag(t.trim(), field));
}
