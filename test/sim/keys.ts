/**
 * The simulation's master keys and randomness (fault kind `rotation`): master keys that wrap data
 * keys as a KMS key or a key file does (a wrap only that key opens, bound to the data key id), and a
 * byte source derived from the seed, so the keyring's data key ids and data keys, and with them every
 * key document, replay exactly.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { IntegrityError } from '#domain/errors.ts';
import type { KeyRecipient } from '#domain/keyring.ts';

const TAG_BYTES = 16;

/** A master key of the simulation: `sim:K<n>`, its secret derived from the seed. */
export class SimMasterKey implements KeyRecipient {
  readonly kind = 'sim-key';
  readonly keyId: string;
  /** Deleted (retired, then removed from the key service): it wraps and unwraps nothing any more. */
  deleted = false;
  readonly #secret: Buffer;
  constructor(seed: number, n: number) {
    this.keyId = `sim:K${n}`;
    this.#secret = createHash('sha256').update(`strongbox-sim/${seed}/K${n}`).digest();
  }
  #mask(dataKeyId: string): Buffer {
    return createHash('sha256').update(this.#secret).update(dataKeyId).digest();
  }
  #tag(dataKeyId: string, masked: Uint8Array): Buffer {
    return createHmac('sha256', this.#secret)
      .update(dataKeyId)
      .update(masked)
      .digest()
      .subarray(0, TAG_BYTES);
  }
  async wrap(plaintext: Uint8Array, dataKeyId: string): Promise<Uint8Array> {
    if (this.deleted) throw new IntegrityError(`master key ${this.keyId} is deleted`);
    const mask = this.#mask(dataKeyId);
    const masked = Buffer.from(plaintext).map((b, i) => b ^ (mask[i % mask.length] as number));
    return Buffer.concat([masked, this.#tag(dataKeyId, masked)]);
  }
  async unwrap(wrapped: Uint8Array, dataKeyId: string): Promise<Uint8Array> {
    if (this.deleted) throw new IntegrityError(`master key ${this.keyId} is deleted`);
    const buf = Buffer.from(wrapped);
    const masked = buf.subarray(0, buf.length - TAG_BYTES);
    const tag = buf.subarray(buf.length - TAG_BYTES);
    const want = this.#tag(dataKeyId, masked);
    if (tag.length !== TAG_BYTES || !timingSafeEqual(tag, want))
      throw new IntegrityError(`data key ${dataKeyId} is not wrapped by ${this.keyId}`);
    const mask = this.#mask(dataKeyId);
    return Buffer.from(masked).map((b, i) => b ^ (mask[i % mask.length] as number));
  }
}

/** `size` bytes at a time from a stream derived from the seed (SHA-256 of seed and counter). */
export class SimRandom {
  readonly #seed: number;
  #counter = 0;
  constructor(seed: number) {
    this.#seed = seed;
  }
  bytes(size: number): Buffer {
    const out: Buffer[] = [];
    let n = 0;
    while (n < size) {
      const block = createHash('sha256')
        .update(`strongbox-sim-random/${this.#seed}/${++this.#counter}`)
        .digest();
      out.push(block);
      n += block.length;
    }
    return Buffer.concat(out).subarray(0, size);
  }
}
