import { describe, expect, it } from 'vitest';
import { ValidationError } from '#domain/errors.ts';
import {
  compareSequencers,
  journalEntryHash,
  latestByKey,
  sequencerSortKey,
  supersededBy,
} from '#domain/journal.ts';
import type { JournalEntry } from '#domain/records.ts';

const entry = (
  key: string,
  sequencer: string,
  outcome: JournalEntry['outcome'] = 'captured',
): JournalEntry => ({
  planId: 'photos',
  bucket: 'src',
  key,
  event: outcome === 'removed' ? 'removed' : 'created',
  eventTime: '2026-03-01T00:00:00.000Z',
  sequencer,
  capturedAt: '2026-03-01T00:00:01.000Z',
  outcome,
});

describe('compareSequencers', () => {
  it.each([
    ['0055AED6DCD90281E5', '0055AED6DCD90281E6', -1],
    ['0055AED6DCD90281E5', '0055AED6DCD90281E5', 0],
    // different lengths: left-pad the shorter with zeros, then compare (S3's rule)
    ['FF', '0100', -1],
    ['100', 'FF', 1],
    ['00A', 'A', 0],
    // hex, so case does not matter
    ['ab', 'AC', -1],
  ])('compares %s with %s as %i', (a, b, sign) => {
    expect(Math.sign(compareSequencers(a, b))).toBe(sign);
  });

  it('refuses a sequencer that is not hex', () => {
    expect(() => compareSequencers('0x12', '12')).toThrow(ValidationError);
    expect(() => sequencerSortKey('')).toThrow(ValidationError);
    expect(() => sequencerSortKey('1'.repeat(65))).toThrow(ValidationError);
  });

  it('gives fixed-width sort keys whose string order is S3 order', () => {
    const keys = ['FF', '0100', '1', 'a0'].map(sequencerSortKey);
    expect(keys.every((k) => k.length === 64)).toBe(true);
    expect([...keys].sort()).toEqual(['1', 'a0', 'FF', '0100'].map(sequencerSortKey));
  });
});

describe('latestByKey', () => {
  it('keeps, per key, the entry with the greatest sequencer whatever the arrival order', () => {
    const latest = latestByKey([
      entry('a', '0B'),
      entry('b', '01'),
      entry('a', '00C', 'removed'),
      entry('a', 'A'),
      entry('b', '01', 'lost-before-capture'), // a duplicate: the first given wins
    ]);
    expect([...latest.keys()]).toEqual(['a', 'b']);
    expect(latest.get('a')).toMatchObject({ sequencer: '00C', outcome: 'removed' });
    expect(latest.get('b')).toMatchObject({ sequencer: '01', outcome: 'captured' });
  });

  it('is empty for no entries', () => {
    expect(latestByKey([]).size).toBe(0);
  });
});

describe('journalEntryHash', () => {
  it('identifies an entry by bucket, key and sequencer', () => {
    const a = entry('k', '01');
    expect(journalEntryHash(a)).toMatch(/^[0-9a-f]{64}$/);
    const later: JournalEntry = { ...a, capturedAt: '2026-03-02T00:00:00.000Z' };
    expect(journalEntryHash(later)).toBe(journalEntryHash(a));
    expect(journalEntryHash({ ...a, bucket: 'other' })).not.toBe(journalEntryHash(a));
    expect(journalEntryHash({ ...a, sequencer: '02' })).not.toBe(journalEntryHash(a));
  });
});

describe('supersededBy', () => {
  const horizon = '2026-03-01T00:00:05.000Z';
  it('names an entry of the key with a greater sequencer captured by the horizon', () => {
    const late = { ...entry('k', '0A'), capturedAt: '2026-03-01T00:00:09.000Z' };
    const held = entry('k', '0B');
    expect(supersededBy(late, [late, held], horizon)).toBe(held);
  });

  it('ignores earlier sequencers, other keys and entries captured after the horizon', () => {
    const change = entry('k', '0B');
    const history = [
      entry('k', '0A'),
      entry('other', 'FF'),
      { ...entry('k', '0C'), capturedAt: '2026-03-01T00:00:05.001Z' },
    ];
    expect(supersededBy(change, history, horizon)).toBeUndefined();
  });
});
