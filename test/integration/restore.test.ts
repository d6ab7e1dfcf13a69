/**
 * Restores operators need, on the embedded stack: to the original bucket under each overwrite
 * policy, include and exclude globs, a prefix, one key at an older captured version, dry runs, and
 * the requests that must fail (or warn) before anything is written; a restore large enough to fan
 * out through the restore queue as a restore job.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { NotFoundError } from '#domain/errors.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { listVersions } from '#domain/restore/versions.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { attachToRestore } from '#local/cli/restore.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { jobEnded, restoreJobEnded } from '../support/wait.ts';

const PLAN = 'ops';
const TARGET = 'ops-restore';
/**
 * 9 MiB: uploaded in one PutObject; two chunks (two blobs) in the vault; restored as a streamed
 * multipart upload (an ETag that is no MD5).
 */
const BIG = Buffer.alloc(9 * 1024 * 1024, 7);

let stack: LocalStack;
let c: Container;
let source: string;
let first: string;
let second: string;

async function put(key: string, body: string | Uint8Array): Promise<void> {
  await stack
    .s3()
    .send(new PutObjectCommand({ Bucket: source, Key: key, Body: body, ContentType: 'text/plain' }));
}

async function text(bucket: string, key: string): Promise<string> {
  const out = await stack.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await out.Body?.transformToString()) ?? '';
}

async function bytesOf(bucket: string, key: string): Promise<Buffer> {
  const out = await stack.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
}

async function keysIn(bucket: string, prefix: string): Promise<string[]> {
  const out = await stack.s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => (o.Key as string).slice(prefix.length)).sort();
}

async function snapshot(): Promise<string> {
  await stack.settled(); // capture journaled every change
  const { snapshotId } = await startSnapshotNow(c.pipeline, PLAN); // on-demand ids are to the millisecond
  const job = await jobEnded(c.pipeline.catalog, PLAN, snapshotId);
  expect(job.status).toBe('SUCCEEDED');
  return snapshotId;
}

/** After the second snapshot: a.txt rewritten (other size), notes.md same size other bytes, dir/b.txt deleted. */
async function changeSource(): Promise<void> {
  await put('a.txt', 'a.txt edited in place, longer');
  await put('notes.md', 'CONTENT OF NOTES.MD');
  await stack.s3().send(new DeleteObjectCommand({ Bucket: source, Key: 'dir/b.txt' }));
}

