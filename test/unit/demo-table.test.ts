import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemKeyOf } from '#domain/table/item.ts';
import type { CorpusFile } from '#local/demo/corpus.ts';
import { missingFromJournal, momentBetweenRounds } from '#local/demo/table.ts';
import {
  allIdentical,
  compareImages,
  comparisonProblem,
  LINE_KEY_SCHEMA,
  lineItem,
  linesOfFiles,
  pickTableRounds,
  TableImage,
  textLinesOf,
  updatedItem,
} from '#local/demo/table-corpus.ts';
import { batchWriteAll, chunksOf, putItems } from '#local/demo/table-load.ts';

const file = (key: string, lines: number) => ({
  key,
  sizeBytes: 10,
  mtime: '2026-01-01T00:00:00.000Z',
  lines,
});
const items = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    lineItem(file(`f/${Math.floor(i / 50)}.txt`, 50), (i % 50) + 1, `line ${i}`),
  );

describe('textLinesOf', () => {
  it('splits UTF-8 text into lines, without the final newline and carriage returns', () => {
    expect(textLinesOf(Buffer.from('a\r\n\nçé\n'))).toEqual(['a', '', 'çé']);
    expect(textLinesOf(Buffer.from('no newline'))).toEqual(['no newline']);
  });
  it('refuses binary (NUL, invalid UTF-8), empty files and minified lines', () => {
    expect(textLinesOf(Buffer.from([0x61, 0x00, 0x62]))).toBeUndefined();
    expect(textLinesOf(Buffer.from([0xff, 0xfe, 0x41]))).toBeUndefined();
    expect(textLinesOf(Buffer.alloc(0))).toBeUndefined();
    expect(textLinesOf(Buffer.from(`short\n${'x'.repeat(5000)}\n`))).toBeUndefined();
  });
});

describe('linesOfFiles', () => {
  let dir: string;
  let files: CorpusFile[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'demo-table-'));
    files = [];
    for (let i = 0; i < 20; i++) {
      const key = `d${i % 3}/file-${i}.txt`;
      await mkdir(join(dir, `d${i % 3}`), { recursive: true });
      const body = Array.from({ length: 10 + i }, (_, j) => `file ${i} line ${j + 1}`).join('\n');
      await writeFile(join(dir, key), `${body}\n`);
      files.push({ key, path: join(dir, key), sizeBytes: body.length + 1 });
    }
    await writeFile(join(dir, 'bin.dat'), Buffer.from([1, 0, 2, 0]));
    files.push({ key: 'bin.dat', path: join(dir, 'bin.dat'), sizeBytes: 4 });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('makes one item per line of whole text files until the target, the same whatever the input order', async () => {
    const a = await linesOfFiles(files, 100);
    const b = await linesOfFiles([...files].reverse(), 100);
    expect(a.items.length).toBeGreaterThanOrEqual(100);
    expect(a.items).toEqual(b.items);
    // Whole files: each file's items are lines 1..n with n its line count.
    const byFile = new Map<string, number[]>();
    for (const it of a.items) {
      const pk = (it.pk as { S: string }).S;
      byFile.set(pk, [...(byFile.get(pk) ?? []), Number((it.sk as { N: string }).N)]);
    }
    for (const [pk, lines] of byFile) {
      const i = Number(/file-(\d+)/.exec(pk)?.[1]);
      expect(lines).toEqual(Array.from({ length: 10 + i }, (_, j) => j + 1));
    }
    const first = a.items.find((x) => (x.sk as { N: string }).N === '1');
    expect(first?.text).toEqual({ S: expect.stringMatching(/^file \d+ line 1$/) });
    expect(first?.file).toMatchObject({
      M: { lines: { N: expect.any(String) }, bytes: { N: expect.any(String) } },
    });
  });

  it('says how many items it found when the tree holds fewer lines than the target, and skips binaries', async () => {
    const all = await linesOfFiles(files, 1_000_000);
    expect(all.items.length).toBe(Array.from({ length: 20 }, (_, i) => 10 + i).reduce((x, y) => x + y, 0));
    expect(all.files).toBe(20);
    expect(all.skipped).toBe(1);
  });
});

