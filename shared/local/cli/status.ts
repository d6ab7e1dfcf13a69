/** `strongbox status [PLAN]`: plans, snapshots, jobs and tasks. */
import type { Command } from 'commander';
import { anomalyLines } from '#domain/detector/run.ts';
import type { QuarantineRecord } from '#domain/records.ts';
import type { Container } from '#runtime/container.ts';
import { type CliContext, connect } from './context.ts';
import {
  drillLine,
  jobLine,
  planLine,
  recoveryLines,
  snapshotTable,
  verificationLines,
} from './format/status.ts';

/** A plan's quarantine, in one line. */
export function quarantineLine(q: QuarantineRecord): string {
  const held = q.heldSnapshotId ? `; snapshot ${q.heldSnapshotId} held` : '';
  return `  QUARANTINED since ${q.since} by ${q.by} at ${q.at}: ${q.reason}${held}; forget, journal expiry and garbage collection paused ('strongbox clean-point ${q.planId}', then 'strongbox release ${q.planId}')`;
}

/** `strongbox status`: plans, their snapshots and recent jobs. */
export async function printStatus(c: Container, planId?: string): Promise<void> {
  const { catalog } = c.pipeline;
  const plans = (await catalog.listPlans()).filter((p) => !planId || p.id === planId);
  if (plans.length === 0) {
    console.log(
      planId ? `no plan '${planId}'` : "no plans yet: apply some with 'strongbox plans apply FILE'",
    );
    return;
  }
  for (const plan of plans) {
    console.log(planLine(plan));
    const quarantine = await catalog.getQuarantine(plan.id);
    if (quarantine) console.log(quarantineLine(quarantine));
    // The detector's findings seen in the last 24 hours (docs/format.md#detector).
    const findings = await catalog.listFindings(plan.id);
    for (const line of anomalyLines(findings, c.pipeline.clock.now())) console.log(`  ${line}`);
    const snapshots = await catalog.listSnapshots(plan.id);
    for (const line of recoveryLines(
      plan,
      snapshots,
      await catalog.listJournal(plan.id, {
        capturedAfter: new Date(c.pipeline.clock.now().getTime() - 3_600_000).toISOString(),
      }),
      c.pipeline.clock.now(),
    ))
      console.log(line);
    console.log(snapshotTable(snapshots));
    for (const s of snapshots) {
      if (s.verification)
        for (const line of verificationLines(s.snapshotId, s.verification)) console.log(line);
    }
    const drills = (await catalog.getDrillHistory(plan.id))?.drills ?? [];
    for (const drill of drills.slice(-3)) console.log(drillLine(drill));
    const jobs = (await catalog.listJobs(plan.id)).slice(-5);
    for (const job of jobs) {
      const tasks = await catalog.listTasks(job.jobId);
      console.log(jobLine(job, tasks));
    }
  }
}

export function registerStatus(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('status [plan]')
    .description('plans, snapshots, jobs and tasks')
    .action(async (planId?: string) => printStatus(await connect(dataDir(), deployment()), planId));
}
