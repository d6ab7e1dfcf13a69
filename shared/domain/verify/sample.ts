/**
 * The deep tier's sample: a stable draw per snapshot and blob, and the order in which a deep pass
 * checks the referenced blobs.
 * @see ../../../docs/format.md#verification
 */

import { createHash } from 'node:crypto';
import type { ContentId } from '../vault.ts';
import type { ReferencedBlobs } from './referenced.ts';

/**
 * The deep tier's draw for `blobId` in `snapshotId`: a number in [0, 1) from the hash of both, so
 * each snapshot samples different blobs and a retry samples the same ones.
 */
export function sampleDraw(snapshotId: string, blobId: string): number {
  return createHash('sha256').update(`${snapshotId}:${blobId}`).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Whether `blobId` is in the percent sample of `snapshotId`.
 * @param samplePercent 0–100.
 */
export function inSample(snapshotId: string, blobId: string, samplePercent: number): boolean {
  return sampleDraw(snapshotId, blobId) < samplePercent / 100;
}

/** The blobs of a deep pass, in order: position `i`'s blob id (an array of ids is one). */
export interface BlobOrder {
  readonly length: number;
  at(i: number): ContentId | undefined;
}

/**
 * The blobs a deep pass checks, in the stable order it checks them (ascending draw, then id): all
 * referenced blobs, or the sample — a blob whose draw falls below `samplePercent`, or whose
 * predecessors in that order add up to fewer than `sampleBytes` stored bytes, and at least the first
 * blob when either setting is positive. Holds 20 bytes a referenced blob while it draws and sorts,
 * and 4 bytes a chosen one after (their ids are read from `referenced` when the pass reaches them).
 * @param referenced the snapshot's blobs with their sizes in bytes (a blob without a stored size
 *   counts its logical size).
 * @see docs/format.md#verification
 */
export function deepPassOrder(
  snapshotId: string,
  referenced: ReferencedBlobs,
  scope: { all: boolean; samplePercent: number; sampleBytes?: number },
): BlobOrder {
  const n = referenced.size;
  const draws = new Float64Array(n);
  const sizes = new Float64Array(n);
  /** The id's first 4 bytes: orders ties of the draw as the ids do, but for ids sharing them. */
  const heads = new Uint32Array(n);
  let k = 0;
  for (const blob of referenced.entries()) {
    draws[k] = sampleDraw(snapshotId, blob.blobId);
    sizes[k] = blob.storedBytes ?? blob.logicalBytes;
    heads[k] = Number.parseInt(blob.blobId.slice(0, 8), 16);
    k += 1;
  }
  const rows = Uint32Array.from({ length: n }, (_, i) => i);
  rows.sort((a, b) => {
    const byDraw = (draws[a] as number) - (draws[b] as number);
    if (byDraw !== 0) return byDraw;
    const byHead = (heads[a] as number) - (heads[b] as number);
    if (byHead !== 0) return byHead;
    const [x, y] = [referenced.blobIdAt(a), referenced.blobIdAt(b)];
    return x < y ? -1 : x > y ? 1 : 0;
  });
  let chosen = rows;
  if (!scope.all) {
    const sampleBytes = scope.sampleBytes ?? 0;
    chosen = new Uint32Array(n);
    let count = 0;
    let before = 0;
    rows.forEach((row, i) => {
      if (
        (draws[row] as number) < scope.samplePercent / 100 ||
        before < sampleBytes ||
        (i === 0 && (scope.samplePercent > 0 || sampleBytes > 0))
      ) {
        chosen[count++] = row;
      }
      before += sizes[row] as number;
    });
    chosen = chosen.slice(0, count);
  }
  return orderOf(referenced, chosen);
}

/**
 * The order over `rows` of `referenced`. Its own scope: a closure made in {@link deepPassOrder}
 * would keep that function's draws and sizes (20 bytes a blob) alive with it.
 */
function orderOf(referenced: ReferencedBlobs, rows: Uint32Array): BlobOrder {
  return {
    length: rows.length,
    at: (i) => (i >= 0 && i < rows.length ? referenced.blobIdAt(rows[i] as number) : undefined),
  };
}
