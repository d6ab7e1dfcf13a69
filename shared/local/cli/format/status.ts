/**
 * What `strongbox status` prints: per plan its header, recovery point, snapshot table, each
 * snapshot's verification, the last drills and the recent jobs with their tasks.
 */

import { copyTargetsOf } from '#domain/pipeline.ts';
import { sourceUriOf } from '#domain/plan.ts';
import type {
  DrillRecord,
  JobRecord,
  JournalEntry,
  PlanRecord,
  RegionVerification,
  SnapshotRecord,
  TaskRecord,
  TierVerification,
  Verification,
  VerificationTier,
} from '#domain/records.ts';
import { recoveryPoint } from '#domain/rpo.ts';
import { describeFailure, regionProblems, VERIFICATION_TIERS } from '#domain/verify/report.ts';
import { formatBytes, formatTable } from '../../format.ts';

/** The header line of a plan: its source, schedule, copy regions and isolated vaults, and whether it is disabled. */
export function planLine(plan: PlanRecord): string {
  return `\nplan ${plan.id}: ${sourceUriOf(plan.source)}  ${plan.schedule}  copies: ${copyTargetsOf(plan).join(', ') || 'none'}${plan.enabled ? '' : '  (disabled)'}`;
}

/** A plan's snapshots as a table: status, objects, size, copies, verification and error. */
export function snapshotTable(snapshots: readonly SnapshotRecord[]): string {
  return formatTable(
    ['snapshot', 'status', 'objects', 'size', 'copies', 'verification', 'error'],
    snapshots.map((s) => [
      s.snapshotId,
      s.status,
      s.objectCount ?? '-',
      s.logicalBytes === undefined ? '-' : formatBytes(s.logicalBytes),
      Object.entries(s.regions ?? {})
        .map(([r, x]) => `${r}:${x.status}`)
        .join(' ') || '-',
      s.verification?.status ?? '-',
      s.error ?? '',
    ]),
  );
}

/** A job and its tasks (status, attempts beyond the first, progress), and why the job failed. */
export function jobLine(job: JobRecord, tasks: readonly TaskRecord[]): string {
  const line = tasks
    .map(
      (t) =>
        `${t.taskId}:${t.status}${t.attempts > 1 ? `(x${t.attempts})` : ''}${t.progress ? ` ${t.progress.done}/${t.progress.total ?? '?'}` : ''}`,
    )
    .join('  ');
  return `  job ${job.jobId} ${job.status}  ${line}${job.error ? `  reason: ${job.error}` : ''}`;
}

/**
 * The recovery point lines of `strongbox status`: the newest snapshot's age against the plan's RPO,
 * the last reconcile's finding, and (under capture) the lag of the last hour's captures.
 */
export function recoveryLines(
  plan: PlanRecord,
  snapshots: readonly SnapshotRecord[],
  lastHour: readonly JournalEntry[],
  now: Date,
): string[] {
  const point = recoveryPoint(plan, snapshots, now);
  const rpo =
    point.rpoMinutes === undefined
      ? ''
      : point.exceeded
        ? ` — RPO ${point.rpoMinutes} min EXCEEDED`
        : ` — within RPO ${point.rpoMinutes} min`;
  const lines = [
    `  recovery point: ${point.newestSnapshotTime ? `newest snapshot ${formatDuration(point.ageMinutes * 60)} old` : 'no committed snapshot yet'}${rpo}`,
  ];
  const reconciled = snapshots.filter((s) => s.mode === 'reconcile' && s.status === 'COMMITTED').at(-1);
  if (reconciled) {
    lines.push(
      `  reconcile ${reconciled.snapshotId}: ${reconciled.reconcileMissed ?? 0} change(s) the journal had missed${reconciled.reconcileMissed ? ' (repaired)' : ''}`,
    );
  }
  if (lastHour.length > 0) {
    const lags = lastHour.map((e) => (Date.parse(e.capturedAt) - Date.parse(e.eventTime)) / 1000);
    const lost = lastHour.filter((e) => e.outcome === 'lost-before-capture').length;
    lines.push(
      `  capture (last hour): ${lastHour.length} change(s), lag max ${Math.max(...lags).toFixed(1)} s${lost ? `, ${lost} lost before capture` : ''}`,
    );
  }
  return lines;
}

