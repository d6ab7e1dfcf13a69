/**
 * The three verification tiers on the embedded stack, against what each can and cannot see:
 * fauxqs keeps S3 objects as files (`<dataDir>/s3/<region>/buckets/<bucket>/objects/<key>.data`),
 * so a test can flip a byte behind S3's back, delete a blob, or re-upload other bytes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { readManifest } from '#domain/manifests.ts';
import type { Verification, VerificationTier } from '#domain/ports.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { blobAssociatedData, type Manifest, VaultLayout } from '#domain/vault.ts';
import { verificationLines } from '#local/cli.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { waitFor } from '../support/wait.ts';

const PLAN = 'tiers';
let stack: LocalStack;
let c: Container;
let dataDir: string;
let snapshotId: string;
let manifest: Manifest;

/** The file fauxqs keeps an object's bytes in. */
function objectFile(region: string, bucket: string, key: string): string {
  return `${join(dataDir, 's3', region, 'buckets', bucket, 'objects', ...key.split('/'))}.data`;
}

function blobOf(key: string): string {
  const entry = manifest.entries.find((e) => e.key === key);
  if (!entry) throw new Error(`no entry ${key}`);
  return entry.blobId;
}

/** Send a verify task of one tier through the verify queue and wait for its task record to finish. */
async function runTier(tier: VerificationTier): Promise<Verification> {
  const jobId = `${PLAN}/${snapshotId}`;
  const before = (await c.pipeline.catalog.getSnapshot(PLAN, snapshotId))?.verification?.tiers[tier];
  await stack.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.queues.VerifyQueue?.url,
      MessageBody: JSON.stringify({ kind: 'verify', planId: PLAN, snapshotId, tier }),
    }),
  );
  // Done when the tier recorded a new result and its task finished (a thrown, retried task records none).
  await waitFor(`verify:${tier}`, async () => {
    const task = (await c.pipeline.catalog.listTasks(jobId)).find((t) => t.taskId === `verify:${tier}`);
    const now = (await c.pipeline.catalog.getSnapshot(PLAN, snapshotId))?.verification?.tiers[tier];
    return task && task.status !== 'RUNNING' && now && now.checkedAt !== before?.checkedAt ? now : undefined;
  });
  const snapshot = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
  if (!snapshot?.verification) throw new Error('no verification recorded');
  return snapshot.verification;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'strongbox-tiers-'));
  stack = await startLocalStack({ dataDir, visibilityTimeoutSeconds: 1, logLevel: 'SILENT' });
  c = stack.container();
  const source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  const bodies: Record<string, Uint8Array> = {
    'flipped.txt': Buffer.from('a blob whose stored bytes get one bit flipped on disk'),
    'deleted.txt': Buffer.from('a blob that gets deleted from the copy vault'),
    'replaced.txt': Buffer.from('a blob that gets other sealed bytes uploaded under its key'),
    // Incompressible and over the 8 MiB part size: a multipart upload with a COMPOSITE checksum.
    'large.bin': randomBytes(9 * 1024 * 1024),
  };
  for (const [key, body] of Object.entries(bodies)) {
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
          schedule: 'rate(1 day)',
          retention: { keepLast: 5 },
          copyRegions: ['eu-west-1'],
          verification: { samplePercent: 100 },
        },
      ],
    },
    stack.copyRegions,
  );
  snapshotId = (await startSnapshotNow(c.pipeline, PLAN)).snapshotId;
  await waitFor('the job', async () => {
    const job = await c.pipeline.catalog.getJob(`${PLAN}/${snapshotId}`);
    return job && job.status !== 'RUNNING' ? job : undefined;
  });
  const record = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
  manifest = await readManifest(
    c.pipeline.vaults.primary,
    c.pipeline.envelope,
    PLAN,
    record?.manifestId as string,
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('verification tiers on the embedded stack', () => {
  it('passes every tier in both regions after the pipeline, with S3 reporting single-part and multipart checksums', async () => {
    // Prepare
    const record = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
    // Assess
    expect(record?.verification?.status).toBe('PASSED');
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      expect(record?.verification?.tiers[tier]?.status).toBe('PASSED');
      expect(Object.keys(record?.verification?.tiers[tier]?.regions ?? {}).sort()).toEqual([
        'eu-west-1',
        'us-east-1',
      ]);
    }
    const checksum = record?.verification?.tiers.checksum?.regions['eu-west-1'];
    expect(checksum).toMatchObject({ checkedBlobs: 4, uncheckedBlobs: 0, mismatchedBlobs: [] });
    const types = Object.fromEntries(manifest.entries.map((e) => [e.key, e.stored?.checksumType]));
    expect(types).toEqual({
      'deleted.txt': 'FULL_OBJECT',
      'flipped.txt': 'FULL_OBJECT',
      'large.bin': 'COMPOSITE',
      'replaced.txt': 'FULL_OBJECT',
    });
    // The copy was uploaded in the same parts: S3 reports the same composite checksum there.
    const large = manifest.entries.find((e) => e.key === 'large.bin');
    const key = VaultLayout.blobKey(large?.blobId as string);
    expect(await c.pipeline.vaults.copies.get('eu-west-1')?.checksum(key)).toEqual(large?.stored);
    expect(large?.stored?.checksumSha256).toMatch(/-2$/);
  });

  it('catches a byte flipped on S3 behind its back in the deep tier only', async () => {
    // Prepare: flip one byte of the primary's stored blob file; S3 keeps the checksum of the upload.
    const blobId = blobOf('flipped.txt');
    const file = objectFile('us-east-1', c.pipeline.vaults.primary.bucket, VaultLayout.blobKey(blobId));
    const bytes = await readFile(file);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
    // Act
    const catalog = await runTier('catalog');
    const checksum = await runTier('checksum');
    const deep = await runTier('deep');
    // Assess: the catalog tier only lists (it cannot see content); the checksum tier compares what
    // S3 reports, the checksum recorded at upload, so a byte flipped behind S3's back is invisible
    // to it; the deep tier downloads it (the SDK already finds the body does not match the checksum
    // S3 sends with it, which the vault store reports as IntegrityError) and names the blob.
    expect(catalog.tiers.catalog?.status).toBe('PASSED');
    expect(checksum.tiers.checksum?.status).toBe('PASSED');
    expect(deep.tiers.deep?.status).toBe('FAILED');
    expect(deep.tiers.deep?.regions['us-east-1']?.corruptBlobs).toEqual([blobId]);
    expect(deep.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([]);
    expect(deep.status).toBe('FAILED');
    // The CLI's status says so on one line.
    const lines = verificationLines(snapshotId, deep);
    expect(lines[0]).toBe(
      `  verification ${snapshotId} FAILED (deep us-east-1: 1 corrupt blob(s) (${blobId}…))`,
    );
    expect(lines.some((l) => /^ {4}deep {5}us-east-1 {4}FAILED/.test(l))).toBe(true);
    // Restore the byte so the next tests see one fault at a time.
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
  });

  it('catches a blob deleted from the copy vault in the catalog and checksum tiers', async () => {
    // Prepare
    const blobId = blobOf('deleted.txt');
    const copyBucket = c.pipeline.vaults.copies.get('eu-west-1')?.bucket as string;
    await stack
      .s3('eu-west-1')
      .send(new DeleteObjectCommand({ Bucket: copyBucket, Key: VaultLayout.blobKey(blobId) }));
    // Act
    const catalog = await runTier('catalog');
    const checksum = await runTier('checksum');
    // Assess
    expect(catalog.tiers.catalog?.status).toBe('FAILED');
    expect(catalog.tiers.catalog?.regions['eu-west-1']?.missingBlobs).toEqual([blobId]);
    expect(catalog.tiers.catalog?.regions['us-east-1']?.missingBlobs).toEqual([]);
    expect(checksum.tiers.checksum?.status).toBe('FAILED');
    expect(checksum.tiers.checksum?.regions['eu-west-1']?.missingBlobs).toEqual([blobId]);
    // Put it back (the same sealed bytes, from the primary).
    const sealed = await c.pipeline.vaults.primary.get(VaultLayout.blobKey(blobId));
    await c.pipeline.vaults.copies.get('eu-west-1')?.put(VaultLayout.blobKey(blobId), sealed);
  });

  it('catches other sealed bytes uploaded under a blob key in the checksum tier, and not in the catalog tier', async () => {
    // Prepare: a valid envelope of the same plaintext (another nonce), so S3 reports another checksum.
    const blobId = blobOf('replaced.txt');
    const key = VaultLayout.blobKey(blobId);
    const plaintext = await c.pipeline.envelope.open(
      await c.pipeline.vaults.primary.get(key),
      blobAssociatedData(blobId),
    );
    const resealed = await c.pipeline.envelope.seal(plaintext, blobAssociatedData(blobId));
    await c.pipeline.vaults.primary.put(key, resealed);
    // Act
    const catalog = await runTier('catalog');
    const checksum = await runTier('checksum');
    const deep = await runTier('deep');
    // Assess: listed, so the catalog tier passes; S3 reports a checksum the manifest does not
    // expect, so the checksum tier fails; the bytes are a valid envelope of the right content, so
    // the deep tier has nothing to object to (only the checksum tier can tell).
    expect(catalog.tiers.catalog?.status).toBe('PASSED');
    expect(checksum.tiers.checksum?.status).toBe('FAILED');
    expect(checksum.tiers.checksum?.regions['us-east-1']?.mismatchedBlobs).toEqual([blobId]);
    expect(checksum.tiers.checksum?.regions['eu-west-1']?.mismatchedBlobs).toEqual([]);
    expect(deep.tiers.deep?.status).toBe('PASSED');
    // Every earlier failure stays: the snapshot's verification never turns back to PASSED.
    expect(deep.status).toBe('FAILED');
  });

  it('never retries a failed verification into success: the verify task is FAILED, not redelivered', async () => {
    // Assess
    const tasks = await c.pipeline.catalog.listTasks(`${PLAN}/${snapshotId}`);
    const checksum = tasks.find((t) => t.taskId === 'verify:checksum');
    expect(checksum?.status).toBe('FAILED');
    expect(checksum?.error).toMatch(/^verification failed: checksum us-east-1: 1 checksum mismatch/);
    expect((await c.pipeline.catalog.getJob(`${PLAN}/${snapshotId}`))?.status).toBe('FAILED');
  });
});
