// What a garbage-collection run holds at its peak (its live set and every index document, read):
// issue 14 found it growing with the vault, about 86 bytes a blob here (the ceiling in
// docs/scale.md: about 3.5 million blobs in a 1024 MB prune function). Past `indexMemoryBlobs` both
// now spill to local disk (docs/format.md#garbage-collection), and the run's memory stays flat.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('../support/gc-memory-child.ts', import.meta.url));

/** One run of the child: a vault of `blobs` blobs, half live; spilling past `memoryBlobs` if given. */
function run(blobs: number, memoryBlobs?: number) {
  const args = [
    '--expose-gc',
    child,
    String(blobs),
    ...(memoryBlobs === undefined ? [] : [String(memoryBlobs)]),
  ];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

describe('garbage collection memory', () => {
  it('spilled to local disk, holds the same memory for 1,200,000 blobs as for 300,000; in memory it grows', () => {
    const small = run(300_000, 100_000);
    const large = run(1_200_000, 100_000);
    const whole = run(1_200_000);
    for (const r of [small, large, whole]) {
      expect(r.blobsLive).toBe(r.blobs / 2); // the run read what it plans from: every other blob is live
      expect(r.packsLive).toBe(r.blobs / 500);
    }
    expect(large.liveSpilled).toBeGreaterThanOrEqual(large.blobsLive - 100_000);
    expect(whole.liveSpilled).toBe(0);
    // In memory, about 86 bytes a blob (99 MB at 1.2 million); spilled, about 21 MB at either size
    expect(whole.bytes).toBeGreaterThan(60 * 1024 * 1024);
    expect(large.bytes - small.bytes).toBeLessThan(4 * 1024 * 1024);
    expect(large.bytes).toBeLessThan(whole.bytes / 3);
  }, 300_000);
});
