/**
 * The storage helpers garbage collection shares: every vault, listings, batched deletes, HEADs.
 * @see ../../../docs/format.md#garbage-collection
 */
import type { Envelope } from '../envelope.ts';
import { isRetryable, NotFoundError } from '../errors.ts';
import type { PipelineDeps } from '../pipeline.ts';
import type { StoredObject, VaultStore } from '../ports.ts';
import { readPackHeaderAt } from '../repository/read-documents.ts';
import type { ContentId, PackedBlob } from '../vault.ts';

/** The primary vault, then every copy vault. */
export function allVaults(deps: PipelineDeps): VaultStore[] {
  return [deps.vaults.primary, ...deps.vaults.copies.values()];
}

/**
 * Whether `vault` holds `key` (a HEAD); true when a non-retryable error leaves it unknown.
 * @throws TransientError (retryable) when storage fails.
 */
export async function holds(vault: VaultStore, key: string): Promise<boolean> {
  try {
    await vault.checksum(key);
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    if (isRetryable(error)) throw error;
    return true; // cannot tell: as if held (the tombstone stays)
  }
}

/** Whether no vault holds `key` (a HEAD in each; an unreadable answer counts as held). @throws TransientError (retryable) */
export async function absentEverywhere(deps: PipelineDeps, key: string): Promise<boolean> {
  for (const vault of allVaults(deps)) if (await holds(vault, key)) return false;
  return true;
}

/** Every object under `prefix`, by key. */
export async function listing(vault: VaultStore, prefix: string): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of vault.list(prefix)) out.push(o);
  return out;
}

/** Delete keys in batches of 1000 (S3's DeleteObjects limit). */
export async function deleteKeys(vault: VaultStore, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) await vault.delete(keys.slice(i, i + 1000));
}

/**
 * The headers of `packs` (read one after the other, in order): each pack's blobs; `'gone'` when the
 * vault no longer holds it; `[]` when its header does not read (no reader can locate its blobs either).
 * @throws TransientError (retryable) when storage fails.
 */
export async function readPackHeaders(
  vault: VaultStore,
  envelope: Envelope,
  packs: readonly { packId: ContentId; object: StoredObject }[],
): Promise<Map<ContentId, PackedBlob[] | 'gone'>> {
  const headers = new Map<ContentId, PackedBlob[] | 'gone'>();
  for (const { packId, object } of packs) {
    try {
      headers.set(packId, (await readPackHeaderAt(vault, envelope, packId, object.sizeBytes)).blobs);
    } catch (error) {
      if (error instanceof NotFoundError) headers.set(packId, 'gone');
      else if (isRetryable(error)) throw error;
      else headers.set(packId, []);
    }
  }
  return headers;
}
