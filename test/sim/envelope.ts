/**
 * A deterministic stand-in for the envelope: no encryption, no compression, a counter instead of a
 * random nonce. Every sealed document is still unique (as with a random nonce, two packs of the same
 * blobs get different ids), its address is bound (opening it under another address fails), and the
 * same seed seals the same bytes, so pack ids and listing orders replay exactly.
 *
 * Given a key provider (the keyring, fault kind `rotation`), it seals as the real envelope does with
 * keys: one data key per purpose (`content` for blobs, `metadata` for the rest) from the provider,
 * its key reference in the header, and an HMAC-SHA256 tag under the data key over the header, the
 * address and the body (`SIM2`). Opening resolves the reference through the provider: a key document
 * that is missing or wrapped to no key held, or a wrong key, is an IntegrityError.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { Envelope } from '#domain/envelope.ts';
import { IntegrityError } from '#domain/errors.ts';
import type { KeyProvider } from '#domain/ports.ts';
import { blobAssociatedData, contentIdOf } from '#domain/vault.ts';

const MAGIC = Buffer.from('SIM1');
const KEYED = Buffer.from('SIM2');
const TAG_BYTES = 16;
const BLOB_AD = blobAssociatedData('');

/** The nonce counter, shared by every envelope of one world so sealed documents stay unique. */
export interface SimCounter {
  n: number;
}

const noKeys: KeyProvider = {
  generateDataKey: async () => {
    throw new Error('the simulated envelope uses no data keys');
  },
  unwrapDataKey: async () => {
    throw new Error('the simulated envelope uses no data keys');
  },
};

export class SimEnvelope extends Envelope {
  readonly #counter: SimCounter;
  readonly #keys: KeyProvider | undefined;
  readonly #current = new Map<string, Promise<{ plaintext: Buffer; wrapped: Buffer }>>();
  readonly #unwrapped = new Map<string, Promise<Buffer>>();
  constructor(keys?: KeyProvider, counter: SimCounter = { n: 0 }) {
    super(keys ?? noKeys);
    this.#keys = keys;
    this.#counter = counter;
  }
  #dataKey(purpose: 'content' | 'metadata'): Promise<{ plaintext: Buffer; wrapped: Buffer }> {
    let key = this.#current.get(purpose);
    if (!key) {
      key = (this.#keys as KeyProvider)
        .generateDataKey(purpose)
        .then((k) => ({ plaintext: Buffer.from(k.plaintext), wrapped: Buffer.from(k.wrapped) }));
      key.catch(() => this.#current.delete(purpose));
      this.#current.set(purpose, key);
    }
    return key;
  }
  #unwrap(wrapped: Buffer): Promise<Buffer> {
    const id = wrapped.toString('hex');
    let key = this.#unwrapped.get(id);
    if (!key) {
      key = (this.#keys as KeyProvider).unwrapDataKey(wrapped).then((k) => Buffer.from(k));
      key.catch(() => this.#unwrapped.delete(id));
      this.#unwrapped.set(id, key);
    }
    return key;
  }
  override async seal(plaintext: Uint8Array, associatedData: string): Promise<Buffer> {
    if (this.#keys) {
      const key = await this.#dataKey(associatedData.startsWith(BLOB_AD) ? 'content' : 'metadata');
      const header = Buffer.alloc(4 + 8 + 32 + 2);
      KEYED.copy(header, 0);
      header.writeBigUInt64BE(BigInt(++this.#counter.n), 4);
      Buffer.from(contentIdOf(associatedData), 'hex').copy(header, 12);
      header.writeUInt16BE(key.wrapped.length, 44);
      const head = Buffer.concat([header, key.wrapped]);
      const body = Buffer.from(plaintext);
      return Buffer.concat([head, tagOf(key.plaintext, head, associatedData, body), body]);
    }
    const header = Buffer.alloc(4 + 8 + 32);
    MAGIC.copy(header, 0);
    header.writeBigUInt64BE(BigInt(++this.#counter.n), 4);
    Buffer.from(contentIdOf(associatedData), 'hex').copy(header, 12);
    return Buffer.concat([header, plaintext]);
  }
  override async open(sealed: Uint8Array, associatedData: string): Promise<Buffer> {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (buf.length >= 46 && buf.subarray(0, 4).equals(KEYED)) {
      if (!this.#keys) throw new IntegrityError(`a keyed envelope and no key provider (${associatedData})`);
      if (buf.subarray(12, 44).toString('hex') !== contentIdOf(associatedData))
        throw new IntegrityError(`envelope failed authentication (${associatedData})`);
      const end = 46 + buf.readUInt16BE(44);
      if (buf.length < end + TAG_BYTES) throw new IntegrityError(`truncated envelope (${associatedData})`);
      const key = await this.#unwrap(buf.subarray(46, end));
      const body = buf.subarray(end + TAG_BYTES);
      const tag = tagOf(key, buf.subarray(0, end), associatedData, body);
      if (!timingSafeEqual(tag, buf.subarray(end, end + TAG_BYTES)))
        throw new IntegrityError(`envelope failed authentication under its data key (${associatedData})`);
      return Buffer.from(body);
    }
    if (buf.length < 44 || !buf.subarray(0, 4).equals(MAGIC))
      throw new IntegrityError(`not a Strongbox envelope (${associatedData})`);
    if (buf.subarray(12, 44).toString('hex') !== contentIdOf(associatedData))
      throw new IntegrityError(`envelope failed authentication (${associatedData})`);
    return Buffer.from(buf.subarray(44));
  }
}

/** The keyed envelope's tag: HMAC-SHA256 under the data key over header, address and body (16 bytes). */
function tagOf(key: Buffer, head: Buffer, associatedData: string, body: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(head)
    .update(associatedData)
    .update(body)
    .digest()
    .subarray(0, TAG_BYTES);
}

/** The data key reference in a keyed envelope's header, or undefined (an unkeyed one, not an envelope). */
export function keyReferenceIn(sealed: Uint8Array): Buffer | undefined {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < 46 || !buf.subarray(0, 4).equals(KEYED)) return undefined;
  return buf.subarray(46, 46 + buf.readUInt16BE(44));
}
