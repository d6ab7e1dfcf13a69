import { createHash } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { UPLOAD_PART_SIZE_BYTES } from '#adapters/s3/upload.ts';
import { S3VaultStore } from '#adapters/s3/vault-store.ts';
import { startS3 } from '../support/emulators.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { vaultStoreContract } from './vault-store.contract.ts';

let s3: Awaited<ReturnType<typeof startS3>>;
let n = 0;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3.stop();
});

vaultStoreContract(
  'MemoryVaultStore',
  async () => new MemoryVaultStore('us-east-1', 'vault', new ManualClock()),
);
vaultStoreContract('S3VaultStore on the emulator', async () => {
  n += 1;
  return new S3VaultStore(s3.client, 'us-east-1', await s3.bucket(`vault-contract-${n}`));
});

// Large documents go up in 8 MiB upload parts (the emulator's request limit is 11 MiB).
import { expect, it } from 'vitest';

it('S3VaultStore stores a 20 MiB document in upload parts and reads it back intact', async () => {
  const vault = new S3VaultStore(s3.client, 'us-east-1', await s3.bucket('vault-large'));
  const body = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
  const stored = await vault.put('blobs/ee/large', body);
  expect(Buffer.from(await vault.get('blobs/ee/large')).equals(body)).toBe(true);
  // Three 8 MiB upload parts: S3 records a composite SHA-256 of the upload parts' digests, and reports it.
  const digests = [0, 1, 2].map((i) =>
    createHash('sha256')
      .update(body.subarray(i * 8 * 1024 * 1024, (i + 1) * 8 * 1024 * 1024))
      .digest(),
  );
  const composite = `${createHash('sha256').update(Buffer.concat(digests)).digest('base64')}-3`;
  expect(stored).toEqual({ sizeBytes: body.length, checksumSha256: composite, checksumType: 'COMPOSITE' });
  expect(await vault.checksum('blobs/ee/large')).toEqual(stored);
});

it.each([
  ['exactly one upload part', UPLOAD_PART_SIZE_BYTES, 'FULL_OBJECT'],
  ['one byte over one upload part', UPLOAD_PART_SIZE_BYTES + 1, 'COMPOSITE'],
])('S3VaultStore reports the checksum it computed for a document of %s', async (_name, size, type) => {
  // Prepare
  const vault = new S3VaultStore(s3.client, 'us-east-1', await s3.bucket(`vault-edge-${size}`));
  const body = Buffer.alloc(size, 7);
  // Act
  const stored = await vault.put('blobs/ef/edge', body);
  // Assess
  expect(stored.checksumType).toBe(type);
  expect(await vault.checksum('blobs/ef/edge')).toEqual(stored);
});
