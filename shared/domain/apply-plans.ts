/**
 * Applying a plans file: validate every plan, then write them all. Invalid input writes nothing.
 * A plan that already exists keeps its `createdAt` (its schedule's anchor).
 * @see ../../docs/format.md#plans
 */

import type { PipelineDeps } from './pipeline.ts';
import { validatePlans } from './plan.ts';
import type { PlanRecord } from './ports.ts';

/**
 * Validate and store plans.
 * @param doc the parsed plans file (`{ plans: [...] }`).
 * @param copyRegions regions with a configured copy vault.
 * @returns the stored records.
 * @throws ValidationError (not retryable) naming the field; nothing is written.
 * @example
 * ```ts
 * await applyPlans(deps, YAML.parse(await readFile('plans.yml', 'utf8')), ['eu-west-1']);
 * ```
 */
export async function applyPlans(
  deps: Pick<PipelineDeps, 'catalog' | 'clock'>,
  doc: unknown,
  copyRegions: readonly string[],
): Promise<PlanRecord[]> {
  const plans = validatePlans(doc, copyRegions);
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
