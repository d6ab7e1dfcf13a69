/**
 * The demo's table corpus: one DynamoDB item per line of the uploaded tree's text files, the
 * deterministic changes made to them in two rounds, the image the table holds after each round,
 * and the item-by-item comparison of a restored table with an image (the bench uses them too).
 *
 * Items are in DynamoDB JSON (#domain/table/item.ts) with no binary attribute, so the SDK's
 * low-level items are the same objects.
 */

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { canonicalItemJson, type Item, itemKeyOf, type KeySchema } from '#domain/table/item.ts';
import type { CorpusFile } from './corpus.ts';

/** The table's key: the file's path (partition), the line's number (sort, a number). */
export const LINE_KEY_SCHEMA: KeySchema = {
  hash: { name: 'pk', type: 'S' },
  range: { name: 'sk', type: 'N' },
};

/** Items the demo's table holds at least (issue 17: ≥ 100,000). */
export const DEMO_TABLE_ITEMS = 100_000;
/** Files larger than this are not read as text (bytes). */
const MAX_TEXT_FILE_BYTES = 1_000_000;
/** A file with a line longer than this (bytes) is not taken: a minified bundle, not text lines. */
const MAX_LINE_BYTES = 2_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The lines of a file when it is text (UTF-8, no NUL, no line over MAX_LINE_BYTES); else undefined. */
export function textLinesOf(bytes: Uint8Array): string[] | undefined {
  if (bytes.length === 0 || bytes.length > MAX_TEXT_FILE_BYTES || bytes.includes(0)) return undefined;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.some((l) => Buffer.byteLength(l, 'utf8') > MAX_LINE_BYTES)) return undefined;
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** The item of line `n` (1-based) of a file. */
export function lineItem(
  file: { key: string; sizeBytes: number; mtime: string; lines: number },
  n: number,
  text: string,
): Item {
  const dot = file.key.lastIndexOf('.');
  const ext = dot > file.key.lastIndexOf('/') ? file.key.slice(dot + 1) : '';
  return {
    pk: { S: file.key },
    sk: { N: String(n) },
    text: { S: text },
    blank: { BOOL: text.trim() === '' },
    ext: { S: ext },
    file: {
      M: { bytes: { N: String(file.sizeBytes) }, mtime: { S: file.mtime }, lines: { N: String(file.lines) } },
    },
  };
}

/** Files in the order the table takes them: ranked by the hash of their key (spread over the tree). */
export function rankedFiles<F extends Pick<CorpusFile, 'key'>>(files: readonly F[]): F[] {
  const rank = (f: F) => createHash('sha256').update(f.key).digest('hex');
  return files
    .map((f) => ({ f, r: rank(f) }))
    .sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : 0))
    .map(({ f }) => f);
}

/** What {@link linesOfFiles} gathered. */
export interface LineCorpus {
  items: Item[];
  /** Files whose lines are items. */
  files: number;
  /** Files read and left out (not text, or a line too long). */
  skipped: number;
}

/**
 * One item per line of the text files among `files` (whole files, ranked by {@link rankedFiles}),
 * until at least `target` items: deterministic for the same tree. Fewer when the tree holds fewer
 * text lines (the caller says so and adds another tree).
 */
export async function linesOfFiles(files: readonly CorpusFile[], target: number): Promise<LineCorpus> {
  const items: Item[] = [];
  let taken = 0;
  let skipped = 0;
  for (const f of rankedFiles(files)) {
    if (items.length >= target) break;
    if (f.sizeBytes > MAX_TEXT_FILE_BYTES) continue;
    let bytes: Buffer;
    let mtime: string;
    try {
      [bytes, mtime] = await Promise.all([
        readFile(f.path),
        stat(f.path).then((s) => new Date(Math.floor(s.mtimeMs)).toISOString()),
      ]);
    } catch {
      skipped += 1;
      continue;
    }
    const lines = textLinesOf(bytes);
    if (!lines || lines.length === 0) {
      skipped += 1;
      continue;
    }
    const file = { key: f.key, sizeBytes: bytes.length, mtime, lines: lines.length };
    lines.forEach((text, i) => {
      items.push(lineItem(file, i + 1, text));
    });
    taken += 1;
  }
  return { items, files: taken, skipped };
}

/** One change to the table. */
export type TableChange =
  | { kind: 'update'; key: Item; text: string; rev: number }
  | { kind: 'insert'; item: Item }
  | { kind: 'delete'; key: Item };

/** The key attributes of an item. */
export function keyOf(item: Item): Item {
  return { pk: item.pk as Item[string], sk: item.sk as Item[string] };
}

/** An item after an update: UpdateItem `SET text = :text, rev = :rev`. */
export function updatedItem(item: Item, text: string, rev: number): Item {
  return { ...item, text: { S: text }, rev: { N: String(rev) } };
}

/** The table as it is: item key → item. Applies changes as DynamoDB does. */
export class TableImage {
  readonly items = new Map<string, Item>();

  constructor(items: Iterable<Item> = []) {
    for (const item of items) this.items.set(itemKeyOf(item, LINE_KEY_SCHEMA), item);
  }

  clone(): TableImage {
    const out = new TableImage();
    for (const [k, v] of this.items) out.items.set(k, v);
    return out;
  }

