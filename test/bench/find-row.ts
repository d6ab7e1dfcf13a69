/**
 * The `find` row of `npm run bench` (issue: "a `find` over 100 snapshots of 25,000 objects each
 * completes in under 10× the time of one `ls`"): a history of snapshots built through the pipeline,
 * then `strongbox ls PLAN@latest` (the baseline) and `strongbox find PLAN PATTERN` timed as a user
 * runs them: the CLI in a process of its own (`node shared/local/cli/index.ts --data-dir DIR …`,
 * DIR holding the stack's stack.json as `strongbox start` writes it), its output read through a pipe
 * and dropped but for the last 4 KiB.
 *
 * The history: a plan of its own over the whole source bucket, continuously protected (its
 * incrementals are built from the capture journal, the cheapest real snapshots), its first snapshot
 * by listing, then `snapshots - 1` rounds of `changesPerRound` changes (60% modified, 20% added,
 * 20% deleted) each followed by an incremental. The changed objects are drawn at random (a fixed
 * hash order, the same every run) from the whole key space, and an added object lands next to an
 * existing one (`dir/added-rNNN-name`): no clustering that would let more parts be shared than a
 * bucket edited anywhere would. Each change rewrites the part holding its key; every other part is
 * shared with the previous snapshot.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ChangeSet, CorpusFile } from '#local/demo/corpus.ts';
import { PROJECT_ROOT } from '#local/stack.ts';
import { type PeerRun, runMeasured } from './peers.ts';
import type { Command, OurRow } from './stack-child.ts';

/** The plan whose history `find` searches. */
export const PLAN_FIND = 'bench-find';
/** Matches a few percent of the corpus's keys, anywhere in the tree (no literal prefix to skip parts by). */
export const FIND_PATTERN = '**/*README*';
/** The target: find over the history in under this many times one ls. */
export const FIND_TARGET_RATIO = 10;

const CLI = join(PROJECT_ROOT, 'shared/local/cli/index.ts');

interface StackCalls {
  call<T>(command: Command): Promise<T>;
}

export interface FindOptions {
  /** Snapshots in the history (the first by listing, the others from the journal). */
  snapshots: number;
  changesPerRound: number;
  /** Each CLI command is run this many times (ls and find alternately); the median counts. */
  repeats: number;
  /** Where stack.json is written for the CLI's `--data-dir`. */
  cliDataDir: string;
  /** Objects not to touch (gone from the corpus directory, or changed already by another row). */
  exclude: ReadonlySet<string>;
}

/** One CLI command's runs. */
export interface CliTiming {
  argv: string[];
  /** The median of `runs`. */
  seconds: number;
  runs: number[];
  peakRssBytes: number;
  /** S3 requests the endpoints served during its last run (the CLI's own: the stack is quiet). */
  s3Requests: number;
  requestsByKind: Record<string, number>;
  /** Its output's last line (ls: objects and bytes; find: versions and what was searched). */
  summary: string;
}

export interface FindResult {
  snapshots: number;
  changesPerRound: number;
  /** Objects in the latest snapshot (ls's count, checked against the catalog's). */
  objects: number;
  /** Its logical bytes (the catalog's). */
  bytes: number;
  /** Seconds building the history (not a row). */
  historySeconds: number;
  /** Incrementals by how they were built (`journal` expected). */
  modes: Record<string, number>;
  /** `strongbox --help`: the CLI's start-up (node, modules), included in both rows. */
  startupSeconds: number;
  ls: CliTiming;
  find: CliTiming;
  /** From find's summary line. */
  searched: {
    versions: number;
    keys: number;
    snapshots: number;
    partsRead: number;
    partsSkipped: number;
    journalEntries: number;
  };
  ratio: number;
}

const rank = (key: string) => createHash('sha256').update(`find-history\u0000${key}`).digest('hex');

/**
 * The changes of each round: `perRound` objects a round, drawn in a fixed random order from the
 * files not excluded, each object changed at most once over the history.
 * @throws Error when the corpus is too small for that many distinct changes.
 */
