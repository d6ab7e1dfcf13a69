/**
 * Calendar arithmetic in an IANA time zone for retention: a zone's wall clock at an instant, a restic
 * duration taken off an instant like Go's `AddDate`, and local times formatted for people.
 *
 * @see docs/format.md#retention
 */

import { RetentionPolicyError, type WithinDuration } from './policy.ts';

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
export function zonedParts(ms: number, zone: string): ZonedParts {
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
export function utcFields(
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
