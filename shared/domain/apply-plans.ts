/**
 * Applying a plans file: validate every plan, then write them all. Invalid input writes nothing.
 * A plan that already exists keeps its `createdAt` (its schedule's anchor).
 * @see ../../docs/format.md#plans
 */

import type { PipelineDeps, Vaults } from './pipeline.ts';
import { validatePlans } from './plan.ts';
import type { PlanRecord } from './records.ts';

/**
 * The buckets of a deployment no plan may protect, each with what it is: the primary vault, each
 * copy vault and the restore drills' scratch bucket (a plan over a vault would back the vault up
 * into itself; one over the drill bucket would back up drills' scratch copies).
 * @param vaults the deployment's vaults, when known.
 * @param drillBucket the drill bucket, when configured.
 * @example reservedBuckets(c.pipeline.vaults, 'photos-drills').get('photos-drills') === 'the restore drills’ scratch bucket'
 */
export function reservedBuckets(vaults?: Vaults, drillBucket?: string): Map<string, string> {
  const reserved = new Map<string, string>();
  if (drillBucket) reserved.set(drillBucket, 'the restore drills’ scratch bucket');
  for (const [region, vault] of vaults?.copies ?? [])
    reserved.set(vault.bucket, `the copy vault in ${region}`);
  for (const [name, vault] of vaults?.isolated ?? [])
    reserved.set(vault.bucket, `the isolated vault ${name}`);
  if (vaults) reserved.set(vaults.primary.bucket, 'the primary vault');
  return reserved;
}

/**
 * Validate and store plans.
 * @param deps the catalog and clock; with `vaults`, a plan over a vault bucket is refused, and a
 *   plan may copy only to the isolated vaults `vaults.isolated` names.
 * @param doc the parsed plans file (`{ plans: [...] }`).
 * @param copyRegions regions with a configured copy vault.
 * @param options `drillBucket`: the restore drills' scratch bucket, refused as a source too.
 * @returns the stored records.
 * @throws ValidationError (not retryable) naming the field (a plan whose source is a vault or the
 *   drill bucket: `plans[i].source.bucket`); nothing is written.
 * @example
 * ```ts
 * await applyPlans(c.pipeline, YAML.parse(await readFile('plans.yml', 'utf8')), ['eu-west-1'], {
 *   drillBucket: c.config.drillBucket,
 * });
 * ```
 */
export async function applyPlans(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'> & Partial<Pick<PipelineDeps, 'vaults'>>,
  doc: unknown,
  copyRegions: readonly string[],
  options: { drillBucket?: string | undefined } = {},
): Promise<PlanRecord[]> {
  const plans = validatePlans(doc, copyRegions, reservedBuckets(deps.vaults, options.drillBucket), [
    ...(deps.vaults?.isolated?.keys() ?? []),
  ]);
  // Whole seconds: schedules are anchored here and EventBridge ticks carry whole seconds.
  const now = new Date(Math.floor(deps.clock.now().getTime() / 1000) * 1000).toISOString();
  const records: PlanRecord[] = [];
  for (const plan of plans) {
    const existing = await deps.catalog.getPlan(plan.id);
    records.push({ ...plan, createdAt: existing?.createdAt ?? now, updatedAt: now });
  }
  await deps.catalog.putPlans(records);
  return records;
}
