/**
 * Retention from the command line: `strongbox forget PLAN [--dry-run]`, `strongbox hold PLAN SNAPSHOT
 * [--reason R]`, `strongbox release PLAN SNAPSHOT` (or, without a snapshot, lift a quarantine) and `strongbox prune PLAN [--dry-run] [--timeout S]`.
 */
import type { Command } from 'commander';
import { NotFoundError } from '#domain/errors.ts';
import { decideRetention } from '#domain/forget.ts';
import { planGcRun } from '#domain/gc/collect.ts';
import { formatGcPlan } from '#domain/gc/format.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { formatPruneRun, pruneNow } from '../reports.ts';
import { type CliContext, connect } from './context.ts';
import { formatForgetTable } from './format/retention.ts';
import { releaseQuarantine } from './quarantine.ts';

/**
 * `strongbox forget PLAN [--dry-run]`: decide retention for the plan now; with `dryRun`, return the
 * table and a summary and change nothing; otherwise enqueue a prune task for the plan (named after its
 * newest committed snapshot), which forgets and collects garbage, and say so.
 * @returns the lines to print.
 * @throws NotFoundError (not retryable) for an unknown plan, or (without `dryRun`) a plan without a
 *   committed snapshot; RetentionPolicyError for an invalid stored policy; TransientError (retryable)
 *   from the catalog or the queue.
 * @example
 * ```ts
 * console.log((await forgetCommand(c.pipeline, 'photos', { dryRun: true })).join('\n'));
 * ```
 * @see docs/format.md#retention
 */
export async function forgetCommand(
  deps: Pick<PipelineDeps, 'catalog' | 'queue' | 'clock'>,
  planId: string,
  options: { dryRun: boolean },
): Promise<string[]> {
  const plan = await deps.catalog.getPlan(planId);
  if (!plan) throw new NotFoundError(`plan '${planId}' does not exist`);
  const snapshots = await deps.catalog.listSnapshots(planId);
  const result = decideRetention(snapshots, plan, deps.clock.now());
  const removed = result.remove.map((d) => d.snapshotId);
  if (options.dryRun) {
    return [
      formatForgetTable(result, plan.retention.timeZone ?? 'UTC'),
      `dry run: would keep ${result.keep.length} and forget ${removed.length} committed snapshot(s)${removed.length ? ` (${removed.join(', ')})` : ''}; nothing was changed`,
    ];
  }
  const newest = snapshots.filter((s) => s.status === 'COMMITTED').at(-1);
  if (!newest) throw new NotFoundError(`plan '${planId}' has no committed snapshot: nothing to forget`);
  await deps.queue.send({ kind: 'forget', planId, snapshotId: newest.snapshotId, force: true });
  return [
    `enqueued: prune of plan ${planId} (task of snapshot ${newest.snapshotId}); it would forget ${removed.length} snapshot(s) now${removed.length ? `: ${removed.join(', ')}` : ''}, then collect garbage (see 'strongbox status ${planId}')`,
  ];
}

/**
 * `strongbox hold PLAN SNAPSHOT [--reason R]` and `strongbox release PLAN SNAPSHOT`: place or clear a
 * snapshot's legal hold (a held snapshot is never forgotten).
 * @param hold `{ reason? }` to place a hold (since the clock's now), undefined to release it.
 * @returns the line to print.
 * @throws NotFoundError (not retryable) when the snapshot does not exist or is already forgotten;
 *   TransientError (retryable) from the catalog.
 * @example
 * ```ts
 * console.log(await legalHoldCommand(c.pipeline, 'photos', '20261121T234500Z', { reason: 'case 17' }));
 * ```
 * @see docs/format.md#retention
 */
