// `node scripts/check-budgets.ts [--update]` (part of `npm run lint`)
//
// Budgets that hold the line while big files are split:
//   - a source file outside test/ (shared/, functions/, deploy/, scripts/, top-level code) has at most
//     `maxLines` lines, a handler module in functions/ at most `maxHandlerLines`; the files already over
//     are listed in scripts/budgets.json with their counts and may only shrink (a ratchet);
//   - every `docs/<file>.md#<anchor>` cited in code or docs (and every `(#anchor)` link inside a
//     markdown document) names a heading that exists;
//   - every file biome.json gives its own cognitive-complexity limit (the rule's ratchet) exists.
// Exits 1 on any failure, saying what to do. `--update` only tightens scripts/budgets.json (lowers
// counts, drops entries now within budget); it never adds a file or raises a count.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  anchorReferences,
  type Budgets,
  complexityExemptions,
  countLines,
  type Finding,
  markdownAnchors,
  ratchet,
  tightened,
} from './budgets-lib.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const budgetsPath = path.join(root, 'scripts', 'budgets.json');
const BUDGETS_NAME = 'scripts/budgets.json';

const CODE = /\.(ts|mts|cts|js|mjs|cjs|java)$/;
const TEXT = /\.(ts|mts|cts|js|mjs|cjs|java|md|yml|yaml)$/;
const SKIPPED_DIRS = new Set([
  'node_modules',
  '.git',
  '.build',
  '.serverless',
  '.strongbox',
  '.bench',
  'coverage',
]);

/** Repository-relative paths (with `/`) of the files under `dir` whose names match `pattern`. */
function filesUnder(dir: string, pattern: RegExp): string[] {
  const abs = path.join(root, dir);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return pattern.test(dir) ? [dir] : [];
  const result: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (SKIPPED_DIRS.has(entry.name)) continue;
    const rel = dir === '.' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) result.push(...filesUnder(rel, pattern));
    else if (entry.isFile() && pattern.test(entry.name)) result.push(rel);
  }
  return result;
}

/** Top-level files (not directories) matching `pattern`. */
function topLevel(pattern: RegExp): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isFile() && pattern.test(e.name))
    .map((e) => e.name);
}

const read = (rel: string) => readFileSync(path.join(root, rel), 'utf8');
const linesOf = (files: string[]) => new Map(files.map((f) => [f, countLines(read(f))]));

function checkSizes(budgets: Budgets) {
  const sources = [
    ...['shared', 'functions', 'deploy', 'scripts'].flatMap((d) => filesUnder(d, CODE)),
    ...topLevel(CODE),
  ];
  const sourceLines = linesOf(sources);
  const handlerLines = linesOf(filesUnder('functions', CODE));
  const findings = [
    ...ratchet(
      sourceLines,
      budgets.maxLines,
      budgets.oversized,
      'source file',
      `"oversized" in ${BUDGETS_NAME}`,
    ),
    ...ratchet(
      handlerLines,
      budgets.maxHandlerLines,
      budgets.oversizedHandlers,
      'handler module',
      `"oversizedHandlers" in ${BUDGETS_NAME}`,
    ),
  ];
  return { sourceLines, handlerLines, findings };
}

function checkAnchors() {
  const files = [
    ...['shared', 'functions', 'deploy', 'scripts', 'test', 'docs'].flatMap((d) => filesUnder(d, TEXT)),
    ...topLevel(TEXT),
  ];
  const anchorsOf = new Map<string, Set<string> | undefined>();
  const anchorsOfFile = (rel: string) => {
    if (!anchorsOf.has(rel))
      anchorsOf.set(rel, existsSync(path.join(root, rel)) ? markdownAnchors(read(rel)) : undefined);
    return anchorsOf.get(rel);
  };
  const findings: Finding[] = [];
  let cited = 0;
  for (const file of files) {
    for (const ref of anchorReferences(read(file), file.endsWith('.md'))) {
      cited++;
      // A path is relative to the citing file (markdown links, `../../docs/…`) or, as docstrings
      // usually write `docs/format.md#…`, to the repository root.
      const candidates =
        ref.target === ''
          ? [file]
          : [path.posix.join(path.posix.dirname(file), ref.target), path.posix.normalize(ref.target)];
      const target = candidates.find((c) => !c.startsWith('../') && anchorsOfFile(c) !== undefined);
      const where = `${file}:${ref.line}`;
      if (target === undefined) {
        findings.push({
          level: 'failure',
          message: `${where}: cites ${ref.target}#${ref.anchor}, but there is no ${ref.target}.`,
        });
      } else if (!anchorsOfFile(target)?.has(ref.anchor)) {
        findings.push({
          level: 'failure',
          message: `${where}: cites ${ref.target || target}#${ref.anchor}, but ${target} has no heading with that anchor. Point it at the section that now holds the text (or restore the heading).`,
        });
      }
    }
  }
  return { files: files.length, cited, findings };
}

/** biome.json's per-file complexity limits (the ratchet of the cognitive-complexity rule) name files that exist. */
function checkComplexityExemptions() {
  const exempt = complexityExemptions(JSON.parse(read('biome.json')));
  const findings: Finding[] = exempt
    .filter((p) => !existsSync(path.join(root, p)))
    .map((p) => ({
      level: 'failure',
      message: `biome.json: an override sets the cognitive-complexity limit of ${p}, which does not exist: remove that override (a function moved elsewhere gets an entry of its own only if it still scores over the limit).`,
    }));
  return { exempt: exempt.length, findings };
}

const budgets = JSON.parse(readFileSync(budgetsPath, 'utf8')) as Budgets;
const sizes = checkSizes(budgets);
const anchors = checkAnchors();
const exemptions = checkComplexityExemptions();

if (process.argv.includes('--update')) {
  const next: Budgets = {
    ...budgets,
    oversized: tightened(sizes.sourceLines, budgets.maxLines, budgets.oversized),
    oversizedHandlers: tightened(sizes.handlerLines, budgets.maxHandlerLines, budgets.oversizedHandlers),
  };
  writeFileSync(budgetsPath, `${JSON.stringify(next, null, 2)}\n`);
  console.log(`budgets: ${BUDGETS_NAME} tightened to the current counts (nothing added, nothing raised).`);
  process.exit(0);
}

const findings = [...sizes.findings, ...anchors.findings, ...exemptions.findings];
const failures = findings.filter((f) => f.level === 'failure');
for (const f of findings.filter((f) => f.level === 'note')) console.log(`note: ${f.message}`);
for (const f of failures) console.log(`✗ ${f.message}`);
console.log(
  `budgets: ${sizes.sourceLines.size} source files (budget ${budgets.maxLines} lines, ${Object.keys(budgets.oversized).length} listed over it), ` +
    `${sizes.handlerLines.size} handlers (budget ${budgets.maxHandlerLines}, ${Object.keys(budgets.oversizedHandlers).length} listed), ` +
    `${anchors.cited} doc anchors cited in ${anchors.files} files, ${exemptions.exempt} files with their own complexity limit in biome.json: ${failures.length === 0 ? 'ok' : `${failures.length} failure(s)`}.`,
);
if (failures.length > 0) process.exit(1);
