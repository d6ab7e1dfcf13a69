/** What a restore reports: its outcome, and its progress while it runs. */

import type { ArchiveTier } from '../ports.ts';
import type { OverwritePolicy, SkipReason } from './overwrite.ts';

/** How many skipped objects (and, with `dryRun`, keys) a report lists. */
export const REPORT_LIST_LIMIT = 1000;

/** What a restore did (or, with `dryRun`, would do). */
export interface RestoreReport {
  planId: string;
  snapshotId: string;
  /** ISO-8601 UTC: the snapshot's time. */
  snapshotTime?: string;
  /** With `pointInTime`: the time restored (as requested); `snapshotId` is the base snapshot. */
  pointInTime?: string;
  /**
   * With `pointInTime`: selected objects whose version came from the journal (captured after the
   * base snapshot, at or before the point in time) rather than from the base snapshot.
   */
  fromJournal?: number;
  region: string;
  targetBucket: string;
  targetPrefix: string;
  overwrite: OverwritePolicy;
  dryRun: boolean;
  /** Objects selected from the snapshot. */
  selected: number;
  /** Objects written (with `dryRun`: that would be written). */
  objects: number;
  /** Bytes written (with `dryRun`: that would be written). */
  bytes: number;
  /** Objects not written, by reason: `exists` (policy never), `unchanged` (policy ifChanged). */
  skipped: Record<SkipReason, number>;
  /** The first 1000 skipped objects (target keys) and why. */
  skippedObjects: { key: string; reason: SkipReason }[];
  /**
   * Archive storage this restore needed: `packs` archived packs (the unit S3 restores) holding
   * `blobs` of the blobs to write, and `requested` packs it asked the archive to restore (a pack
   * asked for earlier is not asked for again).
   */
  archive?: { packs: number; blobs: number; requested: number; tier: ArchiveTier };
  /** Wall-clock seconds by the injected clock. */
  seconds: number;
  /** Requests that select nothing, globs that match nothing: the restore still succeeds. */
  warnings: string[];
  /** With `dryRun`: the first 1000 target keys that would be written. */
  keys?: string[];
}

/** Progress of a restore: `check` while it looks at the target, `write` while it writes. */
export interface RestoreProgress {
  phase: 'check' | 'write';
  /** Objects checked (phase check) or written (phase write) so far. */
  objects: number;
  /** Bytes written so far. */
  bytes: number;
  /** Objects the phase has to go through. */
  total: number;
  /** Bytes the write phase has to write. */
  totalBytes: number;
}
