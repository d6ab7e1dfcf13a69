// Write-only keys' configuration and the KMS content key recipient (docs/format.md#keyring).
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { DecryptCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { KmsRsaRecipient } from '#adapters/key-providers.ts';
import { StrongboxError } from '#domain/errors.ts';
import { loadConfig } from '#runtime/config.ts';

const env = {
  STRONGBOX_PRIMARY_REGION: 'us-east-1',
  STRONGBOX_STATE_TABLE: 'strongbox-state',
  STRONGBOX_VAULT_BUCKET: 'strongbox-vault-use1',
  STRONGBOX_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  STRONGBOX_SNAPSHOT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/snapshot',
  STRONGBOX_COPY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/copy',
  STRONGBOX_VERIFY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/verify',
  STRONGBOX_PRUNE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/prune',
};
const CONTENT_KEY = 'arn:aws:kms:us-east-1:111122223333:key/0b1a2c3d-12ab-34cd-56ef-1234567890ab';

describe('the content key configuration', () => {
  it('is absent unless a content key is named, and unwraps only where STRONGBOX_CONTENT_KEY_UNWRAP says', () => {
    expect(loadConfig(env).contentKey).toBeUndefined();
    expect(loadConfig({ ...env, STRONGBOX_CONTENT_KEY_ID: CONTENT_KEY }).contentKey).toEqual({
      kmsKeyId: CONTENT_KEY,
      unwrap: false,
    });
    expect(
      loadConfig({
        ...env,
        STRONGBOX_CONTENT_PUBLIC_KEY_FILE: '/d/content.pub.pem',
        STRONGBOX_CONTENT_PRIVATE_KEY_FILE: '/d/content.key.pem',
        STRONGBOX_CONTENT_KEY_UNWRAP: 'true',
      }).contentKey,
    ).toEqual({ publicKeyFile: '/d/content.pub.pem', privateKeyFile: '/d/content.key.pem', unwrap: true });
  });
});

describe('KmsRsaRecipient', () => {
  const kms = mockClient(KMSClient);
  afterEach(() => kms.reset());
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('wraps with the public key GetPublicKey gives (once), in the RSAES_OAEP_SHA_256 form KMS decrypts', async () => {
    kms.on(GetPublicKeyCommand).resolves({ PublicKey: publicKey.export({ type: 'spki', format: 'der' }) });
    const recipient = new KmsRsaRecipient(new KMSClient({ region: 'us-east-1' }), CONTENT_KEY);
    const plaintext = randomBytes(32);
    const wrapped = await recipient.wrap(plaintext);
    await recipient.wrap(randomBytes(32));
    expect(kms.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
    const opened = privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      wrapped,
    );
    expect(opened).toEqual(plaintext);
  });

  it('unwraps with Decrypt naming the key and RSAES_OAEP_SHA_256; a denied Decrypt is not retryable', async () => {
    const plaintext = randomBytes(32);
    kms.on(DecryptCommand).resolvesOnce({ Plaintext: plaintext });
    const recipient = new KmsRsaRecipient(new KMSClient({ region: 'us-east-1' }), CONTENT_KEY);
    expect(Buffer.from(await recipient.unwrap(randomBytes(512)))).toEqual(plaintext);
    expect(kms.commandCalls(DecryptCommand)[0]?.args[0].input).toMatchObject({
      KeyId: CONTENT_KEY,
      EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
    });
    kms
      .on(DecryptCommand)
      .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const failure = await recipient.unwrap(randomBytes(512)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StrongboxError);
    expect((failure as StrongboxError).retryable).toBe(false);
  });

  it("asks the copy region's replica when the primary region's KMS cannot unwrap, and no replica when the key does not open", async () => {
    const primary = 'arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
    const replica = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
    const plaintext = randomBytes(32);
    kms
      .on(DecryptCommand, { KeyId: primary })
      .rejects(Object.assign(new Error('KMS is down'), { name: 'KMSInternalException' }));
    kms.on(DecryptCommand, { KeyId: replica }).resolves({ Plaintext: plaintext });
    const recipient = new KmsRsaRecipient(new KMSClient({ region: 'us-east-1' }), primary, undefined, [
      { client: new KMSClient({ region: 'eu-west-1' }), keyId: replica },
    ]);
    expect(Buffer.from(await recipient.unwrap(randomBytes(512)))).toEqual(plaintext);
    expect(kms.commandCalls(DecryptCommand).map((c) => c.args[0].input.KeyId)).toEqual([primary, replica]);
    // The key id in key documents stays the primary's ARN.
    expect(recipient.keyId).toBe(primary);

    kms.reset();
    kms
      .on(DecryptCommand)
      .rejects(Object.assign(new Error('bad ciphertext'), { name: 'InvalidCiphertextException' }));
    const failure = await recipient.unwrap(randomBytes(512)).catch((e: unknown) => e);
    expect((failure as Error).name).toBe('IntegrityError');
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(1);
  });
});
