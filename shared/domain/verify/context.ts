/**
 * What the tiers of one verify task share: the snapshot, its manifest and referenced blobs (read
 * once), each region's index (loaded once), and the helpers that locate, list and probe what a
 * region holds.
 * @see ../../../docs/format.md#verification
 * @see ../../../docs/format.md#index
 */

import pLimit from 'p-limit';
import { idsListed } from '../copy.ts';
import { IntegrityError, NotFoundError, ValidationError } from '../errors.ts';
import { type PipelineDeps, vaultIn } from '../pipeline.ts';
import type { PlanRecord, SnapshotRecord } from '../records.ts';
import { readPart } from '../repository/read-documents.ts';
import { VaultIndex } from '../repository/vault-index.ts';
import type { VerifyTask, VerifyTierTask } from '../tasks.ts';
import { CHUNK_SIZE_BYTES, type ContentId, type Manifest, type ManifestPart, VaultLayout } from '../vault.ts';
import { checkItemPart, checkItemRoot, type ItemChecks, newItemChecks } from './items.ts';
import type { ReferencedBlobs } from './referenced.ts';

/** At most this many blob ids are recorded per list (missing, mismatched, corrupt). */
export const MAX_LISTED = 100;

/** How a verify task may spend its time. */
export interface VerifyOptions {
  /**
   * Milliseconds the task has left (on Lambda, `context.getRemainingTimeInMillis`). Without it a
   * deep pass runs to the end in one task.
   */
  remainingMs?: () => number;
  /** A deep pass saves its cursor and continues in a new task when fewer milliseconds remain. @default 60000 */
  reserveMs?: number;
  /**
   * Blobs of a deep pass per window: its cursor moves (and the time left is looked at) a window at
   * a time, and a window's blobs of one pack are read together. A window also ends at 512 MiB.
   * @default 4096
   */
  windowBlobs?: number;
}

export interface TierContext {
  deps: PipelineDeps;
  options: VerifyOptions;
  task: VerifyTask | VerifyTierTask;
  plan: PlanRecord;
  snapshot: SnapshotRecord;
  manifestId: ContentId;
  manifest: Manifest;
  /** Referenced blobs and their sizes (on local disk past `indexMemoryBlobs`; closed when the task ends). */
  referenced: ReferencedBlobs;
  /** Per region, the parts found there but unreadable while reading the entries (counted as missing). */
  unreadableParts: Map<string, Set<ContentId>>;
  regions: string[];
  /** Each region's index, loaded once per task. */
  indexes: Map<string, Promise<VaultIndex>>;
  /** A table snapshot's item checks, made as {@link loadExpected} reads the parts (verify/items.ts). */
  items?: ItemChecks;
}

/** A region's index, loaded on first use and shared by the tiers of one task. */
export function regionIndex(c: TierContext, region: string): Promise<VaultIndex> {
  let index = c.indexes.get(region);
  if (!index) {
    index = VaultIndex.load(vaultIn(c.deps.vaults, region), c.deps.envelope, c.deps);
    c.indexes.set(region, index);
  }
  return index;
}

/**
 * Read every part (from the primary, else from the first copy region that has it and opens it) and
 * collect the referenced blobs with their sizes (the stored size from the primary's index); of a
 * table snapshot, check its items on the way (`c.items`, verify/items.ts). Parts are folded in as
 * they arrive, so memory holds the blob ids, not the entries.
 */
export async function loadExpected(c: TierContext): Promise<void> {
  const { deps, manifest } = c;
  const primaryIndex = await regionIndex(c, deps.vaults.primary.region);
  const limit = pLimit(8);
  c.items = newItemChecks(manifest);
  await Promise.all(
    manifest.parts.map((ref, i) =>
      limit(async () => {
        const part = await readPartAnywhere(c, ref.partId);
        if (c.items) checkItemPart(c.items, manifest, i, ref, part);
        for (const entry of part.entries) {
          entry.blobs.forEach((blobId, i) => {
            if (c.referenced.has(blobId)) return;
            const where = primaryIndex.locate(blobId);
            const chunk = Math.max(0, Math.min(CHUNK_SIZE_BYTES, entry.sizeBytes - i * CHUNK_SIZE_BYTES));
            c.referenced.add(blobId, where?.sizeBytes ?? chunk, where?.lengthBytes);
          });
        }
      }),
    ),
  );
  if (c.items) checkItemRoot(c.items, manifest);
}

