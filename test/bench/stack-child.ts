/**
 * The bench's stack process: the embedded stack (fauxqs S3+SQS threads, DynamoDB Local as a Java
 * child process, the dispatcher and every function of serverless.yml) and OUR measured rows, driven
 * by run.ts over the IPC channel of `child_process.fork`.
 *
 * Why a process of its own: the parent runs the peers (rclone, restic) and the raw floor in their own
 * processes, so nothing but the stack and our functions lives here. Our functions share this process
 * with the fauxqs worker threads, whose in-memory storage holds every corpus copy, so this process's
 * RSS says little about our functions. What we report for our rows instead is the peak of
 * `heapTotal + external` of the MAIN thread (the V8 isolate where the dispatcher and the handlers
 * run; ArrayBuffers, zlib/zstd contexts and sockets' buffers are in `external`, and each worker thread
 * has its own isolate and accounting), sampled every 100 ms. It leaves out the node binary's own
 * resident memory (~40–50 MB) and native memory V8 is not told about. The whole process's RSS peak is
 * recorded too (`stackRssPeakBytes` in results.json), labelled as such.
 *
 * Our rows use only the public paths the demo and the CLI use: applyPlans, startSnapshotNow (=
 * `strongbox backup`), the catalog's job, task and snapshot records, restoreSnapshot. The find row's
 * `strongbox ls` and `strongbox find` run in processes of their own (run.ts spawns the CLI), reaching
 * this stack through the stack.json the `stackFile` command writes, as `strongbox start` would.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pLimit from 'p-limit';
import { applyPlans } from '#domain/apply-plans.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { writeStackFile } from '#local/cli/context.ts';
import { followRestoreJob } from '#local/cli/format/progress.ts';
import {
  applyChanges,
  type ChangeSet,
  type CorpusFile,
  sourceBucketOf,
  uploadFiles,
} from '#local/demo/corpus.ts';
import { waitUntil } from '#local/demo/wait.ts';
import { currentInvocation } from '#local/dispatcher.ts';
import { S3_LATENCY_PROFILE } from '#local/latency-proxy.ts';
import type { FunctionProcessStats } from '#local/process-functions.ts';
import { type LocalStack, s3RequestCount, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { type EnvironmentStats, type ScaleCommand, type ScaleKit, scaleRow } from './scale-rows.ts';
import { type SyntheticObject, syntheticObject, syntheticOverlay } from './synthetic-object.ts';
import { type TableCommand, tableStep } from './table-rows.ts';

/** What one of our rows measured. */
export interface OurRow {
  seconds: number;
  /** S3 requests per endpoint (region), by kind, during the row. */
  requests: Record<string, Record<string, number>>;
  s3Requests: number;
  /**
   * S3 requests sent by each of our functions during the row (attributed by the dispatcher's
   * invocation context; '(outside)' = not from a function): unlike `requests`, a function's work
   * overlapping the row (the verification a commit starts) is told apart.
   */
  requestsByFunction: Record<string, number>;
  /**
   * Rows whose snapshot function ran as Lambda environments (processes of their own with Lambda's
   * heap flags for its memorySize): how many, and the highest peak RSS of any of them.
   */
  environments?: { functionName: string; memorySizeMb: number } & FunctionProcessStats;
  /** Rows that ran several functions as Lambda environments: each one's statistics. */
  environmentsByFunction?: EnvironmentStats;
  /** DynamoDB requests during the row (when the stack counts them: `--scale`). */
  dynamodbRequests?: number;
  /** Peak heapTotal + external of the main thread (our functions' isolate) during the row. */
  jsPeakBytes: number;
  /** Peak RSS of this whole process (emulator threads included) during the row. */
  stackRssPeakBytes: number;
  detail: Record<string, unknown>;
}

