// Retention's keepTag and keepWithin<period> rules, the plan's time zone, and the restic examples
// (golden files in ./golden/retention).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validatePlans } from '#domain/plan.ts';
import { applyRetention, type RetentionCandidate, type RetentionResult } from '#domain/retention/apply.ts';
import { isEmptyPolicy, type RetentionPolicy, RetentionPolicyError } from '#domain/retention/policy.ts';
import { formatZonedTime } from '#domain/retention/zoned-time.ts';

interface GoldenKeep {
  snapshotId: string;
  time?: string;
  reasons: string[];
}

interface TagsWithinGolden {
  snapshots: RetentionCandidate[];
  cases: { name: string; crossChecked: string; policy: RetentionPolicy; expectedKeep: GoldenKeep[] }[];
}

interface HundredYearsGolden {
  generate: { firstDay: string; lastDay: string; timeOfDay: string };
  cases: { name: string; policy: RetentionPolicy; expectedKeep: GoldenKeep[] }[];
}

function loadGolden<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./golden/retention/${name}`, import.meta.url), 'utf8')) as T;
}

const tagsWithin = loadGolden<TagsWithinGolden>('restic-testdata-tags-within.json');
const hundredYears = loadGolden<HundredYearsGolden>('restic-doc-forget-100-years.json');

function snap(snapshotId: string, time: string, tags?: string[]): RetentionCandidate {
  return tags ? { snapshotId, time, tags } : { snapshotId, time };
}

function ids(decisions: RetentionResult['keep']): string[] {
  return decisions.map((d) => d.snapshotId);
}

function reasonsOf(result: RetentionResult, snapshotId: string): string[] | undefined {
  return result.decisions.find((d) => d.snapshotId === snapshotId)?.reasons;
}

function errorOf(fn: () => unknown): RetentionPolicyError {
  try {
    fn();
  } catch (error) {
    if (error instanceof RetentionPolicyError) return error;
    throw error;
  }
  throw new Error('expected a RetentionPolicyError');
}

describe('applyRetention: keepTag', () => {
  it('keeps every snapshot with any of the tags, uncounted, with restic reasons first', () => {
    // Prepare
    const snapshots = [
      snap('a', '2024-01-01T00:00:00Z', ['release']),
      snap('b', '2024-01-02T00:00:00Z', ['nightly']),
      snap('c', '2024-01-03T00:00:00Z', ['release', 'audited']),
      snap('d', '2024-01-04T00:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepTag: ['release', 'audited'], keepLast: 1 });

    // Assess
    expect(result.decisions.map((d) => [d.snapshotId, d.reasons])).toEqual([
      ['d', ['last snapshot']],
      ['c', ['has tags [release]', 'has tags [audited]']],
      ['b', []],
      ['a', ['has tags [release]']],
    ]);
  });

  it('keeps, for a comma-separated entry, only snapshots holding all of its tags (blanks ignored)', () => {
    // Prepare
    const snapshots = [
      snap('both', '2024-01-01T00:00:00Z', ['monthly', 'audited']),
      snap('one', '2024-01-02T00:00:00Z', ['monthly']),
    ];

    // Act
    const result = applyRetention(snapshots, { keepTag: ['monthly , audited'] });

    // Assess
    expect(ids(result.keep)).toEqual(['both']);
    expect(reasonsOf(result, 'both')).toEqual(['has tags [monthly, audited]']);
  });

  it('rejects an invalid tag in keepTag naming the entry', () => {
    // Act
    const error = errorOf(() => applyRetention([], { keepTag: ['ok', 'has space'] }));

    // Assess
    expect(error.field).toBe('keepTag[1]');
    expect(error.retryable).toBe(false);
  });
});

describe('applyRetention: keepWithinHourly … keepWithinYearly', () => {
  it('keeps one snapshot per day within the window only (restic forum example: keep-daily 4 vs keep-within-daily 4d)', () => {
    // Prepare: a1 May 1 08:00, a2 May 2 08:00, a3 May 2 11:00, a4 May 4 09:00, a5 May 5 10:00.
    const snapshots = [
      snap('a1', '2023-05-01T08:00:00Z'),
      snap('a2', '2023-05-02T08:00:00Z'),
      snap('a3', '2023-05-02T11:00:00Z'),
      snap('a4', '2023-05-04T09:00:00Z'),
      snap('a5', '2023-05-05T10:00:00Z'),
    ];

    // Act
    const daily = applyRetention(snapshots, { keepDaily: 4 });
    const withinDaily = applyRetention(snapshots, { keepWithinDaily: '4d' });

    // Assess: the window runs from May 1 10:00, so a1 falls outside it.
    expect(ids(daily.keep)).toEqual(['a5', 'a4', 'a3', 'a1']);
    expect(ids(withinDaily.keep)).toEqual(['a5', 'a4', 'a3']);
    expect(ids(withinDaily.remove)).toEqual(['a2', 'a1']);
    expect(reasonsOf(withinDaily, 'a3')).toEqual(['daily within 4d']);
  });

  it("keeps the oldest snapshot too when it lies in the window, as 'oldest <period> within <d>'", () => {
    // Prepare: both on the same day, well within 7d.
    const snapshots = [snap('am', '2024-05-01T03:00:00Z'), snap('pm', '2024-05-01T15:00:00Z')];

    // Act
    const result = applyRetention(snapshots, { keepWithinDaily: '7d' });

    // Assess
    expect(result.decisions.map((d) => [d.snapshotId, d.reasons])).toEqual([
      ['pm', ['daily within 7d']],
      ['am', ['oldest daily within 7d']],
    ]);
  });

  it('lists the reasons in restic order: tags, within, counted rules, then the within-period rules', () => {
    // Prepare
    const snapshots = [snap('only', '2024-05-01T03:00:00Z', ['t'])];

    // Act
    const result = applyRetention(snapshots, {
      keepWithinYearly: '1y',
      keepDaily: 1,
      keepTag: ['t'],
      keepWithin: '1d',
      keepWithinHourly: '2h',
    });

    // Assess
    expect(reasonsOf(result, 'only')).toEqual([
      'has tags [t]',
      'within 1d',
      'daily snapshot',
      'hourly within 2h',
      'yearly within 1y',
    ]);
  });

  it('names the offending rule when a duration does not parse', () => {
    // Act
    const error = errorOf(() => applyRetention([], { keepWithinWeekly: '1w' }));

    // Assess
    expect(error.field).toBe('keepWithinWeekly');
    expect(error.message).toMatch(/keepWithinWeekly: .*unknown unit "w"/);
  });

  it('does not take a snapshot after now as the newest when now is given (restic findLatestTimestamp)', () => {
    // Prepare: 'future' is dated after the clock.
    const snapshots = [
      snap('old', '2024-01-01T00:00:00Z'),
      snap('recent', '2024-01-10T00:00:00Z'),
      snap('future', '2024-03-01T00:00:00Z'),
    ];

    // Act
    const result = applyRetention(
      snapshots,
      { keepWithin: '10d' },
      { now: new Date('2024-01-10T12:00:00Z') },
    );

    // Assess: the window is measured from 'recent'.
    expect(ids(result.keep)).toEqual(['future', 'recent', 'old']);
    expect(ids(applyRetention(snapshots, { keepWithin: '10d' }).keep)).toEqual(['future']);
  });

  describe('golden: restic TestApplyPolicy testdata with tags', () => {
    it('holds the 103 snapshots and every tag and within case', () => {
      // Assess: guards the it.each below against an emptied golden file.
      expect(tagsWithin.snapshots).toHaveLength(103);
      expect(tagsWithin.cases).toHaveLength(9);
      expect(tagsWithin.cases.every((c) => c.expectedKeep.length > 0)).toBe(true);
    });

    it.each(tagsWithin.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      // Act
      const result = applyRetention(tagsWithin.snapshots, c.policy);

      // Assess
      expect(
        result.keep.map((d) => ({ snapshotId: d.snapshotId, time: d.time, reasons: d.reasons })),
      ).toEqual(c.expectedKeep);
      expect(result.decisions).toHaveLength(tagsWithin.snapshots.length);
    });
  });

  describe("golden: restic documentation's 100 years of daily backups", () => {
    const { firstDay, lastDay, timeOfDay } = hundredYears.generate;
    const snapshots: RetentionCandidate[] = [];
    for (
      let ms = Date.parse(`${firstDay}T00:00:00Z`);
      ms <= Date.parse(`${lastDay}T00:00:00Z`);
      ms += 86_400_000
    ) {
      const day = new Date(ms).toISOString().slice(0, 10);
      snapshots.push(snap(day, `${day}T${timeOfDay}`));
    }

    it.each(hundredYears.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      // Act
      const result = applyRetention(snapshots, c.policy);

      // Assess: the keep list, and one rule reason per day, week, month and year the policy asks for.
      expect(snapshots).toHaveLength(36_525);
      expect(result.keep.map((d) => ({ snapshotId: d.snapshotId, reasons: d.reasons }))).toEqual(
        c.expectedKeep,
      );
      const count = (word: string) =>
        result.keep.filter((d) => d.reasons.some((r) => r.startsWith(word))).length;
      expect([count('daily'), count('monthly'), count('yearly')]).toEqual([7, 12, 75]);
      expect(count('weekly')).toBe(5); // within 1m of 2024-12-31T02:00 starts after 2024-12-01T02:00
    });
  });
});

describe('applyRetention: the plan time zone', () => {
  it('buckets days on the wall clock of the zone, not in UTC', () => {
    // Prepare: 22:30Z and 23:30Z on Jan 1 are 23:30 on Jan 1 and 00:30 on Jan 2 in Paris (UTC+1).
    const snapshots = [snap('late', '2024-01-01T22:30:00Z'), snap('later', '2024-01-01T23:30:00Z')];

    // Act
    const utc = applyRetention(snapshots, { keepDaily: 1 });
    const paris = applyRetention(snapshots, { keepDaily: 2, timeZone: 'Europe/Paris' });
    const utcTwo = applyRetention(snapshots, { keepDaily: 2 });

    // Assess
    expect(ids(utc.keep)).toEqual(['later']);
    expect(reasonsOf(paris, 'late')).toEqual(['daily snapshot']);
    expect(reasonsOf(utcTwo, 'late')).toEqual(['oldest daily snapshot']);
  });

  it('starts ISO weeks on Monday 00:00 in the zone', () => {
    // Prepare: 2024-01-07T23:30Z is Sunday in UTC but Monday 2024-01-08 00:30 in Paris.
    const snapshots = [snap('sun', '2024-01-07T12:00:00Z'), snap('edge', '2024-01-07T23:30:00Z')];

    // Act
    const utc = applyRetention(snapshots, { keepWeekly: 2 });
    const paris = applyRetention(snapshots, { keepWeekly: 2, timeZone: 'Europe/Paris' });

    // Assess
    expect(reasonsOf(utc, 'sun')).toEqual(['oldest weekly snapshot']);
    expect(reasonsOf(paris, 'sun')).toEqual(['weekly snapshot']);
  });

  it('puts the repeated hour of a fall-back night in one hourly bucket, like restic on local time', () => {
    // Prepare: New York, 2024-11-03: 01:30 EDT (05:30Z) and 01:30 EST (06:30Z) are both local hour 1.
    const snapshots = [snap('edt', '2024-11-03T05:30:00Z'), snap('est', '2024-11-03T06:30:00Z')];

    // Act
    const ny = applyRetention(snapshots, { keepHourly: 1, timeZone: 'America/New_York' });
    const utc = applyRetention(snapshots, { keepHourly: 1 });

    // Assess
    expect(ids(ny.keep)).toEqual(['est']);
    expect(ids(utc.keep)).toEqual(['est']);
    expect(ids(applyRetention(snapshots, { keepHourly: 2 }).keep)).toEqual(['est', 'edt']);
    expect(ids(applyRetention(snapshots, { keepHourly: 2, timeZone: 'America/New_York' }).keep)).toEqual([
      'est',
      'edt', // kept as the oldest snapshot, the count having 1 left
    ]);
    expect(
      reasonsOf(applyRetention(snapshots, { keepHourly: 2, timeZone: 'America/New_York' }), 'edt'),
    ).toEqual(['oldest hourly snapshot']);
  });

  it('subtracts keepWithin days on the wall clock of the zone across a DST change (1d = 23 hours)', () => {
    // Prepare: Paris springs forward on 2024-03-31; 12:00 CEST (10:00Z) minus 1 day is 12:00 CET (11:00Z) on the 30th.
    const snapshots = [
      snap('newest', '2024-03-31T10:00:00Z'),
      snap('after-cutoff', '2024-03-30T11:00:01Z'),
      snap('23h30-before', '2024-03-30T10:30:00Z'),
      snap('24h-before', '2024-03-30T10:00:00Z'),
    ];

    // Act
    const paris = applyRetention(snapshots, { keepWithin: '1d', timeZone: 'Europe/Paris' });
    const utc = applyRetention(snapshots, { keepWithin: '1d' });

    // Assess
    expect(ids(paris.keep)).toEqual(['newest', 'after-cutoff']);
    expect(ids(utc.keep)).toEqual(['newest', 'after-cutoff', '23h30-before']);
    expect(ids(applyRetention(snapshots, { keepWithin: '25h', timeZone: 'Europe/Paris' }).keep)).toEqual([
      'newest',
      'after-cutoff',
      '23h30-before',
      '24h-before',
    ]);
  });

  it('rejects an unknown time zone', () => {
    // Act
    const error = errorOf(() => applyRetention([], { keepLast: 1, timeZone: 'Mars/Olympus' }));

    // Assess
    expect(error.field).toBe('timeZone');
  });

  it('formats times on the wall clock of the zone, with its offset', () => {
    expect(formatZonedTime('2024-05-01T03:00:00Z', 'Europe/Paris')).toBe('2024-05-01 05:00:00+02:00');
    expect(formatZonedTime('2024-01-15T12:00:00Z', 'America/New_York')).toBe('2024-01-15 07:00:00-05:00');
    expect(formatZonedTime('2024-01-15T12:00:00Z')).toBe('2024-01-15 12:00:00+00:00');
    expect(formatZonedTime('2024-01-15T12:00:00Z', 'Asia/Kolkata')).toBe('2024-01-15 17:30:00+05:30');
  });
});

describe('isEmptyPolicy with the new rules', () => {
  it('counts keepTag and the within-period rules as rules, but not the time zone', () => {
    expect(isEmptyPolicy({ timeZone: 'Europe/Paris', keepTag: [], keepWithinDaily: '0d' })).toBe(true);
    expect(isEmptyPolicy({ keepTag: ['release'] })).toBe(false);
    expect(isEmptyPolicy({ keepWithinMonthly: '1y' })).toBe(false);
    expect(isEmptyPolicy({ keepWithinYearly: 'bad' })).toBe(false);
  });
});

describe('validatePlans: retention', () => {
  const raw = (retention: unknown) => ({
    plans: [{ id: 'photos', source: { bucket: 'photos-src' }, schedule: 'rate(1 hour)', retention }],
  });
  const fieldOf = (retention: unknown): string => {
    try {
      validatePlans(raw(retention), []);
    } catch (error) {
      return `${(error as { field: string }).field}: ${(error as Error).message}`;
    }
    return 'valid';
  };

  it('accepts the new rules, a time zone and a minimum retention', () => {
    // Act
    const [plan] = validatePlans(
      raw({
        keepDaily: 7,
        keepTag: ['release', 'monthly,audited'],
        keepWithinHourly: '1d',
        keepWithinDaily: '7d',
        keepWithinWeekly: '1m',
        keepWithinMonthly: '1y',
        keepWithinYearly: '75y',
        timeZone: 'Europe/Paris',
        minimumRetention: '7d',
      }),
      [],
    );

    // Assess
    expect(plan?.retention).toMatchObject({ timeZone: 'Europe/Paris', minimumRetention: '7d' });
  });

  it.each([
    [{ keepDaily: 7, timeZone: 'Paris' }, /plans\[0\]\.retention\.timeZone: unknown time zone/],
    [{ keepWithinDaily: '1w' }, /retention\.keepWithinDaily: keepWithinDaily: use a duration .*no 'w'/],
    [
      { keepDaily: 7, minimumRetention: 'a week' },
      /retention\.minimumRetention: minimumRetention: use a duration/,
    ],
    [{ keepTag: ['two words'] }, /retention\.keepTag\[0\]: use a tag/],
    [{ timeZone: 'UTC', minimumRetention: '7d' }, /plans\[0\]\.retention: .*set at least one rule/],
    [{ keepTag: [] }, /set at least one rule/],
  ])('explains an invalid retention %j', (retention, expected) => {
    expect(fieldOf(retention)).toMatch(expected);
  });
});
