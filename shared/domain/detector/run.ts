/**
 * Running the detector for a plan: read its counts, decide ({@link detectAnomalies}), record the
 * findings, put the plan in quarantine when its settings say so, and announce each new finding.
 * Capture runs it after each batch for the plans it counted; `npm run demo -- --attack` and tests
 * may run it directly.
 * @see ../../../docs/format.md#detector
 */
import type { PipelineDeps } from '../pipeline.ts';
import { type QuarantineOutcome, quarantinePlan } from '../quarantine.ts';
import { countsRange, describeFinding, detectAnomalies } from './detect.ts';
import type { AnomalyFinding } from './model.ts';
import { detectorSettingsOf } from './settings.ts';

/**
 * How far before a finding's first minute its quarantine begins: capture counts a change in the
 * minute it captured it, up to its lag after the change happened, so the attack's first change may
 * lie in the minute before. Holding an older snapshot, and naming earlier clean points, is safe.
 */
export const CAPTURE_LAG_MARGIN_MS = 60_000;

/**
 * What an anomaly announcement says (the EventBridge event's `detail`): the finding, a one-line
 * summary, and the quarantine it led to, when one holds the plan.
 */
export interface AnomalyEvent {
  finding: AnomalyFinding;
  summary: string;
  quarantine?: { since: string; by: 'operator' | 'detector'; heldSnapshotId?: string };
}

/**
 * Where new findings are announced: EventBridge's default bus on AWS (source `strongbox`,
 * detail-type `Strongbox Anomaly Detected`), a log line in the embedded stack.
 */
export interface AnomalyEvents {
  /**
   * Announce one new finding. At most once per finding (the caller publishes only findings it
   * created), so a failure loses the announcement; the `AnomalyDetected` metric still counts it.
   * @throws TransientError (retryable) when the bus refused it.
   */
  publish(event: AnomalyEvent): Promise<void>;
}

/** What {@link runDetector} found and did for one plan. */
export interface DetectorRun {
  planId: string;
  /** Every finding at the time of the run. */
  findings: AnomalyFinding[];
  /** The findings this run recorded first (announced, and counted by the `AnomalyDetected` metric). */
  created: AnomalyFinding[];
  /** The quarantine this run placed or found, when the findings call for one. */
  quarantine?: QuarantineOutcome;
  /** Announcements that failed (the finding stays recorded; the metric counts it). */
  unannounced: { finding: AnomalyFinding; reason: string }[];
}

/**
 * Run the detector for one plan at the clock's time. Idempotent: findings are recorded once per
 * plan, kind and first minute (conditional writes), the quarantine once (quarantinePlan), so
 * duplicate deliveries and concurrent capture invocations agree; only the run that records a
 * finding first announces it.
 *
 * A finding this run recorded or raised quarantines the plan (when `detector.quarantine`, the
 * default) from a minute before the earliest finding's first minute ({@link CAPTURE_LAG_MARGIN_MS}):
 * the newest snapshot taken before then is held, forget and GC pause. A plan an operator released is quarantined again only if the anomaly
 * grows (its count in the window rises).
 * @returns nothing found for an unknown or disabled plan.
 * @throws TransientError (retryable) from the catalog.
 * @example
 * ```ts
 * const run = await runDetector(deps, 'photos', { events });
 * if (run.quarantine?.created) console.log(`quarantined, holding ${run.quarantine.quarantine.heldSnapshotId}`);
 * ```
 */
export async function runDetector(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  planId: string,
  options: { events?: AnomalyEvents } = {},
): Promise<DetectorRun> {
  const { catalog, clock } = deps;
  const run: DetectorRun = { planId, findings: [], created: [], unannounced: [] };
  const plan = await catalog.getPlan(planId);
  if (!plan) return run;
  const settings = detectorSettingsOf(plan);
  if (!settings.enabled) return run;
  const now = clock.now();
  const counts = await catalog.listChangeCounts(planId, countsRange(settings, now));
  run.findings = detectAnomalies(planId, counts, settings, now);
  if (run.findings.length === 0) return run;
  await namePrefixes(deps, 'prefix' in plan.source ? plan.source.prefix : '', run.findings);
  let grew = false;
  for (const finding of run.findings) {
    const write = await catalog.recordFinding(finding);
    if (write === 'created') run.created.push(finding);
    if (write !== 'unchanged') grew = true;
  }
  // Only a finding that is new or grew quarantines: a plan an operator released stays released while
  // the counts that tripped it are still in the window, unless the anomaly goes on.
  if (settings.quarantine && grew) {
    const first = run.findings.reduce((a, b) => (a.firstSeenAt <= b.firstSeenAt ? a : b));
    run.quarantine = await quarantinePlan(deps, planId, {
      since: new Date(Date.parse(first.firstSeenAt) - CAPTURE_LAG_MARGIN_MS).toISOString(),
      reason: `detector: ${run.findings.map(describeFinding).join('; ')}`,
      by: 'detector',
    });
  }
  await announce(run, options.events);
  return run;
}

