// What a loaded vault index costs in memory per blob: issue 14 measured about 496 bytes (2 million
// blobs ≈ 950 MiB, in 1024 MB functions), plus the same documents again in the read cache.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('../support/index-memory-child.ts', import.meta.url));

describe('VaultIndex memory', () => {
  it('keeps under 100 bytes per blob once loaded, its cached documents included', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', child, '100000', '10'], { encoding: 'utf8' });
    const { bytesPerBlob, wrong } = JSON.parse(out.trim().split('\n').at(-1) as string);
    expect(wrong).toBe(0);
    expect(bytesPerBlob).toBeLessThan(100);
  }, 120_000);

  it('spilled to local disk, holds the same memory for 1,200,000 blobs as for 300,000 (about 10 MB)', () => {
    const run = (blobs: number) => {
      const out = execFileSync(process.execPath, ['--expose-gc', child, String(blobs), '24', '100000'], {
        encoding: 'utf8',
      });
      return JSON.parse(out.trim().split('\n').at(-1) as string);
    };
    const small = run(300_000);
    const large = run(1_200_000);
    for (const r of [small, large]) {
      expect(r.wrong).toBe(0);
      expect(r.spilled).toBeGreaterThanOrEqual(r.blobs - 100_000); // at most 100,000 stay in memory
    }
    // In memory, 900,000 more blobs take about 60 MB more; spilled, the two differ by a few MB
    expect(large.bytes - small.bytes).toBeLessThan(4 * 1024 * 1024);
    expect(large.bytes).toBeLessThan(24 * 1024 * 1024);
  }, 240_000);
});
