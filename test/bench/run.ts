/**
 * `npm run bench`: Strongbox against a raw-SDK floor and its peers (rclone, restic), in one run, on
 * one machine, against the same emulated S3 endpoint.
 *
 *   npm run bench                       # ≥ 25,000 files and ≥ 300 MB, plus the 200k-object row
 *   npm run bench -- --quick            # 3,000 files, 20,000 small objects: a smoke run
 *   npm run bench -- --files 3000 --skip-200k
 *   npm run bench -- --only-find --quick  # the find row alone: 3,000 files, 10 snapshots (~1–2 min)
 *   npm run bench -- --only-find        # the find row alone, the issue's size: 25,000 files, 100 snapshots
 *   npm run bench -- --only-table       # the DynamoDB table rows alone (100,000 items; --quick: 10,000)
 *
 * Options: --files N (≥ N files; with --files the 300 MB floor is off unless --min-mb), --min-mb M,
 * --small N (objects of the small-object row, default 200000), --skip-200k, --large-mb M (the large-object
 * row's object, default 5632 MiB: over S3's 5 GiB single-PUT limit), --skip-large, --verify-sample P (deep
 * verification sample, default 100 = every blob, like `restic check --read-data`), --concurrency N
 * (default 32: functions, uploads, raw floor, rclone transfers), --no-peers, --keep (keep the temp dir),
 * --latency (every S3 request of ours, the floor's and the peers' goes through a proxy adding S3's
 * first-byte latency and per-connection bandwidth: shared/local/latency-proxy.ts; uploads of the
 * corpus and the byte-for-byte checks go straight to the emulator), --scale (instead of the table:
 * the scale rows of issue 14 and their memory verdict; see scale.ts for its options).
 * The find row: --only-find (the corpus and its upload, then only the find row), --skip-find,
 * --find-snapshots N (default 100; 10 with --quick, which the row's note says), --find-changes N
 * (changes between two snapshots, default 25), --find-repeats N (runs of ls and of find, alternately;
 * the medians count; default 3).
 * The table rows (issue 17, table-bench.ts): --only-table (the stack, then only the table rows, on
 * the lines of node_modules' text files), --skip-table, --table-items N (default 100000; 10000 with
 * --quick), --table-changes N (updates, inserts and deletes each before the incremental; default
 * 300), --table-segments N (Scan segments of ours and of the floor; default 8).
 *
 * Processes (see stack-child.ts for why):
 *   - this process: corpus, orchestration, the peers (each its own child process), the table;
 *   - the stack process (stack-child.ts): fauxqs threads + dispatcher + our functions, and our rows;
 *     DynamoDB Local is its Java child;
 *   - the raw floor (raw-floor.ts): its own process.
 * S3 requests are counted by the fauxqs endpoints themselves (every HTTP request they receive, SQS
 * excluded; fauxqs-worker.ts), as deltas around each row, whoever makes them.
 * Rows: our full snapshot, verify, incremental and restore (in-process, and as a restore job: the
 * path `strongbox restore` takes) against the raw floor and the peers; the
 * incremental a second way, built from the journal capture fills from S3 events (a second plan over
 * the same bucket, continuously protected); both incrementals again at a second bucket size (every
 * fifth file, under `size-b/`), with the peers' incrementals there too; the 200k-object snapshot; the
 * large object; last, once no other row uses the corpus bucket, the find row (find-row.ts): a plan of
 * its own over the whole source bucket, continuously protected, gets 100 snapshots through the
 * pipeline (the first by listing, then 99 built from the journal, each after 25 changes drawn at
 * random from the whole key space: 60% modified, 20% added, 20% deleted), then `strongbox find PLAN
 * '**\/*README*'` over all of them is timed against its baseline, `strongbox ls PLAN@latest` (the
 * whole tree), both through the CLI in a process of its own as a user runs them; the issue's target
 * is find < 10× ls.
 * Results: two tables on stdout (all rows; journal vs listing per bucket size, with the S3 requests
 * per change fitted over the two sizes), the find verdict (find/ls against the target, and the parts
 * find read) and `.bench/results.json` (the ratio in `find`).
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ChangeSet, type CorpusFile, modifiedBody, pickChanges, walk } from '#local/demo/corpus.ts';
import { formatTable } from '#local/format.ts';
import { S3_LATENCY_PROFILE } from '#local/latency-proxy.ts';
import { PROJECT_ROOT, s3RequestCount } from '#local/stack.ts';
import { buildCorpus } from './corpus.ts';
import { FIND_PATTERN, FIND_TARGET_RATIO, type FindResult, PLAN_FIND, runFindRow } from './find-row.ts';
import {
  ensurePeers,
  type PeerRun,
  rcloneCheck,
  rcloneCopy,
  rcloneSync,
  resticBackup,
  resticCheckReadData,
  resticDispose,
  resticInit,
  resticRestore,
} from './peers.ts';
import type { RawFloorJob, RawFloorResult } from './raw-floor.ts';
import { runScale } from './scale.ts';
import type { Command, OurRow } from './stack-child.ts';
import { runTableRows } from './table-bench.ts';

const MB = 1_000_000;

/** The plans of our rows (stack-child.ts's PLAN_ID is the listing plan of the corpus). */
const PLAN_LISTING = 'bench';
/** The corpus again, continuously protected: its incrementals are built from the journal. */
const PLAN_JOURNAL = 'bench-journal';
/** The second bucket size for the journal-vs-listing rows: every SIZE_B_DIVISOR-th corpus file. */
const SIZE_B_DIVISOR = 5;
const SIZE_B_PREFIX = 'size-b/';
const PLAN_B_LISTING = 'bench-b';
const PLAN_B_JOURNAL = 'bench-b-journal';

/** One row of the table. */
interface Row {
  id: string;
  name: string;
  /** `baseline`: our own command the row beside it is measured against (ls for find). */
  who: 'ours' | 'floor' | 'peer' | 'baseline';
  /** For a peer, the floor or a baseline: the id of our row it is the baseline of. */
  peerOf?: string;
  /** For our row: compared with the peers of this other row of ours (the same work, another path). */
  sharesPeersOf?: string;
  seconds?: number;
  objects: number;
  bytes: number;
  s3Requests?: number;
  requestsByKind?: Record<string, number>;
  /** Our rows: the S3 requests each of our functions sent during the row. */
  requestsByFunction?: Record<string, number>;
  /**
   * `rss`: the process's peak RSS; `js`: peak heapTotal+external of our functions' thread; `env`:
   * the highest peak RSS of the Lambda environments (processes) that ran our snapshot function.
   */
  memBytes?: number;
  memKind: 'rss' | 'js' | 'env';
  /** Whole stack process RSS peak (our rows; includes the emulators' storage). */
  stackRssPeakBytes?: number;
  ok: boolean;
  note?: string;
  detail?: unknown;
}

