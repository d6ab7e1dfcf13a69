/**
 * The three verification tiers on the embedded stack, against what each can and cannot see:
 * fauxqs keeps S3 objects as files (`<dataDir>/s3/<region>/buckets/<bucket>/objects/<key>.data`),
 * so a test can flip a byte of a pack behind S3's back, delete a pack, or re-upload other bytes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import type { Verification, VerificationTier } from '#domain/records.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import type { BlobLocation } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { blobAssociatedData, type ManifestEntry, VaultLayout } from '#domain/vault.ts';
import { verificationLines } from '#local/cli/format/status.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { jobEnded, waitFor } from '../support/wait.ts';

const PLAN = 'tiers';
let stack: LocalStack;
let c: Container;
let dataDir: string;
let snapshotId: string;
let entries: ManifestEntry[];

/** The file fauxqs keeps an object's bytes in. */
function objectFile(region: string, bucket: string, key: string): string {
  return `${join(dataDir, 's3', region, 'buckets', bucket, 'objects', ...key.split('/'))}.data`;
}

/** The first (for these small objects: only) blob of the object at `key`. */
function blobOf(key: string): string {
  const entry = entries.find((e) => e.key === key);
  if (!entry?.blobs[0]) throw new Error(`no entry ${key}`);
  return entry.blobs[0];
}

/** Where a region's own index puts the first blob of `key`. */
async function locate(region: string, key: string): Promise<BlobLocation> {
  const vault = region === 'us-east-1' ? c.pipeline.vaults.primary : c.pipeline.vaults.copies.get(region);
  if (!vault) throw new Error(`no vault in ${region}`);
  const where = (await VaultIndex.load(vault, c.pipeline.envelope)).locate(blobOf(key));
  if (!where) throw new Error(`no blob of ${key} in ${region}`);
  return where;
}

/** The referenced blobs a region's index puts in `packId`, sorted. */
async function referencedIn(region: string, packId: string): Promise<string[]> {
  const vault = region === 'us-east-1' ? c.pipeline.vaults.primary : c.pipeline.vaults.copies.get(region);
  if (!vault) throw new Error(`no vault in ${region}`);
  const index = await VaultIndex.load(vault, c.pipeline.envelope);
  const referenced = new Set(entries.flatMap((e) => e.blobs));
  return (index.pack(packId)?.blobs ?? [])
    .map((b) => b.blobId)
    .filter((id) => referenced.has(id))
    .sort();
}

