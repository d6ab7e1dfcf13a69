/**
 * Selection: the snapshot a request names, and the entries of its manifest a request selects (key,
 * prefix, include/exclude globs), read part by part.
 * @see ../../../docs/format.md#manifests
 */

import picomatch from 'picomatch';
import type { Envelope } from '../envelope.ts';
import { NotFoundError } from '../errors.ts';
import { applyChanges, type KeyChange, lostChangeWarnings } from '../point-in-time.ts';
import type { VaultStore } from '../ports.ts';
import type { SnapshotRecord } from '../records.ts';
import { readPart } from '../repository/read-documents.ts';
import { compareKeys, type Manifest, type ManifestEntry, type ManifestPart, type PartRef } from '../vault.ts';
import type { ParsedRestoreRequest } from './request.ts';

/**
 * Choose the snapshot a request names among a plan's snapshots: by id; `latest`, the committed one
 * with the newest `time`; with `pointInTime`, the committed one with the newest `time` at or before it.
 * Ordered by `time`, not by id: ids sort by the time a snapshot was scheduled or asked for, which a
 * late scheduler tick, or a scheduled and an on-demand snapshot in one second (`20261121T234500.500Z`
 * sorts before `20261121T234500Z`), can put in another order than the times the source was read.
 * @throws NotFoundError (not retryable): an unknown or unrestorable snapshot, or a point in time
 *   before the first committed snapshot (the message names that snapshot's time).
 * @see docs/format.md#terminology
 */
export function selectSnapshot(
  snapshots: readonly SnapshotRecord[],
  request: { plan: string; snapshot: string; pointInTime?: string | undefined },
): SnapshotRecord {
  const committed = snapshots
    .filter((s) => s.status === 'COMMITTED' && s.time)
    .sort(
      (a, b) =>
        Date.parse(a.time as string) - Date.parse(b.time as string) ||
        (a.snapshotId < b.snapshotId ? -1 : a.snapshotId > b.snapshotId ? 1 : 0),
    );
  if (request.pointInTime) {
    const at = Date.parse(request.pointInTime);
    const found = committed.filter((s) => Date.parse(s.time as string) <= at).at(-1);
    if (!found) {
      const first = committed[0];
      throw new NotFoundError(
        `plan '${request.plan}' has no committed snapshot at or before ${request.pointInTime}` +
          (first
            ? `: its first snapshot (${first.snapshotId}) was taken at ${first.time}`
            : ': it has no committed snapshot yet'),
      );
    }
    return found;
  }
  if (request.snapshot === 'latest') {
    const found = committed.at(-1);
    if (!found) throw new NotFoundError(`plan '${request.plan}' has no committed snapshot yet`);
    return found;
  }
  const found = snapshots.find((s) => s.snapshotId === request.snapshot);
  if (!found) throw new NotFoundError(`plan '${request.plan}' has no snapshot '${request.snapshot}'`);
  if (found.status !== 'COMMITTED') {
    throw new NotFoundError(
      `snapshot '${request.snapshot}' of plan '${request.plan}' is ${found.status}, not restorable`,
    );
  }
  return found;
}

/** The part of a restore request that selects entries. */
export type EntrySelection = Pick<ParsedRestoreRequest, 'key' | 'keys' | 'prefix' | 'include' | 'exclude'>;

/**
 * The keys a request lists (`keys`, e.g. from a `find` or `diff` result): membership, whether a
 * part's key range holds any of them (so the others are not read), and which were not seen.
 */
class ListedKeys {
  readonly size: number;
  readonly #set: Set<string>;
  /** The keys as UTF-8, in manifest (binary) order. */
  readonly #sorted: Buffer[];
  readonly #unseen: Set<string>;

  constructor(keys: readonly string[]) {
    this.#set = new Set(keys);
    this.size = this.#set.size;
    this.#sorted = [...this.#set].map((k) => Buffer.from(k, 'utf8')).sort(Buffer.compare);
    this.#unseen = new Set(this.#set);
  }

  has(key: string): boolean {
    return this.#set.has(key);
  }

