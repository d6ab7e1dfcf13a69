/**
 * The demo's table part (issue 17): a DynamoDB table of one item per line of the uploaded tree's
 * text files, protected by a plan of its own, backed up, changed in two rounds with a moment T
 * between them, backed up again from the stream journal, and restored as of T into a new table by
 * `strongbox restore --to-table`, whose every item is compared with what the table held at T.
 *
 * 1. Creates the table (pk = file path, sk = line number; on-demand; NEW_AND_OLD_IMAGES stream) on
 *    the stack's DynamoDB and loads it with BatchWriteItem (table-load.ts).
 * 2. Applies the plan `source: { table }` and takes a full snapshot (`strongbox backup`: a
 *    parallel Scan).
 * 3. Round 1 of changes (updates, inserts, deletes), T, round 2; waits until capture has journaled
 *    every change of both rounds from the stream.
 * 4. Takes a second snapshot, built from the first plus the journal (no Scan).
 * 5. Restores the table as of T into a new table and compares every item with the loaded items
 *    plus round 1 (kept in memory): `Restored N of N items into table X as of T (… s): all identical`.
 */

import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPlans } from '#domain/apply-plans.ts';
import type { JobRecord, SnapshotRecord } from '#domain/records.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { tableContainerOf } from '#domain/source/dynamodb-table.ts';
import { type Item, itemKeyOf } from '#domain/table/item.ts';
import type { Container } from '#runtime/container.ts';
import { writeStackFile } from '../cli/context.ts';
import { formatSeconds } from '../format.ts';
import { type LocalStack, PROJECT_ROOT } from '../stack.ts';
import type { CorpusFile } from './corpus.ts';
import {
  compareImages,
  comparisonProblem,
  DEMO_TABLE_ITEMS,
  LINE_KEY_SCHEMA,
  linesOfFiles,
  pickTableRounds,
  type TableChange,
  TableImage,
} from './table-corpus.ts';
import { applyTableChanges, createLineTable, enableStream, putItems, scanTable } from './table-load.ts';

export const TABLE_PLAN_ID = 'demo-table';
/** BatchWriteItem calls and item changes in flight. */
const WRITE_CONCURRENCY = 16;
/** Segments of the demo's own parallel Scan of the restored table. */
const COMPARE_SEGMENTS = 4;

/**
 * The stack's table names (serverless.yml's `protectedTables` and `restoreTables`, as
 * deploy/table-lists.cjs lists them): the first protected table (the one whose stream the embedded
 * stack plays to captureTable), and tables named `<restore prefix><name>` and `…<name>-floor` that
 * restore may create.
 */
export function stackTableNames(
  stack: Pick<LocalStack, 'serverless'>,
  name: string,
): { source: string; restored: string; floor: string } {
  const tables = (
    stack.serverless as { custom?: { tables?: { protectedTables?: string[]; restoreTables?: string[] } } }
  ).custom?.tables;
  const source = tables?.protectedTables?.[0];
  if (!source) throw new Error('serverless.yml names no protected table (param protectedTables)');
  const pattern = tables?.restoreTables?.[0] ?? `${source}-restore-*`;
  const prefix = pattern.endsWith('*') ? pattern.slice(0, -1) : `${pattern}-`;
  return { source, restored: `${prefix}${name}`, floor: `${prefix}${name}-floor` };
}

/** What the table part needs from the demo. */
export interface TableDemoContext {
  /** The table and the restore's new table (default: stackTableNames(stack, 'demo')). */
  tables?: { source: string; restored: string };
  stack: LocalStack;
  container: Container;
  /** The uploaded tree's files (the table's lines come from their text files). */
  files: readonly CorpusFile[];
  /** Another tree, read when the uploaded one holds fewer text lines than the table needs. */
  fallbackFiles: () => Promise<CorpusFile[]>;
  log: (line: string) => void;
  /** Follow a snapshot's job of `planId` until it ends. */
  follow: (planId: string, snapshotId: string) => Promise<JobRecord>;
  /** Items the table holds at least (DEMO_TABLE_ITEMS). */
  items?: number;
}

