// The state of a source at a point in time, key by key: the base snapshot's entries with each key's
// latest journaled change between the base and T applied. Pure: no vault, no catalog.
import { describe, expect, it } from 'vitest';
import { applyChanges, changesAt, entriesAt, manifestEntryOfJournal } from '#domain/point-in-time.ts';
import type { JournalEntry } from '#domain/records.ts';
import { pointInTimeChanges } from '#domain/restore/point-in-time.ts';
import type { ManifestEntry } from '#domain/vault.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';

const BASE_TIME = '2026-03-01T10:00:00.000Z';
const T = '2026-03-01T10:30:00.000Z';
const window = { baseTime: BASE_TIME, at: T };

function base(key: string, content = `base ${key}`): ManifestEntry {
  return {
    key,
    sizeBytes: content.length,
    etag: `etag-${content}`,
    lastModified: '2026-03-01T09:00:00.000Z',
    blobs: [`blob-${content}`],
  };
}

/** A journal entry at `minute` past 10:00 (negative: before). */
function journal(
  key: string,
  minute: number,
  sequencer: string,
  outcome: JournalEntry['outcome'] = 'captured',
  content = `${key}@${minute}`,
): JournalEntry {
  const eventTime = new Date(Date.parse(BASE_TIME) + minute * 60_000).toISOString();
  return {
    planId: 'photos',
    bucket: 'source',
    key,
    event: outcome === 'removed' ? 'removed' : 'created',
    eventTime,
    sequencer,
    capturedAt: new Date(Date.parse(eventTime) + 2000).toISOString(),
    outcome,
    ...(outcome === 'captured'
      ? {
          sizeBytes: content.length,
          etag: `etag-${content}`,
          lastModified: eventTime,
          contentType: 'text/plain',
          metadata: { origin: 'test' },
          blobs: [`blob-${content}`],
        }
      : {}),
    ...(outcome === 'lost-before-capture' ? { reason: 'gone before it was read' } : {}),
  };
}

const keysOf = (entries: readonly ManifestEntry[]) => entries.map((e) => e.key);
const blobOf = (entries: readonly ManifestEntry[], key: string) =>
  entries.find((e) => e.key === key)?.blobs[0];