  /** Whether a listed key lies in `firstKey`…`lastKey` (inclusive). */
  anyIn(firstKey: string, lastKey: string): boolean {
    const first = Buffer.from(firstKey, 'utf8');
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.#sorted[mid] as Buffer, first) < 0) lo = mid + 1;
      else hi = mid;
    }
    const next = this.#sorted[lo];
    return next !== undefined && Buffer.compare(next, Buffer.from(lastKey, 'utf8')) <= 0;
  }

  /** Mark `key` as one the snapshot holds. */
  seen(key: string): void {
    this.#unseen.delete(key);
  }

  /** The listed keys the snapshot does not hold, the first `n` of them by name, and their count. */
  unseen(n: number): { count: number; first: string[] } {
    return { count: this.#unseen.size, first: [...this.#unseen].slice(0, n) };
  }
}

/** A compiled include or exclude glob, and whether it matched an entry under the prefix yet. */
interface Glob {
  glob: string;
  match: (key: string) => boolean;
  hit: boolean;
}

/**
 * Decides, entry by entry in manifest (key) order, what a request selects, and gathers the warnings
 * of {@link selectEntries} as it goes, so a selection can be made while streaming a manifest's parts.
 * From the key range of a part ({@link PartRef}) it also tells whether the part can hold selected
 * entries at all, and whether it is selected whole, so those parts need not be read.
 */
export class EntrySelector {
  readonly #request: EntrySelection;
  readonly #snapshotId: string;
  readonly #includes: Glob[];
  readonly #excludes: Glob[];
  readonly #listed: ListedKeys | undefined;
  /** Entries under the prefix (all entries without one). */
  #underPrefix = 0;
  /** Entries selected so far. */
  selected = 0;

  constructor(request: EntrySelection, snapshotId: string) {
    this.#request = request;
    this.#snapshotId = snapshotId;
    const globs = (list: readonly string[] | undefined) =>
      (list ?? []).map((glob) => ({ glob, match: picomatch(glob, { dot: true }), hit: false }));
    this.#includes = globs(request.include);
    this.#excludes = globs(request.exclude);
    this.#listed = request.keys ? new ListedKeys(request.keys) : undefined;
  }

