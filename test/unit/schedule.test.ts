import { describe, expect, it } from 'vitest';
import { ValidationError } from '#domain/errors.ts';
import { latestOccurrence, nextOccurrence, parseSchedule } from '#domain/schedule.ts';

const at = (iso: string) => new Date(iso);

describe('parseSchedule', () => {
  it.each([
    ['rate(1 minute)', 60],
    ['rate(5 minutes)', 300],
    ['rate(1 hour)', 3600],
    ['rate(12 hours)', 43_200],
    ['rate(1 day)', 86_400],
    ['rate(7 days)', 604_800],
  ])('reads %s as every %i seconds', (expression, seconds) => {
    const schedule = parseSchedule(expression);
    expect(schedule).toMatchObject({ kind: 'rate', expression, everySeconds: seconds });
  });

  it.each([
    'cron(0 3 * * ? *)',
    'cron(0/15 * ? * MON-FRI *)',
    'cron(30 12 1 * ? *)',
    'cron(0 8 ? * 2#1 *)',
    'cron(0 3 L * ? *)',
    'cron(0 3 * * ? 2030)',
  ])('accepts %s', (expression) => {
    expect(parseSchedule(expression)).toMatchObject({ kind: 'cron', expression });
  });

  it.each([
    ['rate(0 minutes)', /at least 1/],
    ['rate(1 minutes)', /use 'minute\/hour\/day' with 1/],
    ['rate(1 days)', /use 'minute\/hour\/day' with 1/],
    ['rate(5 minute)', /use 'minutes\/hours\/days' with 5/],
    ['rate(2 weeks)', /neither rate/],
    ['rate(-1 minutes)', /neither rate/],
    ['rate(1.5 hours)', /neither rate/],
    ['cron(0 3 * * ?)', /6 fields/],
    ['cron(0 3 * * ? * *)', /6 fields/],
    ['cron(0 3 * * * *)', /'\?'/],
    ['cron(0 3 1 * 1 *)', /'\?'/],
    ['cron(99 3 * * ? *)', /invalid cron/],
    ['cron(0 25 * * ? *)', /invalid cron/],
    ['every hour', /neither rate/],
    ['', /neither rate/],
    ['RATE(1 hour)', /neither rate/],
    [' rate(1 hour)', /neither rate/],
  ])('refuses %j', (expression, message) => {
    expect(() => parseSchedule(expression)).toThrow(ValidationError);
    expect(() => parseSchedule(expression)).toThrow(message);
  });

  it('quotes the expression in its error message', () => {
    expect(() => parseSchedule('rate(0 minutes)')).toThrow(/'rate\(0 minutes\)'/);
  });

  it('refuses a cron whose fields are words', () => {
    expect(() => parseSchedule('cron(a b c d ? f)')).toThrow(ValidationError);
  });

  it("refuses a cron with '?' in both day-of-month and day-of-week", () => {
    expect(() => parseSchedule('cron(0 3 ? * ? *)')).toThrow(ValidationError);
  });
});

