/**
 * Restoring one object too large for one invocation: a multipart upload to the target that pauses
 * between two upload parts when time runs low and goes on in the next invocation, with the object's
 * SHA-256 kept resumable, so a restore job restores objects of any size a snapshot could read.
 * @see ../../../docs/format.md#resumable-restore
 */

import type { Envelope } from '../envelope.ts';
import { IntegrityError, NotFoundError, TransientError } from '../errors.ts';
import type { ObjectStore, VaultStore, WriteOutcome } from '../ports.ts';
import { resumableSha256 } from '../reader.ts';
import { type BlobLocation, readBlob } from '../repository/read-blobs.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import { MAX_RESUMABLE_UPLOAD_PARTS, type RestoreUpload } from '../tasks.ts';
import { CHUNK_SIZE_BYTES, type ManifestEntry } from '../vault.ts';
import { attributesOf, checkWholeObject } from './write.ts';

/**
 * Blobs read ahead of the one being added to the part: 4 chunks (32 MiB) in flight, so reads overlap
 * the upload of the part before. A pause lets go of those already started past its part: at most
 * this many chunks are read again by the next invocation.
 */
export const READ_AHEAD_BLOBS = 4;

/**
 * The upload part size of a resumable restore of `sizeBytes`: whole chunks, as few as keep the
 * parts within {@link MAX_RESUMABLE_UPLOAD_PARTS} (8 MiB up to 31 GiB, 16 MiB up to 62 GiB, …).
 * A part is held in memory while it uploads: a 1 TiB object uses parts of 264 MiB.
 * @example
 * ```ts
 * resumablePartBytes(60 * 2 ** 30); // 16 MiB: 3,840 parts
 * ```
 */
export function resumablePartBytes(sizeBytes: number): number {
  const chunks = Math.max(1, Math.ceil(sizeBytes / MAX_RESUMABLE_UPLOAD_PARTS / CHUNK_SIZE_BYTES));
  return chunks * CHUNK_SIZE_BYTES;
}

/** Where a resumable restore writes, and how long it may go on. */
export interface ResumableTarget {
  objects: ObjectStore;
  vault: VaultStore;
  envelope: Envelope;
  index: VaultIndex;
  bucket: string;
  key: string;
  /** Whether to stop after the part about to start (time runs low); asked as each part but the last starts. */
  shouldPause: () => boolean;
}

/** A resumable restore's end: the object written (or `exists`), or paused with where to go on. */
export type ResumableOutcome = { outcome: WriteOutcome; bytes: number } | { paused: RestoreUpload };

/**
 * Restore `entry` (an object of several chunks) to `target` as a multipart upload of
 * {@link resumablePartBytes} parts, from `from` when a paused restore goes on. Each chunk is checked
 * against its blob id as it is read, the whole against the manifest's size and SHA-256 before the
 * upload completes, under `If-None-Match: *` when `ifNoneMatch`. As each part but the last starts,
 * `target.shouldPause()` may make it the call's last (at least one part is uploaded per call): no
 * read past it starts from then on, and the call returns `paused`.
 * @returns the outcome, or `paused` with the state the next invocation goes on from.
 * @throws NotFoundError (not retryable) when no index locates a blob or the target bucket is gone;
 *   IntegrityError (not retryable) when content does not match the manifest (the upload is aborted:
 *   nothing is stored at the key); TransientError (retryable) when storage fails, or the upload is
 *   gone (another delivery of the slice completed or aborted it).
 * @see docs/format.md#resumable-restore
 */
