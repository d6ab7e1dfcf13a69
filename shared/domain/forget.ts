/**
 * Forget: which snapshots of a plan prune may forget, now. Retention's rules (restic's `forget`
 * semantics, {@link applyRetention}) over the plan's eligible snapshots, plus what no rule may override:
 * legal holds, the plan's minimum retention, and the safety of snapshots in use.
 *
 * Pure: the clock's `now` comes in as an argument. Used by prune (`prunePlan`) and by
 * `strongbox forget --dry-run`.
 *
 * @see docs/format.md#retention
 */

import type { SnapshotRecord, SnapshotStatus } from './records.ts';
import { applyRetention, type RetentionDecision, type RetentionResult } from './retention/apply.ts';
import { parseKeepWithin, type RetentionPolicy, RetentionPolicyError } from './retention/policy.ts';
import { subtractDuration } from './retention/zoned-time.ts';

/**
 * A plan's retention as the plan file states it: restic's rules ({@link RetentionPolicy}) plus
 * `minimumRetention`.
 *
 * @example
 * ```ts
 * const p: ForgetPolicy = { keepDaily: 7, keepTag: ['release'], timeZone: 'Europe/Paris', minimumRetention: '7d' };
 * ```
 * @see docs/format.md#retention
 */
export interface ForgetPolicy extends RetentionPolicy {
  /**
   * A COMMITTED snapshot younger than this (restic duration syntax, e.g. `'7d'`, `'1m'`, `'36h'`),
   * measured back from the clock's now in `timeZone`, is always kept (reason `'minimum retention'`).
   */
  minimumRetention?: string;
}

/**
 * Why a snapshot is kept whatever the rules say (in this order in `reasons`, before the rules' own).
 * @see docs/format.md#retention
 */
export const FORCED_REASONS = {
  /** `legalHold` is set on the snapshot. */
  legalHold: 'legal hold',
  /** Younger than the plan's `minimumRetention`. */
  minimumRetention: 'minimum retention',
  /** The newest committed snapshot older than a RUNNING one: the running snapshot's parent. */
  parentOfRunning: 'parent of a running snapshot',
  /** Committed, but its verification FAILED: kept for investigation, not a candidate of the rules. */
  failedVerification: 'failed verification',
  /** Committed without a time (should not happen): not a candidate. */
  noTime: 'no snapshot time',
} as const;

/** What forget decided for one snapshot: retention's decision plus the snapshot's status. */
export interface ForgetDecision extends RetentionDecision {
  /** The snapshot's catalog status. */
  status: SnapshotStatus;
}

/**
 * Outcome of {@link decideRetention}. `keep` and `remove` partition `decisions` (the COMMITTED
 * snapshots, the only ones prune forgets); all lists newest first.
 */
export interface ForgetResult extends RetentionResult {
  /** COMMITTED snapshots kept, newest first. */
  keep: ForgetDecision[];
  /** COMMITTED snapshots to forget, newest first. */
  remove: ForgetDecision[];
  /** One decision per COMMITTED snapshot, newest first (ties: ascending snapshotId). */
  decisions: ForgetDecision[];
  /**
   * The other snapshots, which are never candidates of the rules (so never the reason another is
   * forgotten) and which forget never touches: RUNNING (`keep`, reason `'running'`), FAILED (`keep`,
   * `'failed'`) and FORGOTTEN (`keep: false`, `'forgotten'`: a tombstone, deleted by garbage collection
   * once no vault holds its root). Newest first.
   */
  others: ForgetDecision[];
}

/** The snapshot's time for ordering and display: when it was taken, else when it was scheduled. */
function timeOf(s: SnapshotRecord): string {
  return s.time ?? s.scheduledAt;
}

function newestFirst(a: ForgetDecision, b: ForgetDecision): number {
  const d = Date.parse(b.time) - Date.parse(a.time);
  if (d !== 0 && !Number.isNaN(d)) return d;
  return a.snapshotId < b.snapshotId ? -1 : a.snapshotId > b.snapshotId ? 1 : 0;
}

