/** Under continuous protection: a snapshot from the journal, or one that lists the source. */
import { snapshotFromJournal } from '../journal-snapshot.ts';
import type { PipelineDeps } from '../pipeline.ts';
import { DEFAULT_RECONCILE_SCHEDULE } from '../plan.ts';
import type { PlanRecord, SnapshotRecord } from '../records.ts';
import { latestOccurrence, parseSchedule } from '../schedule.ts';
import type { SnapshotResult } from './result.ts';
import { fanOutAfterCommit } from './seal.ts';

/**
 * Under continuous protection, how the next snapshot is built: from the journal, unless the parent
 * has no journal position (continuous protection just began: a listing), its journal lost a change
 * (a reconcile repairs it), or an occurrence of the reconcile schedule has passed since the last
 * snapshot that listed the source (a reconcile).
 */
export async function continuousMode(
  deps: PipelineDeps,
  plan: PlanRecord,
  parent: SnapshotRecord,
): Promise<'journal' | 'listing' | 'reconcile'> {
  if (!parent.journalUntil) return 'listing';
  if (parent.journalLost) return 'reconcile';
  const committed = (await deps.catalog.listSnapshots(plan.id)).filter(
    (s) => s.status === 'COMMITTED' && s.time,
  );
  const listed = committed.filter((s) => s.mode !== 'journal').at(-1);
  const fullEvery = plan.continuous?.fullEvery;
  if (fullEvery !== undefined) {
    // Journal-built snapshots since the last full one: the Nth snapshot is full again.
    const since = listed
      ? committed.filter((s) => Date.parse(s.time as string) > Date.parse(listed.time as string))
      : committed;
    if (since.length + 1 >= fullEvery) return 'reconcile';
  }
  const schedule = parseSchedule(plan.continuous?.reconcileSchedule ?? DEFAULT_RECONCILE_SCHEDULE);
  const occurrence = latestOccurrence(schedule, new Date(plan.createdAt), deps.clock.now());
  return occurrence && (!listed || occurrence.getTime() > Date.parse(listed.time as string))
    ? 'reconcile'
    : 'journal';
}

/** Build the snapshot from its parent and the journal (no listing), and ask for the next stage. */
export async function journalBuilt(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  lastSnapshot: SnapshotRecord,
): Promise<SnapshotResult> {
  let parent = lastSnapshot;
  const settleMs = (plan.continuous?.settleSeconds ?? 30) * 1000;
  if (plan.continuous?.differential) parent = (await lastFull(deps, plan.id)) ?? parent;
  const now = deps.clock.now().getTime();
  const until = new Date(Math.max(Date.parse(parent.journalUntil as string), now - settleMs)).toISOString();
  const result = await snapshotFromJournal(deps, plan, record, parent, until);
  if (result.status === 'COMMITTED') await fanOutAfterCommit(deps, plan, record.snapshotId);
  return {
    status: result.status,
    snapshotId: record.snapshotId,
    objectCount: result.objectCount,
    logicalBytes: result.logicalBytes,
    objectsRead: 0,
    seconds: result.seconds,
  };
}

/** The newest committed full snapshot (a listing or reconcile) a journal can be applied to. */
async function lastFull(deps: PipelineDeps, planId: string): Promise<SnapshotRecord | undefined> {
  return (await deps.catalog.listSnapshots(planId))
    .filter((s) => s.status === 'COMMITTED' && s.mode !== 'journal' && s.manifestId && s.journalUntil)
    .at(-1);
}
