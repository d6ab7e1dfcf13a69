/** Listings instead of one request per key: above a threshold a restore lists what it needs to see. */

/**
 * Above this many objects a restore lists the target once (existence and size for the overwrite
 * policy); above this many packs, the vault's packs once (storage classes) instead of a HEAD each.
 */
export const LISTING_THRESHOLD = 100;

import type { ObjectStore } from '../ports.ts';
import { compareKeys } from '../vault.ts';

/**
 * The longest prefix every key shares: what to list to see them all. Never ends inside a character
 * (half of a UTF-16 surrogate pair), which S3 could not take as a prefix.
 */
export function commonPrefix(keys: readonly string[]): string {
  let prefix = keys[0] ?? '';
  for (const key of keys) {
    let i = 0;
    while (i < prefix.length && i < key.length && prefix.charCodeAt(i) === key.charCodeAt(i)) i += 1;
    prefix = prefix.slice(0, i);
    if (!prefix) break;
  }
  const last = prefix.charCodeAt(prefix.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? prefix.slice(0, -1) : prefix;
}

/**
 * The first and last of `keys` in the order S3 lists them (UTF-8 binary): every key lies in the
 * listing after `first` up to `last`, plus `first` itself.
 * @throws RangeError for no keys.
 */
export function keyRange(keys: readonly string[]): { first: string; last: string } {
  let first = keys[0];
  let last = keys[0];
  if (first === undefined || last === undefined) throw new RangeError('keyRange of no keys');
  for (const key of keys) {
    if (compareKeys(key, first) < 0) first = key;
    if (compareKeys(key, last) > 0) last = key;
  }
  return { first, last };
}

/**
 * What a restore target holds at `keys`, from one listing of its keys after the first of them up to
 * the last (a restore slice lists its own range, not the whole target once per slice: slices ×
 * target would grow with the square of a restore's size).
 * @returns per key: `{ sizeBytes }` when listed, null when not, undefined for the first key (S3 lists
 *   after `StartAfter`, so the caller HEADs it).
 * @throws as {@link ObjectStore.list} (SourceUnavailableError, TransientError: retryable).
 */
export async function listTargetRange(
  objects: Pick<ObjectStore, 'list'>,
  bucket: string,
  keys: readonly string[],
): Promise<(key: string) => { sizeBytes: number } | null | undefined> {
  const listed = new Map<string, number>();
  const wanted = new Set(keys);
  const { first, last } = keyRange(keys);
  for await (const o of objects.list(bucket, commonPrefix([first, last]), { startAfter: first })) {
    if (compareKeys(o.key, last) > 0) break;
    if (wanted.has(o.key)) listed.set(o.key, o.sizeBytes); // only what the restore asks about
  }
  return (key) => {
    if (key === first) return undefined;
    const sizeBytes = listed.get(key);
    return sizeBytes === undefined ? null : { sizeBytes };
  };
}