/**
 * Decides, for one plan at `now`, which snapshots to keep and which prune may forget:
 *
 * 1. Only COMMITTED snapshots with a time are candidates. RUNNING, FAILED and FORGOTTEN snapshots are
 *    not (see `others`); neither is a committed snapshot whose verification FAILED, nor the parent of a
 *    RUNNING snapshot (the `parentSnapshotId` its plan recorded; before it is planned, the newest
 *    committed snapshot with a smaller id): both are kept with their reason and, not being
 *    candidates, take no bucket and no `keepLast` place from another.
 * 2. The plan's rules ({@link applyRetention}, restic's `forget`, in the plan's `timeZone`) run over
 *    the candidates; snapshots at or after `now` are not taken as the newest.
 * 3. Whatever the rules say, a COMMITTED snapshot is kept when it is under legal hold (reason
 *    `'legal hold'`) or younger than `minimumRetention` (time strictly after now − duration, calendar
 *    arithmetic in the plan's zone; reason `'minimum retention'`). These reasons come first; held and
 *    young snapshots stay candidates, so the rules decide the others exactly as restic would.
 *
 * @param snapshots - every snapshot record of ONE plan, any status, any order.
 * @param plan - the plan (only `retention` is read).
 * @param now - the injected clock's now.
 * @returns `{ keep, remove, decisions, others }`; `decisions` has one entry per COMMITTED snapshot.
 * @throws {RetentionPolicyError} (not retryable) for an invalid rule, `timeZone` or `minimumRetention`
 *   (field `minimumRetention`), or a snapshot time without an offset.
 * @example
 * ```ts
 * const { remove } = decideRetention(await catalog.listSnapshots('photos'), plan, clock.now());
 * for (const d of remove) console.log(d.snapshotId); // what prune would forget
 * ```
 * @see docs/format.md#retention
 */
export function decideRetention(
  snapshots: readonly SnapshotRecord[],
  plan: { retention: ForgetPolicy },
  now: Date,
): ForgetResult {
  const { minimumRetention, ...policy } = plan.retention;
  const zone = policy.timeZone ?? 'UTC';
  let youngCutoff = Number.POSITIVE_INFINITY;
  if (minimumRetention !== undefined) {
    let duration: ReturnType<typeof parseKeepWithin>;
    try {
      duration = parseKeepWithin(minimumRetention);
    } catch (error) {
      const message = error instanceof Error ? error.message.replace(/^keepWithin: /, '') : String(error);
      throw new RetentionPolicyError(message, 'minimumRetention');
    }
    youngCutoff = subtractDuration(now.getTime(), duration, zone);
  }

  const byId = [...snapshots].sort((a, b) => (a.snapshotId < b.snapshotId ? -1 : 1));
  const committed = byId.filter((s) => s.status === 'COMMITTED');
  const protectedReasons = new Map<string, string>();
  for (const s of byId) {
    if (s.status !== 'RUNNING') continue;
    // Once planned, the parent it reads is recorded: a snapshot with a smaller id may commit after
    // that (one asked for in the same second sorts first: docs/format.md#terminology). Before, the
    // parent is the one planning will take (snapshot.ts: the newest committed with a smaller id).
    const parent =
      s.parentSnapshotId !== undefined
        ? committed.find((c) => c.snapshotId === s.parentSnapshotId)
        : committed.filter((c) => c.snapshotId < s.snapshotId).at(-1);
    if (parent) protectedReasons.set(parent.snapshotId, FORCED_REASONS.parentOfRunning);
  }
  for (const s of committed) {
    if (s.verification?.status === 'FAILED')
      protectedReasons.set(s.snapshotId, FORCED_REASONS.failedVerification);
    else if (!s.time) protectedReasons.set(s.snapshotId, FORCED_REASONS.noTime);
  }

  const candidates = committed.filter((s) => !protectedReasons.has(s.snapshotId));
  const ruled = applyRetention(
    candidates.map((s) => ({ snapshotId: s.snapshotId, time: s.time as string, tags: s.tags ?? [] })),
    policy,
    { now },
  );
  const ruleReasons = new Map(ruled.decisions.map((d) => [d.snapshotId, d.reasons]));

  const decisions: ForgetDecision[] = committed.map((s) => {
    const reasons: string[] = [];
    if (s.legalHold) reasons.push(FORCED_REASONS.legalHold);
    if (s.time && Date.parse(s.time) > youngCutoff) reasons.push(FORCED_REASONS.minimumRetention);
    const protection = protectedReasons.get(s.snapshotId);
    if (protection) reasons.push(protection);
    reasons.push(...(ruleReasons.get(s.snapshotId) ?? []));
    return { snapshotId: s.snapshotId, time: timeOf(s), status: s.status, keep: reasons.length > 0, reasons };
  });
  decisions.sort(newestFirst);

  const others: ForgetDecision[] = byId
    .filter((s) => s.status !== 'COMMITTED')
    .map((s) => ({
      snapshotId: s.snapshotId,
      time: timeOf(s),
      status: s.status,
      keep: s.status !== 'FORGOTTEN',
      reasons: [s.status.toLowerCase()],
    }));
  others.sort(newestFirst);

  return {
    keep: decisions.filter((d) => d.keep),
    remove: decisions.filter((d) => !d.keep),
    decisions,
    others,
  };
}
