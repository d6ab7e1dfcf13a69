import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecryptCommand,
  DisabledException,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  KMSInternalException,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsKeyProvider, localKeyFileProvider, replicaKeyArn } from '#adapters/key-providers.ts';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { Envelope } from '#domain/envelope.ts';
import { IntegrityError, StrongboxError, TransientError, ValidationError } from '#domain/errors.ts';
import { loadConfig } from '#runtime/config.ts';
import { createContainer } from '#runtime/container.ts';
import { validationErrorOf } from '../support/errors.ts';

const minimalEnv = {
  STRONGBOX_PRIMARY_REGION: 'us-east-1',
  STRONGBOX_STATE_TABLE: 'strongbox-state',
  STRONGBOX_VAULT_BUCKET: 'strongbox-vault-use1',
  STRONGBOX_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  STRONGBOX_SNAPSHOT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/snapshot',
  STRONGBOX_COPY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/copy',
  STRONGBOX_VERIFY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/verify',
  STRONGBOX_PRUNE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/prune',
};

describe('loadConfig', () => {
  it('reads a minimal environment, with defaults', () => {
    const config = loadConfig(minimalEnv);
    expect(config).toEqual({
      primaryRegion: 'us-east-1',
      stateTable: 'strongbox-state',
      vaultBucket: 'strongbox-vault-use1',
      copyVaults: new Map(),
      kmsKeyId: minimalEnv.STRONGBOX_KMS_KEY_ID,
      queueUrls: {
        snapshot: minimalEnv.STRONGBOX_SNAPSHOT_QUEUE_URL,
        copy: minimalEnv.STRONGBOX_COPY_QUEUE_URL,
        verify: minimalEnv.STRONGBOX_VERIFY_QUEUE_URL,
        prune: minimalEnv.STRONGBOX_PRUNE_QUEUE_URL,
      },
      concurrency: 16,
      gcGraceSeconds: 86_400,
      gcIntervalSeconds: 0,
      streamTimePrecisionSeconds: 10,
      gcMaxUnusedPercent: 5,
      gcSmallPackBytes: 1024 * 1024,
      gcConsolidateMinPacks: 256,
      gcConsolidateMaxPacks: 100_000,
      timeReserveSeconds: 120,
      resumableObjectBytes: 1024 ** 3,
      indexMemoryBlobs: 1_000_000,
      sdkMaxAttempts: 8,
      s3ObjectClient: 'http',
      maxReceiveCount: 3,
      reaper: { heartbeatSeconds: 30, staleSeconds: 180, maxRedrives: 3 },
      endpoints: { s3: new Map() },
    });
  });

  it.each(Object.keys(minimalEnv).filter((k) => k !== 'STRONGBOX_KMS_KEY_ID'))(
    'names the missing variable %s',
    (name) => {
      const env: Record<string, string | undefined> = { ...minimalEnv };
      delete env[name];
      const error = validationErrorOf(() => loadConfig(env));
      expect(error.field).toBe(name);
      expect(error.message).toBe(`${name}: missing environment variable`);
    },
  );

  it('names an invalid variable with what is wrong', () => {
    const error = validationErrorOf(() =>
      loadConfig({ ...minimalEnv, STRONGBOX_PRIMARY_REGION: 'Virginia' }),
    );
    expect(error.field).toBe('STRONGBOX_PRIMARY_REGION');
    expect(error.message).toMatch(/not an AWS region name/);
  });

  it('refuses a queue URL that is not a URL', () => {
    const error = validationErrorOf(() =>
      loadConfig({ ...minimalEnv, STRONGBOX_COPY_QUEUE_URL: 'copy-queue' }),
    );
    expect(error.field).toBe('STRONGBOX_COPY_QUEUE_URL');
  });

  it('reads the restore queue and the fan-out settings of large restores', () => {
    const config = loadConfig({
      ...minimalEnv,
      STRONGBOX_RESTORE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/restore',
      STRONGBOX_RESTORE_FANOUT_THRESHOLD: '2000',
      STRONGBOX_RESTORE_SLICE_SIZE: '250',
    });
    expect(config.queueUrls.restore).toBe('https://sqs.us-east-1.amazonaws.com/111122223333/restore');
    expect(config.restoreFanOutThreshold).toBe(2000);
    expect(config.restoreSliceSize).toBe(250);
    expect(() => loadConfig({ ...minimalEnv, STRONGBOX_RESTORE_SLICE_SIZE: '0' })).toThrow(
      expect.objectContaining({ field: 'STRONGBOX_RESTORE_SLICE_SIZE' }),
    );
    expect(loadConfig(minimalEnv).restoreSliceSize).toBeUndefined();
  });

  it('reads the bytes per restore slice (STRONGBOX_RESTORE_SLICE_BYTES), unset by default', () => {
    expect(loadConfig({ ...minimalEnv, STRONGBOX_RESTORE_SLICE_BYTES: '1073741824' }).restoreSliceBytes).toBe(
      1073741824,
    );
    expect(loadConfig(minimalEnv).restoreSliceBytes).toBeUndefined();
    expect(() => loadConfig({ ...minimalEnv, STRONGBOX_RESTORE_SLICE_BYTES: '0' })).toThrow(
      expect.objectContaining({ field: 'STRONGBOX_RESTORE_SLICE_BYTES' }),
    );
  });

  it('reads the blobs a vault index holds in memory before it spills to local disk (STRONGBOX_INDEX_MEMORY_BLOBS)', () => {
    const config = loadConfig({ ...minimalEnv, STRONGBOX_INDEX_MEMORY_BLOBS: '0' });
    expect(config.indexMemoryBlobs).toBe(0);
    const { pipeline } = createContainer(config);
    expect(pipeline.indexMemoryBlobs).toBe(0);
    expect(pipeline.scratch).toBeInstanceOf(DiskScratchSpace);
    expect(() => loadConfig({ ...minimalEnv, STRONGBOX_INDEX_MEMORY_BLOBS: '-1' })).toThrow(
      expect.objectContaining({ field: 'STRONGBOX_INDEX_MEMORY_BLOBS' }),
    );
  });

  it('reads the size from which one object can pause (STRONGBOX_RESUMABLE_OBJECT_BYTES), at least one chunk', () => {
    const config = loadConfig({ ...minimalEnv, STRONGBOX_RESUMABLE_OBJECT_BYTES: '16777216' });
    expect(config.resumableObjectBytes).toBe(16 * 1024 * 1024);
    expect(createContainer(config).pipeline.resumableObjectBytes).toBe(16 * 1024 * 1024);
    expect(() => loadConfig({ ...minimalEnv, STRONGBOX_RESUMABLE_OBJECT_BYTES: '1000' })).toThrow(
      expect.objectContaining({ field: 'STRONGBOX_RESUMABLE_OBJECT_BYTES' }),
    );
  });

  it('still reads the slice size under its deprecated name STRONGBOX_RESTORE_PART_SIZE, unless the new one is set', () => {
    expect(loadConfig({ ...minimalEnv, STRONGBOX_RESTORE_PART_SIZE: '300' }).restoreSliceSize).toBe(300);
    const both = { ...minimalEnv, STRONGBOX_RESTORE_SLICE_SIZE: '250', STRONGBOX_RESTORE_PART_SIZE: '300' };
    expect(loadConfig(both).restoreSliceSize).toBe(250);
    expect(() => loadConfig({ ...minimalEnv, STRONGBOX_RESTORE_PART_SIZE: '0' })).toThrow(
      expect.objectContaining({ field: 'STRONGBOX_RESTORE_PART_SIZE' }),
    );
  });

  it('reads copy vaults as region=bucket pairs', () => {
    const config = loadConfig({
      ...minimalEnv,
      STRONGBOX_COPY_VAULTS: 'eu-west-1=bucket-a, ap-south-1=bucket-b',
    });
    expect(config.copyVaults).toEqual(
      new Map([
        ['eu-west-1', 'bucket-a'],
        ['ap-south-1', 'bucket-b'],
      ]),
    );
  });

  it('reads an empty copy vaults variable as no copy vault', () => {
    expect(loadConfig({ ...minimalEnv, STRONGBOX_COPY_VAULTS: '' }).copyVaults.size).toBe(0);
    expect(loadConfig({ ...minimalEnv, STRONGBOX_COPY_VAULTS: ' , ' }).copyVaults.size).toBe(0);
  });

  it.each([
    ['a region without a bucket', 'eu-west-1', "'eu-west-1' is not region=value"],
    ['an empty bucket', 'eu-west-1=', "'eu-west-1=' is not region=value"],
    ['a bucket without a region', '=bucket-a', "'=bucket-a' is not region=value"],
    ['a name that is not a region', 'europe=bucket-a', "'europe=bucket-a' is not region=value"],
    ['a bad second entry', 'eu-west-1=bucket-a,ap-south=bucket-b', "'ap-south=bucket-b' is not region=value"],
  ])('refuses copy vaults with %s', (_name, value, message) => {
    const error = validationErrorOf(() => loadConfig({ ...minimalEnv, STRONGBOX_COPY_VAULTS: value }));
    expect(error.field).toBe('STRONGBOX_COPY_VAULTS');
    expect(error.message).toContain(message);
  });

  it('refuses an environment with neither a KMS key nor a local key file', () => {
    const { STRONGBOX_KMS_KEY_ID: _k, ...env } = minimalEnv;
    const error = validationErrorOf(() => loadConfig(env));
    expect(error.field).toBe('STRONGBOX_KMS_KEY_ID');
    expect(error.message).toMatch(/STRONGBOX_LOCAL_KEY_FILE/);
  });

  it('treats a blank KMS key id as unset', () => {
    expect(() => loadConfig({ ...minimalEnv, STRONGBOX_KMS_KEY_ID: '   ' })).toThrow(ValidationError);
  });

  it('accepts a local key file instead of a KMS key', () => {
    const { STRONGBOX_KMS_KEY_ID: _k, ...env } = minimalEnv;
    const config = loadConfig({ ...env, STRONGBOX_LOCAL_KEY_FILE: ' /tmp/strongbox/master.key ' });
    expect(config.localKeyFile).toBe('/tmp/strongbox/master.key');
    expect(config).not.toHaveProperty('kmsKeyId');
  });

  it('reads the endpoints: S3 per region, SQS and DynamoDB', () => {
    const config = loadConfig({
      ...minimalEnv,
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4566',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:4567',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000',
      STRONGBOX_REGION_ENDPOINTS: 'eu-west-1=http://127.0.0.1:4577',
    });
    expect(config.endpoints).toEqual({
      s3: new Map([
        ['eu-west-1', 'http://127.0.0.1:4577'],
        ['us-east-1', 'http://127.0.0.1:4566'],
      ]),
      sqs: 'http://127.0.0.1:4567',
      dynamodb: 'http://127.0.0.1:8000',
    });
  });

  it('refuses an endpoint that is not a URL', () => {
    const error = validationErrorOf(() => loadConfig({ ...minimalEnv, AWS_ENDPOINT_URL_SQS: 'localhost' }));
    expect(error.field).toBe('AWS_ENDPOINT_URL_SQS');
  });

  it('reads the DLQ URL, concurrency, grace period, GC interval and log level', () => {
    const config = loadConfig({
      ...minimalEnv,
      STRONGBOX_DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/dlq',
      STRONGBOX_CONCURRENCY: '32',
      STRONGBOX_GC_GRACE_SECONDS: '0',
      STRONGBOX_GC_INTERVAL_SECONDS: '21600',
      STRONGBOX_GC_MAX_UNUSED_PERCENT: '12.5',
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
    });
    expect(config).toMatchObject({
      dlqUrl: 'https://sqs.us-east-1.amazonaws.com/111122223333/dlq',
      concurrency: 32,
      gcGraceSeconds: 0,
      gcIntervalSeconds: 21600,
      gcMaxUnusedPercent: 12.5,
      logLevel: 'DEBUG',
    });
  });

  it.each(['0', '257', '2.5', 'many'])('refuses a concurrency of %s', (value) => {
    const error = validationErrorOf(() => loadConfig({ ...minimalEnv, STRONGBOX_CONCURRENCY: value }));
    expect(error.field).toBe('STRONGBOX_CONCURRENCY');
  });

  it('treats a blank DLQ URL as no DLQ', () => {
    expect(loadConfig({ ...minimalEnv, STRONGBOX_DLQ_URL: '' })).not.toHaveProperty('dlqUrl');
  });
});