export type Command =
  | {
      cmd: 'start';
      concurrency: number;
      latency?: boolean;
      countDynamoDb?: boolean;
      /** Serve a synthetic object of this many bytes through the S3 proxy (synthetic-object.ts). */
      syntheticBytes?: number;
    }
  | { cmd: 'stats' }
  | { cmd: 'load'; files: CorpusFile[] }
  | { cmd: 'full'; samplePercent: number }
  | { cmd: 'verify' }
  | {
      cmd: 'plan';
      planId: string;
      prefix: string;
      continuous: boolean;
      samplePercent: number;
      /** Retention's keepLast (default 10). */
      keepLast?: number;
    }
  | { cmd: 'base'; planId: string }
  | { cmd: 'change'; changes: ChangeSet; planIds: string[] }
  | { cmd: 'incremental'; planId: string }
  | { cmd: 'restore'; files: CorpusFile[]; expectedKeys: number }
  | { cmd: 'restoreJob'; files: CorpusFile[]; expectedKeys: number }
  | { cmd: 'small'; count: number }
  | { cmd: 'large'; sizeBytes: number }
  | { cmd: 'createBucket'; bucket: string }
  | { cmd: 'scale'; command: ScaleCommand }
  /** A step of the table rows (table-rows.ts). */
  | { cmd: 'table'; command: TableCommand }
  /** Write `dir`/stack.json, as `strongbox start` does, so the CLI run with `--data-dir dir` reaches this stack. */
  | { cmd: 'stackFile'; dir: string }
  /** Wait until no function has run for a second (a prune, a verification, GC): nothing competes with a timed CLI run. */
  | { cmd: 'quiet' }
  | { cmd: 'stop' };

const PLAN_ID = 'bench';
const SMALL_PLAN_ID = 'bench-small';
const SMALL_BUCKET = 'strongbox-bench-small';
const LARGE_PLAN_ID = 'bench-large';
const SYNTHETIC_BUCKET = 'strongbox-bench-scale-large';
const LARGE_BUCKET = 'strongbox-bench-large';
const LARGE_KEY = 'large/object.bin';
const RESTORE_BUCKET = 'strongbox-bench-restore';
/** Where the restore job row (the path `strongbox restore` takes) writes. */
const RESTORE_JOB_BUCKET = 'strongbox-bench-restore-job';

let stack: LocalStack | undefined;
/** The `--scale` large row's object, served by the stack's S3 proxy, and the requests it answered. */
let synthetic: { object: SyntheticObject; served: { requests: number } } | undefined;
let c: Container | undefined;
let s3: S3Client | undefined;
let sourceBucket = '';
let firstSnapshotId = '';
let concurrency = 32;

// Outgoing S3 requests of this process, by the function whose invocation sent them: those sent
// with node:http (the AWS SDK)…
const sentByFunction: Record<string, number> = {};
let s3Hosts = new Set<string>();
subscribe('http.client.request.start', (message) => {
  const request = (message as { request: ClientRequest }).request;
  if (!s3Hosts.has(String(request.getHeader('host') ?? ''))) return;
  const target = request.getHeader('x-amz-target');
  const contentType = String(request.getHeader('content-type') ?? '');
  if (typeof target === 'string' && target.startsWith('AmazonSQS')) return;
  if (request.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) return;
  countSent();
});
// …and those sent with undici (the adapters' lighter S3 client for object GETs and PUTs).
subscribe('undici:request:create', (message) => {
  const { origin } = (message as { request: { origin: string | URL } }).request;
  if (s3Hosts.has(new URL(String(origin)).host)) countSent();
});
function countSent(): void {
  const fn = currentInvocation.getStore()?.functionName ?? '(outside)';
  sentByFunction[fn] = (sentByFunction[fn] ?? 0) + 1;
}
const sentDelta = (before: Record<string, number>, after: Record<string, number> = sentByFunction) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([fn, n]) => [fn, n - (before[fn] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );

// Memory sampler: peaks since the last reset.
let jsPeak = 0;
let rssPeak = 0;
const sample = () => {
  const m = process.memoryUsage();
  jsPeak = Math.max(jsPeak, m.heapTotal + m.external);
  rssPeak = Math.max(rssPeak, m.rss);
};
setInterval(sample, 100).unref();

const ready = () => {
  if (!stack || !c || !s3) throw new Error('the stack is not started');
  return { stack, c, s3 };
};

async function requestCounts(): Promise<Record<string, Record<string, number>>> {
  const stats = await ready().stack.endpointStats();
  return Object.fromEntries(Object.entries(stats).map(([region, s]) => [region, s.requests]));
}

function delta(
  before: Record<string, Record<string, number>>,
  after: Record<string, Record<string, number>>,
): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [region, counts] of Object.entries(after)) {
    const d: Record<string, number> = {};
    for (const [kind, n] of Object.entries(counts)) {
      const diff = n - (before[region]?.[kind] ?? 0);
      if (diff > 0 && kind.startsWith('s3:')) d[kind] = diff;
    }
    out[region] = d;
  }
  return out;
}