export function historyChanges(
  files: readonly CorpusFile[],
  exclude: ReadonlySet<string>,
  rounds: number,
  perRound: number,
): ChangeSet[] {
  const pool = files
    .filter((f) => !exclude.has(f.key))
    .map((f) => ({ f, r: rank(f.key) }))
    .sort((a, b) => (a.r < b.r ? -1 : 1))
    .map(({ f }) => f);
  if (pool.length < rounds * perRound)
    throw new Error(
      `find row: ${rounds} rounds of ${perRound} changes need ${rounds * perRound} objects; the corpus has ${pool.length} to change`,
    );
  const added = Math.round(perRound * 0.2);
  const deleted = Math.round(perRound * 0.2);
  const modified = perRound - added - deleted;
  return Array.from({ length: rounds }, (_, r) => {
    const drawn = pool.slice(r * perRound, (r + 1) * perRound);
    const tag = `added-r${String(r + 1).padStart(3, '0')}-`;
    return {
      modified: drawn.slice(0, modified),
      added: drawn.slice(modified, modified + added).map((f) => {
        const slash = f.key.lastIndexOf('/');
        return { ...f, key: `${f.key.slice(0, slash + 1)}${tag}${f.key.slice(slash + 1)}` };
      }),
      deleted: drawn.slice(modified + added),
    };
  });
}

/** What the catalog says of a snapshot. */
interface SnapshotCounts {
  objectCount?: number;
  logicalBytes?: number;
}

/**
 * Build the history through the pipeline.
 * @returns how each incremental was built, and the latest snapshot's counts.
 */
async function buildHistory(
  stack: StackCalls,
  changes: readonly ChangeSet[],
  snapshots: number,
  log: (s: string) => void,
): Promise<{ modes: Record<string, number>; latest: SnapshotCounts }> {
  await stack.call({
    cmd: 'plan',
    planId: PLAN_FIND,
    prefix: '',
    continuous: true,
    samplePercent: 0,
    keepLast: snapshots + 10,
  });
  const base = await stack.call<OurRow>({ cmd: 'base', planId: PLAN_FIND });
  log(`   snapshot 1/${snapshots} (by listing): ${base.seconds.toFixed(1)} s`);
  const modes: Record<string, number> = {};
  let latest = base.detail.snapshot as SnapshotCounts;
  const t0 = performance.now();
  for (const [i, set] of changes.entries()) {
    const round = performance.now();
    const changed = await stack.call<{ seconds: number }>({
      cmd: 'change',
      changes: set,
      planIds: [PLAN_FIND],
    });
    const row = await stack.call<OurRow>({ cmd: 'incremental', planId: PLAN_FIND });
    const mode = String(row.detail.mode);
    modes[mode] = (modes[mode] ?? 0) + 1;
    latest = row.detail.snapshot as SnapshotCounts;
    const n = i + 2;
    if (n % 10 === 0 || n === snapshots)
      log(
        `   snapshot ${n}/${snapshots}: ${((performance.now() - t0) / 1000 / (i + 1)).toFixed(1)} s a round on average; this one ${((performance.now() - round) / 1000).toFixed(1)} s (capture ${changed.seconds.toFixed(1)} s, snapshot task ${row.seconds.toFixed(1)} s, the rest the bench's 2 s of waits and the job's verification and prune)`,
      );
  }
  return { modes, latest };
}

type Counts = Record<string, Record<string, number>>;

