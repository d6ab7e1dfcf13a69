/**
 * The detector's decision, pure: from a plan's per-minute change counts, its settings and the time,
 * the findings. No I/O, no clock: the caller reads the counts ({@link countsRange}) and gives `now`.
 * @see ../../../docs/format.md#detector
 */
import { type AnomalyFinding, addMinutes, type MinuteCounts, minuteOf, minuteStart } from './model.ts';
import { type DetectorSettings, FINDING_KINDS, type FindingKind } from './settings.ts';

/** How many changes of `kind` one minute's counts hold. */
export function countOf(kind: FindingKind, m: Partial<MinuteCounts>): number {
  switch (kind) {
    case 'encryptedOverwrites':
      return (m.incompressibleOverwrites ?? 0) + (m.unreadable ?? 0);
    case 'removals':
      return m.removals ?? 0;
    case 'extensionChanges':
      return m.extensionChanges ?? 0;
    case 'encryptionChanges':
      return m.encryptionChanges ?? 0;
    case 'overwrites':
      return m.overwrites ?? 0;
    case 'sourceSettings':
      return m.settingsChanges ?? 0;
    default:
      return kind satisfies never;
  }
}

/**
 * The minutes the detector reads at `now`: the baseline's, then the window's (which ends with the
 * current minute), both bounds inclusive, as `YYYY-MM-DDTHH:MM`.
 */
export function countsRange(settings: DetectorSettings, now: Date): { from: string; to: string } {
  const to = minuteOf(now);
  return { from: addMinutes(to, -(settings.windowMinutes + settings.baselineMinutes - 1)), to };
}

/**
 * The findings at `now`: for each kind whose threshold is above 0, its count over the window (the
 * `windowMinutes` ending with the current minute) when that count is at least the threshold and at
 * least `factor` times the baseline (the mean count per window over the `baselineMinutes` before
 * the window; minutes without counts count 0). Minutes outside the range are ignored. The plan's
 * counts are judged as a whole, then each prefix's (`prefix` set) against its own baseline, for the
 * kinds the whole does not find (those findings are `perPrefix`, naming their prefix).
 * @param counts the plan's minutes and its prefixes' (any order; at least those of {@link countsRange}).
 * @returns the plan's findings in {@link FINDING_KINDS} order, then the prefixes' by prefix;
 *   `lastSeenAt` = now; none when disabled.
 * @example
 * ```ts
 * const findings = detectAnomalies('photos', await catalog.listChangeCounts('photos', countsRange(s, now)), s, now);
 * ```
 */
export function detectAnomalies(
  planId: string,
  counts: readonly MinuteCounts[],
  settings: DetectorSettings,
  now: Date,
): AnomalyFinding[] {
  if (!settings.enabled) return [];
  const whole = findingsIn(
    planId,
    counts.filter((m) => m.prefix === undefined),
    settings,
    now,
  );
  // Per prefix, against the prefix's own baseline: an attack on one prefix of a bucket whose other
  // prefixes are busy stays under the plan's factor × baseline. Only kinds the whole plan does not
  // already find, so a bucket-wide attack is one finding, not one per prefix.
  const found = new Set(whole.map((f) => f.kind));
  const byPrefix = new Map<string, MinuteCounts[]>();
  for (const m of counts) {
    if (m.prefix === undefined) continue;
    const series = byPrefix.get(m.prefix);
    if (series) series.push(m);
    else byPrefix.set(m.prefix, [m]);
  }
  const perPrefix = [...byPrefix]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([prefix, minutes]) =>
      findingsIn(planId, minutes, settings, now)
        .filter((f) => !found.has(f.kind))
        .map((f) => ({ ...f, prefix, perPrefix: true })),
    );
  return [...whole, ...perPrefix];
}

/** The findings of one series of minute counts (the plan's, or one prefix's). */
function findingsIn(
  planId: string,
  counts: readonly MinuteCounts[],
  settings: DetectorSettings,
  now: Date,
): AnomalyFinding[] {
  const { windowMinutes, baselineMinutes, factor } = settings;
  const current = minuteOf(now);
  const windowFrom = addMinutes(current, -(windowMinutes - 1));
  const baselineFrom = addMinutes(windowFrom, -baselineMinutes);
  const inWindow = counts.filter((m) => m.minute >= windowFrom && m.minute <= current);
  const inBaseline = counts.filter((m) => m.minute >= baselineFrom && m.minute < windowFrom);
  const findings: AnomalyFinding[] = [];
  for (const kind of FINDING_KINDS) {
    const threshold = settings.thresholds[kind];
    if (threshold <= 0) continue;
    const perMinute = inWindow.map((m) => ({ minute: m.minute, n: countOf(kind, m) })).filter((m) => m.n > 0);
    const count = perMinute.reduce((sum, m) => sum + m.n, 0);
    const baselineTotal = inBaseline.reduce((sum, m) => sum + countOf(kind, m), 0);
    const baseline = (baselineTotal / baselineMinutes) * windowMinutes;
    if (count < threshold || count < factor * baseline) continue;
    const first = perMinute.map((m) => m.minute).sort()[0] as string;
    findings.push({
      planId,
      kind,
      firstSeenAt: minuteStart(first),
      lastSeenAt: now.toISOString(),
      count,
      peakPerMinute: Math.max(...perMinute.map((m) => m.n)),
      baseline: Math.round(baseline * 100) / 100,
      threshold,
      windowMinutes,
    });
  }
  return findings;
}

/** What a finding's kind counts, in words (status lines, events, reasons). */
export const KIND_WORDS: Record<FindingKind, string> = {
  encryptedOverwrites: 'encrypted overwrites',
  removals: 'removals',
  extensionChanges: 'extension changes',
  encryptionChanges: 'changes of the encryption key at rest',
  overwrites: 'overwrites',
  sourceSettings: 'lifecycle or bucket-policy changes',
};

function prefixWords(f: AnomalyFinding): string {
  if (!f.prefix) return '';
  return f.perPrefix ? ` under '${f.prefix}' (its own baseline)` : ` mostly under '${f.prefix}'`;
}

/**
 * One line for a finding: `encrypted overwrites 412 in 5 min (peak 380/min; baseline 0.4 per 5 min; threshold 50)`.
 */
export function describeFinding(f: AnomalyFinding): string {
  return `${KIND_WORDS[f.kind]} ${f.count} in ${f.windowMinutes} min (peak ${f.peakPerMinute}/min; baseline ${f.baseline} per ${f.windowMinutes} min; threshold ${f.threshold})${prefixWords(f)}`;
}
