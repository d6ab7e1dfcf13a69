/**
 * Restore slices: how a restore job's selection is cut (by objects and bytes), the range each slice
 * restores, and the one streaming pass over a selection that gives a job its totals, its slices and
 * the packs it reads, without holding the selection.
 * @see ../../../docs/format.md#catalog (the restore job record, `sliceCounts`)
 */

import type { Envelope } from '../envelope.ts';
import { ValidationError } from '../errors.ts';
import type { VaultStore } from '../ports.ts';
import type { RestoreJobRecord } from '../records.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import type { ContentId, Manifest } from '../vault.ts';
import { addPacksOf } from './archive.ts';
import type { ParsedRestoreRequest } from './request.ts';
import { type RestoreSource, selectionOf } from './restore.ts';
import type { SelectionSummary } from './selection.ts';

/** Selected bytes per restore slice, unless configured: minutes of work for one worker. */
export const DEFAULT_SLICE_BYTES = 2 * 1024 ** 3;
/**
 * UTF-8 bytes of listed keys (`keys`) per slice, each key counted with 8 more: a slice's keys are
 * one catalog item of their own (DynamoDB's limit is 400 KB an item).
 */
export const MAX_SLICE_KEY_BYTES = 256 * 1024;
/** The most slices a job records the counts of (about 200 KB: one catalog item of their own). */
export const MAX_RECORDED_SLICES = 50_000;
/** How far {@link measureSelection} raises the byte budget to fit the recorded slices: 16×. */
const MAX_BUDGET_DOUBLINGS = 4;

/**
 * Cuts a selection into slices as its entries come, in order: a slice ends at `maxObjects` entries,
 * or before an entry that would take it past `maxBytes` (an entry larger than that is a slice of
 * its own), or past {@link MAX_SLICE_KEY_BYTES} of keys when the keys are counted.
 */
export class Slicer {
  readonly counts: number[] = [];
  readonly #maxObjects: number;
  readonly #maxBytes: number;
  #count = 0;
  #bytes = 0;
  #keyBytes = 0;

  constructor(maxObjects: number, maxBytes: number) {
    this.#maxObjects = maxObjects;
    this.#maxBytes = maxBytes;
  }