describe('KmsKeyProvider', () => {
  const kms = mockClient(KMSClient);
  const keyId = minimalEnv.STRONGBOX_KMS_KEY_ID;
  const metadata = { $metadata: {} };

  beforeEach(() => {
    kms.reset();
  });

  function provider(): KmsKeyProvider {
    return new KmsKeyProvider(new KMSClient({ region: 'us-east-1' }), keyId);
  }

  it('asks KMS for a 256-bit data key under its key', async () => {
    // Prepare
    const plaintext = randomBytes(32);
    const wrapped = randomBytes(184);
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: wrapped, KeyId: keyId });
    // Act
    const key = await provider().generateDataKey();
    // Assess
    expect(kms.commandCalls(GenerateDataKeyCommand)).toHaveLength(1);
    expect(kms.commandCalls(GenerateDataKeyCommand)[0]?.args[0].input).toEqual({
      KeyId: keyId,
      KeySpec: 'AES_256',
    });
    expect(Buffer.from(key.plaintext).equals(plaintext)).toBe(true);
    expect(Buffer.from(key.wrapped).equals(wrapped)).toBe(true);
  });

  it('asks KMS to decrypt the wrapped key with its key id', async () => {
    const plaintext = randomBytes(32);
    const wrapped = randomBytes(184);
    kms.on(DecryptCommand).resolves({ Plaintext: plaintext, KeyId: keyId });
    const key = await provider().unwrapDataKey(wrapped);
    expect(kms.commandCalls(DecryptCommand)[0]?.args[0].input).toEqual({
      CiphertextBlob: wrapped,
      KeyId: keyId,
    });
    expect(Buffer.from(key).equals(plaintext)).toBe(true);
  });

  it('serves an Envelope: seal and open through KMS, one GenerateDataKey and one Decrypt', async () => {
    // Prepare
    const plaintext = randomBytes(32);
    const wrapped = randomBytes(184);
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: wrapped });
    kms.on(DecryptCommand).callsFake((input: { CiphertextBlob: Uint8Array }) => {
      if (!Buffer.from(input.CiphertextBlob).equals(wrapped))
        throw new InvalidCiphertextException({ message: 'bad', ...metadata });
      return { Plaintext: plaintext };
    });
    const envelope = new Envelope(provider());
    // Act
    const sealed = await Promise.all([
      envelope.seal(Buffer.from('one'), 'ad'),
      envelope.seal(Buffer.from('two'), 'ad'),
    ]);
    const opened = await Promise.all(sealed.map((s) => new Envelope(provider()).open(s, 'ad')));
    // Assess
    expect(opened.map((b) => b.toString())).toEqual(['one', 'two']);
    expect(kms.commandCalls(GenerateDataKeyCommand)).toHaveLength(1);
  });

  it.each([
    ['InvalidCiphertextException', () => new InvalidCiphertextException({ message: 'invalid', ...metadata })],
    ['IncorrectKeyException', () => new IncorrectKeyException({ message: 'incorrect', ...metadata })],
  ])('turns %s into an IntegrityError, not retryable', async (name, error) => {
    kms.on(DecryptCommand).rejects(error());
    const failure = await provider()
      .unwrapDataKey(randomBytes(184))
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(IntegrityError);
    expect((failure as IntegrityError).retryable).toBe(false);
    expect((failure as IntegrityError).message).toBe(`KMS Decrypt: ${name}`);
    expect((failure as IntegrityError).cause).toBeInstanceOf(Error);
  });

  it('makes a throttled GenerateDataKey retryable', async () => {
    kms
      .on(GenerateDataKeyCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const failure = await provider()
      .generateDataKey()
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as TransientError).retryable).toBe(true);
    expect((failure as TransientError).message).toBe('KMS GenerateDataKey: ThrottlingException');
  });

  describe('with replicas of a multi-Region key', () => {
    const primary = 'arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
    const replica = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
    const withReplica = () =>
      new KmsKeyProvider(new KMSClient({ region: 'us-east-1' }), primary, [
        { client: new KMSClient({ region: 'eu-west-1' }), keyId: replica },
      ]);
    /** KMS where the primary region answers `primaryAnswer` and the replica unwraps. */
    const kmsWherePrimary = (primaryAnswer: () => never, plaintext: Buffer) =>
      kms.on(DecryptCommand).callsFake((input: { KeyId: string }) => {
        if (input.KeyId === primary) primaryAnswer();
        return { Plaintext: plaintext, KeyId: replica };
      });

    it('names the replica in another region by the same key id, and no replica of a single-Region key', () => {
      expect(replicaKeyArn(primary, 'eu-west-1')).toBe(replica);
      expect(
        replicaKeyArn(
          'arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
          'cn-northwest-1',
        ),
      ).toBe('arn:aws-cn:kms:cn-northwest-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef');
      expect(replicaKeyArn(keyId, 'eu-west-1')).toBeUndefined();
    });

    it.each([
      ['unavailable', () => new KMSInternalException({ message: 'region down', ...metadata })],
      ['refused', () => Object.assign(new Error('denied'), { name: 'AccessDeniedException' })],
    ])('unwraps through the replica when the primary region is %s', async (_, error) => {
      const plaintext = randomBytes(32);
      kmsWherePrimary(() => {
        throw error();
      }, plaintext);
      const key = await withReplica().unwrapDataKey(randomBytes(184));
      expect(Buffer.from(key).equals(plaintext)).toBe(true);
      expect(kms.commandCalls(DecryptCommand).map((c) => c.args[0].input.KeyId)).toEqual([primary, replica]);
    });

    it('asks no replica about a key the primary says does not unwrap', async () => {
      kmsWherePrimary(() => {
        throw new InvalidCiphertextException({ message: 'invalid', ...metadata });
      }, randomBytes(32));
      await expect(withReplica().unwrapDataKey(randomBytes(184))).rejects.toBeInstanceOf(IntegrityError);
      expect(kms.commandCalls(DecryptCommand)).toHaveLength(1);
    });

    it("throws the primary's error, retryable, when every region fails", async () => {
      kms.on(DecryptCommand).callsFake((input: { KeyId: string }) => {
        throw input.KeyId === primary
          ? new KMSInternalException({ message: 'region down', ...metadata })
          : Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
      });
      const failure = (await withReplica()
        .unwrapDataKey(randomBytes(184))
        .catch((e: unknown) => e)) as StrongboxError;
      expect(failure.message).toBe('KMS Decrypt: KMSInternalException');
      expect(failure.retryable).toBe(true);
      expect(kms.commandCalls(DecryptCommand)).toHaveLength(2);
    });

    it("is what a container with copy vaults opens documents written before the keyring with: the copy regions' replicas", async () => {
      const plaintext = randomBytes(32);
      const wrapped = randomBytes(184);
      kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: wrapped });
      kmsWherePrimary(() => {
        throw new KMSInternalException({ message: 'region down', ...metadata });
      }, plaintext);
      const config = loadConfig({
        ...minimalEnv,
        STRONGBOX_KMS_KEY_ID: primary,
        STRONGBOX_COPY_VAULTS: 'eu-west-1=vault-euw1',
      });
      // An envelope holding the KMS wrap itself (docs/format.md#keyring: the legacy provider opens it).
      const direct = new KmsKeyProvider(new KMSClient({ region: 'us-east-1' }), primary);
      const sealed = await new Envelope(direct).seal(Buffer.from('root'), 'ad');
      const opened = await createContainer(config).pipeline.envelope.open(sealed, 'ad');
      expect(opened.toString()).toBe('root');
      expect(kms.commandCalls(DecryptCommand).map((c) => c.args[0].input.KeyId)).toEqual([primary, replica]);
    });
  });

  it('makes a KMS internal error retryable', async () => {
    kms.on(DecryptCommand).rejects(new KMSInternalException({ message: 'oops', ...metadata }));
    const failure = await provider()
      .unwrapDataKey(randomBytes(184))
      .catch((e: unknown) => e);
    expect((failure as StrongboxError).retryable).toBe(true);
  });

  it.each([
    [
      'AccessDeniedException',
      () => Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }),
    ],
    ['DisabledException', () => new DisabledException({ message: 'disabled', ...metadata })],
  ])('makes %s not retryable', async (name, error) => {
    kms.on(GenerateDataKeyCommand).rejects(error());
    const failure = await provider()
      .generateDataKey()
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StrongboxError);
    expect(failure).not.toBeInstanceOf(TransientError);
    expect((failure as StrongboxError).retryable).toBe(false);
    expect((failure as StrongboxError).message).toBe(`KMS GenerateDataKey: ${name}`);
  });

  it('makes a GenerateDataKey answer without a key retryable', async () => {
    kms.on(GenerateDataKeyCommand).resolves({ CiphertextBlob: randomBytes(184) });
    await expect(provider().generateDataKey()).rejects.toBeInstanceOf(TransientError);
  });

  it('refuses a Decrypt answer without a plaintext as an integrity failure', async () => {
    kms.on(DecryptCommand).resolves({});
    await expect(provider().unwrapDataKey(randomBytes(184))).rejects.toBeInstanceOf(IntegrityError);
  });
});

