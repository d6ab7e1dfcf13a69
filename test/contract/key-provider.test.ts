/**
 * The KeyProvider contract, run against the memory twin and the local key-file provider (a master
 * key file per case, in a temporary directory).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { localKeyFileProvider } from '#adapters/key-providers.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { keyProviderContract } from './key-provider.contract.ts';

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongbox-key-contract-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

keyProviderContract('memoryKeyProvider', async () => {
  const master = randomBytes(32);
  return {
    provider: memoryKeyProvider(master),
    sameMaster: async () => memoryKeyProvider(Buffer.from(master)),
    otherMaster: async () => memoryKeyProvider(),
  };
});

keyProviderContract('localKeyFileProvider', async () => {
  n += 1;
  const path = join(dir, `case-${n}`, 'master.key'); // created with a fresh key on first use
  return {
    provider: localKeyFileProvider(path),
    sameMaster: async () => localKeyFileProvider(path),
    otherMaster: async () => localKeyFileProvider(join(dir, `case-${n}-other`, 'master.key')),
  };
});