  /**
   * Add the next entry: `sizeBytes` of content and, for a slice that stores its keys, `keyBytes`.
   * @returns whether the entry starts a new slice.
   */
  add(sizeBytes: number, keyBytes = 0): boolean {
    const full =
      this.#count >= this.#maxObjects ||
      this.#bytes + sizeBytes > this.#maxBytes ||
      this.#keyBytes + keyBytes > MAX_SLICE_KEY_BYTES;
    const starts = this.#count === 0 || full;
    if (this.#count > 0 && full) {
      this.counts.push(this.#count);
      this.#count = 0;
      this.#bytes = 0;
      this.#keyBytes = 0;
    }
    this.#count += 1;
    this.#bytes += sizeBytes;
    this.#keyBytes += keyBytes;
    return starts;
  }

  /** The entries in each slice; `uniform` when all but the last hold `maxObjects` (nothing to record). */
  finish(): { counts: number[]; uniform: boolean } {
    if (this.#count > 0) this.counts.push(this.#count);
    this.#count = 0;
    const uniform = this.counts.slice(0, -1).every((n) => n === this.#maxObjects);
    return { counts: this.counts, uniform };
  }
}

/**
 * Cut a selection into slices, in order (see {@link Slicer}).
 * @returns the number of entries in each slice.
 * @example
 * ```ts
 * cutSlices([10, 10, 100, 10], 500, 25); // [2, 1, 1]
 * ```
 */
export function cutSlices(sizesBytes: Iterable<number>, maxObjects: number, maxBytes: number): number[] {
  const slicer = new Slicer(maxObjects, maxBytes);
  for (const size of sizesBytes) slicer.add(size);
  return slicer.finish().counts;
}

/**
 * The entries each of `slices` of a job restores: its first (from 0, in manifest order) and count,
 * from the job's slice counts when its slices were cut by bytes, else from its slice size.
 */
export function sliceRanges(
  job: Pick<RestoreJobRecord, 'selected' | 'sliceSize'>,
  slices: readonly number[],
  sliceCounts?: readonly number[],
): { slice: number; first: number; count: number }[] {
  if (!sliceCounts) {
    return slices.map((slice) => {
      const first = slice * job.sliceSize;
      return { slice, first, count: Math.min(job.sliceSize, job.selected - first) };
    });
  }
  const firsts: number[] = [];
  let first = 0;
  for (const count of sliceCounts) {
    firsts.push(first);
    first += count;
  }
  return slices.map((slice) => ({ slice, first: firsts[slice] ?? first, count: sliceCounts[slice] ?? 0 }));
}

/** What a restore job needs of its selection, from one pass over it. */
export interface MeasuredSelection {
  selected: number;
  selectedBytes: number;
  /** Entries per slice; `uniform`: all but the last hold the slice size (nothing to record). */
  slices: { counts: number[]; uniform: boolean };
  /** Pack id → blobs of the selection it holds (each entry's blobs counted, a shared blob each time). */
  packs: Map<ContentId, number>;
  /** With listed keys (`request.keys`): the keys each slice restores, in order. */
  sliceKeys?: string[][];
  summary: SelectionSummary;
}

/**
 * One pass over a request's whole selection, an entry at a time (memory: a few manifest parts, the
 * packs and the slice counts, whatever the selection's size): its totals, its slices (the byte
 * budget doubled, and the selection read again, until the job can record every slice's count, up to
 * 16×), and
 * the packs holding its blobs, each located in the region's index.
 * @throws NotFoundError (not retryable) for a blob no index locates; as {@link streamSelection}.
 * @throws ValidationError (not retryable) for a selection that needs more slices than a job records
 *   even at 16 times the byte budget (tens of millions of objects cut by bytes).
 */
export async function measureSelection(
  source: Pick<RestoreSource, 'vault' | 'snapshot' | 'pointInTime'> & { manifest: Manifest },
  envelope: Envelope,
  request: ParsedRestoreRequest,
  index: Pick<VaultIndex, 'locate'>,
  limits: { sliceSize: number; sliceBytes: number },
): Promise<MeasuredSelection> {
  for (let doublings = 0, budget = limits.sliceBytes; ; doublings += 1, budget *= 2) {
    const measured = await measureOnce(source, source.vault, envelope, request, index, {
      sliceSize: limits.sliceSize,
      sliceBytes: budget,
    });
    if (measured.slices.uniform || measured.slices.counts.length <= MAX_RECORDED_SLICES) return measured;
    if (doublings === MAX_BUDGET_DOUBLINGS) {
      throw new ValidationError(
        `the selection (${measured.selected} objects) needs ${measured.slices.counts.length} slices of at most ${budget} bytes, more than a restore job records (${MAX_RECORDED_SLICES}): restore it in parts (--prefix, --include)`,
        'prefix',
      );
    }
  }
}

async function measureOnce(
  source: Pick<RestoreSource, 'snapshot' | 'pointInTime'> & { manifest: Manifest },
  vault: VaultStore,
  envelope: Envelope,
  request: ParsedRestoreRequest,
  index: Pick<VaultIndex, 'locate'>,
  limits: { sliceSize: number; sliceBytes: number },
): Promise<MeasuredSelection> {
  const summary: SelectionSummary = { selectedCount: 0, warnings: [], fromJournal: 0 };
  const slicer = new Slicer(limits.sliceSize, limits.sliceBytes);
  const packs = new Map<ContentId, number>();
  // A job over listed keys stores each slice's keys: the list is held already (it is the request's).
  const sliceKeys: string[][] | undefined = request.keys ? [] : undefined;
  let selected = 0;
  let selectedBytes = 0;
  for await (const entry of selectionOf({ ...source, vault }, envelope, request, summary)) {
    selected += 1;
    selectedBytes += entry.sizeBytes;
    const keyBytes = sliceKeys ? Buffer.byteLength(entry.key, 'utf8') + 8 : 0;
    if (slicer.add(entry.sizeBytes, keyBytes)) sliceKeys?.push([]);
    sliceKeys?.at(-1)?.push(entry.key);
    addPacksOf(vault, index, entry, packs);
  }
  return {
    selected,
    selectedBytes,
    slices: slicer.finish(),
    packs,
    ...(sliceKeys ? { sliceKeys } : {}),
    summary,
  };
}