/** Run `work` as a row: wall-clock seconds, S3 requests at every endpoint, memory peaks. */
async function measure(
  work: () => Promise<{
    seconds?: number;
    detail?: Record<string, unknown>;
    endCounts?: Counts;
    endByFunction?: Record<string, number>;
  }>,
): Promise<OurRow> {
  const before = await requestCounts();
  const dynamodbBefore = stack?.dynamodbRequests();
  const sentBefore = { ...sentByFunction };
  sample();
  jsPeak = 0;
  rssPeak = 0;
  sample();
  const started = performance.now();
  const result = await work();
  const wall = (performance.now() - started) / 1000;
  sample();
  const requests = delta(before, result.endCounts ?? (await requestCounts()));
  const dynamodbAfter = stack?.dynamodbRequests();
  return {
    ...(dynamodbAfter !== undefined && dynamodbBefore !== undefined
      ? { dynamodbRequests: dynamodbAfter - dynamodbBefore }
      : {}),
    seconds: result.seconds ?? wall,
    requests,
    s3Requests: Object.values(requests).reduce((sum, r) => sum + s3RequestCount(r), 0),
    requestsByFunction: sentDelta(sentBefore, result.endByFunction),
    jsPeakBytes: jsPeak,
    stackRssPeakBytes: rssPeak,
    detail: { wallSeconds: wall, ...(result.detail ?? {}) },
  };
}

type Counts = Record<string, Record<string, number>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a snapshot now and follow its job: resolves when the snapshot task has succeeded (seconds
 * from the start to then, and request counts read at that moment), and hands back a follower for the
 * rest of the job (verification, prune).
 */
async function snapshotNow(planId: string): Promise<{
  snapshotId: string;
  seconds: number;
  endCounts: Counts;
  endByFunction: Record<string, number>;
  doneAt: number;
}> {
  const { c, stack } = ready();
  // Nothing else running (a previous job's prune, GC): a row times its own work only.
  await quiet(stack);
  // One snapshot id per second: never reuse the previous one.
  await sleep(1100);
  const t0 = performance.now();
  const started = await startSnapshotNow(c.pipeline, planId);
  const jobId = `${planId}/${started.snapshotId}`;
  for (;;) {
    const tasks = await c.pipeline.catalog.listTasks(jobId);
    const snap = tasks.find((t) => t.taskId === 'snapshot');
    if (snap?.status === 'SUCCEEDED') {
      const seconds = (performance.now() - t0) / 1000;
      const endByFunction = { ...sentByFunction };
      const endCounts = await requestCounts();
      return { snapshotId: started.snapshotId, seconds, endCounts, endByFunction, doneAt: performance.now() };
    }
    if (snap?.status === 'FAILED') throw new Error(`snapshot ${jobId} FAILED: ${snap.error ?? ''}`);
    const job = await c.pipeline.catalog.getJob(jobId);
    if (job && job.status !== 'RUNNING')
      throw new Error(`job ${jobId} ended ${job.status} before its snapshot task: ${job.error ?? ''}`);
    // Polled often: the row ends (and its S3 requests are read) when the task has succeeded, before
    // the verification the commit starts has made many requests of its own.
    await sleep(25);
  }
}

