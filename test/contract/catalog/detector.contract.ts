/** The DetectorCatalog contract: per-minute change counts added atomically, findings recorded once. */
import { describe, expect, it } from 'vitest';
import type { AnomalyFinding } from '#domain/detector/model.ts';
import type { DetectorCatalog, JournalCatalog } from '#domain/ports.ts';
import type { KnownDivergences } from '../divergences.ts';
import { journalEntry } from './fixtures.ts';

const expiresAt = '2026-12-08T03:41:00.000Z';

/** One finding of plan photos, the contract's fixture. */
const finding: AnomalyFinding = {
  planId: 'photos',
  kind: 'encryptedOverwrites',
  firstSeenAt: '2026-12-06T03:41:00.000Z',
  lastSeenAt: '2026-12-06T03:41:30.000Z',
  count: 60,
  peakPerMinute: 60,
  baseline: 0.5,
  threshold: 50,
  windowMinutes: 5,
};

export function detectorCatalogContract(
  name: string,
  make: () => Promise<DetectorCatalog & JournalCatalog>,
  _known?: KnownDivergences,
): void {
  describe(`DetectorCatalog contract: ${name}`, () => {
    it('adds counts to a minute, concurrently, and lists the minutes of a range in order, per plan', async () => {
      const c = await make();
      await Promise.all(
        Array.from({ length: 20 }, () =>
          c.addChangeCounts('photos', '2026-12-06T03:41', { created: 1, overwrites: 1 }, expiresAt),
        ),
      );
      await c.addChangeCounts(
        'photos',
        '2026-12-06T03:41',
        { incompressibleOverwrites: 3, removals: 0 },
        expiresAt,
      );
      await c.addChangeCounts('photos', '2026-12-06T03:39', { removals: 2 }, expiresAt);
      await c.addChangeCounts('photos', '2026-12-06T03:45', { removals: 9 }, expiresAt);
      await c.addChangeCounts('docs', '2026-12-06T03:40', { created: 5 }, expiresAt);
      await c.addChangeCounts('photos', '2026-12-06T03:40', {}, expiresAt); // nothing to add: no item
      expect(
        await c.listChangeCounts('photos', { from: '2026-12-06T03:39', to: '2026-12-06T03:44' }),
      ).toEqual([
        { planId: 'photos', minute: '2026-12-06T03:39', removals: 2 },
        {
          planId: 'photos',
          minute: '2026-12-06T03:41',
          created: 20,
          overwrites: 20,
          incompressibleOverwrites: 3,
        },
      ]);
      expect(await c.listChangeCounts('nope', { from: '2026-12-06T03:00', to: '2026-12-06T04:00' })).toEqual(
        [],
      );
    });

    it("tells a key's newest journal entry before a sequencer, past a long blob list's overflow items", async () => {
      const c = await make();
      const kms = (k: string) => `aws:kms:arn:aws:kms:us-east-1:111122223333:key/${k}`;
      await c.appendJournal(journalEntry({ key: 'hot.bin', sequencer: '01', encryption: kms('a') }));
      // 7,000 blob ids do not fit one DynamoDB item: the DynamoDB catalog moves them to overflow items.
      const blobs = Array.from({ length: 7000 }, (_, i) => i.toString(16).padStart(64, '0'));
      await c.appendJournal(journalEntry({ key: 'hot.bin', sequencer: '02', encryption: kms('b'), blobs }));
      await c.appendJournal(
        journalEntry({
          key: 'hot.bin',
          sequencer: '0a',
          event: 'removed',
          outcome: 'removed',
          blobs: undefined,
        }),
      );
      await c.appendJournal(journalEntry({ key: 'hot.bin', sequencer: '0B' }));
      await c.appendJournal(journalEntry({ key: 'other.bin', sequencer: '0c' }));
      expect(await c.latestJournalEntryBefore('photos', 'hot.bin')).toEqual({
        outcome: 'captured',
        sequencer: '0B',
      });
      expect(await c.latestJournalEntryBefore('photos', 'hot.bin', '0b')).toEqual({
        outcome: 'removed',
        sequencer: '0a',
      });
      expect(await c.latestJournalEntryBefore('photos', 'hot.bin', '0A')).toEqual({
        outcome: 'captured',
        sequencer: '02',
        encryption: kms('b'),
      });
      expect(await c.latestJournalEntryBefore('photos', 'hot.bin', '1')).toBeUndefined();
      expect(await c.latestJournalEntryBefore('photos', 'nothing')).toBeUndefined();
      expect(await c.latestJournalEntryBefore('docs', 'hot.bin')).toBeUndefined();
    });

    it('records a finding once per plan, kind and first minute, raises its count, and lists findings oldest first', async () => {
      const c = await make();
      const f: AnomalyFinding = finding;
      const first = await Promise.all([c.recordFinding(f), c.recordFinding(f), c.recordFinding(f)]);
      expect(first.sort()).toEqual(['created', 'unchanged', 'unchanged']);
      const later = {
        ...f,
        lastSeenAt: '2026-12-06T03:42:10.000Z',
        count: 412,
        peakPerMinute: 352,
        baseline: 9,
      };
      expect(await c.recordFinding(later)).toBe('raised');
      expect(await c.recordFinding({ ...later, count: 400 })).toBe('unchanged');
      const removals = {
        ...f,
        kind: 'removals' as const,
        firstSeenAt: '2026-12-06T03:40:00.000Z',
        count: 1200,
      };
      expect(await c.recordFinding(removals)).toBe('created');
      expect(await c.recordFinding({ ...f, planId: 'docs', prefix: 'finance/' })).toBe('created');
      expect(await c.listFindings('docs')).toEqual([{ ...f, planId: 'docs', prefix: 'finance/' }]);
      // The first write's baseline and threshold stay; count, peak and lastSeenAt follow the raise.
      expect(await c.listFindings('photos')).toEqual([
        removals,
        { ...f, lastSeenAt: later.lastSeenAt, count: 412, peakPerMinute: 352 },
      ]);
    });

    it('keeps a prefix’s counts apart from the plan’s, listed after them within a minute, the last minute too', async () => {
      const c = await make();
      await c.addChangeCounts('photos', '2026-12-06T03:44', { created: 3 }, expiresAt);
      await c.addChangeCounts('photos', '2026-12-06T03:44', { created: 2 }, expiresAt, 'docs/');
      await c.addChangeCounts('photos', '2026-12-06T03:44', { created: 1 }, expiresAt, 'a b/é/');
      await c.addChangeCounts('photos', '2026-12-06T03:45', { created: 9 }, expiresAt, 'docs/');
      expect(
        await c.listChangeCounts('photos', { from: '2026-12-06T03:40', to: '2026-12-06T03:44' }),
      ).toEqual([
        { planId: 'photos', minute: '2026-12-06T03:44', created: 3 },
        { planId: 'photos', minute: '2026-12-06T03:44', prefix: 'a b/é/', created: 1 },
        { planId: 'photos', minute: '2026-12-06T03:44', prefix: 'docs/', created: 2 },
      ]);
    });

    it('records a prefix’s own finding apart from the plan’s finding of the same kind and minute', async () => {
      const c = await make();
      const base: AnomalyFinding = { ...finding, baseline: 0 };
      expect(await c.recordFinding(base)).toBe('created');
      expect(await c.recordFinding({ ...base, prefix: 'docs/', perPrefix: true })).toBe('created');
      expect(await c.recordFinding({ ...base, prefix: 'docs/', perPrefix: true })).toBe('unchanged');
      expect((await c.listFindings('photos')).map((f) => f.prefix ?? '-')).toEqual(['-', 'docs/']);
    });

    it('keeps what the settings watch last saw of a plan, replaced whole, per plan', async () => {
      const c = await make();
      expect(await c.getSourceSettings('photos')).toBeUndefined();
      const first = {
        planId: 'photos',
        bucket: 'photos-bucket',
        fingerprints: { lifecycle: 'none', policy: 'a'.repeat(64) },
        seenAt: '2026-12-06T03:41:00.000Z',
      };
      await c.putSourceSettings(first);
      expect(await c.getSourceSettings('photos')).toEqual(first);
      const second = {
        ...first,
        fingerprints: { lifecycle: 'b'.repeat(64) },
        seenAt: '2026-12-06T03:42:00.000Z',
      };
      await c.putSourceSettings(second);
      expect(await c.getSourceSettings('photos')).toEqual(second);
      expect(await c.getSourceSettings('docs')).toBeUndefined();
    });
  });
}
