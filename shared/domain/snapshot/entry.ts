/** One listed object of a partition as a manifest entry: reused when unchanged, else read into packs. */
import { ConflictError, NotFoundError, TransientError } from '../errors.ts';
import type { PipelineDeps } from '../pipeline.ts';
import type { SourceObject } from '../ports.ts';
import { type Resumable, readObjectChunks } from '../reader.ts';
import type { PlanRecord } from '../records.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import type { PackWriter } from '../repository/write.ts';
import { sourceOf } from '../source/index.ts';
import { type ContentId, contentIdOf, type ManifestEntry } from '../vault.ts';

export interface Counters {
  objectsRead: number;
  blobsWritten: number;
  packsWritten: number;
  storedBytesWritten: number;
  objectsVanished: number;
}

/**
 * The manifest entry of one listed object: the parent's when unchanged (same ETag and size), else
 * read chunk by chunk into the pack writer (from `reading.from` when its read paused before, and
 * pausing when `reading.pause` says so). Undefined when the object vanished after the listing.
 * @throws ReadPaused (reader.ts) when the read paused: its chunks so far are in the pack writer.
 */
export async function entryFor(
  deps: PipelineDeps,
  plan: PlanRecord,
  object: SourceObject,
  previous: ManifestEntry | undefined,
  captured: ManifestEntry | undefined,
  packs: PackWriter,
  vaultIndex: () => Promise<VaultIndex>,
  counters: Counters,
  reading?: Resumable,
): Promise<ManifestEntry | undefined> {
  for (const known of [previous, captured]) {
    if (known && known.etag === object.etag && known.sizeBytes === object.sizeBytes) {
      return { ...known, lastModified: object.lastModified };
    }
  }
  const index = await vaultIndex();
  const store = async (chunk: Uint8Array): Promise<ContentId> => {
    const blobId = contentIdOf(chunk);
    if (!packs.added.has(blobId) && !index.locate(blobId)) {
      counters.blobsWritten += 1;
      await packs.add(blobId, chunk);
    }
    return blobId;
  };
  // Overwritten while its chunks were read: read it again, whole, at once (3 reads in all).
  const retryIf = (error: unknown) => error instanceof ConflictError;
  const source = sourceOf(deps, plan.source);
  try {
    // A paused read goes on from where it stopped once; read again after a conflict, from the start.
    let from = reading?.from;
    const read = () => {
      const resumable = reading && { ...reading, from };
      from = undefined;
      return readObjectChunks(source, object, {}, store, resumable);
    };
    const entry = await deps.retry(read, { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0, retryIf });
    counters.objectsRead += 1;
    return entry;
  } catch (error) {
    if (error instanceof NotFoundError) {
      counters.objectsVanished += 1; // deleted after the listing: not part of this snapshot
      return undefined;
    }
    throw error instanceof ConflictError
      ? new TransientError(`${object.key} keeps changing while it is read`, { cause: error })
      : error;
  }
}
