/**
 * The GcCatalog contract: garbage collection's marks, the lease that keeps two GC runs of a vault
 * apart, and the holds of copies that keep a GC run out. @see docs/format.md#garbage-collection
 */
import { describe, expect, it } from 'vitest';
import type { GcCatalog, PlanCatalog } from '#domain/ports.ts';
import type { KnownDivergences } from '../divergences.ts';

/** GC items live in the catalog's table beside the plans: the suite checks they stay apart. */
export type GcCatalogUnderTest = GcCatalog & Pick<PlanCatalog, 'listPlans'>;

const t = (m: number) => `2026-01-01T00:${String(m).padStart(2, '0')}:00.000Z`;

export function gcCatalogContract(
  name: string,
  make: () => Promise<GcCatalogUnderTest>,
  _known?: KnownDivergences,
): void {
  describe(`GcCatalog contract: ${name}`, () => {
    it('stores, lists and removes garbage-collection marks per vault bucket', async () => {
      const c = await make();
      const a = 'a'.repeat(64);
      const b = 'b'.repeat(64);
      expect(await c.listGcMarks('vault-use1')).toEqual([]);
      await c.putGcMarks('vault-use1', [
        { packId: b, markedAt: '2026-01-01T00:00:00.000Z' },
        { packId: a, markedAt: '2026-01-01T00:00:01.000Z' },
      ]);
      await c.putGcMarks('vault-euw1', [{ packId: a, markedAt: '2026-01-02T00:00:00.000Z' }]);
      // A second put of the same pack overwrites its mark.
      await c.putGcMarks('vault-use1', [{ packId: b, markedAt: '2026-01-03T00:00:00.000Z' }]);
      expect(await c.listGcMarks('vault-use1')).toEqual([
        { packId: a, markedAt: '2026-01-01T00:00:01.000Z' },
        { packId: b, markedAt: '2026-01-03T00:00:00.000Z' },
      ]);
      await c.deleteGcMarks('vault-use1', [a, 'c'.repeat(64)]); // a missing mark is no error
      expect(await c.listGcMarks('vault-use1')).toEqual([
        { packId: b, markedAt: '2026-01-03T00:00:00.000Z' },
      ]);
      expect(await c.listGcMarks('vault-euw1')).toEqual([
        { packId: a, markedAt: '2026-01-02T00:00:00.000Z' },
      ]);
      // More than one batch (DynamoDB writes 25 items per request).
      const many = Array.from({ length: 60 }, (_, i) => ({
        packId: i.toString(16).padStart(64, '0'),
        markedAt: '2026-01-04T00:00:00.000Z',
      }));
      await c.putGcMarks('vault-many', many);
      expect(await c.listGcMarks('vault-many')).toHaveLength(60);
      await c.deleteGcMarks(
        'vault-many',
        many.map((m) => m.packId),
      );
      expect(await c.listGcMarks('vault-many')).toEqual([]);
      expect(await c.listPlans()).toEqual([]); // marks are apart from plans
    });

    it('keeps the marks of a vault apart from the lease and holds on it', async () => {
      const c = await make();
      await c.acquireVaultHold('vault-use1', 'copy-1', t(0), t(30));
      await c.putGcMarks('vault-use1', [{ packId: 'a'.repeat(64), markedAt: t(1) }]);
      await c.releaseVaultHold('vault-use1', 'copy-1');
      expect(await c.acquireGcLease('vault-use1', 'gc-1', t(2), t(32))).toBe(true);
      await c.deleteGcMarks('vault-use1', ['a'.repeat(64)]);
      expect(await c.listGcMarks('vault-use1')).toEqual([]);
      expect(await c.acquireGcLease('vault-use1', 'gc-2', t(3), t(33))).toBe(false); // the lease stayed
    });

    it('grants the garbage-collection lease of a vault to one owner at a time, until it ends', async () => {
      const c = await make();
      expect(await c.acquireGcLease('vault-use1', 'a', t(0), t(15))).toBe(true);
      expect(await c.acquireGcLease('vault-use1', 'b', t(1), t(16))).toBe(false);
      expect(await c.acquireGcLease('vault-euw1', 'b', t(1), t(16))).toBe(true); // another vault
      expect(await c.acquireGcLease('vault-use1', 'a', t(2), t(17))).toBe(true); // its holder renews
      await c.releaseGcLease('vault-use1', 'b'); // not the holder: nothing happens
      expect(await c.acquireGcLease('vault-use1', 'b', t(3), t(18))).toBe(false);
      expect(await c.acquireGcLease('vault-use1', 'b', t(18).replace(':00.000Z', ':01.000Z'), t(30))).toBe(
        true,
      ); // ended
      await c.releaseGcLease('vault-use1', 'b');
      expect(await c.acquireGcLease('vault-use1', 'c', t(19), t(34))).toBe(true);
      expect(await c.listGcMarks('vault-use1')).toEqual([]); // the lease is no mark
    });

    it('records the end of the last completed run when its owner gives the lease back with it, and keeps it across leases and holds', async () => {
      const c = await make();
      expect(await c.lastGcCompletedAt('vault-use1')).toBeUndefined();
      expect(await c.acquireGcLease('vault-use1', 'gc-1', t(0), t(30))).toBe(true);
      await c.releaseGcLease('vault-use1', 'gc-2', t(5)); // not the holder: nothing recorded
      expect(await c.lastGcCompletedAt('vault-use1')).toBeUndefined();
      await c.releaseGcLease('vault-use1', 'gc-1', t(5));
      expect(await c.lastGcCompletedAt('vault-use1')).toBe(t(5));
      expect(await c.lastGcCompletedAt('vault-euw1')).toBeUndefined(); // per vault
      // A run that failed gives the lease back without one: the last completed run stays.
      expect(await c.acquireGcLease('vault-use1', 'gc-2', t(6), t(36))).toBe(true);
      await c.releaseGcLease('vault-use1', 'gc-2');
      expect(await c.lastGcCompletedAt('vault-use1')).toBe(t(5));
      // Holds come and go on the same item.
      expect(await c.acquireVaultHold('vault-use1', 'copy-1', t(7), t(40))).toBe(true);
      await c.releaseVaultHold('vault-use1', 'copy-1');
      expect(await c.acquireGcLease('vault-use1', 'gc-3', t(8), t(38))).toBe(true);
      await c.releaseGcLease('vault-use1', 'gc-3', t(9));
      expect(await c.lastGcCompletedAt('vault-use1')).toBe(t(9));
      expect(await c.listGcMarks('vault-use1')).toEqual([]);
    });

    it('grants the lease to one of several runs asking at the same time', async () => {
      const c = await make();
      const owners = ['gc-1', 'gc-2', 'gc-3', 'gc-4'];
      const won = await Promise.all(owners.map((o) => c.acquireGcLease('vault-use1', o, t(0), t(15))));
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = owners[won.indexOf(true)] as string;
      // Only the winner holds it: the others still cannot take it, the winner renews.
      for (const o of owners.filter((x) => x !== winner)) {
        expect(await c.acquireGcLease('vault-use1', o, t(1), t(16))).toBe(false);
      }
      expect(await c.acquireGcLease('vault-use1', winner, t(1), t(16))).toBe(true);
    });

    it('lets copies hold a vault together, and never at the same time as a garbage-collection run', async () => {
      const c = await make();
      // Copies' holds coexist; while one is held, no run takes the lease.
      expect(await c.acquireVaultHold('vault-euw1', 'copy-1', t(0), t(30))).toBe(true);
      expect(await c.acquireVaultHold('vault-euw1', 'copy-2', t(1), t(31))).toBe(true);
      expect(await c.acquireGcLease('vault-euw1', 'gc-1', t(2), t(32))).toBe(false);
      expect(await c.acquireGcLease('vault-use1', 'gc-1', t(2), t(32))).toBe(true); // another vault
      await c.releaseVaultHold('vault-euw1', 'copy-1');
      expect(await c.acquireGcLease('vault-euw1', 'gc-1', t(3), t(33))).toBe(false); // copy-2 still holds
      await c.releaseVaultHold('vault-euw1', 'copy-2');
      await c.releaseVaultHold('vault-euw1', 'copy-2'); // not held: nothing happens
      // Once no copy holds it, a run takes it; then no copy does, until the run gives it back.
      expect(await c.acquireGcLease('vault-euw1', 'gc-1', t(4), t(34))).toBe(true);
      expect(await c.acquireVaultHold('vault-euw1', 'copy-3', t(5), t(35))).toBe(false);
      await c.releaseGcLease('vault-euw1', 'gc-1');
      expect(await c.acquireVaultHold('vault-euw1', 'copy-3', t(6), t(36))).toBe(true);
      // A hold that ended (its copy died) no longer blocks a run; a run's lease that ended, no copy.
      expect(await c.acquireGcLease('vault-euw1', 'gc-2', t(37), t(50))).toBe(true);
      expect(await c.acquireVaultHold('vault-euw1', 'copy-4', t(51), t(59))).toBe(true);
      await c.releaseVaultHold('vault-euw1', 'copy-4');
      // Giving the lease back keeps the lease item usable: a run and a copy take turns again.
      expect(await c.acquireGcLease('vault-euw1', 'gc-3', t(52), t(58))).toBe(true);
      await c.releaseGcLease('vault-euw1', 'gc-3');
      expect(await c.acquireVaultHold('vault-euw1', 'copy-5', t(53), t(59))).toBe(true);
      expect(await c.listGcMarks('vault-euw1')).toEqual([]); // holds are no marks
    });

    it('never grants a run and a copy the vault together when they ask at the same time', async () => {
      const c = await make();
      for (let round = 0; round < 5; round++) {
        const vault = `vault-race-${round}`;
        const [run, copy] = await Promise.all([
          c.acquireGcLease(vault, 'gc', t(0), t(30)),
          c.acquireVaultHold(vault, 'copy', t(0), t(30)),
        ]);
        expect(run && copy).toBe(false);
        expect(run || copy).toBe(true);
      }
    });
  });
}
