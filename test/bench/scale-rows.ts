/**
 * The rows of `npm run bench -- --scale` (issue 14), run in the bench's stack process
 * (stack-child.ts) with the functions they time as Lambda environments: processes of their own with
 * Lambda's heap flags for their memorySize, whose peak RSS (VmHWM) is what a row's verdict reads.
 *
 * - `snapshot`: a full snapshot of N small objects (`strongbox backup`, the snapshot function);
 * - `restoreJob`: that snapshot restored by the restore function into a new bucket, as the job it
 *   fans out to restoreWorker (what `strongbox restore` does on a deployed stage);
 * - `journal`: a journal-built snapshot after N changes under one prefix (new dated log keys, all
 *   after the plan's last part: the slot issue 14 found quadratic);
 * - `gc`: `strongbox prune` of a plan whose vault holds N blobs, half of them referenced only by the
 *   snapshot retention forgets (the prune function: forget, then garbage collection);
 * - `large`: one object of N bytes, snapshotted; the stack's S3 proxy serves it from a generator
 *   (synthetic-object.ts), since fauxqs keeps objects in RAM.
 *
 * The gc row's vault is written by the product's own writers (PackWriter, writeIndex, writePart,
 * writeManifest, in the documented order) and its catalog records recreated by `strongbox repair
 * catalog` (repairCatalog): uploading 2 million objects and snapshotting them twice would take the
 * emulator an hour, and the row times GC, not the snapshot.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import type { RestoreJobRecord } from '#domain/records.ts';
import { repairCatalog } from '#domain/repair.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { PackWriter, writeIndex, writeManifest, writePart } from '#domain/repository/write.ts';
import {
  CHUNK_SIZE_BYTES,
  type ContentId,
  contentIdOf,
  type ManifestEntry,
  manifestRoot,
  PART_MAX_ENTRIES,
} from '#domain/vault.ts';
import { followRestoreJob } from '#local/cli/format/progress.ts';
import { waitUntil } from '#local/demo/wait.ts';
import type { FunctionProcessStats } from '#local/process-functions.ts';
import { pruneNow } from '#local/reports.ts';
import type { LocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import type { OurRow } from './stack-child.ts';
import { type SyntheticObject, syntheticSha256 } from './synthetic-object.ts';

/** One `--scale` row to run. */
export type ScaleCommand =
  | { row: 'snapshot'; objects: number }
  | { row: 'restoreJob'; sampleObjects: number }
  | { row: 'journal'; baseObjects: number; changes: number }
  | { row: 'gc'; blobs: number }
  | { row: 'large'; sizeBytes: number };

/** What stack-child.ts lends the rows. */
export interface ScaleKit {
  stack: LocalStack;
  c: Container;
  s3: S3Client;
  sourceBucket: string;
  concurrency: number;
  measure(work: () => Promise<{ detail?: Record<string, unknown> }>): Promise<OurRow>;
  snapshotRow(planId: string): Promise<OurRow>;
  inEnvironments(names: readonly string[], row: () => Promise<OurRow>): Promise<OurRow>;
  benchPlan(
    id: string,
    bucket: string,
    prefix: string,
    options: { samplePercent: number; continuous: boolean; keepLast?: number },
  ): Promise<void>;
  uploadSmallObjects(s3: S3Client, bucket: string, count: number): Promise<number>;
  smallObjectKey(i: number): string;
  smallBody(seed: number): Buffer;
  /** The large row's object, served by the stack's S3 proxy (synthetic-object.ts). */
  synthetic: { object: SyntheticObject; served: { requests: number } } | undefined;
}

/** Per-function Lambda environment statistics of a row. */
export type EnvironmentStats = Record<string, { memorySizeMb: number } & FunctionProcessStats>;

const SCALE_BUCKET = 'strongbox-bench-scale';
const SCALE_PLAN = 'bench-scale';
const SCALE_RESTORE_BUCKET = 'strongbox-bench-scale-restore';
const JOURNAL_PLAN = 'bench-scale-journal';
const JOURNAL_PREFIX = 'scale-journal/';
const GC_BUCKET = 'strongbox-bench-scale-gc';
const GC_PLAN = 'bench-scale-gc';
const LARGE_PLAN = 'bench-scale-large';
const HOUR_MS = 3_600_000;

