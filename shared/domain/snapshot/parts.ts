/** Where a partition's entries are cut into manifest parts. */
import { compareKeys, type ManifestEntry, PART_MAX_ENTRIES } from '../vault.ts';

/** Entries a new part gets before it is cut, when no parent part boundary cuts it first. */
export const PART_TARGET_ENTRIES = 1000;

/**
 * Cut entries (in key order) into parts: at the parent's part boundaries (so an unchanged part is
 * the same part), at {@link PART_TARGET_ENTRIES} where no parent part covers the keys, and never
 * above {@link PART_MAX_ENTRIES}. With `cutTail` false the last, possibly unfinished group is
 * returned as `rest`.
 */
export function cutParts(
  entries: readonly ManifestEntry[],
  parentCuts: readonly string[],
  cutTail: boolean,
): { complete: ManifestEntry[][]; rest: ManifestEntry[] } {
  const slotOf = (key: string): number => {
    let lo = 0;
    let hi = parentCuts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(parentCuts[mid] as string, key) >= 0) hi = mid;
      else lo = mid + 1;
    }
    return lo; // the first parent part whose last key is ≥ key; parentCuts.length = past them all
  };
  const complete: ManifestEntry[][] = [];
  let group: ManifestEntry[] = [];
  let slot = -1;
  for (const entry of entries) {
    const s = slotOf(entry.key);
    const limit = s < parentCuts.length ? PART_MAX_ENTRIES : PART_TARGET_ENTRIES;
    if (group.length > 0 && (s !== slot || group.length >= limit)) {
      complete.push(group);
      group = [];
    }
    group.push(entry);
    slot = s;
  }
  if (group.length > 0) {
    if (cutTail) complete.push(group);
    else return { complete, rest: group };
  }
  return { complete, rest: [] };
}