describe('pickTableRounds and TableImage', () => {
  const loaded = items(5000);
  const rounds = pickTableRounds(loaded, 60);
  const keys = (cs: typeof rounds.round1) =>
    cs.map((c) => itemKeyOf(c.kind === 'insert' ? c.item : c.key, LINE_KEY_SCHEMA));

  it('changes perKind items of each kind per round, each key once per round', () => {
    for (const round of [rounds.round1, rounds.round2]) {
      for (const kind of ['update', 'insert', 'delete'] as const)
        expect(round.filter((c) => c.kind === kind)).toHaveLength(60);
      expect(new Set(keys(round)).size).toBe(round.length);
    }
  });

  it('round 2 touches what round 1 changed: updates again, re-inserts deleted keys, deletes inserted items', () => {
    const r1 = new Map(rounds.round1.map((c, i) => [keys(rounds.round1)[i], c.kind]));
    const again = rounds.round2.map((c, i) => [c.kind, r1.get(keys(rounds.round2)[i] as string)]);
    expect(again.filter(([k2, k1]) => k2 === 'update' && k1 === 'update')).toHaveLength(20);
    expect(again.filter(([k2, k1]) => k2 === 'insert' && k1 === 'delete')).toHaveLength(20);
    expect(again.filter(([k2, k1]) => k2 === 'delete' && k1 === 'insert')).toHaveLength(20);
  });

  it('is deterministic whatever the order of the loaded items', () => {
    expect(pickTableRounds([...loaded].reverse(), 60)).toEqual(rounds);
  });

  it('applies changes as DynamoDB does: the image at T is not the image after round 2', () => {
    const atT = new TableImage(loaded).apply(rounds.round1);
    const after = atT.clone().apply(rounds.round2);
    expect(atT.items.size).toBe(5000);
    expect(after.items.size).toBe(5000);
    const updatedTwice = rounds.round2[0];
    if (updatedTwice?.kind !== 'update') throw new Error('round 2 begins with updates');
    const key = itemKeyOf(updatedTwice.key, LINE_KEY_SCHEMA);
    expect(atT.items.get(key)?.rev).toEqual({ N: '1' });
    expect(after.items.get(key)?.rev).toEqual({ N: '2' });
    expect(after.items.get(key)?.text).toEqual({ S: updatedTwice.text });
    // The loaded image is left alone by clone + apply.
    expect(new TableImage(loaded).items.get(key)?.rev).toBeUndefined();
  });

  it('refuses too few items for the changes asked', () => {
    expect(() => pickTableRounds(items(100), 60)).toThrow(/too few/);
  });
});

describe('compareImages', () => {
  const loaded = items(200);
  const image = new TableImage(loaded);

  it('finds every item identical, whatever the attribute order', () => {
    const shuffled = [...loaded].reverse().map((it) => Object.fromEntries(Object.entries(it).reverse()));
    const c = compareImages(image, shuffled);
    expect(allIdentical(c)).toBe(true);
    expect(c.identical).toBe(200);
    expect(comparisonProblem(c)).toBeUndefined();
  });

  it('names missing, extra and differing keys', () => {
    const actual = loaded.slice(1).map((it, i) => (i === 5 ? updatedItem(it, 'other', 9) : it));
    actual.push(lineItem(file('zz/extra.txt', 1), 1, 'x'));
    const c = compareImages(image, actual);
    expect(allIdentical(c)).toBe(false);
    expect(c.missing).toEqual([itemKeyOf(loaded[0] as never, LINE_KEY_SCHEMA)]);
    expect(c.differing).toEqual([itemKeyOf(loaded[6] as never, LINE_KEY_SCHEMA)]);
    expect(c.extra).toEqual(['zz%2Fextra.txt/1']);
    expect(comparisonProblem(c)).toMatch(/198 of 200 items identical; 1 missing \(first: f%2F0\.txt\/1\)/);
  });
});