const { values: args } = parseArgs({
  options: {
    files: { type: 'string' },
    'min-mb': { type: 'string' },
    small: { type: 'string' },
    'skip-200k': { type: 'boolean', default: false },
    'large-mb': { type: 'string' },
    'skip-large': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    'verify-sample': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '32' },
    'no-peers': { type: 'boolean', default: false },
    latency: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    'scale-objects': { type: 'string', default: '1000000' },
    'scale-changes': { type: 'string', default: '100000' },
    'scale-blobs': { type: 'string', default: '2000000' },
    'scale-large-gib': { type: 'string', default: '60' },
    'scale-sample': { type: 'string', default: '2000' },
    'scale-rows': { type: 'string', default: 'snapshot,restoreJob,journal,gc,large' },
    'only-find': { type: 'boolean', default: false },
    'skip-find': { type: 'boolean', default: false },
    'find-snapshots': { type: 'string' },
    'find-changes': { type: 'string', default: '25' },
    'find-repeats': { type: 'string', default: '3' },
    'only-table': { type: 'boolean', default: false },
    'skip-table': { type: 'boolean', default: false },
    'table-items': { type: 'string' },
    'table-changes': { type: 'string', default: '300' },
    'table-segments': { type: 'string', default: '8' },
  },
});
const quick = args.quick === true;
const fileTarget = Number(args.files ?? (quick ? 3000 : 25_000));
const minBytes = Number(args['min-mb'] ?? (args.files || quick ? 0 : 300)) * MB;
const smallCount = Number(args.small ?? (quick ? 20_000 : 200_000));
const skipSmall = args['skip-200k'] === true;
const largeBytes = Number(args['large-mb'] ?? (quick ? 256 : 5632)) * 1024 * 1024;
const skipLarge = args['skip-large'] === true;
const samplePercent = Number(args['verify-sample']);
const concurrency = Number(args.concurrency);
const withPeers = args['no-peers'] !== true;
const withLatency = args.latency === true;
const findSnapshots = Number(args['find-snapshots'] ?? (quick ? 10 : 100));
const findChanges = Number(args['find-changes']);
const findRepeats = Number(args['find-repeats']);
const onlyFind = args['only-find'] === true;
const skipFind = args['skip-find'] === true;
const onlyTable = args['only-table'] === true;
const skipTable = args['skip-table'] === true;
const tableItems = Number(args['table-items'] ?? (quick ? 10_000 : 100_000));
const tableChanges = Number(args['table-changes']);
const tableSegments = Number(args['table-segments']);
let tableSummary = '';

const log = (s: string) => console.log(s);
const rows: Row[] = [];
const problems: string[] = [];
const RESULTS = join(PROJECT_ROOT, '.bench', 'results.json');
const meta: Record<string, unknown> = {};

/** Write what the run has so far (after every row, so an interrupted run still leaves its rows). */
async function saveResults(): Promise<void> {
  await mkdir(dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify({ ...meta, problems, rows }, null, 2)}\n`);
}

let saving = Promise.resolve();
function addRow(row: Row): void {
  rows.push(row);
  saving = saving.then(saveResults).catch(() => {});
}

/** The stack process and a typed call into it. */
class StackProcess {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly child: ChildProcess;
  constructor() {
    this.child = fork(new URL('./stack-child.ts', import.meta.url), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // A stack with ~2 GB of objects in memory: room for the emulators.
      execArgv: ['--max-old-space-size=8192'],
    });
    this.child.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ok) w?.resolve(m.value);
      else w?.reject(new Error(`stack process: ${m.error}`));
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the stack process exited with ${code}`));
      this.waiting.clear();
    });
  }
  call<T>(command: Command): Promise<T> {
    this.seq += 1;
    const id = this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, ...command });
    });
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await this.call({ cmd: 'stop' }).catch(() => {});
    this.child.disconnect();
  }
}

type Counts = Record<string, Record<string, number>>;

function s3Delta(before: Counts, after: Counts): { total: number; byKind: Record<string, number> } {
  const byKind: Record<string, number> = {};
  for (const [region, counts] of Object.entries(after)) {
    for (const [kind, n] of Object.entries(counts)) {
      const d = n - (before[region]?.[kind] ?? 0);
      if (d > 0 && kind.startsWith('s3:')) byKind[kind] = (byKind[kind] ?? 0) + d;
    }
  }
  return { total: s3RequestCount(byKind), byKind };
}

