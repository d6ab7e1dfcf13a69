/** The PlanCatalog contract: the plans applied, as stored. */
import { describe, expect, it } from 'vitest';
import { isRetryable, ValidationError } from '#domain/errors.ts';
import type { PlanCatalog } from '#domain/ports.ts';
import type { KnownDivergences } from '../divergences.ts';
import { plan } from './fixtures.ts';

export function planCatalogContract(
  name: string,
  make: () => Promise<PlanCatalog>,
  _known?: KnownDivergences,
): void {
  describe(`PlanCatalog contract: ${name}`, () => {
    it('stores and lists plans', async () => {
      const c = await make();
      await c.putPlans([plan, { ...plan, id: 'docs' }]);
      expect((await c.listPlans()).map((p) => p.id).sort()).toEqual(['docs', 'photos']);
      expect(await c.getPlan('photos')).toEqual(plan);
      expect(await c.getPlan('nope')).toBeUndefined();
    });

    it('replaces a plan put again under its id, and keeps the others', async () => {
      const c = await make();
      await c.putPlans([plan, { ...plan, id: 'docs' }]);
      const changed = {
        ...plan,
        schedule: 'rate(2 hours)',
        enabled: false,
        updatedAt: '2026-01-02T00:00:00.000Z',
      };
      await c.putPlans([changed]);
      expect(await c.getPlan('photos')).toEqual(changed);
      expect((await c.listPlans()).map((p) => p.id).sort()).toEqual(['docs', 'photos']);
      await c.putPlans([]); // nothing to put is no error
      expect(await c.listPlans()).toHaveLength(2);
    });

    it('stores more plans at once than one DynamoDB transaction holds (25)', async () => {
      const c = await make();
      const many = Array.from({ length: 60 }, (_, i) => ({
        ...plan,
        id: `plan-${String(i).padStart(2, '0')}`,
      }));
      await c.putPlans(many);
      expect((await c.listPlans()).map((p) => p.id).sort()).toEqual(many.map((p) => p.id));
      expect(await c.getPlan('plan-59')).toEqual(many[59]);
    });

    it('refuses, for good, an item over 400 KB that has no long list to move out', async () => {
      const c = await make();
      const error = await c
        .putPlans([{ ...plan, id: 'huge', source: { bucket: 'src', prefix: 'p/'.repeat(210_000) } }])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(isRetryable(error)).toBe(false);
      expect(await c.getPlan('huge')).toBeUndefined();
    });

    it('quarantines a plan once, apart from the plan (applying plans lifts nothing), and lifts it once', async () => {
      const c = await make();
      await c.putPlans([plan]);
      const q = {
        planId: plan.id,
        since: '2026-12-06T01:00:00.000Z',
        at: '2026-12-06T01:20:00.000Z',
        reason: 'GuardDuty finding 42',
        by: 'operator' as const,
        heldSnapshotId: '20261206T000000Z',
      };
      expect(await c.putQuarantine(q)).toBe(true);
      expect(await c.putQuarantine({ ...q, reason: 'again' })).toBe(false);
      await c.putPlans([{ ...plan, updatedAt: '2026-12-06T02:00:00.000Z' }]);
      expect(await c.getQuarantine(plan.id)).toEqual(q);
      await c.putQuarantine({ ...q, planId: 'docs', by: 'detector' });
      expect((await c.listQuarantines()).map((x) => [x.planId, x.by])).toEqual([
        ['docs', 'detector'],
        [plan.id, 'operator'],
      ]);
      expect(await c.liftQuarantine(plan.id)).toBe(true);
      expect(await c.liftQuarantine(plan.id)).toBe(false);
      expect(await c.getQuarantine(plan.id)).toBeUndefined();
      expect((await c.listPlans()).map((p) => p.id)).toEqual([plan.id]);
    });
  });
}