export async function restoreResumably(
  target: ResumableTarget,
  entry: ManifestEntry,
  ifNoneMatch: boolean,
  from?: RestoreUpload,
): Promise<ResumableOutcome> {
  const { objects, bucket, key } = target;
  if (from && from.key !== entry.key) {
    throw new NotFoundError(`the paused restore is of '${from.key}', the slice's object is '${entry.key}'`);
  }
  const partBytes = from?.partBytes ?? resumablePartBytes(entry.sizeBytes);
  const blobsPerPart = partBytes / CHUNK_SIZE_BYTES;
  const uploadId = from?.uploadId ?? (await objects.createUpload(bucket, key, attributesOf(entry)));
  const etags = [...(from?.etags ?? [])];
  let offsetBytes = from?.offsetBytes ?? 0;
  const hash = await resumableSha256(from?.sha256State);
  const blobs = readAhead(target, entry, etags.length * blobsPerPart);
  const part = Buffer.allocUnsafeSlow(partBytes);
  try {
    for (let first = etags.length * blobsPerPart; first < entry.blobs.length; first += blobsPerPart) {
      const end = Math.min(first + blobsPerPart, entry.blobs.length);
      // Time low as a part starts: this part is the invocation's last, and nothing past it is read.
      const last = end < entry.blobs.length && target.shouldPause();
      if (last) blobs.stopAt(end);
      let filled = 0;
      for (let b = first; b < end; b++) {
        const chunk = await (blobs.next() as Promise<Buffer>);
        if (filled + chunk.length > partBytes || offsetBytes + chunk.length > entry.sizeBytes) {
          throw new IntegrityError(`'${entry.key}': blob ${b} makes it longer than its manifest says`);
        }
        chunk.copy(part, filled);
        filled += chunk.length;
        offsetBytes += chunk.length;
        hash.update(chunk);
      }
      const partNumber = etags.length + 1;
      etags.push(
        await ofUpload(uploadId, key, () =>
          objects.uploadPart(bucket, key, uploadId, partNumber, part.subarray(0, filled)),
        ),
      );
      if (last) {
        const sha256State = Buffer.from(hash.save()).toString('base64');
        return {
          paused: { key: entry.key, uploadId, partBytes, etags, offsetBytes, sha256State, ifNoneMatch },
        };
      }
    }
    checkWholeObject(target.vault, entry, offsetBytes, hash.digest('hex'));
    const outcome = await ofUpload(uploadId, key, () =>
      objects.completeUpload(bucket, key, uploadId, etags, { ifNoneMatch }),
    );
    return { outcome, bytes: outcome === 'written' ? offsetBytes : 0 };
  } catch (error) {
    blobs.stopAt(0);
    // Nobody goes on with an upload whose content failed its check, nor with one this call began: a
    // redelivery of its task begins another. A paused upload stays for the redelivery of its task.
    if (error instanceof IntegrityError || !from) {
      await objects.abortUpload(bucket, key, uploadId).catch(() => {});
    }
    throw error;
  }
}

/**
 * A call on a multipart upload that goes on from a task: the upload gone (NotFoundError) means
 * another delivery of the slice completed or aborted it. Retryable: the next delivery finds the
 * slice done (or the job failed) and does nothing.
 */
async function ofUpload<T>(uploadId: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    throw new TransientError(
      `the multipart upload of '${key}' (${uploadId}) is gone: another delivery of its slice ended it`,
      {
        cause: error,
      },
    );
  }
}

/**
 * The entry's blobs from `first` on, in order, each checked against its id, up to
 * {@link READ_AHEAD_BLOBS} read at once ahead of the one taken.
 */
function readAhead(
  target: Pick<ResumableTarget, 'vault' | 'envelope' | 'index'>,
  entry: ManifestEntry,
  first: number,
): { next(): Promise<Buffer> | undefined; stopAt(end: number): void } {
  const pending: Promise<Buffer>[] = [];
  let nextBlob = first;
  let stop = entry.blobs.length;
  const fill = () => {
    while (pending.length < READ_AHEAD_BLOBS && nextBlob < stop) {
      const blobId = entry.blobs[nextBlob] as string;
      const where: BlobLocation | undefined = target.index.locate(blobId);
      const read = where
        ? readBlob(target.vault, target.envelope, where)
        : Promise.reject(
            new NotFoundError(`blob ${blobId} of ${entry.key} is in no index of ${target.vault.bucket}`),
          );
      read.catch(() => {}); // awaited when taken; an unread one after a stop must not go unhandled
      pending.push(read);
      nextBlob += 1;
    }
  };
  return {
    next() {
      fill();
      const read = pending.shift();
      fill();
      return read;
    },
    /** Read nothing from blob `end` on (reads already started are let go). */
    stopAt(end: number) {
      stop = end;
      if (nextBlob > end) pending.length = Math.max(0, pending.length - (nextBlob - end));
    },
  };
}