function sumKinds(requests: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const counts of Object.values(requests))
    for (const [k, n] of Object.entries(counts)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function ourRow(id: string, name: string, r: OurRow, objects: number, bytes: number, note?: string): Row {
  return {
    id,
    name,
    who: 'ours',
    seconds: r.seconds,
    objects,
    bytes,
    s3Requests: r.s3Requests,
    requestsByKind: sumKinds(r.requests),
    requestsByFunction: r.requestsByFunction,
    memBytes: r.environments?.maxRssBytes ?? r.jsPeakBytes,
    memKind: r.environments ? 'env' : 'js',
    stackRssPeakBytes: r.stackRssPeakBytes,
    ok: true,
    ...(note ? { note } : {}),
    detail: r.detail,
  };
}

/** Run a peer and count the S3 requests the endpoint served meanwhile. */
async function peerRow(
  stack: StackProcess,
  id: string,
  name: string,
  peerOf: string,
  objects: number,
  bytes: number,
  run: () => Promise<PeerRun>,
  okExit: (code: number | null) => boolean = (code) => code === 0,
): Promise<PeerRun> {
  log(`  ${name}…`);
  const before = await stack.call<Counts>({ cmd: 'stats' });
  const r = await run();
  const after = await stack.call<Counts>({ cmd: 'stats' });
  const { total, byKind } = s3Delta(before, after);
  const ok = okExit(r.exitCode);
  if (!ok) problems.push(`${name} exited with ${r.exitCode}: ${r.stdoutTail.slice(-600)}`);
  addRow({
    id,
    name,
    who: 'peer',
    peerOf,
    seconds: r.seconds,
    objects,
    bytes,
    s3Requests: total,
    requestsByKind: byKind,
    memBytes: r.peakRssBytes,
    memKind: 'rss',
    ok,
    ...(ok ? {} : { note: `exit ${r.exitCode}` }),
    detail: { exitCode: r.exitCode, tail: r.stdoutTail.slice(-1000) },
  });
  log(`    ${r.seconds.toFixed(1)} s, exit ${r.exitCode}, ${total} S3 requests`);
  return r;
}

/** What the stack's `change` command measured: the changes and capture's work on them. */
interface Changed {
  journaled: Record<string, number>;
  changes: number;
  /** From the first change sent to every change journaled for every plan. */
  seconds: number;
  requestsByKind: Record<string, number>;
  /** The client's own requests (a PUT per modified or added object, a DELETE per deleted one). */
  clientRequests: number;
  /** Every other S3 request meanwhile: capture's (reads of the changed objects, packs, index). */
  captureRequests: number;
  /** The S3 requests each of our functions sent meanwhile (capture's under `capture`). */
  requestsByFunction: Record<string, number>;
}

/** One bucket size of the journal-vs-listing comparison (issue: "at two bucket sizes"). */
interface JournalSize {
  label: string;
  objects: number;
  changes: number;
  capture: Changed;
  ids: { journal: string; listing: string; restic: string; rclone: string };
}
const journalSizes: JournalSize[] = [];

/** Objects and bytes of a source after `changes` (modified objects grow by the appended line). */
function sizeAfter(files: CorpusFile[], changes: ChangeSet): { objects: number; bytes: number } {
  const sum = (fs: CorpusFile[]) => fs.reduce((n, f) => n + f.sizeBytes, 0);
  return {
    objects: files.length + changes.added.length - changes.deleted.length,
    bytes:
      sum(files) +
      sum(changes.added) -
      sum(changes.deleted) +
      changes.modified.length * modifiedBody(Buffer.alloc(0)).length,
  };
}

/** The second, smaller bucket: every SIZE_B_DIVISOR-th corpus file copied into `dir` (before any change). */
async function prepareSizeB(files: CorpusFile[], dir: string): Promise<CorpusFile[]> {
  const chosen = files.filter((_, i) => i % SIZE_B_DIVISOR === 0);
  const out: CorpusFile[] = [];
  for (const f of chosen) {
    const path = join(dir, f.key);
    await mkdir(dirname(path), { recursive: true });
    await copyFile(f.path, path);
    out.push({ ...f, path });
  }
  return out;
}

const prefixed = (f: CorpusFile): CorpusFile => ({ ...f, key: `${SIZE_B_PREFIX}${f.key}` });

/**
 * The incremental rows again at a second bucket size: the size-B files under SIZE_B_PREFIX of the
 * same source bucket, a listing plan and a continuous plan over that prefix, their first snapshots
 * and the peers' first copy and backup (not rows), the same kind of changes, then the four
 * incrementals (rows).
 */
async function journalAtSizeB(
  stack: StackProcess,
  ctx: {
    endpoint: string;
    region: string;
    source: string;
    filesB: CorpusFile[];
    dirB: string;
    peers: { rclone?: string; restic?: string };
    rcloneWhy: string;
    resticWhy: string;
  },
): Promise<void> {
  const { endpoint, region, source, filesB, dirB, peers } = ctx;
  const changesDir = pickChanges(filesB);
  const changesBucket: ChangeSet = {
    modified: changesDir.modified.map(prefixed),
    added: changesDir.added.map(prefixed),
    deleted: changesDir.deleted.map(prefixed),
  };
  const after = sizeAfter(filesB, changesDir);
  const load = await stack.call<{ seconds: number }>({ cmd: 'load', files: filesB.map(prefixed) });
  log(`   ${filesB.length} objects uploaded in ${load.seconds.toFixed(1)} s; the plans' first snapshots…`);
  await stack.call({
    cmd: 'plan',
    planId: PLAN_B_LISTING,
    prefix: SIZE_B_PREFIX,
    continuous: false,
    samplePercent: 0,
  });
  await stack.call({
    cmd: 'plan',
    planId: PLAN_B_JOURNAL,
    prefix: SIZE_B_PREFIX,
    continuous: true,
    samplePercent: 0,
  });
  for (const planId of [PLAN_B_LISTING, PLAN_B_JOURNAL]) {
    const base = await stack.call<OurRow>({ cmd: 'base', planId });
    log(`   ${planId}: first snapshot ${base.seconds.toFixed(1)} s`);
  }
  const sourceB = `${source}/${SIZE_B_PREFIX.replace(/\/$/, '')}`;
  const rcloneB = 'strongbox-bench-rclone-b';
  if (peers.rclone) {
    await stack.call({ cmd: 'createBucket', bucket: rcloneB });
    const r = await rcloneCopy(endpoint, region, sourceB, rcloneB);
    if (r.exitCode !== 0)
      problems.push(`rclone copy (size B) exited with ${r.exitCode}: ${r.stdoutTail.slice(-600)}`);
  }
  let repoB: Awaited<ReturnType<typeof resticInit>>['repo'] | undefined;
  if (peers.restic) {
    const bucket = 'strongbox-bench-restic-b';
    await stack.call({ cmd: 'createBucket', bucket });
    const init = await resticInit(endpoint, region, bucket, 'strongbox-bench');
    const first = init.exitCode === 0 ? await resticBackup(init.repo, dirB) : init;
    if (first.exitCode === 0) repoB = init.repo;
    else problems.push(`restic (size B) exited with ${first.exitCode}: ${first.stdoutTail.slice(-600)}`);
  }
  const changed = await stack.call<Changed>({
    cmd: 'change',
    changes: changesBucket,
    planIds: [PLAN_B_LISTING, PLAN_B_JOURNAL],
  });
  await applyChangesToDir(dirB, changesDir);
  log(
    `   ${changed.changes} changes captured in ${changed.seconds.toFixed(1)} s with ${changed.captureRequests} S3 requests`,
  );
  const listing = await stack.call<OurRow>({ cmd: 'incremental', planId: PLAN_B_LISTING });
  addRow(ourRow('b-incremental', 'B: incremental snapshot by listing', listing, after.objects, after.bytes));
  const journal = await stack.call<OurRow>({ cmd: 'incremental', planId: PLAN_B_JOURNAL });
  addRow(
    ourRow('b-incremental-journal', 'B: incremental from the journal', journal, after.objects, after.bytes),
  );
  log(
    `   ours by listing ${listing.seconds.toFixed(1)} s, ${listing.s3Requests} S3 requests; from the journal ${journal.seconds.toFixed(1)} s, ${journal.s3Requests} S3 requests`,
  );
  if (peers.rclone)
    await peerRow(
      stack,
      'b-rclone-sync',
      'B: rclone sync',
      'b-incremental-journal',
      after.objects,
      after.bytes,
      () => rcloneSync(endpoint, region, sourceB, rcloneB),
    );
  else notRun('b-rclone-sync', 'B: rclone sync', 'b-incremental-journal', ctx.rcloneWhy);
  if (repoB) {
    const r = repoB;
    await peerRow(
      stack,
      'b-restic-backup-2',
      'B: restic backup (2nd)',
      'b-incremental-journal',
      after.objects,
      after.bytes,
      () => resticBackup(r, dirB),
    );
    await resticDispose(r);
  } else notRun('b-restic-backup-2', 'B: restic backup (2nd)', 'b-incremental-journal', ctx.resticWhy);
  journalSizes.push({
    label: 'B',
    objects: filesB.length,
    changes: changed.changes,
    capture: changed,
    ids: {
      journal: 'b-incremental-journal',
      listing: 'b-incremental',
      restic: 'b-restic-backup-2',
      rclone: 'b-rclone-sync',
    },
  });
}

/**
 * The journal-vs-listing table: per bucket size, the incremental built from the journal (and the
 * capture that fed it, which runs as the changes happen, not at snapshot time), by listing, and the
 * peers' incrementals; then requests per change fitted over the two sizes (a × changes + b).
 */
function printJournalTable(): string {
  if (journalSizes.length === 0) return '';
  const byId = new Map(rows.map((r) => [r.id, r]));
  const perChange = (n: number | undefined, changes: number) =>
    n === undefined ? '-' : Number((n / changes).toFixed(2));
  const lines: (string | number)[][] = [];
  for (const size of journalSizes) {
    const journal = byId.get(size.ids.journal);
    const ratio = (r: Row | undefined) =>
      journal?.seconds === undefined || !r?.seconds ? '' : `${(journal.seconds / r.seconds).toFixed(2)}×`;
    const line = (name: string, r: Row | undefined, first = false): (string | number)[] => [
      first ? size.label : '',
      first ? size.objects : '',
      first ? size.changes : '',
      `${name}${r?.note ? ` [${r.note}]` : ''}`,
      r?.seconds === undefined ? '-' : Number(r.seconds.toFixed(1)),
      requestsOf(r) ?? '-',
      perChange(requestsOf(r), size.changes),
      ratio(r),
    ];
    const capture = size.capture.requestsByFunction.capture ?? 0;
    lines.push(line('ours: snapshot from the journal', journal, true));
    lines.push([
      '',
      '',
      '',
      '  + capture of the changes (as they happen)',
      Number(size.capture.seconds.toFixed(1)),
      capture,
      perChange(capture, size.changes),
      '',
    ]);
    lines.push(line('ours: snapshot by listing', byId.get(size.ids.listing)));
    lines.push(line('restic backup (2nd)', byId.get(size.ids.restic)));
    lines.push(line('rclone sync', byId.get(size.ids.rclone)));
  }
  const out = [
    'Incremental after the same changes (1% modified, 0.5% added, 0.5% deleted): built from the journal vs by listing',
    formatTable(
      ['size', 'objects', 'changes', 'row', 'seconds', 'S3 requests', 'per change', 'journal/this'],
      lines,
    ),
  ];
  const [a, b] = journalSizes;
  if (a && b && a.changes !== b.changes) {
    const linear = (ra: number, rb: number) => {
      const slope = (ra - rb) / (a.changes - b.changes);
      return `${slope.toFixed(2)} × changes + ${(ra - slope * a.changes).toFixed(0)}`;
    };
    const ja = requestsOf(byId.get(a.ids.journal));
    const jb = requestsOf(byId.get(b.ids.journal));
    const la = requestsOf(byId.get(a.ids.listing));
    const lb = requestsOf(byId.get(b.ids.listing));
    const ca = a.capture.requestsByFunction.capture ?? 0;
    const cb = b.capture.requestsByFunction.capture ?? 0;
    if (ja !== undefined && jb !== undefined) {
      out.push(
        `S3 requests fitted over the two sizes (target: ≤ 3 per changed object + a constant):`,
        `  snapshot from the journal:           ${linear(ja, jb)}`,
        `  capture + snapshot from the journal: ${linear(ja + ca, jb + cb)}`,
      );
      if (la !== undefined && lb !== undefined)
        out.push(`  snapshot by listing:                 ${linear(la, lb)}`);
    }
  }
  out.push(
    'S3 requests: ours = the requests the snapshot function (capture: the capture function) sent, told apart by invocation',
    '  (the verification a commit starts overlaps the row); peers = every S3 request the endpoint served during the row.',
    'Capture runs as the changes happen (its seconds: from the first change sent to the last journaled), not at snapshot time.',
  );
  return out.join('\n');
}

/** Our rows: the S3 requests our snapshot function sent; a peer's: the endpoint's count. */
function requestsOf(r: Row | undefined): number | undefined {
  if (!r) return undefined;
  if (r.who === 'ours') return r.requestsByFunction?.snapshot ?? 0;
  return r.s3Requests;
}

/** Rows the run could not make (a peer that is missing or failed before running). */
function notRun(id: string, name: string, peerOf: string, why: string): void {
  addRow({
    id,
    name,
    who: 'peer',
    peerOf,
    objects: 0,
    bytes: 0,
    memKind: 'rss',
    ok: false,
    note: `not run: ${why}`,
  });
}

/** The same changes the bucket got, applied to the corpus directory (for restic). */
async function applyChangesToDir(dir: string, changes: ChangeSet): Promise<void> {
  for (const f of changes.added) {
    const path = join(dir, f.key);
    await mkdir(dirname(path), { recursive: true });
    await copyFile(f.path, path);
  }
  for (const f of changes.modified) await writeFile(f.path, modifiedBody(await readFile(f.path)));
  for (const f of changes.deleted) await unlink(f.path);
}

async function runRawFloor(
  stack: StackProcess,
  endpoint: string,
  region: string,
  srcBucket: string,
  files: CorpusFile[],
  scratch: string,
): Promise<void> {
  const dstBucket = 'strongbox-bench-raw';
  await stack.call({ cmd: 'createBucket', bucket: dstBucket });
  const jobFile = join(scratch, 'raw-floor.json');
  const job: RawFloorJob = {
    endpoint,
    region,
    srcBucket,
    dstBucket,
    keys: files.map((f) => f.key),
    concurrency,
  };
  await writeFile(jobFile, JSON.stringify(job));
  log(`  raw floor: GET + PUT of every object, AWS SDK, concurrency ${concurrency}…`);
  const before = await stack.call<Counts>({ cmd: 'stats' });
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'test/bench/raw-floor.ts'), jobFile],
      { cwd: PROJECT_ROOT, maxBuffer: 1 << 20 },
      (error, out, err) => (error ? reject(new Error(`raw floor: ${error.message}\n${err}`)) : resolve(out)),
    ),
  );
  const after = await stack.call<Counts>({ cmd: 'stats' });
  const r = JSON.parse(stdout.trim().split('\n').pop() as string) as RawFloorResult;
  const { total, byKind } = s3Delta(before, after);
  addRow({
    id: 'raw',
    name: 'raw floor: SDK GET+PUT every object',
    who: 'floor',
    peerOf: 'full',
    seconds: r.seconds,
    objects: r.objects,
    bytes: r.bytes,
    s3Requests: total,
    requestsByKind: byKind,
    memBytes: r.peakRssBytes,
    memKind: 'rss',
    ok: true,
  });
  log(`    ${r.seconds.toFixed(1)} s, ${total} S3 requests`);
}

