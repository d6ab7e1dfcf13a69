/**
 * `strongbox ls`, `diff`, `find`, `restore --from-file` and `serve-s3` as an operator runs them: the CLI against the embedded stack,
 * over snapshots the pipeline took and an upload capture journaled, keys with spaces and non-ASCII
 * characters included, in text and in JSON.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { ServedTree } from '#domain/browse/served-tree.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { writeStackFile } from '#local/cli/context.ts';
import { buildCli } from '#local/cli/index.ts';
import { type ServingS3, serveS3 } from '#local/serve-s3.ts';
import { type LocalStack, PROJECT_ROOT, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { debianProgram } from '../support/debian.ts';
import { jobEnded } from '../support/wait.ts';

const execFileAsync = promisify(execFile);

const PLAN = 'browsed';
let stack: LocalStack;
let c: Container;
let dataDir: string;
let source: string;
let first: string;
let second: string;
/** Between the two snapshots, after the journaled upload of 'new ✓.txt'. */
let between: string;

async function cli(...args: string[]): Promise<string[]> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await buildCli().parseAsync(['node', 'strongbox', '--data-dir', dataDir, ...args]);
    return log.mock.calls.flatMap((call) => call.join(' ').split('\n'));
  } finally {
    log.mockRestore();
  }
}

async function put(key: string, body: string): Promise<void> {
  await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
}

async function snapshot(): Promise<string> {
  await stack.settled(); // capture journaled every change
  const { snapshotId } = await startSnapshotNow(c.pipeline, PLAN);
  expect((await jobEnded(c.pipeline.catalog, PLAN, snapshotId)).status).toBe('SUCCEEDED');
  return snapshotId;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'strongbox-browse-'));
  stack = await startLocalStack({ dataDir, logLevel: 'SILENT' });
  c = stack.container();
  await writeStackFile(stack, dataDir);
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await applyPlans(
    c.pipeline,
    {
      plans: [
        { id: PLAN, source: { bucket: source }, schedule: 'cron(0 3 1 1 ? *)', retention: { keepLast: 10 } },
      ],
    },
    stack.copyRegions,
  );
  await put('docs/read me.txt', 'hello');
  await put('docs/ünïcødé/naïve résumé.txt', 'bonjour');
  await put('photos/cat.jpg', 'meow');
  first = await snapshot();
  await put('photos/new ✓.txt', 'fresh');
  await stack.settled();
  between = new Date().toISOString();
  await put('photos/cat.jpg', 'meow meow');
  await stack.s3().send(new DeleteObjectCommand({ Bucket: source, Key: 'docs/read me.txt' }));
  second = await snapshot();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('ls, diff and find on the embedded stack', () => {
  it('ls lists a snapshot, a prefix, and a point in time between snapshots, keys exactly as stored', async () => {
    const lines = await cli('ls', `${PLAN}@${first}`);
    expect(lines.slice(0, 3).map((l) => l.split('  ').at(-1))).toEqual([
      'docs/read me.txt',
      'docs/ünïcødé/naïve résumé.txt',
      'photos/cat.jpg',
    ]);
    expect(lines.at(-1)).toBe(`3 object(s), 16 B in snapshot ${first} of plan ${PLAN} (us-east-1)`);
    const json = (await cli('ls', `${PLAN}@${between}`, 'photos/', '--json')).map((l) => JSON.parse(l));
    expect(json.map((e) => [e.key, e.sizeBytes])).toEqual([
      ['photos/cat.jpg', 4],
      ['photos/new ✓.txt', 5],
    ]);
    const latest = (await cli('ls', PLAN, '--json')).map((l) => JSON.parse(l).key);
    expect(latest).toEqual(['docs/ünïcødé/naïve résumé.txt', 'photos/cat.jpg', 'photos/new ✓.txt']);
  });

  it('diff lists what changed between the snapshots', async () => {
    const lines = await cli('diff', PLAN, first, second);
    expect(lines).toEqual([
      '- docs/read me.txt  (5 B)',
      'M photos/cat.jpg  (4 B → 9 B)',
      '+ photos/new ✓.txt  (5 B)',
      expect.stringMatching(/^1 added, 1 removed, 1 modified from snapshot /),
    ]);
    const json = (await cli('diff', PLAN, first, 'latest', '--prefix', 'photos/', '--json')).map((l) =>
      JSON.parse(l),
    );
    expect(json.map((c) => [c.change, c.key])).toEqual([
      ['modified', 'photos/cat.jpg'],
      ['added', 'photos/new ✓.txt'],
    ]);
  });

  it('find lists every version of the matching keys, from the snapshots and the journal', async () => {
    const result = JSON.parse((await cli('find', PLAN, 'photos/**', '--json')).join('\n'));
    type Found = {
      key: string;
      sizeBytes: number;
      lastSeen: { in: string };
      snapshots: number;
      captures: number;
    };
    // Capture journaled each upload as it happened: every version was first seen there, then in the
    // snapshots that hold it.
    expect(
      result.versions.map((v: Found) => [v.key, v.sizeBytes, v.snapshots, v.captures, v.lastSeen.in]),
    ).toEqual([
      ['photos/cat.jpg', 4, 1, 1, first],
      ['photos/cat.jpg', 9, 1, 1, second],
      ['photos/new ✓.txt', 5, 1, 1, second],
    ]);
    expect(result.snapshotsSearched).toBe(2);
    const text = await cli('find', PLAN, 'docs/ünïcødé/*', '--size', '-1K');
    expect(text[0]).toMatch(
      /^docs\/ünïcødé\/naïve résumé\.txt {2}7 B {2}etag .* in 2 snapshot\(s\), 1 capture\(s\)$/,
    );
  });

  it('restore --from-file restores the keys a diff or a find listed, byte for byte', async () => {
    // Prepare: what changed from the first snapshot to the second, and the docs ever seen
    await stack.s3().send(new CreateBucketCommand({ Bucket: 'from-file-restored' }));
    const changes = join(dataDir, 'changes.jsonl');
    await writeFile(changes, (await cli('diff', PLAN, first, second, '--json')).join('\n'));
    const found = join(dataDir, 'found.json');
    await writeFile(found, (await cli('find', PLAN, 'docs/**', '--json')).join('\n'));
    const into = ['--target-bucket', 'from-file-restored'];
    // Act: the changed keys as the first snapshot had them (as a restore job: its slices' keys go
    // through the catalog and the restore queue); the docs as the second has them
    const fromDiff = await cli(
      'restore',
      '--fan-out',
      '--plan',
      PLAN,
      '--snapshot',
      first,
      '--from-file',
      changes,
      ...into,
    );
    const fromFind = await cli(
      'restore',
      '--plan',
      PLAN,
      '--from-file',
      found,
      '--target-prefix',
      'find/',
      ...into,
    );
    // Assess
    expect(await restored('docs/read me.txt')).toBe('hello');
    expect(await restored('photos/cat.jpg')).toBe('meow');
    expect(await restored('photos/new ✓.txt')).toBeUndefined();
    expect(fromDiff[0]).toMatch(/^restore job restore-\S+: 2 object\(s\)/);
    expect(fromDiff).toContain(
      `warning: 1 of the 3 listed key(s) are not in snapshot ${first}: 'photos/new ✓.txt'`,
    );
    expect(await restored('find/docs/ünïcødé/naïve résumé.txt')).toBe('bonjour');
    expect(await restored('find/docs/read me.txt')).toBeUndefined();
    expect(fromFind.join('\n')).toMatch(/^restored 1 object\(s\)/m);
  });
});

