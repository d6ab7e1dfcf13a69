/**
 * Schedule expressions, as EventBridge writes them: `rate(5 minutes)` and
 * `cron(Minutes Hours Day-of-month Month Day-of-week Year)`, evaluated in UTC.
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
 */
import awsCronParser from 'aws-cron-parser';
import { ValidationError } from './errors.ts';

/** A parsed schedule expression. */
export type Schedule =
  | { kind: 'rate'; expression: string; everySeconds: number }
  | { kind: 'cron'; expression: string; cron: ReturnType<typeof awsCronParser.parse> };

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.+)\)$/;
const UNIT_SECONDS = { minute: 60, hour: 3600, day: 86_400 } as const;
const MONTHS = 'JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC';
const DAYS = 'SUN|MON|TUE|WED|THU|FRI|SAT';
/** What each cron field may hold, after the EventBridge documentation. */
const CRON_FIELDS = [
  { name: 'minutes', pattern: /^[0-9,\-*/]+$/ },
  { name: 'hours', pattern: /^[0-9,\-*/]+$/ },
  { name: 'day-of-month', pattern: /^(\?|[0-9,\-*/LW]+)$/ },
  { name: 'month', pattern: new RegExp(`^([0-9,\\-*/]|${MONTHS})+$`, 'i') },
  { name: 'day-of-week', pattern: new RegExp(`^(\\?|([0-9,\\-*/L#]|${DAYS})+)$`, 'i') },
  { name: 'year', pattern: /^[0-9,\-*/]+$/ },
] as const;

/**
 * Parse an EventBridge schedule expression.
 * @throws ValidationError (not retryable) naming what is wrong: an unknown form, a rate of 0, a
 *   singular/plural mismatch (`rate(1 minutes)` is invalid on AWS), or a cron the parser rejects.
 * @example
 * ```ts
 * parseSchedule('rate(1 hour)');            // { kind: 'rate', everySeconds: 3600, ... }
 * parseSchedule('cron(0 3 * * ? *)');       // daily at 03:00 UTC
 * ```
 */
export function parseSchedule(expression: string): Schedule {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] as string;
    if (value < 1) throw new ValidationError(`rate must be at least 1 in '${expression}'`);
    if ((value === 1) !== !unit.endsWith('s')) {
      throw new ValidationError(
        `use '${value === 1 ? 'minute/hour/day' : 'minutes/hours/days'}' with ${value} in '${expression}'`,
      );
    }
    const base = unit.replace(/s$/, '') as keyof typeof UNIT_SECONDS;
    return { kind: 'rate', expression, everySeconds: value * UNIT_SECONDS[base] };
  }
  const cron = CRON.exec(expression);
  if (cron) {
    const fields = (cron[1] as string).trim().split(/\s+/);
    if (fields.length !== 6) {
      throw new ValidationError(
        `cron needs 6 fields (minutes hours day-of-month month day-of-week year) in '${expression}'`,
      );
    }
    if ((fields[2] === '?') === (fields[4] === '?')) {
      throw new ValidationError(
        `cron needs '?' in exactly one of day-of-month and day-of-week in '${expression}'`,
      );
    }
    CRON_FIELDS.forEach((field, i) => {
      if (!field.pattern.test(fields[i] as string)) {
        throw new ValidationError(`cron ${field.name} '${fields[i]}' is not valid in '${expression}'`);
      }
    });
    try {
      const parsed = awsCronParser.parse(cron[1] as string);
      // A cron that never fires (e.g. 31 February) is as wrong as a malformed one.
      if (!awsCronParser.next(parsed, new Date('2000-01-01T00:00:00Z'))) throw new Error('never fires');
      return { kind: 'cron', expression, cron: parsed };
    } catch (cause) {
      throw new ValidationError(`invalid cron in '${expression}'`, '', { cause });
    }
  }
  throw new ValidationError(`'${expression}' is neither rate(...) nor cron(...)`);
}

/**
 * The latest occurrence of `schedule` at or before `at`, and not before `anchor`.
 * Rates are anchored at `anchor` (the plan's creation): occurrences are anchor + k × rate, so a
 * new plan with a rate is due at once. Crons fire at their own times; one before the anchor does
 * not count, so a new plan with a cron waits for its next time.
 * @returns undefined when nothing is due in [anchor, at].
 */
export function latestOccurrence(schedule: Schedule, anchor: Date, at: Date): Date | undefined {
  if (at < anchor) return undefined;
  if (schedule.kind === 'rate') {
    const periods = Math.floor((at.getTime() - anchor.getTime()) / (schedule.everySeconds * 1000));
    return new Date(anchor.getTime() + periods * schedule.everySeconds * 1000);
  }
  // aws-cron-parser's prev() is strictly before its argument: ask from one second after `at`.
  const probe = new Date(Math.floor(at.getTime() / 1000) * 1000 + 1000);
  const prev = awsCronParser.prev(schedule.cron, probe);
  if (!prev || prev < anchor) return undefined;
  return prev;
}

/** The next occurrence of `schedule` strictly after `after` (rates anchored at `anchor`). */
export function nextOccurrence(schedule: Schedule, anchor: Date, after: Date): Date | undefined {
  if (schedule.kind === 'rate') {
    const step = schedule.everySeconds * 1000;
    if (after < anchor) return anchor;
    const periods = Math.floor((after.getTime() - anchor.getTime()) / step) + 1;
    return new Date(anchor.getTime() + periods * step);
  }
  return awsCronParser.next(schedule.cron, after) ?? undefined;
}