/** Run one `--scale` row. */
export async function scaleRow(command: ScaleCommand, kit: ScaleKit): Promise<OurRow> {
  switch (command.row) {
    case 'snapshot':
      return snapshotOfSmallObjects(kit, command.objects);
    case 'restoreJob':
      return restoreJobOfSnapshot(kit, command.sampleObjects);
    case 'journal':
      return journalBuiltSnapshot(kit, command.baseObjects, command.changes);
    case 'gc':
      return gcOfVault(kit, command.blobs);
    case 'large':
      return largeObjectSnapshot(kit, command.sizeBytes);
  }
}

let scaleObjects = 0;

async function snapshotOfSmallObjects(kit: ScaleKit, objects: number): Promise<OurRow> {
  const t0 = performance.now();
  await kit.s3.send(new CreateBucketCommand({ Bucket: SCALE_BUCKET }));
  const bytes = await kit.uploadSmallObjects(kit.s3, SCALE_BUCKET, objects);
  const uploadSeconds = (performance.now() - t0) / 1000;
  await kit.benchPlan(SCALE_PLAN, SCALE_BUCKET, '', { samplePercent: 0, continuous: false });
  const row = await kit.inEnvironments(['snapshot'], () => kit.snapshotRow(SCALE_PLAN));
  await jobEnd(kit, SCALE_PLAN, String(row.detail.snapshotId));
  const snapshot = await kit.c.pipeline.catalog.getSnapshot(SCALE_PLAN, String(row.detail.snapshotId));
  if (snapshot?.objectCount !== objects)
    throw new Error(`the scale snapshot holds ${snapshot?.objectCount} objects, not ${objects}`);
  scaleObjects = objects;
  Object.assign(row.detail, { objects, bytes, uploadSeconds, snapshot });
  return row;
}

async function restoreJobOfSnapshot(kit: ScaleKit, sampleObjects: number): Promise<OurRow> {
  const { c, s3, stack } = kit;
  const snapshot = (await c.pipeline.catalog.listSnapshots(SCALE_PLAN)).findLast(
    (s) => s.status === 'COMMITTED',
  );
  if (!snapshot || scaleObjects === 0)
    throw new Error('the scale restore row needs the scale snapshot row first');
  await s3.send(new CreateBucketCommand({ Bucket: SCALE_RESTORE_BUCKET }));
  const request = { plan: SCALE_PLAN, snapshot: snapshot.snapshotId, targetBucket: SCALE_RESTORE_BUCKET };
  const row = await kit.inEnvironments(['restore', 'restoreWorker'], () =>
    kit.measure(async () => {
      // What `strongbox restore` does on a deployed stage: invoke the restore function, which fans
      // the selection out as a restore job, then follow the job until it ends.
      const started = (await stack.dispatcher.invoke('restore', request)) as RestoreJobRecord;
      if (!started?.restoreJobId)
        throw new Error(`the restore function did not start a job: ${JSON.stringify(started)}`);
      const job = await followRestoreJob(c.pipeline.catalog, started.restoreJobId, { pollMs: 2000 });
      if (job.status !== 'SUCCEEDED')
        throw new Error(`restore job ${job.restoreJobId} ${job.status}: ${job.error ?? ''}`);
      return { detail: { restoreJobId: job.restoreJobId, slices: job.slicesTotal } };
    }),
  );
  row.detail.check = await checkRestored(kit, scaleObjects, sampleObjects);
  // The emulator keeps every object in the bench's stack process (about 7.5 KB an object here): a
  // million restored objects left in place filled the machine's 24 GB by the 60 GiB row, whose
  // vault writes then failed. Checked, they are of no further use.
  row.detail.emptied = await emptyBucket(kit, SCALE_RESTORE_BUCKET);
  return row;
}

/** Delete every object of `bucket` (untimed), a page of 1,000 keys at a time. @returns the keys deleted. */
async function emptyBucket(kit: ScaleKit, bucket: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = await kit.s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key as string }));
    if (keys.length === 0) return deleted;
    const out = await kit.s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
    );
    if ((out.Errors ?? []).length > 0)
      throw new Error(`emptying ${bucket}: ${JSON.stringify(out.Errors?.slice(0, 3))}`);
    deleted += keys.length;
  }
}

