/**
 * Reading and writing manifests in a vault: encode, seal, store; fetch, open, check the id.
 * @see ../../docs/format.md#manifests
 */
import type { Envelope } from './envelope.ts';
import type { VaultStore } from './ports.ts';
import {
  type ContentId,
  decodeManifest,
  encodeManifest,
  type Manifest,
  manifestAssociatedData,
  VaultLayout,
} from './vault.ts';

/**
 * Seal and store a manifest. Call only after every blob it references is stored (blobs first,
 * manifest last). The key is content-addressed, so a stored manifest never changes.
 * @returns the manifest id and its sealed size.
 */
export async function writeManifest(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Manifest,
): Promise<{ manifestId: ContentId; storedBytes: number }> {
  const { bytes, manifestId } = encodeManifest(manifest);
  const sealed = await envelope.seal(bytes, manifestAssociatedData(manifest.planId, manifestId));
  await vault.put(VaultLayout.manifestKey(manifest.planId, manifestId), sealed);
  return { manifestId, storedBytes: sealed.length };
}

/**
 * Fetch, open and check a manifest.
 * @throws NotFoundError when the vault lacks it; IntegrityError when it does not match its id.
 */
export async function readManifest(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  manifestId: ContentId,
): Promise<Manifest> {
  const sealed = await vault.get(VaultLayout.manifestKey(planId, manifestId));
  const bytes = await envelope.open(sealed, manifestAssociatedData(planId, manifestId));
  return decodeManifest(bytes, manifestId);
}