const fmtMB = (b: number | undefined) =>
  b === undefined || Number.isNaN(b) ? '-' : `${(b / MB).toFixed(0)}`;

function printTable(): string {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ratio = (r: Row): string => {
    if (r.who === 'ours' || !r.peerOf || r.seconds === undefined) return '';
    const ours = byId.get(r.peerOf);
    if (ours?.seconds === undefined) return '';
    return `${(ours.seconds / r.seconds).toFixed(2)}× (${ours.id})`;
  };
  const table = formatTable(
    ['row', 'seconds', 'objects/s', 'MB/s', 'S3 requests', 'peak mem MB', 'ours/this'],
    rows.map((r) => [
      `${r.who === 'ours' ? '' : '  '}${r.name}${r.note ? ` [${r.note}]` : ''}`,
      r.seconds === undefined ? '-' : Number(r.seconds.toFixed(1)),
      r.seconds ? Math.round(r.objects / r.seconds) : '-',
      r.seconds && r.bytes ? Number((r.bytes / MB / r.seconds).toFixed(1)) : '-',
      r.s3Requests ?? '-',
      r.memBytes === undefined || Number.isNaN(r.memBytes) ? '-' : `${fmtMB(r.memBytes)} ${r.memKind}`,
      ratio(r),
    ]),
  );
  const lines = [table, ''];
  for (const ours of rows.filter((r) => r.who === 'ours')) {
    const baselineOf = ours.sharesPeersOf ?? ours.id;
    for (const peer of rows.filter((r) => r.peerOf === baselineOf && r.seconds !== undefined)) {
      lines.push(
        `${ours.name} — ours ${ours.seconds?.toFixed(1)} s vs ${peer.name} ${peer.seconds?.toFixed(1)} s → ${((ours.seconds ?? 0) / (peer.seconds as number)).toFixed(2)}×`,
      );
    }
  }
  lines.push(
    '',
    'objects/s and MB/s: over the data set the row covers (full, floor, copy, backup, verify, restore of snapshot 1: the corpus; incremental/sync/backup 2: the whole source after the changes).',
    '  find and its baseline ls: the objects of the latest snapshot (the CLI in a process of its own, start-up included; peak mem: its RSS).',
    'S3 requests: every S3 HTTP request the emulator endpoints served during the row (SQS excluded), by whoever made it.',
    'peak mem: "rss" = the process\'s peak RSS (peers: /usr/bin/time; raw floor: VmHWM); "js" = peak heapTotal+external of the thread running our',
    '  functions (sampled every 100 ms; excludes the emulator threads sharing that process, DynamoDB Local (Java) and the node binary; stackRssPeakBytes in results.json is the whole stack process);',
    '  "env" = the highest peak RSS of any Lambda environment that ran the snapshot function in the row: a Node process of its own, started with',
    "  the heap flags Lambda's Node.js bootstrap uses for the function's memorySize (1024 MB: --max-old-space-size=922 --max-semi-space-size=51).",
  );
  return lines.join('\n');
}