describe('the moment T and the journal', () => {
  it('puts T in a second of its own, at least 1.1 s after round 1 and before round 2', () => {
    for (const end of [1_000_000, 1_000_001, 1_000_499, 1_000_999]) {
      const { t, round2At } = momentBetweenRounds(end, 1000);
      expect(t - end).toBeGreaterThanOrEqual(1100);
      expect(Math.floor(t / 1000)).toBeGreaterThan(Math.floor(end / 1000));
      expect(round2At - t).toBeGreaterThanOrEqual(1100);
      expect(Math.floor(round2At / 1000)).toBeGreaterThan(Math.floor(t / 1000));
    }
  });

  it('starts round 2 past the next minute after T when the stream dates changes to the minute', () => {
    for (const end of [Date.parse('2026-12-06T07:35:10.000Z'), Date.parse('2026-12-06T07:35:58.950Z')]) {
      const { t, round2At } = momentBetweenRounds(end);
      expect(Math.floor(t / 1000)).toBeGreaterThan(Math.floor(end / 1000));
      // Round 2's changes, dated to the minute (rounded down), are after T; round 1's are before.
      expect(Math.floor(round2At / 60_000) * 60_000).toBeGreaterThan(t);
      expect(Math.floor(end / 60_000) * 60_000).toBeLessThan(t);
      expect(round2At - t).toBeLessThanOrEqual(61_100);
    }
  });

  it('waits for each round-1 key before T and each round-2 key after T', () => {
    const rounds = pickTableRounds(items(1200), 10);
    const t = Date.parse('2026-12-06T08:00:01.500Z');
    const entryOf = (c: (typeof rounds.round1)[number], time: string) => ({
      key: itemKeyOf(c.kind === 'insert' ? c.item : c.key, LINE_KEY_SCHEMA),
      eventTime: time,
    });
    const r1 = rounds.round1.map((c) => entryOf(c, '2026-12-06T08:00:00.000Z'));
    const r2 = rounds.round2.map((c) => entryOf(c, '2026-12-06T08:00:03.000Z'));
    expect(missingFromJournal([...r1, ...r2], rounds, t)).toEqual([]);
    // Round 2's updates of round-1 keys are not satisfied by their round-1 entries.
    expect(missingFromJournal(r1, rounds, t)).toHaveLength(rounds.round2.length);
    expect(missingFromJournal([...r1.slice(1), ...r2], rounds, t)).toHaveLength(1);
  });
});

describe('batchWriteAll and putItems', () => {
  it('sends unprocessed items again until none is left', async () => {
    const sent: number[] = [];
    const client = {
      send: async (command: { input: { RequestItems: Record<string, unknown[]> } }) => {
        const writes = command.input.RequestItems.t as unknown[];
        sent.push(writes.length);
        return {
          UnprocessedItems: writes.length > 1 ? { t: writes.slice(0, Math.floor(writes.length / 2)) } : {},
        };
      },
    };
    const calls = await batchWriteAll(client as never, 't', Array.from({ length: 25 }, () => ({})) as never);
    expect(sent).toEqual([25, 12, 6, 3, 1]);
    expect(calls).toBe(5);
  });

  it('gives up after maxAttempts calls with writes still unprocessed', async () => {
    const client = { send: async () => ({ UnprocessedItems: { t: [{}] } }) };
    await expect(batchWriteAll(client as never, 't', [{}] as never, 2)).rejects.toThrow(
      /still unprocessed after 2 calls/,
    );
  });

  it('writes every item 25 a call and counts every call', async () => {
    const seen: number[] = [];
    let first = true;
    const client = {
      send: async (command: { input: { RequestItems: Record<string, unknown[]> } }) => {
        const writes = command.input.RequestItems.t as unknown[];
        seen.push(writes.length);
        if (first) {
          first = false;
          return { UnprocessedItems: { t: writes.slice(0, 3) } };
        }
        return {};
      },
    };
    const calls = await putItems(client as never, 't', items(60), 4);
    expect(calls).toBe(4);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(63);
    expect(chunksOf([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});