  /** Whether a part whose keys run from `firstKey` to `lastKey` can hold a selected entry. */
  mayHold(ref: Pick<PartRef, 'firstKey' | 'lastKey'>): boolean {
    const { key, prefix } = this.#request;
    if (key !== undefined) return compareKeys(ref.firstKey, key) <= 0 && compareKeys(key, ref.lastKey) <= 0;
    if (this.#listed && !this.#listed.anyIn(ref.firstKey, ref.lastKey)) return false;
    if (prefix === undefined) return true;
    // The keys under a prefix are one run in binary order, starting at the prefix itself.
    return (
      compareKeys(ref.lastKey, prefix) >= 0 &&
      (ref.firstKey.startsWith(prefix) || compareKeys(ref.firstKey, prefix) < 0)
    );
  }

  /** Whether every entry of such a part is selected (no key, no list, no glob, the range under the prefix). */
  selectsAll(ref: Pick<PartRef, 'firstKey' | 'lastKey'>): boolean {
    const { key, prefix } = this.#request;
    if (key !== undefined || this.#listed || this.#includes.length > 0 || this.#excludes.length > 0)
      return false;
    return prefix === undefined || (ref.firstKey.startsWith(prefix) && ref.lastKey.startsWith(prefix));
  }

  /** Count `objectCount` entries of a part {@link selectsAll} selects, without looking at them. */
  acceptAll(objectCount: number): void {
    this.#underPrefix += objectCount;
    this.selected += objectCount;
  }

  /**
   * Whether the request's key, prefix and globs select `key`, without counting it (and without
   * marking globs as matching).
   */
  matches(key: string): boolean {
    const r = this.#request;
    if (r.key !== undefined) return key === r.key;
    if (this.#listed && !this.#listed.has(key)) return false;
    if (r.prefix !== undefined && !key.startsWith(r.prefix)) return false;
    const any = (globs: readonly Glob[]) => globs.some((g) => g.match(key));
    return (this.#includes.length === 0 || any(this.#includes)) && !any(this.#excludes);
  }

  /** Whether the request selects `entry` (entries come in manifest order). */
  accept(entry: Pick<ManifestEntry, 'key'>): boolean {
    const { key, prefix } = this.#request;
    if (key !== undefined) {
      if (entry.key !== key || this.selected > 0) return false;
      this.selected += 1;
      return true;
    }
    if (this.#listed) {
      if (!this.#listed.has(entry.key)) return false;
      this.#listed.seen(entry.key);
    }
    if (prefix !== undefined && !entry.key.startsWith(prefix)) return false;
    this.#underPrefix += 1;
    // Every glob is matched (not only until one selects or excludes): a warning names each that matches nothing.
    const matches = (globs: readonly Glob[]) => {
      let any = false;
      for (const g of globs) {
        if (g.match(entry.key)) {
          g.hit = true;
          any = true;
        }
      }
      return any;
    };
    const included = matches(this.#includes) || this.#includes.length === 0;
    const excluded = matches(this.#excludes);
    if (!included || excluded) return false;
    this.selected += 1;
    return true;
  }

  /**
   * The warnings of the whole selection, once every entry was offered.
   * @param totalEntries entries of the snapshot.
   * @throws NotFoundError (not retryable) when a single `key` is not in the snapshot.
   */
  finish(totalEntries: number): string[] {
    const { key, prefix } = this.#request;
    const snapshotId = this.#snapshotId;
    if (key !== undefined) {
      if (this.selected === 0) {
        throw new NotFoundError(
          `snapshot ${snapshotId} does not hold '${key}' ('strongbox versions' lists the snapshots that do)`,
        );
      }
      return [];
    }
    const warnings: string[] = [];
    const unseen = this.#listed?.unseen(3);
    if (this.#listed && unseen && unseen.count > 0) {
      const names = unseen.first.map((k) => `'${k}'`).join(', ');
      warnings.push(
        `${unseen.count} of the ${this.#listed.size} listed key(s) are not in snapshot ${snapshotId}: ${names}${unseen.count > unseen.first.length ? ', …' : ''}`,
      );
    }
    if (prefix !== undefined && this.#underPrefix === 0) {
      warnings.push(`prefix '${prefix}' matches no object of snapshot ${snapshotId}`);
    }
    if (this.#underPrefix > 0) {
      for (const [kind, list] of [
        ['include', this.#includes],
        ['exclude', this.#excludes],
      ] as const) {
        for (const g of list) {
          if (!g.hit) warnings.push(`${kind} glob '${g.glob}' matches no object of snapshot ${snapshotId}`);
        }
      }
    }
    if (this.selected === 0 && totalEntries > 0) {
      warnings.push(`nothing to restore: the request selects no object of snapshot ${snapshotId}`);
    }
    if (totalEntries === 0) warnings.push(`snapshot ${snapshotId} holds no object`);
    return warnings;
  }
}

/**
 * The entries of a snapshot a request selects (key, prefix, include, exclude), and a warning for
 * each part of the request that matches nothing.
 * @param entries the snapshot's entries in manifest (key) order.
 * @throws NotFoundError (not retryable) when a single `key` is not in the snapshot.
 * @see selectFromManifest to select while reading a stored manifest part by part.
 */
export function selectEntries(
  entries: readonly ManifestEntry[],
  request: EntrySelection,
  snapshotId: string,
): { selected: ManifestEntry[]; warnings: string[] } {
  const selector = new EntrySelector(request, snapshotId);
  const selected = entries.filter((e) => selector.accept(e));
  return { selected, warnings: selector.finish(entries.length) };
}

/**
 * Read the given parts of a manifest in order, up to `window` reads ahead (memory: `window` parts).
 * @throws NotFoundError when a part is missing; IntegrityError, ValidationError (not retryable).
 */
async function* partsInOrder(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  refs: readonly PartRef[],
  window = 4,
): AsyncIterable<ManifestPart> {
  const reads: Promise<ManifestPart>[] = [];
  const start = (i: number) => {
    const ref = refs[i];
    if (!ref) return;
    const read = readPart(vault, envelope, planId, ref.partId);
    read.catch(() => {}); // surfaced when its turn comes
    reads[i] = read;
  };
  for (let i = 0; i < Math.min(window, refs.length); i++) start(i);
  for (let i = 0; i < refs.length; i++) {
    const part = await (reads[i] as Promise<ManifestPart>);
    delete reads[i];
    start(i + window);
    yield part;
  }
}

/**
 * The selection of a stored manifest, reading only the parts that can hold selected entries (a
 * single key: the one part whose key range holds it; a prefix: the parts whose range meets it).
 *
 * With `range`, only the selected entries numbered `first` to `first + count - 1` (in manifest
 * order, from 0) are returned — what one restore slice restores; parts selected whole that lie before
 * the range are counted without being read, reading stops after the range, and no warning is made.
 *
 * With `pointInTime` (the changes of a point-in-time selection, in key order: see
 * point-in-time.ts), the entries selected are the manifest's with the changes applied; a part that a
 * change falls into (its key lies after the previous part's last key, up to this part's last key) is
 * read whatever the range. A warning names each selected key whose change was lost before capture;
 * with changes, warnings and errors name the selection `<snapshotId> as of <at>`.
 * @returns the selected entries (of the range), how many the selection holds (with `range`: at
 *   least up to its end), the warnings of {@link selectEntries}, and how many of the entries
 *   returned are changes (`fromJournal`).
 * @throws NotFoundError (not retryable) when a single `key` is not in the selection, or a part is missing.
 * @throws IntegrityError, ValidationError (not retryable) when a part does not match its id.
 * @see docs/format.md#manifests
 */
export async function selectFromManifest(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
  request: EntrySelection,
  snapshotId: string,
  range?: { first: number; count: number },
  pointInTime?: { at: string; changes: readonly KeyChange[] },
): Promise<{ selected: ManifestEntry[] } & SelectionSummary> {
  const summary: SelectionSummary = { selectedCount: 0, warnings: [], fromJournal: 0 };
  const selected: ManifestEntry[] = [];
  for await (const entry of streamSelection(
    vault,
    envelope,
    manifest,
    request,
    snapshotId,
    summary,
    range,
    pointInTime,
  )) {
    selected.push(entry);
  }
  return { selected, ...summary };
}

/** What a selection came to, once {@link streamSelection} has yielded its last entry. */
export interface SelectionSummary {
  /** Entries the selection holds (with a range: at least up to its end). */
  selectedCount: number;
  /** The warnings of {@link selectEntries} (none with a range). */
  warnings: string[];
  /** How many of the entries yielded are changes from the journal. */
  fromJournal: number;
}

/**
 * {@link selectFromManifest} one entry at a time, in manifest order, holding at most a few manifest
 * parts in memory (a restore job's selection of any size); `summary` is filled in once the last
 * entry has been yielded.
 * @throws as {@link selectFromManifest}, as the entries are read.
 */
export async function* streamSelection(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
  request: EntrySelection,
  snapshotId: string,
  summary: SelectionSummary,
  range?: { first: number; count: number },
  pointInTime?: { at: string; changes: readonly KeyChange[] },
): AsyncGenerator<ManifestEntry> {
  const changes = pointInTime?.changes ?? [];
  const label = changes.length > 0 ? `${snapshotId} as of ${pointInTime?.at}` : snapshotId;
  const selector = new EntrySelector(request, label);
  const end = range ? range.first + range.count : Number.POSITIVE_INFINITY;
  const { spans, trailing } = changesPerPart(manifest.parts, changes);
  type Step =
    | { kind: 'count'; ref: PartRef }
    | { kind: 'read'; changes: KeyChange[] }
    | { kind: 'changes'; changes: KeyChange[] };
  // Parts decided from their ref alone are not read; the others are read ahead in order.
  const toRead: PartRef[] = [];
  const plan: Step[] = [];
  // Selected entries before the part at hand: exact until the first part that must be read, a lower
  // bound after it (a part read may select fewer than its count).
  let counted = 0;
  let exact = true;
  let complete = true;
  for (const [i, ref] of manifest.parts.entries()) {
    const touched = spans[i] as KeyChange[];
    if (!selector.mayHold(ref)) {
      // None of its entries is selected; a change between parts may be.
      if (touched.length > 0) {
        plan.push({ kind: 'changes', changes: touched });
        exact = false;
      }
      continue;
    }
    if (
      range &&
      exact &&
      touched.length === 0 &&
      selector.selectsAll(ref) &&
      counted + ref.objectCount <= range.first
    ) {
      plan.push({ kind: 'count', ref });
      counted += ref.objectCount;
      continue;
    }
    if (range && counted >= end) {
      complete = false;
      break;
    }
    plan.push({ kind: 'read', changes: touched });
    toRead.push(ref);
    exact = false;
    counted += selector.selectsAll(ref) && touched.length === 0 ? ref.objectCount : 0;
  }
  if (complete && trailing.length > 0) plan.push({ kind: 'changes', changes: trailing });
  const fromChanges = new Set(changes.flatMap((c) => (c.state === 'present' ? [c.entry] : [])));
  let fromJournal = 0;
  const parts = partsInOrder(vault, envelope, manifest.planId, toRead)[Symbol.asyncIterator]();
  try {
    for (const step of plan) {
      if (selector.selected >= end) break;
      if (step.kind === 'count') {
        selector.acceptAll(step.ref.objectCount);
        continue;
      }
      let base: readonly ManifestEntry[] = [];
      if (step.kind === 'read') {
        const next = await parts.next();
        if (next.done) break;
        base = next.value.entries;
      }
      for (const entry of step.changes.length > 0 ? applyChanges(base, step.changes) : base) {
        const index = selector.selected;
        if (!selector.accept(entry)) continue;
        if (!range || (index >= range.first && index < end)) {
          if (fromChanges.has(entry)) fromJournal += 1;
          yield entry;
        }
        if (selector.selected >= end) break;
      }
    }
  } finally {
    await parts.return?.();
  }
  const total =
    manifest.parts.reduce((sum, p) => sum + p.objectCount, 0) +
    changes.filter((c) => c.state === 'present').length;
  const warnings = range ? [] : selector.finish(total);
  if (!range) {
    const lost = changes.filter((c) => c.state === 'lost' && selector.matches(c.key));
    warnings.push(...lostChangeWarnings(lost, snapshotId));
  }
  summary.selectedCount = selector.selected;
  summary.warnings = warnings;
  summary.fromJournal = fromJournal;
}

/**
 * The changes falling into each part's span (after the previous part's last key, up to its own),
 * and those after the last part (`trailing`, after every part). `changes` in key order.
 */
function changesPerPart(
  parts: readonly PartRef[],
  changes: readonly KeyChange[],
): { spans: KeyChange[][]; trailing: KeyChange[] } {
  const spans: KeyChange[][] = parts.map(() => []);
  const trailing: KeyChange[] = [];
  let p = 0;
  for (const change of changes) {
    while (p < parts.length && compareKeys((parts[p] as PartRef).lastKey, change.key) < 0) p += 1;
    (spans[p] ?? trailing).push(change);
  }
  return { spans, trailing };
}

/**
 * The entry a manifest holds for `key`, reading only the part whose key range holds it.
 * @returns undefined when the snapshot does not hold `key`.
 * @throws NotFoundError when the part is missing; IntegrityError, ValidationError (not retryable).
 */
export async function findEntry(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
  key: string,
): Promise<ManifestEntry | undefined> {
  const ref = manifest.parts.find(
    (p) => compareKeys(p.firstKey, key) <= 0 && compareKeys(key, p.lastKey) <= 0,
  );
  if (!ref) return undefined;
  const part = await readPart(vault, envelope, manifest.planId, ref.partId);
  return part.entries.find((e) => e.key === key);
}