type Ctx = TableDemoContext & { tables: { source: string; restored: string } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The resolution of the stream's ApproximateCreationDateTime, which capture journals as a change's
 * time: AWS gives it to the second; DynamoDB Local to the minute (its records of changes made at
 * 07:35:07–07:35:17 all say 07:35:00), so the demo keeps its two rounds a minute apart.
 */
export const STREAM_TIME_RESOLUTION_MS = 60_000;

/**
 * The moment T between two rounds of changes: at .500 of a second that begins at least 1.1 s after
 * round 1 ended (no change of round 1 shares T's second), and the moment round 2 may begin: at least
 * 1.1 s after T and past the next multiple of `resolutionMs` after T, so that every change of round
 * 2, dated by the stream to that resolution (rounded down), is dated after T.
 * @param roundEndMs epoch ms when round 1's last change was answered.
 */
export function momentBetweenRounds(
  roundEndMs: number,
  resolutionMs = STREAM_TIME_RESOLUTION_MS,
): { t: number; round2At: number } {
  const t = Math.ceil((roundEndMs + 1100) / 1000) * 1000 + 500;
  const nextBoundary = (Math.floor(t / resolutionMs) + 1) * resolutionMs;
  return { t, round2At: Math.max(t + 1100, nextBoundary + 500) };
}

/**
 * Whether the journal holds every change of both rounds: each key of round 1 with an event before
 * T, each key of round 2 with one after T. @returns the keys still missing (empty: all there).
 */
export function missingFromJournal(
  entries: readonly { key: string; eventTime: string }[],
  rounds: { round1: readonly TableChange[]; round2: readonly TableChange[] },
  t: number,
): string[] {
  const times = new Map<string, number[]>();
  for (const e of entries) {
    const list = times.get(e.key) ?? [];
    list.push(Date.parse(e.eventTime));
    times.set(e.key, list);
  }
  const keyOfChange = (c: TableChange) => itemKeyOf(c.kind === 'insert' ? c.item : c.key, LINE_KEY_SCHEMA);
  const missing: string[] = [];
  for (const c of rounds.round1)
    if (!(times.get(keyOfChange(c)) ?? []).some((x) => x < t)) missing.push(keyOfChange(c));
  for (const c of rounds.round2)
    if (!(times.get(keyOfChange(c)) ?? []).some((x) => x > t)) missing.push(keyOfChange(c));
  return missing;
}

/** `strongbox …` in a process of its own against this stack (its stack.json in `dataDir`). */
export function runCli(
  dataDir: string,
  argv: readonly string[],
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'shared/local/cli/index.ts'), '--data-dir', dataDir, ...argv],
      { cwd: PROJECT_ROOT, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, out: stdout, err: stderr });
      },
    );
  });
}

/** The table restore's command line: `restore --plan P --at T --to-table NEW`. */
export function tableRestoreArgv(plan: string, at: string, toTable: string): string[] {
  return ['restore', '--plan', plan, '--at', at, '--to-table', toTable];
}

/** Step 1: the items, the table and its load. */
async function loadTable(ctx: Ctx, target: number) {
  const { log } = ctx;
  let corpus = await linesOfFiles([...ctx.files], target);
  if (corpus.items.length < target) {
    log(
      `   the uploaded tree holds ${corpus.items.length} text lines, fewer than ${target}: adding the lines of another tree`,
    );
    const have = new Set(ctx.files.map((f) => f.key));
    const more = (await ctx.fallbackFiles()).filter((f) => !have.has(f.key));
    corpus = await linesOfFiles([...ctx.files, ...more], target);
  }
  const { items } = corpus;
  const ddb = ctx.stack.dynamodb;
  // The stream is enabled once the table is loaded, as when an existing table is put under
  // protection: the load's 100,000 records would keep capture busy for many minutes on this stack.
  await createLineTable(ddb, ctx.tables.source, { stream: false });
  log(
    `   ${items.length} items (a line each of ${corpus.files} text files; ${corpus.skipped} files not text) into table ${ctx.tables.source}…`,
  );
  const started = Date.now();
  let written = 0;
  let lastLog = Date.now();
  const calls = await putItems(ddb, ctx.tables.source, items, WRITE_CONCURRENCY, (n) => {
    written += n;
    if (Date.now() - lastLog >= 10_000) {
      lastLog = Date.now();
      const s = (Date.now() - started) / 1000;
      log(`     … ${written} of ${items.length} items written (${Math.round(written / s)} items/s)`);
    }
  });
  const seconds = (Date.now() - started) / 1000;
  const streamArn = await enableStream(ddb, ctx.tables.source);
  log(
    `   loaded in ${formatSeconds(seconds)}: ${Math.round(items.length / seconds)} items/s, ${calls} BatchWriteItem calls (25 items each, ${WRITE_CONCURRENCY} at a time); stream enabled (NEW_AND_OLD_IMAGES): ${streamArn}`,
  );
  return items;
}

