/**
 * Recovery point: how old a plan's newest committed snapshot is, and whether that breaks the plan's
 * RPO. Pure: the clock's now is given. @see ../../docs/format.md#plans
 */
import type { PlanRecord, SnapshotRecord } from './records.ts';

/** A plan's recovery point as the scheduler and `strongbox status` report it. */
export interface RecoveryPoint {
  planId: string;
  /** Minutes since the newest committed snapshot's time (since the plan's creation while it has none). */
  ageMinutes: number;
  /** The newest committed snapshot's time (ISO-8601 UTC), absent while there is none. */
  newestSnapshotTime?: string;
  /** The plan's `rpoMinutes`, when it has one. */
  rpoMinutes?: number;
  /** True when the plan has an RPO and the age is past it. */
  exceeded: boolean;
}

/**
 * The recovery point of `plan` at `now`.
 * @example
 * ```ts
 * recoveryPoint(plan, await catalog.listSnapshots(plan.id), new Date()); // { ageMinutes: 12.5, exceeded: false, … }
 * ```
 */
export function recoveryPoint(
  plan: PlanRecord,
  snapshots: readonly SnapshotRecord[],
  now: Date,
): RecoveryPoint {
  const newest = snapshots
    .filter((s) => s.status === 'COMMITTED')
    .map((s) => s.time ?? s.scheduledAt)
    .reduce<string | undefined>(
      (a, b) => (a === undefined || Date.parse(b) > Date.parse(a) ? b : a),
      undefined,
    );
  const since = newest === undefined ? Date.parse(plan.createdAt) : Date.parse(newest);
  const ageMinutes = Math.max(0, Math.round((now.getTime() - since) / 6_000) / 10);
  return {
    planId: plan.id,
    ageMinutes,
    ...(newest === undefined ? {} : { newestSnapshotTime: newest }),
    ...(plan.rpoMinutes === undefined ? {} : { rpoMinutes: plan.rpoMinutes }),
    exceeded: plan.rpoMinutes !== undefined && ageMinutes > plan.rpoMinutes,
  };
}