beforeAll(async () => {
  stack = await startLocalStack({ visibilityTimeoutSeconds: 1, logLevel: 'SILENT' });
  c = stack.container();
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await stack.s3().send(new CreateBucketCommand({ Bucket: TARGET }));
  await applyPlans(
    c.pipeline,
    {
      plans: [
        // Never due while the file runs: the stack's scheduler ticks every minute, and a rate plan is
        // due at once, so a scheduled snapshot (read later, hence 'latest') would join the two below.
        { id: PLAN, source: { bucket: source }, schedule: 'cron(0 3 1 1 ? *)', retention: { keepLast: 10 } },
      ],
    },
    stack.copyRegions,
  );
  for (const key of ['a.txt', 'notes.md', 'dir/b.txt', 'dir/sub/c.txt', 'dir/x.tmp', 'logs/1.log']) {
    await put(key, `content of ${key}`);
  }
  await put('big.bin', BIG);
  first = await snapshot();
  await put('a.txt', 'second version of a.txt');
  second = await snapshot();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('restore on the embedded stack', () => {
  it("to the original bucket with 'never' writes only the keys that are missing", async () => {
    // Prepare
    await changeSource();
    // Act
    const report = await restoreSnapshot(c.pipeline, { plan: PLAN });
    // Assess
    expect(report).toMatchObject({
      snapshotId: second,
      targetBucket: source,
      objects: 1,
      skipped: { exists: 6, unchanged: 0 },
    });
    expect(await text(source, 'dir/b.txt')).toBe('content of dir/b.txt');
    expect(await text(source, 'a.txt')).toBe('a.txt edited in place, longer');
  });

  it("with 'ifChanged' rewrites changed objects and skips identical ones, multipart ones too", async () => {
    // Prepare
    await changeSource();
    await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      key: 'big.bin',
      targetBucket: TARGET,
      targetPrefix: 'big/',
    });
    expect(Buffer.compare(await bytesOf(TARGET, 'big/big.bin'), BIG)).toBe(0);
    // Act
    const report = await restoreSnapshot(c.pipeline, { plan: PLAN, overwrite: 'ifChanged' });
    const big = await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      key: 'big.bin',
      targetBucket: TARGET,
      targetPrefix: 'big/',
      overwrite: 'ifChanged',
    });
    // Assess
    expect(report).toMatchObject({ objects: 3, skipped: { exists: 0, unchanged: 4 } });
    expect(await text(source, 'a.txt')).toBe('second version of a.txt');
    expect(await text(source, 'notes.md')).toBe('content of notes.md');
    expect(await text(source, 'dir/b.txt')).toBe('content of dir/b.txt');
    expect(big).toMatchObject({ objects: 0, skipped: { unchanged: 1 } });
  });

  it("with 'always' rewrites every object", async () => {
    await changeSource();
    const report = await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      overwrite: 'always',
      exclude: ['big.bin'],
    });
    expect(report).toMatchObject({ objects: 6, skipped: { exists: 0, unchanged: 0 } });
    expect(await text(source, 'a.txt')).toBe('second version of a.txt');
  });

  it("with 'never' keeps what another writer stores in the target between its HEAD and its write, multipart too", async () => {
    // Prepare: another writer stores two keys just after the restore found them missing
    const raced = new Set(['race/a.txt', 'race/big.bin']);
    const objects = c.pipeline.objects;
    const head = objects.head.bind(objects);
    const spy = vi.spyOn(objects, 'head').mockImplementation(async (bucket, key) => {
      const found = await head(bucket, key);
      if (bucket === TARGET && raced.delete(key)) {
        await stack.s3().send(new PutObjectCommand({ Bucket: TARGET, Key: key, Body: 'newer write' }));
      }
      return found;
    });
    // Act
    let report: Awaited<ReturnType<typeof restoreSnapshot>>;
    try {
      report = await restoreSnapshot(c.pipeline, {
        plan: PLAN,
        targetBucket: TARGET,
        targetPrefix: 'race/',
        include: ['a.txt', 'big.bin', 'notes.md'],
      });
    } finally {
      spy.mockRestore();
    }
    // Assess: the one-chunk PUT and the multipart upload were both refused (412), nothing replaced
    expect(raced.size).toBe(0);
    expect(report).toMatchObject({ objects: 1, skipped: { exists: 2, unchanged: 0 } });
    expect(await text(TARGET, 'race/a.txt')).toBe('newer write');
    expect(await text(TARGET, 'race/big.bin')).toBe('newer write');
    expect(await text(TARGET, 'race/notes.md')).toBe('content of notes.md');
  });

  it('restores what include globs match minus what exclude globs match', async () => {
    const report = await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      targetBucket: TARGET,
      targetPrefix: 'globs/',
      include: ['dir/**', '*.md'],
      exclude: ['**/*.tmp'],
    });
    expect(report.objects).toBe(3);
    expect(await keysIn(TARGET, 'globs/')).toEqual(['dir/b.txt', 'dir/sub/c.txt', 'notes.md']);
  });

  it('restores the keys under a prefix', async () => {
    await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      targetBucket: TARGET,
      targetPrefix: 'prefix/',
      prefix: 'dir/',
    });
    expect(await keysIn(TARGET, 'prefix/')).toEqual(['dir/b.txt', 'dir/sub/c.txt', 'dir/x.tmp']);
  });

  it('lists the captured versions of a key and restores the older one', async () => {
    // Act
    const versions = await listVersions(c.pipeline, { plan: PLAN, key: 'a.txt' });
    const report = await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      key: 'a.txt',
      snapshot: versions[1]?.snapshotId as string,
      targetBucket: TARGET,
      targetPrefix: 'old/',
    });
    // Assess
    expect(versions.map((v) => v.snapshotId)).toEqual([second, first]);
    expect(report.snapshotId).toBe(first);
    expect(await text(TARGET, 'old/a.txt')).toBe('content of a.txt');
  });

  it('counts on a dry run what would be written and skipped, writing nothing', async () => {
    // Prepare
    await put('a.txt', 'changed again');
    // Act
    const report = await restoreSnapshot(c.pipeline, { plan: PLAN, overwrite: 'ifChanged', dryRun: true });
    // Assess
    expect(report).toMatchObject({ dryRun: true, objects: 1, keys: ['a.txt'], skipped: { unchanged: 6 } });
    expect(report.bytes).toBe('second version of a.txt'.length);
    expect(await text(source, 'a.txt')).toBe('changed again');
  });

  it('refuses a point in time before the first snapshot, naming its time', async () => {
    const restoring = restoreSnapshot(c.pipeline, {
      plan: PLAN,
      targetBucket: TARGET,
      targetPrefix: 'pit/',
      pointInTime: '2000-01-01T00:00:00Z',
    });
    await expect(restoring).rejects.toBeInstanceOf(NotFoundError);
    await expect(restoring).rejects.toThrow(`its first snapshot (${first}) was taken at`);
    expect(await keysIn(TARGET, 'pit/')).toEqual([]);
  });

  it('warns and writes nothing when a glob matches nothing', async () => {
    const report = await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      targetBucket: TARGET,
      targetPrefix: 'none/',
      include: ['*.jpg'],
    });
    expect(report.objects).toBe(0);
    expect(report.warnings).toContain(`include glob '*.jpg' matches no object of snapshot ${second}`);
    expect(await keysIn(TARGET, 'none/')).toEqual([]);
  });
});