/** A snapshot of the table plan, followed to the end of its job. */
async function snapshot(ctx: Ctx, what: string): Promise<SnapshotRecord> {
  const c = ctx.container;
  const started = await startSnapshotNow(c.pipeline, TABLE_PLAN_ID);
  const job = await ctx.follow(TABLE_PLAN_ID, started.snapshotId);
  if (job.status !== 'SUCCEEDED') throw new Error(`${what}: job ${job.status} ${job.error ?? ''}`);
  const snap = await c.pipeline.catalog.getSnapshot(TABLE_PLAN_ID, started.snapshotId);
  if (snap?.status !== 'COMMITTED')
    throw new Error(`${what}: snapshot ${started.snapshotId} is ${snap?.status}`);
  return snap;
}

/**
 * Wait until capture has journaled every change of both rounds (polled every 5 s: each poll reads
 * the journal since round 1; progress every 30 s). Fails when nothing new is journaled for 2 minutes.
 * @returns when the wait began (epoch ms).
 */
async function waitForJournal(
  ctx: Ctx,
  rounds: { round1: readonly TableChange[]; round2: readonly TableChange[] },
  since: string,
  t: number,
): Promise<number> {
  const container = tableContainerOf(ctx.tables.source);
  const started = Date.now();
  let lastLog = started;
  let best = Number.POSITIVE_INFINITY;
  let progressAt = started;
  for (;;) {
    const entries = await ctx.container.pipeline.catalog.listJournal(TABLE_PLAN_ID, { capturedAfter: since });
    const missing = missingFromJournal(
      entries.filter((e) => e.bucket === container),
      rounds,
      t,
    );
    if (missing.length === 0) return started;
    if (missing.length < best) {
      best = missing.length;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > 120_000)
      throw new Error(
        `capture journaled nothing new for 2 minutes: ${missing.length} change(s) missing, e.g. ${missing[0]}`,
      );
    if (Date.now() - lastLog >= 30_000) {
      lastLog = Date.now();
      ctx.log(`     … ${missing.length} change(s) not journaled yet`);
    }
    await sleep(5000);
  }
}

/** Step 3: the two rounds of changes with T between them, and the wait for capture. */
async function changeInRounds(ctx: Ctx, items: readonly Item[]) {
  const { log } = ctx;
  const rounds = pickTableRounds(items);
  const count = (r: TableChange[], kind: TableChange['kind']) => r.filter((x) => x.kind === kind).length;
  const round1Start = new Date(Date.now() - 1000).toISOString();
  await applyTableChanges(ctx.stack.dynamodb, ctx.tables.source, rounds.round1, WRITE_CONCURRENCY);
  const { t, round2At } = momentBetweenRounds(Date.now());
  log(
    `   round 1: ${count(rounds.round1, 'update')} updated, ${count(rounds.round1, 'insert')} inserted, ${count(rounds.round1, 'delete')} deleted`,
  );
  await sleep(Math.max(0, round2At - Date.now()));
  const at = new Date(t).toISOString();
  log(
    `   T = ${at}: no change in its second, and round 2 waits for the next minute (DynamoDB Local dates stream records to the minute)`,
  );
  await applyTableChanges(ctx.stack.dynamodb, ctx.tables.source, rounds.round2, WRITE_CONCURRENCY);
  log(
    `   round 2: ${count(rounds.round2, 'update')} updated (a third of them again), ${count(rounds.round2, 'insert')} inserted (a third of them round 1's deleted keys), ${count(rounds.round2, 'delete')} deleted (a third of them round 1's inserts)`,
  );
  const started = await waitForJournal(ctx, rounds, round1Start, t);
  log(
    `   capture journaled every change of both rounds from the stream in ${formatSeconds((Date.now() - started) / 1000)}`,
  );
  return { rounds, at };
}

