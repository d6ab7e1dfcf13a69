/**
 * Verification in three tiers, each recorded per snapshot and per region, each runnable on its own:
 * - **catalog**: the manifest root is stored and opens, every manifest part appears in one listing
 *   of the region's `parts/<plan>/`, every referenced blob is located by the region's own index, and
 *   every pack holding one appears in one listing of the region's `packs/` (diffs of listings, not
 *   one request per document);
 * - **checksum**: S3 reports, for every referenced pack, the size and SHA-256 checksum the region's
 *   index recorded when the pack was stored (`HeadObject` with checksum mode; no byte is
 *   downloaded); the root is checked by `HeadObject`, the parts by listing (presence only);
 * - **deep**: a sample (or all) of the blobs is read from the region's packs with one ranged GET
 *   each, opened (decrypted, decompressed) and hashed to its id, resumably: a pass that runs low on
 *   time saves its cursor on the snapshot record and continues in a new task.
 * A failure marks the snapshot and its job and is never turned back into success by a later run.
 * @see ../../docs/format.md#verification
 * @see ../../docs/format.md#packs
 * @see ../../docs/format.md#index
 * @see ../../docs/format.md#manifest-parts
 */

export type { VerifyOptions } from './verify/context.ts';
export {
  describeFailure,
  mergeVerification,
  regionProblems,
  tierHasFailures,
  VERIFICATION_TIERS,
} from './verify/report.ts';
export { deepPassOrder, type ExpectedBlob, inSample, sampleDraw } from './verify/sample.ts';
export { verifySnapshot } from './verify/verify-snapshot.ts';