/** Wait until no function has run for a second (at most 10 minutes). */
async function quiet(stack: LocalStack): Promise<void> {
  const deadline = Date.now() + 600_000;
  let idleSince = Date.now();
  while (Date.now() < deadline) {
    if (stack.dispatcher.activeInvocations > 0) idleSince = Date.now();
    else if (Date.now() - idleSince >= 1000) return;
    await sleep(50);
  }
}

/** Take a snapshot of `planId` now, as a row: it ends when the snapshot task has succeeded. */
function snapshotRow(planId: string): Promise<OurRow> {
  return measure(async () => {
    const s = await snapshotNow(planId);
    return {
      seconds: s.seconds,
      endCounts: s.endCounts,
      endByFunction: s.endByFunction,
      detail: { snapshotId: s.snapshotId },
    };
  });
}

/** Follow a job to its end; the verify tasks' span (first start to last finish) and counts after them. */
async function followVerification(
  planId: string,
  snapshotId: string,
): Promise<{ seconds: number; endCounts: Counts; tasks: string[] }> {
  const { c } = ready();
  const jobId = `${planId}/${snapshotId}`;
  let endCounts: Counts | undefined;
  for (;;) {
    const tasks = await c.pipeline.catalog.listTasks(jobId);
    const verify = tasks.filter((t) => t.taskId.startsWith('verify'));
    const verifyDone = verify.length > 0 && verify.every((t) => t.status !== 'RUNNING');
    const pruneStarted = tasks.some((t) => t.taskId === 'prune');
    if (!endCounts && verifyDone && pruneStarted) endCounts = await requestCounts();
    const job = await c.pipeline.catalog.getJob(jobId);
    if (job && job.status !== 'RUNNING') {
      if (job.status !== 'SUCCEEDED') throw new Error(`job ${jobId} ${job.status}: ${job.error ?? ''}`);
      const failed = verify.filter((t) => t.status !== 'SUCCEEDED');
      if (verify.length === 0 || failed.length > 0)
        throw new Error(`job ${jobId}: verification tasks ${JSON.stringify(verify.map((t) => t.status))}`);
      const snap = await c.pipeline.catalog.getSnapshot(planId, snapshotId);
      if (snap?.status !== 'COMMITTED') throw new Error(`snapshot ${jobId} is ${snap?.status}`);
      const start = Math.min(...verify.map((t) => Date.parse(t.startedAt ?? '')));
      const end = Math.max(...verify.map((t) => Date.parse(t.finishedAt ?? '')));
      return {
        seconds: (end - start) / 1000,
        endCounts: endCounts ?? (await requestCounts()),
        tasks: verify.map((t) => t.taskId),
      };
    }
    await sleep(200);
  }
}

let pendingVerification: Promise<{ seconds: number; endCounts: Counts; tasks: string[] }> | undefined;
let verificationStartCounts: Counts | undefined;