/**
 * Run the table part. @returns the problems found (empty when the restored table equals the table
 * at T item for item).
 */
export async function runTableDemo(input: TableDemoContext): Promise<string[]> {
  const ctx: Ctx = { ...input, tables: input.tables ?? stackTableNames(input.stack, 'demo') };
  const { log, container: c, stack } = ctx;
  const target = ctx.items ?? DEMO_TABLE_ITEMS;
  const partStarted = Date.now();
  log(
    `\nTable 1. A DynamoDB table of one item per text line of the uploaded tree (pk = path, sk = line number)…`,
  );
  const items = await loadTable(ctx, target);

  log(
    `\nTable 2. Applying plan '${TABLE_PLAN_ID}' (source: { table: ${ctx.tables.source} }) and taking a full snapshot ('strongbox backup ${TABLE_PLAN_ID}': a parallel Scan)…`,
  );
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: TABLE_PLAN_ID,
          source: { table: ctx.tables.source },
          schedule: 'rate(1 day)',
          retention: { keepLast: 3 },
          copyRegions: stack.copyRegions,
          verification: { samplePercent: 5 },
          continuous: { settleSeconds: 1 },
        },
      ],
    },
    stack.copyRegions,
  );
  const full = await snapshot(ctx, 'the full table snapshot');
  log(
    `   snapshot ${full.snapshotId}: ${full.objectCount ?? '?'} items read by a parallel Scan in ${formatSeconds(full.seconds)}`,
  );

  log(
    '\nTable 3. Changing items in two rounds, with a moment T between them (the stream flows through capture)…',
  );
  const { rounds, at } = await changeInRounds(ctx, items);

  log(
    `\nTable 4. A second snapshot, built from the first plus the journal ('strongbox backup ${TABLE_PLAN_ID}')…`,
  );
  // Past the plan's settle window, so the snapshot holds every change journaled.
  await sleep(1500);
  const second = await snapshot(ctx, 'the journal-built table snapshot');
  const atT = new TableImage(items).apply(rounds.round1);
  const now = atT.clone().apply(rounds.round2);
  log(
    `   snapshot ${second.snapshotId}: ${second.objectCount ?? '?'} items (the table holds ${now.items.size}) in ${formatSeconds(second.seconds)}, built ${second.mode === 'journal' ? `from the journal (${second.journalEntries ?? '?'} entries), no Scan` : `by ${second.mode ?? 'a full Scan'}`}`,
  );
  const problems: string[] = [];
  if (second.mode !== 'journal')
    problems.push(
      `the second table snapshot was built by ${second.mode ?? 'an unknown mode'}, not from the journal`,
    );
  if (second.objectCount !== undefined && second.objectCount !== now.items.size)
    problems.push(`the second table snapshot holds ${second.objectCount} items, the table ${now.items.size}`);

  const argv = tableRestoreArgv(TABLE_PLAN_ID, at, ctx.tables.restored);
  log(`\nTable 5. Restoring the table as of T into a new table: 'strongbox ${argv.join(' ')}'…`);
  const cliDir = await mkdtemp(join(tmpdir(), 'strongbox-demo-cli-'));
  await writeStackFile(stack, cliDir);
  const restoreStarted = Date.now();
  const run = await runCli(cliDir, argv);
  const restoreSeconds = (Date.now() - restoreStarted) / 1000;
  const tail = (run.code === 0 ? run.out : `${run.out}${run.err}`).trimEnd().split('\n').slice(-4);
  for (const line of tail) log(`   | ${line}`);
  if (run.code !== 0)
    return [...problems, `strongbox restore --to-table exited with ${run.code}: ${tail.join(' / ')}`];

  const scanned = await scanTable(stack.dynamodb, ctx.tables.restored, COMPARE_SEGMENTS);
  const comparison = compareImages(atT, scanned.items);
  const problem = comparisonProblem(comparison);
  if (problem) problems.push(`the table restored as of ${at} differs from the table at T: ${problem}`);
  log(`Table part: ${formatSeconds((Date.now() - partStarted) / 1000)} in all`);
  if (problems.length === 0)
    log(
      `Restored ${comparison.identical} of ${comparison.expected} items into table ${ctx.tables.restored} as of ${at} (${formatSeconds(restoreSeconds)}): all identical`,
    );
  return problems;
}
