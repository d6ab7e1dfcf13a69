// KMS data keys bound to the vault (docs/format.md#keyring): new key documents record the
// EncryptionContext { "strongbox:vault": name } their KMS wrap is bound to; key documents and
// envelopes written before it hold wraps without one, and still open.
import { randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { KmsKeyProvider, KmsRecipient } from '#adapters/key-providers.ts';
import { Envelope } from '#domain/envelope.ts';
import {
  KeyringKeyProvider,
  keyDocumentKey,
  listKeyDocuments,
  parseKeyDocument,
  serializeKeyDocument,
  withKeyDocuments,
} from '#domain/keyring.ts';
import { loadConfig } from '#runtime/config.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
const CONTEXT = { 'strongbox:vault': 'strongbox-prod' };

describe('KMS data keys bound to the vault', () => {
  const kms = mockClient(KMSClient);
  afterEach(() => kms.reset());

  it('reads the vault name from STRONGBOX_VAULT_NAME', () => {
    const config = loadConfig({
      STRONGBOX_PRIMARY_REGION: 'us-east-1',
      STRONGBOX_STATE_TABLE: 'strongbox-state',
      STRONGBOX_VAULT_BUCKET: 'strongbox-vault-use1',
      STRONGBOX_KMS_KEY_ID: KEY,
      STRONGBOX_VAULT_NAME: 'strongbox-prod',
      STRONGBOX_SNAPSHOT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/snapshot',
      STRONGBOX_COPY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/copy',
      STRONGBOX_VERIFY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/verify',
      STRONGBOX_PRUNE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/prune',
    });
    expect(config.vaultName).toBe('strongbox-prod');
  });

  it('generates with the context, records it in the key document, unwraps with it; an older entry without', async () => {
    // Prepare: KMS hands out one data key; a keyring over a KMS recipient bound to the vault.
    const plaintext = randomBytes(32);
    const blob = randomBytes(184);
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: blob });
    kms.on(DecryptCommand).resolves({ Plaintext: plaintext });
    const clock = new ManualClock('2026-12-06T00:00:00Z');
    const vault = new MemoryVaultStore('us-east-1', 'vault', clock);
    const recipient = new KmsRecipient(new KMSClient({ region: 'us-east-1' }), KEY, [], CONTEXT);
    const keyring = (): KeyringKeyProvider =>
      new KeyringKeyProvider({
        vaults: () => [vault],
        recipients: async () => [recipient],
        holders: async () => [recipient],
        clock,
      });
    const writer = keyring();
    const sealed = await new Envelope(writer).seal(Buffer.from('an index document'), 'ad');
    await withKeyDocuments(vault, writer).put('index/x', sealed);

    // Assess: GenerateDataKey and the key document carry the context; another process's Decrypt too.
    expect(kms.commandCalls(GenerateDataKeyCommand)[0]?.args[0].input.EncryptionContext).toEqual(CONTEXT);
    const [id] = await listKeyDocuments(vault);
    const doc = parseKeyDocument(await vault.get(keyDocumentKey(id as string)), id as string);
    expect(doc.recipients).toEqual([
      { kind: 'aws-kms', keyId: KEY, wrapped: blob.toString('base64'), encryptionContext: CONTEXT },
    ]);
    expect((await new Envelope(keyring()).open(sealed, 'ad')).toString()).toBe('an index document');
    expect(kms.commandCalls(DecryptCommand)[0]?.args[0].input.EncryptionContext).toEqual(CONTEXT);

    // A key document written before contexts (no encryptionContext): Decrypt without one.
    const [entry] = doc.recipients;
    const { encryptionContext: _, ...old } = entry as NonNullable<typeof entry>;
    await vault.put(keyDocumentKey(id as string), serializeKeyDocument({ ...doc, recipients: [old] }));
    expect((await new Envelope(keyring()).open(sealed, 'ad')).toString()).toBe('an index document');
    expect(kms.commandCalls(DecryptCommand)[1]?.args[0].input.EncryptionContext).toBeUndefined();
  });

  it('opens an envelope written before the keyring (a direct KMS wrap, no context) through the legacy provider', async () => {
    const plaintext = randomBytes(32);
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: randomBytes(184) });
    kms.on(DecryptCommand).resolves({ Plaintext: plaintext });
    const legacy = new KmsKeyProvider(new KMSClient({ region: 'us-east-1' }), KEY);
    const sealed = await new Envelope(legacy).seal(Buffer.from('old'), 'ad');
    const recipient = new KmsRecipient(new KMSClient({ region: 'us-east-1' }), KEY, [], CONTEXT);
    const clock = new ManualClock('2026-12-06T00:00:00Z');
    const keyring = new KeyringKeyProvider({
      vaults: () => [],
      recipients: async () => [recipient],
      holders: async () => [recipient],
      legacy,
      clock,
    });
    expect((await new Envelope(keyring).open(sealed, 'ad')).toString()).toBe('old');
    expect(kms.commandCalls(GenerateDataKeyCommand)[0]?.args[0].input.EncryptionContext).toBeUndefined();
    expect(kms.commandCalls(DecryptCommand)[0]?.args[0].input.EncryptionContext).toBeUndefined();
  });
});
