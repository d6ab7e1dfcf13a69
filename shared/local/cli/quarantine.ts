/**
 * `strongbox quarantine PLAN [--since T] --reason R`, `strongbox release PLAN` (lift it) and
 * `strongbox clean-point PLAN [PREFIX]`: what an operator does when a plan's source is attacked.
 * @see ../../domain/quarantine.ts
 */
import { type Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { type CleanPoints, cleanPoints, quarantinePlan } from '#domain/quarantine.ts';
import { formatTable } from '../format.ts';
import { type CliContext, connect } from './context.ts';

const isoTime = z.iso.datetime({ offset: true });

function timeOption(v: string): string {
  if (!isoTime.safeParse(v).success) throw new InvalidArgumentError(`'${v}' is not an ISO-8601 time`);
  return v;
}

/**
 * Lift a plan's quarantine. @returns the line to print.
 * @throws TransientError (retryable) from the catalog.
 */
export async function releaseQuarantine(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
): Promise<string> {
  const q = await deps.catalog.getQuarantine(planId);
  if (!q || !(await deps.catalog.liftQuarantine(planId))) return `plan ${planId} is not in quarantine`;
  const held = q.heldSnapshotId
    ? `; snapshot ${q.heldSnapshotId} stays held ('strongbox release ${planId} ${q.heldSnapshotId}' lifts that)`
    : '';
  return `released: plan ${planId} is out of quarantine (since ${q.since}: ${q.reason}); retention, journal expiry and garbage collection run again${held}`;
}

/** What `clean-point` prints: the snapshot before the attack, then each prefix it touched. */
export function formatCleanPoints(points: CleanPoints, prefix: string): string {
  const base = points.snapshot
    ? `snapshot ${points.snapshot.snapshotId} (${points.snapshot.time}) is the newest before it`
    : 'no snapshot was taken before it';
  const lines = [`plan ${points.planId}: the attack began ${points.since}; ${base}.`];
  if (points.touched.length === 0) {
    lines.push(`nothing under '${prefix}' changed since: restore it from any later time or snapshot.`);
    return lines.join('\n');
  }
  lines.push(
    formatTable(
      ['prefix', 'first change', 'clean point (--point-in-time)', 'changes', 'deleted'],
      points.touched.map((t) => [t.prefix, t.firstChange, t.cleanAt, t.changes, t.removed]),
    ),
    `restore each with: strongbox restore --plan ${points.planId} --prefix PREFIX --point-in-time CLEAN_POINT`,
    `every other key under '${prefix}' is unchanged since ${points.since}.`,
  );
  return lines.join('\n');
}

export function registerQuarantine(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('quarantine <plan>')
    .description(
      'quarantine a plan whose source is under attack: hold its newest snapshot before the attack, pause its forget, its journal expiry and garbage collection',
    )
    .requiredOption('--reason <reason>', 'why (a finding, a ticket), recorded and shown by status')
    .option('--since <time>', 'when the attack began, ISO-8601 [default: now]', timeOption)
    .action(async (planId: string, opts: { reason: string; since?: string }) => {
      const c = await connect(dataDir(), deployment());
      const { quarantine: q, created } = await quarantinePlan(c.pipeline, planId, {
        reason: opts.reason,
        by: 'operator',
        ...(opts.since ? { since: opts.since } : {}),
      });
      const held = q.heldSnapshotId
        ? `snapshot ${q.heldSnapshotId} is held`
        : 'no snapshot before it exists to hold';
      console.log(
        created
          ? `quarantined: plan ${planId} since ${q.since} (${q.reason}); ${held}; forget, journal expiry and garbage collection are paused until 'strongbox release ${planId}'`
          : `plan ${planId} is in quarantine already, since ${q.since} (${q.reason}, by ${q.by} at ${q.at})`,
      );
    });
  program
    .command('clean-point <plan> [prefix]')
    .description(
      "per prefix, the moment before an attack first touched it (the quarantine's start, or --since): restore each from there",
    )
    .option('--since <time>', 'when the attack began [default: the quarantine’s]', timeOption)
    .option('--json', 'one JSON document')
    .action(async (planId: string, prefix: string | undefined, opts: { since?: string; json?: boolean }) => {
      const c = await connect(dataDir(), deployment());
      const points = await cleanPoints(c.pipeline, planId, {
        ...(prefix ? { prefix } : {}),
        ...(opts.since ? { since: opts.since } : {}),
      });
      console.log(opts.json ? JSON.stringify(points) : formatCleanPoints(points, prefix ?? ''));
    });
}
