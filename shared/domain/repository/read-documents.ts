/** Reading the vault's documents: pack headers, index documents, manifest parts and roots. */
import type { Envelope } from '../envelope.ts';
import { IntegrityError } from '../errors.ts';
import type { VaultStore } from '../ports.ts';
import {
  type ContentId,
  decodeIndex,
  decodeManifest,
  decodePackHeader,
  decodePart,
  type IndexDocument,
  indexAssociatedData,
  type Manifest,
  manifestAssociatedData,
  PACK_HEADER_ASSOCIATED_DATA,
  type PackHeader,
  partAssociatedData,
  VaultLayout,
} from '../vault.ts';
import { compactIndex } from './pack-table.ts';

/**
 * Read the header at the end of a stored pack (the list of its blobs), e.g. to rebuild an index.
 * @throws IntegrityError (not retryable) when the pack is too short or its header does not open.
 */
export async function readPackHeader(
  vault: VaultStore,
  envelope: Envelope,
  packId: ContentId,
): Promise<PackHeader> {
  const body = await vault.get(VaultLayout.packKey(packId));
  if (body.length < 4) throw new IntegrityError(`pack ${packId} is too short`);
  const length = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(body.length - 4);
  if (length + 4 > body.length)
    throw new IntegrityError(`pack ${packId}: header length ${length} is past its start`);
  const sealed = body.subarray(body.length - 4 - length, body.length - 4);
  return decodePackHeader(await envelope.open(sealed, PACK_HEADER_ASSOCIATED_DATA));
}

/**
 * Read a pack's header with two ranged GETs (its last 4 bytes, then the sealed header), without
 * fetching its blobs; `sizeBytes` is the pack's stored size (from a listing).
 * @throws NotFoundError when the pack is gone; IntegrityError when the header does not open.
 */
export async function readPackHeaderAt(
  vault: VaultStore,
  envelope: Envelope,
  packId: ContentId,
  sizeBytes: number,
): Promise<PackHeader> {
  const key = VaultLayout.packKey(packId);
  if (sizeBytes < 4) throw new IntegrityError(`pack ${packId} is too short`);
  const tail = await vault.getRange(key, sizeBytes - 4, 4);
  const length = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength).readUInt32BE(0);
  if (length + 4 > sizeBytes)
    throw new IntegrityError(`pack ${packId}: header length ${length} is past its start`);
  const sealed = await vault.getRange(key, sizeBytes - 4 - length, length);
  return decodePackHeader(await envelope.open(sealed, PACK_HEADER_ASSOCIATED_DATA));
}

/**
 * Fetch, open and check one index document. Its packs come back compact (see {@link compactIndex}):
 * each pack's `blobs` is built on every read, so walk it once per pack. `cached`: a document the
 * read cache holds is not read again; `keep`: the document read is put in the cache (by default only
 * when `cached`: the cache is filled by the readers that read from it, VaultIndex's loads, and never
 * by one-off walks of every document — garbage collection, retention's lock extension, the cost
 * report — which would leave a warm container holding a whole vault's index it never reads again).
 * @throws NotFoundError, IntegrityError
 */
export async function readIndex(
  vault: VaultStore,
  envelope: Envelope,
  indexId: ContentId,
  options: { cached?: boolean; keep?: boolean } = {},
): Promise<IndexDocument> {
  // Index documents are content-addressed, so one read (and checked) once never changes: a warm
  // Lambda container reads only the documents written since. Whether a document still exists is
  // always decided by a fresh listing, never by this cache.
  let cache = indexCache.get(vault);
  if (!cache) {
    cache = new Map();
    indexCache.set(vault, cache);
  }
  const cached = options.cached ? cache.get(indexId) : undefined;
  if (cached) return cached;
  const sealed = await vault.get(VaultLayout.indexKey(indexId));
  const doc = compactIndex(decodeIndex(await envelope.open(sealed, indexAssociatedData(indexId)), indexId));
  if (!(options.keep ?? options.cached ?? false)) return doc;
  cache.set(indexId, doc);
  if (cache.size > INDEX_CACHE_DOCUMENTS) cache.delete(cache.keys().next().value as string);
  return doc;
}

/**
 * Drop from the read cache of `vault` every index document not in `listed` (the ids a complete
 * listing of `index/` just showed): garbage collection deleted those, after writing what replaces
 * them, and a warm container must not keep both.
 */
export function retainCachedIndexes(vault: VaultStore, listed: ReadonlySet<ContentId>): void {
  const cache = indexCache.get(vault);
  for (const id of cache?.keys() ?? []) if (!listed.has(id)) cache?.delete(id);
}

/** How many index documents the read cache holds for `vault` (diagnostics, tests). */
export function cachedIndexCount(vault: VaultStore): number {
  return indexCache.get(vault)?.size ?? 0;
}

/** Index documents kept in memory per vault store (the oldest read is dropped first). */
const INDEX_CACHE_DOCUMENTS = 20_000;
const indexCache = new WeakMap<VaultStore, Map<ContentId, IndexDocument>>();

/** Fetch, open and check one manifest part. @throws NotFoundError, IntegrityError, ValidationError */
export async function readPart(vault: VaultStore, envelope: Envelope, planId: string, partId: ContentId) {
  const sealed = await vault.get(VaultLayout.partKey(planId, partId));
  return decodePart(await envelope.open(sealed, partAssociatedData(planId, partId)), partId);
}

/**
 * Fetch, open and check a manifest root.
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
