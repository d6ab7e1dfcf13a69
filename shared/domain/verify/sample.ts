/**
 * The deep tier's sample: a stable draw per snapshot and blob, and the order in which a deep pass
 * checks the referenced blobs.
 * @see ../../../docs/format.md#verification
 */

import { createHash } from 'node:crypto';
import type { ContentId } from '../vault.ts';

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

/** What verification knows of a referenced blob before reading it. */
export interface ExpectedBlob {
  /** Plaintext size of the blob (its chunk of the object), in bytes. */
  logicalBytes: number;
  /** Sealed size in its pack, in bytes, by the primary's index; undefined when no index locates it. */
  storedBytes?: number;
}

/**
 * The blobs a deep pass checks, in the stable order it checks them (ascending draw, then id): all
 * referenced blobs, or the sample — a blob whose draw falls below `samplePercent`, or whose
 * predecessors in that order add up to fewer than `sampleBytes` stored bytes, and at least the first
 * blob when either setting is positive.
 * @param expected referenced blob ids with their sizes in bytes (a blob without a stored size counts
 *   its logical size).
 * @see docs/format.md#verification
 */
export function deepPassOrder(
  snapshotId: string,
  expected: ReadonlyMap<ContentId, ExpectedBlob>,
  scope: { all: boolean; samplePercent: number; sampleBytes?: number },
): ContentId[] {
  const ordered = [...expected.keys()]
    .map((id) => ({ id, draw: sampleDraw(snapshotId, id) }))
    .sort((a, b) => a.draw - b.draw || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (scope.all) return ordered.map((o) => o.id);
  const sampleBytes = scope.sampleBytes ?? 0;
  const chosen: ContentId[] = [];
  let before = 0;
  ordered.forEach(({ id, draw }, i) => {
    const info = expected.get(id);
    if (
      draw < scope.samplePercent / 100 ||
      before < sampleBytes ||
      (i === 0 && (scope.samplePercent > 0 || sampleBytes > 0))
    ) {
      chosen.push(id);
    }
    before += info?.storedBytes ?? info?.logicalBytes ?? 0;
  });
  return chosen;
}
