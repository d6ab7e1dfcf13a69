/**
 * The shapes the web console's JSON API answers with: shared by the server (./api.ts, ./server.ts)
 * and the UI (./ui/), types only.
 */
import type { FindResult } from '#domain/browse/find.ts';
import type { TreeChange, TreeEntry, TreeSource } from '#domain/browse/tree.ts';
import type { DeadLetterQueueState, DescribedDeadLetter, RedriveResult } from '#domain/dead-letters.ts';
import type {
  DrillRecord,
  JobRecord,
  PlanRecord,
  RegionVerification,
  RestoreJobRecord,
  SnapshotRecord,
  TaskRecord,
} from '#domain/records.ts';
import type { RestoreProgress, RestoreReport } from '#domain/restore/report.ts';
import type { RestoreRequest } from '#domain/restore/request.ts';
import type { RecoveryPoint } from '#domain/rpo.ts';

export type { CostReport, PlanRegionCost } from '#domain/cost.ts';
export type { PlanEfficiency, SnapshotEfficiency } from './efficiency.ts';
export type {
  DeadLetterQueueState,
  DescribedDeadLetter,
  DrillRecord,
  FindResult,
  JobRecord,
  PlanRecord,
  RecoveryPoint,
  RedriveResult,
  RegionVerification,
  RestoreJobRecord,
  RestoreProgress,
  RestoreReport,
  RestoreRequest,
  SnapshotRecord,
  TaskRecord,
  TreeChange,
  TreeEntry,
  TreeSource,
};

/** `GET /api/overview`: what the console is connected to, and every plan with its recovery point. */
export interface Overview {
  /** ISO-8601 UTC: the server's now, which the recovery points are measured at. */
  now: string;
  /** `embedded stack` or `stage NAME`. */
  target: string;
  primaryRegion: string;
  copyRegions: string[];
  plans: PlanSummary[];
}

export interface PlanSummary {
  plan: PlanRecord;
  recoveryPoint: RecoveryPoint;
  /** Snapshots by status. */
  snapshots: Partial<Record<SnapshotRecord['status'], number>>;
  /** The newest snapshot of any status, when there is one. */
  newest?: Pick<SnapshotRecord, 'snapshotId' | 'status' | 'time' | 'scheduledAt'>;
}

/** `GET /api/plans/:plan/timeline`: a plan's snapshots (oldest first) and its drills. */
export interface Timeline {
  plan: PlanRecord;
  recoveryPoint: RecoveryPoint;
  snapshots: SnapshotRecord[];
  drills: DrillRecord[];
}

/** `GET /api/jobs`: what runs now, and what ran lately. */
export interface Jobs {
  now: string;
  /** Snapshot jobs (snapshot, copies, verification, prune): running ones, then the latest of each plan. */
  jobs: { job: JobRecord; tasks: TaskRecord[] }[];
  /** The latest restore jobs, newest first. */
  restoreJobs: RestoreJobRecord[];
  /** Drills running now. */
  drills: DrillRecord[];
  /** Restores this console started, newest first. */
  consoleRestores: ConsoleRestore[];
}

/** `GET /api/dlqs`. */
export interface DeadLetterOverview {
  queues: DeadLetterQueueState[];
}

/** `GET /api/dlqs/:queue`. */
export interface DeadLetterList {
  queue: string;
  letters: DescribedDeadLetter[];
}

/** A folder of a tree listing: the keys under `prefix`. */
export interface TreeFolder {
  name: string;
  prefix: string;
  objects: number;
  bytes: number;
}

/** `GET /api/tree`: one level of a tree (a snapshot or a point in time) under a prefix. */
export interface TreeLevel {
  source: TreeSource;
  prefix: string;
  folders: TreeFolder[];
  /** The objects directly under the prefix, at most `limit`. */
  files: TreeEntry[];
  /** True when there were more objects directly under the prefix than `files` holds. */
  truncated: boolean;
  /** Every object under the prefix (in the folders too), and their bytes. */
  objects: number;
  bytes: number;
}

/** `GET /api/diff`. */
export interface DiffResult {
  a: TreeSource;
  b: TreeSource;
  sharedParts: number;
  /** The first `limit` changes, in key order. */
  changes: TreeChange[];
  counts: { added: number; removed: number; modified: number };
  truncated: boolean;
}

/**
 * A restore the console started (`POST /api/restores`), as `GET /api/restores/:id` follows it:
 * `running` in the console's process (or in the deployed restore function), then `done` with its
 * report, or `job` when it fanned out as a restore job (followed through the catalog: its report
 * once the job ended), or `failed`.
 */
export interface ConsoleRestore {
  id: string;
  request: RestoreRequest;
  startedAt: string;
  state: 'running' | 'done' | 'job' | 'failed';
  progress?: RestoreProgress;
  report?: RestoreReport;
  job?: RestoreJobRecord;
  error?: string;
}

/** `POST /api/restores` with `dryRun: true`: what the restore would do. */
export interface DryRun {
  report: RestoreReport;
}

/** Every error answer: `{ error }`, with the HTTP status saying its kind (400, 403, 404, 500). */
export interface ApiError {
  error: string;
}
