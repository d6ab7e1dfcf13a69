/**
 * Large documents are (de)compressed on libuv's thread pool, which runs 4 at a time. Each call
 * holds a zstd context and its output buffers from the moment it starts, so the envelope starts at
 * most ZSTD_THREAD_POOL_IN_FLIGHT and makes the rest wait. Its own file: node:zlib is wrapped
 * (vi.mock is per file) to count the calls in flight.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { Envelope, ZSTD_SYNC_MAX_BYTES, ZSTD_THREAD_POOL_IN_FLIGHT } from '#domain/envelope.ts';
import type { KeyProvider } from '#domain/ports.ts';

const seen = vi.hoisted(() => ({ inFlight: 0, peak: 0, calls: 0 }));

vi.mock('node:zlib', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:zlib')>();
  /** Wrap a callback-style zlib function to count the calls started and not yet finished. */
  const counted =
    (fn: (buf: Buffer, options: object, cb: (e: Error | null, r: Buffer) => void) => void) =>
    (buf: Buffer, options: object, cb: (e: Error | null, r: Buffer) => void) => {
      seen.calls += 1;
      seen.inFlight += 1;
      seen.peak = Math.max(seen.peak, seen.inFlight);
      fn(buf, options, (e, r) => {
        seen.inFlight -= 1;
        cb(e, r);
      });
    };
  return {
    ...actual,
    zstdCompress: counted(actual.zstdCompress as never),
    zstdDecompress: counted(actual.zstdDecompress as never),
  };
});

const key = randomBytes(32);
const keys: KeyProvider = {
  generateDataKey: async () => ({ plaintext: key, wrapped: Buffer.from('wrapped') }),
  unwrapDataKey: async () => key,
};

/** A document like a manifest part: compressible, yet far over the synchronous limit once compressed. */
function largeDocument(i: number): Buffer {
  const lines: string[] = [];
  for (let n = 0; lines.length * 100 < 4 * ZSTD_SYNC_MAX_BYTES; n++) {
    lines.push(`{"key":"doc-${i}/object-${n}","blobs":["${randomBytes(32).toString('hex')}"]}`);
  }
  return Buffer.from(lines.join('\n'));
}

describe('Envelope on the thread pool', () => {
  it(`starts at most ${ZSTD_THREAD_POOL_IN_FLIGHT} compressions or decompressions at once, whatever the callers ask`, async () => {
    const envelope = new Envelope(keys);
    const documents = Array.from({ length: 24 }, (_, i) => largeDocument(i));
    const sealed = await Promise.all(documents.map((d, i) => envelope.seal(d, `doc-${i}`)));
    expect(seen.calls).toBe(24);
    expect(seen.peak).toBe(ZSTD_THREAD_POOL_IN_FLIGHT);

    seen.peak = 0;
    seen.calls = 0;
    const opened = await Promise.all(sealed.map((s, i) => envelope.open(s, `doc-${i}`)));
    expect(seen.calls).toBe(24);
    expect(seen.peak).toBe(ZSTD_THREAD_POOL_IN_FLIGHT);
    for (const [i, o] of opened.entries()) expect(o.equals(documents[i] as Buffer)).toBe(true);
  });
});
