import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { Envelope, ZSTD_SYNC_MAX_BYTES } from '#domain/envelope.ts';
import { IntegrityError, TransientError } from '#domain/errors.ts';
import type { DataKey, KeyProvider } from '#domain/ports.ts';
import { blobAssociatedData, contentIdOf, VAULT_FORMAT_VERSION } from '#domain/vault.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';

/** Length of a wrapped key from a MasterKeyProvider: 'LK1' + nonce + 32-byte key + tag. */
const WRAPPED = 3 + 12 + 32 + 16;
const HEADER = 8 + WRAPPED + 12;

/** A key provider that counts calls, over a memory master key. */
function countingProvider(inner: KeyProvider = memoryKeyProvider()) {
  const provider = {
    generateDataKey: vi.fn((): Promise<DataKey> => inner.generateDataKey()),
    unwrapDataKey: vi.fn((wrapped: Uint8Array): Promise<Uint8Array> => inner.unwrapDataKey(wrapped)),
  };
  return provider;
}

const ad = blobAssociatedData(contentIdOf('some blob'));

function flip(bytes: Uint8Array, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

describe('Envelope', () => {
  describe('round trip', () => {
    it.each([
      ['empty', Buffer.alloc(0)],
      ['small', Buffer.from('hello, vault')],
      ['1 MiB of random bytes', randomBytes(1024 * 1024)],
      ['highly compressible', Buffer.alloc(256 * 1024, 'a')],
    ])('opens what it sealed (%s)', async (_name, plaintext) => {
      // Prepare
      const envelope = new Envelope(memoryKeyProvider());
      // Act
      const sealed = await envelope.seal(plaintext, ad);
      const opened = await envelope.open(sealed, ad);
      // Assess
      expect(opened.equals(plaintext)).toBe(true);
    });

    it('writes the magic, the version and the wrapped key length into the header', async () => {
      const sealed = await new Envelope(memoryKeyProvider()).seal(Buffer.from('x'), ad);
      expect(sealed.subarray(0, 4).toString('ascii')).toBe('SBX1');
      expect(sealed[4]).toBe(VAULT_FORMAT_VERSION);
      expect(sealed.readUInt16BE(6)).toBe(WRAPPED);
      expect(sealed.subarray(8, 11).toString('ascii')).toBe('LK1');
    });

    it('uses a fresh nonce for every seal', async () => {
      const envelope = new Envelope(memoryKeyProvider());
      const a = await envelope.seal(Buffer.from('same'), ad);
      const b = await envelope.seal(Buffer.from('same'), ad);
      expect(a.subarray(8 + WRAPPED, HEADER).equals(b.subarray(8 + WRAPPED, HEADER))).toBe(false);
      expect(a.equals(b)).toBe(false);
    });

    it('opens an envelope handed over as a view into a larger buffer', async () => {
      // Prepare
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(Buffer.from('in the middle'), ad);
      const larger = new Uint8Array(sealed.length + 20);
      larger.set(sealed, 10);
      // Act
      const opened = await envelope.open(larger.subarray(10, 10 + sealed.length), ad);
      // Assess
      expect(opened.toString()).toBe('in the middle');
    });
  });

  describe('compression', () => {
    it('stores compressible data compressed (header byte 5 = 1) and smaller than the plaintext', async () => {
      const plaintext = Buffer.alloc(100_000, 'abc');
      const sealed = await new Envelope(memoryKeyProvider()).seal(plaintext, ad);
      expect(sealed[5]).toBe(1);
      expect(sealed.length).toBeLessThan(plaintext.length / 10);
    });

    it('stores incompressible data uncompressed (header byte 5 = 0), with only the envelope overhead', async () => {
      const plaintext = randomBytes(64 * 1024);
      const sealed = await new Envelope(memoryKeyProvider()).seal(plaintext, ad);
      expect(sealed[5]).toBe(0);
      expect(sealed.length).toBe(HEADER + plaintext.length + 16);
    });

    it.each([
      ['below the sync limit', ZSTD_SYNC_MAX_BYTES - 1],
      ['at the sync limit', ZSTD_SYNC_MAX_BYTES],
      ['above the sync limit (thread pool)', ZSTD_SYNC_MAX_BYTES + 1],
      ['a large chunk (both sides in the thread pool)', 4 * ZSTD_SYNC_MAX_BYTES],
    ])('compresses and opens data %s', async (_name, size) => {
      // Prepare: hex text compresses to about half, so the larger ones decompress off-thread too.
      const plaintext = Buffer.from(
        randomBytes(Math.ceil(size / 2))
          .toString('hex')
          .slice(0, size),
      );
      const envelope = new Envelope(memoryKeyProvider());
      // Act
      const sealed = await envelope.seal(plaintext, ad);
      const opened = await envelope.open(sealed, ad);
      // Assess
      expect(sealed[5]).toBe(1);
      expect(sealed.length).toBeLessThan(plaintext.length * 0.6);
      expect(opened.equals(plaintext)).toBe(true);
    });

    it('stores empty data uncompressed', async () => {
      const sealed = await new Envelope(memoryKeyProvider()).seal(Buffer.alloc(0), ad);
      expect(sealed[5]).toBe(0);
      expect(sealed.length).toBe(HEADER + 16);
    });
  });

  describe('integrity', () => {
    const plaintext = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(20));

    it.each([
      ['the magic', 0],
      ['the version', 4],
      ['the compression byte', 5],
      ['the high byte of the wrapped key length', 6],
      ['the low byte of the wrapped key length', 7],
      ['the wrapped key', 8 + 20],
      ['the nonce', 8 + WRAPPED + 3],
      ['the first ciphertext byte', HEADER],
    ])('refuses an envelope with a flipped byte in %s', async (_name, at) => {
      // Prepare
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(plaintext, ad);
      // Act
      const opening = envelope.open(flip(sealed, at), ad);
      // Assess
      await expect(opening).rejects.toBeInstanceOf(IntegrityError);
    });

    it('refuses an envelope with a flipped byte in the last ciphertext byte or the tag', async () => {
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(plaintext, ad);
      for (const at of [sealed.length - 17, sealed.length - 16, sealed.length - 1]) {
        await expect(envelope.open(flip(sealed, at), ad)).rejects.toBeInstanceOf(IntegrityError);
      }
    });

    it('refuses every single flipped byte of a small envelope', async () => {
      // Prepare
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(Buffer.from('tiny'), ad);
      // Act
      const outcomes = await Promise.allSettled(
        Array.from(sealed.keys(), (at) => envelope.open(flip(sealed, at), ad)),
      );
      // Assess
      const accepted = outcomes.flatMap((o, at) => (o.status === 'fulfilled' ? [at] : []));
      expect(accepted).toEqual([]);
      expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof IntegrityError)).toBe(true);
    });

    it('refuses a blob opened under another blob address (associated data)', async () => {
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(plaintext, blobAssociatedData(contentIdOf('a')));
      const opening = envelope.open(sealed, blobAssociatedData(contentIdOf('b')));
      await expect(opening).rejects.toBeInstanceOf(IntegrityError);
      await expect(opening).rejects.toThrow(/failed authentication/);
    });

    it.each([
      ['nothing', 0],
      ['the first 10 bytes', 10],
      ['the header only', HEADER],
      ['the header and half the tag', HEADER + 8],
    ])('refuses a truncated envelope (%s)', async (_name, length) => {
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(plaintext, ad);
      await expect(envelope.open(sealed.subarray(0, length), ad)).rejects.toBeInstanceOf(IntegrityError);
    });

    it('refuses an envelope missing its last byte', async () => {
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(plaintext, ad);
      await expect(envelope.open(sealed.subarray(0, sealed.length - 1), ad)).rejects.toBeInstanceOf(
        IntegrityError,
      );
    });

    it('refuses bytes with another magic as not an envelope', async () => {
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = Buffer.from(await envelope.seal(plaintext, ad));
      sealed.write('ZIP!', 0, 'ascii');
      await expect(envelope.open(sealed, ad)).rejects.toThrow(/not a Strongbox envelope/);
    });

    it('refuses an unsupported format version, naming it', async () => {
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = Buffer.from(await envelope.seal(plaintext, ad));
      sealed[4] = 1; // a version-1 vault's envelope
      const opening = envelope.open(sealed, ad);
      await expect(opening).rejects.toBeInstanceOf(IntegrityError);
      await expect(opening).rejects.toThrow(/version 1 is not supported/);
    });

    it('reports integrity failures as not retryable', async () => {
      const envelope = new Envelope(memoryKeyProvider());
      const sealed = await envelope.seal(plaintext, ad);
      const error = await envelope.open(flip(sealed, HEADER + 1), ad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IntegrityError);
      expect((error as IntegrityError).retryable).toBe(false);
    });

    it('cannot open what was sealed under another master key', async () => {
      const sealed = await new Envelope(memoryKeyProvider()).seal(plaintext, ad);
      const other = new Envelope(memoryKeyProvider());
      await expect(other.open(sealed, ad)).rejects.toBeInstanceOf(IntegrityError);
    });

    it('opens with another Envelope instance over the same master key', async () => {
      const master = randomBytes(32);
      const sealed = await new Envelope(memoryKeyProvider(master)).seal(plaintext, ad);
      const opened = await new Envelope(memoryKeyProvider(master)).open(sealed, ad);
      expect(opened.equals(plaintext)).toBe(true);
    });
  });

  describe('data keys', () => {
    it('asks the key provider for one data key to seal many documents', async () => {
      // Prepare
      const keys = countingProvider();
      const envelope = new Envelope(keys);
      // Act
      const sealed = [];
      for (let i = 0; i < 20; i++) sealed.push(await envelope.seal(Buffer.from(`doc ${i}`), ad));
      // Assess
      expect(keys.generateDataKey).toHaveBeenCalledTimes(1);
      const wrappedKeys = new Set(sealed.map((s) => s.subarray(8, 8 + WRAPPED).toString('hex')));
      expect(wrappedKeys.size).toBe(1);
    });

    it('asks for one data key when many seals start at once', async () => {
      const keys = countingProvider();
      const envelope = new Envelope(keys);
      await Promise.all(Array.from({ length: 10 }, (_v, i) => envelope.seal(Buffer.from(`doc ${i}`), ad)));
      expect(keys.generateDataKey).toHaveBeenCalledTimes(1);
    });

    it('generates a new data key after documentsPerDataKey seals', async () => {
      // Prepare
      const keys = countingProvider();
      const envelope = new Envelope(keys, { documentsPerDataKey: 3 });
      // Act
      const sealed = [];
      for (let i = 0; i < 7; i++) sealed.push(await envelope.seal(Buffer.from(`doc ${i}`), ad));
      // Assess
      expect(keys.generateDataKey).toHaveBeenCalledTimes(3);
      const wrapped = sealed.map((s) => s.subarray(8, 8 + WRAPPED).toString('hex'));
      expect(new Set(wrapped.slice(0, 3)).size).toBe(1);
      expect(new Set(wrapped.slice(3, 6)).size).toBe(1);
      expect(wrapped[3]).not.toBe(wrapped[0]);
      expect(wrapped[6]).not.toBe(wrapped[3]);
      for (const [i, s] of sealed.entries()) expect((await envelope.open(s, ad)).toString()).toBe(`doc ${i}`);
    });

    it('does not let a failed generateDataKey poison later seals', async () => {
      // Prepare
      const keys = countingProvider();
      keys.generateDataKey.mockRejectedValueOnce(new TransientError('throttled'));
      const envelope = new Envelope(keys);
      // Act
      const first = envelope.seal(Buffer.from('one'), ad);
      await expect(first).rejects.toBeInstanceOf(TransientError);
      const sealed = await envelope.seal(Buffer.from('two'), ad);
      // Assess
      expect(keys.generateDataKey).toHaveBeenCalledTimes(2);
      expect((await envelope.open(sealed, ad)).toString()).toBe('two');
    });

    it('unwraps each data key once, however many documents it opens', async () => {
      // Prepare
      const master = randomBytes(32);
      const sealer = new Envelope(memoryKeyProvider(master));
      const sealed = [];
      for (let i = 0; i < 5; i++) sealed.push(await sealer.seal(Buffer.from(`doc ${i}`), ad));
      const keys = countingProvider(memoryKeyProvider(master));
      const opener = new Envelope(keys);
      // Act
      for (const s of sealed) await opener.open(s, ad);
      // Assess
      expect(keys.unwrapDataKey).toHaveBeenCalledTimes(1);
    });

    it('retries unwrapping a data key after a failed unwrap', async () => {
      // Prepare
      const master = randomBytes(32);
      const sealed = await new Envelope(memoryKeyProvider(master)).seal(Buffer.from('doc'), ad);
      const keys = countingProvider(memoryKeyProvider(master));
      keys.unwrapDataKey.mockRejectedValueOnce(new TransientError('throttled'));
      const opener = new Envelope(keys);
      // Act
      await expect(opener.open(sealed, ad)).rejects.toBeInstanceOf(TransientError);
      const opened = await opener.open(sealed, ad);
      // Assess
      expect(opened.toString()).toBe('doc');
      expect(keys.unwrapDataKey).toHaveBeenCalledTimes(2);
    });
  });
});
