// What a verify task holds for a snapshot: it kept every referenced blob in a Map with its sizes
// (about 117 bytes a blob), grouped them all by pack (more), and ordered them all for the deep pass
// (about 64 more): about 4 million referenced blobs in a 1024 MB verify function (docs/scale.md).
// Past `indexMemoryBlobs` the referenced blobs and the deep pass's order now live on local disk, and
// what a task holds does not grow with the snapshot (docs/format.md#verification).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ListedIds, listed } from '#domain/verify/context.ts';
import { ReferencedBlobs } from '#domain/verify/referenced.ts';
import { deepPassOrder, sampleDraw } from '#domain/verify/sample.ts';
import { MemoryScratchSpace } from '../support/memory/scratch.ts';

const child = fileURLToPath(new URL('../support/verify-memory-child.ts', import.meta.url));
const orderChild = fileURLToPath(new URL('../support/order-memory-child.ts', import.meta.url));
const id = (n: number) => createHash('sha256').update(String(n)).digest('hex');

/** The deep pass's order as it was computed over a Map of every referenced blob (the reference). */
function referenceOrder(
  snapshotId: string,
  blobs: ReadonlyMap<string, { logicalBytes: number; storedBytes?: number }>,
  scope: { all: boolean; samplePercent: number; sampleBytes?: number },
): string[] {
  const ordered = [...blobs.keys()]
    .map((blobId) => ({ blobId, draw: sampleDraw(snapshotId, blobId) }))
    .sort((a, b) => a.draw - b.draw || (a.blobId < b.blobId ? -1 : a.blobId > b.blobId ? 1 : 0));
  if (scope.all) return ordered.map((o) => o.blobId);
  const chosen: string[] = [];
  let before = 0;
  ordered.forEach(({ blobId, draw }, i) => {
    const info = blobs.get(blobId);
    const sampleBytes = scope.sampleBytes ?? 0;
    if (
      draw < scope.samplePercent / 100 ||
      before < sampleBytes ||
      (i === 0 && (scope.samplePercent > 0 || sampleBytes > 0))
    )
      chosen.push(blobId);
    before += info?.storedBytes ?? info?.logicalBytes ?? 0;
  });
  return chosen;
}

describe('ReferencedBlobs', () => {
  it('keeps each blob once, with its sizes, in the order first added, on disk past its memory', () => {
    const scratch = new MemoryScratchSpace();
    const referenced = new ReferencedBlobs(scratch, 1_000);
    const reference = new Map<string, { logicalBytes: number; storedBytes?: number }>();
    for (let n = 0; n < 12_000; n++) {
      const blobId = id(n % 9_000); // the last 3,000 again (their sizes then are not kept)
      const sizes = { logicalBytes: n, ...(n % 7 === 0 ? {} : { storedBytes: n + 44 }) };
      expect(referenced.add(blobId, sizes.logicalBytes, sizes.storedBytes)).toBe(!reference.has(blobId));
      if (!reference.has(blobId)) reference.set(blobId, sizes);
    }
    expect(referenced.size).toBe(9_000);
    expect(scratch.appendedBytes).toBeGreaterThan(8_000 * 48); // rows and ids went to scratch files
    expect([...referenced.entries()]).toEqual(
      [...reference].map(([blobId, sizes]) => ({ blobId, ...sizes })),
    );
    expect(referenced.at(8_999)).toEqual({ blobId: id(8_999), ...reference.get(id(8_999)) });
    expect(referenced.has(id(8_999))).toBe(true);
    expect(referenced.has(id(9_000))).toBe(false);
    referenced.close();
    expect(scratch.openFiles).toBe(0);
  });

  it.each([
    ['in memory', undefined],
    ['in buckets on disk, a chunk each', { memoryBlobs: 1_000, bucketRows: 300 }],
    ['in buckets on disk, of several chunks', { memoryBlobs: 1_000, bucketRows: 1_500 }],
  ])(
    'orders the deep pass as the Map of every blob did (%s): all, a percent sample, a byte sample',
    (_, spill) => {
      const scratch = new MemoryScratchSpace();
      const referenced = new ReferencedBlobs(scratch, 500);
      const map = new Map<string, { logicalBytes: number; storedBytes?: number }>();
      for (let n = 0; n < 5_000; n++) {
        const sizes = { logicalBytes: 1_000 + n, ...(n % 3 ? { storedBytes: 1_040 + n } : {}) };
        referenced.add(id(n), sizes.logicalBytes, sizes.storedBytes);
        map.set(id(n), sizes);
      }
      const filesOfReferenced = scratch.openFiles;
      // A byte sample ending exactly on a blob's end: the next blob is not in it
      const firstThree = referenceOrder('20261205T000000Z', map, { all: true, samplePercent: 0 })
        .slice(0, 3)
        .reduce(
          (sum, blobId) => sum + ((map.get(blobId)?.storedBytes ?? map.get(blobId)?.logicalBytes) as number),
          0,
        );
      for (const scope of [
        { all: true, samplePercent: 0 },
        { all: false, samplePercent: 5 },
        { all: false, samplePercent: 0, sampleBytes: 300_000 },
        { all: false, samplePercent: 2, sampleBytes: 50_000 },
        { all: false, samplePercent: 40, sampleBytes: 2_000_000 },
        { all: false, samplePercent: 0, sampleBytes: 100_000_000 }, // past the last blob
        { all: false, samplePercent: 0 },
        { all: false, samplePercent: 0, sampleBytes: firstThree },
      ]) {
        const order = deepPassOrder('20261205T000000Z', referenced, scope, {
          scratch,
          ...(spill ?? { memoryBlobs: 5_000 }),
        });
        expect(scratch.openFiles).toBe(filesOfReferenced + (spill ? 1 : 0));
        const expected = referenceOrder('20261205T000000Z', map, scope);
        expect(Array.from({ length: order.length }, (_, i) => order.at(i))).toEqual(expected);
        expect(order.at(order.length)).toBeUndefined();
        // A pass resumed at a cursor reads on from there, and may go back to the start
        if (order.length > 0) {
          expect(order.at(order.length - 1)).toBe(expected.at(-1));
          expect(order.at(0)).toBe(expected[0]);
        }
        order.close();
        expect(scratch.openFiles).toBe(filesOfReferenced);
      }
      referenced.close();
    },
  );
});

