/**
 * The table rows of `npm run bench` (issue 17), driven from run.ts; each is ours against a floor
 * measured in the same run, on the same table:
 *
 * - `table-full`: our full table backup (`strongbox backup` of a plan `source: { table }`: a parallel
 *   Scan of `segments` segments, then the parts, packs and commit), against `table-scan`: the raw
 *   parallel Scan of the same segments with @aws-sdk/client-dynamodb, reading every item and
 *   storing nothing. Both report items/s and RCU-equivalents (the sum of ConsumedCapacity).
 * - `table-incremental`: our snapshot after N changes, built from the first plus the journal capture
 *   filled from the stream (no Scan), against `table-scan-2`: a second full raw Scan.
 * - `table-restore`: `strongbox restore --plan P --snapshot FIRST --to-table NEW` (the CLI in a
 *   process of its own, start-up included; the restored table is then compared item by item with
 *   the items loaded), against `table-write`: the same items put into another new table with
 *   BatchWriteItem, 25 a call, at the same concurrency (STRONGBOX_CONCURRENCY).
 *
 * The table: one item per line of the corpus's text files (shared/local/demo/table-corpus.ts).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CorpusFile } from '#local/demo/corpus.ts';
import { formatTable } from '#local/format.ts';
import { PROJECT_ROOT } from '#local/stack.ts';
import type { Command, OurRow } from './stack-child.ts';
import type { TableFloorJob, TableFloorResult } from './table-floor.ts';
import { TABLE_PLAN, type TableCommand } from './table-rows.ts';

/** What run.ts lends the table rows. */
export interface TableBenchDeps {
  stack: { call<T>(command: Command): Promise<T> };
  endpoints: { dynamodb: string };
  region: string;
  files: readonly CorpusFile[];
  items: number;
  /** Changes of each kind (update, insert, delete) before the incremental. */
  perKind: number;
  segments: number;
  concurrency: number;
  scratch: string;
  log: (line: string) => void;
  /** Add one of our rows (OurRow) or a floor's. */
  addOurs(id: string, name: string, row: OurRow, items: number, note?: string): void;
  addFloor(row: {
    id: string;
    name: string;
    peerOf: string;
    seconds: number;
    objects: number;
    memBytes: number;
    detail: unknown;
  }): void;
  addCli(row: {
    id: string;
    name: string;
    seconds: number;
    objects: number;
    memBytes?: number;
    detail: unknown;
  }): void;
  problems: string[];
}

/** Each table row's figures for the table's own summary. */
interface Figures {
  name: string;
  seconds: number;
  items: number;
  capacityUnits?: number;
  baselineOf?: string;
  id: string;
}

const CLI = join(PROJECT_ROOT, 'shared/local/cli/index.ts');

function run(argv: string[]): Promise<{ code: number; stdout: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve) =>
    execFile(process.execPath, argv, { cwd: PROJECT_ROOT, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
        stdout: `${stdout}${stderr}`,
        seconds: (performance.now() - t0) / 1000,
      }),
    ),
  );
}

async function floor(deps: TableBenchDeps, job: TableFloorJob, name: string): Promise<TableFloorResult> {
  const file = join(deps.scratch, `table-floor-${name}.json`);
  await writeFile(file, JSON.stringify(job));
  const out = await run([join(PROJECT_ROOT, 'test/bench/table-floor.ts'), file]);
  if (out.code !== 0)
    throw new Error(`table floor ${name} exited with ${out.code}: ${out.stdout.slice(-1000)}`);
  return JSON.parse(out.stdout.trim().split('\n').pop() as string) as TableFloorResult;
}

const rate = (items: number, seconds: number) => Math.round(items / seconds);

/**
 * Run the table rows; @returns the lines of their summary (items/s, RCU-equivalents, ratios), for
 * the end of the run.
 */
