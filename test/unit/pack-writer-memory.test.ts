// What an open pack holds: its sealed blobs' bytes, not the 64 KiB pool slabs Node 24 cuts small
// Buffers from. Issue 14's GC row consolidated 100,000 one-blob packs into packs of 16 MiB, and each
// small sealed blob kept a slab alive for every few of them (about 13 times the pack's bytes).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('../support/pack-writer-memory-child.ts', import.meta.url));

describe('PackWriter memory', () => {
  it('holds about the open pack of 4,000 small blobs, not the pool slabs they were sealed in', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', child, '4000'], { encoding: 'utf8' });
    const { count, packBytes, heldBytes } = JSON.parse(out.trim().split('\n').at(-1) as string);
    expect(count).toBe(4_000);
    expect(packBytes).toBeGreaterThan(4_000 * 1_500); // sealed: the plaintext and the envelope
    expect(heldBytes).toBeGreaterThan(packBytes * 0.9); // the pack is held (the measure sees it)
    expect(heldBytes).toBeLessThan(packBytes * 1.5); // and little else (13.7 times without the copy)
  }, 60_000);
});
