/**
 * Crash recovery on the embedded stack (issue 12, "Crash recovery in minutes"): the stack process —
 * node functions and DynamoDB Local — is killed with SIGKILL in the middle of an on-demand snapshot
 * of 20,000 real files, restarted on the same data directory, and the snapshot must commit within 5
 * minutes of the restart and restore byte-identically. Nothing but the reaper (on the scheduler's
 * 1-minute tick) moves it on: the messages the dead process held stay invisible for the queues'
 * 5,400 s visibility timeout.
 *
 * The reaper's stale threshold is 60 s here (180 s by default) to keep the test short; with the
 * defaults the bound is 180 s + one tick + the partition's own time.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import { afterAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { type CorpusFile, walk } from '#local/demo/corpus.ts';
import { PROJECT_ROOT } from '#local/stack.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';

process.env.AWS_ACCESS_KEY_ID ??= 'local';
process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const FILES = 20_000;
const PLAN_ID = 'crash';
const SOURCE = 'crash-source';
const TARGET = 'crash-restored';
const STALE_SECONDS = 60;
/** The primary region of serverless.yml: where the source bucket's fauxqs endpoint keeps its files. */
const PRIMARY_REGION = 'us-east-1';

interface Stack {
  child: ChildProcess;
  c: Container;
  s3: S3Client;
}

const t0 = Date.now();
/** A line per phase with the seconds since the test began (the run's timeline, for a slow CI). */
const phase = (what: string) =>
  console.log(`[crash test +${((Date.now() - t0) / 1000).toFixed(0)} s] ${what}`);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Write `files` into `bucket` in fauxqs's file-based S3 layout (its README, "File layout on disk":
 * `buckets/<bucket>/.bucket.json`, `objects/<key>.data` and `<key>.meta.json`), for an emulator not
 * yet started on `s3Dir`. Keys are plain (`[\w@./+-]`), so no path encoding applies.
 * @returns the SHA-256 of each key's bytes.
 */
async function seedBucket(s3Dir: string, bucket: string, files: CorpusFile[]): Promise<Map<string, string>> {
  const root = join(s3Dir, 'buckets', bucket);
  await mkdir(join(root, 'objects'), { recursive: true });
  const now = new Date().toISOString();
  await writeFile(
    join(root, '.bucket.json'),
    JSON.stringify({ name: bucket, creationDate: now, type: 'general-purpose' }),
  );
  const digests = new Map<string, string>();
  const limit = pLimit(64);
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        const body = await readFile(f.path);
        digests.set(f.key, sha256(body));
        const path = join(root, 'objects', f.key);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(`${path}.data`, body);
        const etag = `"${createHash('md5').update(body).digest('hex')}"`;
        const meta = {
          key: f.key,
          contentType: 'application/octet-stream',
          contentLength: body.length,
          etag,
          lastModified: now,
          metadata: {},
        };
        await writeFile(`${path}.meta.json`, JSON.stringify(meta));
      }),
    ),
  );
  return digests;
}

async function startStack(dataDir: string): Promise<Stack> {
  const child = fork(
    new URL('../support/crash-stack-child.ts', import.meta.url),
    [
      dataDir,
      JSON.stringify({
        STRONGBOX_REAPER_STALE_SECONDS: String(STALE_SECONDS),
        STRONGBOX_HEARTBEAT_SECONDS: '15',
      }),
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`stack process exited (${code ?? signal})`)));
    child.on('message', (m: { type: string; env: Record<string, string> }) => {
      if (m.type === 'ready') resolve(m.env);
    });
  });
  child.removeAllListeners('exit');
  // More parallel reads and writes than a function's default: the test's restore is its longest step.
  const c = createContainer(loadConfig({ ...env, STRONGBOX_CONCURRENCY: '64' }));
  // The source and restore buckets are in the primary region: its fauxqs endpoint.
  const s3 = new S3Client({
    region: env.STRONGBOX_PRIMARY_REGION as string,
    endpoint: env.AWS_ENDPOINT_URL_S3 as string,
    forcePathStyle: true,
  });
  return { child, c, s3 };
}

