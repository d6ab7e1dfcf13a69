/**
 * Browsing history without restoring it: the tree of a plan at a snapshot or at any point in time
 * (`strongbox ls`), and what changed between two of them (`strongbox diff`).
 * @see ../../../docs/format.md#manifests
 */
import type { PipelineDeps } from '../pipeline.ts';
import type { SnapshotRecord } from '../records.ts';
import { parseRestoreRequest } from '../restore/request.ts';
import { type RestoreSource, resolveRestoreSource, selectionOf } from '../restore/restore.ts';
import { type SelectionSummary, streamSelection } from '../restore/selection.ts';
import { compareKeys, contentSha256Of, type ManifestEntry } from '../vault.ts';

/**
 * Which tree: a plan at a snapshot (an id, or `latest`) or at a point in time (the newest snapshot
 * at or before it, with the journal's changes up to it applied, as a point-in-time restore sees it).
 */
export interface TreeAt {
  plan: string;
  /** A snapshot id or `latest`. @default "latest" */
  snapshot?: string;
  /** ISO-8601: the tree at this time (instead of `snapshot`). */
  pointInTime?: string;
  /** The region whose vault to read. @default the primary region */
  region?: string;
}

/** What a tree's listing or a diff's side was read from. */
export interface TreeSource {
  planId: string;
  /** The snapshot read (with `pointInTime`: the newest at or before it). */
  snapshot: SnapshotRecord;
  region: string;
  /** With a point in time: it, and how many of the entries came from the journal. */
  pointInTime?: { at: string; changes: number };
}

/** One object of a tree: what the snapshot (or the journal) recorded of it. */
export interface TreeEntry {
  key: string;
  sizeBytes: number;
  /** ISO-8601 UTC, the source object's. */
  lastModified: string;
  etag: string;
  /** SHA-256 of the object's bytes (lowercase hex). */
  contentSha256: string;
}

/**
 * A tree, opened: where it was read from, and its objects under `prefix` in key order (UTF-8 binary
 * order, as S3 lists), one manifest part in memory at a time, the parts outside the prefix not read.
 * @throws NotFoundError (not retryable): an unknown plan or snapshot, a point in time before the
 *   plan's first snapshot, a snapshot not copied to `region`, or a missing part.
 * @throws ValidationError (not retryable): a malformed request (the field is named).
 * @example
 * ```ts
 * const tree = await openTree(deps, { plan: 'photos', pointInTime: '2026-12-04T10:00:00Z' }, 'raw/');
 * for await (const e of tree.entries) console.log(e.key, e.sizeBytes);
 * ```
 */
export async function openTree(
  deps: PipelineDeps,
  at: TreeAt,
  prefix?: string,
): Promise<{ source: TreeSource; entries: AsyncGenerator<TreeEntry> }> {
  const request = parseRestoreRequest({ ...at, ...(prefix ? { prefix } : {}), dryRun: true });
  const restoreSource = await resolveRestoreSource(deps, request, { browse: true });
  const summary: SelectionSummary = { selectedCount: 0, warnings: [], fromJournal: 0 };
  return {
    source: sourceOf(restoreSource),
    entries: treeEntries(selectionOf(restoreSource, deps.envelope, request, summary)),
  };
}

function sourceOf(s: RestoreSource): TreeSource {
  return {
    planId: s.planId,
    snapshot: s.snapshot,
    region: s.region,
    ...(s.pointInTime
      ? { pointInTime: { at: s.pointInTime.at, changes: s.pointInTime.changes.length } }
      : {}),
  };
}

async function* treeEntries(entries: AsyncIterable<ManifestEntry>): AsyncGenerator<TreeEntry> {
  for await (const e of entries) yield treeEntryOf(e);
}

/** What a tree (and `find`) reports of a manifest entry. */
export function treeEntryOf(e: ManifestEntry): TreeEntry {
  return {
    key: e.key,
    sizeBytes: e.sizeBytes,
    lastModified: e.lastModified,
    etag: e.etag,
    contentSha256: contentSha256Of(e),
  };
}

/** One difference between two trees: a key added, removed, or whose bytes changed. */
export type TreeChange =
  | { change: 'added'; key: string; after: TreeEntry }
  | { change: 'removed'; key: string; before: TreeEntry }
  | { change: 'modified'; key: string; before: TreeEntry; after: TreeEntry };

/**
 * What changed from tree `a` to tree `b` under `prefix`, in key order: keys added, removed, and
 * modified (their bytes differ: another SHA-256; a new `lastModified` alone is no change). Manifest
 * parts both snapshots share are not read: they hold the same entries on both sides, and no other
 * part of either side holds keys in their range. With a point in time on either side, every part
 * in the prefix is read (the journal's changes may fall in any of them).
 * @throws as {@link openTree}, for either side.
 * @example
 * ```ts
 * const diff = await diffTrees(deps, { plan: 'photos', snapshot: '20261201T000000Z' }, { plan: 'photos' });
 * for await (const c of diff.changes) console.log(c.change, c.key);
 * ```
 */
export async function diffTrees(
  deps: PipelineDeps,
  a: TreeAt,
  b: TreeAt,
  prefix?: string,
): Promise<{ a: TreeSource; b: TreeSource; sharedParts: number; changes: AsyncGenerator<TreeChange> }> {
  const requests = [a, b].map((at) =>
    parseRestoreRequest({ ...at, ...(prefix ? { prefix } : {}), dryRun: true }),
  );
  const [ra, rb] = requests as [
    ReturnType<typeof parseRestoreRequest>,
    ReturnType<typeof parseRestoreRequest>,
  ];
  const [sa, sb] = await Promise.all([
    resolveRestoreSource(deps, ra, { browse: true }),
    resolveRestoreSource(deps, rb, { browse: true }),
  ]);
  const journaled = (sa.pointInTime?.changes.length ?? 0) + (sb.pointInTime?.changes.length ?? 0) > 0;
  const inA = new Set(sa.manifest.parts.map((p) => p.partId));
  const shared = journaled
    ? new Set<string>()
    : new Set(sb.manifest.parts.filter((p) => inA.has(p.partId)).map((p) => p.partId));
  const side = (s: RestoreSource, request: typeof ra) =>
    treeEntries(
      streamSelection(
        s.vault,
        deps.envelope,
        { planId: s.manifest.planId, parts: s.manifest.parts.filter((p) => !shared.has(p.partId)) },
        request,
        s.snapshot.snapshotId,
        { selectedCount: 0, warnings: [], fromJournal: 0 },
        undefined,
        s.pointInTime,
      ),
    );
  return {
    a: sourceOf(sa),
    b: sourceOf(sb),
    sharedParts: shared.size,
    changes: mergeChanges(side(sa, ra), side(sb, rb)),
  };
}

/** Compare two key-ordered streams of entries. */
async function* mergeChanges(
  a: AsyncIterator<TreeEntry>,
  b: AsyncIterator<TreeEntry>,
): AsyncGenerator<TreeChange> {
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : compareKeys(x.value.key, y.value.key);
    if (order < 0 && !x.done) {
      yield { change: 'removed', key: x.value.key, before: x.value };
      x = await a.next();
    } else if (order > 0 && !y.done) {
      yield { change: 'added', key: y.value.key, after: y.value };
      y = await b.next();
    } else if (!x.done && !y.done) {
      if (x.value.contentSha256 !== y.value.contentSha256)
        yield { change: 'modified', key: x.value.key, before: x.value, after: y.value };
      x = await a.next();
      y = await b.next();
    }
  }
}