/**
 * Restore the first snapshot into a new bucket, in-process (`restore`) or as a restore job, the
 * path `strongbox restore` takes (`restoreJob`), and compare every object with the corpus.
 */
async function ourRestoreRow(
  stack: StackProcess,
  cmd: 'restore' | 'restoreJob',
  files: CorpusFile[],
  bytes: number,
): Promise<void> {
  const row = await stack.call<OurRow>({ cmd, files, expectedKeys: files.length });
  const compare = row.detail.compare as { identical: number; mismatched: string[]; listed: number };
  const ok = compare.mismatched.length === 0 && compare.identical === files.length;
  const what = cmd === 'restore' ? 'RESTORE' : 'RESTORE JOB';
  if (!ok)
    problems.push(
      `${what} DIFFERS: ${compare.identical}/${files.length} identical; e.g. ${compare.mismatched.slice(0, 5).join(', ')}`,
    );
  addRow({
    ...(cmd === 'restore'
      ? ourRow('restore', 'restore snapshot 1 (new bucket)', row, files.length, bytes)
      : {
          ...ourRow('restore-job', 'restore snapshot 1 as a restore job', row, files.length, bytes),
          sharesPeersOf: 'restore',
        }),
    ok,
    ...(ok ? {} : { note: 'DIFFERS' }),
  });
  const how =
    cmd === 'restore'
      ? ''
      : row.detail.fannedOut
        ? ` (${String(row.detail.slices)} slices)`
        : ' (not fanned out)';
  log(
    `   ours ${row.seconds.toFixed(1)} s${how}; compared ${compare.identical}/${files.length} byte-identical, ${compare.listed} keys listed`,
  );
}

const fmtInt = (n: number) => n.toLocaleString('en-US');

/**
 * The find row and its baseline: a history of `findSnapshots` snapshots of the source bucket built
 * through the pipeline (find-row.ts), then `strongbox ls PLAN@latest` and `strongbox find PLAN
 * PATTERN` timed through the CLI. Rows `find-ls` (baseline) and `find`; the ratio in `meta.find`.
 */
async function findRows(
  stack: StackProcess,
  files: CorpusFile[],
  scratch: string,
  exclude: ReadonlySet<string>,
): Promise<void> {
  const fewer = findSnapshots < 100 ? `${findSnapshots} snapshots, not the issue's 100` : '';
  const r = await runFindRow(
    stack,
    files,
    {
      snapshots: findSnapshots,
      changesPerRound: findChanges,
      repeats: findRepeats,
      cliDataDir: join(scratch, 'cli'),
      exclude,
    },
    log,
  );
  const note = [quick ? '--quick' : '', fewer].filter(Boolean).join(': ');
  const row = (id: string, name: string, t: FindResult['ls']): Row => ({
    id,
    name,
    who: id === 'find' ? 'ours' : 'baseline',
    ...(id === 'find' ? {} : { peerOf: 'find' }),
    seconds: t.seconds,
    objects: r.objects,
    bytes: 0,
    s3Requests: t.s3Requests,
    requestsByKind: t.requestsByKind,
    memBytes: t.peakRssBytes,
    memKind: 'rss',
    ok: true,
    ...(id === 'find' && note ? { note } : {}),
    detail: { argv: t.argv, runs: t.runs, summary: t.summary },
  });
  addRow(row('find', `strongbox find '${FIND_PATTERN}' in ${r.snapshots} snapshots`, r.find));
  addRow(row('find-ls', `strongbox ls ${PLAN_FIND}@latest (${fmtInt(r.objects)} objects)`, r.ls));
  const { ls: _ls, find: _find, ...rest } = r;
  meta.find = {
    ...rest,
    lsSeconds: r.ls.seconds,
    findSeconds: r.find.seconds,
    target: FIND_TARGET_RATIO,
    targetMet: r.ratio < FIND_TARGET_RATIO,
    repeats: findRepeats,
  };
  log(
    `   ls ${r.ls.seconds.toFixed(2)} s, find ${r.find.seconds.toFixed(2)} s (medians of ${findRepeats}; CLI start-up ${r.startupSeconds.toFixed(2)} s in each) → ${r.ratio.toFixed(1)}×`,
  );
}

/** The full run's step 12: the find row, after every row that uses the corpus bucket. */
async function findStep(
  stack: StackProcess,
  files: CorpusFile[],
  scratch: string,
  changed: ChangeSet,
): Promise<void> {
  log(
    `12. find: ${findSnapshots} snapshots of the source bucket (${findChanges} changes between each two), then strongbox ls and find through the CLI…`,
  );
  // Objects step 6 changed already (gone from the corpus directory, or modified there): left alone.
  const touched = new Set([...changed.modified, ...changed.deleted].map((f) => f.key));
  await findRows(stack, files, scratch, touched);
}

