/** Listings instead of one request per key: above a threshold a restore lists what it needs to see. */

/**
 * Above this many objects a restore lists the target once (existence and size for the overwrite
 * policy); above this many packs, the vault's packs once (storage classes) instead of a HEAD each.
 */
export const LISTING_THRESHOLD = 100;

/** The longest prefix every key shares: what to list to see them all. */
export function commonPrefix(keys: readonly string[]): string {
  let prefix = keys[0] ?? '';
  for (const key of keys) {
    let i = 0;
    while (i < prefix.length && i < key.length && prefix.charCodeAt(i) === key.charCodeAt(i)) i += 1;
    prefix = prefix.slice(0, i);
    if (!prefix) break;
  }
  return prefix;
}
