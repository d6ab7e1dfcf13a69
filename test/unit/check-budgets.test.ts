// The pure half of scripts/check-budgets.ts: line counts, the size ratchet over scripts/budgets.json,
// GitHub heading slugs and the doc anchors a file cites.
import { describe, expect, it } from 'vitest';
import {
  anchorReferences,
  complexityExemptions,
  countLines,
  githubSlug,
  markdownAnchors,
  ratchet,
  tightened,
} from '../../scripts/budgets-lib.ts';

describe('countLines', () => {
  it('counts as wc -l does for a file ending in a newline, and counts an unterminated last line', () => {
    expect(countLines('')).toBe(0);
    expect(countLines('a\n')).toBe(1);
    expect(countLines('a\nb\n')).toBe(2);
    expect(countLines('a\nb')).toBe(2);
    expect(countLines('\n\n')).toBe(2);
  });
});

describe('githubSlug', () => {
  it('lowercases, drops punctuation but hyphens and underscores, and turns each space into a hyphen', () => {
    expect(githubSlug('Garbage collection')).toBe('garbage-collection');
    expect(githubSlug('Read and Write Ordering')).toBe('read-and-write-ordering');
    expect(githubSlug('The Strongbox vault format (version 2)')).toBe('the-strongbox-vault-format-version-2');
    expect(githubSlug('Walk-through: a first deployment')).toBe('walk-through-a-first-deployment');
    expect(githubSlug('`snake_case` and C++ & Go!')).toBe('snake_case-and-c--go');
    expect(githubSlug('Reliability — what is promised')).toBe('reliability--what-is-promised');
    expect(githubSlug('See [the docs](https://example.com) here')).toBe('see-the-docs-here');
    expect(githubSlug('Überblick')).toBe('überblick');
  });

  it('numbers repeated headings -1, -2 as GitHub does, skips fenced code and reads explicit anchors', () => {
    const markdown = [
      '# Title',
      '## Notes',
      '```sh',
      '# not a heading',
      '```',
      '### Notes',
      '## Notes ##',
      '## Notes-1',
      '<a id="custom-anchor"></a>',
      '~~~',
      '## inside a tilde fence',
      '~~~',
    ].join('\n');
    expect([...markdownAnchors(markdown)]).toEqual([
      'title',
      'notes',
      'notes-1',
      'notes-2',
      'notes-1-1',
      'custom-anchor',
    ]);
  });
});

describe('anchorReferences', () => {
  it('finds doc anchors cited in code, relative or from the root, once per line, and not inside URLs', () => {
    const code = [
      '/** @see docs/format.md#journal */',
      ' * @see ../../docs/format.md#packs and docs/format.md#packs',
      '// https://github.com/owner/repo/blob/main/README.md#usage is a URL',
      '// (#deploying) in code is not a link',
    ].join('\n');
    expect(anchorReferences(code, false)).toEqual([
      { line: 1, target: 'docs/format.md', anchor: 'journal' },
      { line: 2, target: '../../docs/format.md', anchor: 'packs' },
      { line: 2, target: 'docs/format.md', anchor: 'packs' },
    ]);
  });

  it('finds same-document links in markdown, outside fenced code, once per line', () => {
    const markdown = [
      'See [Tasks](#tasks) and [Tasks again](#tasks).',
      '([docs/format.md#catalog](docs/format.md#catalog))',
      '```',
      '[skipped](#in-code)',
      '```',
    ].join('\n');
    expect(anchorReferences(markdown, true)).toEqual([
      { line: 1, target: '', anchor: 'tasks' },
      { line: 2, target: 'docs/format.md', anchor: 'catalog' },
    ]);
  });
});

describe('ratchet', () => {
  const list = '"oversized" in scripts/budgets.json';
  const run = (lines: Record<string, number>, allowed: Record<string, number>) =>
    ratchet(new Map(Object.entries(lines)), 600, allowed, 'source file', list);

  it('passes files within budget and listed files at or under their recorded count', () => {
    expect(run({ 'a.ts': 600, 'big.ts': 900 }, { 'big.ts': 900 })).toEqual([]);
  });

  it('fails an unlisted file over budget', () => {
    const [f, ...rest] = run({ 'a.ts': 601 }, {});
    expect(rest).toEqual([]);
    expect(f?.level).toBe('failure');
    expect(f?.message).toMatch(/^a\.ts: 601 lines, over the 600-line budget/);
  });

  it('fails a listed file that grew beyond its recorded count', () => {
    const [f] = run({ 'big.ts': 901 }, { 'big.ts': 900 });
    expect(f).toMatchObject({ level: 'failure' });
    expect(f?.message).toMatch(/grew beyond the 900 recorded/);
  });

  it('notes a listed file that shrank but is still over budget', () => {
    const [f] = run({ 'big.ts': 850 }, { 'big.ts': 900 });
    expect(f).toMatchObject({ level: 'note' });
    expect(f?.message).toMatch(/down from 900/);
  });

  it('fails stale entries: a listed file back within budget, or gone', () => {
    const findings = run({ 'big.ts': 580 }, { 'big.ts': 900, 'gone.ts': 700 });
    expect(findings.map((f) => f.level)).toEqual(['failure', 'failure']);
    expect(findings[0]?.message).toMatch(/^big\.ts: 580 lines, within the 600-line budget now: remove it/);
    expect(findings[1]?.message).toMatch(/^gone\.ts: listed .* but not found/);
  });

  it('tightened lowers counts and drops stale entries, never adds nor raises', () => {
    const lines = new Map(
      Object.entries({ 'shrunk.ts': 800, 'grew.ts': 990, 'small.ts': 100, 'new.ts': 700 }),
    );
    const allowed = { 'shrunk.ts': 900, 'grew.ts': 950, 'small.ts': 650, 'gone.ts': 700 };
    expect(tightened(lines, 600, allowed)).toEqual({ 'shrunk.ts': 800, 'grew.ts': 950 });
  });
});

describe('complexityExemptions', () => {
  it('lists the files biome.json overrides give their own cognitive-complexity limit, and only those', () => {
    const rule = { level: 'error', options: { maxAllowedComplexity: 40 } };
    const config = {
      overrides: [
        { includes: ['shared/domain/**'], linter: { rules: { style: { noProcessEnv: 'error' } } } },
        {
          includes: ['shared/domain/big.ts'],
          linter: { rules: { complexity: { noExcessiveCognitiveComplexity: rule } } },
        },
        {
          includes: ['test/x.ts', 'test/y.ts'],
          linter: { rules: { complexity: { noExcessiveCognitiveComplexity: rule } } },
        },
      ],
    };
    expect(complexityExemptions(config)).toEqual(['shared/domain/big.ts', 'test/x.ts', 'test/y.ts']);
    expect(complexityExemptions({})).toEqual([]);
  });
});
