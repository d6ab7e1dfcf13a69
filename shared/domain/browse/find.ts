/**
 * `strongbox find`: every version of the keys matching a glob across a plan's snapshots and its
 * journal, with when each was first and last seen.
 * @see ../../../docs/format.md#manifests
 */
import pLimit from 'p-limit';
import picomatch from 'picomatch';
import { NotFoundError } from '../errors.ts';
import { type PipelineDeps, tuningOf, vaultIn } from '../pipeline.ts';
import type { SnapshotRecord } from '../records.ts';
import { readManifest, readPart } from '../repository/read-documents.ts';
import { EntrySelector } from '../restore/selection.ts';
import { type ContentId, compareKeys } from '../vault.ts';
import { treeEntryOf } from './tree.ts';

/** What to find. */
export interface FindRequest {
  plan: string;
  /** A glob over the original keys (picomatch syntax, `**` crosses `/`), or one key. */
  pattern: string;
  /** ISO-8601: only snapshots taken, and journaled versions captured, at or after it. */
  since?: string;
  /** ISO-8601: only snapshots taken, and journaled versions captured, at or before it. */
  until?: string;
  /** Only versions of at least this many bytes. */
  minSizeBytes?: number;
  /** Only versions of at most this many bytes. */
  maxSizeBytes?: number;
  /** Only versions with this ETag (without quotes). */
  etag?: string;
  /** The region whose vault to read (its snapshots are those copied there). @default the primary region */
  region?: string;
}

/** Where a version was seen: a snapshot, or the journal (captured between snapshots). */
export interface Sighting {
  /** A snapshot id, or `journal`. */
  in: string;
  /** ISO-8601 UTC: the snapshot's time, or the event's. */
  time: string;
}

/** One version of a key (one ETag), and where it was seen. */
export interface FoundVersion {
  key: string;
  etag: string;
  sizeBytes: number;
  /** ISO-8601 UTC, the source object's. */
  lastModified: string;
  /** SHA-256 of the bytes (lowercase hex); absent for a journaled version of several chunks without one. */
  contentSha256?: string;
  firstSeen: Sighting;
  lastSeen: Sighting;
  /** How many of the snapshots searched hold it. */
  snapshots: number;
  /** How many journal entries captured it. */
  captures: number;
}

/** What a search read and found. */
export interface FindResult {
  /** Versions in key order, then by when first seen. */
  versions: FoundVersion[];
  snapshotsSearched: number;
  /** Distinct manifest parts read: a part shared by many snapshots is read once. */
  partsRead: number;
  /** Parts skipped: outside the pattern's literal prefix, or read already for another snapshot. */
  partsSkipped: number;
  journalEntriesSearched: number;
}

/** The keys a glob can match start with this (its literal directory part), or '' when unknown. */
function literalPrefixOf(pattern: string): string {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) return pattern;
  if (scan.base.includes('\\') || scan.base === '') return '';
  return `${scan.base}/`;
}

/**
 * Search every committed snapshot of a plan (oldest first) and its journal for the keys matching
 * `pattern`. Parts are sorted by key and shared between snapshots, so each distinct part is read
 * at most once (its matches kept, not its entries), and parts wholly outside the pattern's literal
 * prefix are not read at all. Memory: the matches, and one part at a time.
 * @throws NotFoundError (not retryable): an unknown plan, or a missing part or root.
 * @example
 * ```ts
 * const { versions } = await findVersions(deps, { plan: 'photos', pattern: '2026/**\/cat*.jpg' });
 * ```
 */
export async function findVersions(deps: PipelineDeps, request: FindRequest): Promise<FindResult> {
  const { catalog, vaults } = deps;
  const plan = await catalog.getPlan(request.plan);
  if (!plan) throw new NotFoundError(`plan '${request.plan}' does not exist`);
  const region = request.region ?? vaults.primary.region;
  const filter = new VersionFilter(request);
  const snapshots = (await catalog.listSnapshots(plan.id))
    .filter(
      (s) =>
        s.status === 'COMMITTED' &&
        s.time !== undefined &&
        s.manifestId !== undefined &&
        filter.inWindow(s.time) &&
        (region === vaults.primary.region || s.regions?.[region]?.status === 'COPIED'),
    )
    .sort((a, b) => Date.parse(a.time as string) - Date.parse(b.time as string));
  const sightings = new Sightings();
  const parts = await searchSnapshots(deps, plan.id, region, snapshots, filter, sightings);
  // Journaled versions: captured between snapshots, journaled in the primary region only.
  const journal =
    region === vaults.primary.region
      ? await catalog.listJournal(plan.id, {
          ...(request.since ? { capturedAfter: request.since } : {}),
          ...(request.until ? { capturedUntil: request.until } : {}),
        })
      : [];
  for (const e of journal) {
    if (e.outcome !== 'captured' || e.etag === undefined || !filter.inWindow(e.eventTime)) continue;
    // A table item's SHA-256 is its etag (of its canonical JSON); it has no blob.
    const sha256 = e.contentSha256 ?? (e.item ? e.etag : e.blobs?.length === 1 ? e.blobs[0] : undefined);
    const v: Version = {
      key: e.key,
      etag: e.etag,
      sizeBytes: e.sizeBytes ?? 0,
      lastModified: e.lastModified ?? e.eventTime,
      ...(sha256 ? { contentSha256: sha256 } : {}),
    };
    if (filter.wants(v)) sightings.see(v, { in: 'journal', time: e.eventTime }, 'captures');
  }
  return {
    versions: sightings.versions(),
    snapshotsSearched: snapshots.length,
    ...parts,
    journalEntriesSearched: journal.length,
  };
}

