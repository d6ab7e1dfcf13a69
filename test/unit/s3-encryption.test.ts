// What an S3 GetObject says of the object's encryption at rest, as FetchedObject.encryption: what the
// detector compares between a key's versions (docs/format.md#detector).
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '#adapters/s3/object-store.ts';
import { encryptionOf } from '#adapters/s3-http.ts';

const s3 = mockClient(S3Client);
const store = () => new S3ObjectStore(new S3Client({ region: 'us-east-1' }));
const body = () => ({ transformToByteArray: async () => Uint8Array.from([1, 2, 3]) });

beforeEach(() => {
  s3.reset();
});

describe('FetchedObject.encryption', () => {
  it('names the KMS key of an SSE-KMS object, and SSE-S3 as AES256', async () => {
    const arn = 'arn:aws:kms:us-east-1:999999999999:key/attacker';
    s3.on(GetObjectCommand, { Key: 'kms.bin' }).resolves({
      Body: body() as never,
      ETag: '"e1"',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: arn,
    });
    s3.on(GetObjectCommand, { Key: 's3.bin' }).resolves({
      Body: body() as never,
      ETag: '"e2"',
      ServerSideEncryption: 'AES256',
    });
    s3.on(GetObjectCommand, { Key: 'plain.bin' }).resolves({ Body: body() as never, ETag: '"e3"' });
    expect((await store().get('src', 'kms.bin')).encryption).toBe(`aws:kms:${arn}`);
    expect((await store().get('src', 's3.bin')).encryption).toBe('AES256');
    expect((await store().get('src', 'plain.bin')).encryption).toBeUndefined();
  });

  it('joins the headers the lighter HTTP client reads the same way', () => {
    expect(encryptionOf('aws:kms:dsse', 'k1')).toBe('aws:kms:dsse:k1');
    expect(encryptionOf('AES256', 'ignored')).toBe('AES256');
    expect(encryptionOf(undefined, 'k1')).toBeUndefined();
  });
});
