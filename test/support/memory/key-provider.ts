/** A memory key provider, for unit tests and the contract suites. */

import { randomBytes } from 'node:crypto';
import { MasterKeyProvider } from '#adapters/key-providers.ts';

/** A key provider with a random master key in memory. */
export function memoryKeyProvider(master: Uint8Array = randomBytes(32)): MasterKeyProvider {
  return new MasterKeyProvider(async () => Buffer.from(master), 'memory');
}
