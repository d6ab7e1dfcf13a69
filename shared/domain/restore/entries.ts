/**
 * The per-entry work of every restore: overwrite decisions, archived packs, and the writes, with the
 * reads of one-chunk objects' blobs coalesced per pack.
 * @see ../../../docs/format.md#read-and-write-ordering
 */

import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { type PipelineDeps, tuningOf } from '../pipeline.ts';
import type { WriteConditions } from '../ports.ts';
import {
  type BlobLocation,
  type CoalesceLimits,
  coalesceBlobReads,
  readBlobsOfPack,
} from '../repository/read-blobs.ts';
import type { RestoreUpload } from '../tasks.ts';
import { CHUNK_SIZE_BYTES, type ContentId, type ManifestEntry } from '../vault.ts';
import { prepareArchive } from './archive.ts';
import { LISTING_THRESHOLD, listTargetRange } from './listing.ts';
import { overwriteDecision, type SkipReason } from './overwrite.ts';
import { REPORT_LIST_LIMIT } from './report.ts';
import type { RestoreOptions } from './request.ts';
import type { ResolvedRestore } from './restore.ts';
import { restoreResumably } from './resumable.ts';
import { attributesOf, checkWholeObject, putEntry } from './write.ts';

/** What {@link restoreEntries} did with a list of entries. */
interface EntriesOutcome {
  objects: number;
  bytes: number;
  skipped: Record<SkipReason, number>;
  skippedObjects: { key: string; reason: SkipReason }[];
  archive?: { packs: number; blobs: number; requested: number };
  /** With `dryRun`: the first 1000 target keys that would be written. */
  keys: string[];
  /** Set when the one object to write paused (see {@link Resumable}): nothing of it is counted yet. */
  paused?: RestoreUpload;
}

/**
 * A restore slice whose only object to write is at least `minBytes` writes it resumably
 * ({@link restoreResumably}): it may pause between two upload parts when `shouldPause()` says so.
 */
export interface Resumable {
  minBytes: number;
  shouldPause: () => boolean;
}

/**
 * The per-entry work of every restore, synchronous or one slice of a fanned-out one: decide each
 * entry under the overwrite policy, locate the blobs to write in the region's index (loaded once),
 * make archived packs readable, then (unless `dryRun`) read each object chunk by chunk, check it
 * and write it. Under `never` each write is conditional (`ifNoneMatch`): an object that appeared at
 * its key after the decision is kept and counted as skipped because it exists.
 * @throws NotFoundError (not retryable), before anything is written, for a blob no index locates.
 * @throws IntegrityError (not retryable) for content that does not match the manifest.
 * @throws ArchivePendingError (retryable) when archived packs are not readable yet.
 */
