/**
 * A garbage-collection plan as text: what a run of one vault would delete, mark, rescue and repack,
 * with counts, bytes and reasons (lists capped). What `strongbox prune --dry-run` prints for each
 * region (the plan from `planGcRun`).
 * @see ../../../docs/format.md#garbage-collection
 */
import type { GcDocument, GcOrphanVerdict, GcPackStep, GcPlan } from './types.ts';

/** How to print a plan. */
export interface GcPlanFormat {
  /** Items listed per step at most (the rest are counted); default 10. */
  limit?: number;
}

/**
 * The plan as lines of text, in the order a run would act. Ids of 64 hex digits are shortened to
 * their first 12.
 * @example
 * ```ts
 * console.log(formatGcPlan(await planGcRun(deps, 'us-east-1')));
 * // garbage collection of vault-bucket (us-east-1): a plan, nothing done
 * // …
 * // mark 2 pack(s):
 * //   3b7c0e1d2a4f…: none of its 14 indexed blobs is live
 * ```
 */
export function formatGcPlan(plan: GcPlan, options: GcPlanFormat = {}): string {
  const limit = options.limit ?? 10;
  const { stats } = plan;
  const lines = [
    `garbage collection of ${plan.vault.bucket} (${plan.vault.region}): a plan, nothing done`,
    `old: before ${new Date(plan.cutoffMs).toISOString()} (the grace period)`,
    `live: ${stats.blobsLive} blob(s), ${stats.partsLive} part(s), ${stats.packsLive} pack(s) (${stats.packsPartlyUnused} partly unused: ${bytes(stats.unusedBytesInLivePacks)} unreferenced; ${stats.packsMissing} missing)`,
  ];
  if (plan.warning) lines.push(`warning: ${plan.warning}`);
  if (plan.deferred) lines.push(`deferred: ${plan.deferred}; packs and index documents are left alone`);
  const before = lines.length;
  lines.push(
    ...documents('delete', 'manifest root(s)', plan.roots, limit),
    ...documents('delete', 'part(s)', plan.parts, limit),
    ...section(
      `delete ${plan.tombstones.length} tombstone(s) unless another vault holds their root:`,
      plan.tombstones.map((t) => `${t.record.planId}/${t.record.snapshotId}: ${t.reason}`),
      limit,
    ),
    ...section(
      `repack ${plan.repack.length} pack(s)${consolidated(plan)}: ${bytes(sum(plan.repack.map((r) => r.totalBytes - r.unusedBytes)))} of live blobs to new packs, ${bytes(sum(plan.repack.map((r) => r.unusedBytes)))} unreferenced left behind:`,
      plan.repack.map((r) => `${short(r.pack.packId)}: ${r.reason}`),
      limit,
    ),
    ...orphans(plan, limit),
    ...packSteps('mark', plan.mark, limit),
    ...packSteps('rescue (unmark)', plan.rescue, limit),
    ...indexLines(plan, limit),
    ...section(
      `sweep ${plan.sweep.length} pack(s), ${bytes(sum(plan.sweep.map((s) => s.object.sizeBytes)))}, ${sum(plan.sweep.map((s) => s.blobs))} blob(s), if still marked as read and Object Lock lets them go:`,
      plan.sweep.map((s) => `${short(s.packId)}: ${s.reason}`),
      limit,
    ),
    ...packSteps('remove the stale mark of', plan.staleMarks, limit),
  );
  if (plan.waiting.length > 0)
    lines.push(`${plan.waiting.length} marked pack(s) wait for the grace period to pass`);
  if (lines.length === before && plan.waiting.length === 0 && !plan.deferred) lines.push('nothing to do');
  return lines.join('\n');
}

/** A heading and its items (none when there are no items), at most `limit` of them listed. */
function section(heading: string, items: readonly string[], limit: number): string[] {
  if (items.length === 0) return [];
  const shown = items.slice(0, limit).map((item) => `  ${short(item)}`);
  if (items.length > limit) shown.push(`  … and ${items.length - limit} more`);
  return [heading, ...shown];
}

function documents(verb: string, what: string, docs: readonly GcDocument[], limit: number): string[] {
  return section(
    `${verb} ${docs.length} ${what}, ${bytes(sum(docs.map((d) => d.sizeBytes)))}:`,
    docs.map((d) => `${d.key}: ${d.reason}`),
    limit,
  );
}

function packSteps(verb: string, steps: readonly GcPackStep[], limit: number): string[] {
  return section(
    `${verb} ${steps.length} pack(s):`,
    steps.map((s) => `${s.packId}: ${s.reason}`),
    limit,
  );
}

/** The old-marked orphans: as a dry run settled them (header read), else what decides. */
function orphans(plan: GcPlan, limit: number): string[] {
  if (!plan.settledOrphans) {
    return section(
      `read the header of ${plan.orphans.length} orphan pack(s) (marked, named by no index):`,
      plan.orphans.map((o) => `${o.packId}: ${o.reason}`),
      limit,
    );
  }
  const count = (action: GcOrphanVerdict['action']) =>
    plan.settledOrphans?.filter((v) => v.action === action).length ?? 0;
  return section(
    `orphan pack(s) (marked, named by no index): ${count('rescue')} to rescue and re-index, ${count('sweep')} to sweep, ${count('stale')} gone:`,
    plan.settledOrphans.map((v) => `${v.packId}: ${v.action}: ${v.reason}`),
    limit,
  );
}

function indexLines(plan: GcPlan, limit: number): string[] {
  const { writes, obsolete, rewritten, deleted } = plan.indexRewrite;
  if (writes.length === 0 && obsolete.length === 0) return [];
  return section(
    `index: write ${rewritten} document(s), then delete ${obsolete.length} (${deleted} without a replacement), ${bytes(sum(obsolete.map((d) => d.sizeBytes)))}:`,
    obsolete.map((d) => `${d.key}: ${d.reason}`),
    limit,
  );
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Ids of 64 hex digits shortened to their first 12. */
function short(text: string): string {
  return text.replace(/\b([0-9a-f]{12})[0-9a-f]{52}\b/g, '$1…');
}

/** `1536` → `1.5 KiB`. */
function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** How many of the packs to repack are small ones consolidated (docs/format.md#garbage-collection, step 6). */
function consolidated(plan: GcPlan): string {
  const n = plan.repack.filter((r) => r.consolidated).length;
  return n > 0 ? ` (${n} small, consolidated)` : '';
}
