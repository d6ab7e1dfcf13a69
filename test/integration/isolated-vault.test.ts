/**
 * The isolated vault on the embedded stack: a second provider (an S3 endpoint of its own, another
 * fauxqs server sharing nothing with the primary's). A plan opts in with `isolatedVaults`; the copy
 * task copies each snapshot there as to a copy region; verification and a drill read it; and with
 * the primary vault's bucket emptied, `strongbox restore --vault` restores byte-identical objects
 * from it alone.
 *
 * What this cannot show: the emulator enforces neither Object Lock, nor bucket policies, nor STS
 * (no ExternalId, no cross-account role): those are asserted in the template tests
 * (test/integration/isolated-account-template.test.ts), not here.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { ValidationError } from '#domain/errors.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { writeStackFile } from '#local/cli/context.ts';
import { buildCli } from '#local/cli/index.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { jobEnded, waitFor } from '../support/wait.ts';

const PLAN = 'guarded';
const VAULT = 'offsite';
const LOCATION = `vault:${VAULT}`;
const TARGET = 'guarded-restore';
/** The source's objects: small ones, one empty, and one of 9 MiB (two blobs, a multipart restore). */
const OBJECTS: Record<string, Buffer> = {
  'a.txt': Buffer.from('alpha '.repeat(100)),
  'docs/b.md': Buffer.from('# bravo\n'.repeat(500)),
  'docs/deep/c.bin': randomBytes(200_000),
  'empty.txt': Buffer.alloc(0),
  'big.bin': randomBytes(9 * 1024 * 1024),
};

let stack: LocalStack;
let c: Container;
let dataDir: string;
let source: string;
let snapshotId: string;

/** Run the CLI against this stack (as `npm run strongbox -- …` would) and return what it printed. */
async function cli(...args: string[]): Promise<string> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await buildCli().parseAsync(['node', 'strongbox', '--data-dir', dataDir, ...args]);
    return log.mock.calls.map((call) => call.join(' ')).join('\n');
  } finally {
    log.mockRestore();
  }
}

async function keysIn(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(out.Contents ?? []).map((o) => o.Key as string));
    token = out.NextContinuationToken;
  } while (token);
  return keys.sort();
}

