// Object Lock and storage classes on the S3 vault adapter, against a mocked S3Client: the embedded
// emulator accepts the lock headers but enforces nothing, so these tests pin the exact requests
// (what S3 itself would enforce is AWS's behaviour, not tested here).
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { s3PutParameters, UPLOAD_PART_SIZE_BYTES } from '#adapters/s3/upload.ts';
import { S3VaultStore } from '#adapters/s3/vault-store.ts';
import { NotFoundError, ValidationError } from '#domain/errors.ts';
import { VaultLayout } from '#domain/vault.ts';

const s3 = mockClient(S3Client);
const PACK = VaultLayout.packKey(`ab${'c'.repeat(62)}`);
const UNTIL = '2027-01-01T00:00:00.000Z';
const vault = () => new S3VaultStore(new S3Client({ region: 'us-east-1' }), 'us-east-1', 'vault');

function serviceError(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

beforeEach(() => {
  s3.reset();
});

describe('S3VaultStore.put with Object Lock and a storage class', () => {
  it.each(['GOVERNANCE', 'COMPLIANCE'] as const)(
    'sends one PutObject with mode %s, the retain-until date, the class and a SHA-256 checksum',
    async (mode) => {
      // Prepare
      s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
      // Act
      await vault().put(PACK, Buffer.from('sealed pack'), {
        lockMode: mode,
        retainUntil: UNTIL,
        storageClass: 'GLACIER_IR',
      });
      // Assess: S3 refuses lock parameters without Content-MD5 or an x-amz-checksum-*: SHA256 is sent.
      const calls = s3.commandCalls(PutObjectCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.args[0].input).toMatchObject({
        Bucket: 'vault',
        Key: PACK,
        ChecksumAlgorithm: 'SHA256',
        ObjectLockMode: mode,
        ObjectLockRetainUntilDate: new Date(UNTIL),
        StorageClass: 'GLACIER_IR',
      });
    },
  );

  it('sends no lock and no class without options, and leaves STANDARD implicit', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
    await vault().put(PACK, Buffer.from('a'));
    await vault().put(PACK, Buffer.from('b'), { storageClass: 'STANDARD' });
    for (const call of s3.commandCalls(PutObjectCommand)) {
      const input = call.args[0].input;
      expect(input.ChecksumAlgorithm).toBe('SHA256');
      expect(input).not.toHaveProperty('ObjectLockMode');
      expect(input).not.toHaveProperty('ObjectLockRetainUntilDate');
      expect(input).not.toHaveProperty('StorageClass');
    }
  });

  it('puts the lock headers and the class on CreateMultipartUpload, and a SHA-256 checksum on every upload part', async () => {
    // Prepare: a body one byte over a part: two parts
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    s3.on(UploadPartCommand).resolves({ ETag: '"p"', ChecksumSHA256: 'x' });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    // Act
    await vault().put(PACK, Buffer.alloc(UPLOAD_PART_SIZE_BYTES + 1), {
      lockMode: 'COMPLIANCE',
      retainUntil: UNTIL,
      storageClass: 'STANDARD_IA',
    });
    // Assess
    const create = s3.commandCalls(CreateMultipartUploadCommand);
    expect(create).toHaveLength(1);
    expect(create[0]?.args[0].input).toMatchObject({
      Key: PACK,
      ChecksumAlgorithm: 'SHA256',
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date(UNTIL),
      StorageClass: 'STANDARD_IA',
    });
    const parts = s3.commandCalls(UploadPartCommand);
    expect(parts).toHaveLength(2);
    for (const part of parts)
      expect(part.args[0].input).toMatchObject({ UploadId: 'u1', ChecksumAlgorithm: 'SHA256' });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('refuses a retain-until date without a mode, or one that is not a time (not retryable)', () => {
    expect(() => s3PutParameters({ retainUntil: UNTIL })).toThrow(ValidationError);
    expect(() => s3PutParameters({ retainUntil: 'soon', lockMode: 'GOVERNANCE' })).toThrow(ValidationError);
  });
});

describe('S3VaultStore.retainUntil', () => {
  it("reads HeadObject's ObjectLockRetainUntilDate", async () => {
    s3.on(HeadObjectCommand, { Bucket: 'vault', Key: PACK }).resolves({
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: new Date(UNTIL),
    });
    expect(await vault().retainUntil(PACK)).toBe(UNTIL);
  });

  it('is undefined for an object without retention (or a store without Object Lock)', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 3 });
    expect(await vault().retainUntil(PACK)).toBeUndefined();
  });

  it('throws NotFoundError for a missing key', async () => {
    s3.on(HeadObjectCommand).rejects(serviceError('NotFound', 404));
    await expect(vault().retainUntil(PACK)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('S3VaultStore.extendRetention', () => {
  it('sends PutObjectRetention with the later date, keeping the object’s mode', async () => {
    // Prepare: retained in GOVERNANCE until a month earlier
    s3.on(HeadObjectCommand).resolves({
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: new Date('2026-12-01T00:00:00Z'),
    });
    s3.on(PutObjectRetentionCommand).resolves({});
    // Act: asked in COMPLIANCE (another plan's lock)
    const moved = await vault().extendRetention(PACK, UNTIL, 'COMPLIANCE');
    // Assess: the mode stays GOVERNANCE (changing it needs a bypass no Strongbox role has)
    expect(moved).toBe(true);
    const calls = s3.commandCalls(PutObjectRetentionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      Bucket: 'vault',
      Key: PACK,
      Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(UNTIL) },
    });
    expect(calls[0]?.args[0].input).not.toHaveProperty('BypassGovernanceRetention');
  });

  it('keeps COMPLIANCE when asked in GOVERNANCE', async () => {
    s3.on(HeadObjectCommand).resolves({
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date('2026-12-01T00:00:00Z'),
    });
    s3.on(PutObjectRetentionCommand).resolves({});
    await vault().extendRetention(PACK, UNTIL, 'GOVERNANCE');
    expect(s3.commandCalls(PutObjectRetentionCommand)[0]?.args[0].input.Retention).toEqual({
      Mode: 'COMPLIANCE',
      RetainUntilDate: new Date(UNTIL),
    });
  });

  it('uses the given mode for an object without retention', async () => {
    s3.on(HeadObjectCommand).resolves({});
    s3.on(PutObjectRetentionCommand).resolves({});
    expect(await vault().extendRetention(PACK, UNTIL, 'COMPLIANCE')).toBe(true);
    expect(s3.commandCalls(PutObjectRetentionCommand)[0]?.args[0].input.Retention?.Mode).toBe('COMPLIANCE');
  });

  it.each([
    ['later', '2027-06-01T00:00:00.000Z'],
    ['the same', UNTIL],
  ])('never sends an earlier date: nothing when the object is retained until %s', async (_, current) => {
    s3.on(HeadObjectCommand).resolves({
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date(current),
    });
    s3.on(PutObjectRetentionCommand).resolves({});
    expect(await vault().extendRetention(PACK, UNTIL, 'COMPLIANCE')).toBe(false);
    expect(s3.commandCalls(PutObjectRetentionCommand)).toHaveLength(0);
  });

  it('maps S3 errors: a missing key is NotFoundError, throttling is retryable', async () => {
    s3.on(HeadObjectCommand).rejects(serviceError('NotFound', 404));
    await expect(vault().extendRetention(PACK, UNTIL, 'GOVERNANCE')).rejects.toBeInstanceOf(NotFoundError);
    s3.reset();
    s3.on(HeadObjectCommand).resolves({});
    s3.on(PutObjectRetentionCommand).rejects(serviceError('SlowDown', 503));
    await expect(vault().extendRetention(PACK, UNTIL, 'GOVERNANCE')).rejects.toMatchObject({
      retryable: true,
    });
  });

  it('refuses a date that is not ISO-8601 before any request', async () => {
    await expect(vault().extendRetention(PACK, 'tomorrow', 'GOVERNANCE')).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(s3.calls()).toHaveLength(0);
  });
});