async function handle(message: Command): Promise<unknown> {
  switch (message.cmd) {
    case 'start': {
      concurrency = message.concurrency;
      synthetic = message.syntheticBytes
        ? {
            object: syntheticObject(SYNTHETIC_BUCKET, 'large/object.bin', message.syntheticBytes),
            served: { requests: 0 },
          }
        : undefined;
      stack = await startLocalStack({
        environment: {
          STRONGBOX_CONCURRENCY: String(concurrency),
          // GC as on AWS (serverless.yml's gcIntervalSeconds; the embedded stack's own default is 0):
          // the prune after each of the find row's 100 snapshots would otherwise collect every time,
          // reading the whole history (docs/scale.md). The GC row forces its runs (strongbox prune).
          STRONGBOX_GC_INTERVAL_SECONDS: '21600',
        },
        ...(message.latency ? { s3Latency: S3_LATENCY_PROFILE } : {}),
        ...(message.countDynamoDb ? { countDynamoDbRequests: true } : {}),
        ...(synthetic ? { s3Overlay: syntheticOverlay(synthetic.object, synthetic.served) } : {}),
      });
      c = stack.container(undefined, { uncounted: true }); // its polling is not the rows' DynamoDB requests
      s3 = stack.s3();
      sourceBucket = sourceBucketOf(stack);
      s3Hosts = new Set(Object.values(stack.endpoints.s3).map((url) => new URL(url).host));
      return {
        endpoints: stack.endpoints,
        primaryRegion: stack.primaryRegion,
        sourceBucket,
        pid: process.pid,
      };
    }
    case 'stats':
      return requestCounts();
    case 'createBucket':
      await ready().s3.send(new CreateBucketCommand({ Bucket: message.bucket }));
      return null;
    case 'load': {
      const { stack, s3 } = ready();
      const t0 = performance.now();
      let n = 0;
      let last = Date.now();
      await uploadFiles(s3, sourceBucket, message.files, concurrency, () => {
        n += 1;
        if (Date.now() - last > 10_000) {
          last = Date.now();
          console.log(`  uploaded ${n}/${message.files.length}`);
        }
      });
      await stack.settled(); // capture has journaled every upload
      return { seconds: (performance.now() - t0) / 1000 };
    }
    case 'full': {
      const { c } = ready();
      await benchPlan(PLAN_ID, sourceBucket, '', { samplePercent: message.samplePercent, continuous: false });
      const row = await snapshotRow(PLAN_ID);
      const snapshotId = String(row.detail.snapshotId);
      firstSnapshotId = snapshotId;
      verificationStartCounts = await requestCounts();
      jsPeak = 0;
      rssPeak = 0;
      pendingVerification = followVerification(PLAN_ID, snapshotId);
      const snap = await c.pipeline.catalog.getSnapshot(PLAN_ID, snapshotId);
      row.detail.snapshot = snap;
      return row;
    }
    case 'verify': {
      // The verification the pipeline ran after the full snapshot (all tiers; deep on samplePercent).
      if (!pendingVerification || !verificationStartCounts) throw new Error('no full snapshot yet');
      const v = await pendingVerification;
      const requests = delta(verificationStartCounts, v.endCounts);
      return {
        seconds: v.seconds,
        requests,
        s3Requests: Object.values(requests).reduce((sum, r) => sum + s3RequestCount(r), 0),
        requestsByFunction: {},
        jsPeakBytes: jsPeak,
        stackRssPeakBytes: rssPeak,
        detail: { tasks: v.tasks },
      } satisfies OurRow;
    }
    case 'plan': {
      // A plan of its own over `prefix` of the source bucket.
      await benchPlan(message.planId, sourceBucket, message.prefix, {
        samplePercent: message.samplePercent,
        continuous: message.continuous,
        keepLast: message.keepLast,
      });
      return null;
    }
    case 'base': {
      // A plan's first snapshot (not a row of the table): taken, then its job followed to its end.
      const { c } = ready();
      const row = await snapshotRow(message.planId);
      const snapshotId = String(row.detail.snapshotId);
      await followVerification(message.planId, snapshotId);
      row.detail.snapshot = await c.pipeline.catalog.getSnapshot(message.planId, snapshotId);
      return row;
    }
    case 'change': {
      // The changes, by the S3 client, and capture's work on them (S3 events → capture → vault
      // and journal), until every plan named has journaled every change. The S3 requests counted
      // are the client's (a PUT per modified or added object, a DELETE per deleted one) and
      // capture's; `captureRequests` leaves the client's out.
      const { c, s3, stack } = ready();
      const journalSize = async (planId: string) => (await c.pipeline.catalog.listJournal(planId)).length;
      const before = new Map<string, number>();
      for (const planId of message.planIds) before.set(planId, await journalSize(planId));
      const counts = await requestCounts();
      const sentBefore = { ...sentByFunction };
      const t0 = performance.now();
      await applyChanges(s3, sourceBucket, message.changes, concurrency);
      await stack.settled();
      const expected =
        message.changes.modified.length + message.changes.added.length + message.changes.deleted.length;
      const journaled: Record<string, number> = {};
      for (const planId of message.planIds) {
        journaled[planId] = await waitUntil(async () => {
          const n = (await journalSize(planId)) - (before.get(planId) ?? 0);
          return n >= expected ? n : undefined;
        }, 120_000);
      }
      const seconds = (performance.now() - t0) / 1000;
      const requests = delta(counts, await requestCounts());
      const byKind: Record<string, number> = {};
      for (const r of Object.values(requests))
        for (const [kind, n] of Object.entries(r)) byKind[kind] = (byKind[kind] ?? 0) + n;
      const clientRequests = expected; // one request per change
      return {
        journaled,
        changes: expected,
        seconds,
        requestsByKind: byKind,
        clientRequests,
        captureRequests: s3RequestCount(byKind) - clientRequests,
        requestsByFunction: sentDelta(sentBefore),
      };
    }
    case 'incremental': {
      const { c } = ready();
      const row = await snapshotRow(message.planId);
      const snapshotId = String(row.detail.snapshotId);
      await followVerification(message.planId, snapshotId); // let the job end before the next row
      const snapshot = await c.pipeline.catalog.getSnapshot(message.planId, snapshotId);
      row.detail.snapshot = snapshot;
      const task = (await c.pipeline.catalog.listTasks(`${message.planId}/${snapshotId}`)).find(
        (t) => t.taskId === 'snapshot',
      );
      row.detail.mode = snapshot?.mode;
      row.detail.result = task?.result;
      return row;
    }
    case 'restore':
    case 'restoreJob': {
      const { c, s3 } = ready();
      const bucket = message.cmd === 'restore' ? RESTORE_BUCKET : RESTORE_JOB_BUCKET;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const request = { plan: PLAN_ID, snapshot: firstSnapshotId, targetBucket: bucket };
      const row = await measure(async () => {
        if (message.cmd === 'restore') {
          const report = await restoreSnapshot(c.pipeline, request);
          return { detail: { objects: report.objects, bytes: report.bytes, reportSeconds: report.seconds } };
        }
        // What `strongbox restore` does: startRestore fans a selection this large out as a restore
        // job (slices through the restore queue to restoreWorker, which the dispatcher invokes),
        // and the CLI follows the job (its progress bar, polling every second) until it ends.
        const started = await startRestore(c.pipeline, request);
        if (!started.job) return { detail: { fannedOut: false, objects: started.report.objects } };
        const job = await followRestoreJob(c.pipeline.catalog, started.job.restoreJobId);
        if (job.status !== 'SUCCEEDED')
          throw new Error(`restore job ${job.restoreJobId} ${job.status}: ${job.error ?? ''}`);
        return { detail: { fannedOut: true, restoreJobId: job.restoreJobId, slices: job.slicesTotal } };
      });
      row.detail.compare = await compareRestore(s3, message.files, message.expectedKeys, bucket);
      return row;
    }
    case 'small': {
      const { c, s3 } = ready();
      const t0 = performance.now();
      await s3.send(new CreateBucketCommand({ Bucket: SMALL_BUCKET }));
      const bytes = await uploadSmallObjects(s3, SMALL_BUCKET, message.count);
      const uploadSeconds = (performance.now() - t0) / 1000;
      await benchPlan(SMALL_PLAN_ID, SMALL_BUCKET, '', { samplePercent: 0, continuous: false });
      const row = await inEnvironments(() => snapshotRow(SMALL_PLAN_ID));
      // Let the job (verification, prune) end before anything else runs: not part of the row.
      const jobId = `${SMALL_PLAN_ID}/${String(row.detail.snapshotId)}`;
      await waitUntil(async () => {
        const job = await c.pipeline.catalog.getJob(jobId);
        return job && job.status !== 'RUNNING' ? job.status : undefined;
      }, 3_600_000);
      row.detail.objects = message.count;
      row.detail.bytes = bytes;
      row.detail.uploadSeconds = uploadSeconds;
      row.detail.snapshot = await c.pipeline.catalog.getSnapshot(
        SMALL_PLAN_ID,
        String(row.detail.snapshotId),
      );
      return row;
    }
    case 'large':
      // One object larger than the function's memory, snapshotted by the snapshot function running
      // as Lambda environments of its memorySize: their peak RSS is the row's memory.
      return inEnvironments(() => largeRow(message.sizeBytes));
    case 'scale': {
      const { stack, c, s3 } = ready();
      const kit: ScaleKit = {
        stack,
        c,
        s3,
        sourceBucket,
        concurrency,
        measure,
        snapshotRow,
        inEnvironments: (names, row) => inEnvironments(row, names),
        benchPlan,
        uploadSmallObjects,
        smallObjectKey,
        smallBody,
        synthetic,
      };
      return scaleRow(message.command, kit);
    }
    case 'table': {
      const { stack, c } = ready();
      return tableStep(message.command, { stack, c, measure, snapshotRow });
    }
    case 'stackFile': {
      await writeStackFile(ready().stack, message.dir);
      return null;
    }
    case 'quiet':
      await quiet(ready().stack);
      return null;
    case 'stop':
      await stack?.stop();
      stack = undefined;
      return null;
    default:
      throw new Error(`unknown command ${JSON.stringify(message)}`);
  }
}

