/**
 * Verification of a table snapshot's items (docs/format.md#verification, "Table snapshots"): a table
 * item lives in its manifest part, not in a blob, so the checks that blobs get from the tiers
 * (stored, hashing to their id) are made on the items as the parts are read: every item hashes to
 * its entry's `etag`, its canonical JSON is `sizeBytes` long, its key is the entry's key, keys are
 * sorted and unique across the parts, and the parts' and the root's counts agree with the entries.
 * Every tier reads every part (they are the snapshot), so every tier reports these checks.
 * @see ../../../docs/format.md#table-items
 */
import { reasonOf } from '../errors.ts';
import type { RegionVerification, TierVerification } from '../records.ts';
import type { KeySchema } from '../table/definition.ts';
import { canonicalItemJson, itemHashOf, itemKeyOf } from '../table/item.ts';
import { compareKeys, type Manifest, type ManifestEntry, type ManifestPart, type PartRef } from '../vault.ts';
import { MAX_LISTED } from './context.ts';

/** What the item checks of one snapshot found, filled part by part. */
export interface ItemChecks {
  /** Item entries checked (hash, size, key). */
  checked: number;
  /** Keys of the entries whose item does not hash to `etag`, is not `sizeBytes` long, or is not named by its key (sorted, at most {@link MAX_LISTED}). */
  corrupt: string[];
  /** Structural problems, in words: order, duplicates, counts that disagree (at most {@link MAX_LISTED}). */
  problems: string[];
  /** Per part index in the root: its entries' first and last keys as read. */
  bounds: Map<number, { first: string; last: string }>;
}

/** Whether the snapshot is of a table (its root names a table source). */
export function isTableManifest(manifest: Pick<Manifest, 'source'>): boolean {
  return 'table' in manifest.source;
}

/** Empty checks for a snapshot; undefined when the snapshot is not of a table (nothing to check). */
export function newItemChecks(manifest: Manifest): ItemChecks | undefined {
  if (!isTableManifest(manifest)) return undefined;
  const checks: ItemChecks = { checked: 0, corrupt: [], problems: [], bounds: new Map() };
  if (!manifest.table) problem(checks, 'the root of a table snapshot records no table definition');
  return checks;
}

function problem(checks: ItemChecks, text: string): void {
  if (checks.problems.length < MAX_LISTED) checks.problems.push(text);
}

function corrupt(checks: ItemChecks, key: string): void {
  checks.corrupt.push(key);
  if (checks.corrupt.length > MAX_LISTED * 2)
    checks.corrupt = [...new Set(checks.corrupt)].sort(compareKeys).slice(0, MAX_LISTED);
}

/**
 * Why an item entry is wrong, or undefined when it is right: no item (or blobs besides it), an item
 * that does not hash to `etag`, a `sizeBytes` other than its canonical JSON's UTF-8 length, or a key
 * other than `itemKeyOf(item, key)`.
 * @example
 * ```ts
 * itemEntryProblem(itemEntryOf(item, schema, at), schema); // undefined
 * ```
 */
export function itemEntryProblem(entry: ManifestEntry, key: KeySchema | undefined): string | undefined {
  const { item } = entry;
  if (item === undefined) return 'no item';
  if (entry.blobs.length > 0) return 'blobs besides its item';
  if (itemHashOf(item) !== entry.etag) return `its item does not hash to its etag ${entry.etag}`;
  const size = Buffer.byteLength(canonicalItemJson(item), 'utf8');
  if (size !== entry.sizeBytes) return `its item is ${size} bytes, not ${entry.sizeBytes}`;
  if (!key) return undefined;
  try {
    const named = itemKeyOf(item, key);
    return named === entry.key ? undefined : `its item's key is '${named}'`;
  } catch (error) {
    return reasonOf(error);
  }
}

/**
 * Check one part of a table snapshot (`index`: its place in the root): each entry (see
 * {@link itemEntryProblem}), keys strictly ascending (sorted and unique), and the part's ref (its
 * first and last key, entry count and bytes) against its entries.
 */
export function checkItemPart(
  checks: ItemChecks,
  manifest: Manifest,
  index: number,
  ref: PartRef,
  part: ManifestPart,
): void {
  const key = manifest.table?.key;
  let previous: string | undefined;
  let bytes = 0;
  for (const entry of part.entries) {
    checks.checked += 1;
    bytes += entry.sizeBytes;
    if (itemEntryProblem(entry, key) !== undefined) corrupt(checks, entry.key);
    if (previous !== undefined && compareKeys(previous, entry.key) >= 0)
      problem(
        checks,
        `part ${ref.partId}: '${entry.key}' follows '${previous}' (keys must be sorted and unique)`,
      );
    previous = entry.key;
  }
  const first = part.entries[0]?.key ?? '';
  const last = part.entries.at(-1)?.key ?? '';
  checks.bounds.set(index, { first, last });
  if (ref.firstKey !== first || ref.lastKey !== last)
    problem(
      checks,
      `part ${ref.partId}: the root says keys '${ref.firstKey}'…'${ref.lastKey}', it holds '${first}'…'${last}'`,
    );
  if (ref.objectCount !== part.entries.length)
    problem(
      checks,
      `part ${ref.partId}: the root counts ${ref.objectCount} item(s), it holds ${part.entries.length}`,
    );
  if (ref.logicalBytes !== bytes)
    problem(
      checks,
      `part ${ref.partId}: the root counts ${ref.logicalBytes} byte(s), its items are ${bytes}`,
    );
}

/**
 * After every part was checked: the parts in key order with no key in two of them, and the root's
 * totals equal to the sums of its parts.
 */
export function checkItemRoot(checks: ItemChecks, manifest: Manifest): void {
  let previous: { last: string; partId: string } | undefined;
  manifest.parts.forEach((ref, i) => {
    const bounds = checks.bounds.get(i);
    if (!bounds) return; // a part not read is reported as missing by the tiers
    if (previous && compareKeys(previous.last, bounds.first) >= 0)
      problem(
        checks,
        `part ${ref.partId} starts at '${bounds.first}', not after part ${previous.partId}'s last key '${previous.last}'`,
      );
    previous = { last: bounds.last, partId: ref.partId };
  });
  const count = manifest.parts.reduce((n, p) => n + p.objectCount, 0);
  const bytes = manifest.parts.reduce((n, p) => n + p.logicalBytes, 0);
  if (manifest.totals.objectCount !== count || manifest.totals.logicalBytes !== bytes)
    problem(
      checks,
      `the root's totals (${manifest.totals.objectCount} item(s), ${manifest.totals.logicalBytes} bytes) are not its parts' (${count}, ${bytes})`,
    );
}

/**
 * A tier's result with the item checks added to every region (the parts are the same documents in
 * every region, so every region reports them): `itemsChecked`, `corruptItems` (keys) and
 * `itemProblems`; a tier that had passed fails when an item is corrupt or a count disagrees.
 */
export function withItemChecks(result: TierVerification, checks: ItemChecks | undefined): TierVerification {
  if (!checks) return result;
  const corruptItems = [...new Set(checks.corrupt)].sort(compareKeys).slice(0, MAX_LISTED);
  const failed = corruptItems.length > 0 || checks.problems.length > 0;
  const regions: Record<string, RegionVerification> = {};
  for (const [region, r] of Object.entries(result.regions))
    regions[region] = {
      ...r,
      itemsChecked: checks.checked,
      corruptItems,
      itemProblems: [...checks.problems],
    };
  return { ...result, status: failed && result.status === 'PASSED' ? 'FAILED' : result.status, regions };
}