describe('localKeyFileProvider', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strongbox-keys-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the key file, and its directory, with mode 0600 on first use', async () => {
    // Prepare
    const path = join(dir, 'nested', '.strongbox', 'master.key');
    // Act
    await localKeyFileProvider(path).generateDataKey();
    // Assess
    const info = await stat(path);
    expect(info.mode & 0o777).toBe(0o600);
    const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    expect(key).toHaveLength(32);
  });

  it('does not touch the file before it is used', async () => {
    const path = join(dir, 'master.key');
    localKeyFileProvider(path);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('lets a second provider on the same file unwrap the keys of the first', async () => {
    // Prepare
    const path = join(dir, 'master.key');
    const first = localKeyFileProvider(path);
    const key = await first.generateDataKey();
    // Act
    const unwrapped = await localKeyFileProvider(path).unwrapDataKey(key.wrapped);
    // Assess
    expect(Buffer.from(unwrapped).equals(Buffer.from(key.plaintext))).toBe(true);
  });

  it('keeps the key of an existing file', async () => {
    const path = join(dir, 'master.key');
    const master = randomBytes(32);
    await writeFile(path, `${master.toString('base64')}\n`, { mode: 0o600 });
    const key = await localKeyFileProvider(path).generateDataKey();
    expect(await readFile(path, 'utf8')).toBe(`${master.toString('base64')}\n`);
    const envelope = new Envelope(localKeyFileProvider(path));
    const sealed = await envelope.seal(Buffer.from('kept'), 'ad');
    expect((await new Envelope(localKeyFileProvider(path)).open(sealed, 'ad')).toString()).toBe('kept');
    expect(key.wrapped).toHaveLength(63);
  });

  it('cannot unwrap keys of a provider on another file', async () => {
    const key = await localKeyFileProvider(join(dir, 'a.key')).generateDataKey();
    const unwrapping = localKeyFileProvider(join(dir, 'b.key')).unwrapDataKey(key.wrapped);
    await expect(unwrapping).rejects.toBeInstanceOf(IntegrityError);
    await expect(unwrapping).rejects.toThrow(/b\.key/);
  });

  it('refuses a wrapped key that is not from a local master key', async () => {
    const unwrapping = localKeyFileProvider(join(dir, 'a.key')).unwrapDataKey(randomBytes(184));
    await expect(unwrapping).rejects.toBeInstanceOf(IntegrityError);
  });

  it('refuses a key file that does not hold a 256-bit key', async () => {
    const path = join(dir, 'short.key');
    await writeFile(path, `${randomBytes(16).toString('base64')}\n`);
    await expect(localKeyFileProvider(path).generateDataKey()).rejects.toThrow(/does not hold a 256-bit key/);
  });

  it('gives two providers racing to create the file the same key', async () => {
    const path = join(dir, 'race', 'master.key');
    const a = localKeyFileProvider(path);
    const b = localKeyFileProvider(path);
    const [key] = await Promise.all([a.generateDataKey(), b.generateDataKey()]);
    const unwrapped = await b.unwrapDataKey(key.wrapped);
    expect(Buffer.from(unwrapped).equals(Buffer.from(key.plaintext))).toBe(true);
  });
});
