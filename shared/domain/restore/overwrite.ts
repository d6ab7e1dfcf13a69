/**
 * Overwrite policies: what a restore does with a key the target already holds, and the content hash
 * of a target object `ifChanged` compares with the snapshot's.
 */

import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { ObjectStore } from '../ports.ts';
import {
  CHUNK_SIZE_BYTES,
  type ContentId,
  contentIdOf,
  contentSha256Of,
  type ManifestEntry,
} from '../vault.ts';

/** What to do with a key the target already holds. */
export const OVERWRITE_POLICIES = ['never', 'ifChanged', 'always'] as const;
export type OverwritePolicy = (typeof OVERWRITE_POLICIES)[number];

/** Why an object was not written. */
export type SkipReason = 'exists' | 'unchanged';

/**
 * SHA-256 (lowercase hex) of an object of a bucket: one GET up to one chunk
 * ({@link CHUNK_SIZE_BYTES}), ranged GETs of one chunk each above (pinned to the first one's ETag),
 * so memory stays at one chunk.
 * @throws ConflictError (not retryable here) when the object changes between two ranged GETs.
 * @throws NotFoundError when it vanished.
 */
async function sha256OfObject(
  objects: ObjectStore,
  bucket: string,
  key: string,
  sizeBytes: number,
): Promise<ContentId> {
  if (sizeBytes <= CHUNK_SIZE_BYTES) return contentIdOf((await objects.get(bucket, key)).body);
  const hash = createHash('sha256');
  let etag: string | undefined;
  for (let offset = 0; offset < sizeBytes; offset += CHUNK_SIZE_BYTES) {
    const lengthBytes = Math.min(CHUNK_SIZE_BYTES, sizeBytes - offset);
    const got = await objects.getRange(bucket, key, {
      offsetBytes: offset,
      lengthBytes,
      ...(etag === undefined ? {} : { ifMatch: etag }),
    });
    etag ??= got.etag;
    hash.update(got.body);
  }
  return hash.digest('hex');
}

/**
 * Whether to write one entry at `targetKey` under an overwrite policy.
 *
 * `ifChanged` compares content, not ETags (a multipart or SSE-KMS ETag is no content hash): a HEAD
 * first; a target of another size is changed; one of the same size is read (chunk by chunk above
 * 8 MiB) and hashed, and is `unchanged` when its SHA-256 equals the snapshot's
 * ({@link contentSha256Of} the entry). A target that changes while it is read counts as changed.
 * Restores write no marker metadata, so restored objects keep exactly their original metadata.
 * @param listed what a listing of the target reported for `targetKey` (`null`: not there), instead
 *   of a HEAD; undefined to HEAD it.
 * @returns `write`, or the reason to skip.
 * @throws TransientError (retryable) when the target cannot be read.
 */
export async function overwriteDecision(
  objects: ObjectStore,
  bucket: string,
  targetKey: string,
  entry: ManifestEntry,
  policy: OverwritePolicy,
  listed?: { sizeBytes: number } | null,
): Promise<'write' | SkipReason> {
  if (policy === 'always') return 'write';
  const head = listed === undefined ? await objects.head(bucket, targetKey) : listed;
  if (!head) return 'write';
  if (policy === 'never') return 'exists';
  if (head.sizeBytes !== entry.sizeBytes) return 'write';
  try {
    const current = await sha256OfObject(objects, bucket, targetKey, entry.sizeBytes);
    return current === contentSha256Of(entry) ? 'unchanged' : 'write';
  } catch (error) {
    // Gone or being rewritten since the HEAD: write the snapshot's version.
    if (error instanceof NotFoundError || error instanceof ConflictError) return 'write';
    throw error;
  }
}
