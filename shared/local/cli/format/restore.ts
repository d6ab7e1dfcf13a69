/** What `strongbox restore`, `restore-status` and `versions` print. */
import type { RestoreJobRecord } from '#domain/records.ts';
import type { RestoreReport } from '#domain/restore/report.ts';
import type { KeyVersion } from '#domain/restore/versions.ts';
import { formatBytes, formatRate, formatSeconds, formatTable } from '../../format.ts';

/** One line per restore job for `strongbox restore-status`. */
export function restoreJobLine(job: RestoreJobRecord): string {
  const done = job.objects + job.skippedExists + job.skippedUnchanged;
  return `${job.restoreJobId} ${job.status} plan ${job.planId} snapshot ${job.snapshotId} → s3://${job.targetBucket}: ${done}/${job.selected} objects, ${formatBytes(job.bytes)} of ${formatBytes(job.selectedBytes)}, slices ${job.slicesDone}/${job.slicesTotal}${job.error ? ` — ${job.error}` : ''}`;
}

/**
 * The versions of one object as a table, newest first: where each comes from (a run of snapshots,
 * or a journaled change), its time, how to restore it, size, ETag and what happened.
 */
export function formatVersions(versions: readonly KeyVersion[]): string {
  return formatTable(
    ['version', 'time', 'size', 'etag', 'outcome', 'restore with'],
    versions.map((v) =>
      v.source === 'snapshot'
        ? [
            v.firstSnapshotId === v.snapshotId
              ? `snapshot ${v.snapshotId}`
              : `snapshots ${v.firstSnapshotId}…${v.snapshotId}`,
            v.time,
            formatBytes(v.sizeBytes),
            v.etag,
            `in snapshot (modified ${v.lastModified})`,
            `--snapshot ${v.snapshotId}`,
          ]
        : [
            `journal ${v.sequencer}`,
            v.time,
            v.sizeBytes === undefined ? '' : formatBytes(v.sizeBytes),
            v.etag ?? '',
            v.outcome === 'lost-before-capture'
              ? `lost before capture${v.reason ? `: ${v.reason}` : ''}`
              : v.outcome,
            v.pointInTime ? `--point-in-time ${v.pointInTime}` : '',
          ],
    ),
  );
}

/** The final report of a restore, for people: what was written, what was skipped and why, warnings. */
export function formatRestoreReport(report: RestoreReport): string {
  const lines = [
    `${report.dryRun ? 'would restore' : 'restored'} ${report.objects} object(s), ${formatBytes(report.bytes)} from ${report.pointInTime ? `${report.pointInTime} (snapshot ${report.snapshotId}${report.fromJournal ? ` + ${report.fromJournal} journaled version(s)` : ''}, ${report.region})` : `snapshot ${report.snapshotId} (${report.region})`} into s3://${report.targetBucket}/${report.targetPrefix} in ${formatSeconds(report.seconds)}${report.dryRun || !report.seconds ? '' : ` (${formatRate(report.objects, report.seconds)})`}`,
  ];
  const skipped = report.skipped ?? { exists: 0, unchanged: 0 };
  if (skipped.exists + skipped.unchanged > 0) {
    lines.push(
      `${report.dryRun ? 'would skip' : 'skipped'} ${skipped.exists} object(s) the target already holds (overwrite: never) and ${skipped.unchanged} unchanged one(s) (overwrite: ifChanged)`,
    );
    for (const s of (report.skippedObjects ?? []).slice(0, 20)) lines.push(`  skipped ${s.key}: ${s.reason}`);
    const listed = Math.min(20, report.skippedObjects?.length ?? 0);
    if (skipped.exists + skipped.unchanged > listed) {
      lines.push(
        `  … and ${skipped.exists + skipped.unchanged - listed} more (the report lists the first 1000)`,
      );
    }
  }
  if (report.archive) {
    lines.push(
      `archive: ${report.archive.packs} archived pack(s) holding ${report.archive.blobs} blob(s), ${report.archive.requested} restore(s) requested (tier ${report.archive.tier})`,
    );
  }
  for (const warning of report.warnings ?? []) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}