describe('entriesAt', () => {
  const snapshot = [base('a'), base('b'), base('c')];

  it('is the base snapshot exactly when the journal is empty', () => {
    const at = entriesAt(snapshot, [], window);
    expect(at.entries).toEqual(snapshot);
    expect(at.changed).toBe(0);
    expect(at.warnings).toEqual([]);
  });

  it("takes a captured change's content: blobs, size, ETag, content type and metadata", () => {
    const at = entriesAt(snapshot, [journal('b', 10, '0A')], window);
    expect(at.entries[1]).toEqual({
      key: 'b',
      sizeBytes: 'b@10'.length,
      etag: 'etag-b@10',
      lastModified: '2026-03-01T10:10:00.000Z',
      contentType: 'text/plain',
      metadata: { origin: 'test' },
      blobs: ['blob-b@10'],
    });
    expect(at.entries[0]).toEqual(snapshot[0]);
    expect(at.changed).toBe(1);
  });

  it('leaves out a key removed before T', () => {
    const at = entriesAt(snapshot, [journal('a', 5, '0A', 'removed')], window);
    expect(keysOf(at.entries)).toEqual(['b', 'c']);
  });

  it('adds keys created after the base and captured, in key order', () => {
    const at = entriesAt(
      snapshot,
      [journal('bb', 3, '01'), journal('0', 4, '01'), journal('z', 5, '01')],
      window,
    );
    expect(keysOf(at.entries)).toEqual(['0', 'a', 'b', 'bb', 'c', 'z']);
  });

  it('orders by sequencer, not by arrival or event time', () => {
    // Arrived newest first; the greatest sequencer is the latest change.
    const arrived = [journal('a', 20, '0C'), journal('a', 10, '0A'), journal('a', 15, '0B')];
    expect(blobOf(entriesAt(snapshot, arrived, window).entries, 'a')).toBe('blob-a@20');
    // Sequencers of different lengths compare as hex numbers.
    const widths = [journal('a', 10, '0000FF'), journal('a', 11, '100')];
    expect(blobOf(entriesAt(snapshot, widths, window).entries, 'a')).toBe('blob-a@11');
  });

  it('counts a duplicated entry once', () => {
    const twice = [
      journal('a', 10, '0A'),
      journal('a', 10, '0A'),
      journal('new', 12, '01'),
      journal('new', 12, '01'),
    ];
    const at = entriesAt(snapshot, twice, window);
    expect(keysOf(at.entries)).toEqual(['a', 'b', 'c', 'new']);
    expect(at.changed).toBe(2);
  });

  it('restores a key deleted then created again as its new content', () => {
    const history = [journal('b', 5, '01', 'removed'), journal('b', 8, '02', 'captured', 'b again')];
    const at = entriesAt(snapshot, history, window);
    expect(blobOf(at.entries, 'b')).toBe('blob-b again');
    // At a time between the delete and the new upload it is absent.
    expect(keysOf(entriesAt(snapshot, history, { ...window, at: '2026-03-01T10:06:00Z' }).entries)).toEqual([
      'a',
      'c',
    ]);
  });

  it('treats a key created then deleted after the base as absent', () => {
    const history = [journal('tmp', 5, '01'), journal('tmp', 6, '02', 'removed')];
    expect(keysOf(entriesAt(snapshot, history, window).entries)).toEqual(['a', 'b', 'c']);
  });

  it('ignores changes after T', () => {
    const later = [journal('a', 31, '0A'), journal('b', 45, '0B', 'removed'), journal('x', 40, '01')];
    expect(entriesAt(snapshot, later, window).entries).toEqual(snapshot);
    // The change at T itself counts.
    expect(blobOf(entriesAt(snapshot, [journal('a', 30, '0A')], window).entries, 'a')).toBe('blob-a@30');
  });

  it('takes the latest change at or before T when later ones exist', () => {
    const history = [journal('a', 10, '0A'), journal('a', 40, '0B', 'captured', 'after T')];
    expect(blobOf(entriesAt(snapshot, history, window).entries, 'a')).toBe('blob-a@10');
  });

  it('ignores changes at or before the base snapshot (the snapshot holds them)', () => {
    const earlier = [journal('a', -5, '0A', 'removed'), journal('b', 0, '0B'), journal('old', -1, '01')];
    expect(entriesAt(snapshot, earlier, window).entries).toEqual(snapshot);
  });

  it("keeps the base's entry for a change lost before capture, and warns", () => {
    const history = [
      journal('a', 5, '0A'),
      journal('a', 9, '0B', 'lost-before-capture'),
      journal('n', 7, '01', 'lost-before-capture'),
    ];
    const at = entriesAt(snapshot, history, window, '20260301T100000Z');
    expect(at.entries).toEqual(snapshot);
    expect(at.changed).toBe(0);
    expect(at.warnings).toEqual([
      "'a' changed at 2026-03-01T10:09:00.000Z but the change was lost before capture (gone before it was read): restoring snapshot 20260301T100000Z's state of it",
      "'n' changed at 2026-03-01T10:07:00.000Z but the change was lost before capture (gone before it was read): restoring snapshot 20260301T100000Z's state of it",
    ]);
  });

  it('uses a change captured after a lost one', () => {
    const history = [journal('a', 5, '0A', 'lost-before-capture'), journal('a', 9, '0B')];
    const at = entriesAt(snapshot, history, window);
    expect(blobOf(at.entries, 'a')).toBe('blob-a@9');
    expect(at.warnings).toEqual([]);
  });

  it('leaves out entries captured after the capture horizon', () => {
    const late = { ...journal('a', 10, '0A'), capturedAt: '2026-03-01T11:00:00.000Z' };
    expect(
      entriesAt(snapshot, [late], { ...window, capturedUntil: '2026-03-01T10:59:59.999Z' }).entries,
    ).toEqual(snapshot);
    expect(
      blobOf(entriesAt(snapshot, [late], { ...window, capturedUntil: late.capturedAt }).entries, 'a'),
    ).toBe('blob-a@10');
  });

  it('counts a change before the base captured after its journal horizon (not in the base)', () => {
    // An upload at 09:59:59, captured at 10:00:01: a base whose horizon is 10:00:00 does not hold it.
    const late = {
      ...journal('a', 0, '0A'),
      eventTime: '2026-03-01T09:59:59.000Z',
      capturedAt: '2026-03-01T10:00:01.000Z',
    };
    expect(entriesAt(snapshot, [late], window).entries).toEqual(snapshot);
    const withHorizon = { ...window, baseJournalUntil: BASE_TIME };
    expect(blobOf(entriesAt(snapshot, [late], withHorizon).entries, 'a')).toBe('blob-a@0');
    // Captured by the horizon: in the base already.
    const early = { ...late, capturedAt: '2026-03-01T09:59:59.500Z' };
    expect(entriesAt(snapshot, [early], withHorizon).entries).toEqual(snapshot);
  });

  it('never rolls a key back: a late capture of an older change loses to a newer one the base holds', () => {
    // Two writes in the same second: the newer (0B) captured before the base's horizon (the base
    // holds it), the older (0A) captured after it.
    const newer = {
      ...journal('a', 0, '0B'),
      eventTime: '2026-03-01T09:59:59.700Z',
      capturedAt: '2026-03-01T09:59:59.900Z',
    };
    const older = {
      ...journal('a', 0, '0A', 'captured', 'older'),
      eventTime: '2026-03-01T09:59:59.200Z',
      capturedAt: '2026-03-01T10:00:05.000Z',
    };
    const withHorizon = { ...window, baseJournalUntil: BASE_TIME };
    const based = [base('a', 'a@0'), base('b'), base('c')];
    expect(entriesAt(based, [newer, older], withHorizon).entries).toEqual(based);
    expect(entriesAt(based, [older, newer], withHorizon).entries).toEqual(based);
    // A change after both, since the base, still counts.
    const after = journal('a', 5, '0C', 'removed');
    expect(keysOf(entriesAt(based, [older, after, newer], withHorizon).entries)).toEqual(['b', 'c']);
  });

  it('compares times as instants, whatever their offset', () => {
    const at = entriesAt(snapshot, [journal('a', 10, '0A')], {
      baseTime: '2026-03-01T11:00:00+01:00',
      at: '2026-03-01T11:15:00+01:00',
    });
    expect(blobOf(at.entries, 'a')).toBe('blob-a@10');
  });
});

