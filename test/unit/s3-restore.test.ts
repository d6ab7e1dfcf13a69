// The S3 side of restores, against a mocked S3Client (the emulator has no archive storage classes):
// HeadObject for the target's attributes and a pack's storage class, RestoreObject with the tier.
import {
  HeadObjectCommand,
  NotFound,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { restoreStateOf, S3ObjectStore, S3VaultStore } from '#adapters/s3.ts';
import { NotFoundError } from '#domain/errors.ts';
import { VaultLayout } from '#domain/vault.ts';

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