describe('latestOccurrence', () => {
  describe('of a rate', () => {
    const hourly = parseSchedule('rate(1 hour)');
    const anchor = at('2026-01-01T00:07:30Z');

    it('is due at the anchor itself: a new plan with a rate runs at once', () => {
      expect(latestOccurrence(hourly, anchor, anchor)).toEqual(anchor);
    });

    it('counts whole periods from the anchor, not from midnight', () => {
      expect(latestOccurrence(hourly, anchor, at('2026-01-01T01:07:29Z'))).toEqual(anchor);
      expect(latestOccurrence(hourly, anchor, at('2026-01-01T01:07:30Z'))).toEqual(
        at('2026-01-01T01:07:30Z'),
      );
      expect(latestOccurrence(hourly, anchor, at('2026-01-01T05:00:00Z'))).toEqual(
        at('2026-01-01T04:07:30Z'),
      );
    });

    it('returns the latest occurrence, not the missed ones', () => {
      const daily = parseSchedule('rate(1 day)');
      expect(latestOccurrence(daily, anchor, at('2026-01-10T12:00:00Z'))).toEqual(at('2026-01-10T00:07:30Z'));
    });

    it('is undefined before the anchor', () => {
      expect(latestOccurrence(hourly, anchor, at('2026-01-01T00:07:29Z'))).toBeUndefined();
    });
  });

  describe('of a cron', () => {
    const daily3am = parseSchedule('cron(0 3 * * ? *)');

    it('does not count an occurrence before the anchor: a new plan waits for its next time', () => {
      expect(
        latestOccurrence(daily3am, at('2026-01-01T05:00:00Z'), at('2026-01-01T23:00:00Z')),
      ).toBeUndefined();
    });

    it('counts an occurrence exactly at `at`', () => {
      const found = latestOccurrence(daily3am, at('2026-01-01T05:00:00Z'), at('2026-01-02T03:00:00Z'));
      expect(found).toEqual(at('2026-01-02T03:00:00Z'));
    });

    it('counts an occurrence a fraction of a second before `at`', () => {
      const found = latestOccurrence(daily3am, at('2026-01-01T05:00:00Z'), at('2026-01-02T03:00:00.999Z'));
      expect(found).toEqual(at('2026-01-02T03:00:00Z'));
    });

    it('does not count an occurrence a moment after `at`', () => {
      expect(
        latestOccurrence(daily3am, at('2026-01-01T05:00:00Z'), at('2026-01-02T02:59:59.999Z')),
      ).toBeUndefined();
    });

    it('counts an occurrence exactly at the anchor', () => {
      const anchor = at('2026-01-01T03:00:00Z');
      expect(latestOccurrence(daily3am, anchor, anchor)).toEqual(anchor);
    });

    it('returns the latest of several due occurrences', () => {
      const found = latestOccurrence(daily3am, at('2026-01-01T00:00:00Z'), at('2026-01-05T12:00:00Z'));
      expect(found).toEqual(at('2026-01-05T03:00:00Z'));
    });

    it('follows day-of-week rules in UTC', () => {
      const weekdays = parseSchedule('cron(0 9 ? * MON-FRI *)');
      // 2026-01-03 is a Saturday, 2026-01-02 a Friday.
      const found = latestOccurrence(weekdays, at('2026-01-01T00:00:00Z'), at('2026-01-04T12:00:00Z'));
      expect(found).toEqual(at('2026-01-02T09:00:00Z'));
    });

    it('is undefined before the anchor', () => {
      expect(
        latestOccurrence(daily3am, at('2026-01-02T00:00:00Z'), at('2026-01-01T04:00:00Z')),
      ).toBeUndefined();
    });
  });
});

describe('nextOccurrence', () => {
  it('of a rate is the anchor when asked before it', () => {
    const hourly = parseSchedule('rate(1 hour)');
    const anchor = at('2026-01-01T00:07:30Z');
    expect(nextOccurrence(hourly, anchor, at('2025-12-31T00:00:00Z'))).toEqual(anchor);
  });

  it('of a rate is strictly after `after`', () => {
    const hourly = parseSchedule('rate(1 hour)');
    const anchor = at('2026-01-01T00:07:30Z');
    expect(nextOccurrence(hourly, anchor, anchor)).toEqual(at('2026-01-01T01:07:30Z'));
    expect(nextOccurrence(hourly, anchor, at('2026-01-01T00:30:00Z'))).toEqual(at('2026-01-01T01:07:30Z'));
    expect(nextOccurrence(hourly, anchor, at('2026-01-01T01:07:30Z'))).toEqual(at('2026-01-01T02:07:30Z'));
  });

  it('of a cron is strictly after `after`', () => {
    const daily3am = parseSchedule('cron(0 3 * * ? *)');
    const anchor = at('2026-01-01T00:00:00Z');
    expect(nextOccurrence(daily3am, anchor, at('2026-01-02T02:59:59Z'))).toEqual(at('2026-01-02T03:00:00Z'));
    expect(nextOccurrence(daily3am, anchor, at('2026-01-02T03:00:00Z'))).toEqual(at('2026-01-03T03:00:00Z'));
  });

  it('of a cron limited to past years is undefined', () => {
    const once = parseSchedule('cron(0 3 * * ? 2020)');
    expect(nextOccurrence(once, at('2019-01-01T00:00:00Z'), at('2026-01-01T00:00:00Z'))).toBeUndefined();
  });
});