describe('changesAt and applyChanges', () => {
  it('gives one change per key in UTF-8 binary key order', () => {
    const changes = changesAt(
      [journal('é', 1, '01'), journal('z', 2, '01'), journal('A', 3, '01', 'removed')],
      window,
    );
    expect(changes.map((c) => [c.key, c.state])).toEqual([
      ['A', 'absent'],
      ['z', 'present'],
      ['é', 'present'],
    ]);
  });

  it('counts a captured entry without content as lost', () => {
    const { blobs: _, ...bare } = journal('a', 1, '01');
    expect(manifestEntryOfJournal(bare)).toBeUndefined();
    expect(changesAt([bare], window).map((c) => c.state)).toEqual(['lost']);
  });

  it('merges changes into base entries lazily, in key order', () => {
    const changes = changesAt([journal('a', 1, '01', 'removed'), journal('d', 1, '01')], window);
    expect(keysOf([...applyChanges([base('a'), base('c')], changes)])).toEqual(['c', 'd']);
    expect(keysOf([...applyChanges([], changes)])).toEqual(['d']);
  });
});

describe('pointInTimeChanges', () => {
  it('decides a late capture on its key’s whole history, even entries captured long before the base', async () => {
    // Prepare: the newer write (0B) was captured 20 minutes before the base (which holds it); the
    // older one (0A), in the same second, only after the base's horizon
    const catalog = new MemoryCatalog();
    const newer = {
      ...journal('a', -20, '0B'),
      eventTime: '2026-03-01T09:40:00.700Z',
      capturedAt: '2026-03-01T09:40:01.000Z',
    };
    const older = {
      ...journal('a', -20, '0A', 'captured', 'older'),
      eventTime: '2026-03-01T09:40:00.200Z',
      capturedAt: '2026-03-01T10:20:00.000Z',
    };
    for (const entry of [newer, older, journal('b', 10, '01')]) await catalog.appendJournal(entry);
    // Act
    const changes = await pointInTimeChanges(
      { catalog },
      'photos',
      { pointInTime: T },
      { time: BASE_TIME, journalUntil: BASE_TIME },
      T,
    );
    // Assess: 'a' stays as the base holds it; 'b' changed since
    expect(changes.map((c) => `${c.key} ${c.journal.sequencer}`)).toEqual(['b 01']);
  });
});
