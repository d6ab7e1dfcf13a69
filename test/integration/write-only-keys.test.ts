/**
 * Write-only keys on the embedded stack (docs/format.md#keyring): the functions serverless.yml
 * gives STRONGBOX_CONTENT_KEY_UNWRAP (restore, verify, drill, browse, restoreWorker) open blobs;
 * snapshot, capture, copy and prune seal them but cannot open them again.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { keyDocumentKey, listKeyDocuments, NoKeyError, parseKeyDocument } from '#domain/keyring.ts';
import { readBlob } from '#domain/repository/read-blobs.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf } from '#domain/vault.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import { jobEnded } from '../support/wait.ts';

let stack: LocalStack;
let source: string;

beforeAll(async () => {
  stack = await startLocalStack({ visibilityTimeoutSeconds: 1, logLevel: 'SILENT' });
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
});

afterAll(async () => {
  await stack?.stop();
});

describe('write-only keys on the embedded stack', () => {
  it('lets snapshot seal a blob it cannot open, and restore open it', async () => {
    // Prepare: one object, a snapshot through the pipeline's functions.
    const reader = stack.container(); // the restore function's configuration, as the CLI's
    const body = 'the content a stolen writer credential must not read';
    await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: 'secret.txt', Body: body }));
    await stack.settled();
    await applyPlans(
      reader.pipeline,
      {
        plans: [
          { id: 'wo', source: { bucket: source }, schedule: 'rate(1 hour)', retention: { keepLast: 3 } },
        ],
      },
      stack.copyRegions,
    );
    const { snapshotId } = await startSnapshotNow(reader.pipeline, 'wo');
    expect((await jobEnded(reader.pipeline.catalog, 'wo', snapshotId)).status).toBe('SUCCEEDED');

    // Assess: the only key documents wrapped to the content key are content keys; the snapshot
    // function's container (a writer) cannot open the blob, the restore function's restores it.
    expect(stack.env('snapshot').STRONGBOX_CONTENT_PRIVATE_KEY_FILE).toBeUndefined();
    expect(stack.env('restore').STRONGBOX_CONTENT_PRIVATE_KEY_FILE).toBeDefined();
    const vault = reader.pipeline.vaults.primary;
    const docs = await Promise.all(
      (await listKeyDocuments(vault)).map(async (id) =>
        parseKeyDocument(await vault.get(keyDocumentKey(id)), id),
      ),
    );
    for (const d of docs) {
      expect(d.recipients.map((r) => r.kind)).toEqual(
        d.purpose === 'content' ? ['rsa-oaep-256'] : ['local-aes-256-gcm'],
      );
    }
    const writer = stack.container('snapshot');
    const index = await VaultIndex.load(writer.pipeline.vaults.primary, writer.pipeline.envelope);
    const blobId = contentIdOf(body);
    const where = index.locate(blobId);
    index.close();
    expect(where).toBeDefined();
    const location = { ...(where as NonNullable<typeof where>), blobId };
    await expect(
      readBlob(writer.pipeline.vaults.primary, writer.pipeline.envelope, location),
    ).rejects.toThrow(NoKeyError);
    expect((await readBlob(vault, reader.pipeline.envelope, location)).toString()).toBe(body);
    const target = String(stack.env('restore').STRONGBOX_RESTORE_BUCKETS ?? '').split(',')[0];
    if (target) {
      const report = await restoreSnapshot(reader.pipeline, {
        plan: 'wo',
        snapshot: snapshotId,
        targetBucket: target,
      });
      expect(report.objects).toBe(1);
    }
  }, 120_000);
});
