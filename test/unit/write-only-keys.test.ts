// Write-only keys (docs/format.md#keyring): the data keys that seal blobs are wrapped to the
// readers' public key alone. Writers (snapshot, capture, copy, prune) seal content they cannot open
// again, yet still deduplicate, snapshot incrementally, copy and repack; readers restore.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureContentKeyPair, LocalKeyRecipient, RsaOaepRecipient } from '#adapters/key-providers.ts';
import { Envelope } from '#domain/envelope.ts';
import {
  type KeyRecipient,
  KeyringKeyProvider,
  keyDocumentKey,
  listKeyDocuments,
  NoKeyError,
  parseKeyDocument,
  rotateKeys,
  withKeyDocuments,
} from '#domain/keyring.ts';
import { readBlob } from '#domain/repository/read-blobs.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
let metadataKey: LocalKeyRecipient;
let writerContent: RsaOaepRecipient;
let readerContent: RsaOaepRecipient;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongbox-write-only-'));
  await ensureContentKeyPair(join(dir, 'content.pub.pem'), join(dir, 'content.key.pem'));
  metadataKey = await LocalKeyRecipient.fromFile(join(dir, 'master.key'));
  writerContent = await RsaOaepRecipient.fromFiles(join(dir, 'content.pub.pem'));
  readerContent = await RsaOaepRecipient.fromFiles(
    join(dir, 'content.pub.pem'),
    join(dir, 'content.key.pem'),
  );
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A process of `p`: a writer holds the metadata key and the public key; a reader the private key too. */
function process(p: MemoryPipeline, role: 'writer' | 'reader'): void {
  const content: KeyRecipient = role === 'writer' ? writerContent : readerContent;
  const keyring: KeyringKeyProvider = new KeyringKeyProvider({
    vaults: () => [p.primary, p.copy],
    recipients: async () => [metadataKey],
    contentRecipients: async () => [content],
    holders: async () => [metadataKey, content],
    clock: p.clock,
  });
  p.deps.envelope = new Envelope(keyring);
  p.deps.vaults = {
    primary: withKeyDocuments(p.primary, keyring),
    copies: new Map([['eu-west-1', withKeyDocuments(p.copy, keyring)]]),
  };
}

async function snapshot(p: MemoryPipeline): Promise<string> {
  p.clock.advance(60_000);
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  return snapshotId;
}

describe('write-only keys', () => {
  it('lets writers seal, deduplicate, snapshot incrementally, copy and repack content they cannot open; readers restore it', async () => {
    // Prepare: a writer takes two snapshots, the second after an overwrite, so GC repacks a pack. (Deep
    // verification opens blobs: it runs as a reader on AWS; here the plan samples none.)
    const p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 1 }, verification: { samplePercent: 0 } })]);
    await putText(p, 'a.txt', 'alpha '.repeat(50));
    await putText(p, 'b.txt', 'bravo '.repeat(50));
    await putText(p, 'c.txt', 'charlie '.repeat(50));
    process(p, 'writer');
    await snapshot(p);
    const packsBefore = [...p.primary.objects.keys()].filter((k) => VaultLayout.packIdOf(k));
    await putText(p, 'c.txt', 'charlie again '.repeat(50)); // the old c.txt's blob is dead in its pack
    process(p, 'writer');
    const second = await snapshot(p);
    p.clock.advance(2 * 3600_000); // past the grace period
    process(p, 'writer');
    await p.drain();
    await p.run({ kind: 'forget', planId: 'photos', snapshotId: second, force: true });
    await p.drain();

    // Assess: content keys name the public key alone, metadata keys the symmetric key alone.
    const docs = await Promise.all(
      (await listKeyDocuments(p.primary)).map(async (id) =>
        parseKeyDocument(await p.primary.get(keyDocumentKey(id)), id),
      ),
    );
    const content = docs.filter((d) => d.purpose === 'content');
    const metadata = docs.filter((d) => d.purpose === 'metadata');
    expect(content.length).toBeGreaterThan(0);
    expect(metadata.length).toBeGreaterThan(0);
    for (const d of content) expect(d.recipients.map((r) => r.kind)).toEqual(['rsa-oaep-256']);
    for (const d of metadata) expect(d.recipients.map((r) => r.kind)).toEqual(['local-aes-256-gcm']);
    const snap = (await p.catalog.listSnapshots('photos')).find((x) => x.snapshotId === second);
    expect(snap?.blobsWritten).toBe(1); // a.txt and b.txt deduplicated through the index the writer reads
    expect(snap?.regions?.['eu-west-1']?.status).toBe('COPIED');
    // A writer cannot open a blob it sealed.
    process(p, 'writer');
    const index = await VaultIndex.load(p.deps.vaults.primary, p.deps.envelope);
    const blobId = contentIdOf('alpha '.repeat(50));
    const where = index.locate(blobId);
    expect(where).toBeDefined();
    await expect(
      readBlob(p.deps.vaults.primary, p.deps.envelope, { ...(where as NonNullable<typeof where>), blobId }),
    ).rejects.toThrow(NoKeyError);
    index.close();
    // GC repacked the pack b.txt's blob was in, moving a's and c's sealed blobs as they were.
    const packsAfter = [...p.primary.objects.keys()].filter((k) => VaultLayout.packIdOf(k));
    expect(packsAfter).not.toEqual(packsBefore);
    // A reader restores the latest snapshot, from both regions, byte-identically.
    process(p, 'reader');
    for (const region of ['us-east-1', 'eu-west-1']) {
      const bucket = `restored-${region}`;
      p.objects.createBucket(bucket);
      const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: bucket, region });
      expect(report.objects).toBe(3);
      expect(sha256((await p.objects.get(bucket, 'a.txt')).body)).toBe(contentIdOf('alpha '.repeat(50)));
      expect(sha256((await p.objects.get(bucket, 'c.txt')).body)).toBe(
        contentIdOf('charlie again '.repeat(50)),
      );
    }
  });

  it('rotates the symmetric key without giving it the content keys', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([plan()]);
    await putText(p, 'a.txt', 'alpha');
    process(p, 'writer');
    await snapshot(p);
    const next = await LocalKeyRecipient.fromFile(join(dir, 'next.key'));
    await rotateKeys([p.primary], { holders: [metadataKey], to: next });
    const docs = await Promise.all(
      (await listKeyDocuments(p.primary)).map(async (id) =>
        parseKeyDocument(await p.primary.get(keyDocumentKey(id)), id),
      ),
    );
    for (const d of docs) {
      expect(d.recipients.some((r) => r.keyId === next.keyId)).toBe(d.purpose === 'metadata');
    }
  });
});
