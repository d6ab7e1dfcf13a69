import { afterAll, beforeAll } from 'vitest';
import { ManualClock, MemoryVaultStore } from '#adapters/memory.ts';
import { S3VaultStore } from '#adapters/s3.ts';
import { startS3 } from '../support/emulators.ts';
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

// Large documents go up in 8 MiB parts (the emulator's request limit is 11 MiB).
import { expect, it } from 'vitest';

it('S3VaultStore stores a 20 MiB document in parts and reads it back intact', async () => {
  const vault = new S3VaultStore(s3.client, 'us-east-1', await s3.bucket('vault-large'));
  const body = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
  await vault.put('blobs/ee/large', body);
  expect(Buffer.from(await vault.get('blobs/ee/large')).equals(body)).toBe(true);
});
