/**
 * Archive tiers: packs in GLACIER or DEEP_ARCHIVE are restored from the archive (each pack once, at
 * the request's tier) before a restore reads them.
 * @see ../../../docs/format.md#layout
 */

import pLimit from 'p-limit';
import { NotFoundError, StrongboxError, ValidationError } from '../errors.ts';
import { type PipelineDeps, tuningOf } from '../pipeline.ts';
import type { ArchiveTier, StorageState, VaultStore } from '../ports.ts';
import type { VaultIndex } from '../repository/vault-index.ts';
import { type ContentId, type ManifestEntry, VaultLayout } from '../vault.ts';
import { commonPrefix, LISTING_THRESHOLD } from './listing.ts';
import type { ParsedRestoreRequest, RestoreOptions } from './request.ts';

/** Storage classes whose objects cannot be read until restored. GLACIER_IR reads directly. */
export const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/**
 * Archived packs are still being restored: nothing was written. Retryable — the restores already
 * asked for keep running, so running the same restore later proceeds once they are ready.
 */
export class ArchivePendingError extends StrongboxError {
  /** Vault keys (`packs/<2hex>/<pack id>`) of the packs not readable yet. */
  readonly pending: string[];
  constructor(message: string, pending: string[]) {
    super(message, { retryable: true });
    this.pending = pending;
  }
}

/**
 * Make the archived packs among `packIds` readable: ask the archive to restore those not asked for
 * yet (each pack once, however many of the restore's objects it holds), then look again every
 * `archivePollMs` (through the injected `sleep`) until all are ready. GLACIER_IR and STANDARD need
 * nothing. A vault without the storage-state capability is taken as having no archived packs.
 * `options.classes` (vault key → storage class, from a listing) spares a HEAD for each pack it shows
 * in a class that reads directly.
 * @param packIds pack ids (not keys), each once.
 * @returns the archived packs among them (ids) and how many were asked for now; undefined when none
 *   is archived.
 * @throws ValidationError (not retryable), before anything is asked for, for `Expedited` with a
 *   DEEP_ARCHIVE pack.
 * @throws ArchivePendingError (retryable) when packs are not ready within the wait, or no `sleep` was given.
 * @see docs/format.md#layout
 */
export async function prepareArchivedPacks(
  vault: VaultStore,
  packIds: readonly ContentId[],
  request: { archiveTier: ArchiveTier; archiveDays: number; dryRun: boolean },
  options: RestoreOptions & { concurrency: number; classes?: ReadonlyMap<string, string> },
): Promise<{ archived: ContentId[]; requested: number } | undefined> {
  const stateOf = vault.storageStateOf?.bind(vault);
  if (!stateOf) return undefined;
  const limit = pLimit(options.concurrency);
  // Packs a listing showed in a class that reads directly need no HEAD.
  const { classes } = options;
  const keys = packIds
    .map((id) => VaultLayout.packKey(id))
    .filter((key) => {
      const storageClass = classes?.get(key);
      return storageClass === undefined || ARCHIVE_CLASSES.has(storageClass);
    });
  const look = async (among: readonly string[]) => {
    const states = await Promise.all(
      among.map((key) => limit(async () => ({ key, ...(await stateOf(key)) }))),
    );
    return states.filter((s) => ARCHIVE_CLASSES.has(s.storageClass));
  };
  const archived = await look(keys);
  if (archived.length === 0) return undefined;
  const tier = request.archiveTier;
  if (tier === 'Expedited' && archived.some((s) => s.storageClass === 'DEEP_ARCHIVE')) {
    throw new ValidationError(
      'DEEP_ARCHIVE has no Expedited tier; use Standard (≤ 12 h) or Bulk (≤ 48 h)',
      'archiveTier',
    );
  }
  const notReady = (states: readonly ({ key: string } & StorageState)[]) =>
    states.filter((s) => s.restore !== 'ready');
  let pending = notReady(archived);
  const result = {
    archived: archived.map((s) => VaultLayout.packIdOf(s.key) as ContentId),
    requested: 0,
  };
  if (request.dryRun || pending.length === 0) return result;
  const ask = pending.filter((s) => s.restore === 'none');
  const requestRestore = vault.requestRestore?.bind(vault);
  if (!requestRestore) throw new StrongboxError(`vault ${vault.bucket} cannot restore archived objects`);
  await Promise.all(ask.map((s) => limit(() => requestRestore(s.key, tier, request.archiveDays))));
  result.requested = ask.length;
  options.onArchive?.({ pending: pending.length, total: archived.length, tier });
  const pollMs = options.archivePollMs ?? 300_000;
  const maxWaitMs = options.archiveMaxWaitMs ?? 172_800_000;
  for (let waited = 0; options.sleep && pending.length > 0 && waited < maxWaitMs; waited += pollMs) {
    await options.sleep(pollMs);
    pending = notReady(await look(pending.map((s) => s.key)));
    options.onArchive?.({ pending: pending.length, total: archived.length, tier });
  }
  if (pending.length > 0) {
    throw new ArchivePendingError(
      `${pending.length} of ${archived.length} archived pack(s) are still being restored (tier ${tier}), e.g. ${pending[0]?.key}: nothing was written; run the same restore again later`,
      pending.map((s) => s.key),
    );
  }
  return result;
}

