/**
 * A partition's paused object read, across invocations: recorded as a progress part before the
 * checkpoint, read back by the next invocation. @see ../../../docs/format.md#partitions (step 4)
 */
import type { Envelope } from '../envelope.ts';
import { NotFoundError } from '../errors.ts';
import type { VaultStore } from '../ports.ts';
import type { ObjectProgress } from '../reader.ts';
import { readPart } from '../repository/read-documents.ts';
import { writePart } from '../repository/write.ts';
import type { ObjectResume } from '../tasks.ts';
import { CHUNK_SIZE_BYTES, type ManifestEntry } from '../vault.ts';

/**
 * Store a paused read's blob ids as a progress part of one entry (the object so far: its
 * `sizeBytes` the bytes stored, `lastModified` as listed), after the packs and index holding them,
 * and describe it for the checkpoint.
 * @throws TransientError (retryable) when the vault fails.
 */
export async function recordObjectProgress(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  progress: ObjectProgress,
  lastModified: string,
): Promise<ObjectResume> {
  const { key, etag, sizeBytes, offsetBytes, blobs, sha256State } = progress;
  const { ref } = await writePart(vault, envelope, planId, [
    { key, sizeBytes: offsetBytes, etag, lastModified, blobs },
  ]);
  return { key, etag, sizeBytes, offsetBytes, sha256State, part: ref };
}

/**
 * The progress a checkpoint's {@link ObjectResume} records, its blob ids read from its part; undefined
 * when the part is gone or does not match (the object is then read again from its start).
 * @throws TransientError (retryable) when the vault fails; IntegrityError when the part does not open.
 */
export async function objectProgressOf(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  resume: ObjectResume,
): Promise<ObjectProgress | undefined> {
  let entry: ManifestEntry | undefined;
  try {
    entry = (await readPart(vault, envelope, planId, resume.part.partId)).entries[0];
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const chunks = resume.offsetBytes / CHUNK_SIZE_BYTES;
  if (entry?.key !== resume.key || entry.sizeBytes !== resume.offsetBytes || entry.blobs.length !== chunks) {
    return undefined;
  }
  const { key, etag, sizeBytes, offsetBytes, sha256State } = resume;
  return { key, etag, sizeBytes, offsetBytes, sha256State, blobs: entry.blobs };
}