async function readPartAnywhere(c: TierContext, partId: ContentId): Promise<ManifestPart> {
  let first: unknown;
  for (const region of c.regions) {
    try {
      return await readPart(vaultIn(c.deps.vaults, region), c.deps.envelope, c.task.planId, partId);
    } catch (error) {
      if (
        !(
          error instanceof NotFoundError ||
          error instanceof IntegrityError ||
          error instanceof ValidationError
        )
      )
        throw error;
      if (!(error instanceof NotFoundError)) {
        const set = c.unreadableParts.get(region) ?? new Set<ContentId>();
        set.add(partId);
        c.unreadableParts.set(region, set);
      }
      first ??= error;
    }
  }
  throw first ?? new NotFoundError(`part ${partId} of ${c.task.planId}/${c.task.snapshotId} is in no region`);
}

/**
 * Blob ids counted, and the {@link MAX_LISTED} smallest of them kept (what {@link listed} reports
 * of any list they join): a list of a whole snapshot's blobs, held in constant memory.
 */
export class ListedIds {
  count = 0;
  /** The smallest ids added, ascending, at most {@link MAX_LISTED}. */
  readonly ids: ContentId[] = [];

  add(blobId: ContentId): void {
    this.count += 1;
    const { ids } = this;
    if (ids.length === MAX_LISTED && blobId >= (ids[MAX_LISTED - 1] as ContentId)) return;
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((ids[mid] as ContentId) < blobId) lo = mid + 1;
      else hi = mid;
    }
    if (ids[lo] === blobId) return;
    ids.splice(lo, 0, blobId);
    if (ids.length > MAX_LISTED) ids.pop();
  }
}

/**
 * The referenced blobs counted by the pack the region's index puts them in, and those it does not
 * locate (counted, the smallest listed): memory by pack, not by blob. {@link blobsIn} lists the
 * blobs of the packs found missing or mismatched.
 */
export function locateReferenced(
  c: TierContext,
  index: VaultIndex,
): { byPack: Map<ContentId, number>; unlocated: ListedIds } {
  const byPack = new Map<ContentId, number>();
  const unlocated = new ListedIds();
  for (const { blobId } of c.referenced.entries()) {
    const where = index.locate(blobId);
    if (where) byPack.set(where.packId, (byPack.get(where.packId) ?? 0) + 1);
    else unlocated.add(blobId);
  }
  return { byPack, unlocated };
}

/** The referenced blobs the region's index puts in one of `packs` (counted, the smallest listed). */
export function blobsIn(c: TierContext, index: VaultIndex, packs: ReadonlySet<ContentId>): ListedIds {
  const found = new ListedIds();
  if (packs.size === 0) return found;
  for (const { blobId } of c.referenced.entries()) {
    const where = index.locate(blobId);
    if (where && packs.has(where.packId)) found.add(blobId);
  }
  return found;
}

/** The snapshot's parts not listed in the region (or found unreadable there). */
export async function missingPartsIn(c: TierContext, region: string): Promise<ContentId[]> {
  const vault = vaultIn(c.deps.vaults, region);
  const listed = await idsListed(vault, VaultLayout.partsPrefix(c.task.planId), VaultLayout.partIdOf);
  const unreadable = c.unreadableParts.get(region);
  return c.manifest.parts.map((ref) => ref.partId).filter((id) => !listed.has(id) || unreadable?.has(id));
}

/** Sorted, de-duplicated and capped at {@link MAX_LISTED}. */
export function listed(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort().slice(0, MAX_LISTED);
}

/**
 * Whether `probe` finds its document: false when it is missing (NotFoundError), or, with
 * `unreadableIsMissing`, when it cannot be opened (IntegrityError). Anything else is rethrown.
 */
export async function documentPresent(
  probe: () => Promise<unknown>,
  unreadableIsMissing: boolean,
): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    if (
      error instanceof NotFoundError ||
      (unreadableIsMissing && (error instanceof IntegrityError || error instanceof ValidationError))
    )
      return false;
    throw error;
  }
}

export function secondsSince(deps: PipelineDeps, started: Date): number {
  return (deps.clock.now().getTime() - started.getTime()) / 1000;
}