/** Send a verify task of one tier through the verify queue and wait for its task record to finish. */
async function runTier(tier: VerificationTier): Promise<Verification> {
  const jobId = `${PLAN}/${snapshotId}`;
  const before = (await c.pipeline.catalog.getSnapshot(PLAN, snapshotId))?.verification?.tiers[tier];
  await stack.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.queues.VerifyQueue?.url,
      MessageBody: JSON.stringify({ kind: 'verify-tier', planId: PLAN, snapshotId, tier }),
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
    // Incompressible and over the 8 MiB upload part size: a multipart upload with a COMPOSITE checksum.
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
          // Never due while the file runs: a rate plan is due at once and the scheduler ticks every
          // minute; a scheduled snapshot (and its copy) would join the on-demand one below.
          schedule: 'cron(0 3 1 1 ? *)',
          retention: { keepLast: 5 },
          copyRegions: ['eu-west-1'],
          verification: { samplePercent: 100 },
        },
      ],
    },
    stack.copyRegions,
  );
  snapshotId = (await startSnapshotNow(c.pipeline, PLAN)).snapshotId;
  await jobEnded(c.pipeline.catalog, PLAN, snapshotId);
  const record = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
  const manifest = await readManifest(
    c.pipeline.vaults.primary,
    c.pipeline.envelope,
    PLAN,
    record?.manifestId as string,
  );
  entries = await readAllEntries(c.pipeline.vaults.primary, c.pipeline.envelope, manifest);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('verification tiers on the embedded stack', () => {
  it('passes every tier in both regions after the pipeline, with S3 reporting in both the pack checksums the index recorded', async () => {
    // Prepare
    const record = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
    const copy = c.pipeline.vaults.copies.get('eu-west-1');
    if (!copy) throw new Error('no copy vault');
    // Assess
    expect(record?.verification?.status).toBe('PASSED');
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      expect(record?.verification?.tiers[tier]?.status).toBe('PASSED');
      expect(Object.keys(record?.verification?.tiers[tier]?.regions ?? {}).sort()).toEqual([
        'eu-west-1',
        'us-east-1',
      ]);
    }
    // Five blobs: three small objects and large.bin in two chunks (8 MiB + 1 MiB).
    const checksum = record?.verification?.tiers.checksum?.regions['eu-west-1'];
    expect(checksum).toMatchObject({ checkedBlobs: 5, missingPacks: [], mismatchedPacks: [] });
    expect(checksum?.checkedPacks).toBe(checksum?.referencedPacks);
    // The copy was uploaded in the same parts: S3 reports in the copy region the checksum the
    // primary's index recorded, multipart (COMPOSITE, `-<upload part count>`) for a pack over 8 MiB.
    const primaryIndex = await VaultIndex.load(c.pipeline.vaults.primary, c.pipeline.envelope);
    const copyIndex = await VaultIndex.load(copy, c.pipeline.envelope);
    for (const pack of copyIndex.packs.values()) {
      expect(await copy.checksum(VaultLayout.packKey(pack.packId))).toEqual(pack.stored);
      expect(primaryIndex.pack(pack.packId)?.stored).toEqual(pack.stored);
    }
    const large = (await locate('eu-west-1', 'large.bin')).packId;
    const stored = copyIndex.pack(large)?.stored;
    expect(stored?.checksumType).toBe('COMPOSITE');
    expect(stored?.checksumSha256).toMatch(/-2$/);
  });

  it('catches a byte of a pack flipped on S3 behind its back in the deep tier only', async () => {
    // Prepare: flip one byte inside the sealed blob of flipped.txt in the primary's pack file; S3
    // keeps reporting the checksum of the upload, so nothing but reading the blob can tell.
    const blobId = blobOf('flipped.txt');
    const where = await locate('us-east-1', 'flipped.txt');
    const file = objectFile('us-east-1', c.pipeline.vaults.primary.bucket, VaultLayout.packKey(where.packId));
    const bytes = await readFile(file);
    const at = where.offsetBytes + where.lengthBytes - 20;
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
    // Act
    const catalog = await runTier('catalog');
    const checksum = await runTier('checksum');
    const deep = await runTier('deep');
    // Assess: the catalog tier only lists (it cannot see content); the checksum tier compares what
    // S3 reports, the checksum recorded at upload, so a byte flipped behind S3's back is invisible
    // to it; the deep tier reads the blob's range of the pack, which does not open, and names the
    // blob (the other blobs of the pack still read fine).
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
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
  });

  it('catches a pack deleted from the copy vault in the catalog and checksum tiers', async () => {
    // Prepare
    const { packId } = await locate('eu-west-1', 'deleted.txt');
    const blobs = await referencedIn('eu-west-1', packId);
    expect(blobs).toContain(blobOf('deleted.txt'));
    const key = VaultLayout.packKey(packId);
    const copyBucket = c.pipeline.vaults.copies.get('eu-west-1')?.bucket as string;
    await stack.s3('eu-west-1').send(new DeleteObjectCommand({ Bucket: copyBucket, Key: key }));
    // Act
    const catalog = await runTier('catalog');
    const checksum = await runTier('checksum');
    // Assess: the pack is named, and every referenced blob in it is missing.
    expect(catalog.tiers.catalog?.status).toBe('FAILED');
    expect(catalog.tiers.catalog?.regions['eu-west-1']).toMatchObject({
      missingPacks: [packId],
      missingBlobs: blobs,
    });
    expect(catalog.tiers.catalog?.regions['us-east-1']).toMatchObject({ missingPacks: [], missingBlobs: [] });
    expect(checksum.tiers.checksum?.status).toBe('FAILED');
    expect(checksum.tiers.checksum?.regions['eu-west-1']).toMatchObject({
      missingPacks: [packId],
      missingBlobs: blobs,
    });
    // Put it back (the same bytes, from the primary: the same checksum as recorded).
    const body = await c.pipeline.vaults.primary.get(key);
    await c.pipeline.vaults.copies.get('eu-west-1')?.put(key, body);
  });

  it('catches other bytes uploaded under a pack key in the checksum tier, and not in the catalog or deep tiers', async () => {
    // Prepare: the pack with the blob of replaced.txt sealed again (a valid envelope of the same
    // plaintext with another nonce, as long), uploaded again, so S3 reports another checksum.
    const blobId = blobOf('replaced.txt');
    const where = await locate('us-east-1', 'replaced.txt');
    const key = VaultLayout.packKey(where.packId);
    const pack = Buffer.from(await c.pipeline.vaults.primary.get(key));
    const sealed = pack.subarray(where.offsetBytes, where.offsetBytes + where.lengthBytes);
    const plaintext = await c.pipeline.envelope.open(sealed, blobAssociatedData(blobId));
    const resealed = await c.pipeline.envelope.seal(plaintext, blobAssociatedData(blobId));
    expect(resealed.length).toBe(where.lengthBytes);
    pack.set(resealed, where.offsetBytes);
    await c.pipeline.vaults.primary.put(key, pack);
    // Act
    const catalog = await runTier('catalog');
    const checksum = await runTier('checksum');
    const deep = await runTier('deep');
    // Assess: listed, so the catalog tier passes; S3 reports a checksum the index does not
    // record, so the checksum tier fails and names the pack; every blob in it is a valid envelope
    // of the right content, so the deep tier has nothing to object to (only the checksum tier can tell).
    expect(catalog.tiers.catalog?.status).toBe('PASSED');
    expect(checksum.tiers.checksum?.status).toBe('FAILED');
    expect(checksum.tiers.checksum?.regions['us-east-1']?.mismatchedPacks).toEqual([where.packId]);
    expect(checksum.tiers.checksum?.regions['us-east-1']?.mismatchedBlobs).toEqual(
      await referencedIn('us-east-1', where.packId),
    );
    expect(checksum.tiers.checksum?.regions['eu-west-1']?.mismatchedPacks).toEqual([]);
    expect(deep.tiers.deep?.status).toBe('PASSED');
    // Every earlier failure stays: the snapshot's verification never turns back to PASSED.
    expect(deep.status).toBe('FAILED');
  });

  it('never retries a failed verification into success: the verify task is FAILED, not redelivered', async () => {
    // Assess
    const tasks = await c.pipeline.catalog.listTasks(`${PLAN}/${snapshotId}`);
    const checksum = tasks.find((t) => t.taskId === 'verify:checksum');
    expect(checksum?.status).toBe('FAILED');
    expect(checksum?.error).toMatch(/^verification failed: checksum us-east-1: 1 pack checksum mismatch/);
    expect((await c.pipeline.catalog.getJob(`${PLAN}/${snapshotId}`))?.status).toBe('FAILED');
  });
});