/** One large object uploaded, then snapshotted as a row (run it in environments), then verified. */
async function largeRow(sizeBytes: number): Promise<OurRow> {
  const { c, s3 } = ready();
  await s3.send(new CreateBucketCommand({ Bucket: LARGE_BUCKET }));
  const t0 = performance.now();
  await new Upload({
    client: s3,
    params: { Bucket: LARGE_BUCKET, Key: LARGE_KEY, Body: Readable.from(largeBody(sizeBytes)) },
    partSize: 16 * 1024 * 1024,
    queueSize: 4,
  }).done();
  const uploadSeconds = (performance.now() - t0) / 1000;
  await benchPlan(LARGE_PLAN_ID, LARGE_BUCKET, '', { samplePercent: 0, continuous: false });
  const row = await snapshotRow(LARGE_PLAN_ID);
  const snapshotId = String(row.detail.snapshotId);
  await followVerification(LARGE_PLAN_ID, snapshotId);
  row.detail.snapshot = await c.pipeline.catalog.getSnapshot(LARGE_PLAN_ID, snapshotId);
  row.detail.uploadSeconds = uploadSeconds;
  return row;
}

/**
 * Apply one plan of ours over `bucket`/`prefix`. Disabled: only our on-demand snapshots run, never
 * the scheduler's. A `continuous` plan builds its incrementals from the journal; its settleSeconds
 * is 1 because the bench waits until capture has journaled every change, and snapshotNow waits
 * 1.1 s before it starts a snapshot.
 */
