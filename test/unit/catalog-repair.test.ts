// The catalog is not the only authority: after the state table is restored to an earlier point in
// time (PITR), garbage collection must not delete the snapshots committed after that point, and
// `strongbox repair catalog` must bring their records back from the vaults' roots.
import { beforeEach, describe, expect, it } from 'vitest';
import type { MemoryVaultStore } from '#adapters/memory.ts';
import type { VaultGcResult } from '#domain/prune.ts';
import { VaultIndex } from '#domain/repository.ts';
import { restoreSnapshot } from '#domain/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const HOUR = 3600_000;

/** Take a snapshot of the source now and run every task it leads to (copy, verify, prune). */
async function snapshotNow(p: MemoryPipeline): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.advance(2 * HOUR);
  return snapshotId;
}

/** A prune of the plan (retention, then garbage collection in every region), as the queue runs it. */
async function pruneNow(p: MemoryPipeline, snapshotId: string): Promise<Record<string, VaultGcResult>> {
  await p.run({ kind: 'prune', planId: 'photos', snapshotId });
  const gc: Record<string, VaultGcResult> = {};
  for (const task of p.queue.drain()) {
    if (task.kind !== 'prune' || !task.region) continue;
    const result = (await p.run(task)) as { gc: Record<string, VaultGcResult> };
    Object.assign(gc, result.gc);
  }
  return gc;
}

/** Every document a snapshot needs in `vault`: its root, its parts and the packs of its blobs. */
async function documentsOf(p: MemoryPipeline, vault: MemoryVaultStore, manifestId: string) {
  const { readManifest, referencedDocuments } = await import('#domain/repository.ts');
  const root = await readManifest(vault, p.deps.envelope, 'photos', manifestId);
  const index = await VaultIndex.load(vault, p.deps.envelope);
  const docs = await referencedDocuments(vault, p.deps.envelope, index, manifestId, root);
  return { ...docs, packKeys: [...docs.packs.keys()].map((id) => VaultLayout.packKey(id)) };
}

describe('garbage collection after the state table is restored to an earlier point (PITR)', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 10 } })]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'b.txt', 'bravo');
    p.objects.createBucket('restored');
  });

  it('keeps the root, parts and packs of a snapshot the restored table no longer knows, and reports it', async () => {
    // Prepare: S1 committed; the table is backed up; S2 (new content) commits and is copied.
    const s1 = await snapshotNow(p);
    const tableBeforeS2 = p.catalog.exportState();
    await putText(p, 'a.txt', 'alpha, second version');
    await putText(p, 'c.txt', 'charlie');
    const s2 = await snapshotNow(p);
    const record = await p.catalog.getSnapshot('photos', s2);
    expect(record?.status).toBe('COMMITTED');
    expect(record?.regions?.['eu-west-1']?.status).toBe('COPIED');
    const manifestId = record?.manifestId as string;
    const before = {
      primary: await documentsOf(p, p.primary, manifestId),
      copy: await documentsOf(p, p.copy, manifestId),
    };

    // Act: the table is restored to before S2; garbage collection runs twice past the grace period.
    p.catalog.importState(tableBeforeS2);
    expect(await p.catalog.getSnapshot('photos', s2)).toBeUndefined();
    const first = await pruneNow(p, s1);
    p.clock.advance(2 * HOUR);
    const second = await pruneNow(p, s1);

    // Assess: every document of S2 is still there, in both regions, and GC said why.
    for (const [vault, docs] of [
      [p.primary, before.primary],
      [p.copy, before.copy],
    ] as const) {
      for (const key of [docs.manifestKey, ...docs.partKeys, ...docs.packKeys])
        expect(vault.objects.has(key), `${vault.region}: ${key}`).toBe(true);
      const index = await VaultIndex.load(vault, p.deps.envelope);
      for (const text of ['alpha, second version', 'charlie', 'bravo'])
        expect(index.locate(contentIdOf(text)), `${vault.region}: ${text}`).toBeDefined();
    }
    for (const gc of [first, second]) {
      for (const region of ['us-east-1', 'eu-west-1']) {
        expect(gc[region], region).toMatchObject({ manifestsDeleted: 0, partsDeleted: 0, rootsUnknown: 1 });
        expect(gc[region]?.warning, region).toMatch(/strongbox repair catalog/);
      }
    }
  });
});
