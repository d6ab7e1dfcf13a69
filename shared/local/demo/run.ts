/**
 * `npm run demo`: the whole pipeline on the embedded stack, backing up a real directory tree.
 *
 * Starts the stack; uploads a tree (default: the project's node_modules) into the protected bucket;
 * applies a plan; lets the schedule fire; follows snapshot → copy → verify → prune; changes, adds
 * and deletes objects (their upload events flow through capture); takes a second snapshot;
 * restores the FIRST snapshot into a new bucket and compares every object with the original file;
 * checks the first manifest lists exactly the uploaded keys; prints a summary. Then (unless
 * `--no-table`) the same for a DynamoDB table of the tree's text lines (table.ts). Exits 0 only when
 * every restored object is byte-identical and every restored item identical.
 */

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import pLimit from 'p-limit';
import { applyPlans } from '#domain/apply-plans.ts';
import { costReport, gatherCostInputs } from '#domain/cost.ts';
import { decideRetention } from '#domain/forget.ts';
import type { JobRecord, SnapshotRecord } from '#domain/records.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentSha256Of } from '#domain/vault.ts';
import { VERIFICATION_TIERS } from '#domain/verify/report.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';
import { formatForgetTable } from '../cli/format/retention.ts';
import { formatBytes, formatRate, formatSeconds, formatTable } from '../format.ts';
import { formatCostReport } from '../reports.ts';
import { type LocalStack, PROJECT_ROOT, startLocalStack } from '../stack.ts';
import { runAttackDemo } from './attack.ts';
import {
  applyChanges,
  type CorpusFile,
  modifiedBody,
  pickChanges,
  put,
  sha256,
  sourceBucketOf,
  uploadFiles,
  walk,
} from './corpus.ts';
import { pruneRows, vaultUsage } from './report.ts';
import { runTableDemo } from './table.ts';
import { waitUntil } from './wait.ts';

const PLAN_ID = 'demo';
const RESTORE_BUCKET = 'strongbox-demo-restore';
const ISOLATED_VAULT = 'offsite';
const log = (line: string) => console.log(line);