/**
 * The status lines of a snapshot's verification: the overall status (with what failed, e.g.
 * `verification 20261121T234500Z FAILED (deep us-east-1: 1 corrupt blob(s) (5f70…))`), then one line
 * per tier and region with its status and figures.
 * @see docs/format.md#verification
 */
export function verificationLines(snapshotId: string, v: Verification): string[] {
  const tiers = v.tiers ?? {};
  const failure = describeFailure(tiers);
  const lines = [
    `  verification ${snapshotId} ${v.status}${failure ? ` (${failure.replace(/^verification failed: /, '')})` : ''}`,
  ];
  for (const tier of VERIFICATION_TIERS) {
    const t = tiers[tier];
    if (!t) continue;
    for (const [region, r] of Object.entries(t.regions)) lines.push(tierRegionLine(tier, t, region, r));
  }
  return lines;
}

/** One tier in one region: its status (FAILED with the problems, RUNNING, PASSED) and figures. */
function tierRegionLine(
  tier: VerificationTier,
  t: TierVerification,
  region: string,
  r: RegionVerification,
): string {
  // A table snapshot's items are checked by every tier (their blob figures are 0).
  const items = r.itemsChecked === undefined ? '' : `, ${r.itemsChecked} items checked`;
  const figures = `${tierFigures(tier, t, r)}${items}`;
  const problems = regionProblems(r);
  const status =
    problems.length > 0
      ? 'FAILED'
      : t.status === 'RUNNING' && (r.cursor ?? 0) < (r.totalBlobs ?? 0)
        ? 'RUNNING'
        : 'PASSED';
  return `    ${tier.padEnd(8)} ${region.padEnd(12)} ${status.padEnd(7)} ${figures}${problems.length > 0 ? `: ${problems.join(', ')}` : ''}  at ${t.checkedAt}`;
}

/** What a tier checked in a region: blobs listed, checksums matched, or blobs hashed. */
function tierFigures(tier: VerificationTier, t: TierVerification, r: RegionVerification): string {
  if (tier === 'catalog')
    return `${r.referencedBlobs - r.missingBlobs.length}/${r.referencedBlobs} blobs listed`;
  if (tier === 'checksum') {
    return r.checkedPacks !== undefined
      ? `${r.checkedPacks - (r.mismatchedPacks?.length ?? 0)}/${r.referencedPacks ?? '?'} pack checksums match`
      : `${r.checkedBlobs - (r.mismatchedBlobs?.length ?? 0) - (r.uncheckedBlobs ?? 0)}/${r.referencedBlobs} checksums match${r.uncheckedBlobs ? `, ${r.uncheckedBlobs} without a recorded checksum` : ''}`;
  }
  return `${r.checkedBlobs}/${r.totalBlobs ?? '?'} ${t.scope === 'all' ? 'blobs' : 'sampled blobs'} hashed (${formatBytes(r.checkedBytes ?? 0)})`;
}

/**
 * The status line of a restore drill, e.g. `drill 2026-11-22T01:00Z snapshot 20261121T234500Z PASSED:
 * us-east-1 20 objects 1.2 MiB 35.0 MiB/s TTFB 12 ms RTO ≈ 18 s; eu-west-1 …`, with the reason when
 * it FAILED.
 * @see docs/format.md#restore-drills
 */
export function drillLine(drill: DrillRecord): string {
  const at = `${drill.scheduledAt.slice(0, 16)}Z`;
  const regions = Object.entries(drill.regions)
    .map(
      ([region, r]) =>
        `${region} ${r.objects} ${r.scratchTable ? 'items' : 'objects'} ${formatBytes(r.bytes)} ${formatBytes(r.throughputBytesPerSecond)}/s TTFB ${Math.round(r.timeToFirstByteMs)} ms RTO ≈ ${formatDuration(r.estimatedRtoSeconds)}${r.status === 'FAILED' ? ' FAILED' : ''}`,
    )
    .join('; ');
  return `  drill ${at} snapshot ${drill.snapshotId} ${drill.status}: ${regions}${drill.reason ? `  reason: ${drill.reason}` : ''}`;
}

/** `18` → `18 s`, `5400` → `1.5 h`: a duration for people. */
function formatDuration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
