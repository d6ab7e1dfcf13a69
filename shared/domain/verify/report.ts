/**
 * Verification results: tiers folded into a snapshot's verification record, and what failed, in
 * words (for the task record, the job and the CLI).
 * @see ../../../docs/format.md#verification
 */

import { nowIso, type PipelineDeps } from '../pipeline.ts';
import type { RegionVerification, TierVerification, Verification, VerificationTier } from '../records.ts';

/** Tiers in the order a full verification runs them. */
export const VERIFICATION_TIERS: readonly VerificationTier[] = ['catalog', 'checksum', 'deep'];

/**
 * Fold one run's tier results into a snapshot's verification record: the tiers run replace their
 * previous results; the overall status is FAILED when any tier failed now or the record was FAILED
 * before (a failure is never turned back into success).
 */
export function mergeVerification(
  previous: Verification | undefined,
  results: Partial<Record<VerificationTier, TierVerification>>,
  checkedAt: string,
): Verification {
  const tiers = { ...(previous?.tiers ?? {}), ...results };
  const failed = previous?.status === 'FAILED' || Object.values(results).some(tierHasFailures);
  return { status: failed ? 'FAILED' : 'PASSED', checkedAt, tiers };
}

export function tierResult(
  deps: PipelineDeps,
  regions: Record<string, RegionVerification>,
): TierVerification {
  const failed = Object.values(regions).some((r) => regionProblems(r).length > 0);
  return { status: failed ? 'FAILED' : 'PASSED', checkedAt: nowIso(deps.clock), regions };
}

/** Whether a tier found anything wrong (a deep pass still RUNNING may already have). */
export function tierHasFailures(t: TierVerification): boolean {
  return t.status === 'FAILED' || Object.values(t.regions).some((r) => regionProblems(r).length > 0);
}

/**
 * One line per failed tier and region, e.g. `deep us-east-1: 1 corrupt blob(s)`; undefined when
 * nothing failed. The CLI's status shows the same words.
 */
export function describeFailure(
  tiers: Partial<Record<VerificationTier, TierVerification>>,
): string | undefined {
  const lines: string[] = [];
  for (const tier of VERIFICATION_TIERS) {
    const result = tiers[tier];
    if (!result || !tierHasFailures(result)) continue;
    for (const [region, r] of Object.entries(result.regions)) {
      const problems = regionProblems(r);
      if (problems.length > 0) lines.push(`${tier} ${region}: ${problems.join(', ')}`);
    }
  }
  return lines.length > 0 ? `verification failed: ${lines.join('; ')}` : undefined;
}

/**
 * What is wrong in one region's result, in words (empty when nothing is), causes first: e.g.
 * `1 missing pack(s) (ab12…), 3 missing blob(s) (cd34…)`. A checksum mismatch is named by pack
 * (format 2) or, in a format-1 record, by blob.
 */
export function regionProblems(r: RegionVerification): string[] {
  const problems: string[] = [];
  const some = (what: string, ids: readonly string[] | undefined) => {
    if (ids && ids.length > 0) problems.push(`${ids.length} ${what} (${ids[0]}…)`);
  };
  if (!r.manifestPresent) problems.push('manifest missing');
  some('missing part(s)', r.missingParts);
  some('missing pack(s)', r.missingPacks);
  some('missing blob(s)', r.missingBlobs);
  if (r.mismatchedPacks !== undefined) some('pack checksum mismatch(es)', r.mismatchedPacks);
  else some('checksum mismatch(es)', r.mismatchedBlobs);
  some('corrupt blob(s)', r.corruptBlobs);
  some('corrupt item(s)', r.corruptItems);
  problems.push(...(r.itemProblems ?? []));
  return problems;
}
