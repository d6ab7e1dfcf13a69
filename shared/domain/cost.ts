/**
 * The cost report (`strongbox cost [plan]`): per plan and vault region, how much the plan's
 * committed snapshots hold (logical bytes), what that takes in the vault after deduplication and
 * compression (stored bytes, objects), and an estimate of its monthly S3 storage cost by storage
 * class. {@link gatherCostInputs} reads the catalog and the vaults; {@link costReport} is pure.
 *
 * Definitions (per plan and region, over the plan's COMMITTED snapshots that region holds: every
 * one in the primary, those whose copy is `COPIED` in a copy region):
 * - `newestLogicalBytes`: the newest snapshot's `logicalBytes` (what a full restore writes);
 *   `keptLogicalBytes`: the sum over the snapshots (what as many full copies would hold).
 * - `uniquePlaintextBytes`: the plaintext size of the distinct blobs they reference (after
 *   deduplication, before compression); `sealedBlobBytes`: those blobs as stored (compressed,
 *   encrypted).
 * - `storedBytes`: the whole packs holding those blobs (a pack shared with other plans is counted
 *   whole in each plan that references it: the plan's vault footprint, not a share of the bill;
 *   `sharedPacks` says how many) plus the plan's manifest roots and parts. Index documents, garbage
 *   and other plans are in the per-vault totals only, where every object counts once.
 * - `dedupRatio` = keptLogicalBytes ÷ uniquePlaintextBytes; `compressionRatio` = uniquePlaintextBytes
 *   ÷ sealedBlobBytes (the blobs themselves, so a shared pack does not skew it). Null when the
 *   divisor is 0.
 * - `monthlyUsd`: bytes per storage class (as the vault's listing reports each object's class) ×
 *   the class's price per GB-month, GB = 2³⁰ bytes, with S3's minimum billable object size (128 KiB)
 *   for STANDARD_IA, ONEZONE_IA and GLACIER_IR and its 40 KiB per-object overhead for GLACIER and
 *   DEEP_ARCHIVE (32 KiB at the class's price, 8 KiB at STANDARD's). Storage only: no requests,
 *   retrievals, transfer, minimum storage durations or Object Lock's retained old versions.
 * @see https://aws.amazon.com/s3/pricing/
 * @see ../../docs/format.md
 */
import pLimit from 'p-limit';
import { NotFoundError } from './errors.ts';
import { type PipelineDeps, tuningOf } from './pipeline.ts';
import type { StoredObject, VaultStore } from './ports.ts';
import { readIndex, readManifest, readPart } from './repository/read-documents.ts';
import { type ContentId, VaultLayout } from './vault.ts';

/**
 * S3 storage prices in USD per GB-month (GB = 2³⁰ bytes), us-east-1, first 50 TB tier, as published
 * on the Amazon S3 pricing page (https://aws.amazon.com/s3/pricing/, "Storage pricing"; checked for
 * this release). Other regions and later prices differ: pass `prices` to {@link costReport}
 * (`strongbox cost --price CLASS=USD`). INTELLIGENT_TIERING is priced at its frequent-access tier.
 */
export const DEFAULT_PRICES_USD_PER_GB_MONTH: Readonly<Record<string, number>> = {
  STANDARD: 0.023,
  INTELLIGENT_TIERING: 0.023,
  STANDARD_IA: 0.0125,
  ONEZONE_IA: 0.01,
  GLACIER_IR: 0.004,
  GLACIER: 0.0036,
  DEEP_ARCHIVE: 0.00099,
};

const GIB = 2 ** 30;
const KIB = 1024;
/** Classes billed for at least 128 KiB per object. */
const MIN_128K = new Set(['STANDARD_IA', 'ONEZONE_IA', 'GLACIER_IR']);
/** Classes with 40 KiB of per-object overhead: 32 KiB at the class's price, 8 KiB at STANDARD's. */
const ARCHIVE_OVERHEAD = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** One snapshot as the report needs it. */
export interface SnapshotUsage {
  snapshotId: string;
  logicalBytes: number;
  /** Regions holding it: the primary's, and copy regions where it is `COPIED`. */
  regions: string[];
  /** Its manifest root's key. */
  rootKey: string;
  partIds: ContentId[];
}