/** The find row's verdict (when it ran): its ratio against the issue's target, and what find read. */
function printFindVerdict(): void {
  const f = meta.find as
    | (Omit<FindResult, 'ls' | 'find'> & { lsSeconds: number; findSeconds: number; repeats: number })
    | undefined;
  if (!f) return;
  const partRefs = f.searched.partsRead + f.searched.partsSkipped;
  const perSnapshot = partRefs / f.snapshots;
  const net = (f.findSeconds - f.startupSeconds) / (f.lsSeconds - f.startupSeconds);
  const lines = [
    `find: ${f.snapshots} snapshots of ${fmtInt(f.objects)} objects (${f.changesPerRound} changes between snapshots, anywhere in the key space) in ${f.findSeconds.toFixed(2)} s = ${f.ratio.toFixed(1)}× one ls (${f.lsSeconds.toFixed(2)} s); target < ${FIND_TARGET_RATIO}×: ${f.ratio < FIND_TARGET_RATIO ? 'met' : 'NOT met'}${f.snapshots < 100 ? ` (at ${f.snapshots} snapshots, not the target's 100)` : ''}`,
    `  find read ${fmtInt(f.searched.partsRead)} distinct manifest parts of the ${fmtInt(partRefs)} its snapshots reference (ls reads one snapshot's ${perSnapshot.toFixed(0)}) and ${fmtInt(f.searched.journalEntries)} journal entries; found ${fmtInt(f.searched.versions)} versions of ${fmtInt(f.searched.keys)} keys`,
    `  both through the CLI in a process of its own, medians of ${f.repeats} runs each, alternately; the CLI's start-up (\`strongbox --help\`: ${f.startupSeconds.toFixed(2)} s) is in both: ≈ ${net.toFixed(1)}× without it`,
  ];
  log(`${lines.join('\n')}\n`);
}

/** `--scale`: the stack process with DynamoDB requests counted, and the scale rows (scale.ts). */
async function mainScale(): Promise<number> {
  const stack = new StackProcess();
  try {
    const rows = String(args['scale-rows']).split(',');
    const largeBytes = Number(args['scale-large-gib']) * 2 ** 30;
    await stack.call({
      cmd: 'start',
      concurrency,
      latency: withLatency,
      countDynamoDb: true,
      ...(rows.includes('large') ? { syntheticBytes: largeBytes } : {}),
    });
    await mkdir(dirname(RESULTS), { recursive: true });
    return await runScale(
      stack,
      {
        objects: Number(args['scale-objects']),
        changes: Number(args['scale-changes']),
        blobs: Number(args['scale-blobs']),
        largeBytes,
        sampleObjects: Number(args['scale-sample']),
        rows,
        resultsPath: join(PROJECT_ROOT, '.bench', 'scale.json'),
      },
      log,
    );
  } finally {
    await stack.stop();
  }
}

/**
 * `--only-find`: the corpus, the stack and the upload, then the find row alone (its table, verdict
 * and results.json).
 */
async function mainFindOnly(): Promise<number> {
  const started = Date.now();
  const scratch = await mkdtemp(join(tmpdir(), 'strongbox-bench-'));
  const stack = new StackProcess();
  Object.assign(meta, {
    startedAt: new Date().toISOString(),
    node: process.version,
    options: { onlyFind, fileTarget, minBytes, concurrency, findSnapshots, findChanges, findRepeats },
  });
  try {
    log(`1. Corpus: ≥ ${fileTarget} files, ≥ ${minBytes / MB} MB…`);
    const corpus = await buildCorpus({ files: fileTarget, minBytes, dir: join(scratch, 'corpus') });
    meta.corpus = { files: corpus.files.length, bytes: corpus.bytes, digest: corpus.digest };
    log(`   ${corpus.files.length} files, ${(corpus.bytes / MB).toFixed(1)} MB; starting the stack…`);
    await stack.call({ cmd: 'start', concurrency, latency: withLatency });
    const load = await stack.call<{ seconds: number }>({ cmd: 'load', files: corpus.files });
    log(`   uploaded in ${load.seconds.toFixed(1)} s`);
    log(`2. find: ${findSnapshots} snapshots (${findChanges} changes between each two), then ls and find…`);
    await findRows(stack, corpus.files, scratch, new Set());
  } catch (error) {
    problems.push(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await stack.stop();
    if (!args.keep) await rm(scratch, { recursive: true, force: true });
  }
  meta.totalSeconds = (Date.now() - started) / 1000;
  meta.complete = true;
  await saving;
  await saveResults();
  log(`\n${printTable()}\n`);
  printFindVerdict();
  log(`Total ${(((Date.now() - started) / 1000) | 0).toString()} s; results in ${RESULTS}`);
  for (const p of problems) console.error(`PROBLEM: ${p}`);
  return problems.length ? 1 : 0;
}

async function main(): Promise<number> {
  const started = Date.now();
  const scratch = await mkdtemp(join(tmpdir(), 'strongbox-bench-'));
  const corpusDir = join(scratch, 'corpus');
  let stack: StackProcess | undefined;
  Object.assign(meta, {
    startedAt: new Date().toISOString(),
    node: process.version,
    options: {
      fileTarget,
      minBytes,
      smallCount,
      skipSmall,
      largeBytes,
      skipLarge,
      samplePercent,
      concurrency,
      withPeers,
      latency: withLatency ? S3_LATENCY_PROFILE : false,
    },
  });
  try {
    const peers = withPeers ? await ensurePeers() : { missing: ['peers: --no-peers'] };
    for (const m of peers.missing) log(`peer missing: ${m}`);
    const why = (name: string) =>
      withPeers ? (peers.missing.find((m) => m.startsWith(name)) ?? `${name} missing`) : '--no-peers';
    const rcloneWhy = why('rclone');
    const resticWhy = why('restic');

    log(`1. Corpus: ≥ ${fileTarget} files, ≥ ${minBytes / MB} MB from /usr/share/doc and node_modules…`);
    const corpus = await buildCorpus({ files: fileTarget, minBytes, dir: corpusDir });
    const files = corpus.files;
    log(
      `   ${files.length} files, ${(corpus.bytes / MB).toFixed(1)} MB in ${corpusDir} (digest ${corpus.digest.slice(0, 16)})`,
    );
    meta.corpus = { files: files.length, bytes: corpus.bytes, digest: corpus.digest };
    const dirB = join(scratch, 'corpus-b');
    const filesB = await prepareSizeB(files, dirB);

    log('2. Starting the embedded stack in its own process and uploading the corpus…');
    if (withLatency) {
      log(
        `   latency mode: S3 through a proxy, ${S3_LATENCY_PROFILE.firstByteMs} ms to the first byte, ${S3_LATENCY_PROFILE.bytesPerSecond / 1e6} MB/s per connection`,
      );
    }
    stack = new StackProcess();
    const info = await stack.call<{
      endpoints: { s3: Record<string, string>; dynamodb: string };
      primaryRegion: string;
      sourceBucket: string;
    }>({ cmd: 'start', concurrency, latency: withLatency });
    const region = info.primaryRegion;
    const endpoint = info.endpoints.s3[region] as string;
    const source = info.sourceBucket;
    const load = await stack.call<{ seconds: number }>({ cmd: 'load', files });
    log(`   s3://${source} at ${endpoint}: uploaded in ${load.seconds.toFixed(1)} s`);
    meta.endpoint = endpoint;
    meta.uploadSeconds = load.seconds;

    const changes = pickChanges(files);
    const { objects: afterObjects, bytes: afterBytes } = sizeAfter(files, changes);

    log(`3. Ours: full snapshot (plan on s3://${source}, verification sample ${samplePercent}%)…`);
    const full = await stack.call<OurRow>({ cmd: 'full', samplePercent });
    addRow(ourRow('full', 'full snapshot', full, files.length, corpus.bytes));
    log(`   ${full.seconds.toFixed(1)} s, ${full.s3Requests} S3 requests; following its verification…`);
    const verify = await stack.call<OurRow>({ cmd: 'verify' });
    const verifyRow = ourRow(
      'verify',
      `verify (catalog+checksum+deep ${samplePercent}%)`,
      verify,
      files.length,
      corpus.bytes,
    );
    log(`   verify ${verify.seconds.toFixed(1)} s, ${verify.s3Requests} S3 requests`);

    log('4. Raw floor…');
    await runRawFloor(stack, endpoint, region, source, files, scratch);

    const rcloneBucket = 'strongbox-bench-rclone';
    const resticBucket = 'strongbox-bench-restic';
    let repo: Awaited<ReturnType<typeof resticInit>>['repo'] | undefined;
    let resticFirst: string | undefined;
    log('5. Peers: copy / first backup…');
    if (peers.rclone) {
      await stack.call({ cmd: 'createBucket', bucket: rcloneBucket });
      await peerRow(stack, 'rclone-copy', 'rclone copy', 'full', files.length, corpus.bytes, () =>
        rcloneCopy(endpoint, region, source, rcloneBucket),
      );
    } else notRun('rclone-copy', 'rclone copy', 'full', rcloneWhy);
    if (peers.restic) {
      await stack.call({ cmd: 'createBucket', bucket: resticBucket });
      const init = await resticInit(endpoint, region, resticBucket, 'strongbox-bench');
      if (init.exitCode !== 0) {
        problems.push(`restic init exited with ${init.exitCode}: ${init.stdoutTail.slice(-600)}`);
        notRun('restic-backup', 'restic backup', 'full', `restic init failed (exit ${init.exitCode})`);
      } else {
        repo = init.repo;
        const r = await peerRow(
          stack,
          'restic-backup',
          'restic backup',
          'full',
          files.length,
          corpus.bytes,
          () => resticBackup(init.repo, corpusDir),
        );
        resticFirst = /snapshot ([0-9a-f]{8,}) saved/.exec(r.stdoutTail)?.[1];
      }
    } else notRun('restic-backup', 'restic backup', 'full', resticWhy);

    log(
      `   ours: a second plan on the same bucket, continuously protected (its incrementals come from the journal): its first snapshot…`,
    );
    await stack.call({ cmd: 'plan', planId: PLAN_JOURNAL, prefix: '', continuous: true, samplePercent: 0 });
    const journalBase = await stack.call<OurRow>({ cmd: 'base', planId: PLAN_JOURNAL });
    log(
      `   ${journalBase.seconds.toFixed(1)} s (not a row: the same data as the full snapshot, deduplicated)`,
    );

    log(
      `6. Changes: ${changes.modified.length} modified, ${changes.added.length} added, ${changes.deleted.length} deleted (bucket and corpus dir)…`,
    );
    const changed = await stack.call<Changed>({
      cmd: 'change',
      changes,
      planIds: [PLAN_LISTING, PLAN_JOURNAL],
    });
    await applyChangesToDir(corpusDir, changes);
    log(
      `   capture journaled ${changed.changes} changes in ${changed.seconds.toFixed(1)} s with ${changed.captureRequests} S3 requests`,
    );
    const incremental = await stack.call<OurRow>({ cmd: 'incremental', planId: PLAN_LISTING });
    addRow(
      ourRow(
        'incremental',
        'incremental snapshot (1% mod, 0.5% add, 0.5% del)',
        incremental,
        afterObjects,
        afterBytes,
      ),
    );
    log(`   ours incremental ${incremental.seconds.toFixed(1)} s, ${incremental.s3Requests} S3 requests`);
    const fromJournal = await stack.call<OurRow>({ cmd: 'incremental', planId: PLAN_JOURNAL });
    addRow(
      ourRow(
        'incremental-journal',
        'incremental from the journal (same changes)',
        fromJournal,
        afterObjects,
        afterBytes,
      ),
    );
    log(
      `   ours from the journal ${fromJournal.seconds.toFixed(1)} s, ${fromJournal.s3Requests} S3 requests (mode ${String(fromJournal.detail.mode)})`,
    );
    journalSizes.push({
      label: 'A',
      objects: files.length,
      changes: changed.changes,
      capture: changed,
      ids: {
        journal: 'incremental-journal',
        listing: 'incremental',
        restic: 'restic-backup-2',
        rclone: 'rclone-sync',
      },
    });
    if (peers.rclone)
      await peerRow(stack, 'rclone-sync', 'rclone sync', 'incremental', afterObjects, afterBytes, () =>
        rcloneSync(endpoint, region, source, rcloneBucket),
      );
    else notRun('rclone-sync', 'rclone sync', 'incremental', rcloneWhy);
    if (repo) {
      const r = repo;
      await peerRow(
        stack,
        'restic-backup-2',
        'restic backup (2nd)',
        'incremental',
        afterObjects,
        afterBytes,
        () => resticBackup(r, corpusDir),
      );
    } else notRun('restic-backup-2', 'restic backup (2nd)', 'incremental', 'no restic repository');

    log('7. Verify…');
    addRow(verifyRow);
    if (peers.rclone)
      await peerRow(
        stack,
        'rclone-check',
        'rclone check (sizes+MD5 ETags)',
        'verify',
        afterObjects,
        afterBytes,
        () => rcloneCheck(endpoint, region, source, rcloneBucket),
      );
    else notRun('rclone-check', 'rclone check', 'verify', rcloneWhy);
    if (repo) {
      const r = repo;
      await peerRow(
        stack,
        'restic-check',
        'restic check --read-data',
        'verify',
        afterObjects,
        afterBytes,
        () => resticCheckReadData(r),
      );
    } else notRun('restic-check', 'restic check --read-data', 'verify', 'no restic repository');

    log('8. Restore of the first snapshot into a new bucket, compared byte for byte…');
    await ourRestoreRow(stack, 'restore', files, corpus.bytes);
    log('   …and as a restore job, the path `strongbox restore` takes (slices through the restore queue)…');
    await ourRestoreRow(stack, 'restoreJob', files, corpus.bytes);
    if (peers.rclone) {
      const back = 'strongbox-bench-rclone-back';
      await stack.call({ cmd: 'createBucket', bucket: back });
      await peerRow(stack, 'rclone-back', 'rclone copy back', 'restore', afterObjects, afterBytes, () =>
        rcloneCopy(endpoint, region, rcloneBucket, back),
      );
    } else notRun('rclone-back', 'rclone copy back', 'restore', rcloneWhy);
    if (repo) {
      const r = repo;
      const target = join(scratch, 'restic-restore');
      await peerRow(
        stack,
        'restic-restore',
        'restic restore (1st snapshot)',
        'restore',
        files.length,
        corpus.bytes,
        () => resticRestore(r, resticFirst ?? 'latest', target),
      );
      await resticDispose(r);
    } else notRun('restic-restore', 'restic restore', 'restore', 'no restic repository');

    log(
      `9. The incrementals again on a bucket ${SIZE_B_DIVISOR}× smaller (every ${SIZE_B_DIVISOR}th file, under ${SIZE_B_PREFIX})…`,
    );
    await journalAtSizeB(stack, { endpoint, region, source, filesB, dirB, peers, rcloneWhy, resticWhy });

    if (!skipSmall) {
      log(`10. ${smallCount} small objects in another bucket, then our full snapshot of it…`);
      const small = await stack.call<OurRow>({ cmd: 'small', count: smallCount });
      addRow(
        ourRow(
          'small',
          `${smallCount >= 1000 ? `${Math.round(smallCount / 1000)}k` : smallCount}-object snapshot`,
          small,
          smallCount,
          Number(small.detail.bytes),
        ),
      );
      log(
        `   ${small.seconds.toFixed(1)} s, ${small.s3Requests} S3 requests (upload ${Number(small.detail.uploadSeconds).toFixed(1)} s), peak RSS of its environments ${fmtMB(small.environments?.maxRssBytes)} MB (${small.environments?.environments} environments, ${small.environments?.invocations} invocations, ${small.environments?.cpuSeconds.toFixed(1)} CPU s)`,
      );
    }
    if (!skipLarge) {
      log(
        `11. One ${(largeBytes / 2 ** 20).toFixed(0)} MiB object, snapshotted by the snapshot function as 1024 MB Lambda environments…`,
      );
      const large = await stack.call<OurRow>({ cmd: 'large', sizeBytes: largeBytes });
      addRow(
        ourRow(
          'large',
          `one ${largeBytes >= 2 ** 30 ? `${Number((largeBytes / 2 ** 30).toFixed(1))} GiB` : `${(largeBytes / 2 ** 20).toFixed(0)} MiB`} object (snapshot fn in Lambda envs)`,
          large,
          1,
          largeBytes,
        ),
      );
      log(
        `   ${large.seconds.toFixed(1)} s, ${large.s3Requests} S3 requests, peak RSS of its environments ${fmtMB(large.environments?.maxRssBytes)} MB (${large.environments?.environments} environments, ${large.environments?.invocations} invocations, ${large.environments?.cpuSeconds.toFixed(1)} CPU s)`,
      );
    }
    await tableRows(stack, files, scratch, info.endpoints.dynamodb, region);
    if (!skipFind) await findStep(stack, files, scratch, changes);
  } catch (error) {
    problems.push(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await stack?.stop();
    if (!args.keep) await rm(scratch, { recursive: true, force: true });
  }
  meta.totalSeconds = (Date.now() - started) / 1000;
  meta.complete = true;
  await saving;
  await saveResults();
  const out = RESULTS;
  log(`\n${printTable()}\n`);
  log(`${printJournalTable()}\n`);
  logTableSummary();
  printFindVerdict();
  log(`Total ${(((Date.now() - started) / 1000) | 0).toString()} s; results in ${out}`);
  for (const p of problems) console.error(`PROBLEM: ${p}`);
  return problems.length ? 1 : 0;
}

/**
 * The DynamoDB table rows (table-bench.ts) on the lines of `files`' text files: ours against the
 * raw Scan and BatchWriteItem floors.
 */
async function tableRows(
  stack: StackProcess,
  files: readonly CorpusFile[],
  scratch: string,
  dynamodb: string,
  region: string,
): Promise<void> {
  if (skipTable) return;
  log(
    `12. DynamoDB table rows: a table of ≥ ${tableItems} items (a line each of the corpus's text files), ${tableSegments} Scan segments…`,
  );
  try {
    tableSummary = await runTableRows({
      stack,
      endpoints: { dynamodb },
      region,
      files,
      items: tableItems,
      perKind: tableChanges,
      segments: tableSegments,
      concurrency,
      scratch,
      log,
      problems,
      addOurs: (id, name, row, items, note) => addRow(ourRow(id, name, row, items, 0, note)),
      addFloor: (row) => addRow({ ...row, who: 'floor', bytes: 0, memKind: 'rss', ok: true }),
      addCli: (row) => addRow({ ...row, who: 'ours', bytes: 0, memKind: 'rss', ok: true }),
    });
  } catch (error) {
    problems.push(`table rows: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}

/** The table rows' own summary, when they ran. */
function logTableSummary(): void {
  if (tableSummary) log(`${tableSummary}\n`);
}

/** `--only-table`: the stack, then the table rows alone on node_modules' text files. */
async function mainTableOnly(): Promise<number> {
  const started = Date.now();
  const scratch = await mkdtemp(join(tmpdir(), 'strongbox-bench-'));
  const stack = new StackProcess();
  Object.assign(meta, {
    startedAt: new Date().toISOString(),
    node: process.version,
    options: { onlyTable, tableItems, tableChanges, tableSegments, concurrency },
  });
  try {
    const files = await walk(join(PROJECT_ROOT, 'node_modules'), Number.POSITIVE_INFINITY);
    log(`1. Starting the stack (${files.length} files of node_modules for the table's lines)…`);
    const info = await stack.call<{ endpoints: { dynamodb: string }; primaryRegion: string }>({
      cmd: 'start',
      concurrency,
      latency: withLatency,
    });
    await tableRows(stack, files, scratch, info.endpoints.dynamodb, info.primaryRegion);
  } catch (error) {
    problems.push(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await stack.stop();
    if (!args.keep) await rm(scratch, { recursive: true, force: true });
  }
  meta.totalSeconds = (Date.now() - started) / 1000;
  meta.complete = true;
  await saving;
  await saveResults();
  log(`\n${printTable()}\n`);
  logTableSummary();
  log(`Total ${(((Date.now() - started) / 1000) | 0).toString()} s; results in ${RESULTS}`);
  for (const p of problems) console.error(`PROBLEM: ${p}`);
  return problems.length ? 1 : 0;
}

/** `--scale`, `--only-find`, `--only-table`, or the table. */
function entry(): Promise<number> {
  if (args.scale) return mainScale();
  if (onlyFind) return mainFindOnly();
  if (onlyTable) return mainTableOnly();
  return main();
}

entry().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
