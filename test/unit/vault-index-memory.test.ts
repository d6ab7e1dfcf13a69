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
});
