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
import type { ExpectedBlob } from './sample.ts';

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
  /** Referenced blobs and their sizes. */
  expected: Map<ContentId, ExpectedBlob>;
  /** Per region, the parts found there but unreadable while reading the entries (counted as missing). */
  unreadableParts: Map<string, Set<ContentId>>;
  regions: string[];
  /** Each region's index, loaded once per task. */
  indexes: Map<string, Promise<VaultIndex>>;
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
 * collect the referenced blobs with their sizes (the stored size from the primary's index). Parts
 * are folded in as they arrive, so memory holds the blob ids, not the entries.
 */
export async function loadExpected(c: TierContext): Promise<void> {
  const { deps, manifest } = c;
  const primaryIndex = await regionIndex(c, deps.vaults.primary.region);
  const limit = pLimit(8);
  await Promise.all(
    manifest.parts.map((ref) =>
      limit(async () => {
        const part = await readPartAnywhere(c, ref.partId);
        for (const entry of part.entries) {
          entry.blobs.forEach((blobId, i) => {
            if (c.expected.has(blobId)) return;
            const where = primaryIndex.locate(blobId);
            const chunk = Math.max(0, Math.min(CHUNK_SIZE_BYTES, entry.sizeBytes - i * CHUNK_SIZE_BYTES));
            c.expected.set(blobId, {
              logicalBytes: where?.sizeBytes ?? chunk,
              ...(where ? { storedBytes: where.lengthBytes } : {}),
            });
          });
        }
      }),
    ),
  );
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

/** The referenced blobs grouped by the pack the region's index puts them in, and those it does not locate. */
export function locateReferenced(
  c: TierContext,
  index: VaultIndex,
): { byPack: Map<ContentId, ContentId[]>; unlocated: ContentId[] } {
  const byPack = new Map<ContentId, ContentId[]>();
  const unlocated: ContentId[] = [];
  for (const blobId of c.expected.keys()) {
    const where = index.locate(blobId);
    if (!where) {
      unlocated.push(blobId);
      continue;
    }
    const blobs = byPack.get(where.packId);
    if (blobs) blobs.push(blobId);
    else byPack.set(where.packId, [blobId]);
  }
  return { byPack, unlocated };
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