describe('quarantine on the embedded stack', () => {
  it('quarantine holds the snapshot before the attack, status says so, clean-point names where to restore from, release lifts it', async () => {
    // The "attack": everything journaled after the first snapshot (the upload of 'new ✓.txt' first)
    const firstTime = String((await c.pipeline.catalog.getSnapshot(PLAN, first))?.time);
    const since = (await c.pipeline.catalog.listJournal(PLAN))
      .map((e) => e.eventTime)
      .filter((t) => t > firstTime)
      .sort()[0] as string;
    const quarantined = await cli('quarantine', PLAN, '--since', since, '--reason', 'test attack');
    expect(quarantined[0]).toMatch(
      new RegExp(`^quarantined: plan ${PLAN} since .* snapshot ${first} is held`),
    );
    expect((await cli('status', PLAN)).join('\n')).toMatch(
      /QUARANTINED since .*: test attack; snapshot .* held/,
    );
    const points = JSON.parse((await cli('clean-point', PLAN, '--json')).join('\n'));
    expect(points.snapshot.snapshotId).toBe(first);
    expect(points.touched.map((t: { prefix: string }) => t.prefix)).toEqual(['docs/', 'photos/']);
    expect((await cli('release', PLAN))[0]).toMatch(
      new RegExp(`^released: plan ${PLAN} is out of quarantine`),
    );
    expect((await cli('release', PLAN, first))[0]).toMatch(/^released: snapshot .* has no legal hold/);
  });
});