async function benchPlan(
  id: string,
  bucket: string,
  prefix: string,
  options: { samplePercent: number; continuous: boolean; keepLast?: number },
): Promise<void> {
  await applyPlans(
    ready().c.pipeline,
    {
      plans: [
        {
          id,
          source: { bucket, prefix },
          schedule: 'rate(1 day)',
          retention: { keepLast: options.keepLast ?? 10 },
          copyRegions: [],
          verification: { samplePercent: options.samplePercent },
          ...(options.continuous ? { continuous: { settleSeconds: 1 } } : {}),
          enabled: false,
        },
      ],
    },
    [],
  );
}

/**
 * Run a row with the snapshot function as Lambda environments (processes of their own, see
 * #local/process-functions.ts) and attach what they measured.
 */
async function inEnvironments(
  row: () => Promise<OurRow>,
  names: readonly string[] = ['snapshot'],
): Promise<OurRow> {
  const { stack } = ready();
  stack.processFunctions.resetStats();
  stack.processFunctions.use(names);
  try {
    const r = await row();
    const all = stack.processFunctions.stats();
    const byFunction: EnvironmentStats = {};
    for (const name of names) {
      const stats = all[name];
      if (!stats) continue;
      const fn = stack.serverless.functions[name];
      byFunction[name] = { memorySizeMb: fn?.memorySize ?? stack.serverless.provider.memorySize, ...stats };
      if (stats.crashes > 0)
        throw new Error(`the ${name} function's environment crashed ${stats.crashes} times`);
    }
    const snapshot = byFunction.snapshot;
    if (snapshot) r.environments = { functionName: 'snapshot', ...snapshot };
    r.environmentsByFunction = byFunction;
    return r;
  } finally {
    stack.processFunctions.use([]);
    // Fresh environments for the next such row: an environment's peak RSS is its lifetime's.
    await stack.processFunctions.stop();
  }
}

