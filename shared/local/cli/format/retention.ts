/** What `strongbox forget --dry-run` prints. */
import type { ForgetDecision, ForgetResult } from '#domain/forget.ts';
import { formatZonedTime } from '#domain/retention/zoned-time.ts';
import { formatTable } from '../../format.ts';

/**
 * The table of `strongbox forget --dry-run`: every snapshot of the plan, newest first, with its time in
 * the plan's time zone (`YYYY-MM-DD HH:MM:SS±HH:MM`), its status, keep or remove, and the reasons
 * (restic's wording, plus 'legal hold', 'minimum retention', 'parent of a running snapshot', 'failed
 * verification', 'running', 'failed', 'forgotten').
 * @param result what {@link decideRetention} decided.
 * @param timeZone the plan's `retention.timeZone`. @default 'UTC'
 * @see docs/format.md#retention
 */
export function formatForgetTable(result: ForgetResult, timeZone = 'UTC'): string {
  const rows = [...result.decisions, ...result.others].sort(
    (a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.snapshotId < b.snapshotId ? -1 : 1),
  );
  return formatTable(
    ['snapshot', `time (${timeZone})`, 'status', 'decision', 'reasons'],
    rows.map((d: ForgetDecision) => [
      d.snapshotId,
      formatZonedTime(d.time, timeZone),
      d.status,
      d.keep ? 'keep' : 'remove',
      d.reasons.join(', ') || '-',
    ]),
  );
}