export async function restoreEntries(
  deps: PipelineDeps,
  at: Pick<ResolvedRestore, 'request' | 'vault' | 'index' | 'targetBucket'> & {
    listVault?: boolean;
    resumable?: Resumable;
  },
  entries: readonly ManifestEntry[],
  opts: RestoreOptions,
): Promise<EntriesOutcome> {
  const { envelope, objects } = deps;
  const { request, vault, targetBucket } = at;
  const out: EntriesOutcome = {
    objects: 0,
    bytes: 0,
    skipped: { exists: 0, unchanged: 0 },
    skippedObjects: [],
    keys: [],
  };
  const limit = pLimit(tuningOf(deps).concurrency);
  const targetKey = (entry: ManifestEntry) => request.targetPrefix + entry.key;
  const listing = entries.length > LISTING_THRESHOLD;

  // 1. What the target already holds decides what to write: one listing of the target's keys from
  //    the first entry's to the last's for a large selection, a HEAD per key for a small one.
  const listedAt =
    listing && request.overwrite !== 'always'
      ? await listTargetRange(objects, targetBucket, entries.map(targetKey))
      : () => undefined;
  let checked = 0;
  const decisions = await Promise.all(
    entries.map((entry) =>
      limit(async () => {
        const decision = await overwriteDecision(
          objects,
          targetBucket,
          targetKey(entry),
          entry,
          request.overwrite,
          listedAt(targetKey(entry)),
        );
        if (request.overwrite !== 'always') {
          checked += 1;
          opts.onProgress?.({
            phase: 'check',
            objects: checked,
            bytes: 0,
            total: entries.length,
            totalBytes: 0,
          });
        }
        return { entry, decision };
      }),
    ),
  );
  const toWrite: ManifestEntry[] = [];
  for (const { entry, decision } of decisions) {
    if (decision === 'write') {
      toWrite.push(entry);
      continue;
    }
    out.skipped[decision] += 1;
    if (out.skippedObjects.length < REPORT_LIST_LIMIT) {
      out.skippedObjects.push({ key: targetKey(entry), reason: decision });
    }
  }
  const totalBytes = toWrite.reduce((sum, e) => sum + e.sizeBytes, 0);

  // 2. Every blob to write must be in the region's index, and archived packs readable, before the
  //    first write. Above LISTING_THRESHOLD packs a restore learns the storage classes from one
  //    listing of the vault's packs (unless `at.listVault` is false: a restore slice, whose packs are
  //    cheaper to HEAD than a whole vault is to list, once per slice).
  const index = toWrite.length > 0 ? await at.index() : undefined;
  if (index) {
    const archive = await prepareArchive(deps, vault, index, toWrite, request, {
      ...opts,
      ...(at.listVault === undefined ? {} : { listVault: at.listVault }),
    });
    if (archive) out.archive = archive;
  }

  if (request.dryRun || !index) {
    out.objects = toWrite.length;
    out.bytes = totalBytes;
    out.keys = toWrite.slice(0, REPORT_LIST_LIMIT).map(targetKey);
    return out;
  }

  // 3. Write: objects of several chunks read chunk by chunk and streamed; objects of one chunk read
  //    many at a time (one ranged GET per run of their blobs in a pack) and written with one PUT each.
  //    Under `never` the target is live between the decision and the write: each write stores only
  //    while the key has no object, so a newer write there is never replaced.
  const conditions: WriteConditions = { ifNoneMatch: request.overwrite === 'never' };
  const skippedAtWrite = (entry: ManifestEntry) => {
    out.skipped.exists += 1;
    if (out.skippedObjects.length < REPORT_LIST_LIMIT) {
      out.skippedObjects.push({ key: targetKey(entry), reason: 'exists' });
    }
  };
  const written = (bytes: number) => {
    out.objects += 1;
    out.bytes += bytes;
    opts.onProgress?.({
      phase: 'write',
      objects: out.objects,
      bytes: out.bytes,
      total: toWrite.length,
      totalBytes,
    });
  };
  const chunked = toWrite.filter((entry) => entry.blobs.length !== 1);
  const byBlob = new Map<ContentId, ManifestEntry[]>();
  for (const entry of toWrite) {
    if (entry.blobs.length !== 1) continue;
    const blobId = entry.blobs[0] as ContentId;
    const list = byBlob.get(blobId);
    if (list) list.push(entry);
    else byBlob.set(blobId, [entry]);
  }
  // Every blob was located before the first write (packsOf, in prepareArchive).
  const reads = coalesceBlobReads(
    [...byBlob.keys()].map((blobId) => index.locate(blobId) as BlobLocation),
    RESTORE_COALESCE_LIMITS,
  );
  // Memory: at most this many coalesced reads (each ≤ maxSpanBytes) in flight at once.
  const readLimit = pLimit(Math.max(2, Math.ceil(tuningOf(deps).concurrency / 8)));
  await Promise.all([
    ...chunked.map((entry) =>
      limit(async () => {
        const key = targetKey(entry);
        const { resumable } = at;
        if (resumable && toWrite.length === 1 && entry.sizeBytes >= resumable.minBytes) {
          const target = {
            objects,
            vault,
            envelope,
            index,
            bucket: targetBucket,
            key,
            shouldPause: resumable.shouldPause,
          };
          const done = await restoreResumably(target, entry, conditions.ifNoneMatch === true);
          if ('paused' in done) out.paused = done.paused;
          else if (done.outcome === 'exists') skippedAtWrite(entry);
          else written(done.bytes);
          return;
        }
        const put = await putEntry(objects, vault, envelope, index, entry, targetBucket, key, conditions);
        if (put.outcome === 'exists') skippedAtWrite(entry);
        else written(put.bytes);
      }),
    ),
    ...reads.map((read) =>
      readLimit(async () => {
        const bodies = await readBlobsOfPack(vault, envelope, read);
        await Promise.all(
          read.flatMap((where, i) =>
            (byBlob.get(where.blobId) ?? []).map((entry) =>
              limit(async () => {
                const body = bodies[i] as Buffer;
                // Its blob was checked against its id (the object's SHA-256); a recorded
                // contentSha256 is checked too, as verifiedEntryContent does.
                const sha256 =
                  entry.contentSha256 === undefined
                    ? undefined
                    : createHash('sha256').update(body).digest('hex');
                checkWholeObject(vault, entry, body.length, sha256);
                const outcome = await objects.put(
                  targetBucket,
                  targetKey(entry),
                  body,
                  attributesOf(entry),
                  conditions,
                );
                if (outcome === 'exists') skippedAtWrite(entry);
                else written(body.length);
              }),
            ),
          ),
        );
      }),
    ),
  ]);
  return out;
}

/**
 * How a restore coalesces the reads of one-chunk objects' blobs: spans up to 8 MiB (one chunk) of a
 * pack, skipping at most 256 KiB of blobs it does not need between two it does.
 */
export const RESTORE_COALESCE_LIMITS: CoalesceLimits = {
  maxSpanBytes: CHUNK_SIZE_BYTES,
  maxGapBytes: 256 * 1024,
};