/** `sizeBytes` of incompressible, reproducible bytes (AES-256-CTR of zeros under a fixed key), 8 MiB at a time. */
async function* largeBody(sizeBytes: number): AsyncGenerator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16, 0));
  const step = 8 * 1024 * 1024;
  for (let done = 0; done < sizeBytes; done += step) {
    yield cipher.update(Buffer.alloc(Math.min(step, sizeBytes - done)));
  }
}

/**
 * Every object of the restore bucket against the bytes uploaded: the listing must hold exactly the
 * corpus keys, and each object must hash to its file's SHA-256 as uploaded.
 */
async function compareRestore(
  s3: S3Client,
  files: CorpusFile[],
  expectedKeys: number,
  bucket: string,
): Promise<{ identical: number; mismatched: string[]; listed: number }> {
  const keys = new Set<string>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const o of page.Contents ?? []) keys.add(o.Key as string);
    token = page.NextContinuationToken;
  } while (token);
  const limit = pLimit(concurrency);
  const mismatched: string[] = [];
  let identical = 0;
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        try {
          const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: f.key }));
          const body = await out.Body?.transformToByteArray();
          const hash = createHash('sha256')
            .update(body ?? new Uint8Array())
            .digest('hex');
          if (hash === f.sha256 && body?.length === f.sizeBytes) identical += 1;
          else mismatched.push(f.key);
        } catch {
          mismatched.push(f.key);
        }
      }),
    ),
  );
  if (keys.size !== expectedKeys)
    mismatched.push(`(listing holds ${keys.size} keys, expected ${expectedKeys})`);
  return { identical, mismatched, listed: keys.size };
}

/**
 * `count` small objects with deterministic content: 100 B to ~4 KiB of seeded pseudo-random text;
 * every tenth repeats an earlier object's bytes (duplicates for dedup). Returns the bytes written.
 */
async function uploadSmallObjects(s3: S3Client, bucket: string, count: number): Promise<number> {
  const limit = pLimit(concurrency);
  let bytes = 0;
  let done = 0;
  let last = Date.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      limit(async () => {
        const body = smallBody(i % 10 === 9 ? Math.floor(i / 10) : i);
        bytes += body.length;
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: smallObjectKey(i),
            Body: body,
          }),
        );
        done += 1;
        if (Date.now() - last > 10_000) {
          last = Date.now();
          console.log(`  small objects: ${done}/${count}`);
        }
      }),
    ),
  );
  return bytes;
}

/** The key of the `i`-th small object. */
function smallObjectKey(i: number): string {
  return `small/${String(Math.floor(i / 1000)).padStart(3, '0')}/${String(i).padStart(6, '0')}.txt`;
}

function smallBody(seed: number): Buffer {
  // xorshift32, seeded by the object's number: the same bytes on every run.
  let x = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const size = 100 + (next() % 4000);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz      \n';
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = alphabet.charCodeAt(next() % alphabet.length);
  return out;
}

// The IPC loop: one command at a time, answered with its id.
process.on('message', (m: { id: number } & Command) => {
  handle(m).then(
    (value) => process.send?.({ id: m.id, ok: true, value }),
    (error: unknown) =>
      process.send?.({
        id: m.id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
});
process.on('disconnect', () => {
  void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