/** Announce each finding the run created, with the quarantine it led to; failures go to `unannounced`. */
async function announce(run: DetectorRun, events: AnomalyEvents | undefined): Promise<void> {
  const q = run.quarantine?.quarantine;
  const quarantine = q && {
    since: q.since,
    by: q.by,
    ...(q.heldSnapshotId ? { heldSnapshotId: q.heldSnapshotId } : {}),
  };
  for (const finding of run.created) {
    const event: AnomalyEvent = {
      finding,
      summary: `plan ${run.planId}: ${describeFinding(finding)} since ${finding.firstSeenAt}`,
      ...(quarantine ? { quarantine } : {}),
    };
    try {
      await events?.publish(event);
    } catch (error) {
      run.unannounced.push({ finding, reason: error instanceof Error ? error.message : String(error) });
    }
  }
}

/**
 * Findings not recorded yet name the prefix most of the changes since their first minute fell under
 * (one journal read, only when a finding is new).
 */
async function namePrefixes(
  deps: Pick<PipelineDeps, 'catalog'>,
  planPrefix: string,
  findings: AnomalyFinding[],
): Promise<void> {
  const [any] = findings;
  if (!any) return;
  const recorded = new Set((await deps.catalog.listFindings(any.planId)).map(findingId));
  // A prefix's own finding names its prefix already.
  const fresh = findings.filter((f) => !f.perPrefix && !recorded.has(findingId(f)));
  if (fresh.length === 0) return;
  const from = fresh.reduce((a, b) => (a.firstSeenAt <= b.firstSeenAt ? a : b)).firstSeenAt;
  const prefix = await busiestPrefix(deps, planPrefix, any.planId, from);
  if (prefix !== undefined) for (const f of fresh) f.prefix = prefix;
}

/** A finding's identity: its plan, kind and first minute (and its prefix, for a prefix's own). */
function findingId(f: AnomalyFinding): string {
  return `${f.kind}#${f.firstSeenAt.slice(0, 16)}${f.perPrefix ? `#${f.prefix}` : ''}`;
}

/**
 * The prefix (the first path segment below the plan's, with its `/`) that at least half of the
 * changes captured since `from` fell under, or undefined when they are spread wider.
 */
async function busiestPrefix(
  deps: Pick<PipelineDeps, 'catalog'>,
  planPrefix: string,
  planId: string,
  from: string,
): Promise<string | undefined> {
  const entries = await deps.catalog.listJournal(planId, {
    capturedAfter: new Date(Date.parse(from) - 1).toISOString(),
  });
  const groups = new Map<string, number>();
  for (const e of entries) {
    const slash = e.key.indexOf('/', planPrefix.length);
    const group = slash < 0 ? planPrefix : e.key.slice(0, slash + 1);
    groups.set(group, (groups.get(group) ?? 0) + 1);
  }
  const [top] = [...groups].sort((a, b) => b[1] - a[1]);
  return top && top[0] !== '' && top[1] * 2 >= entries.length ? top[0] : undefined;
}

/**
 * The `strongbox status` lines of a plan's findings seen within `withinMinutes` of `now`: `ANOMALY plan photos since
 * 2026-12-06T03:41:00.000Z: encrypted overwrites 412 in 5 min (peak 380/min; baseline 0.4 per 5 min; threshold 50)`.
 */
export function anomalyLines(
  findings: readonly AnomalyFinding[],
  now: Date,
  withinMinutes = 24 * 60,
): string[] {
  const from = now.getTime() - withinMinutes * 60_000;
  return findings
    .filter((f) => Date.parse(f.lastSeenAt) >= from)
    .map((f) => `ANOMALY plan ${f.planId} since ${f.firstSeenAt}: ${describeFinding(f)}`);
}
