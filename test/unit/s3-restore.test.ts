// The S3 side of restores, against a mocked S3Client (the emulator has no archive storage classes):
// HeadObject for the target's attributes and a pack's storage class, RestoreObject with the tier.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '#adapters/s3/object-store.ts';
import { restoreStateOf, S3VaultStore } from '#adapters/s3/vault-store.ts';
import { NotFoundError, TransientError } from '#domain/errors.ts';
import { CHUNK_SIZE_BYTES, VaultLayout } from '#domain/vault.ts';

const s3 = mockClient(S3Client);
/** A pack key: archived storage is per pack. */
const PACK = VaultLayout.packKey(`ab${'c'.repeat(62)}`);
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

describe('S3VaultStore archive capability', () => {
  it.each([
    [undefined, 'none'],
    ['ongoing-request="true"', 'ongoing'],
    ['ongoing-request="false", expiry-date="Fri, 23 Dec 2026 00:00:00 GMT"', 'ready'],
  ] as const)('reads the Restore header %s as %s', (header, state) => {
    expect(restoreStateOf(header)).toBe(state);
  });

  it('reports the storage class and restore state from HeadObject', async () => {
    // Prepare
    s3.on(HeadObjectCommand, { Bucket: 'vault', Key: PACK }).resolves({
      StorageClass: 'DEEP_ARCHIVE',
      Restore: 'ongoing-request="true"',
    });
    // Act
    const state = await vault().storageStateOf(PACK);
    // Assess
    expect(state).toEqual({ storageClass: 'DEEP_ARCHIVE', restore: 'ongoing' });
  });

  it('takes an object without a StorageClass for STANDARD', async () => {
    s3.on(HeadObjectCommand).resolves({});
    expect(await vault().storageStateOf(PACK)).toEqual({
      storageClass: 'STANDARD',
      restore: 'none',
    });
  });

  it('sends RestoreObject with the days and the tier', async () => {
    // Prepare
    s3.on(RestoreObjectCommand).resolves({});
    // Act
    await vault().requestRestore(PACK, 'Bulk', 5);
    // Assess
    const calls = s3.commandCalls(RestoreObjectCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      Bucket: 'vault',
      Key: PACK,
      RestoreRequest: { Days: 5, GlacierJobParameters: { Tier: 'Bulk' } },
    });
  });

  it('takes RestoreAlreadyInProgress for success', async () => {
    s3.on(RestoreObjectCommand).rejects(serviceError('RestoreAlreadyInProgress', 409));
    await expect(vault().requestRestore(PACK, 'Standard', 1)).resolves.toBeUndefined();
  });

  it('fails without retry on an object that is not archived', async () => {
    s3.on(RestoreObjectCommand).rejects(serviceError('InvalidObjectState', 403));
    await expect(vault().requestRestore(PACK, 'Standard', 1)).rejects.toMatchObject({
      retryable: false,
    });
  });

  it('reports a missing pack as NotFoundError', async () => {
    s3.on(HeadObjectCommand).rejects(
      new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'NotFound' }),
    );
    await expect(vault().storageStateOf(PACK)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('S3ObjectStore.head', () => {
  const store = () => new S3ObjectStore(new S3Client({ region: 'us-east-1' }));

  it('returns size, unquoted ETag and metadata', async () => {
    // Prepare
    s3.on(HeadObjectCommand, { Bucket: 'target', Key: 'a.txt' }).resolves({
      ContentLength: 12,
      ETag: '"abc-2"',
      Metadata: { origin: 'test' },
    });
    // Act
    const head = await store().head('target', 'a.txt');
    // Assess
    expect(head).toEqual({ sizeBytes: 12, etag: 'abc-2', metadata: { origin: 'test' } });
  });

  it('returns undefined for a missing key', async () => {
    s3.on(HeadObjectCommand).rejects(
      new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'NotFound' }),
    );
    expect(await store().head('target', 'a.txt')).toBeUndefined();
  });

  it('throws a retryable error on throttling', async () => {
    s3.on(HeadObjectCommand).rejects(serviceError('SlowDown', 503));
    await expect(store().head('target', 'a.txt')).rejects.toMatchObject({ retryable: true });
  });
});

describe('S3ObjectStore conditional writes (If-None-Match: *) on the SDK path', () => {
  const store = () => new S3ObjectStore(new S3Client({ region: 'us-east-1' }));
  /** A stream of two chunks: a multipart upload of two parts. */
  async function* twoChunks() {
    yield Buffer.alloc(CHUNK_SIZE_BYTES, 1);
    yield Buffer.alloc(10, 2);
  }
  function multipartAnswers(): void {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-1' });
    s3.on(UploadPartCommand).resolves({ ETag: '"p"' });
    s3.on(AbortMultipartUploadCommand).resolves({});
  }

  it('sends IfNoneMatch on the PutObject of a conditional write, and not otherwise', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
    // Act
    const conditional = await store().put('target', 'a', Buffer.from('x'), {}, { ifNoneMatch: true });
    await store().put('target', 'b', Buffer.from('x'), {});
    // Assess
    expect(conditional).toBe('written');
    const inputs = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({ Bucket: 'target', Key: 'a', IfNoneMatch: '*' });
    expect(inputs[1]).not.toHaveProperty('IfNoneMatch');
  });

  it("takes the PutObject's 412 PreconditionFailed for 'exists'", async () => {
    s3.on(PutObjectCommand).rejects(serviceError('PreconditionFailed', 412));
    expect(await store().put('target', 'a', Buffer.from('x'), {}, { ifNoneMatch: true })).toBe('exists');
  });

  it('fails an unconditional PutObject that S3 answers 412, as before', async () => {
    s3.on(PutObjectCommand).rejects(serviceError('PreconditionFailed', 412));
    await expect(store().put('target', 'a', Buffer.from('x'), {})).rejects.toMatchObject({
      retryable: false,
    });
  });

  it('puts the condition on the CompleteMultipartUpload of a streamed upload; a 412 there is exists and aborts the upload', async () => {
    // Prepare
    multipartAnswers();
    s3.on(CompleteMultipartUploadCommand).rejects(serviceError('PreconditionFailed', 412));
    // Act
    const outcome = await store().putStream('target', 'big.bin', twoChunks(), {}, { ifNoneMatch: true });
    // Assess
    expect(outcome).toBe('exists');
    const complete = s3.commandCalls(CompleteMultipartUploadCommand);
    expect(complete).toHaveLength(1);
    expect(complete[0]?.args[0].input).toMatchObject({ Key: 'big.bin', UploadId: 'u-1', IfNoneMatch: '*' });
    expect(s3.commandCalls(UploadPartCommand)).toHaveLength(2);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
  });

  it('reports a 409 ConditionalRequestConflict on completion as a retryable TransientError', async () => {
    // Prepare: another write of the key was under way (S3: re-initiate the whole upload)
    multipartAnswers();
    s3.on(CompleteMultipartUploadCommand).rejects(serviceError('ConditionalRequestConflict', 409));
    // Act
    const writing = store().putStream('target', 'big.bin', twoChunks(), {}, { ifNoneMatch: true });
    // Assess
    await expect(writing).rejects.toBeInstanceOf(TransientError);
    await expect(writing).rejects.toMatchObject({ retryable: true });
  });
});
