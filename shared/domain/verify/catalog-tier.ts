/**
 * Verification tier 1, catalog: the manifest root is stored and opens, every manifest part and every
 * pack is listed, every referenced blob is located by the region's own index.
 * @see ../../../docs/format.md#verification
 */

import { idsListed } from '../copy.ts';
import { vaultIn } from '../pipeline.ts';
import type { RegionVerification, TierVerification } from '../records.ts';
import { readManifest } from '../repository/read-documents.ts';
import { VaultLayout } from '../vault.ts';
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
 * Tier 1: the root opens, every part and every pack is listed, every blob is located by the
 * region's index. @see ../../../docs/format.md#index
 */
export async function catalogTier(c: TierContext): Promise<TierVerification> {
  const { deps, task, manifestId } = c;
  const regions: Record<string, RegionVerification> = {};
  for (const region of c.regions) {
    const started = deps.clock.now();
    const vault = vaultIn(deps.vaults, region);
    const [manifestPresent, missingParts, packsListed, index] = await Promise.all([
      documentPresent(() => readManifest(vault, deps.envelope, task.planId, manifestId), true),
      missingPartsIn(c, region),
      idsListed(vault, VaultLayout.packsPrefix, VaultLayout.packIdOf),
      regionIndex(c, region),
    ]);
    const { byPack, unlocated } = locateReferenced(c, index);
    const missingPacks = [...byPack.keys()].filter((id) => !packsListed.has(id));
    regions[region] = {
      referencedBlobs: c.referenced.size,
      referencedPacks: byPack.size,
      manifestPresent,
      missingParts: listed(missingParts),
      missingBlobs: listed([...unlocated.ids, ...blobsIn(c, index, new Set(missingPacks)).ids]),
      missingPacks: listed(missingPacks),
      corruptBlobs: [],
      checkedBlobs: c.referenced.size,
      seconds: secondsSince(deps, started),
    };
  }
  return tierResult(deps, regions);
}
