/**
 * Verification tier 2, checksum: S3 reports, for every referenced pack, the size and SHA-256 checksum
 * the region's index recorded when the pack was stored; no byte is downloaded.
 * @see ../../../docs/format.md#verification
 */

import pLimit from 'p-limit';
import { NotFoundError } from '../errors.ts';
import { tuningOf, vaultIn } from '../pipeline.ts';
import type { RegionVerification, TierVerification } from '../records.ts';
import { type ContentId, type StoredBlob, VaultLayout } from '../vault.ts';
import {
  blobsIn,
  documentPresent,
  listed,
  locateReferenced,
  missingPartsIn,
  regionIndex,
  secondsSince,
  type TierContext,
} from './context.ts';
import { tierResult } from './report.ts';

/**
 * Tier 2: S3 reports, for every referenced pack, the stored size and checksum the region's index
 * recorded, without a download; the root is present (HeadObject), the parts listed.
 * @see ../../../docs/format.md#index
 */
export async function checksumTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, manifestId } = c;
  const regions: Record<string, RegionVerification> = {};
  for (const region of c.regions) {
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const [manifestPresent, missingParts, index] = await Promise.all([
      documentPresent(() => vault.checksum(VaultLayout.manifestKey(task.planId, manifestId)), false),
      missingPartsIn(c, region),
      regionIndex(c, region),
    ]);
    const { byPack, unlocated } = locateReferenced(c, index);
    const missingPacks: ContentId[] = [];
    const mismatchedPacks: ContentId[] = [];
    let checkedPacks = 0;
    let checkedBlobs = 0;
    const limit = pLimit(tuningOf(deps).concurrency);
    await Promise.all(
      [...byPack].map(([packId, count]) =>
        limit(async () => {
          let reported: StoredBlob;
          try {
            reported = await vault.checksum(VaultLayout.packKey(packId));
          } catch (error) {
            if (error instanceof NotFoundError) {
              missingPacks.push(packId);
              return;
            }
            throw error;
          }
          checkedPacks += 1;
          checkedBlobs += count;
          const stored = index.pack(packId)?.stored;
          if (
            !stored ||
            reported.sizeBytes !== stored.sizeBytes ||
            reported.checksumSha256 !== stored.checksumSha256 ||
            reported.checksumType !== stored.checksumType
          ) {
            mismatchedPacks.push(packId);
          }
        }),
      ),
    );
    regions[region] = {
      referencedBlobs: c.referenced.size,
      referencedPacks: byPack.size,
      manifestPresent,
      missingParts: listed(missingParts),
      missingBlobs: listed([...unlocated.ids, ...blobsIn(c, index, new Set(missingPacks)).ids]),
      missingPacks: listed(missingPacks),
      mismatchedBlobs: listed(blobsIn(c, index, new Set(mismatchedPacks)).ids),
      mismatchedPacks: listed(mismatchedPacks),
      corruptBlobs: [],
      checkedBlobs,
      checkedPacks,
      seconds: secondsSince(deps, started),
    };
  }
  return tierResult(deps, regions);
}
