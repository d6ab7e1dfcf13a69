/**
 * Retention: which snapshots of a plan to keep and which to forget, with restic's `forget` policy
 * semantics (`--keep-last`, `--keep-hourly` … `--keep-yearly`, `--keep-within`).
 *
 * Pure: every time comes in as an argument; windows are measured from the newest snapshot, never from
 * a wall clock.
 *
 * @see docs/format.md#retention
 * @see https://restic.readthedocs.io/en/stable/060_forget.html#removing-snapshots-according-to-a-policy
 */

export {
  applyRetention,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionResult,
} from './retention/apply.ts';
export {
  checkTag,
  isEmptyPolicy,
  parseKeepWithin,
  parseTagList,
  type RetentionPolicy,
  RetentionPolicyError,
  type WithinDuration,
} from './retention/policy.ts';
export { checkTimeZone, formatZonedTime, subtractDuration } from './retention/zoned-time.ts';