/** SIGKILL the stack process and its DynamoDB Local (a JVM leading its own process group). */
function killStack(child: ChildProcess): void {
  const pid = child.pid as number;
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
  process.kill(pid, 'SIGKILL');
  for (const jvm of children) {
    try {
      process.kill(-jvm, 'SIGKILL');
    } catch {
      try {
        process.kill(jvm, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('crash recovery on the embedded stack', () => {
  let dataDir: string | undefined;
  let stack: Stack | undefined;

  afterAll(async () => {
    if (stack?.child.exitCode === null && stack.child.signalCode === null) {
      stack.child.send({ type: 'stop' });
      await new Promise((r) => stack?.child.once('exit', r));
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('commits a snapshot killed mid-way within 5 minutes of the restart, and restores it byte-identically', async () => {
    // Prepare: 20,000 real small files (the project's node_modules) in a source bucket, written in
    // fauxqs's own on-disk layout before the stack starts (20,000 PUTs through the emulator take
    // minutes on a shared CI machine); the listing below checks the emulator loaded every one.
    dataDir = await mkdtemp(join(tmpdir(), 'strongbox-crash-'));
    const files = (await walk(join(PROJECT_ROOT, 'node_modules'), 4 * FILES))
      .filter((f) => f.sizeBytes > 0 && f.sizeBytes <= 16 * 1024 && /^[\w@./+-]+$/.test(f.key))
      .slice(0, FILES);
    expect(files).toHaveLength(FILES);
    const digests = await seedBucket(join(dataDir, 's3', PRIMARY_REGION), SOURCE, files);
    phase('seeded the source bucket on disk');
    stack = await startStack(dataDir);
    phase('stack started');
    expect(stack.c.config.primaryRegion).toBe(PRIMARY_REGION);
    let listed = 0;
    for await (const _ of stack.c.pipeline.objects.list(SOURCE, '')) listed += 1;
    expect(listed).toBe(FILES);
    const limit = pLimit(64);
    await applyPlans(
      stack.c.pipeline,
      {
        plans: [
          {
            id: PLAN_ID,
            source: { bucket: SOURCE, prefix: '' },
            schedule: 'rate(1 day)',
            retention: { keepLast: 10 },
            copyRegions: [],
            verification: { samplePercent: 1 },
            snapshot: { partitionObjects: 5000, maxParallelPartitions: 4 },
            enabled: false,
          },
        ],
      },
      stack.c.config.copyVaults.size > 0 ? [...stack.c.config.copyVaults.keys()] : [],
    );
    const { snapshotId } = await startSnapshotNow(stack.c.pipeline, PLAN_ID);
    const jobId = `${PLAN_ID}/${snapshotId}`;
    phase(`snapshot ${snapshotId} started`);

    // Act: kill everything once the partitions are under way (a quarter of the objects stored).
    const catalog = () => (stack as Stack).c.pipeline.catalog;
    const doneAtKill = await waitFor(
      'the partitions to be under way',
      async () => {
        const tasks = await catalog().listTasks(jobId);
        const done = tasks
          .filter((t) => t.taskId.startsWith('snapshot:p'))
          .reduce((n, t) => n + (t.progress?.done ?? 0), 0);
        return done >= FILES / 4 ? done : undefined;
      },
      180_000,
    );
    killStack(stack.child);
    phase(`killed the stack (SIGKILL) at ${doneAtKill} objects`);
    await new Promise((r) => setTimeout(r, 1000));
    stack = await startStack(dataDir);
    const restartedAt = Date.now();
    phase('stack restarted');
    const before = await catalog().getSnapshot(PLAN_ID, snapshotId);
    expect(before?.status).toBe('RUNNING');
    // fauxqs keeps in-flight messages across the restart with their visibility deadline (5,400 s): the
    // partitions' messages are there but invisible, so only the reaper can move the snapshot on.
    const env = stack.c.config;
    const held = await new SQSClient({ region: PRIMARY_REGION, endpoint: env.endpoints.sqs }).send(
      new GetQueueAttributesCommand({
        QueueUrl: env.queueUrls.snapshot,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    console.log(`after the restart, the snapshot queue holds ${JSON.stringify(held.Attributes)}`);

    // Assess: committed within 5 minutes of the restart, by the reaper alone.
    const committed = await waitFor(
      'the snapshot to commit',
      async () => {
        const s = await catalog().getSnapshot(PLAN_ID, snapshotId);
        if (s?.status === 'FAILED') throw new Error(`snapshot FAILED: ${s.error}`);
        return s?.status === 'COMMITTED' ? s : undefined;
      },
      5 * 60_000,
    );
    const recoverySeconds = (Date.now() - restartedAt) / 1000;
    console.log(
      `crash recovery: killed at ${doneAtKill} of ${FILES} objects; committed ${recoverySeconds.toFixed(0)} s after the restart`,
    );
    expect(committed.objectCount).toBe(FILES);
    expect(recoverySeconds).toBeLessThan(300);

    const { s3: s3After } = stack;
    await s3After.send(new CreateBucketCommand({ Bucket: TARGET }));
    phase('restoring');
    const report = await restoreSnapshot(stack.c.pipeline, {
      plan: PLAN_ID,
      snapshot: snapshotId,
      targetBucket: TARGET,
    });
    expect(report.objects).toBe(FILES);
    const mismatched: string[] = [];
    await Promise.all(
      files.map((f) =>
        limit(async () => {
          const out = await s3After.send(new GetObjectCommand({ Bucket: TARGET, Key: f.key }));
          const body = await (
            out.Body as { transformToByteArray(): Promise<Uint8Array> }
          ).transformToByteArray();
          if (sha256(body) !== digests.get(f.key)) mismatched.push(f.key);
        }),
      ),
    );
    expect(mismatched).toEqual([]);
    phase('restored and compared');
  }, 900_000);
});