  apply(changes: readonly TableChange[]): this {
    for (const c of changes) {
      if (c.kind === 'insert') this.items.set(itemKeyOf(c.item, LINE_KEY_SCHEMA), c.item);
      else if (c.kind === 'delete') this.items.delete(itemKeyOf(c.key, LINE_KEY_SCHEMA));
      else {
        const key = itemKeyOf(c.key, LINE_KEY_SCHEMA);
        // UpdateItem on a missing key creates the item from the key and the SET attributes.
        const before = this.items.get(key) ?? c.key;
        this.items.set(key, updatedItem(before, c.text, c.rev));
      }
    }
    return this;
  }
}

/** The demo's two rounds of changes: a few hundred updates, inserts and deletes each. */
export interface TableRounds {
  round1: TableChange[];
  round2: TableChange[];
}

/**
 * Deterministic changes of the loaded items (sorted by item key): round 1 updates, inserts and
 * deletes `perKind` items each; round 2 as many again, a third of them touching what round 1
 * changed (items updated again, inserted items deleted, deleted keys inserted again), so that a
 * restore as of the moment between the rounds must tell the two apart.
 */
export function pickTableRounds(items: readonly Item[], perKind = 300): TableRounds {
  const sorted = [...items].sort((a, b) => {
    const ka = itemKeyOf(a, LINE_KEY_SCHEMA);
    const kb = itemKeyOf(b, LINE_KEY_SCHEMA);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const n = sorted.length;
  if (n < perKind * 12) throw new Error(`${n} items are too few for ${perKind} changes of each kind`);
  // Disjoint slots by position: i % 12 picks the role of the i-th item of the stride.
  const stride = Math.floor(n / (perKind * 2));
  const at = (slot: number, j: number) => sorted[j * stride + slot] as Item;
  const seq = (count: number, f: (j: number) => TableChange) => Array.from({ length: count }, (_, j) => f(j));
  const inserted = (round: number, j: number): Item => ({
    pk: { S: `demo-inserted/round-${round}/${String(j).padStart(4, '0')}.txt` },
    sk: { N: String(j + 1) },
    text: { S: `inserted by the demo, round ${round}, item ${j}` },
    blank: { BOOL: false },
    ext: { S: 'txt' },
    rev: { N: String(round) },
  });
  const round1: TableChange[] = [
    ...seq(perKind, (j) => ({
      kind: 'update',
      key: keyOf(at(0, j)),
      text: `changed by the demo (round 1, ${j})`,
      rev: 1,
    })),
    ...seq(perKind, (j) => ({ kind: 'insert', item: inserted(1, j) })),
    ...seq(perKind, (j) => ({ kind: 'delete', key: keyOf(at(1, j)) })),
  ];
  const third = Math.floor(perKind / 3);
  const round2: TableChange[] = [
    // Updated again (third) and updated for the first time.
    ...seq(third, (j) => ({
      kind: 'update',
      key: keyOf(at(0, j)),
      text: `changed again (round 2, ${j})`,
      rev: 2,
    })),
    ...seq(perKind - third, (j) => ({
      kind: 'update',
      key: keyOf(at(2, j)),
      text: `changed by the demo (round 2, ${j})`,
      rev: 2,
    })),
    // Round 1's deleted keys back (third), and new items.
    ...seq(third, (j) => ({
      kind: 'insert',
      item: { ...at(1, j), text: { S: `back in round 2 (${j})` }, rev: { N: '2' } },
    })),
    ...seq(perKind - third, (j) => ({ kind: 'insert', item: inserted(2, j) })),
    // Round 1's inserted items deleted (third), and loaded items deleted.
    ...seq(third, (j) => ({ kind: 'delete', key: keyOf(inserted(1, j)) })),
    ...seq(perKind - third, (j) => ({ kind: 'delete', key: keyOf(at(3, j)) })),
  ];
  return { round1, round2 };
}

/** What {@link compareImages} found. */
export interface ImageComparison {
  expected: number;
  actual: number;
  identical: number;
  /** Item keys expected and absent. */
  missing: string[];
  /** Item keys present and not expected. */
  extra: string[];
  /** Item keys present in both with different content (canonical JSON). */
  differing: string[];
}

/** Every item of `actual` against `expected`, by item key and canonical JSON. */
export function compareImages(expected: TableImage, actual: Iterable<Item>): ImageComparison {
  const seen = new Set<string>();
  const out: ImageComparison = {
    expected: expected.items.size,
    actual: 0,
    identical: 0,
    missing: [],
    extra: [],
    differing: [],
  };
  for (const item of actual) {
    out.actual += 1;
    const key = itemKeyOf(item, LINE_KEY_SCHEMA);
    seen.add(key);
    const want = expected.items.get(key);
    if (!want) out.extra.push(key);
    else if (canonicalItemJson(want) === canonicalItemJson(item)) out.identical += 1;
    else out.differing.push(key);
  }
  for (const key of expected.items.keys()) if (!seen.has(key)) out.missing.push(key);
  for (const list of [out.missing, out.extra, out.differing]) list.sort();
  return out;
}

/** Whether a comparison found every item identical and nothing else. */
export function allIdentical(c: ImageComparison): boolean {
  return (
    c.missing.length === 0 && c.extra.length === 0 && c.differing.length === 0 && c.identical === c.expected
  );
}

/** The comparison in words: the counts, and the first differing keys of each kind. */
export function comparisonProblem(c: ImageComparison): string | undefined {
  if (allIdentical(c)) return undefined;
  const first = (list: string[]) => (list.length ? ` (first: ${list.slice(0, 3).join(', ')})` : '');
  return (
    `${c.identical} of ${c.expected} items identical; ${c.missing.length} missing${first(c.missing)}, ` +
    `${c.differing.length} differing${first(c.differing)}, ${c.extra.length} extra${first(c.extra)}`
  );
}
