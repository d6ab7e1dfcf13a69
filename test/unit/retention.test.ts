import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  applyRetention,
  type RetentionCandidate,
  type RetentionResult,
} from '../../shared/domain/retention/apply.ts';
import {
  isEmptyPolicy,
  parseKeepWithin,
  type RetentionPolicy,
  RetentionPolicyError,
} from '../../shared/domain/retention/policy.ts';

interface GoldenKeep {
  snapshotId: string;
  time: string;
  reasons: string[];
}

interface ResticTestdataGolden {
  snapshots: RetentionCandidate[];
  cases: { name: string; crossChecked: string; policy: RetentionPolicy; expectedKeep: GoldenKeep[] }[];
}

interface DocGolden {
  snapshots: RetentionCandidate[];
  policy: RetentionPolicy;
  expectedKeep: GoldenKeep[];
  expectedRemove: string[];
}

function loadGolden<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./golden/retention/${name}`, import.meta.url), 'utf8')) as T;
}

const resticTestdata = loadGolden<ResticTestdataGolden>('restic-testdata.json');
const resticDoc = loadGolden<DocGolden>('restic-doc-forget.json');

function snap(snapshotId: string, time: string): RetentionCandidate {
  return { snapshotId, time };
}

function ids(decisions: RetentionResult['keep']): string[] {
  return decisions.map((d) => d.snapshotId);
}

function reasonsOf(result: RetentionResult, snapshotId: string): string[] | undefined {
  return result.decisions.find((d) => d.snapshotId === snapshotId)?.reasons;
}

describe('applyRetention', () => {
  it('keeps the n newest snapshots for keepLast, whatever the input order', () => {
    // Prepare
    const snapshots = [
      snap('c', '2024-03-03T00:00:00Z'),
      snap('a', '2024-03-01T00:00:00Z'),
      snap('e', '2024-03-05T00:00:00Z'),
      snap('b', '2024-03-02T00:00:00Z'),
      snap('d', '2024-03-04T00:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepLast: 3 });

    // Assess
    expect(ids(result.keep)).toEqual(['e', 'd', 'c']);
    expect(ids(result.remove)).toEqual(['b', 'a']);
    expect(result.keep.every((d) => d.keep && d.reasons.join() === 'last snapshot')).toBe(true);
    expect(result.remove.every((d) => !d.keep && d.reasons.length === 0)).toBe(true);
  });

  it('keeps the newest snapshot of each of the last n days that have a snapshot, skipping days without one', () => {
    // Prepare: no snapshots on Jan 3, 4, 6, 7; two on Jan 8 and on Jan 5.
    const snapshots = [
      snap('jan01', '2024-01-01T10:00:00Z'),
      snap('jan02', '2024-01-02T10:00:00Z'),
      snap('jan05-early', '2024-01-05T01:00:00Z'),
      snap('jan05-late', '2024-01-05T23:59:59Z'),
      snap('jan08-early', '2024-01-08T00:00:00Z'),
      snap('jan08-late', '2024-01-08T18:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepDaily: 3 });

    // Assess
    expect(ids(result.keep)).toEqual(['jan08-late', 'jan05-late', 'jan02']);
    expect(ids(result.remove)).toEqual(['jan08-early', 'jan05-early', 'jan01']);
    expect(reasonsOf(result, 'jan02')).toEqual(['daily snapshot']);
  });

  it('keeps days by their UTC date, whatever offset the time was written with', () => {
    // Prepare: 01:30+02:00 on Jan 2 is 23:30Z on Jan 1, the same UTC day as 'jan01-noon'.
    const snapshots = [
      snap('jan01-noon', '2024-01-01T12:00:00Z'),
      snap('jan01-late-in-utc', '2024-01-02T01:30:00+02:00'),
      snap('jan02', '2024-01-02T00:30:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepDaily: 2, keepLast: 0 });

    // Assess
    expect(ids(result.keep)).toEqual(['jan02', 'jan01-late-in-utc']);
    expect(ids(result.remove)).toEqual(['jan01-noon']);
  });

  it('keeps UTC hour, day and month buckets when the process runs in another time zone', () => {
    // Prepare: Asia/Kolkata is UTC+05:30, so local and UTC buckets disagree for these pairs.
    const previousTz = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    const policy: RetentionPolicy = { keepHourly: 9, keepDaily: 9, keepMonthly: 9 };
    // same UTC hour 10:xx (local 15:40 and 16:10)
    const sameUtcHour = [snap('h-old', '2024-01-10T10:10:00Z'), snap('h-new', '2024-01-10T10:40:00Z')];
    // same UTC day 31 Jan (local 23:30 on 31 Jan and 00:30 on 1 Feb)
    const sameUtcDay = [snap('d-old', '2024-01-31T18:00:00Z'), snap('d-new', '2024-01-31T19:00:00Z')];
    // different UTC hour, day and month (local: both 1 Feb, 05:xx)
    const apartInUtc = [snap('m-old', '2024-01-31T23:45:00Z'), snap('m-new', '2024-02-01T00:15:00Z')];
    try {
      // Act
      const hour = applyRetention(sameUtcHour, policy);
      const day = applyRetention(sameUtcDay, policy);
      const month = applyRetention(apartInUtc, policy);

      // Assess: a second snapshot in the same bucket is only kept as the 'oldest …' one.
      expect(new Date('2024-01-31T23:45:00Z').getDate()).toBe(1); // the zone did take effect
      expect(reasonsOf(hour, 'h-old')).toEqual([
        'oldest hourly snapshot',
        'oldest daily snapshot',
        'oldest monthly snapshot',
      ]);
      expect(reasonsOf(day, 'd-old')).toEqual([
        'hourly snapshot',
        'oldest daily snapshot',
        'oldest monthly snapshot',
      ]);
      expect(reasonsOf(month, 'm-old')).toEqual(['hourly snapshot', 'daily snapshot', 'monthly snapshot']);
    } finally {
      if (previousTz === undefined) delete process.env.TZ;
      else process.env.TZ = previousTz;
    }
  });

  it('keeps ISO weeks (Monday to Sunday, ISO week-year) across a year boundary for keepWeekly', () => {
    // Prepare: 2020-12-31 (Thu) and 2021-01-03 (Sun) both lie in ISO week 2020-W53;
    // 2021-01-04 (Mon) starts 2021-W01; 2020-12-27 (Sun) ends 2020-W52.
    const snapshots = [
      snap('w52-sun', '2020-12-27T12:00:00Z'),
      snap('w53-thu', '2020-12-31T12:00:00Z'),
      snap('w53-sun', '2021-01-03T23:00:00Z'),
      snap('w01-mon', '2021-01-04T00:00:00Z'),
    ];

    // Act
    const two = applyRetention(snapshots, { keepWeekly: 2 });
    const three = applyRetention(snapshots, { keepWeekly: 3 });

    // Assess
    expect(ids(two.keep)).toEqual(['w01-mon', 'w53-sun']);
    expect(ids(two.remove)).toEqual(['w53-thu', 'w52-sun']);
    expect(ids(three.keep)).toEqual(['w01-mon', 'w53-sun', 'w52-sun']);
    expect(reasonsOf(three, 'w52-sun')).toEqual(['weekly snapshot']);
  });

  it('keeps the last days of December in week 1 of the next ISO year for keepWeekly', () => {
    // Prepare: 2024-12-30 (Mon) and 2025-01-01 (Wed) are both ISO week 2025-W01; 2024-12-29 (Sun) is 2024-W52.
    const snapshots = [
      snap('dec29', '2024-12-29T12:00:00Z'),
      snap('dec30', '2024-12-30T12:00:00Z'),
      snap('jan01', '2025-01-01T12:00:00Z'),
      snap('jan06', '2025-01-06T12:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepWeekly: 3 });

    // Assess
    expect(ids(result.keep)).toEqual(['jan06', 'jan01', 'dec29']);
    expect(ids(result.remove)).toEqual(['dec30']);
  });

  it('keeps the newest snapshot of each of the last n months for keepMonthly', () => {
    // Prepare: no snapshot in April.
    const snapshots = [
      snap('feb', '2024-02-29T23:59:59Z'),
      snap('mar-1', '2024-03-01T00:00:00Z'),
      snap('mar-31', '2024-03-31T12:00:00Z'),
      snap('may-1', '2024-05-01T00:00:00Z'),
      snap('may-20', '2024-05-20T00:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepMonthly: 2 });

    // Assess
    expect(ids(result.keep)).toEqual(['may-20', 'mar-31']);
    expect(ids(result.remove)).toEqual(['may-1', 'mar-1', 'feb']);
    expect(reasonsOf(result, 'mar-31')).toEqual(['monthly snapshot']);
  });

  it('keeps the newest snapshot of each of the last n years for keepYearly', () => {
    // Prepare: no snapshot in 2022.
    const snapshots = [
      snap('2020', '2020-06-01T00:00:00Z'),
      snap('2021-a', '2021-01-01T00:00:00Z'),
      snap('2021-b', '2021-12-31T23:59:59Z'),
      snap('2023', '2023-01-01T00:00:00Z'),
      snap('2024', '2024-02-01T00:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepYearly: 3 });

    // Assess
    expect(ids(result.keep)).toEqual(['2024', '2023', '2021-b']);
    expect(ids(result.remove)).toEqual(['2021-a', '2020']);
    expect(reasonsOf(result, '2021-b')).toEqual(['yearly snapshot']);
  });

  it('keeps the newest snapshot of each of the last n hours for keepHourly', () => {
    // Prepare
    const snapshots = [
      snap('h09', '2024-01-01T09:59:59Z'),
      snap('h10-a', '2024-01-01T10:00:00Z'),
      snap('h10-b', '2024-01-01T10:59:59.999Z'),
      snap('h12-a', '2024-01-01T12:05:00Z'),
      snap('h12-b', '2024-01-01T12:45:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepHourly: 2 });

    // Assess
    expect(ids(result.keep)).toEqual(['h12-b', 'h10-b']);
    expect(ids(result.remove)).toEqual(['h12-a', 'h10-a', 'h09']);
    expect(reasonsOf(result, 'h10-b')).toEqual(['hourly snapshot']);
  });

  it('keeps snapshots within keepWithin of the newest snapshot, not of the current time', () => {
    // Prepare: all snapshots are decades old; a window measured from "now" would keep none of them.
    const snapshots = [
      snap('newest', '2001-05-10T12:00:00Z'),
      snap('inside', '2001-05-08T12:00:00.001Z'),
      snap('on-the-cutoff', '2001-05-08T12:00:00Z'),
      snap('outside', '2001-05-01T00:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepWithin: '2d' });

    // Assess: strictly after newest − 2d.
    expect(ids(result.keep)).toEqual(['newest', 'inside']);
    expect(ids(result.remove)).toEqual(['on-the-cutoff', 'outside']);
    expect(reasonsOf(result, 'inside')).toEqual(['within 2d']);
  });

  it('keeps snapshots within keepWithin using calendar month arithmetic (31 March − 1m = 2 March in 2016)', () => {
    // Prepare: 2016-03-31 − 1 month is "2016-02-31", which rolls over to 2016-03-02 (like Go's AddDate).
    const snapshots = [
      snap('newest', '2016-03-31T12:00:00Z'),
      snap('after-cutoff', '2016-03-02T12:00:01Z'),
      snap('at-cutoff', '2016-03-02T12:00:00Z'),
      snap('feb29', '2016-02-29T23:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepWithin: '1m' });

    // Assess
    expect(ids(result.keep)).toEqual(['newest', 'after-cutoff']);
    expect(ids(result.remove)).toEqual(['at-cutoff', 'feb29']);
  });

  it('keeps snapshots within keepWithin subtracting years, months and days first, then hours', () => {
    // Prepare: 2020-03-01T05:00Z − 1y1m1d = 2019-01-31T05:00Z ("2019-02-00"), − 6h = 2019-01-30T23:00Z.
    const snapshots = [
      snap('newest', '2020-03-01T05:00:00Z'),
      snap('just-inside', '2019-01-30T23:00:00.001Z'),
      snap('at-cutoff', '2019-01-30T23:00:00Z'),
    ];

    // Act
    const result = applyRetention(snapshots, { keepWithin: '6h1d1m1y' });

    // Assess: the reason spells the duration in restic's canonical y, m, d, h order.
    expect(ids(result.keep)).toEqual(['newest', 'just-inside']);
    expect(ids(result.remove)).toEqual(['at-cutoff']);
    expect(reasonsOf(result, 'newest')).toEqual(['within 1y1m1d6h']);
  });

  it('keeps snapshots within keepWithin windows that reach back to years 0–99 or beyond any date', () => {
    // Prepare: 2024 − 1950y is the year 74 (not 1974); 999999y reaches before the earliest representable date.
    const snapshots = [snap('newest', '2024-01-01T00:00:00Z'), snap('1960', '1960-01-01T00:00:00Z')];

    // Act
    const to74 = applyRetention(snapshots, { keepWithin: '1950y' });
    const unbounded = applyRetention(snapshots, { keepWithin: '999999y' });

    // Assess
    expect(ids(to74.keep)).toEqual(['newest', '1960']);
    expect(ids(unbounded.keep)).toEqual(['newest', '1960']);
    expect(reasonsOf(unbounded, '1960')).toEqual(['within 999999y']);
  });

  it('keeps every bucket for a count of -1 (unlimited)', () => {
    // Prepare: 40 days with two snapshots each.
    const snapshots: RetentionCandidate[] = [];
    for (let day = 1; day <= 40; day++) {
      const date = new Date(Date.UTC(2024, 0, day)).toISOString().slice(0, 10);
      snapshots.push(snap(`${date}-am`, `${date}T06:00:00Z`), snap(`${date}-pm`, `${date}T18:00:00Z`));
    }

    // Act
    const daily = applyRetention(snapshots, { keepDaily: -1 });
    const last = applyRetention(snapshots, { keepLast: -1 });

    // Assess: every day's newest; the oldest morning too, as restic keeps the oldest snapshot while counts are left.
    expect(ids(daily.keep)).toEqual([
      ...snapshots
        .filter((s) => s.snapshotId.endsWith('-pm'))
        .map((s) => s.snapshotId)
        .reverse(),
      '2024-01-01-am',
    ]);
    expect(reasonsOf(daily, '2024-01-01-am')).toEqual(['oldest daily snapshot']);
    expect(daily.remove).toHaveLength(39);
    expect(last.keep).toHaveLength(80);
    expect(last.remove).toEqual([]);
  });

  it('keeps the oldest snapshot as well when a rule still has count left at the end of the list (restic >= 0.17)', () => {
    // Prepare: both snapshots fall on the same day.
    const snapshots = [snap('morning', '2024-05-01T03:00:00Z'), snap('evening', '2024-05-01T15:00:00Z')];

    // Act
    const countLeft = applyRetention(snapshots, { keepDaily: 7 });
    const countUsedUp = applyRetention(snapshots, { keepDaily: 1 });

    // Assess
    expect(countLeft.decisions.map((d) => [d.snapshotId, d.reasons])).toEqual([
      ['evening', ['daily snapshot']],
      ['morning', ['oldest daily snapshot']],
    ]);
    expect(ids(countUsedUp.keep)).toEqual(['evening']);
    expect(ids(countUsedUp.remove)).toEqual(['morning']);
  });

  it('keeps a snapshot when any rule matches and lists every matching rule as a reason', () => {
    // Prepare
    const snapshots = [
      snap('mon', '2024-01-08T12:00:00Z'),
      snap('sun', '2024-01-07T12:00:00Z'),
      snap('sat', '2024-01-06T12:00:00Z'),
      snap('fri', '2024-01-05T12:00:00Z'),
    ];
    const policy: RetentionPolicy = { keepLast: 1, keepDaily: 2, keepWeekly: 2, keepWithin: '2d' };

    // Act
    const result = applyRetention(snapshots, policy);

    // Assess: restic's reason order: within first, then last, hourly, daily, weekly, monthly, yearly.
    expect(result.decisions.map((d) => [d.snapshotId, d.keep, d.reasons])).toEqual([
      ['mon', true, ['within 2d', 'last snapshot', 'daily snapshot', 'weekly snapshot']],
      ['sun', true, ['within 2d', 'daily snapshot', 'weekly snapshot']],
      ['sat', false, []],
      ['fri', false, []],
    ]);
  });

  it('keeps the same decisions whatever the input order, breaking equal times by ascending snapshotId', () => {
    // Prepare
    const snapshots = [
      snap('b', '2024-01-01T00:00:00Z'),
      snap('c', '2024-01-01T00:00:00Z'),
      snap('a', '2024-01-01T00:00:00Z'),
      snap('z', '2023-12-31T00:00:00Z'),
    ];
    const orders = [snapshots, [...snapshots].reverse(), [...snapshots.slice(2), ...snapshots.slice(0, 2)]];

    // Act
    const results = orders.map((o) => applyRetention(o, { keepLast: 1, keepDaily: 2 }));

    // Assess
    for (const result of results) {
      expect(result.decisions.map((d) => [d.snapshotId, d.reasons])).toEqual([
        ['a', ['last snapshot', 'daily snapshot']],
        ['b', []],
        ['c', []],
        ['z', ['daily snapshot']],
      ]);
    }
  });

  it('keeps every snapshot, with reason "no retention policy", when no rule is set', () => {
    // Prepare
    const snapshots = [snap('old', '2020-01-01T00:00:00Z'), snap('new', '2024-01-01T00:00:00Z')];

    // Act
    const results = [
      applyRetention(snapshots, {}),
      applyRetention(snapshots, { keepLast: 0, keepDaily: 0, keepWithin: '0d' }),
    ];

    // Assess
    for (const result of results) {
      expect(result.decisions).toEqual([
        { snapshotId: 'new', time: '2024-01-01T00:00:00Z', keep: true, reasons: ['no retention policy'] },
        { snapshotId: 'old', time: '2020-01-01T00:00:00Z', keep: true, reasons: ['no retention policy'] },
      ]);
      expect(result.remove).toEqual([]);
    }
  });

  it('keeps nothing and removes nothing for an empty list of snapshots', () => {
    // Act
    const result = applyRetention([], { keepLast: 3, keepWithin: '7d' });

    // Assess
    expect(result).toEqual({ keep: [], remove: [], decisions: [] });
  });

  it('keeps keep and remove a newest-first partition of decisions and leaves the input untouched', () => {
    // Prepare
    const snapshots = Object.freeze([
      Object.freeze(snap('x', '2024-01-02T00:00:00Z')),
      Object.freeze(snap('y', '2024-01-03T00:00:00Z')),
      Object.freeze(snap('w', '2024-01-01T00:00:00Z')),
    ]);

    // Act
    const result = applyRetention(snapshots, { keepLast: 1, keepWithin: '1d12h' });

    // Assess
    expect(ids(result.decisions)).toEqual(['y', 'x', 'w']);
    expect(ids(result.keep)).toEqual(['y', 'x']);
    expect(ids(result.remove)).toEqual(['w']);
    expect(snapshots.map((s) => s.snapshotId)).toEqual(['x', 'y', 'w']);
  });

  it.each<[string, RetentionPolicy, string]>([
    ['a count below -1', { keepDaily: -2 }, 'keepDaily'],
    ['a fractional count', { keepLast: 1.5 }, 'keepLast'],
    ['a NaN count', { keepMonthly: Number.NaN }, 'keepMonthly'],
    ['a bad keepWithin', { keepWithin: '1w' }, 'keepWithin'],
  ])('throws a non-retryable RetentionPolicyError for %s', (_label, policy, field) => {
    // Act
    const act = () => applyRetention([snap('a', '2024-01-01T00:00:00Z')], policy);

    // Assess
    expect(act).toThrow(RetentionPolicyError);
    try {
      act();
    } catch (e) {
      expect(e).toMatchObject({ name: 'RetentionPolicyError', retryable: false, field });
    }
  });

  it.each([
    'yesterday',
    '2024-01-01T00:00:00',
    '2024-01-01',
    'Mon, 01 Jan 2024 00:00:00 GMT',
    '2024-13-01T00:00:00Z',
  ])(
    'throws a RetentionPolicyError naming the snapshot whose time %j is not ISO-8601 with an offset',
    (time) => {
      // Prepare
      const snapshots = [snap('a', '2024-01-01T00:00:00Z'), snap('b', time)];

      // Act
      const act = () => applyRetention(snapshots, { keepLast: 1 });

      // Assess
      expect(act).toThrow(RetentionPolicyError);
      expect(act).toThrow(/^snapshots\[1\]\.time: /);
    },
  );

  describe('golden: restic TestApplyPolicy testdata', () => {
    it('has the 103 snapshots of restic testdata and 17 non-empty cases', () => {
      // Assess: guards the it.each below against an emptied golden file.
      expect(resticTestdata.snapshots).toHaveLength(103);
      expect(resticTestdata.cases).toHaveLength(17);
      expect(resticTestdata.cases.every((c) => c.expectedKeep.length > 0)).toBe(true);
    });

    it.each(resticTestdata.cases.map((c) => [c.name, c] as const))(
      'keeps what restic keeps for %s',
      (_name, c) => {
        // Act
        const result = applyRetention(resticTestdata.snapshots, c.policy);

        // Assess
        expect(result.keep.map(({ snapshotId, time, reasons }) => ({ snapshotId, time, reasons }))).toEqual(
          c.expectedKeep,
        );
        const expectedIds = new Set(c.expectedKeep.map((k) => k.snapshotId));
        expect(ids(result.remove)).toEqual(ids(result.decisions).filter((id) => !expectedIds.has(id)));
        expect(result.decisions).toHaveLength(resticTestdata.snapshots.length);
      },
    );
  });

  it('keeps the last four Sundays for --keep-daily 4, as in restic forget documentation (golden)', () => {
    // Act
    const result = applyRetention(resticDoc.snapshots, resticDoc.policy);

    // Assess
    expect(result.keep.map(({ snapshotId, time, reasons }) => ({ snapshotId, time, reasons }))).toEqual(
      resticDoc.expectedKeep,
    );
    expect(ids(result.remove)).toEqual(resticDoc.expectedRemove);
  });
});

describe('parseKeepWithin', () => {
  it.each<[string, ReturnType<typeof parseKeepWithin>]>([
    ['2y5m7d3h', { years: 2, months: 5, days: 7, hours: 3 }],
    ['7d', { years: 0, months: 0, days: 7, hours: 0 }],
    ['1y1d1m', { years: 1, months: 1, days: 1, hours: 0 }],
    ['  36h ', { years: 0, months: 0, days: 0, hours: 36 }],
    ['0d', { years: 0, months: 0, days: 0, hours: 0 }],
  ])('parses %j', (input, expected) => {
    // Act
    const parsed = parseKeepWithin(input);

    // Assess
    expect(parsed).toEqual(expected);
  });

  it.each(['', '   ', '7', 'd', '7w', '7D', '-1d', '1.5d', '1d1d', '7 d', '1d2', 'd7'])(
    'throws a non-retryable RetentionPolicyError for %j',
    (input) => {
      // Act
      const act = () => parseKeepWithin(input);

      // Assess
      expect(act).toThrow(RetentionPolicyError);
      try {
        act();
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect(e).toMatchObject({ name: 'RetentionPolicyError', retryable: false, field: 'keepWithin' });
      }
    },
  );
});

describe('isEmptyPolicy', () => {
  it.each<[RetentionPolicy, boolean]>([
    [{}, true],
    [{ keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 }, true],
    [{ keepWithin: '0y0d' }, true],
    [{ keepLast: 1 }, false],
    [{ keepYearly: -1 }, false],
    [{ keepWithin: '1h' }, false],
    [{ keepWithin: 'garbage' }, false],
  ])('says %j is empty: %s', (policy, expected) => {
    // Act
    const empty = isEmptyPolicy(policy);

    // Assess
    expect(empty).toBe(expected);
  });
});