/** What a plan's committed snapshots reference. */
export interface PlanUsage {
  planId: string;
  /** Committed snapshots, oldest first. */
  snapshots: SnapshotUsage[];
  /** Each distinct part of those snapshots: its key and the blobs its entries reference. */
  parts: Map<ContentId, { key: string; blobs: ContentId[] }>;
  /** Snapshots whose root or a part no vault could read (left out). */
  unreadable: string[];
}

/** What one vault holds: its listing and its index. */
export interface VaultContents {
  region: string;
  bucket: string;
  /** Every object the listing reports (size and storage class). */
  objects: StoredObject[];
  /** Blob → its pack, sealed length and plaintext size, by the vault's index documents. */
  blobs: Map<ContentId, { packId: ContentId; lengthBytes: number; sizeBytes: number }>;
}

export interface CostInputs {
  plans: PlanUsage[];
  vaults: VaultContents[];
}

/** Bytes, objects and estimated monthly cost of one storage class. */
export interface ClassCost {
  objects: number;
  bytes: number;
  monthlyUsd: number;
}

/** One plan in one region. */
export interface PlanRegionCost {
  region: string;
  snapshots: number;
  newestSnapshotId?: string;
  newestLogicalBytes: number;
  keptLogicalBytes: number;
  uniqueBlobs: number;
  uniquePlaintextBytes: number;
  sealedBlobBytes: number;
  packs: number;
  /** Packs also referenced by another plan of the report (counted whole in each). */
  sharedPacks: number;
  packBytes: number;
  /** Manifest roots and parts. */
  metadataObjects: number;
  metadataBytes: number;
  storedBytes: number;
  objects: number;
  dedupRatio: number | null;
  compressionRatio: number | null;
  byStorageClass: Record<string, ClassCost>;
  monthlyUsd: number;
  /** Referenced blobs the region's index does not locate, and packs or documents not listed. */
  unlocatedBlobs: number;
  missingObjects: number;
}

export interface PlanCost {
  planId: string;
  regions: PlanRegionCost[];
  unreadableSnapshots: string[];
}

/** Every object of one vault, counted once (index documents and garbage included). */
export interface VaultCost {
  region: string;
  bucket: string;
  objects: number;
  bytes: number;
  byStorageClass: Record<string, ClassCost>;
  monthlyUsd: number;
}

export interface CostReport {
  /** The prices used (USD per GB-month, by storage class). */
  prices: Record<string, number>;
  plans: PlanCost[];
  vaults: VaultCost[];
}

/**
 * Estimated monthly storage cost of one object of `sizeBytes` in `storageClass`, in USD.
 * @throws ValidationError-free: an unknown class is priced as STANDARD.
 */
export function objectMonthlyUsd(
  sizeBytes: number,
  storageClass: string,
  prices: Record<string, number>,
): number {
  const standard = prices.STANDARD ?? DEFAULT_PRICES_USD_PER_GB_MONTH.STANDARD ?? 0;
  const price = prices[storageClass] ?? standard;
  if (MIN_128K.has(storageClass)) return (Math.max(sizeBytes, 128 * KIB) / GIB) * price;
  if (ARCHIVE_OVERHEAD.has(storageClass))
    return ((sizeBytes + 32 * KIB) / GIB) * price + ((8 * KIB) / GIB) * standard;
  return (sizeBytes / GIB) * price;
}

