// `strongbox restore --from-file`: the keys of what find, diff and ls print with --json, and the
// runs a deployed restore of a long list is split into.
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { keysOfList, runsOfKeys } from '#local/cli/key-list.ts';

const version = (key: string) => ({
  key,
  etag: 'e',
  sizeBytes: 1,
  lastModified: '2026-12-01T00:00:00.000Z',
  firstSeen: { in: 'journal', time: '2026-12-01T00:00:00.000Z' },
  lastSeen: { in: 'journal', time: '2026-12-01T00:00:00.000Z' },
  snapshots: 0,
  captures: 1,
});

describe('keysOfList', () => {
  it('reads the keys of diff --json lines, once each, in the order listed', () => {
    const lines = [
      { change: 'removed', key: 'docs/read me.txt', before: { sizeBytes: 5 } },
      { change: 'modified', key: 'photos/ünï cødé.jpg', before: {}, after: {} },
      { change: 'added', key: 'docs/read me.txt', after: {} },
    ].map((l) => JSON.stringify(l));
    expect(keysOfList(`${lines.join('\n')}\n\n`, 'changes.jsonl')).toEqual([
      'docs/read me.txt',
      'photos/ünï cødé.jpg',
    ]);
  });

  it('reads the keys of a find --json document, each version’s key once', () => {
    const found = { versions: [version('a b'), version('a b'), version('c')], snapshotsSearched: 2 };
    expect(keysOfList(JSON.stringify(found, null, 2), 'found.json')).toEqual(['a b', 'c']);
  });

  it('reads a JSON array of keys or of objects, one ls --json line, and JSON lines of strings', () => {
    expect(keysOfList('["x", {"key": "y"}]', 'f')).toEqual(['x', 'y']);
    expect(keysOfList('{"key":"only one","sizeBytes":3}', 'f')).toEqual(['only one']);
    expect(keysOfList('"  leading spaces"\n"tab\\there"\n', 'f')).toEqual(['  leading spaces', 'tab\there']);
  });

  it.each([
    ['plain text', 'docs/a.txt\ndocs/b.txt\n', 'line 1 of f is not a key list'],
    ['a line without a key', '{"key":"a"}\n{"change":"added"}\n', 'line 2 of f is not a key list'],
    ['a document without keys', '{"snapshots": 3}', 'its JSON of f is not a key list'],
    ['an empty key', '[""]', 'its JSON of f is not a key list'],
    ['an empty file', '\n', 'f lists no key'],
    ['an empty list', '[]', 'f lists no key'],
  ])('refuses %s, saying where', (_name, content, message) => {
    expect(() => keysOfList(content, 'f')).toThrow(InvalidArgumentError);
    expect(() => keysOfList(content, 'f')).toThrow(message);
  });
});

describe('runsOfKeys', () => {
  it('splits a list into runs whose JSON stays under the budget, keeping every key in order', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `k/${i} é`);
    const runs = runsOfKeys(keys, 1000);
    expect(runs.flat()).toEqual(keys);
    for (const run of runs) expect(Buffer.byteLength(JSON.stringify(run))).toBeLessThanOrEqual(1000 + 1);
    expect(runs.length).toBeGreaterThan(10);
    expect(runsOfKeys(keys, 10_000_000)).toEqual([keys]);
  });
});
