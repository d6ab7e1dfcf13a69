// The headers a locked vault PUT sends, through the SDK's own middleware (no aws-sdk-client-mock: a
// recording HTTP handler). S3 refuses a PUT with Object Lock parameters that has neither Content-MD5
// nor an x-amz-checksum-* header; the vault's SHA-256 checksum is that header. No S3 or emulator is
// involved: nothing here shows that anything enforces the lock.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { S3VaultStore } from '#adapters/s3/vault-store.ts';
import { VaultLayout } from '#domain/vault.ts';

it('a locked PutObject carries x-amz-object-lock-*, the storage class and x-amz-checksum-sha256', async () => {
  // Prepare
  const requests: { method: string; headers: Record<string, string> }[] = [];
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 's' },
    requestHandler: {
      handle: async (request: { method: string; headers: Record<string, string> }) => {
        requests.push({ method: request.method, headers: { ...request.headers } });
        return { response: { statusCode: 200, headers: { etag: '"e"' }, body: Readable.from([]) } };
      },
    },
  });
  const body = Buffer.from('sealed pack');
  // Act
  await new S3VaultStore(client, 'us-east-1', 'vault').put(VaultLayout.packKey(`ab${'c'.repeat(62)}`), body, {
    lockMode: 'COMPLIANCE',
    retainUntil: '2027-01-01T00:00:00.000Z',
    storageClass: 'GLACIER_IR',
  });
  // Assess
  expect(requests.map((r) => r.method)).toEqual(['PUT']);
  expect(requests[0]?.headers).toMatchObject({
    'x-amz-object-lock-mode': 'COMPLIANCE',
    'x-amz-object-lock-retain-until-date': '2027-01-01T00:00:00Z', // whole seconds
    'x-amz-storage-class': 'GLACIER_IR',
    'x-amz-checksum-sha256': createHash('sha256').update(body).digest('base64'),
  });
});