function addObject(
  classes: Record<string, ClassCost>,
  o: Pick<StoredObject, 'sizeBytes' | 'storageClass'>,
  prices: Record<string, number>,
): number {
  const storageClass = o.storageClass ?? 'STANDARD';
  const c = classes[storageClass] ?? { objects: 0, bytes: 0, monthlyUsd: 0 };
  classes[storageClass] = c;
  const usd = objectMonthlyUsd(o.sizeBytes, storageClass, prices);
  c.objects += 1;
  c.bytes += o.sizeBytes;
  c.monthlyUsd += usd;
  return usd;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/**
 * The cost report from what {@link gatherCostInputs} read. Pure.
 * @param options.prices overrides of {@link DEFAULT_PRICES_USD_PER_GB_MONTH}, by storage class.
 * @example
 * ```ts
 * const report = costReport(await gatherCostInputs(deps), { prices: { GLACIER_IR: 0.0045 } });
 * ```
 */
export function costReport(
  inputs: CostInputs,
  options: { prices?: Record<string, number> } = {},
): CostReport {
  const prices = { ...DEFAULT_PRICES_USD_PER_GB_MONTH, ...options.prices };
  // Which plans reference each pack, per region (for sharedPacks).
  const packPlans = new Map<string, Map<ContentId, Set<string>>>();
  const perPlan = inputs.plans.map((plan) => ({
    plan,
    regions: inputs.vaults.map((vault) => {
      const held = plan.snapshots.filter((s) => s.regions.includes(vault.region));
      const partIds = new Set(held.flatMap((s) => s.partIds));
      const blobs = new Set<ContentId>();
      for (const id of partIds) for (const b of plan.parts.get(id)?.blobs ?? []) blobs.add(b);
      const packs = new Set<ContentId>();
      let unlocated = 0;
      let plaintext = 0;
      let sealed = 0;
      for (const b of blobs) {
        const where = vault.blobs.get(b);
        if (!where) {
          unlocated += 1;
          continue;
        }
        plaintext += where.sizeBytes;
        sealed += where.lengthBytes;
        packs.add(where.packId);
      }
      const byPack = packPlans.get(vault.region) ?? new Map<ContentId, Set<string>>();
      packPlans.set(vault.region, byPack);
      for (const p of packs) byPack.set(p, (byPack.get(p) ?? new Set()).add(plan.planId));
      const metadataKeys = [
        ...held.map((s) => s.rootKey),
        ...[...partIds].map((id) => plan.parts.get(id)?.key ?? VaultLayout.partKey(plan.planId, id)),
      ];
      return { vault, held, blobs, packs, unlocated, plaintext, sealed, metadataKeys };
    }),
  }));

  const plans: PlanCost[] = perPlan.map(({ plan, regions }) => ({
    planId: plan.planId,
    unreadableSnapshots: plan.unreadable,
    regions: regions
      .filter((r) => r.held.length > 0)
      .map((r): PlanRegionCost => {
        const listed = new Map(r.vault.objects.map((o) => [o.key, o]));
        const byStorageClass: Record<string, ClassCost> = {};
        let monthlyUsd = 0;
        let packBytes = 0;
        let metadataBytes = 0;
        let metadataObjects = 0;
        let missing = 0;
        let listedPacks = 0;
        for (const packId of r.packs) {
          const o = listed.get(VaultLayout.packKey(packId));
          if (!o) {
            missing += 1;
            continue;
          }
          listedPacks += 1;
          packBytes += o.sizeBytes;
          monthlyUsd += addObject(byStorageClass, o, prices);
        }
        for (const key of r.metadataKeys) {
          const o = listed.get(key);
          if (!o) {
            missing += 1;
            continue;
          }
          metadataObjects += 1;
          metadataBytes += o.sizeBytes;
          monthlyUsd += addObject(byStorageClass, o, prices);
        }
        const newest = r.held.at(-1);
        const keptLogicalBytes = r.held.reduce((sum, s) => sum + s.logicalBytes, 0);
        const sharing = packPlans.get(r.vault.region);
        return {
          region: r.vault.region,
          snapshots: r.held.length,
          ...(newest ? { newestSnapshotId: newest.snapshotId } : {}),
          newestLogicalBytes: newest?.logicalBytes ?? 0,
          keptLogicalBytes,
          uniqueBlobs: r.blobs.size - r.unlocated,
          uniquePlaintextBytes: r.plaintext,
          sealedBlobBytes: r.sealed,
          packs: listedPacks,
          sharedPacks: [...r.packs].filter((p) => (sharing?.get(p)?.size ?? 0) > 1).length,
          packBytes,
          metadataObjects,
          metadataBytes,
          storedBytes: packBytes + metadataBytes,
          objects: listedPacks + metadataObjects,
          dedupRatio: ratio(keptLogicalBytes, r.plaintext),
          compressionRatio: ratio(r.plaintext, r.sealed),
          byStorageClass,
          monthlyUsd,
          unlocatedBlobs: r.unlocated,
          missingObjects: missing,
        };
      }),
  }));

  const vaults: VaultCost[] = inputs.vaults.map((v) => {
    const byStorageClass: Record<string, ClassCost> = {};
    let monthlyUsd = 0;
    for (const o of v.objects) monthlyUsd += addObject(byStorageClass, o, prices);
    return {
      region: v.region,
      bucket: v.bucket,
      objects: v.objects.length,
      bytes: v.objects.reduce((sum, o) => sum + o.sizeBytes, 0),
      byStorageClass,
      monthlyUsd,
    };
  });
  return { prices, plans, vaults };
}

/**
 * Read what {@link costReport} needs: the plans (one, or all), their COMMITTED snapshots, each root
 * and each distinct part once (from the primary, else a copy vault), and, for every vault, one
 * listing of the whole bucket and its index documents. Read-only.
 * @throws NotFoundError (not retryable) for an unknown plan; TransientError (retryable) when
 *   storage or the catalog fails; IntegrityError when a document does not open.
 */
export async function gatherCostInputs(
  deps: Pick<PipelineDeps, 'catalog' | 'vaults' | 'envelope' | 'concurrency'>,
  planId?: string,
): Promise<CostInputs> {
  const { catalog, envelope } = deps;
  const vaults: VaultStore[] = [deps.vaults.primary, ...deps.vaults.copies.values()];
  const limit = pLimit(Math.max(1, tuningOf(deps).concurrency));
  const records = (await catalog.listPlans()).filter((p) => !planId || p.id === planId);
  if (planId && records.length === 0) throw new NotFoundError(`plan '${planId}' does not exist`);

  /** Read from the primary, else from each copy vault in turn; undefined when none has it. */
  async function fromAnyVault<T>(read: (vault: VaultStore) => Promise<T>): Promise<T | undefined> {
    for (const vault of vaults) {
      try {
        return await read(vault);
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    return undefined;
  }

  const plans: PlanUsage[] = [];
  for (const plan of records) {
    const usage: PlanUsage = { planId: plan.id, snapshots: [], parts: new Map(), unreadable: [] };
    const committed = (await catalog.listSnapshots(plan.id)).filter(
      (s) => s.status === 'COMMITTED' && s.manifestId,
    );
    for (const s of committed) {
      const manifestId = s.manifestId as ContentId;
      const manifest = await fromAnyVault((v) => readManifest(v, envelope, plan.id, manifestId));
      if (!manifest) {
        usage.unreadable.push(s.snapshotId);
        continue;
      }
      const fresh = manifest.parts.filter((p) => !usage.parts.has(p.partId));
      const parts = await Promise.all(
        fresh.map((ref) => limit(() => fromAnyVault((v) => readPart(v, envelope, plan.id, ref.partId)))),
      );
      for (const [i, part] of parts.entries()) {
        const ref = fresh[i];
        if (!ref) continue;
        if (!part) {
          if (!usage.unreadable.includes(s.snapshotId)) usage.unreadable.push(s.snapshotId);
          continue;
        }
        usage.parts.set(ref.partId, {
          key: VaultLayout.partKey(plan.id, ref.partId),
          blobs: [...new Set(part.entries.flatMap((e) => e.blobs))],
        });
      }
      usage.snapshots.push({
        snapshotId: s.snapshotId,
        logicalBytes: s.logicalBytes ?? manifest.totals.logicalBytes,
        regions: [
          deps.vaults.primary.region,
          ...Object.entries(s.regions ?? {})
            .filter(([, c]) => c.status === 'COPIED')
            .map(([r]) => r),
        ],
        rootKey: VaultLayout.manifestKey(plan.id, manifestId),
        partIds: manifest.parts.map((p) => p.partId),
      });
    }
    plans.push(usage);
  }

  const contents: VaultContents[] = [];
  for (const vault of vaults) {
    const objects: StoredObject[] = [];
    for await (const o of vault.list('')) objects.push(o);
    const indexIds = objects.map((o) => VaultLayout.indexIdOf(o.key)).filter((id): id is ContentId => !!id);
    const docs = await Promise.all(
      indexIds.map((id) =>
        limit(async () => {
          try {
            return await readIndex(vault, envelope, id);
          } catch (error) {
            if (error instanceof NotFoundError) return undefined; // rewritten meanwhile
            throw error;
          }
        }),
      ),
    );
    const blobs: VaultContents['blobs'] = new Map();
    for (const doc of docs) {
      for (const pack of doc?.packs ?? []) {
        for (const b of pack.blobs) {
          if (!blobs.has(b.blobId))
            blobs.set(b.blobId, { packId: pack.packId, lengthBytes: b.lengthBytes, sizeBytes: b.sizeBytes });
        }
      }
    }
    contents.push({ region: vault.region, bucket: vault.bucket, objects, blobs });
  }
  return { plans, vaults: contents };
}
