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
function formatWithin(d: WithinDuration): string {
  return `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${d.hours ? `${d.hours}h` : ''}`;
}

function isZeroWithin(d: WithinDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** The `keepWithin*` duration rules, in restic's order, with the reason word of the bucketed ones. */
const WITHIN_RULES = [
  ['keepWithinHourly', 'hourly within'],
  ['keepWithinDaily', 'daily within'],
  ['keepWithinWeekly', 'weekly within'],
  ['keepWithinMonthly', 'monthly within'],
  ['keepWithinYearly', 'yearly within'],
] as const;

type WithinRuleName = 'keepWithin' | (typeof WITHIN_RULES)[number][0];

/** Parses a duration rule, reporting errors under the rule's own name. */
function parseWithinField(s: string, field: WithinRuleName): WithinDuration {
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

/**
 * Checks an IANA time zone name.
 *
 * @param zone - e.g. `'UTC'`, `'Europe/Paris'`, `'America/New_York'`.
 * @returns the zone, unchanged.
 * @throws {RetentionPolicyError} (field `timeZone`, not retryable) when the runtime does not know it.
 * @example
 * ```ts
 * checkTimeZone('Europe/Paris'); // 'Europe/Paris'
 * ```
 * @see docs/format.md#retention
 */
export function checkTimeZone(zone: string): string {
  try {
    zonedFormatter(zone);
    return zone;
  } catch {
    throw new RetentionPolicyError(
      `unknown time zone ${JSON.stringify(zone)}: use an IANA name like 'UTC' or 'Europe/Paris'`,
      'timeZone',
    );
  }
}

/** Local calendar fields of an instant in a zone. */
interface ZonedParts {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function zonedFormatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    if (typeof zone !== 'string' || zone === '') throw new RangeError('empty time zone');
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

function isUtc(zone: string): boolean {
  return zone === 'UTC';
}

/** The wall-clock fields of instant `ms` in `zone` (UTC: without Intl, exact for every representable date). */
function zonedParts(ms: number, zone: string): ZonedParts {
  if (isUtc(zone)) {
    const d = new Date(ms);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    };
  }
  const parts: Record<string, string> = {};
  for (const p of zonedFormatter(zone).formatToParts(new Date(ms))) parts[p.type] = p.value;
  const yearOfEra = Number(parts.year);
  return {
    year: parts.era === 'BC' || parts.era === 'B' ? 1 - yearOfEra : yearOfEra,
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
  };
}

/** Milliseconds of a UTC calendar date-time, fields allowed to overflow (like Go's time.Date); years 0–99 as such. */
function utcFields(
  year: number,
  month0: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
  ms = 0,
): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month0, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

/** Offset of `zone` from UTC at instant `ms`, in milliseconds (e.g. +7,200,000 for CEST). */
function offsetAt(ms: number, zone: string): number {
  if (isUtc(zone)) return 0;
  const p = zonedParts(ms, zone);
  const wholeSecond = ms - (((ms % 1000) + 1000) % 1000);
  return utcFields(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - wholeSecond;
}

/**
 * The instant at which the wall clock of `zone` reads `wall` (given as if UTC), like Go's `time.Date`:
 * in a gap (spring forward) or an overlap (fall back) one of the two offsets around the transition.
 */
function wallToInstant(wall: number, zone: string): number {
  if (isUtc(zone)) return wall;
  const first = offsetAt(wall, zone);
  return wall - offsetAt(wall - first, zone);
}

/**
 * `ms` minus a restic duration, like Go's `t.AddDate(-y, -m, -d).Add(-h hours)` with `t` in `zone`: the
 * years, months and days are taken off the wall-clock date (an overflowing day rolls over: 31 March − 1m
 * = "31 February" = 2 or 3 March), then the hours as elapsed time.
 *
 * @returns milliseconds since the epoch; -Infinity when the result lies before the earliest
 *   representable date (the window then covers every snapshot).
 */
export function subtractDuration(ms: number, d: WithinDuration, zone = 'UTC'): number {
  try {
    const p = zonedParts(ms, zone);
    const subMs = ((ms % 1000) + 1000) % 1000;
    const wall = utcFields(
      p.year - d.years,
      p.month - 1 - d.months,
      p.day - d.days,
      p.hour,
      p.minute,
      p.second,
      subMs,
    );
    if (Number.isNaN(wall)) return -Infinity;
    const instant = wallToInstant(wall, zone) - d.hours * 3_600_000;
    return Number.isNaN(instant) ? -Infinity : instant;
  } catch {
    // Intl cannot format a date beyond its range: the window reaches before any snapshot.
    return -Infinity;
  }
}

/**
 * Formats an instant as local time in a zone, for people: `YYYY-MM-DD HH:MM:SS±HH:MM`.
 *
 * @param time - ISO-8601 with an offset, or milliseconds since the epoch.
 * @param zone - IANA time zone. @default 'UTC'
 * @returns e.g. `'2024-05-01 05:00:00+02:00'` for `'2024-05-01T03:00:00Z'` in Europe/Paris.
 * @throws {RetentionPolicyError} (not retryable) for an unknown zone ({@link checkTimeZone}).
 * @example
 * ```ts
 * formatZonedTime('2024-01-15T12:00:00Z', 'America/New_York'); // '2024-01-15 07:00:00-05:00'
 * ```
 * @see docs/format.md#retention
 */
export function formatZonedTime(time: string | number, zone = 'UTC'): string {
  checkTimeZone(zone);
  const ms = typeof time === 'number' ? time : Date.parse(time);
  if (Number.isNaN(ms)) return String(time);
  const p = zonedParts(ms, zone);
  const offsetMinutes = Math.round(offsetAt(ms, zone) / 60_000);
  const two = (n: number) => String(n).padStart(2, '0');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${String(p.year).padStart(4, '0')}-${two(p.month)}-${two(p.day)} ${two(p.hour)}:${two(p.minute)}:${two(p.second)}${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
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
