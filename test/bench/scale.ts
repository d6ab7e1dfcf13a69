/**
 * `npm run bench -- --scale`: the rows of issue 14 at their full sizes, each timing the path a user
 * takes with the functions it runs as Lambda environments (see scale-rows.ts), and one verdict line
 * at the end: `scale: all rows within 1024 MB` when every row ran and no environment's peak RSS
 * passed its function's memorySize.
 *
 * Options (with --scale): --scale-objects N (default 1,000,000), --scale-changes N (100,000),
 * --scale-blobs N (2,000,000), --scale-large-gib N (60), --scale-sample N (restored objects checked
 * byte for byte, default 2,000), --scale-rows a,b (a subset: snapshot, restoreJob, journal, gc, large).
 * The large row's object is not stored in the emulator (fauxqs keeps objects in RAM): the stack's S3
 * proxy serves it from a generator (synthetic-object.ts, compressible 16:1 so the vault's packs fit).
 */
import { writeFile } from 'node:fs/promises';
import { formatTable } from '#local/format.ts';
import type { ScaleCommand } from './scale-rows.ts';
import type { Command, OurRow } from './stack-child.ts';

/** What run.ts's StackProcess offers. */
export interface StackCalls {
  call<T>(command: Command): Promise<T>;
}

export interface ScaleOptions {
  objects: number;
  changes: number;
  blobs: number;
  largeBytes: number;
  sampleObjects: number;
  rows: readonly string[];
  resultsPath: string;
}

/** The rows, in the order they run (the restore job restores the snapshot row's snapshot). */
const ROWS = ['snapshot', 'restoreJob', 'journal', 'gc', 'large'] as const;

interface ScaleResult {
  id: (typeof ROWS)[number];
  name: string;
  row?: OurRow;
  notRun?: string;
  failed?: string;
}

const MB = 1024 * 1024;
const fmt = (n: number) => n.toLocaleString('en-US');

/** Run the scale rows; print the table and the verdict. @returns the exit code. */
export async function runScale(
  stack: StackCalls,
  options: ScaleOptions,
  log: (s: string) => void,
): Promise<number> {
  const commands: Record<(typeof ROWS)[number], { name: string; command: ScaleCommand }> = {
    snapshot: {
      name: `full snapshot of ${fmt(options.objects)} small objects`,
      command: { row: 'snapshot', objects: options.objects },
    },
    restoreJob: {
      name: `restore job of those ${fmt(options.objects)} objects`,
      command: { row: 'restoreJob', sampleObjects: options.sampleObjects },
    },
    journal: {
      name: `journal-built snapshot after ${fmt(options.changes)} changes under one prefix`,
      command: { row: 'journal', baseObjects: 1_000, changes: options.changes },
    },
    gc: {
      name: `prune and GC of a vault of ${fmt(options.blobs)} blobs`,
      command: { row: 'gc', blobs: options.blobs },
    },
    large: {
      name: `snapshot of one ${Number((options.largeBytes / 2 ** 30).toFixed(1))} GiB object`,
      command: { row: 'large', sizeBytes: options.largeBytes },
    },
  };
  const results: ScaleResult[] = [];
  for (const id of ROWS) {
    const { name, command } = commands[id];
    if (!options.rows.includes(id)) {
      results.push({ id, name, notRun: 'not selected (--scale-rows)' });
      continue;
    }
    if (id === 'restoreJob' && results.find((r) => r.id === 'snapshot')?.row === undefined) {
      results.push({ id, name, notRun: 'needs the snapshot row' });
      continue;
    }
    log(`scale: ${name}…`);
    const t0 = Date.now();
    try {
      const row = await stack.call<OurRow>({ cmd: 'scale', command });
      results.push({ id, name, row });
      log(
        `  ${row.seconds.toFixed(1)} s; ${describeEnvironments(row)} (${((Date.now() - t0) / 1000).toFixed(0)} s with setup)`,
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      results.push({ id, name, failed: reason });
      log(`  FAILED: ${reason.slice(0, 2000)}`);
    }
    await writeFile(options.resultsPath, `${JSON.stringify({ scale: results }, null, 2)}\n`);
  }
  log(`\n${table(results)}\n`);
  const verdict = verdictOf(results);
  log(verdict.line);
  return verdict.ok ? 0 : 1;
}

/** Each function's environments: peak RSS against its memorySize. */
function describeEnvironments(row: OurRow): string {
  return Object.entries(row.environmentsByFunction ?? {})
    .map(
      ([fn, s]) =>
        `${fn} ${(s.maxRssBytes / MB).toFixed(0)}/${s.memorySizeMb} MB (${s.environments} env, ${s.invocations} inv)`,
    )
    .join('; ');
}

/** Whether every environment of the row stayed within its function's memorySize. */
function withinMemory(row: OurRow): boolean {
  const envs = Object.values(row.environmentsByFunction ?? {});
  return envs.length > 0 && envs.every((s) => s.maxRssBytes <= s.memorySizeMb * MB);
}

function table(results: readonly ScaleResult[]): string {
  const header = [
    'row',
    'seconds',
    'S3 requests',
    'DynamoDB requests',
    'peak RSS / memorySize per function',
    'within',
  ];
  const lines = results.map((r) => {
    if (!r.row)
      return [
        r.name,
        '-',
        '-',
        '-',
        r.notRun ? `not run: ${r.notRun}` : `FAILED: ${r.failed?.slice(0, 120)}`,
        '-',
      ];
    return [
      r.name,
      r.row.seconds.toFixed(1),
      fmt(r.row.s3Requests),
      r.row.dynamodbRequests === undefined ? '-' : fmt(r.row.dynamodbRequests),
      describeEnvironments(r.row),
      withinMemory(r.row) ? 'yes' : 'NO',
    ];
  });
  return formatTable(header, lines);
}

/** The last line CI and people read. */
function verdictOf(results: readonly ScaleResult[]): { ok: boolean; line: string } {
  const ran = results.filter((r) => r.row);
  const over = ran.filter((r) => r.row && !withinMemory(r.row)).map((r) => r.id);
  const failed = results.filter((r) => r.failed).map((r) => r.id);
  const notRun = results.filter((r) => r.notRun).map((r) => r.id);
  const limit = Math.max(
    ...ran.flatMap((r) => Object.values(r.row?.environmentsByFunction ?? {}).map((s) => s.memorySizeMb)),
    1024,
  );
  if (ran.length === results.length && over.length === 0)
    return { ok: true, line: `scale: all rows within ${limit} MB` };
  const parts = [
    `${ran.length} of ${results.length} rows ran`,
    ...(over.length ? [`over memory: ${over.join(', ')}`] : [`all that ran within ${limit} MB`]),
    ...(failed.length ? [`failed: ${failed.join(', ')}`] : []),
    ...(notRun.length ? [`not run: ${notRun.join(', ')}`] : []),
  ];
  return { ok: over.length === 0 && failed.length === 0, line: `scale: ${parts.join('; ')}` };
}
