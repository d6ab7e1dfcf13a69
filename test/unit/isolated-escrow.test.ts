// An isolated vault's escrow key (docs/format.md#keyring): every data key is also wrapped to its
// public half, so a process holding only its private half (none of the deployment's keys) restores
// a snapshot, and a process holding neither cannot.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalKeyRecipient, RsaOaepRecipient } from '#adapters/key-providers.ts';
import { Envelope } from '#domain/envelope.ts';
import { type KeyRecipient, KeyringKeyProvider, withKeyDocuments } from '#domain/keyring.ts';
import type { VaultStore } from '#domain/ports.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { loadConfig } from '#runtime/config.ts';
import { IsolatedVaultSchema } from '#runtime/isolated-vaults.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function useKeyring(p: MemoryPipeline, recipients: KeyRecipient[], holders: KeyRecipient[]): void {
  const keyring = new KeyringKeyProvider({
    vaults: (): VaultStore[] => [p.primary, p.copy],
    recipients: async () => recipients,
    holders: async () => holders,
    clock: p.clock,
  });
  p.deps.envelope = new Envelope(keyring);
  p.deps.vaults = {
    primary: withKeyDocuments(p.primary, keyring),
    copies: new Map([['eu-west-1', withKeyDocuments(p.copy, keyring)]]),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongbox-escrow-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('an isolated vault’s escrow key', () => {
  it('opens every snapshot alone, and nothing opens without it or the master key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const escrowFile = join(dir, 'escrow.key.pem');
    await writeFile(escrowFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const master = new LocalKeyRecipient(Buffer.alloc(32, 1));
    const escrowPublic = new RsaOaepRecipient(publicKey);

    const p = memoryPipeline();
    await p.catalog.putPlans([plan()]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'docs/b.md', 'beta '.repeat(1000));
    useKeyring(p, [master, escrowPublic], [master]);
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await p.drain();

    const restoreAs = async (holders: KeyRecipient[]) => {
      useKeyring(p, [master, escrowPublic], holders);
      const bucket = `restored-${holders.length}-${Math.random().toString(36).slice(2)}`;
      p.objects.createBucket(bucket);
      await restoreSnapshot(p.deps, {
        plan: 'photos',
        snapshot: snapshotId,
        targetBucket: bucket,
        region: 'eu-west-1',
      });
      const out: Record<string, string> = {};
      for await (const o of p.objects.list(bucket, ''))
        out[o.key] = sha256((await p.objects.get(bucket, o.key)).body);
      return out;
    };
    const expected = await restoreAs([master]);
    expect(Object.keys(expected).sort()).toEqual(['a.txt', 'docs/b.md']);
    // The operator's break-glass: the escrow private key alone, another master key.
    const escrowOnly = await RsaOaepRecipient.fromPrivateKeyFile(escrowFile);
    expect(escrowOnly.keyId).toBe(escrowPublic.keyId);
    expect(await restoreAs([new LocalKeyRecipient(Buffer.alloc(32, 9)), escrowOnly])).toEqual(expected);
    // Neither key: nothing opens.
    await expect(restoreAs([new LocalKeyRecipient(Buffer.alloc(32, 9))])).rejects.toThrow(
      /wrapped to no key/,
    );
  });

  it('is configured per isolated vault as a PEM public key, and held only through STRONGBOX_ESCROW_KEY_FILES', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const base = {
      name: 'offsite',
      kind: 's3-compatible',
      endpoint: 'https://s3.example.com',
      region: 'us-east-1',
      bucket: 'offsite-vault',
    };
    expect(IsolatedVaultSchema.parse({ ...base, escrowPublicKey: pem }).escrowPublicKey).toBe(pem);
    expect(() => IsolatedVaultSchema.parse({ ...base, escrowPublicKey: 'not a key' })).toThrow(
      /PEM public key/,
    );
    const env = {
      STRONGBOX_PRIMARY_REGION: 'us-east-1',
      STRONGBOX_STATE_TABLE: 'strongbox-state',
      STRONGBOX_VAULT_BUCKET: 'strongbox-vault-use1',
      STRONGBOX_LOCAL_KEY_FILE: '/d/master.key',
      STRONGBOX_SNAPSHOT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/snapshot',
      STRONGBOX_COPY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/copy',
      STRONGBOX_VERIFY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/verify',
      STRONGBOX_PRUNE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/prune',
    };
    expect(loadConfig(env).escrowKeyFiles).toBeUndefined();
    expect(loadConfig({ ...env, STRONGBOX_ESCROW_KEY_FILES: '/a.pem,/b.pem' }).escrowKeyFiles).toEqual([
      '/a.pem',
      '/b.pem',
    ]);
  });
});
