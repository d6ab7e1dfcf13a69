/**
 * Quarantine: what a suspected attack on a plan's source (mass re-encryption or deletion with stolen
 * credentials) changes in the pipeline until an operator has looked. The newest snapshot taken
 * before the attack began is held; the plan's forget and its journal's expiry pause, and so does
 * garbage collection of the vaults (they are shared by every plan), so nothing taken before the
 * attack can age out while the attacker's changes are captured. Snapshots and capture go on: the
 * attack itself is recorded. `cleanPoints` names, per prefix, the last moment before the attack
 * touched it, to restore from.
 * @see ../../docs/format.md#quarantine
 */
import { NotFoundError, ValidationError } from './errors.ts';
import { nowIso, type PipelineDeps } from './pipeline.ts';
import type { JournalEntry, QuarantineRecord, SnapshotRecord } from './records.ts';
import { compareKeys } from './vault.ts';

/** The newest committed snapshot taken strictly before `before` (ISO-8601), by its time. */
export function newestBefore(
  snapshots: readonly SnapshotRecord[],
  before: string,
): SnapshotRecord | undefined {
  const at = Date.parse(before);
  return snapshots
    .filter((s) => s.status === 'COMMITTED' && s.time && Date.parse(s.time) < at)
    .sort((a, b) => Date.parse(a.time as string) - Date.parse(b.time as string))
    .at(-1);
}

/** What {@link quarantinePlan} did. */
export interface QuarantineOutcome {
  quarantine: QuarantineRecord;
  /** False when the plan was in quarantine already (that quarantine is returned, unchanged). */
  created: boolean;
  /** Whether this placed the legal hold on the held snapshot (false: it was held already). */
  holdPlaced: boolean;
}

/**
 * Put a plan in quarantine: hold its newest committed snapshot taken before `since` (unless held
 * already), then record the quarantine. Idempotent: a plan in quarantine stays as it is.
 * @param options.since ISO-8601: when the attack began. @default now
 * @throws NotFoundError (not retryable) for an unknown plan; ValidationError (not retryable) for a
 *   `since` that is not a time or lies in the future.
 * @throws TransientError (retryable) from the catalog.
 * @example
 * ```ts
 * const { quarantine } = await quarantinePlan(deps, 'photos', { since: '2026-12-06T01:00:00Z', reason: 'GuardDuty 42', by: 'operator' });
 * console.log(`held ${quarantine.heldSnapshotId}`);
 * ```
 */
export async function quarantinePlan(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  planId: string,
  options: { since?: string; reason: string; by: QuarantineRecord['by'] },
): Promise<QuarantineOutcome> {
  const { catalog, clock } = deps;
  if (!(await catalog.getPlan(planId))) throw new NotFoundError(`plan '${planId}' does not exist`);
  const at = nowIso(clock);
  const since = options.since === undefined ? at : new Date(Date.parse(options.since)).toISOString();
  if (Number.isNaN(Date.parse(since)) || Date.parse(since) > Date.parse(at)) {
    throw new ValidationError(`'${options.since}' is not a time before now`, 'since');
  }
  const existing = await catalog.getQuarantine(planId);
  if (existing) return { quarantine: existing, created: false, holdPlaced: false };
  let clean = newestBefore(await catalog.listSnapshots(planId), since);
  let holdPlaced = false;
  // A forget running meanwhile may forget it between the listing and the hold (setLegalHold then
  // refuses): pick again among the snapshots left, never recording a forgotten one as held.
  for (let attempt = 0; clean && !clean.legalHold && !holdPlaced; attempt++) {
    holdPlaced = await catalog.setLegalHold(planId, clean.snapshotId, {
      since: at,
      reason: `quarantine: ${options.reason}`,
    });
    if (!holdPlaced)
      clean = attempt < 3 ? newestBefore(await catalog.listSnapshots(planId), since) : undefined;
  }
  const quarantine: QuarantineRecord = {
    planId,
    since,
    at,
    reason: options.reason,
    by: options.by,
    ...(clean ? { heldSnapshotId: clean.snapshotId } : {}),
  };
  if (await catalog.putQuarantine(quarantine)) return { quarantine, created: true, holdPlaced };
  // Another caller quarantined it meanwhile: theirs stands.
  const theirs = await catalog.getQuarantine(planId);
  return { quarantine: theirs ?? quarantine, created: false, holdPlaced };
}

/**
 * Why garbage collection must not run now: the plans in quarantine (their vaults are shared by every
 * plan), or undefined.
 * @throws TransientError (retryable) from the catalog.
 */
