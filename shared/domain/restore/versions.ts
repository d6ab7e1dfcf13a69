/** Version listing: the captured versions and journaled changes of one object. */

import { NotFoundError } from '../errors.ts';
import { compareSequencers } from '../journal.ts';
import { type PipelineDeps, vaultIn } from '../pipeline.ts';
import type { JournalEntry, SnapshotRecord } from '../records.ts';
import { readManifest } from '../repository/read-documents.ts';
import { findEntry } from './selection.ts';

/** One captured version of an object: a run of consecutive snapshots that hold the same ETag. */
export interface CapturedVersion {
  source: 'snapshot';
  /** The newest snapshot holding this version: restore it with `snapshot` = this and `key`. */
  snapshotId: string;
  /** ISO-8601 UTC: that snapshot's time. */
  time: string;
  /** The oldest snapshot of the run, i.e. when this version was first captured. */
  firstSnapshotId: string;
  firstTime: string;
  sizeBytes: number;
  etag: string;
  /** ISO-8601 UTC: the object's LastModified when captured. */
  lastModified: string;
}

/**
 * One journaled change of an object (continuous protection): an upload captured between snapshots,
 * a removal, or an upload lost before capture.
 */
export interface JournalVersion {
  source: 'journal';
  /** None: a journaled change is in no snapshot (so `v.snapshotId` reads on any version). */
  snapshotId?: undefined;
  firstSnapshotId?: undefined;
  /** ISO-8601 UTC: when the change happened (the S3 event's time). */
  time: string;
  /** S3's sequencer: orders the changes of the key. */
  sequencer: string;
  /** ISO-8601 UTC: when capture journaled it. */
  capturedAt: string;
  event: JournalEntry['event'];
  outcome: JournalEntry['outcome'];
  /** Size and ETag (captured: of the bytes stored; lost: as the event reported them). */
  sizeBytes?: number;
  etag?: string;
  lastModified?: string;
  /** Why the bytes were lost (lost-before-capture). */
  reason?: string;
  /**
   * A captured version a point-in-time restore reaches: restore it with `pointInTime` = this (its
   * event time) and `key`. Absent when no committed snapshot precedes it (a point-in-time restore
   * needs one) or the version was not captured.
   */
  pointInTime?: string;
}

/** A version of one object, from the snapshots or from the journal. */
export type KeyVersion = CapturedVersion | JournalVersion;

/**
 * The versions of one object, newest first: those a plan's committed snapshots captured (a run of
 * snapshots holding one ETag is one version) and, with `journal` and in the primary region, its
 * journaled changes (uploads captured between snapshots, removals, uploads lost before capture; a
 * duplicate entry once). Reads manifests newest-first (of each, the root and the one part whose key range holds the
 * key) and stops as soon as `limit` snapshot versions are complete (a version is complete when an
 * older snapshot holds another ETag, or none of it); the key's journal is one catalog query.
 * Versions are ordered by time (a snapshot version: its newest snapshot's time; a journaled change:
 * its event time), then cut to `limit`.
 * @param request.limit most versions to list. @default 20
 * @param request.journal also list the journaled changes. @default false (snapshot versions only)
 * @throws NotFoundError (not retryable) for an unknown plan or a region without a vault.
 * @throws TransientError (retryable) when the catalog or the vault fails.
 * @example
 * ```ts
 * const versions = await listVersions(deps, { plan: 'photos', key: '2026/03/cat.jpg', journal: true });
 * const v = versions[1];
 * await restoreSnapshot(deps, {
 *   plan: 'photos', key: '2026/03/cat.jpg', targetBucket: 'restored',
 *   ...(v?.source === 'journal' ? { pointInTime: v.pointInTime } : { snapshot: v?.snapshotId }),
 * });
 * ```
 */
export async function listVersions(
  deps: PipelineDeps,
  request: { plan: string; key: string; region?: string; limit?: number; journal?: boolean },
): Promise<KeyVersion[]> {
  const { catalog, envelope, vaults } = deps;
  const plan = await catalog.getPlan(request.plan);
  if (!plan) throw new NotFoundError(`plan '${request.plan}' does not exist`);
  const region = request.region ?? vaults.primary.region;
  const vault = vaultIn(vaults, region);
  const limit = request.limit ?? 20;
  const snapshots = (await catalog.listSnapshots(plan.id))
    .filter((s) => s.status === 'COMMITTED' && s.time && s.manifestId)
    .filter((s) => region === vaults.primary.region || s.regions?.[region]?.status === 'COPIED')
    .reverse();
  const versions: CapturedVersion[] = [];
  let current: CapturedVersion | undefined;
  for (const snapshot of snapshots) {
    const manifest = await readManifest(vault, envelope, plan.id, snapshot.manifestId as string);
    const entry = await findEntry(vault, envelope, manifest, request.key);
    if (entry && current && entry.etag === current.etag) {
      current.firstSnapshotId = snapshot.snapshotId;
      current.firstTime = snapshot.time as string;
      continue;
    }
    if (versions.length === limit) break; // the last version is complete
    current = entry && {
      source: 'snapshot',
      snapshotId: snapshot.snapshotId,
      time: snapshot.time as string,
      firstSnapshotId: snapshot.snapshotId,
      firstTime: snapshot.time as string,
      sizeBytes: entry.sizeBytes,
      etag: entry.etag,
      lastModified: entry.lastModified,
    };
    if (current) versions.push(current);
  }
  // Captured bytes are in the primary vault only: the journal counts there.
  const journaled =
    request.journal && region === vaults.primary.region
      ? await journalVersions(deps, plan.id, request.key, snapshots)
      : [];
  if (journaled.length === 0) return versions;
  const at = (v: KeyVersion) => Date.parse(v.time);
  return [...versions, ...journaled]
    .sort((a, b) => at(b) - at(a) || (a.source === b.source ? 0 : a.source === 'snapshot' ? -1 : 1))
    .slice(0, limit);
}

/** The journaled changes of one key, newest first (by sequencer), each sequencer once. */
async function journalVersions(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  key: string,
  committed: readonly SnapshotRecord[],
): Promise<JournalVersion[]> {
  const entries = await deps.catalog.listJournalForKey(planId, key);
  const bySequencer = new Map<string, JournalEntry>();
  for (const entry of entries) {
    if (entry.key !== key) continue;
    const seen = bySequencer.get(entry.sequencer);
    // A duplicate: keep the captured one (or the first).
    if (!seen || (seen.outcome !== 'captured' && entry.outcome === 'captured'))
      bySequencer.set(entry.sequencer, entry);
  }
  const firstSnapshotTime = Math.min(...committed.map((s) => Date.parse(s.time as string)));
  return [...bySequencer.values()]
    .sort((a, b) => compareSequencers(b.sequencer, a.sequencer))
    .map((e) => ({
      source: 'journal' as const,
      time: e.eventTime,
      sequencer: e.sequencer,
      capturedAt: e.capturedAt,
      event: e.event,
      outcome: e.outcome,
      ...(e.sizeBytes === undefined ? {} : { sizeBytes: e.sizeBytes }),
      ...(e.etag === undefined ? {} : { etag: e.etag }),
      ...(e.lastModified === undefined ? {} : { lastModified: e.lastModified }),
      ...(e.reason === undefined ? {} : { reason: e.reason }),
      // Restorable: content captured (blobs, or a table item held in the entry itself) after the first snapshot.
      ...(e.outcome === 'captured' &&
      (e.blobs?.length || e.item !== undefined) &&
      firstSnapshotTime < Date.parse(e.eventTime)
        ? { pointInTime: e.eventTime }
        : {}),
    }));
}