/** A version as a part or a journal entry records it, before it is seen anywhere. */
type Version = Omit<FoundVersion, 'firstSeen' | 'lastSeen' | 'snapshots' | 'captures'>;

/** The request's pattern, window, sizes and ETag. */
class VersionFilter {
  readonly selector: EntrySelector;
  readonly #request: FindRequest;

  constructor(request: FindRequest) {
    this.#request = request;
    const prefix = literalPrefixOf(request.pattern);
    this.selector = new EntrySelector(
      { ...(prefix ? { prefix } : {}), include: [request.pattern] },
      request.plan,
    );
  }

  inWindow(time: string): boolean {
    const { since, until } = this.#request;
    return (
      (since === undefined || Date.parse(time) >= Date.parse(since)) &&
      (until === undefined || Date.parse(time) <= Date.parse(until))
    );
  }

  wants(v: { key: string; sizeBytes: number; etag: string }): boolean {
    const r = this.#request;
    return (
      this.selector.matches(v.key) &&
      (r.minSizeBytes === undefined || v.sizeBytes >= r.minSizeBytes) &&
      (r.maxSizeBytes === undefined || v.sizeBytes <= r.maxSizeBytes) &&
      (r.etag === undefined || v.etag === r.etag)
    );
  }
}

/** Versions by key and ETag, with their first and last sightings. */
class Sightings {
  readonly #found = new Map<string, FoundVersion>();

  see(v: Version, at: Sighting, kind: 'snapshots' | 'captures'): void {
    const id = `${v.key}\u0000${v.etag}`;
    const known = this.#found.get(id);
    if (!known) {
      this.#found.set(id, { ...v, firstSeen: at, lastSeen: at, snapshots: 0, captures: 0, [kind]: 1 });
      return;
    }
    if (Date.parse(at.time) < Date.parse(known.firstSeen.time)) known.firstSeen = at;
    if (Date.parse(at.time) >= Date.parse(known.lastSeen.time)) known.lastSeen = at;
    known[kind] += 1;
  }

  /** In key order, then by when first seen. */
  versions(): FoundVersion[] {
    return [...this.#found.values()].sort(
      (a, b) => compareKeys(a.key, b.key) || Date.parse(a.firstSeen.time) - Date.parse(b.firstSeen.time),
    );
  }
}

/**
 * Every snapshot's matching versions, each distinct part read once. The roots, then the distinct
 * parts that can match, are read `concurrency` at a time (parts of consecutive snapshots are mostly
 * shared, but one read after another the new ones add up over a long history); the sightings are
 * then counted in snapshot order. Memory: the roots' part refs and each part's matches.
 */
async function searchSnapshots(
  deps: PipelineDeps,
  planId: string,
  region: string,
  snapshots: readonly SnapshotRecord[],
  filter: VersionFilter,
  sightings: Sightings,
): Promise<{ partsRead: number; partsSkipped: number }> {
  const vault = vaultIn(deps.vaults, region);
  const limit = pLimit(tuningOf(deps).concurrency);
  const manifests = await Promise.all(
    snapshots.map((s) => limit(() => readManifest(vault, deps.envelope, planId, s.manifestId as string))),
  );
  /** Each part to read, by id: only its matches. */
  const matchesOf = new Map<ContentId, Promise<Version[]>>();
  for (const manifest of manifests)
    for (const ref of manifest.parts) {
      if (!filter.selector.mayHold(ref) || matchesOf.has(ref.partId)) continue;
      const matches = limit(async () => {
        const part = await readPart(vault, deps.envelope, planId, ref.partId);
        return part.entries.filter((e) => filter.wants(e)).map(treeEntryOf);
      });
      matches.catch(() => {}); // surfaced below, in order
      matchesOf.set(ref.partId, matches);
    }
  const counted = new Set<ContentId>();
  let partsSkipped = 0;
  for (const [i, manifest] of manifests.entries()) {
    const snapshot = snapshots[i] as SnapshotRecord;
    const at = { in: snapshot.snapshotId, time: snapshot.time as string };
    for (const ref of manifest.parts) {
      // Only parts that can match were read: any other is skipped, and so is a part read already.
      const read = matchesOf.get(ref.partId);
      if (!read || counted.has(ref.partId)) partsSkipped += 1;
      else counted.add(ref.partId);
      for (const m of read ? await read : []) sightings.see(m, at, 'snapshots');
    }
  }
  return { partsRead: matchesOf.size, partsSkipped };
}
