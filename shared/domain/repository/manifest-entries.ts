/** A manifest's entries, read part by part, and the documents they reference. */
import pLimit from 'p-limit';
import type { Envelope } from '../envelope.ts';
import type { VaultStore } from '../ports.ts';
import {
  type ContentId,
  type IndexedPack,
  type Manifest,
  type ManifestEntry,
  VaultLayout,
} from '../vault.ts';
import { readPart } from './read-documents.ts';
import type { VaultIndex } from './vault-index.ts';

/**
 * Every entry of a manifest in key order, reading one part at a time (memory: one part).
 * @throws NotFoundError when a part is missing; IntegrityError.
 */
export async function* manifestEntries(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
): AsyncIterable<ManifestEntry> {
  for (const ref of manifest.parts) {
    const part = await readPart(vault, envelope, manifest.planId, ref.partId);
    yield* part.entries;
  }
}

/** Every entry of a manifest, in key order, in memory. */
export async function readAllEntries(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
): Promise<ManifestEntry[]> {
  const limit = pLimit(8);
  const parts = await Promise.all(
    manifest.parts.map((ref) => limit(() => readPart(vault, envelope, manifest.planId, ref.partId))),
  );
  return parts.flatMap((p) => p.entries);
}

/** The documents a snapshot needs in a vault, by key, as {@link referencedDocuments} finds them. */
export interface SnapshotDocuments {
  manifestKey: string;
  partKeys: string[];
  /** Packs holding the snapshot's blobs, with the checksum their index recorded. */
  packs: Map<ContentId, IndexedPack>;
  /** Blob ids no loaded index locates (missing from the vault). */
  unlocatedBlobs: ContentId[];
  /** Every blob id the snapshot's entries name, once each. */
  blobs: ReadonlySet<ContentId>;
  blobCount: number;
}

/**
 * What a snapshot references: its root, its parts, and the packs of its blobs (located with `index`).
 * Reads every part (one at a time).
 */
export async function referencedDocuments(
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  manifestId: ContentId,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
): Promise<SnapshotDocuments> {
  const packs = new Map<ContentId, IndexedPack>();
  const unlocated = new Set<ContentId>();
  const blobs = new Set<ContentId>();
  for await (const entry of manifestEntries(vault, envelope, manifest)) {
    for (const blobId of entry.blobs) {
      if (blobs.has(blobId)) continue;
      blobs.add(blobId);
      const where = index.locate(blobId);
      const pack = where && index.pack(where.packId);
      if (pack) packs.set(pack.packId, pack);
      else unlocated.add(blobId);
    }
  }
  return {
    manifestKey: VaultLayout.manifestKey(manifest.planId, manifestId),
    partKeys: manifest.parts.map((p) => VaultLayout.partKey(manifest.planId, p.partId)),
    packs,
    unlocatedBlobs: [...unlocated],
    blobs,
    blobCount: blobs.size,
  };
}
