/** The JournalCatalog contract: what capture did with each S3 event, per plan. @see docs/format.md#journal */
import { describe, expect, it } from 'vitest';
import { isRetryable, ValidationError } from '#domain/errors.ts';
import type { JournalCatalog } from '#domain/ports.ts';
import type { JournalEntry } from '#domain/records.ts';
import type { KnownDivergences } from '../divergences.ts';
import { hex, journalEntry, tooLarge } from './fixtures.ts';

export function journalCatalogContract(
  name: string,
  make: () => Promise<JournalCatalog>,
  _known?: KnownDivergences,
): void {
  describe(`JournalCatalog contract: ${name}`, () => {
    it('journals a change once per plan, bucket, key and sequencer', async () => {
      const c = await make();
      const entry = journalEntry({ key: 'a b.txt', sequencer: '01' });
      expect(await c.appendJournal(entry)).toBe(true);
      expect(await c.appendJournal({ ...entry, capturedAt: '2026-01-01T00:00:09.000Z' })).toBe(false);
      expect(await c.appendJournal({ ...entry, sequencer: '02' })).toBe(true);
      expect(await c.appendJournal({ ...entry, bucket: 'other' })).toBe(true);
      expect(await c.appendJournal({ ...entry, planId: 'docs' })).toBe(true);
      expect(await c.listJournal('photos')).toHaveLength(3);
      expect(await c.listJournal('docs')).toHaveLength(1);
    });

    it('journals one of several deliveries of one event appended at the same time', async () => {
      const c = await make();
      const deliveries = [1, 2, 3, 4].map((s) => journalEntry({ capturedAt: `2026-01-01T00:00:0${s}.000Z` }));
      const appended = await Promise.all(deliveries.map((e) => c.appendJournal(e)));
      expect(appended.filter(Boolean)).toHaveLength(1);
      const winner = deliveries[appended.indexOf(true)];
      expect(await c.listJournal('photos')).toEqual([winner]);
      expect(await c.listJournalForKey('photos', 'a.txt')).toEqual([winner]);
    });

    it('keeps every field of a journal entry', async () => {
      const c = await make();
      const captured = journalEntry({
        key: 'big/\u00fcber file.bin',
        sizeBytes: 20_000_000,
        etag: '9b2cf535f27731c974343645a3985328-3',
        versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko',
        lastModified: '2026-01-01T00:00:00.000Z',
        contentType: 'application/octet-stream',
        metadata: { origin: 'camera' },
        blobs: ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)],
        contentSha256: 'd'.repeat(64),
      });
      const lost = journalEntry({
        key: 'gone.txt',
        sequencer: '0A',
        outcome: 'lost-before-capture',
        sizeBytes: 3,
        etag: 'e'.repeat(32),
        reason: 'overwritten before capture',
      });
      const removed = journalEntry({
        key: 'gone.txt',
        sequencer: '0B',
        event: 'removed',
        outcome: 'removed',
      });
      for (const e of [captured, lost, removed]) await c.appendJournal(e);
      expect(await c.listJournalForKey('photos', captured.key)).toEqual([captured]);
      expect(await c.listJournalForKey('photos', 'gone.txt')).toEqual([lost, removed]);
    });

    it("lists a plan's journal by capture time, within (capturedAfter, capturedUntil]", async () => {
      const c = await make();
      const at = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
      for (const [i, s] of [3, 1, 2, 1].entries()) {
        await c.appendJournal(journalEntry({ key: `k${i}`, sequencer: `0${i + 1}`, capturedAt: at(s) }));
      }
      const keysOf = (entries: JournalEntry[]) => entries.map((e) => e.key);
      const all = await c.listJournal('photos');
      expect(all.map((e) => e.capturedAt)).toEqual([at(1), at(1), at(2), at(3)]);
      expect(keysOf(all).slice(2)).toEqual(['k2', 'k0']);
      expect(keysOf(await c.listJournal('photos', { capturedAfter: at(1) }))).toEqual(['k2', 'k0']);
      expect(keysOf(await c.listJournal('photos', { capturedUntil: at(2) })).sort()).toEqual([
        'k1',
        'k2',
        'k3',
      ]);
      expect(keysOf(await c.listJournal('photos', { capturedAfter: at(1), capturedUntil: at(2) }))).toEqual([
        'k2',
      ]);
      expect(await c.listJournal('photos', { capturedAfter: at(3) })).toEqual([]);
      expect(await c.listJournal('photos', { capturedAfter: at(2), capturedUntil: at(1) })).toEqual([]);
      expect(await c.listJournal('nobody')).toEqual([]);
    });

    it('lists entries captured at the same instant in the same order every time', async () => {
      const c = await make();
      const same = '2026-01-01T00:00:01.000Z';
      for (const [i, key] of ['z', 'a', 'm', 'b', 'y'].entries()) {
        await c.appendJournal(journalEntry({ key, sequencer: `0${i + 1}`, capturedAt: same }));
      }
      const first = (await c.listJournal('photos')).map((e) => e.key);
      expect(first.sort()).toEqual(['a', 'b', 'm', 'y', 'z']);
      const again = (await c.listJournal('photos')).map((e) => e.key);
      const windowed = (await c.listJournal('photos', { capturedUntil: same })).map((e) => e.key);
      expect(again).toEqual(windowed);
    });

    it('reads a capture-time window given in another ISO-8601 form as the same instant', async () => {
      const c = await make();
      await c.appendJournal(journalEntry({ key: 'k', capturedAt: '2026-01-01T00:00:01.000Z' }));
      expect(await c.listJournal('photos', { capturedAfter: '2026-01-01T00:00:00Z' })).toHaveLength(1);
      expect(await c.listJournal('photos', { capturedUntil: '2026-01-01T01:00:01+01:00' })).toHaveLength(1);
      expect(await c.listJournal('photos', { capturedAfter: '2026-01-01T00:00:01Z' })).toEqual([]);
    });

    it("lists one key's entries by sequencer, as S3 compares them, whatever the arrival order", async () => {
      const c = await make();
      // S3: left-pad the shorter with zeros, then compare; arrival order does not count.
      for (const sequencer of [
        '00FF',
        '1',
        'a0',
        '0000000000000000000000000000000000000000000000000000000000000002',
      ]) {
        await c.appendJournal(journalEntry({ key: 'same', sequencer }));
      }
      await c.appendJournal(journalEntry({ key: 'other', sequencer: '0' }));
      expect((await c.listJournalForKey('photos', 'same')).map((e) => e.sequencer)).toEqual([
        '1',
        '0000000000000000000000000000000000000000000000000000000000000002',
        'a0',
        '00FF',
      ]);
      expect(await c.listJournalForKey('photos', 'nothing')).toEqual([]);
    });

    it('refuses, for good, a sequencer that is not hex, and journals nothing', async () => {
      const c = await make();
      const error = await c.appendJournal(journalEntry({ sequencer: 'not-hex' })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(isRetryable(error)).toBe(false);
      expect(await c.listJournal('photos')).toEqual([]);
    });

    it('lists only a key range of the journal, exactly, in key order, within a capture window', async () => {
      const c = await make();
      const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
      const long = (tail: string) => `${'l'.repeat(600)}${tail}`; // past the 430 bytes the index orders by
      const keys = ['a', 'a!', 'a#', 'a/b', 'ab', 'b', 'é', '😀', long('1'), long('2'), long('3')];
      let n = 0;
      for (const key of keys) {
        n += 1;
        expect(await c.appendJournal(journalEntry({ key, sequencer: `0${n}`, capturedAt: at(n) }))).toBe(
          true,
        );
      }
      await c.appendJournal(journalEntry({ key: 'a!', sequencer: '99', capturedAt: at(30) }));
      await c.appendJournal(journalEntry({ planId: 'docs', key: 'a!', capturedAt: at(1) }));
      const list = async (after?: string, upTo?: string, window = {}) =>
        (
          await c.listJournalInRange(
            'photos',
            { ...(after ? { after } : {}), ...(upTo ? { upTo } : {}) },
            window,
          )
        ).map((e) => `${e.key.length > 500 ? `long${e.key.at(-1)}` : e.key}@${e.capturedAt.slice(17, 19)}`);
      expect(await list()).toEqual([
        'a@01',
        'a!@02',
        'a!@30',
        'a#@03',
        'a/b@04',
        'ab@05',
        'b@06',
        'long1@09',
        'long2@10',
        'long3@11',
        'é@07',
        '😀@08',
      ]);
      expect(await list('a', 'a/b')).toEqual(['a!@02', 'a!@30', 'a#@03', 'a/b@04']);
      expect(await list('a!', 'ab', { capturedAfter: at(3) })).toEqual(['a/b@04', 'ab@05']);
      expect(await list(long('1'), long('2'))).toEqual(['long2@10']);
      expect(await list('b', undefined, { capturedUntil: at(9) })).toEqual(['long1@09', 'é@07', '😀@08']);
      expect(await list(undefined, 'a!', { capturedAfter: at(1), capturedUntil: at(30) })).toEqual([
        'a!@02',
        'a!@30',
      ]);
    });

    it('expires the entries captured before a time, whole, by time and by key, and only those', async () => {
      const c = await make();
      const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
      const old = [1, 2, 3].map((s) => journalEntry({ key: `k${s}`, sequencer: `0${s}`, capturedAt: at(s) }));
      const huge = journalEntry({
        key: 'k1',
        sequencer: '09',
        capturedAt: at(4),
        blobs: Array.from({ length: 7_680 }, (_, i) => hex(i)),
      });
      const kept = [5, 6].map((s) => journalEntry({ key: 'k1', sequencer: `1${s}`, capturedAt: at(s) }));
      const other = journalEntry({ planId: 'docs', capturedAt: at(1) });
      for (const e of [...old, huge, ...kept, other]) expect(await c.appendJournal(e)).toBe(true);
      // Act: everything captured before second 5 (exclusive) goes, twice (a rerun deletes nothing more)
      expect(await c.expireJournal('photos', at(5))).toBe(4);
      expect(await c.expireJournal('photos', at(5))).toBe(0);
      // Assess
      expect(await c.listJournal('photos')).toEqual(kept);
      expect(await c.listJournalForKey('photos', 'k1')).toEqual(kept);
      expect(await c.listJournalForKey('photos', 'k2')).toEqual([]);
      expect(await c.listJournalInRange('photos', {})).toEqual(kept);
      expect(await c.listJournal('docs')).toEqual([other]);
      // Its idempotency marker went with it: the same event is journaled again.
      expect(await c.appendJournal(old[1] as JournalEntry)).toBe(true);
    });

    it('expires with an entry the older events of its key captured after it, which it supersedes', async () => {
      const c = await make();
      const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
      // A newer version captured first (sequencer 10, second 1), a late capture of an older event
      // after the cutoff (sequencer 05, second 8), and a newer change after the cutoff (sequencer 20).
      const newer = journalEntry({ key: 'k', sequencer: '10', capturedAt: at(1) });
      const late = journalEntry({ key: 'k', sequencer: '05', capturedAt: at(8) });
      const latest = journalEntry({ key: 'k', sequencer: '20', capturedAt: at(9) });
      const other = journalEntry({ key: 'j', sequencer: '01', capturedAt: at(8) });
      for (const e of [newer, late, latest, other]) expect(await c.appendJournal(e)).toBe(true);
      // Act
      expect(await c.expireJournal('photos', at(5))).toBe(2);
      // Assess: without `newer`, `late` would read as the key's newest change after it
      expect(await c.listJournalForKey('photos', 'k')).toEqual([latest]);
      expect(await c.listJournal('photos')).toEqual([other, latest]);
      expect(await c.listJournalInRange('photos', {})).toEqual([other, latest]);
    });

    describe("DynamoDB's 400 KB item limit", () => {
      it('keeps a journal entry naming thousands of blobs (an object over 47 GiB), by time and by key', async () => {
        const c = await make();
        const huge = journalEntry({
          key: 'video/raw.mxf',
          sizeBytes: 60 * 1024 ** 3,
          blobs: Array.from({ length: 7_680 }, (_, i) => hex(i)),
          contentSha256: 'd'.repeat(64),
        });
        const small = journalEntry({ key: 'video/raw.mxf', sequencer: '0055AED6DCD90281E6' });
        expect(await c.appendJournal(huge)).toBe(true);
        expect(await c.appendJournal(small)).toBe(true);
        expect(await c.appendJournal(huge)).toBe(false);
        expect(await c.listJournalForKey('photos', huge.key)).toEqual([huge, small]);
        const byTime = await c.listJournal('photos');
        expect(byTime.sort((a, b) => a.sequencer.localeCompare(b.sequencer))).toEqual([huge, small]);
      });

      it('keeps an entry naming thousands of blobs under a key of 1,024 bytes, in its key range too', async () => {
        // Its overflow items' sort keys extend the entry's by-key-range sort key: both stay within
        // DynamoDB's 1,024 bytes however long the key.
        const c = await make();
        const key = `${'k'.repeat(1_020)}.mxf`;
        const huge = journalEntry({
          key,
          blobs: Array.from({ length: 7_680 }, (_, i) => hex(i)),
          contentSha256: 'd'.repeat(64),
        });
        expect(await c.appendJournal(huge)).toBe(true);
        expect(await c.listJournalInRange('photos', { after: 'k', upTo: key })).toEqual([huge]);
        expect(await c.expireJournal('photos', '2026-01-02T00:00:00.000Z')).toBe(1);
        expect(await c.listJournalInRange('photos', {})).toEqual([]);
      });

      it('refuses, for good, an entry over 400 KB outside its blob list, and journals nothing', async () => {
        const c = await make();
        const entry = journalEntry({ metadata: { note: tooLarge() } });
        const error = await c.appendJournal(entry).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect(isRetryable(error)).toBe(false);
        expect(await c.listJournal('photos')).toEqual([]);
        expect(await c.listJournalForKey('photos', entry.key)).toEqual([]);
        // Nothing was journalled: the event, captured again with a smaller entry, is journalled.
        expect(await c.appendJournal(journalEntry())).toBe(true);
      });
    });
  });
}