export async function quarantineBlocksGc(deps: Pick<PipelineDeps, 'catalog'>): Promise<string | undefined> {
  const quarantines = await deps.catalog.listQuarantines();
  if (quarantines.length === 0) return undefined;
  const plans = quarantines.map((q) => `${q.planId} (since ${q.since})`).join(', ');
  return `paused: plan(s) in quarantine: ${plans}; 'strongbox release PLAN' lifts it`;
}

/** One prefix an attack touched: its first change, and the moment before it. */
export interface CleanPoint {
  /** The prefix (a key's first path segment below the one asked about, with its `/`), or a key. */
  prefix: string;
  /** ISO-8601 UTC: the event time of the first change under it at or after the attack began. */
  firstChange: string;
  /** ISO-8601 UTC: one millisecond before it: restore the prefix with `--point-in-time` this. */
  cleanAt: string;
  /** Changes under it since (uploads and deletes). */
  changes: number;
  removed: number;
}

/** Where to restore a plan from after an attack that began at `since`. */
export interface CleanPoints {
  planId: string;
  since: string;
  /** The newest committed snapshot before the attack began (held while in quarantine). */
  snapshot?: Pick<SnapshotRecord, 'snapshotId' | 'time'>;
  /** The prefixes the attack touched, in key order; every other prefix is unchanged since `since`. */
  touched: CleanPoint[];
}

/** The prefix `key` counts under, below `prefix`: its next path segment with its `/`, or the key. */
function groupOf(key: string, prefix: string): string {
  const slash = key.indexOf('/', prefix.length);
  return slash < 0 ? key : key.slice(0, slash + 1);
}

/**
 * The clean points of a plan: per prefix below `prefix`, the last moment before the first change the
 * journal captured at or after `since` (the plan's quarantine's, unless given) — a point-in-time
 * restore at it gives the prefix as it was before the attack touched it, even from a snapshot taken
 * after the attack began elsewhere.
 * @throws NotFoundError (not retryable) for an unknown plan; ValidationError (not retryable) when
 *   neither `since` nor a quarantine says when the attack began.
 * @throws TransientError (retryable) from the catalog.
 * @example
 * ```ts
 * const { touched } = await cleanPoints(deps, 'photos', { prefix: 'docs/' });
 * for (const p of touched) console.log(`restore --prefix '${p.prefix}' --point-in-time ${p.cleanAt}`);
 * ```
 */
export async function cleanPoints(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  options: { prefix?: string; since?: string } = {},
): Promise<CleanPoints> {
  const { catalog } = deps;
  if (!(await catalog.getPlan(planId))) throw new NotFoundError(`plan '${planId}' does not exist`);
  const since = options.since ?? (await catalog.getQuarantine(planId))?.since;
  if (since === undefined || Number.isNaN(Date.parse(since))) {
    throw new ValidationError(
      `plan '${planId}' is not in quarantine: say when the attack began (--since TIME)`,
      'since',
    );
  }
  const prefix = options.prefix ?? '';
  const sinceMs = Date.parse(since);
  // Changes at or after `since` were captured at or after it (capture follows the event).
  const entries = await catalog.listJournal(planId, {
    capturedAfter: new Date(sinceMs - 1).toISOString(),
  });
  const groups = new Map<string, { first: number; changes: number; removed: number }>();
  for (const e of entries.filter((x: JournalEntry) => x.key.startsWith(prefix))) {
    const t = Date.parse(e.eventTime);
    if (t < sinceMs) continue;
    const g = groupOf(e.key, prefix);
    const seen = groups.get(g) ?? { first: t, changes: 0, removed: 0 };
    seen.first = Math.min(seen.first, t);
    seen.changes += 1;
    if (e.event === 'removed') seen.removed += 1;
    groups.set(g, seen);
  }
  const snapshot = newestBefore(await catalog.listSnapshots(planId), since);
  return {
    planId,
    since: new Date(sinceMs).toISOString(),
    ...(snapshot ? { snapshot: { snapshotId: snapshot.snapshotId, time: snapshot.time } } : {}),
    touched: [...groups]
      .sort(([a], [b]) => compareKeys(a, b))
      .map(([p, g]) => ({
        prefix: p,
        firstChange: new Date(g.first).toISOString(),
        cleanAt: new Date(g.first - 1).toISOString(),
        changes: g.changes,
        removed: g.removed,
      })),
  };
}