function bar(label: string, total: number): cliProgress.SingleBar {
  const b = new cliProgress.SingleBar(
    {
      format: `  ${label.padEnd(22)} [{bar}] {percentage}% | {value}/{total} {unit}`,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  b.start(total, 0, { unit: '' });
  return b;
}

/** Follow a job through its tasks with a progress bar per task, until it ends. */
async function follow(c: Container, snapshotId: string, planId = PLAN_ID): Promise<JobRecord> {
  const jobId = `${planId}/${snapshotId}`;
  const bars = new Map<string, cliProgress.SingleBar>();
  const multi = new cliProgress.MultiBar(
    {
      format: '  {task} [{bar}] {percentage}% | {value}/{total} {status}',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  try {
    for (;;) {
      const job = await c.pipeline.catalog.getJob(jobId);
      const tasks = await c.pipeline.catalog.listTasks(jobId);
      for (const t of tasks.sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''))) {
        let b = bars.get(t.taskId);
        const total = t.progress?.total ?? 1;
        if (!b) {
          b = multi.create(total, 0, { task: t.taskId.padEnd(16), status: t.status });
          bars.set(t.taskId, b);
        }
        const done = t.status === 'SUCCEEDED' ? (t.progress?.total ?? 1) : (t.progress?.done ?? 0);
        b.setTotal(Math.max(total, 1));
        b.update(done, { status: t.status });
      }
      if (job && job.status !== 'RUNNING') return job;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    multi.stop();
  }
}

async function main(): Promise<number> {
  const program = new Command('demo')
    .option('--from <dir>', 'directory tree to back up', join(PROJECT_ROOT, 'node_modules'))
    .option(
      '--max-files <n>',
      'back up at most this many files',
      (v) => Number.parseInt(v, 10),
      Number.POSITIVE_INFINITY,
    )
    .option(
      '--attack',
      'then attack the bucket (re-encrypt 30%, delete 10%, edit its lifecycle) and restore the clean point',
      false,
    )
    .option('--no-table', 'leave out the DynamoDB table part (issue 17)')
    .parse(process.argv);
  const opts = program.opts<{ from: string; maxFiles: number; attack: boolean; table: boolean }>();
  const started = Date.now();
  const root = resolve(opts.from);

  log('Strongbox demo: the whole pipeline on the embedded stack\n');
  log(
    '1. Starting the embedded stack (fauxqs S3+SQS in us-east-1 and eu-west-1, DynamoDB Local, the functions of serverless.yml)…',
  );
  // The attack demo restores from an isolated vault: a bucket on an S3 endpoint of its own.
  const stack = await startLocalStack(stackOptions(opts.attack));
  const stop = async () => {
    await stack.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const c = stack.container();
    const s3 = stack.s3();
    const sourceBucket = sourceBucketOf(stack);
    log(
      `   up in ${formatSeconds((Date.now() - started) / 1000)}: S3 ${Object.values(stack.endpoints.s3).join(', ')}, DynamoDB ${stack.endpoints.dynamodb}`,
    );

    log(`\n2. Uploading ${root} into s3://${sourceBucket}/ …`);
    const files = await walk(root, opts.maxFiles);
    if (files.length === 0) throw new Error(`${root} holds no files`);
    const uploadStart = Date.now();
    const upBar = bar('upload', files.length);
    const limit = pLimit(32);
    await uploadFiles(s3, sourceBucket, files, 32, () => upBar.increment());
    upBar.stop();
    const totalBytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);
    const uploadSeconds = (Date.now() - uploadStart) / 1000;
    log(`   ${files.length} files, ${formatBytes(totalBytes)} in ${formatSeconds(uploadSeconds)}`);

    log(
      `\n3. Applying plan '${PLAN_ID}' (schedule rate(1 hour), keepLast 3 + keepDaily 7, copy to ${copyTargetsText(stack)}, verify a 5% sample)…`,
    );
    await applyPlans(
      c.pipeline,
      {
        plans: [
          {
            id: PLAN_ID,
            source: { bucket: sourceBucket, prefix: '' },
            schedule: 'rate(1 hour)',
            retention: { keepLast: 3, keepDaily: 7 },
            copyRegions: stack.copyRegions,
            verification: { samplePercent: 5 },
            // Continuous protection: capture stores each change as it happens, and the second
            // snapshot is built from the first plus the journal, without listing the bucket.
            continuous: { settleSeconds: 1 },
            isolatedVaults: isolatedVaultsOf(stack),
          },
        ],
      },
      stack.copyRegions,
    );

    log("\n4. Waiting for the scheduler's next tick (rate(1 minute) in serverless.yml)…");
    const first = await waitForFirstJob(c);
    log(`   tick: snapshot ${first.snapshotId} scheduled; following snapshot → copy → verify → prune`);
    const job1 = await follow(c, first.snapshotId);
    const snap1 = (await c.pipeline.catalog.getSnapshot(PLAN_ID, first.snapshotId)) as SnapshotRecord;
    if (job1.status !== 'SUCCEEDED') throw new Error(`first job ${job1.status}: ${job1.error ?? ''}`);

    log(
      '\n5. Changing the source: modifying 1%, adding 0.5%, deleting 0.5% of the objects (upload events flow through capture)…',
    );
    const { modified, added, deleted } = pickChanges(files);
    await applyChanges(s3, sourceBucket, { modified, added, deleted }, 32);
    const changes = modified.length + added.length + deleted.length;
    const journaled = await waitUntil(async () => {
      const n = (await c.pipeline.catalog.listJournal(PLAN_ID)).length;
      return n >= changes ? n : undefined;
    }, 120_000);
    log(
      `   ${modified.length} modified, ${added.length} added, ${deleted.length} deleted; capture journaled ${journaled} change(s)`,
    );
    // Point in time: note T after the modifications, then modify one object once more after T.
    const pit = modified[0];
    const pointInTime = new Date().toISOString();
    let pitExpected: Buffer | undefined;
    if (pit) {
      await new Promise((r) => setTimeout(r, 1100));
      pitExpected = modifiedBody(await readFile(pit.path));
      await put(s3, sourceBucket, pit.key, modifiedBody(pitExpected));
      await waitUntil(async () => {
        const n = (await c.pipeline.catalog.listJournal(PLAN_ID)).length;
        return n > journaled ? n : undefined;
      }, 120_000);
    }

    log("\n6. Taking a second snapshot on demand ('strongbox backup demo')…");
    const second = await startSnapshotNow(c.pipeline, PLAN_ID);
    const job2 = await follow(c, second.snapshotId);
    const snap2 = (await c.pipeline.catalog.getSnapshot(PLAN_ID, second.snapshotId)) as SnapshotRecord;
    if (job2.status !== 'SUCCEEDED') throw new Error(`second job ${job2.status}: ${job2.error ?? ''}`);

    log(`\n7. Restoring the FIRST snapshot (${snap1.snapshotId}) into s3://${RESTORE_BUCKET}/ …`);
    await s3.send(new CreateBucketCommand({ Bucket: RESTORE_BUCKET }));
    const restoreBar = bar('restore', snap1.objectCount ?? 0);
    const restored = await restoreSnapshot(
      c.pipeline,
      { plan: PLAN_ID, snapshot: snap1.snapshotId, targetBucket: RESTORE_BUCKET },
      ({ phase, objects }) => {
        if (phase === 'write') restoreBar.update(objects);
      },
    );
    restoreBar.stop();

    log(
      '\n8. Checking: the first manifest lists exactly the uploaded keys, and every restored object equals its file…',
    );
    const manifest = await readManifest(
      c.pipeline.vaults.primary,
      c.pipeline.envelope,
      PLAN_ID,
      snap1.manifestId as string,
    );
    const entries = await readAllEntries(c.pipeline.vaults.primary, c.pipeline.envelope, manifest);
    const manifestKeys = new Set(entries.map((e) => e.key));
    const uploadedKeys = new Set(files.map((f) => f.key));
    const missingFromManifest = [...uploadedKeys].filter((k) => !manifestKeys.has(k));
    const extraInManifest = [...manifestKeys].filter((k) => !uploadedKeys.has(k));
    const checkBar = bar('compare', files.length);
    let identical = 0;
    const mismatched: string[] = [];
    await Promise.all(
      files.map((f) =>
        limit(async () => {
          try {
            const out = await s3.send(new GetObjectCommand({ Bucket: RESTORE_BUCKET, Key: f.key }));
            const body = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
            // Compared with the bytes uploaded: a file that changed on disk since (a cache, say) is not a restore error.
            if (sha256(body) === f.sha256 && body.length === f.sizeBytes) identical += 1;
            else mismatched.push(f.key);
          } catch {
            mismatched.push(f.key);
          }
          checkBar.increment();
        }),
      ),
    );
    checkBar.stop();

    // The object modified again after T, restored as of T: the version of the first modification.
    let pitProblem: string | undefined;
    if (pit && pitExpected) {
      const pitReport = await restoreSnapshot(c.pipeline, {
        plan: PLAN_ID,
        key: pit.key,
        pointInTime,
        targetBucket: RESTORE_BUCKET,
        targetPrefix: 'point-in-time/',
      });
      const out = await s3.send(
        new GetObjectCommand({ Bucket: RESTORE_BUCKET, Key: `point-in-time/${pit.key}` }),
      );
      const body = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
      const same = sha256(body) === sha256(pitExpected);
      log(
        `\nPoint in time: '${pit.key}' as of ${pointInTime} (snapshot ${pitReport.snapshotId} + ${pitReport.fromJournal ?? 0} journaled version): ${formatBytes(body.length)}, ${same ? 'byte-identical to its version at that time (modified once more since)' : 'DIFFERENT from its version at that time'}`,
      );
      if (!same)
        pitProblem = `point-in-time restore of '${pit.key}' differs from its version at ${pointInTime}`;
    }

    // Summary.
    const primary = stack.primaryRegion;
    const rows: (string | number)[][] = [
      [
        'upload (source)',
        primary,
        files.length,
        formatBytes(totalBytes),
        formatSeconds(uploadSeconds),
        formatRate(files.length, uploadSeconds),
      ],
      [
        'snapshot 1 (full)',
        primary,
        snap1.objectsRead ?? 0,
        formatBytes(snap1.logicalBytes ?? 0),
        formatSeconds(snap1.seconds),
        formatRate(snap1.objectCount ?? 0, snap1.seconds),
      ],
    ];
    for (const [region, copy] of Object.entries(snap1.regions ?? {})) {
      rows.push([
        `copy 1`,
        region,
        copy.blobsCopied ?? 0,
        formatBytes(copy.bytesCopied ?? 0),
        formatSeconds(copy.seconds),
        formatRate(copy.blobsCopied ?? 0, copy.seconds),
      ]);
    }
    for (const tier of VERIFICATION_TIERS) {
      const t = snap1.verification?.tiers[tier];
      for (const [region, v] of Object.entries(t?.regions ?? {})) {
        rows.push([
          tier === 'deep' ? `verify 1 deep (${v.checkedBlobs} sampled)` : `verify 1 ${tier}`,
          region,
          v.checkedBlobs,
          tier === 'deep' ? formatBytes(v.checkedBytes ?? 0) : '-',
          formatSeconds(v.seconds),
          formatRate(v.checkedBlobs, v.seconds),
        ]);
      }
    }
    rows.push(...(await pruneRows(c, `${PLAN_ID}/${snap1.snapshotId}`, 'prune 1 (GC)')));
    rows.push([
      snap2.mode === 'journal' ? 'snapshot 2 (journal changes, no listing)' : 'snapshot 2 (incremental)',
      primary,
      snap2.mode === 'journal' ? (snap2.journalEntries ?? 0) : (snap2.objectsRead ?? 0),
      formatBytes(snap2.logicalBytes ?? 0),
      formatSeconds(snap2.seconds),
      formatRate(snap2.objectCount ?? 0, snap2.seconds),
    ]);
    for (const [region, copy] of Object.entries(snap2.regions ?? {})) {
      rows.push([
        `copy 2`,
        region,
        copy.blobsCopied ?? 0,
        formatBytes(copy.bytesCopied ?? 0),
        formatSeconds(copy.seconds),
        formatRate(copy.blobsCopied ?? 0, copy.seconds),
      ]);
    }
    rows.push(...(await pruneRows(c, `${PLAN_ID}/${snap2.snapshotId}`, 'prune 2 (GC)')));
    rows.push([
      'restore snapshot 1',
      primary,
      restored.objects,
      formatBytes(restored.bytes),
      formatSeconds(restored.seconds),
      formatRate(restored.objects, restored.seconds),
    ]);
    log(
      `\nStages (objects = objects read or blobs copied; snapshot objects/s counts every object of the snapshot)\n${formatTable(['stage', 'region', 'objects', 'bytes', 'time', 'rate'], rows)}`,
    );

    // Distinct contents (an object's SHA-256) and their size: what deduplication leaves to store.
    const uniqueBlobs = new Map(entries.map((e) => [contentSha256Of(e), e.sizeBytes]));
    const uniqueBytes = [...uniqueBlobs.values()].reduce((a, b) => a + b, 0);
    const usage = await vaultUsage(c);
    log(
      `\nVault (after both snapshots)\n${formatTable(
        ['region', 'packs', 'pack bytes', 'index docs', 'parts', 'roots', 'stored'],
        usage.map((u) => [
          u.region,
          u.packs,
          formatBytes(u.packBytes),
          u.indexes,
          u.parts,
          u.manifests,
          formatBytes(u.storedBytes),
        ]),
      )}`,
    );
    const storedSnap1 = snap1.storedBytesWritten ?? 0;
    log(
      `\nSnapshot 1: ${snap1.objectCount} objects, ${formatBytes(snap1.logicalBytes ?? 0)} logical → ${uniqueBlobs.size} distinct contents, ` +
        `${formatBytes(uniqueBytes)} unique → ${formatBytes(storedSnap1)} stored; ` +
        `dedup ratio ${((snap1.logicalBytes ?? 0) / Math.max(uniqueBytes, 1)).toFixed(2)}, ` +
        `compression ratio ${(uniqueBytes / Math.max(storedSnap1, 1)).toFixed(2)}`,
    );
    log(
      snap2.mode === 'journal'
        ? `Snapshot 2: ${snap2.objectCount} objects, built from snapshot 1 plus ${snap2.journalEntries ?? 0} journaled change(s) (capture stored their bytes as they happened): no listing, no object read`
        : `Snapshot 2: ${snap2.objectCount} objects, read ${snap2.objectsRead} new or changed, wrote ${snap2.blobsWritten} blob(s), ${formatBytes(snap2.storedBytesWritten ?? 0)}`,
    );
    // What retention decided at the last prune, with restic's reasons ('strongbox forget demo --dry-run').
    const demoPlan = await c.pipeline.catalog.getPlan(PLAN_ID);
    if (demoPlan) {
      const decided = decideRetention(await c.pipeline.catalog.listSnapshots(PLAN_ID), demoPlan, new Date());
      log(`\nRetention of plan '${PLAN_ID}' (keepLast 3, keepDaily 7), as prune applies it:`);
      log(formatForgetTable(decided));
    }
    log(`\nCost ('strongbox cost ${PLAN_ID}'):`);
    log(formatCostReport(costReport(await gatherCostInputs(c.pipeline, PLAN_ID))));
    log(`Total demo time: ${formatSeconds((Date.now() - started) / 1000)}`);

    const problems: string[] = [];
    if (missingFromManifest.length || extraInManifest.length) {
      problems.push(
        `manifest differs from the upload: ${missingFromManifest.length} missing (e.g. ${missingFromManifest[0] ?? '-'}), ${extraInManifest.length} extra`,
      );
    }
    if (mismatched.length)
      problems.push(
        `${mismatched.length} restored object(s) differ, e.g. ${mismatched.slice(0, 3).join(', ')}`,
      );
    if (restored.objects !== files.length)
      problems.push(`restore wrote ${restored.objects} objects, expected ${files.length}`);
    if (pitProblem) problems.push(pitProblem);
    log(
      `\nManifest of snapshot 1 lists ${manifestKeys.size} keys; uploaded ${uploadedKeys.size}: ${missingFromManifest.length + extraInManifest.length === 0 ? 'exactly the same keys' : 'DIFFERENT'}`,
    );
    if (problems.length > 0) {
      for (const p of problems) console.error(`FAILED: ${p}`);
      return 1;
    }
    log(
      `Restored ${identical} of ${files.length} objects from snapshot ${snap1.snapshotId}: all ${identical} byte-identical to the original files.`,
    );
    // Awaited here: the finally below stops the stack.
    return await afterDemo(stack, files, sourceBucket, opts);
  } finally {
    await stop();
  }
}

/** What follows the bucket part: the table part, then the attack; the exit code. */
async function afterDemo(
  stack: LocalStack,
  files: CorpusFile[],
  sourceBucket: string,
  opts: { table: boolean; attack: boolean },
): Promise<number> {
  return (
    (await tableAfterDemo(stack, files, opts.table)) ||
    (await attackAfterDemo(stack, sourceBucket, opts.attack))
  );
}

/**
 * Unless `--no-table`, the table part (table.ts): a table of the uploaded tree's text lines, backed
 * up, changed, and restored as of a moment between two rounds of changes; the exit code.
 */
async function tableAfterDemo(stack: LocalStack, files: CorpusFile[], table: boolean): Promise<number> {
  if (!table) return 0;
  const c = stack.container();
  const problems = await runTableDemo({
    stack,
    container: c,
    files,
    // The project's dependencies: on every machine that runs the demo.
    fallbackFiles: () => walk(join(PROJECT_ROOT, 'node_modules'), Number.POSITIVE_INFINITY),
    log,
    follow: (planId, snapshotId) => follow(c, snapshotId, planId),
  });
  for (const p of problems) console.error(`FAILED: ${p}`);
  return problems.length > 0 ? 1 : 0;
}

/**
 * With `--attack` (`attack`), the attack and Strongbox's answer, restoring from the isolated vault;
 * the exit code (0 without `--attack`).
 */
async function attackAfterDemo(stack: LocalStack, sourceBucket: string, attack: boolean): Promise<number> {
  if (!attack) return 0;
  const c = stack.container();
  const isolated = stack.isolatedVault;
  const problems = await runAttackDemo({
    container: c,
    s3: stack.s3(),
    sourceBucket,
    planId: PLAN_ID,
    log,
    follow: (snapshotId) => follow(c, snapshotId),
    restoreFrom: isolated
      ? {
          label: `the isolated vault '${isolated.name}' (s3://${isolated.bucket} on ${isolated.endpoint}) with its escrow key alone`,
          region: isolated.location,
          container: await breakGlassContainer(stack),
        }
      : { label: 'the primary vault' },
  });
  for (const p of problems) console.error(`FAILED: ${p}`);
  return problems.length > 0 ? 1 : 0;
}

/**
 * A restore's container that holds the isolated vault's escrow key and none of the stack's own keys
 * (a master key file of its own, no content key): what an operator has when this deployment's keys
 * are lost or not to be trusted. A restore through it proves the isolated copies stand alone.
 */
async function breakGlassContainer(stack: LocalStack): Promise<Container> {
  const isolated = stack.isolatedVault as NonNullable<LocalStack['isolatedVault']>;
  const { STRONGBOX_CONTENT_PRIVATE_KEY_FILE: _held, ...env } = stack.env('restore');
  return createContainer(
    loadConfig({
      ...env,
      STRONGBOX_LOCAL_KEY_FILE: join(stack.dataDir, 'break-glass', 'not-the-master.key'),
      STRONGBOX_CONTENT_KEY_UNWRAP: 'false',
      STRONGBOX_ESCROW_KEY_FILES: isolated.escrowKeyFile,
    }),
  );
}

/** The demo's stack: with `--attack`, also an isolated vault on an S3 endpoint of its own. */
function stackOptions(attack: boolean): Parameters<typeof startLocalStack>[0] {
  return {
    environment: { STRONGBOX_CONCURRENCY: '32' },
    ...(attack ? { isolatedVault: { name: ISOLATED_VAULT } } : {}),
  };
}

/** The isolated vaults the demo plan copies to: the stack's, if it runs one. */
function isolatedVaultsOf(stack: LocalStack): string[] {
  return stack.isolatedVault ? [stack.isolatedVault.name] : [];
}

/** The targets the demo plan copies to, in words. */
function copyTargetsText(stack: LocalStack): string {
  const isolated = stack.isolatedVault ? [`the isolated vault '${stack.isolatedVault.name}'`] : [];
  return [...stack.copyRegions, ...isolated].join(', ');
}

async function waitForFirstJob(c: Container): Promise<JobRecord> {
  return waitUntil(async () => (await c.pipeline.catalog.listJobs(PLAN_ID))[0], 150_000);
}

// Run only as `npm run demo`, not when the bench imports its helpers.
if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(
        `demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      process.exit(1);
    },
  );
}
