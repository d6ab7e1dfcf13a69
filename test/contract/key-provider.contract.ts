/**
 * The KeyProvider contract (shared/domain/ports.ts): fresh 256-bit data keys, wrapped under a master
 * key and unwrapped only by it. Run against the memory twin and the local key-file provider of the
 * embedded stack (KMS has no emulator here: KmsKeyProvider's error mapping has its mocked-client tests).
 */
import { describe, expect, it } from 'vitest';
import { IntegrityError, isRetryable } from '#domain/errors.ts';
import type { KeyProvider } from '#domain/ports.ts';
import type { KnownDivergences } from './divergences.ts';

/** A provider under test, and others over its master key or over another one. */
export interface KeyProviderUnderTest {
  provider: KeyProvider;
  /** A new provider over the same master key (another process, or the same one restarted). */
  sameMaster(): Promise<KeyProvider>;
  /** A provider over another master key. */
  otherMaster(): Promise<KeyProvider>;
}

/** Expect `unwrapping` to fail for good: IntegrityError, not retryable. */
async function expectRefused(unwrapping: Promise<Uint8Array>): Promise<void> {
  const error = await unwrapping.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(IntegrityError);
  expect(isRetryable(error)).toBe(false);
}

export function keyProviderContract(
  name: string,
  make: () => Promise<KeyProviderUnderTest>,
  _known?: KnownDivergences,
): void {
  describe(`KeyProvider contract: ${name}`, () => {
    it('issues a 256-bit data key whose wrapped form unwraps to it', async () => {
      const { provider } = await make();
      const key = await provider.generateDataKey();
      expect(key.plaintext).toBeInstanceOf(Uint8Array);
      expect(key.plaintext.length).toBe(32);
      expect(key.wrapped.length).toBeGreaterThan(32);
      // The wrapped form does not carry the plaintext.
      expect(Buffer.from(key.wrapped).includes(Buffer.from(key.plaintext))).toBe(false);
      expect(Buffer.from(await provider.unwrapDataKey(key.wrapped))).toEqual(Buffer.from(key.plaintext));
    });

    it('issues a fresh key every time, concurrently too', async () => {
      const { provider } = await make();
      const keys = await Promise.all(Array.from({ length: 20 }, () => provider.generateDataKey()));
      const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
      expect(new Set(keys.map((k) => hex(k.plaintext))).size).toBe(20);
      expect(new Set(keys.map((k) => hex(k.wrapped))).size).toBe(20);
      const unwrapped = await Promise.all(keys.map((k) => provider.unwrapDataKey(k.wrapped)));
      expect(unwrapped.map(hex)).toEqual(keys.map((k) => hex(k.plaintext)));
    });

    it('unwraps a key wrapped by another provider over the same master key', async () => {
      const under = await make();
      const key = await under.provider.generateDataKey();
      const again = await under.sameMaster();
      expect(Buffer.from(await again.unwrapDataKey(key.wrapped))).toEqual(Buffer.from(key.plaintext));
      const back = await again.generateDataKey();
      expect(Buffer.from(await under.provider.unwrapDataKey(back.wrapped))).toEqual(
        Buffer.from(back.plaintext),
      );
    });

    it('agrees with another provider over the same master key when both are first used at the same time', async () => {
      const under = await make();
      const again = await under.sameMaster();
      const [a, b] = await Promise.all([under.provider.generateDataKey(), again.generateDataKey()]);
      expect(Buffer.from(await again.unwrapDataKey(a.wrapped))).toEqual(Buffer.from(a.plaintext));
      expect(Buffer.from(await under.provider.unwrapDataKey(b.wrapped))).toEqual(Buffer.from(b.plaintext));
    });

    it('refuses, for good, a key wrapped under another master key: IntegrityError', async () => {
      const under = await make();
      const key = await under.provider.generateDataKey();
      const other = await under.otherMaster();
      await expectRefused(other.unwrapDataKey(key.wrapped));
      await expectRefused(under.provider.unwrapDataKey((await other.generateDataKey()).wrapped));
    });

    it('refuses, for good, a wrapped key changed or cut anywhere: IntegrityError', async () => {
      const { provider } = await make();
      const { wrapped } = await provider.generateDataKey();
      for (const at of [0, 3, Math.floor(wrapped.length / 2), wrapped.length - 1]) {
        const changed = Uint8Array.from(wrapped);
        changed[at] = (changed[at] as number) ^ 0x01;
        await expectRefused(provider.unwrapDataKey(changed));
      }
      await expectRefused(provider.unwrapDataKey(wrapped.subarray(0, wrapped.length - 1)));
      await expectRefused(provider.unwrapDataKey(Uint8Array.from([...wrapped, 0])));
      await expectRefused(provider.unwrapDataKey(new Uint8Array()));
      await expectRefused(provider.unwrapDataKey(new Uint8Array(wrapped.length)));
    });
  });
}