/** Storage classes of the given packs, from one listing of the vault's packs (keys the listing shows). */
async function storageClassesOf(
  vault: VaultStore,
  packIds: readonly ContentId[],
): Promise<Map<string, string>> {
  const wanted = new Set(packIds.map((id) => VaultLayout.packKey(id)));
  const classes = new Map<string, string>();
  for await (const o of vault.list(commonPrefix([...wanted]))) {
    if (o.storageClass !== undefined && wanted.has(o.key)) classes.set(o.key, o.storageClass);
  }
  return classes;
}

/**
 * The packs holding the blobs of `entries`, located with the region's index: pack id → how many of
 * those blobs it holds.
 * @throws NotFoundError (not retryable), before anything is written, for a blob no index locates.
 */
function packsOf(
  vault: VaultStore,
  index: VaultIndex,
  entries: readonly ManifestEntry[],
): Map<ContentId, number> {
  const seen = new Set<ContentId>();
  const packs = new Map<ContentId, number>();
  for (const entry of entries) addPacksOf(vault, index, entry, packs, seen);
  return packs;
}

/**
 * Add the packs holding an entry's blobs to `packs` (pack id → blobs of the selection it holds),
 * located with the region's index; with `seen`, a blob already counted is not counted again.
 * @throws NotFoundError (not retryable), before anything is written, for a blob no index locates.
 */
export function addPacksOf(
  vault: VaultStore,
  index: Pick<VaultIndex, 'locate'>,
  entry: Pick<ManifestEntry, 'key' | 'blobs'>,
  packs: Map<ContentId, number>,
  seen?: Set<ContentId>,
): void {
  for (const blobId of entry.blobs) {
    if (seen?.has(blobId)) continue;
    seen?.add(blobId);
    const where = index.locate(blobId);
    if (!where) {
      throw new NotFoundError(
        `blob ${blobId} of '${entry.key}' is in no index of ${vault.bucket}: the vault lacks it`,
      );
    }
    packs.set(where.packId, (packs.get(where.packId) ?? 0) + 1);
  }
}

/**
 * Make the archived packs holding the blobs of `entries` readable (see {@link prepareArchivedPacks}).
 * @returns what the restore report says of the archive, or undefined when nothing is archived.
 */
export async function prepareArchive(
  deps: PipelineDeps,
  vault: VaultStore,
  index: VaultIndex,
  entries: readonly ManifestEntry[],
  request: ParsedRestoreRequest,
  options: RestoreOptions & { listVault?: boolean },
): Promise<{ packs: number; blobs: number; requested: number } | undefined> {
  return prepareArchiveOfPacks(deps, vault, packsOf(vault, index, entries), request, options);
}

/**
 * {@link prepareArchive} of packs already located (see {@link addPacksOf}): a selection streamed
 * rather than held.
 */
export async function prepareArchiveOfPacks(
  deps: PipelineDeps,
  vault: VaultStore,
  packs: ReadonlyMap<ContentId, number>,
  request: ParsedRestoreRequest,
  options: RestoreOptions & { listVault?: boolean },
): Promise<{ packs: number; blobs: number; requested: number } | undefined> {
  const packIds = [...packs.keys()];
  const classes =
    packIds.length > LISTING_THRESHOLD && options.listVault !== false && vault.storageStateOf
      ? await storageClassesOf(vault, packIds)
      : undefined;
  const prepared = await prepareArchivedPacks(vault, packIds, request, {
    ...options,
    concurrency: tuningOf(deps).concurrency,
    ...(classes ? { classes } : {}),
  });
  if (!prepared) return undefined;
  return {
    packs: prepared.archived.length,
    blobs: prepared.archived.reduce((sum, id) => sum + (packs.get(id) ?? 0), 0),
    requested: prepared.requested,
  };
}