describe('a restore that fans out on the embedded stack', () => {
  it('runs as a restore job the restoreWorker finishes: the same bytes, counters and SUCCEEDED', async () => {
    // Prepare: slices of 2 objects, so the 7 objects make 4 restore-slice tasks
    c.pipeline.restoreSliceSize = 2;
    await restoreSnapshot(c.pipeline, { plan: PLAN, targetBucket: TARGET, targetPrefix: 'sync/' });
    // Act
    const started = await startRestore(c.pipeline, {
      plan: PLAN,
      targetBucket: TARGET,
      targetPrefix: 'fan/',
      fanOut: true,
    });
    const id = started.job?.restoreJobId as string;
    const job = await restoreJobEnded(c.pipeline.catalog, id);
    // Assess
    expect(started.job).toMatchObject({ status: 'RUNNING', selected: 7, slicesTotal: 4 });
    expect(job).toMatchObject({
      status: 'SUCCEEDED',
      selected: 7,
      objects: 7,
      bytes: started.job?.selectedBytes,
      skippedExists: 0,
      slicesDone: 4,
    });
    const keys = await keysIn(TARGET, 'fan/');
    expect(keys).toEqual(await keysIn(TARGET, 'sync/'));
    expect(keys).toHaveLength(7);
    for (const key of keys) {
      const [fanned, synced] = await Promise.all(
        [`fan/${key}`, `sync/${key}`].map(async (k) => {
          const out = await stack.s3().send(new GetObjectCommand({ Bucket: TARGET, Key: k }));
          return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
        }),
      );
      expect(fanned?.equals(synced as Buffer), key).toBe(true);
    }
  }, 60_000);

  it('prints the final report when re-attached to a job that has ended', async () => {
    // Prepare: a restore job's id is derived from the request and the second it starts (the same
    // request twice in one second is one job), so this second run starts in a new second.
    await new Promise((r) => setTimeout(r, 1100));
    const started = await startRestore(c.pipeline, {
      plan: PLAN,
      targetBucket: TARGET,
      targetPrefix: 'fan/',
      fanOut: true,
    });
    const id = started.job?.restoreJobId as string;
    await restoreJobEnded(c.pipeline.catalog, id);
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line) => void printed.push(String(line)));
    // Act
    try {
      await attachToRestore(c.pipeline.catalog, id, true);
    } finally {
      log.mockRestore();
    }
    // Assess
    expect(printed[0]).toBe(`restore job ${id} SUCCEEDED`);
    expect(printed[1]).toMatch(
      new RegExp(
        `^restored 0 object\\(s\\), 0 B from snapshot ${second} \\(us-east-1\\) into s3://${TARGET}/fan/ in `,
      ),
    );
    expect(printed[1]).toContain('skipped 7 object(s) the target already holds (overwrite: never)');
  }, 60_000);
});