export async function runTableRows(deps: TableBenchDeps): Promise<string> {
  const { stack, log } = deps;
  const figures: Figures[] = [];
  const table = (command: TableCommand) => stack.call<unknown>({ cmd: 'table', command });

  const load = (await table({
    step: 'load',
    files: [...deps.files],
    items: deps.items,
    concurrency: deps.concurrency,
  })) as {
    items: number;
    files: number;
    seconds: number;
    names: { source: string; restored: string; floor: string };
  };
  const { names } = load;
  log(
    `   ${load.items} items (a line each of ${load.files} text files) loaded into ${names.source} in ${load.seconds.toFixed(1)} s`,
  );
  const items = load.items;

  log(`   ours: full table backup (strongbox backup, ${deps.segments} Scan segments)…`);
  const full = (await table({ step: 'full', segments: deps.segments })) as OurRow;
  deps.addOurs('table-full', `table: full backup (${deps.segments}-segment Scan)`, full, items);
  const fullUnits = Number(full.detail.capacityUnits ?? Number.NaN);
  figures.push({
    id: 'table-full',
    name: 'ours: full backup (strongbox backup)',
    seconds: full.seconds,
    items,
    capacityUnits: fullUnits,
  });
  log(`   ${full.seconds.toFixed(1)} s, ${fullUnits} RCU`);

  const scanJob: TableFloorJob = {
    op: 'scan',
    endpoint: deps.endpoints.dynamodb,
    region: deps.region,
    table: names.source,
    segments: deps.segments,
  };
  const scan1 = await floor(deps, scanJob, 'scan');
  deps.addFloor({
    id: 'table-scan',
    name: `table floor: SDK parallel Scan (${deps.segments} segments)`,
    peerOf: 'table-full',
    seconds: scan1.seconds,
    objects: scan1.items,
    memBytes: scan1.peakRssBytes,
    detail: scan1,
  });
  figures.push({
    id: 'table-scan',
    name: 'floor: raw parallel Scan',
    seconds: scan1.seconds,
    items: scan1.items,
    capacityUnits: scan1.capacityUnits,
    baselineOf: 'table-full',
  });
  log(`   floor: Scan ${scan1.seconds.toFixed(1)} s, ${scan1.capacityUnits} RCU`);

  const changed = (await table({ step: 'change', perKind: deps.perKind, concurrency: deps.concurrency })) as {
    changes: number;
    seconds: number;
  };
  log(
    `   ${changed.changes} changes (updates, inserts, deletes) journaled from the stream in ${changed.seconds.toFixed(1)} s`,
  );
  const incremental = (await table({ step: 'incremental' })) as OurRow;
  const mode = String(incremental.detail.mode);
  if (mode !== 'journal')
    deps.problems.push(`the table's incremental snapshot was built by ${mode}, not from the journal`);
  deps.addOurs(
    'table-incremental',
    `table: incremental from the stream journal (${changed.changes} changes)`,
    incremental,
    items,
    mode === 'journal' ? undefined : `mode ${mode}`,
  );
  figures.push({
    id: 'table-incremental',
    name: `ours: incremental after ${changed.changes} changes (journal)`,
    seconds: incremental.seconds,
    items,
    capacityUnits: Number(incremental.detail.capacityUnits ?? Number.NaN),
  });
  const scan2 = await floor(deps, scanJob, 'scan-2');
  deps.addFloor({
    id: 'table-scan-2',
    name: 'table floor: a second full Scan',
    peerOf: 'table-incremental',
    seconds: scan2.seconds,
    objects: scan2.items,
    memBytes: scan2.peakRssBytes,
    detail: scan2,
  });
  figures.push({
    id: 'table-scan-2',
    name: 'floor: a second full raw Scan',
    seconds: scan2.seconds,
    items: scan2.items,
    capacityUnits: scan2.capacityUnits,
    baselineOf: 'table-incremental',
  });
  log(`   ours ${incremental.seconds.toFixed(1)} s (${mode}); second Scan ${scan2.seconds.toFixed(1)} s`);

  const cliDir = join(deps.scratch, 'table-cli');
  await stack.call({ cmd: 'stackFile', dir: cliDir });
  await stack.call({ cmd: 'quiet' });
  const firstSnapshot = String(full.detail.snapshotId);
  const argv = ['restore', '--plan', TABLE_PLAN, '--snapshot', firstSnapshot, '--to-table', names.restored];
  log(`   ours: strongbox ${argv.join(' ')}…`);
  const restore = await run([CLI, '--data-dir', cliDir, ...argv]);
  if (restore.code !== 0)
    throw new Error(
      `strongbox ${argv.join(' ')} exited with ${restore.code}: ${restore.stdout.slice(-1000)}`,
    );
  const compare = (await table({ step: 'compare', table: names.restored, segments: deps.segments })) as {
    identical: number;
    expected: number;
    problem?: string;
  };
  if (compare.problem) deps.problems.push(`table restore: ${compare.problem}`);
  deps.addCli({
    id: 'table-restore',
    name: 'table: restore --to-table (CLI)',
    seconds: restore.seconds,
    objects: compare.identical,
    detail: { compare, tail: restore.stdout.slice(-600) },
  });
  figures.push({
    id: 'table-restore',
    name: 'ours: strongbox restore --to-table (CLI, start-up included)',
    seconds: restore.seconds,
    items: compare.identical,
  });
  log(`   ${restore.seconds.toFixed(1)} s; ${compare.identical} of ${compare.expected} items identical`);

  const write = await floor(
    deps,
    {
      op: 'write',
      endpoint: deps.endpoints.dynamodb,
      region: deps.region,
      sourceTable: names.restored,
      targetTable: names.floor,
      segments: deps.segments,
      concurrency: deps.concurrency,
    },
    'write',
  );
  deps.addFloor({
    id: 'table-write',
    name: `table floor: SDK BatchWriteItem (25 a call, ${deps.concurrency} at a time)`,
    peerOf: 'table-restore',
    seconds: write.seconds,
    objects: write.items,
    memBytes: write.peakRssBytes,
    detail: write,
  });
  figures.push({
    id: 'table-write',
    name: `floor: raw BatchWriteItem, ${deps.concurrency} at a time`,
    seconds: write.seconds,
    items: write.items,
    baselineOf: 'table-restore',
  });
  log(`   floor: BatchWriteItem ${write.seconds.toFixed(1)} s (${write.calls} calls)`);
  return summary(figures);
}

function summary(figures: Figures[]): string {
  const byId = new Map(figures.map((f) => [f.id, f]));
  const lines = figures.map((f) => {
    const ours = f.baselineOf ? byId.get(f.baselineOf) : undefined;
    return [
      `${f.baselineOf ? '  ' : ''}${f.name}`,
      Number(f.seconds.toFixed(1)),
      f.items,
      rate(f.items, f.seconds),
      f.capacityUnits === undefined || Number.isNaN(f.capacityUnits)
        ? '-'
        : Number(f.capacityUnits.toFixed(1)),
      ours ? `${(ours.seconds / f.seconds).toFixed(2)}×` : '',
    ];
  });
  return [
    'DynamoDB table rows (issue 17): ours against a raw floor on the same table, in the same run',
    formatTable(['row', 'seconds', 'items', 'items/s', 'RCU', 'ours/floor'], lines),
    'RCU: the sum of the ConsumedCapacity DynamoDB Local reported for the Scan pages (strongly consistent reads);',
    '  ours: the pages the snapshot function read. The restore row is the CLI in a process of its own, start-up included.',
  ].join('\n');
}