/** Every key listed, and a sample of objects (spread over the key space) byte-identical to what was uploaded. */
async function checkRestored(
  kit: ScaleKit,
  objects: number,
  sampleObjects: number,
): Promise<{ listed: number; sampled: number; identical: number }> {
  let listed = 0;
  let token: string | undefined;
  do {
    const page = await kit.s3.send(
      new ListObjectsV2Command({
        Bucket: SCALE_RESTORE_BUCKET,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    listed += page.KeyCount ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  const step = Math.max(1, Math.floor(objects / sampleObjects));
  const sample = Array.from({ length: Math.ceil(objects / step) }, (_, n) => n * step);
  const limit = pLimit(kit.concurrency);
  const same = await Promise.all(
    sample.map((i) =>
      limit(async () => {
        const out = await kit.s3.send(
          new GetObjectCommand({ Bucket: SCALE_RESTORE_BUCKET, Key: kit.smallObjectKey(i) }),
        );
        const body = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
        return body.equals(kit.smallBody(i % 10 === 9 ? Math.floor(i / 10) : i));
      }),
    ),
  );
  const identical = same.filter(Boolean).length;
  if (listed !== objects || identical !== sample.length)
    throw new Error(
      `restored ${listed} of ${objects} keys; ${identical} of ${sample.length} sampled objects identical`,
    );
  return { listed, sampled: sample.length, identical };
}

async function journalBuiltSnapshot(kit: ScaleKit, baseObjects: number, changes: number): Promise<OurRow> {
  const { c, stack } = kit;
  await kit.benchPlan(JOURNAL_PLAN, kit.sourceBucket, JOURNAL_PREFIX, { samplePercent: 0, continuous: true });
  await putMany(kit, baseObjects, (i) => `${JOURNAL_PREFIX}base/${String(i).padStart(7, '0')}.txt`);
  await stack.settled();
  const base = await kit.snapshotRow(JOURNAL_PLAN);
  await jobEnd(kit, JOURNAL_PLAN, String(base.detail.snapshotId));
  // The changes: new keys under one dated prefix, after every key the base holds.
  const journaled = async () => (await c.pipeline.catalog.listJournal(JOURNAL_PLAN)).length;
  const before = await journaled();
  const t0 = performance.now();
  await putMany(kit, changes, (i) => `${JOURNAL_PREFIX}logs/2026/12/05/${String(i).padStart(7, '0')}.log`);
  await stack.settled();
  for (const deadline = Date.now() + HOUR_MS; (await journaled()) - before < changes; ) {
    if (Date.now() > deadline)
      throw new Error(`capture journaled fewer than ${changes} changes within an hour`);
    await new Promise((r) => setTimeout(r, 5000));
  }
  const captureSeconds = (performance.now() - t0) / 1000;
  const row = await kit.inEnvironments(['snapshot'], () => kit.snapshotRow(JOURNAL_PLAN));
  await jobEnd(kit, JOURNAL_PLAN, String(row.detail.snapshotId));
  const snapshot = await c.pipeline.catalog.getSnapshot(JOURNAL_PLAN, String(row.detail.snapshotId));
  if (snapshot?.mode !== 'journal' || snapshot.objectCount !== baseObjects + changes)
    throw new Error(
      `the journal row's snapshot is ${snapshot?.mode}-built with ${snapshot?.objectCount} objects, not journal-built with ${baseObjects + changes}`,
    );
  Object.assign(row.detail, { baseObjects, changes, captureSeconds, snapshot });
  return row;
}

/** PUT `count` small objects to the protected source bucket, `keyOf(i)` each. */
async function putMany(kit: ScaleKit, count: number, keyOf: (i: number) => string): Promise<void> {
  const limit = pLimit(kit.concurrency);
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      limit(() =>
        kit.s3.send(
          new PutObjectCommand({
            Bucket: kit.sourceBucket,
            Key: keyOf(i),
            Body: kit.smallBody(1_000_000 + i),
          }),
        ),
      ),
    ),
  );
}

/**
 * The grace period of the GC row's prune environments (STRONGBOX_GC_GRACE_SECONDS). The vault's
 * packs were all written minutes ago, and a collection marks an unreferenced pack only once it is
 * older than the grace period, and deletes it only once its mark is: with the default day, the
 * timed runs would walk everything and collect nothing. Safe here because nothing else writes to
 * the vault during the row (the bench's plans are disabled; the rows run one after another).
 */
const GC_ROW_GRACE_SECONDS = 60;

async function gcOfVault(kit: ScaleKit, blobs: number): Promise<OurRow> {
  const { c, s3 } = kit;
  await s3.send(new CreateBucketCommand({ Bucket: GC_BUCKET }));
  await kit.benchPlan(GC_PLAN, GC_BUCKET, '', { samplePercent: 0, continuous: false, keepLast: 1 });
  const half = Math.floor(blobs / 2);
  const now = c.pipeline.clock.now().getTime();
  const t0 = performance.now();
  await writeSyntheticSnapshot(kit, now - 2 * 86_400_000, 0, half);
  await writeSyntheticSnapshot(kit, now - 86_400_000, half, blobs);
  const repaired = await repairCatalog(c.pipeline);
  if (repaired.recreated.length !== 2)
    throw new Error(`repair catalog recreated ${repaired.recreated.length} snapshot records, not 2`);
  const writeSeconds = (performance.now() - t0) / 1000;
  // What the repair enqueued (a verification per snapshot, each followed by a prune) ends before
  // anything is timed: a verification still reading the older snapshot when the row's short grace
  // period lets a timed run delete it would fail on a missing part.
  for (const jobId of repaired.recreated) {
    const snapshotId = jobId.slice(jobId.indexOf('/') + 1);
    await waitUntil(async () => {
      const record = await c.pipeline.catalog.getSnapshot(GC_PLAN, snapshotId);
      return record && (record.verification || record.status !== 'COMMITTED') ? true : undefined;
    }, HOUR_MS);
  }
  await kit.stack.settled();
  // The last pack written must be older than the grace period before the first run can mark it.
  await sleep(Math.max(0, GC_ROW_GRACE_SECONDS + 5 - writeSeconds) * 1000);
  await gcIdle(kit);
  const grace = process.env.STRONGBOX_GC_GRACE_SECONDS;
  process.env.STRONGBOX_GC_GRACE_SECONDS = String(GC_ROW_GRACE_SECONDS); // the prune environments forked now
  try {
    const row = await kit.inEnvironments(['prune'], () =>
      kit.measure(async () => {
        // What `strongbox prune` does, twice: a run forgets what retention drops and marks its packs;
        // a run once the marks are older than the grace period deletes them. (The prune that ends
        // the repaired snapshots' jobs may have forgotten and marked already: then the first timed
        // run deletes, and the second finds nothing left.)
        const mark = await timedPrune(c);
        await sleep((GC_ROW_GRACE_SECONDS + 5) * 1000); // untimed: the marks age
        await gcIdle(kit);
        const sweep = await timedPrune(c);
        const count = (field: string) =>
          [...mark.gc, ...sweep.gc].reduce((n, g) => n + Number(g[field] ?? 0), 0);
        if (count('packsDeleted') === 0)
          throw new Error(
            `garbage collection of ${GC_PLAN} deleted no pack in two runs (${count('packsMarked')} marked): the row timed no collection`,
          );
        return { seconds: mark.seconds + sweep.seconds, detail: { mark, sweep } };
      }),
    );
    Object.assign(row.detail, { blobs, writeSeconds });
    return row;
  } finally {
    if (grace === undefined) delete process.env.STRONGBOX_GC_GRACE_SECONDS;
    else process.env.STRONGBOX_GC_GRACE_SECONDS = grace;
  }
}

/** One `pruneNow` of the GC row's plan, timed; it must have collected every region, deferring none. */
async function timedPrune(
  c: Container,
): Promise<{ seconds: number; prune: unknown; gc: Record<string, unknown>[] }> {
  const started = performance.now();
  const run = await pruneNow(c.pipeline, GC_PLAN, { timeoutMs: 3 * HOUR_MS, pollMs: 2000 });
  const seconds = (performance.now() - started) / 1000;
  const failed = [run.prune, ...run.regions].filter((t) => t.status !== 'SUCCEEDED');
  if (failed.length > 0 || run.regions.length === 0)
    throw new Error(
      `prune of ${GC_PLAN}: ${JSON.stringify(failed.map((t) => [t.taskId, t.status, t.error]))}`,
    );
  // A region whose collection was deferred (another run or a copy held its vault) did no GC:
  // the row would time nothing.
  const deferred = run.regions.flatMap((t) =>
    t.result?.deferred ? [`${t.taskId}: ${t.result.deferred}`] : [],
  );
  if (deferred.length > 0)
    throw new Error(`garbage collection deferred, so not measured: ${deferred.join('; ')}`);
  return {
    seconds,
    prune: run.prune.result,
    gc: run.regions.map((t) => (t.result ?? {}) as Record<string, unknown>),
  };
}

/**
 * Wait (an hour at most) until no garbage collection is under way and the primary vault's GC lease
 * can be taken: a prune timed while another run holds the lease is deferred and measures nothing.
 * The lease alone does not tell: a run whose mark goes on in another invocation gives it back
 * between invocations, while its next message waits in the prune queue. So the stack must also be
 * idle: no invocation in flight and nothing waiting or in flight in any queue a function reads,
 * twice in a row around the probe (a message consumed and re-sent between two looks is seen by one).
 */
async function gcIdle(kit: ScaleKit): Promise<void> {
  const { c, stack } = kit;
  const bucket = c.pipeline.vaults.primary.bucket;
  const worked = Object.entries(stack.queues).filter(([id]) => /Queue$/.test(id) && !/Failure/.test(id));
  const queuesEmpty = async () => {
    for (const [, q] of worked) {
      const out = await stack.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: q.url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      const a = out.Attributes ?? {};
      if (
        Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) >
        0
      )
        return false;
    }
    return true;
  };
  const idle = async () => {
    await stack.settled();
    return queuesEmpty();
  };
  await waitUntil(async () => {
    if (!(await idle())) return undefined;
    const now = c.pipeline.clock.now();
    const until = new Date(now.getTime() + 1000).toISOString();
    const free = await c.pipeline.catalog.acquireGcLease(
      bucket,
      'bench-scale-probe',
      now.toISOString(),
      until,
    );
    if (free) await c.pipeline.catalog.releaseGcLease(bucket, 'bench-scale-probe');
    return (free && (await idle())) || undefined;
  }, HOUR_MS);
}

/**
 * Write one snapshot of `GC_PLAN` straight to the primary vault: one small blob and one entry per
 * number in `[from, to)`, with the product's writers in the documented order (packs, index, parts,
 * root). Its catalog record is recreated afterwards by repairCatalog.
 */
async function writeSyntheticSnapshot(kit: ScaleKit, atMs: number, from: number, to: number): Promise<void> {
  const { vaults, envelope } = kit.c.pipeline;
  const vault = vaults.primary;
  const at = new Date(atMs).toISOString().replace(/\.\d{3}Z$/, '.000Z');
  const snapshotId = at.replace(/[-:]/g, '').replace(/\.000Z$/, 'Z');
  const entries: ManifestEntry[] = [];
  // Four writers over four runs of the numbers at once: one writer alone, a blob at a time, took
  // 1,017 s for 2 million blobs. Entries stay in number (key) order.
  const runs = 4;
  const step = Math.ceil((to - from) / runs);
  const packs = (
    await Promise.all(
      Array.from({ length: runs }, async (_, r) => {
        const writer = new PackWriter(vault, envelope);
        for (let i = from + r * step; i < Math.min(to, from + (r + 1) * step); i++) {
          const data = syntheticBlob(i);
          const blobId: ContentId = contentIdOf(data);
          await writer.add(blobId, data);
          entries[i - from] = {
            key: `gc/${String(i).padStart(8, '0')}`,
            sizeBytes: data.length,
            etag: `"${i}"`,
            lastModified: at,
            blobs: [blobId],
          };
        }
        return writer.flush();
      }),
    )
  ).flat();
  // One index document per pack, as a partition that stored one pack writes (tens of thousands of
  // blobs each): not one document of a million, which no snapshot writes.
  for (const pack of packs) await writeIndex(vault, envelope, [pack]);
  const limit = pLimit(kit.concurrency);
  const refs = await Promise.all(
    Array.from({ length: Math.ceil(entries.length / PART_MAX_ENTRIES) }, (_, n) =>
      limit(
        async () =>
          (
            await writePart(
              vault,
              envelope,
              GC_PLAN,
              entries.slice(n * PART_MAX_ENTRIES, (n + 1) * PART_MAX_ENTRIES),
            )
          ).ref,
      ),
    ),
  );
  const root = manifestRoot(
    {
      planId: GC_PLAN,
      snapshotId,
      parentSnapshotId: null,
      source: { bucket: GC_BUCKET, prefix: '' },
      scheduledAt: at,
      time: at,
      completedAt: at,
    },
    refs,
  );
  await writeManifest(vault, envelope, root);
}

/** 256 bytes, unique per `i`: eight SHA-256s of it. */
function syntheticBlob(i: number): Buffer {
  return Buffer.concat(
    Array.from({ length: 8 }, (_, k) => createHash('sha256').update(`gc ${i} ${k}`).digest()),
  );
}

/**
 * `strongbox backup` of a plan over one object of `sizeBytes`, served by the stack's S3 proxy from a
 * generator (fauxqs would hold it in RAM). The snapshot must hold it whole: one blob per 8 MiB and
 * the generator's SHA-256 as its `contentSha256`. The row counts the proxy's answers among its S3
 * requests, and reports how many invocations the partition took (its read pauses between them).
 */
async function largeObjectSnapshot(kit: ScaleKit, sizeBytes: number): Promise<OurRow> {
  const synthetic = kit.synthetic;
  if (synthetic?.object.sizeBytes !== sizeBytes)
    throw new Error('the stack serves no synthetic object of that size');
  const o = synthetic.object;
  await kit.s3.send(new CreateBucketCommand({ Bucket: o.bucket })); // the emulator answers the rest
  await kit.benchPlan(LARGE_PLAN, o.bucket, '', { samplePercent: 0, continuous: false });
  const served = synthetic.served.requests;
  const row = await kit.inEnvironments(['snapshot'], () => kit.snapshotRow(LARGE_PLAN));
  row.s3Requests += synthetic.served.requests - served;
  const snapshotId = String(row.detail.snapshotId);
  await jobEnd(kit, LARGE_PLAN, snapshotId);
  const { catalog, envelope, vaults } = kit.c.pipeline;
  const record = await catalog.getSnapshot(LARGE_PLAN, snapshotId);
  const manifest = await readManifest(vaults.primary, envelope, LARGE_PLAN, record?.manifestId as string);
  const [entry] = await readAllEntries(vaults.primary, envelope, manifest);
  const sha256 = syntheticSha256(o);
  if (
    entry?.key !== o.key ||
    entry.blobs.length !== Math.ceil(sizeBytes / CHUNK_SIZE_BYTES) ||
    entry.contentSha256 !== sha256
  )
    throw new Error(
      `the snapshot's entry is not the object: ${JSON.stringify({ ...entry, blobs: entry?.blobs.length })}`,
    );
  const [partition] = await catalog.listPartitions(LARGE_PLAN, snapshotId);
  Object.assign(row.detail, {
    sizeBytes,
    sourceRequests: synthetic.served.requests - served,
    invocations: partition?.invocations,
    contentSha256: entry.contentSha256,
    snapshot: record,
  });
  return row;
}

/** Wait until a job is no longer RUNNING (its verification and prune), within an hour. */
async function jobEnd(kit: ScaleKit, planId: string, snapshotId: string): Promise<void> {
  await waitUntil(async () => {
    const job = await kit.c.pipeline.catalog.getJob(`${planId}/${snapshotId}`);
    return job && job.status !== 'RUNNING' ? job.status : undefined;
  }, HOUR_MS);
}
