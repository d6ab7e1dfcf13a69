/**
 * Key rotation on the embedded stack, through the CLI (docs/format.md#keyring): `strongbox keys
 * rotate --to NEW`, the old key file deleted, `strongbox keys retire OLD`; a restore of a snapshot
 * taken under the old key then passes with the new key alone, byte for byte.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { localKeyIdOf } from '#adapters/key-providers.ts';
import { applyPlans } from '#domain/apply-plans.ts';
import { keyDocumentKey, listKeyDocuments, parseKeyDocument } from '#domain/keyring.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { writeStackFile } from '#local/cli/context.ts';
import { buildCli } from '#local/cli/index.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import { loadConfig } from '#runtime/config.ts';
import { createContainer } from '#runtime/container.ts';
import { jobEnded } from '../support/wait.ts';

const TARGET = 'rotation-restored';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let stack: LocalStack;
let source: string;

/** Run the CLI in this process against the stack; what it printed on stdout and stderr. */
async function cli(...args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
    err.push(String(chunk));
    return true;
  });
  try {
    await buildCli().parseAsync(['node', 'strongbox', '--data-dir', stack.dataDir, ...args]);
  } finally {
    log.mockRestore();
    write.mockRestore();
  }
  return { out: out.join('\n'), err: err.join('') };
}

beforeAll(async () => {
  stack = await startLocalStack({ visibilityTimeoutSeconds: 1, logLevel: 'SILENT' });
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await writeStackFile(stack, stack.dataDir);
  await stack.s3().send(new CreateBucketCommand({ Bucket: TARGET }));
});

afterAll(async () => {
  await stack?.stop();
});

describe('strongbox keys rotate and retire', () => {
  it('restores a snapshot taken under the old key after rotating to a new key file, deleting the old one and retiring it', async () => {
    // Prepare: a snapshot under the stack's key file (master.key).
    const c = stack.container();
    const objects = { 'a.txt': 'alpha '.repeat(100), 'dir/b.bin': 'bravo '.repeat(3000) };
    for (const [Key, Body] of Object.entries(objects))
      await stack.s3().send(new PutObjectCommand({ Bucket: source, Key, Body }));
    await stack.settled();
    await applyPlans(
      c.pipeline,
      {
        plans: [
          { id: 'rot', source: { bucket: source }, schedule: 'rate(1 hour)', retention: { keepLast: 5 } },
        ],
      },
      stack.copyRegions,
    );
    const { snapshotId } = await startSnapshotNow(c.pipeline, 'rot');
    expect((await jobEnded(c.pipeline.catalog, 'rot', snapshotId)).status).toBe('SUCCEEDED');
    const oldFile = join(stack.dataDir, 'master.key');
    const newFile = join(stack.dataDir, 'rotated', 'master.key');
    const oldKeyId = localKeyIdOf(Buffer.from((await readFile(oldFile, 'utf8')).trim(), 'base64'));

    // Act: rotate (the new key file is made), delete the old key file, retire the old key.
    const rotated = await cli('keys', 'rotate', '--to', newFile);
    await rm(oldFile);
    const retired = await cli('keys', 'retire', oldKeyId);

    // Assess: every metadata key document of both vaults names the new key alone...
    const newKeyId = localKeyIdOf(Buffer.from((await readFile(newFile, 'utf8')).trim(), 'base64'));
    expect(rotated.err).toMatch(/key documents, \d+ rewrapped/);
    expect(rotated.out).toContain(newKeyId);
    expect(retired.out).toContain(`no key document names ${oldKeyId} any more`);
    for (const vault of [c.pipeline.vaults.primary, ...c.pipeline.vaults.copies.values()]) {
      const ids = await listKeyDocuments(vault);
      for (const id of ids) {
        const doc = parseKeyDocument(await vault.get(keyDocumentKey(id)), id);
        if (doc.purpose === 'content') continue; // wrapped to the content key alone (write-only keys)
        expect(doc.recipients.filter((r) => r.kind === 'local-aes-256-gcm').map((r) => r.keyId)).toEqual([
          newKeyId,
        ]);
      }
    }
    // ...and a process configured with the new key file alone restores the old snapshot, byte for byte.
    const fresh = createContainer(loadConfig({ ...stack.env('restore'), STRONGBOX_LOCAL_KEY_FILE: newFile }));
    const report = await restoreSnapshot(fresh.pipeline, {
      plan: 'rot',
      snapshot: snapshotId,
      targetBucket: TARGET,
    });
    expect(report.objects).toBe(2);
    for (const [Key, Body] of Object.entries(objects)) {
      const got = await stack.s3().send(new GetObjectCommand({ Bucket: TARGET, Key }));
      expect(
        sha256(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()),
      ).toBe(sha256(Buffer.from(Body)));
    }
  }, 180_000);
});