function s3Kinds(before: Counts, after: Counts): Record<string, number> {
  const byKind: Record<string, number> = {};
  for (const [region, counts] of Object.entries(after))
    for (const [kind, n] of Object.entries(counts)) {
      const d = n - (before[region]?.[kind] ?? 0);
      if (d > 0 && kind.startsWith('s3:')) byKind[kind] = (byKind[kind] ?? 0) + d;
    }
  return byKind;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** Run the CLI once, measured, with its S3 requests. */
async function cliRun(
  stack: StackCalls,
  dataDir: string,
  argv: string[],
): Promise<PeerRun & { byKind: Record<string, number> }> {
  const before = await stack.call<Counts>({ cmd: 'stats' });
  const run = await runMeasured(
    process.execPath,
    [CLI, '--data-dir', dataDir, ...argv],
    {},
    { cwd: PROJECT_ROOT },
  );
  const after = await stack.call<Counts>({ cmd: 'stats' });
  if (run.exitCode !== 0)
    throw new Error(
      `strongbox ${argv.join(' ')} exited with ${run.exitCode}: ${run.stdoutTail.slice(-1000)}`,
    );
  return { ...run, byKind: s3Kinds(before, after) };
}

function timing(argv: string[], runs: readonly (PeerRun & { byKind: Record<string, number> })[]): CliTiming {
  const last = runs.at(-1) as PeerRun & { byKind: Record<string, number> };
  return {
    argv,
    seconds: median(runs.map((r) => r.seconds)),
    runs: runs.map((r) => r.seconds),
    peakRssBytes: Math.max(...runs.map((r) => r.peakRssBytes)),
    s3Requests: Object.values(last.byKind).reduce((a, b) => a + b, 0),
    requestsByKind: last.byKind,
    summary: last.stdoutTail.trimEnd().split('\n').at(-1) ?? '',
  };
}

const FIND_SUMMARY =
  /(\d+) version\(s\) of (\d+) key\(s\); searched (\d+) snapshot\(s\), read (\d+) manifest part\(s\) \((\d+) skipped[^)]*\) and (\d+) journal entries/;
const LS_SUMMARY = /^(\d+) object\(s\), .* in snapshot \S+ of plan /;

/**
 * Build the history, then time ls (the baseline) and find through the CLI, alternately, `repeats`
 * times each, with the stack quiet.
 */
export async function runFindRow(
  stack: StackCalls,
  files: readonly CorpusFile[],
  options: FindOptions,
  log: (s: string) => void,
): Promise<FindResult> {
  const { snapshots, changesPerRound, repeats, cliDataDir } = options;
  const changes = historyChanges(files, options.exclude, snapshots - 1, changesPerRound);
  const t0 = performance.now();
  const { modes, latest } = await buildHistory(stack, changes, snapshots, log);
  const historySeconds = (performance.now() - t0) / 1000;
  await stack.call({ cmd: 'stackFile', dir: cliDataDir });
  await stack.call({ cmd: 'quiet' });
  // Once first: the CLI's modules are read from disk once, as for a user's second command.
  const startup = await cliRun(stack, cliDataDir, ['--help']);
  const lsArgv = ['ls', `${PLAN_FIND}@latest`];
  const findArgv = ['find', PLAN_FIND, FIND_PATTERN];
  const lsRuns = [];
  const findRuns = [];
  for (let i = 0; i < repeats; i++) {
    lsRuns.push(await cliRun(stack, cliDataDir, lsArgv));
    findRuns.push(await cliRun(stack, cliDataDir, findArgv));
  }
  const ls = timing(lsArgv, lsRuns);
  const find = timing(findArgv, findRuns);
  const lsMatch = LS_SUMMARY.exec(ls.summary);
  const m = FIND_SUMMARY.exec(find.summary);
  if (!lsMatch || !m)
    throw new Error(`find row: unexpected CLI output: ls '${ls.summary}', find '${find.summary}'`);
  const n = (i: number) => Number(m[i]);
  const searched = {
    versions: n(1),
    keys: n(2),
    snapshots: n(3),
    partsRead: n(4),
    partsSkipped: n(5),
    journalEntries: n(6),
  };
  if (searched.snapshots !== snapshots)
    throw new Error(`find row: find searched ${searched.snapshots} snapshots, the history has ${snapshots}`);
  const objects = Number(lsMatch[1]);
  if (latest.objectCount !== undefined && latest.objectCount !== objects)
    throw new Error(
      `find row: ls listed ${objects} objects, the latest snapshot holds ${latest.objectCount}`,
    );
  return {
    snapshots,
    changesPerRound,
    objects,
    bytes: latest.logicalBytes ?? 0,
    historySeconds,
    modes,
    startupSeconds: startup.seconds,
    ls,
    find,
    searched,
    ratio: find.seconds / ls.seconds,
  };
}
