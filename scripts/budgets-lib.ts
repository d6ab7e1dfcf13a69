// The pure half of `scripts/check-budgets.ts` (no file system, no process): line counting, the
// size ratchet over `scripts/budgets.json`, GitHub heading slugs and doc-anchor references.
// Kept apart so test/unit/check-budgets.test.ts can test it without touching the tree.

/** `scripts/budgets.json`: the budgets and the files allowed over them (each at most its recorded lines). */
export interface Budgets {
  /** Most lines a source file outside test/ may have. */
  maxLines: number;
  /** Most lines a handler module in functions/ may have. */
  maxHandlerLines: number;
  /** Files over `maxLines` when the budget came in: path (from the repository root) → lines then. */
  oversized: Record<string, number>;
  /** Handler modules over `maxHandlerLines`, likewise. */
  oversizedHandlers: Record<string, number>;
}

/** One finding: a failure breaks the check, a note is printed only. */
export interface Finding {
  level: 'failure' | 'note';
  message: string;
}

/** Lines of a text as an editor numbers them (`wc -l` for a file ending in a newline). */
export function countLines(text: string): number {
  if (text === '') return 0;
  const newlines = text.split('\n').length - 1;
  return text.endsWith('\n') ? newlines : newlines + 1;
}

/**
 * The ratchet: every measured file must be within `max` lines unless `allowed` lists it, and a listed
 * file may not grow beyond its recorded count. A listed file that is gone or back within `max` is
 * stale (a failure: the list must shrink with the code, or the file could grow back); a listed file
 * that shrank but is still over `max` gets a note that its count can be lowered.
 *
 * @param lines  measured files: path → lines
 * @param max    the budget, in lines
 * @param allowed the allowlist: path → recorded lines
 * @param what   how the messages name the budget, e.g. "source file"
 * @param listName how the messages name the allowlist, e.g. `"oversized" in scripts/budgets.json`
 */
export function ratchet(
  lines: ReadonlyMap<string, number>,
  max: number,
  allowed: Readonly<Record<string, number>>,
  what: string,
  listName: string,
): Finding[] {
  const findings: Finding[] = [];
  for (const [path, count] of [...lines].sort(([a], [b]) => a.localeCompare(b))) {
    const recorded = allowed[path];
    if (recorded === undefined) {
      if (count > max) {
        findings.push({
          level: 'failure',
          message: `${path}: ${count} lines, over the ${max}-line budget of a ${what}. Split it by responsibility; list it in ${listName} only if that truly cannot wait.`,
        });
      }
    } else if (count <= max) {
      findings.push({
        level: 'failure',
        message: `${path}: ${count} lines, within the ${max}-line budget now: remove it from ${listName} (--update does it).`,
      });
    } else if (count > recorded) {
      findings.push({
        level: 'failure',
        message: `${path}: ${count} lines, grew beyond the ${recorded} recorded in ${listName} (it may only shrink). Move the new code out into its own module.`,
      });
    } else if (count < recorded) {
      findings.push({
        level: 'note',
        message: `${path}: ${count} lines, down from ${recorded}: lower its count in ${listName} (--update does it).`,
      });
    }
  }
  for (const path of Object.keys(allowed).sort()) {
    if (!lines.has(path)) {
      findings.push({
        level: 'failure',
        message: `${path}: listed in ${listName} but not found among the ${what}s: remove it from the list (--update does it).`,
      });
    }
  }
  return findings;
}

/**
 * The allowlist the ratchet would accept after the code shrank: counts lowered to the measured ones,
 * entries dropped for files that are gone or within `max`. Never adds a file nor raises a count.
 */
export function tightened(
  lines: ReadonlyMap<string, number>,
  max: number,
  allowed: Readonly<Record<string, number>>,
): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [path, recorded] of Object.entries(allowed)) {
    const count = lines.get(path);
    if (count === undefined || count <= max) continue;
    result[path] = Math.min(count, recorded);
  }
  return result;
}

/**
 * The anchor GitHub gives a heading's text, before duplicates are numbered: inline links reduced to
 * their text, lowercased, every character but letters, digits, `_`, `-` and spaces removed, and
 * each space turned into a hyphen (so "A — B" gives "a--b", as on GitHub).
 */
export function githubSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/**
 * Every anchor a markdown document defines: its ATX headings' slugs (outside fenced code blocks),
 * a repeated slug numbered `-1`, `-2`, … as GitHub does, plus explicit `<a id|name="…">` anchors.
 */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of outsideFences(markdown)) {
    for (const m of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1] ?? '');
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(text);
    if (!heading) continue;
    const base = githubSlug(heading[1] ?? '');
    let slug = base;
    while (seen.has(slug)) {
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      slug = `${base}-${n}`;
    }
    seen.set(slug, 0);
    anchors.add(slug);
  }
  return anchors;
}

/** The lines of a markdown document outside ``` and ~~~ fences, with their 1-based numbers. */
export function outsideFences(markdown: string): { line: number; text: string }[] {
  const result: { line: number; text: string }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence === undefined && marker) fence = marker;
    else if (
      fence !== undefined &&
      marker !== undefined &&
      marker[0] === fence[0] &&
      marker.length >= fence.length
    ) {
      fence = undefined;
    } else if (fence === undefined) result.push({ line: i + 1, text });
  });
  return result;
}

/** A cited anchor: `target` is the path as written ('' for the citing document itself). */
export interface AnchorReference {
  line: number;
  target: string;
  anchor: string;
}

// `<path>.md#<anchor>`, not inside a URL (nothing path-like or `:` right before it).
const FILE_ANCHOR = /(?<![\w/.:~-])((?:[\w.-]+\/)*[\w.-]+\.md)#([\p{L}\p{N}_-]+)/gu;
// `](#anchor)`: a markdown link to a heading of the same document.
const SAME_DOCUMENT_ANCHOR = /\]\(#([^)\s]+)\)/g;

/**
 * The anchors a file cites: `<file>.md#<anchor>` anywhere (code comments, docstrings, markdown
 * links), and in a markdown document also `(#anchor)` links to itself; once per line. Markdown
 * fenced code blocks are skipped.
 */
export function anchorReferences(text: string, isMarkdown: boolean): AnchorReference[] {
  const lines = isMarkdown ? outsideFences(text) : text.split('\n').map((t, i) => ({ line: i + 1, text: t }));
  const refs = new Map<string, AnchorReference>();
  const add = (ref: AnchorReference) => refs.set(`${ref.line}:${ref.target}#${ref.anchor}`, ref);
  for (const { line, text: t } of lines) {
    for (const m of t.matchAll(FILE_ANCHOR)) add({ line, target: m[1] ?? '', anchor: m[2] ?? '' });
    if (!isMarkdown) continue;
    for (const m of t.matchAll(SAME_DOCUMENT_ANCHOR)) add({ line, target: '', anchor: m[1] ?? '' });
  }
  return [...refs.values()];
}

/** The shape of biome.json this check reads: its overrides. */
interface BiomeConfig {
  overrides?: { includes?: string[]; linter?: { rules?: { complexity?: Record<string, unknown> } } }[];
}

/** The paths biome.json's overrides give their own cognitive-complexity limit (the exempt files). */
export function complexityExemptions(config: BiomeConfig): string[] {
  return (config.overrides ?? [])
    .filter((o) => o.linter?.rules?.complexity?.noExcessiveCognitiveComplexity !== undefined)
    .flatMap((o) => o.includes ?? []);
}