describe('serve-s3 on the embedded stack', () => {
  let served: ServingS3;
  let client: S3Client;

  beforeAll(async () => {
    served = await serveS3(await ServedTree.open(c.pipeline, { plan: PLAN, pointInTime: between }), {
      bucket: 'history',
      region: 'us-east-1',
    });
    client = new S3Client({
      endpoint: served.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'any', secretAccessKey: 'any' },
    });
  });

  afterAll(async () => {
    client?.destroy();
    await served?.close();
  });

  it('lists the tree at a point in time through the AWS SDK, page by page and by delimiter', async () => {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client, pageSize: 1 }, { Bucket: 'history' }))
      keys.push(...(page.Contents ?? []).map((o) => o.Key as string));
    // Between the snapshots: the first snapshot's tree with the journaled upload of 'new ✓.txt'
    expect(keys).toEqual([
      'docs/read me.txt',
      'docs/ünïcødé/naïve résumé.txt',
      'photos/cat.jpg',
      'photos/new ✓.txt',
    ]);
    const top = await client.send(
      new ListObjectsV2Command({ Bucket: 'history', Delimiter: '/', Prefix: 'docs/' }),
    );
    expect(top.Contents?.map((o) => [o.Key, o.Size, o.ETag?.startsWith('"')])).toEqual([
      ['docs/read me.txt', 5, true],
    ]);
    expect(top.CommonPrefixes?.map((cp) => cp.Prefix)).toEqual(['docs/ünïcødé/']);
  });

  it('gets and heads objects through the AWS SDK, whole and by range, keys with spaces and non-ASCII', async () => {
    const whole = await client.send(
      new GetObjectCommand({ Bucket: 'history', Key: 'docs/ünïcødé/naïve résumé.txt' }),
    );
    expect(await whole.Body?.transformToString()).toBe('bonjour');
    const part = await client.send(
      new GetObjectCommand({ Bucket: 'history', Key: 'photos/new ✓.txt', Range: 'bytes=1-3' }),
    );
    expect(await part.Body?.transformToString()).toBe('res');
    expect(part.ContentRange).toBe('bytes 1-3/5');
    const head = await client.send(new HeadObjectCommand({ Bucket: 'history', Key: 'photos/cat.jpg' }));
    expect(head.ContentLength).toBe(4); // 'meow': the version before the second snapshot's
    await expect(
      client.send(new GetObjectCommand({ Bucket: 'history', Key: 'photos/nope' })),
    ).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
  });

  it('refuses every write with S3’s AccessDenied, and changes nothing', async () => {
    for (const command of [
      new PutObjectCommand({ Bucket: 'history', Key: 'photos/cat.jpg', Body: 'woof' }),
      new DeleteObjectCommand({ Bucket: 'history', Key: 'photos/cat.jpg' }),
    ]) {
      await expect(client.send(command as PutObjectCommand)).rejects.toMatchObject({
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      });
    }
    const cat = await client.send(new GetObjectCommand({ Bucket: 'history', Key: 'photos/cat.jpg' }));
    expect(await cat.Body?.transformToString()).toBe('meow');
  });

  it('strongbox serve-s3 prints its endpoint, serves the tree, and stops on Ctrl-C', async () => {
    const child = spawn(
      join(PROJECT_ROOT, 'node_modules/.bin/node'),
      ['shared/local/cli/index.ts', '--data-dir', dataDir, 'serve-s3', `${PLAN}@${first}`, '--port', '0'],
      { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const firstLine = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (chunk: Buffer) =>
          resolve(chunk.toString('utf8').split('\n')[0] as string),
        );
        child.once('exit', (code) => reject(new Error(`serve-s3 exited (${code}) before serving`)));
      });
      const url = /at (http:\/\/127\.0\.0\.1:\d+)$/.exec(firstLine)?.[1];
      expect(firstLine).toMatch(
        new RegExp(`^serving snapshot ${first} of plan ${PLAN} .* read-only as s3://${PLAN} at `),
      );
      const listing = await (await fetch(`${url}/${PLAN}?list-type=2`)).text();
      expect(listing).toContain('<Key>docs/ünïcødé/naïve résumé.txt</Key>');
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  }, 60_000);

  it('serves rclone: lists and copies the tree byte for byte', async () => {
    const rclone = await debianProgram('rclone');
    // Configured from its environment alone (as an operator would, or a script), the remote
    // named PAST; nothing of this process's AWS settings (a CA bundle, say) leaks in.
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: dataDir,
      RCLONE_CONFIG_PAST_TYPE: 's3',
      RCLONE_CONFIG_PAST_PROVIDER: 'Other',
      RCLONE_CONFIG_PAST_ENDPOINT: served.url,
      RCLONE_CONFIG_PAST_ACCESS_KEY_ID: 'any',
      RCLONE_CONFIG_PAST_SECRET_ACCESS_KEY: 'any',
    };
    const remote = 'past:history';
    const run = (...args: string[]) =>
      execFileAsync(rclone, ['--config', '/dev/null', ...args], { encoding: 'utf8', env }).then(
        (r) => r.stdout,
      );
    const listed = (await run('lsf', '-R', '--files-only', remote)).trim().split('\n');
    expect(listed).toEqual([
      'docs/read me.txt',
      'docs/ünïcødé/naïve résumé.txt',
      'photos/cat.jpg',
      'photos/new ✓.txt',
    ]);
    const into = join(dataDir, 'rclone-copy');
    await run('copy', remote, into);
    expect(await readFile(join(into, 'docs/ünïcødé/naïve résumé.txt'), 'utf8')).toBe('bonjour');
    expect(await readFile(join(into, 'photos/new ✓.txt'), 'utf8')).toBe('fresh');
    expect(await run('cat', `${remote}/photos/cat.jpg`)).toBe('meow');
  }, 180_000);
});

/** The text of a restored object, or undefined when the restore did not write it. */
async function restored(key: string): Promise<string | undefined> {
  try {
    const out = await stack.s3().send(new GetObjectCommand({ Bucket: 'from-file-restored', Key: key }));
    return await out.Body?.transformToString();
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}
