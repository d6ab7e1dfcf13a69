/**
 * A deterministic stand-in for the envelope: no encryption, no compression, a counter instead of a
 * random nonce. Every sealed document is still unique (as with a random nonce, two packs of the same
 * blobs get different ids), its address is bound (opening it under another address fails), and the
 * same seed seals the same bytes, so pack ids and listing orders replay exactly.
 */

import { Envelope } from '#domain/envelope.ts';
import { IntegrityError } from '#domain/errors.ts';
import type { KeyProvider } from '#domain/ports.ts';
import { contentIdOf } from '#domain/vault.ts';

const MAGIC = Buffer.from('SIM1');

const noKeys: KeyProvider = {
  generateDataKey: async () => {
    throw new Error('the simulated envelope uses no data keys');
  },
  unwrapDataKey: async () => {
    throw new Error('the simulated envelope uses no data keys');
  },
};

export class SimEnvelope extends Envelope {
  #counter = 0;
  constructor() {
    super(noKeys);
  }
  override async seal(plaintext: Uint8Array, associatedData: string): Promise<Buffer> {
    const header = Buffer.alloc(4 + 8 + 32);
    MAGIC.copy(header, 0);
    header.writeBigUInt64BE(BigInt(++this.#counter), 4);
    Buffer.from(contentIdOf(associatedData), 'hex').copy(header, 12);
    return Buffer.concat([header, plaintext]);
  }
  override async open(sealed: Uint8Array, associatedData: string): Promise<Buffer> {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (buf.length < 44 || !buf.subarray(0, 4).equals(MAGIC))
      throw new IntegrityError(`not a Strongbox envelope (${associatedData})`);
    if (buf.subarray(12, 44).toString('hex') !== contentIdOf(associatedData))
      throw new IntegrityError(`envelope failed authentication (${associatedData})`);
    return Buffer.from(buf.subarray(44));
  }
}
