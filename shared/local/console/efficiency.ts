/**
 * Deduplication and compression per snapshot, for the console's timeline: from what the cost report
 * reads ({@link gatherCostInputs}: each snapshot's manifest parts and the blobs they reference, each
 * vault's index), per snapshot in one region's vault:
 * - `uniquePlaintextBytes`: the plaintext size of the distinct blobs it references (after
 *   deduplication), and `dedupRatio` = logicalBytes ÷ that;
 * - `sealedBytes`: those blobs as stored (compressed, encrypted), and `compressionRatio` =
 *   uniquePlaintextBytes ÷ sealedBytes;
 * - `newSealedBytes`: the sealed bytes of its blobs the previous snapshot (by time) did not reference:
 *   what this snapshot added, whoever wrote it (the snapshot, or capture as the uploads arrived).
 * Ratios are null when the divisor is 0. Pure: {@link snapshotEfficiency}; {@link planEfficiency} reads.
 */
import { type CostInputs, costReport, gatherCostInputs, type PlanRegionCost } from '#domain/cost.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';

/** One snapshot's footprint in one region's vault. */
export interface SnapshotEfficiency {
  snapshotId: string;
  region: string;
  logicalBytes: number;
  uniqueBlobs: number;
  uniquePlaintextBytes: number;
  sealedBytes: number;
  /** Blobs the previous snapshot did not reference, and their sealed bytes. */
  newBlobs: number;
  newSealedBytes: number;
  dedupRatio: number | null;
  compressionRatio: number | null;
  /** Referenced blobs the region's index does not locate (not counted in the sizes). */
  unlocatedBlobs: number;
}

/** `GET /api/plans/:plan/efficiency`: per snapshot (primary region), and per region over all snapshots. */
export interface PlanEfficiency {
  planId: string;
  region: string;
  snapshots: SnapshotEfficiency[];
  regions: PlanRegionCost[];
  /** Snapshots whose manifest no vault could read (left out). */
  unreadableSnapshots: string[];
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/**
 * Each committed snapshot of `planId` that `region` holds, in the order of `snapshotIds` (oldest
 * first), with its deduplication and compression. Pure.
 * @example
 * ```ts
 * snapshotEfficiency(inputs, 'photos', 'us-east-1', ids); // [{ snapshotId, dedupRatio: 1.8, newSealedBytes: 1234, … }]
 * ```
 */
export function snapshotEfficiency(
  inputs: CostInputs,
  planId: string,
  region: string,
  snapshotIds: readonly string[],
): SnapshotEfficiency[] {
  const usage = inputs.plans.find((p) => p.planId === planId);
  const vault = inputs.vaults.find((v) => v.region === region);
  if (!usage || !vault) return [];
  const order = new Map(snapshotIds.map((id, i) => [id, i]));
  const snapshots = usage.snapshots
    .filter((s) => s.regions.includes(region))
    .sort((a, b) => (order.get(a.snapshotId) ?? 0) - (order.get(b.snapshotId) ?? 0));
  let previous = new Set<string>();
  return snapshots.map((s) => {
    const blobs = new Set(s.partIds.flatMap((id) => usage.parts.get(id)?.blobs ?? []));
    const e: SnapshotEfficiency = {
      snapshotId: s.snapshotId,
      region,
      logicalBytes: s.logicalBytes,
      uniqueBlobs: blobs.size,
      uniquePlaintextBytes: 0,
      sealedBytes: 0,
      newBlobs: 0,
      newSealedBytes: 0,
      dedupRatio: null,
      compressionRatio: null,
      unlocatedBlobs: 0,
    };
    for (const blob of blobs) {
      const located = vault.blobs.get(blob);
      if (!located) {
        e.unlocatedBlobs += 1;
        continue;
      }
      e.uniquePlaintextBytes += located.sizeBytes;
      e.sealedBytes += located.lengthBytes;
      if (!previous.has(blob)) {
        e.newBlobs += 1;
        e.newSealedBytes += located.lengthBytes;
      }
    }
    e.dedupRatio = ratio(e.logicalBytes, e.uniquePlaintextBytes);
    e.compressionRatio = ratio(e.uniquePlaintextBytes, e.sealedBytes);
    previous = blobs;
    return e;
  });
}

/**
 * A plan's deduplication and compression: per snapshot in the primary region, and per region over
 * its committed snapshots (the cost report's figures). Reads the catalog, the manifests and every
 * vault's listing and index, as `strongbox cost PLAN` does.
 * @throws NotFoundError for an unknown plan; as {@link gatherCostInputs}.
 */
export async function planEfficiency(
  deps: Pick<PipelineDeps, 'catalog' | 'vaults' | 'envelope' | 'concurrency'>,
  planId: string,
): Promise<PlanEfficiency> {
  const inputs = await gatherCostInputs(deps, planId);
  const byTime = (await deps.catalog.listSnapshots(planId))
    .map((s) => ({ id: s.snapshotId, at: Date.parse(s.time ?? s.scheduledAt) }))
    .sort((a, b) => a.at - b.at)
    .map((s) => s.id);
  const region = deps.vaults.primary.region;
  const plan = costReport(inputs).plans.find((p) => p.planId === planId);
  return {
    planId,
    region,
    snapshots: snapshotEfficiency(inputs, planId, region, byTime),
    regions: plan?.regions ?? [],
    unreadableSnapshots: plan?.unreadableSnapshots ?? [],
  };
}