export async function legalHoldCommand(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  planId: string,
  snapshotId: string,
  hold: { reason?: string } | undefined,
): Promise<string> {
  const record = hold
    ? { since: deps.clock.now().toISOString(), ...(hold.reason ? { reason: hold.reason } : {}) }
    : undefined;
  if (!(await deps.catalog.setLegalHold(planId, snapshotId, record))) {
    throw new NotFoundError(
      `snapshot ${planId}/${snapshotId} does not exist or is forgotten ('strongbox status ${planId}' lists the snapshots)`,
    );
  }
  return record
    ? `held: snapshot ${snapshotId} of plan ${planId} is under legal hold since ${record.since}${record.reason ? ` (${record.reason})` : ''}; retention will not forget it`
    : `released: snapshot ${snapshotId} of plan ${planId} has no legal hold; retention applies again`;
}

export function registerForget(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('forget <plan>')
    .description(
      "apply the plan's retention: list what it keeps and forgets (--dry-run), or enqueue a prune that forgets and collects garbage",
    )
    .option('--dry-run', 'print the decision for every snapshot and change nothing', false)
    .action(async (planId: string, opts: { dryRun: boolean }) => {
      const c = await connect(dataDir(), deployment());
      for (const line of await forgetCommand(c.pipeline, planId, { dryRun: opts.dryRun })) console.log(line);
    });
}

/** `hold` and `release`. */
export function registerLegalHold(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('hold <plan> <snapshotId>')
    .description('place a legal hold on a snapshot: retention never forgets it until it is released')
    .option('--reason <reason>', 'why (e.g. a case number), shown by forget --dry-run')
    .action(async (planId: string, snapshotId: string, opts: { reason?: string }) => {
      const c = await connect(dataDir(), deployment());
      console.log(await legalHoldCommand(c.pipeline, planId, snapshotId, { reason: opts.reason }));
    });

  program
    .command('release <plan> [snapshotId]')
    .description("clear the legal hold of a snapshot; without one, lift the plan's quarantine")
    .action(async (planId: string, snapshotId: string | undefined) => {
      const c = await connect(dataDir(), deployment());
      console.log(
        snapshotId
          ? await legalHoldCommand(c.pipeline, planId, snapshotId, undefined)
          : await releaseQuarantine(c.pipeline, planId),
      );
    });
}

/**
 * `strongbox prune PLAN --dry-run`: what a prune would do now, changing nothing: the retention
 * decision (as `forget --dry-run` prints it), then each region's garbage-collection plan (what it
 * would mark, rescue, repack and delete, and why). The plan reads the catalog as it is, before the
 * forgetting: snapshots retention would forget still count as live in it.
 * @returns the lines to print.
 * @throws NotFoundError (not retryable) for an unknown plan; RetentionPolicyError for an invalid
 *   stored policy; TransientError (retryable) from the catalog or the vaults.
 * @example
 * ```ts
 * console.log((await pruneDryRun(c.pipeline, 'photos')).join('\n'));
 * ```
 * @see docs/format.md#garbage-collection
 */
export async function pruneDryRun(deps: PipelineDeps, planId: string): Promise<string[]> {
  const lines = await forgetCommand(deps, planId, { dryRun: true });
  for (const region of [deps.vaults.primary.region, ...deps.vaults.copies.keys()]) {
    lines.push('', `garbage collection in ${region} (dry run):`, formatGcPlan(await planGcRun(deps, region)));
  }
  return lines;
}

export function registerPrune(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('prune <plan>')
    .description(
      'prune a plan now: apply its retention, collect garbage in every region, and print what it did',
    )
    .option('--dry-run', 'print what retention and garbage collection would do, and change nothing', false)
    .option('--timeout <seconds>', 'give up following after this long', (v) => Number(v), 900)
    .action(async (planId: string, opts: { timeout: number; dryRun: boolean }) => {
      const c = await connect(dataDir(), deployment());
      if (opts.dryRun) {
        for (const line of await pruneDryRun(c.pipeline, planId)) console.log(line);
        return;
      }
      const run = await pruneNow(c.pipeline, planId, { timeoutMs: opts.timeout * 1000 });
      console.log(formatPruneRun(run));
      if (run.prune.status === 'FAILED' || run.regions.some((t) => t.status === 'FAILED'))
        process.exitCode = 1;
    });
}