describe('ListedIds', () => {
  it('counts every id and keeps what listed() would report of them, in constant memory', () => {
    const ids = Array.from({ length: 5_000 }, (_, n) => id(n % 3_000));
    const kept = new ListedIds();
    for (const blobId of ids) kept.add(blobId);
    expect(kept.count).toBe(5_000);
    expect(kept.ids).toEqual(listed(ids));
  });
});

describe('verify task memory', () => {
  it('spilled to local disk, holds about the same for 400,000 referenced blobs as for 100,000', () => {
    const run = (blobs: number, memoryBlobs?: number) => {
      const args = [
        '--expose-gc',
        child,
        String(blobs),
        ...(memoryBlobs === undefined ? [] : [String(memoryBlobs)]),
      ];
      return JSON.parse(
        execFileSync(process.execPath, args, { encoding: 'utf8' }).trim().split('\n').at(-1) as string,
      );
    };
    const small = run(200_000, 50_000);
    const large = run(800_000, 50_000);
    const whole = run(800_000);
    for (const r of [small, large, whole]) {
      expect(r.referenced).toBe(r.blobs / 2); // every other blob of the vault is referenced
      expect(r.located).toBe(r.referenced);
      expect(r.order).toBe(r.referenced); // a pass over all of them
    }
    // 300,000 more referenced blobs: their packs' counts, and noise of a few hundred KB to 1.5 MB
    // (the order's own bound is the next test's); held whole, their rows, ids and index alone take
    // tens of MB
    expect(large.bytes - small.bytes).toBeLessThan(5 * 1024 * 1024);
    expect(large.bytes).toBeLessThan(32 * 1024 * 1024);
    expect(whole.bytes).toBeGreaterThan(large.bytes + 20 * 1024 * 1024);
  }, 300_000);
});

describe('deep pass order memory', () => {
  it('spilled to buckets on local disk, holds one bucket whatever the number of referenced blobs', () => {
    const run = (blobs: number) =>
      JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', orderChild, String(blobs), '50000'], {
          encoding: 'utf8',
        })
          .trim()
          .split('\n')
          .at(-1) as string,
      );
    const small = run(100_000);
    const large = run(800_000);
    for (const r of [small, large]) expect([r.length, r.seen]).toEqual([r.count, r.count]);
    // Held whole, the order took 4 bytes a blob after it was sorted: 3.2 MB at 800,000
    expect(large.held).toBeLessThan(1024 * 1024);
    expect(large.held - small.held).toBeLessThan(512 * 1024);
  }, 120_000);
});
