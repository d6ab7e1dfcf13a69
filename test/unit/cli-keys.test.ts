// `strongbox keys`: how a KEY argument names a master key, and what `keys list` prints.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsRecipient, LocalKeyRecipient, RsaOaepRecipient } from '#adapters/key-providers.ts';
import { Envelope } from '#domain/envelope.ts';
import { ValidationError } from '#domain/errors.ts';
import { KeyringKeyProvider, rotateKeys, withKeyDocuments } from '#domain/keyring.ts';
import { checkRetirable, describeKeyring, keyIdOf, recipientOf } from '#local/cli/keys.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongbox-cli-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('strongbox keys', () => {
  it('reads a KEY as a KMS key ARN, or a local key file that must exist unless it is the new key', async () => {
    const arn = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
    const kms = await recipientOf(arn);
    expect(kms).toBeInstanceOf(KmsRecipient);
    expect(kms.keyId).toBe(arn);
    await expect(recipientOf(join(dir, 'missing.key'))).rejects.toThrow(ValidationError);
    const made = await recipientOf(join(dir, 'new.key'), { create: true });
    expect(made).toBeInstanceOf(LocalKeyRecipient);
    // The id `retire` takes: the file's fingerprint, an ARN or a sha256: id as given.
    expect(await keyIdOf(join(dir, 'new.key'))).toBe(made.keyId);
    expect(await keyIdOf(made.keyId)).toBe(made.keyId);
    expect(await keyIdOf(arn)).toBe(arn);
    await writeFile(join(dir, 'short.key'), `${Buffer.alloc(16).toString('base64')}\n`);
    await expect(recipientOf(join(dir, 'short.key'))).rejects.toThrow(/256-bit/);
  });

  it('reads a PEM public key file as an escrow recipient that wraps only (rotate --to escrow.pub.pem --all)', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = join(dir, 'escrow.pub.pem');
    await writeFile(file, publicKey.export({ type: 'spki', format: 'pem' }));
    const escrow = await recipientOf(file);
    expect(escrow).toBeInstanceOf(RsaOaepRecipient);
    expect(escrow.unwrap).toBeUndefined();
    expect(escrow.keyId).toBe(new RsaOaepRecipient(publicKey).keyId);
    expect(await keyIdOf(file)).toBe(escrow.keyId);
  });

  it('refuses to retire the key the configuration still issues data keys under', () => {
    expect(() => checkRetirable('sha256:aaaa', 'sha256:aaaa')).toThrow(/configured master key/);
    expect(() => checkRetirable('sha256:aaaa', 'sha256:bbbb')).not.toThrow();
  });

  it('lists, per vault, how many key documents name each master key', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const vault = new MemoryVaultStore('us-east-1', 'vault-use1', clock);
    const oldKey = await recipientOf(join(dir, 'old.key'), { create: true });
    for (let i = 0; i < 2; i++) {
      const keyring: KeyringKeyProvider = new KeyringKeyProvider({
        vaults: () => [vault],
        recipients: async () => [oldKey],
        holders: async () => [oldKey],
        clock,
      });
      const sealed = await new Envelope(keyring).seal(Buffer.from(`doc ${i}`), `ad ${i}`);
      await withKeyDocuments(vault, keyring).put(`index/${i}`, sealed);
    }
    const newKey = await recipientOf(join(dir, 'new.key'), { create: true });
    await rotateKeys([vault], { holders: [oldKey], to: newKey });
    const listing = await describeKeyring([vault]);
    expect(listing).toContain(`local-aes-256-gcm ${oldKey.keyId}`);
    expect(listing).toContain(`local-aes-256-gcm ${newKey.keyId}`);
    expect(listing.split('\n').filter((l) => l.includes('vault-use1'))).toHaveLength(2);
  });
});