async function bytesOf(bucket: string, key: string): Promise<Buffer> {
  const out = await stack.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'strongbox-isolated-'));
  stack = await startLocalStack({
    dataDir,
    logLevel: 'SILENT',
    isolatedVault: { name: VAULT },
  });
  c = stack.container();
  await writeStackFile(stack, dataDir); // what `strongbox start --isolated-vault offsite` writes
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await stack.s3().send(new CreateBucketCommand({ Bucket: TARGET }));
  for (const [key, body] of Object.entries(OBJECTS)) {
    await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
  }
  await stack.settled();
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: PLAN,
          source: { bucket: source },
          // Never due while the file runs: the on-demand snapshot below stays the only one.
          schedule: 'cron(0 3 1 1 ? *)',
          retention: { keepLast: 5 },
          copyRegions: stack.copyRegions,
          isolatedVaults: [VAULT],
          drill: { schedule: 'rate(7 days)', sampleObjects: 5 },
        },
      ],
    },
    stack.copyRegions,
  );
  snapshotId = (await startSnapshotNow(c.pipeline, PLAN)).snapshotId;
  expect((await jobEnded(c.pipeline.catalog, PLAN, snapshotId)).status).toBe('SUCCEEDED');
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('an isolated vault at a second provider', () => {
  it('runs on an endpoint of its own, not the primary region’s or the copy region’s', () => {
    const isolated = stack.isolatedVault;
    expect(isolated?.location).toBe(LOCATION);
    expect(Object.values(stack.endpoints.s3)).not.toContain(isolated?.endpoint);
    expect(isolated?.bucket).not.toBe(c.config.vaultBucket);
  });

  it('refuses a plan naming an isolated vault the deployment does not configure', async () => {
    const applying = applyPlans(
      c.pipeline,
      {
        plans: [
          {
            id: 'elsewhere',
            source: { bucket: source },
            schedule: 'rate(1 day)',
            retention: { keepLast: 1 },
            isolatedVaults: ['nowhere'],
          },
        ],
      },
      stack.copyRegions,
    );
    await expect(applying).rejects.toThrow(ValidationError);
    await expect(applying).rejects.toThrow(
      /plans\[0\]\.isolatedVaults\[0\]: no isolated vault named 'nowhere'/,
    );
  });

  it('copies the snapshot there and records the copy, then verification passes there too', async () => {
    // The copy task's record, and verification (which follows the last copy) in every location.
    const snapshot = await waitFor(
      'verification of the snapshot',
      async () => {
        const s = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
        return s?.verification ? s : undefined;
      },
      90_000,
    );
    expect(snapshot.regions?.[LOCATION]).toMatchObject({ status: 'COPIED' });
    expect(snapshot.regions?.[LOCATION]?.packsCopied).toBeGreaterThan(0);
    expect(snapshot.verification?.status).toBe('PASSED');
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      expect(Object.keys(snapshot.verification?.tiers[tier]?.regions ?? {}).sort(), tier).toEqual(
        [c.config.primaryRegion, ...stack.copyRegions, LOCATION].sort(),
      );
      const there = snapshot.verification?.tiers[tier]?.regions[LOCATION];
      expect(there?.referencedBlobs, tier).toBeGreaterThan(0);
      expect(there?.missingBlobs, tier).toEqual([]);
    }
    // The layout, at the second provider: packs, an index, the manifest's parts and its root.
    const isolated = stack.isolatedVault as NonNullable<LocalStack['isolatedVault']>;
    const there = await keysIn(isolated.s3, isolated.bucket);
    for (const prefix of ['packs/', 'index/', `parts/${PLAN}/`, `manifests/${PLAN}/`]) {
      expect(
        there.some((k) => k.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
    // The same sealed bytes as the primary's (copied unchanged, never re-encrypted).
    const primaryKeys = await keysIn(stack.s3(), c.config.vaultBucket, 'manifests/');
    expect(primaryKeys.length).toBeGreaterThan(0);
    for (const key of primaryKeys) {
      const copied = await isolated.s3.send(new GetObjectCommand({ Bucket: isolated.bucket, Key: key }));
      const bytes = Buffer.from((await copied.Body?.transformToByteArray()) ?? []);
      expect(bytes.equals(await bytesOf(c.config.vaultBucket, key)), key).toBe(true);
    }
  });

  it('drills restore a sample from it', async () => {
    await cli('drill', PLAN);
    const drill = await waitFor('the drill record', async () =>
      (await c.pipeline.catalog.getDrillHistory(PLAN))?.drills.find((d) => d.status !== 'RUNNING'),
    );
    expect(drill.status).toBe('PASSED');
    expect(drill.regions[LOCATION]).toMatchObject({ status: 'PASSED', objects: 5 });
  });

  it('shows the copy in `strongbox status`', async () => {
    const printed = await cli('status', PLAN);
    expect(printed).toContain(`copies: ${[...stack.copyRegions, LOCATION].join(', ')}`);
    expect(printed).toContain(`${LOCATION}:COPIED`);
  });

  it('restores byte-identical objects with `strongbox restore --vault` after the primary vault is emptied', async () => {
    // Prepare: the primary vault loses every document (an attacker's deletes, a lost account).
    const vaultBucket = c.config.vaultBucket;
    for (;;) {
      const keys = await keysIn(stack.s3(), vaultBucket);
      if (keys.length === 0) break;
      for (let i = 0; i < keys.length; i += 1000) {
        await stack.s3().send(
          new DeleteObjectsCommand({
            Bucket: vaultBucket,
            Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) },
          }),
        );
      }
    }
    expect(await keysIn(stack.s3(), vaultBucket)).toEqual([]);
    // The primary cannot restore any more (its manifest is gone) …
    await expect(
      cli('restore', '--plan', PLAN, '--target-bucket', TARGET, '--target-prefix', 'primary/'),
    ).rejects.toThrow();
    // Act: … the isolated vault can.
    await cli('restore', '--plan', PLAN, '--vault', VAULT, '--target-bucket', TARGET);
    // Assess
    const restored = (await keysIn(stack.s3(), TARGET)).filter((k) => !k.startsWith('primary/'));
    expect(restored).toEqual(Object.keys(OBJECTS).sort());
    for (const [key, body] of Object.entries(OBJECTS)) {
      expect((await bytesOf(TARGET, key)).equals(body), key).toBe(true);
    }
  });

  it('lists the snapshot from it with `strongbox ls --vault`, the primary vault still empty', async () => {
    const printed = await cli('ls', PLAN, '--vault', VAULT, '--json');
    const keys = printed
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => (JSON.parse(line) as { key: string }).key);
    expect(keys.sort()).toEqual(Object.keys(OBJECTS).sort());
  });

  it('refuses --region and --vault together, and a vault the deployment does not have', async () => {
    await expect(cli('restore', '--plan', PLAN, '--vault', VAULT, '--region', 'eu-west-1')).rejects.toThrow(
      /--region and --vault cannot be combined/,
    );
    await expect(
      cli('restore', '--plan', PLAN, '--vault', 'nowhere', '--target-bucket', TARGET),
    ).rejects.toThrow(/has not been copied to vault:nowhere/);
  });
});
