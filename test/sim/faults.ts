/**
 * What the simulator may do to the pipeline, one switch per kind, so a defect can be isolated
 * (`npm run simulate -- --faults kill,versioned`) and CI can leave out the kinds whose fixes have not
 * merged yet.
 */
export const FAULT_KINDS = [
  /** Kill a function at a port call, before or after its effect (no catch runs), and at its timeout. */
  'kill',
  /** A port call fails with a retryable error (the task's own error handling runs). */
  'error',
  /** The queue delivers a message twice. */
  'duplicate',
  /** A message's visibility expires while its task still runs: a second delivery runs alongside. */
  'visibility',
  /** S3 events lost. */
  'event-loss',
  /** S3 events delivered twice. */
  'event-dup',
  /**
   * S3 events reach capture out of order and captures run concurrently (a late capture of an older
   * change). Issue 12, defect 2 (order by sequencer, never roll a key back).
   */
  'event-reorder',
  /** The clock jumps forward by hours. */
  'clock-jump',
  /** The functions' clock is a few seconds off S3's, forward or backward. */
  'clock-skew',
  /** A versioned source bucket (deletes of one version, delete markers). Issue 12, defect 2. */
  'versioned',
  /** `strongbox backup --retry` of FAILED snapshots. Issue 12, defect 1. */
  'failed-retry',
  /** A tiny time budget: partitions continue across invocations. Issue 12, defect 1 (second part). */
  'continuation',
  /** Capture runs in a long-lived container (its vault index stays cached). Issue 12, defect 3. */
  'warm-capture',
  /** A copy and a garbage collection of the copy region run at the same time. Issue 12, defect 4. */
  'copy-gc-overlap',
  /** The state table restored to an earlier point (PITR). Issue 12, defect 5. */
  'state-restore',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * The fault kinds CI simulates (test/unit/simulate.test.ts). The others find defects of issue 12
 * whose fixes are on other branches: enable each one here as its fix merges.
 * - `kill` is on, but the RUNNING-deadline check that shows crash recovery's defect (a snapshot
 *   RUNNING for ever) is off until the reaper lands: pass `runningDeadlineSeconds` then.
 * - On (300 seeds each with `checkGarbage`, no violation): `failed-retry`, `continuation` (defect 1),
 *   `copy-gc-overlap` (defect 4).
 * - Off: `versioned` (defect 2) passes 300 seeds with no violation, but its second plan doubles the
 *   work per simulated hour, so seeds end before GC sweeps (gc.packsDeleted 1 in 60 seeds): on once
 *   the seeds last long enough for the CI test's GC assertion.
 * - Off: `event-reorder` (defect 2) and `warm-capture` (defect 3) pass every invariant but
 *   `[garbage]`: seeds 85 (`ci,event-reorder`) and 47 (`ci,warm-capture`) keep a pack of the copy
 *   region unreferenced through the quiet phase's closing GC cycle (not yet explained: GC's own
 *   live set or the model's copy rescues). `state-restore`: defect 5.
 * - `clock-skew`: a finding not in the issue's list (seed 7062 of `--faults ci,clock-skew`): a capture
 *   whose clock runs a few seconds behind S3's journals a change with a `capturedAt` before the
 *   parent listing's `journalUntil` although the listing did not see it; journal-built snapshots then
 *   miss it until the next reconcile.
 */
export const CI_FAULTS: readonly FaultKind[] = [
  'kill',
  'error',
  'duplicate',
  'visibility',
  'event-loss',
  'event-dup',
  'clock-jump',
  'failed-retry',
  'continuation',
  'copy-gc-overlap',
];

/**
 * Parse `--faults`: kinds separated by commas; `all`, `ci` (the CI set) and `none` may be mixed in,
 * e.g. `ci,versioned`.
 * @throws Error naming an unknown kind.
 */
export function parseFaults(list: string): FaultKind[] {
  const out = new Set<FaultKind>();
  for (const k of list.split(',').map((s) => s.trim())) {
    if (k === '' || k === 'none') continue;
    if (k === 'all') for (const f of FAULT_KINDS) out.add(f);
    else if (k === 'ci') for (const f of CI_FAULTS) out.add(f);
    else if ((FAULT_KINDS as readonly string[]).includes(k)) out.add(k as FaultKind);
    else throw new Error(`unknown fault kind '${k}' (known: ${FAULT_KINDS.join(', ')}, all, ci, none)`);
  }
  return FAULT_KINDS.filter((f) => out.has(f));
}
