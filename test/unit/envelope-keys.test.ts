/**
 * The envelope hands node:crypto key objects, made once per data key: given a Buffer, every
 * createCipheriv and createDecipheriv builds one again (~15 µs on Node 24, per blob). Its own file:
 * node:crypto is wrapped (vi.mock is per file) to see what the ciphers are given.
 */
import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { Envelope } from '#domain/envelope.ts';
import type { KeyProvider } from '#domain/ports.ts';

const seen = vi.hoisted(() => ({ cipherKeys: [] as unknown[], decipherKeys: [] as unknown[] }));

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    createCipheriv: (...args: Parameters<typeof actual.createCipheriv>) => {
      seen.cipherKeys.push(args[1]);
      return actual.createCipheriv(...args);
    },
    createDecipheriv: (...args: Parameters<typeof actual.createDecipheriv>) => {
      seen.decipherKeys.push(args[1]);
      return actual.createDecipheriv(...args);
    },
  };
});

describe('Envelope keys', () => {
  it('seals and opens with one key object per data key, not a Buffer per call', async () => {
    // A provider that uses no cipher itself, so every cipher call seen is the envelope's.
    const plaintext = crypto.randomBytes(32);
    const keys: KeyProvider = {
      generateDataKey: async () => ({ plaintext, wrapped: Buffer.from('wrapped') }),
      unwrapDataKey: async () => plaintext,
    };
    const envelope = new Envelope(keys);
    const sealed = [];
    for (let i = 0; i < 3; i++) sealed.push(await envelope.seal(Buffer.from(`blob ${i}`), `blob-${i}`));
    for (const [i, s] of sealed.entries()) {
      expect((await envelope.open(s, `blob-${i}`)).toString()).toBe(`blob ${i}`);
    }
    expect(seen.cipherKeys).toHaveLength(3);
    expect(seen.decipherKeys).toHaveLength(3);
    for (const key of [...seen.cipherKeys, ...seen.decipherKeys]) {
      expect(key).toBeInstanceOf(crypto.KeyObject);
    }
    // The same object each time: made once, when the data key was generated or first unwrapped.
    expect(new Set(seen.cipherKeys).size).toBe(1);
    expect(new Set(seen.decipherKeys).size).toBe(1);
  });
});
