/**
 * The ObjectStore contract, run against the memory twin and the S3 adapter on the emulator (fauxqs),
 * once through the SDK alone and once with the lighter HTTP client on the hot paths (the deployed
 * default).
 */
import { afterAll, beforeAll } from 'vitest';
import { S3ObjectStore } from '#adapters/s3/object-store.ts';
import { S3HttpClient } from '#adapters/s3-http.ts';
import { startS3 } from '../support/emulators.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryObjectStore } from '../support/memory/object-store.ts';
import { objectStoreContract } from './object-store.contract.ts';

let s3: Awaited<ReturnType<typeof startS3>>;
let n = 0;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});

objectStoreContract('MemoryObjectStore', async () => {
  const store = new MemoryObjectStore(new ManualClock());
  store.createBucket('source');
  return { store, bucket: 'source' };
});
objectStoreContract('S3ObjectStore (SDK) on the emulator', async () => {
  n += 1;
  return { store: new S3ObjectStore(s3.client), bucket: await s3.bucket(`objects-sdk-${n}`) };
});
objectStoreContract(
  'S3ObjectStore (SDK and S3HttpClient) on the emulator',
  async () => {
    n += 1;
    return {
      store: new S3ObjectStore(s3.client, new S3HttpClient(s3.client, { maxAttempts: 3 })),
      bucket: await s3.bucket(`objects-http-${n}`),
    };
  },
  {
    // The emulator's, not the adapter's: fauxqs's putObject reads no body from a PUT without a
    // Content-Type and answers 500 for an empty one (Buffer.from(undefined)). The SDK always sends a
    // Content-Type; S3HttpClient.putObject sends one only when the caller gives it, as S3 allows.
    'empty-object': 'fauxqs answers 500 to an empty PUT without Content-Type',
  },
);
