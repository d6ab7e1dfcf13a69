// The catalog is not the only authority: after the state table is restored to an earlier point in
// time (PITR), garbage collection must not delete the snapshots committed after that point, and
// `strongbox repair catalog` must bring their records back from the vaults' roots.
import { beforeEach, describe, expect, it } from 'vitest';
import type { VaultGcResult } from '#domain/gc/result.ts';
import { describeCatalogRepair, repairCatalog } from '#domain/repair.ts';
import { referencedDocuments } from '#domain/repository/manifest-entries.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import { buildCli } from '#local/cli/index.ts';
import type { MemoryVaultStore } from '../support/memory/vault-store.ts';
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
  await p.run({ kind: 'forget', planId: 'photos', snapshotId });
  const gc: Record<string, VaultGcResult> = {};
  for (const task of p.queue.drain()) {
    if (task.kind !== 'gc') continue;
    const result = (await p.run(task)) as { gc: Record<string, VaultGcResult> };
    Object.assign(gc, result.gc);
  }
  return gc;
}

/** Every document a snapshot needs in `vault`: its root, its parts and the packs of its blobs. */
async function documentsOf(p: MemoryPipeline, vault: MemoryVaultStore, manifestId: string) {
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

    // Act: repair the catalog, a dry run first.
    const dry = await repairCatalog(p.deps, { dryRun: true });
    expect(dry.recreate.map((s) => s.snapshotId)).toEqual([s2]);
    expect(await p.catalog.getSnapshot('photos', s2)).toBeUndefined();
    expect(describeCatalogRepair(dry).at(-1)).toMatch(/1 snapshot record\(s\) would be recreated.*dry run/);
    const repaired = await repairCatalog(p.deps);
    await p.drain(); // the verification it enqueued (and the prune after it)

    // Assess: S2 is listed again, as the pipeline had it, and restores byte-identically in both regions.
    expect(repaired.recreated).toEqual([`photos/${s2}`]);
    expect(repaired.rootsKnown).toBe(1); // S1's
    expect(repaired.enqueued).toEqual([{ kind: 'verify', planId: 'photos', snapshotId: s2 }]);
    expect(describeCatalogRepair(repaired)[0]).toMatch(
      new RegExp(
        `^recreated photos/${s2} \\(manifest ${manifestId.slice(0, 12)}…, 3 object\\(s\\).*held by us-east-1, eu-west-1\\)$`,
      ),
    );
    const again = await p.catalog.getSnapshot('photos', s2);
    expect(again).toMatchObject({
      status: 'COMMITTED',
      manifestId,
      time: record?.time,
      scheduledAt: record?.scheduledAt,
      committedAt: record?.committedAt,
      parentSnapshotId: s1,
      objectCount: record?.objectCount,
      logicalBytes: record?.logicalBytes,
      regions: { 'eu-west-1': { status: 'COPIED' } },
    });
    expect(again?.repairedAt).toBeDefined();
    expect(again?.verification?.status).toBe('PASSED');
    expect((await p.catalog.listSnapshots('photos')).map((s) => s.snapshotId)).toEqual([s1, s2]);
    for (const region of ['us-east-1', 'eu-west-1']) {
      const report = await restoreSnapshot(p.deps, {
        plan: 'photos',
        snapshot: 'latest',
        region,
        targetBucket: 'restored',
        targetPrefix: `${region}/`,
      });
      expect(report.snapshotId, region).toBe(s2);
      for (const [key, text] of [
        ['a.txt', 'alpha, second version'],
        ['b.txt', 'bravo'],
        ['c.txt', 'charlie'],
      ]) {
        const restored = await p.objects.get('restored', `${region}/${key}`);
        expect(Buffer.from(restored.body).equals(Buffer.from(text as string)), `${region}: ${key}`).toBe(
          true,
        );
      }
    }
    // Nothing unknown is left, and a second repair has nothing to do.
    const after = await pruneNow(p, s2);
    expect(after['us-east-1']).toMatchObject({ rootsUnknown: 0, manifestsDeleted: 0 });
    expect(after['us-east-1']?.warning).toBeUndefined();
    expect((await repairCatalog(p.deps)).recreate).toEqual([]);
  });

  it('keeps the root of a committed run the restored table forgot when the snapshot runs again and commits another root', async () => {
    // Prepare: S1 committed; S2 starts and the table is backed up while it is RUNNING; S2 commits
    // root R1 (holding 'alpha, second version'), is copied and verified.
    await snapshotNow(p); // S1
    const { snapshotId: s2 } = await startSnapshotNow(p.deps, 'photos');
    const tableWhileRunning = p.catalog.exportState();
    const planTasks = p.queue.drain();
    await putText(p, 'a.txt', 'alpha, second version');
    for (const task of planTasks) await p.run(task);
    await p.drain();
    p.clock.advance(2 * HOUR);
    const r1 = (await p.catalog.getSnapshot('photos', s2))?.manifestId as string;
    expect(r1).toBeDefined();
    const r1Docs = await documentsOf(p, p.primary, r1);

    // Act: the table is restored to while S2 ran; the source changes; S2 runs again (the reaper
    // re-drives its task) and commits root R2; garbage collection runs twice past the grace period.
    p.catalog.importState(tableWhileRunning);
    expect((await p.catalog.getSnapshot('photos', s2))?.status).toBe('RUNNING');
    await putText(p, 'a.txt', 'alpha, third version');
    for (const task of planTasks) await p.run(task);
    await p.drain();
    p.clock.advance(2 * HOUR);
    const r2 = (await p.catalog.getSnapshot('photos', s2))?.manifestId as string;
    expect(r2).not.toBe(r1);
    const first = await pruneNow(p, s2);
    p.clock.advance(2 * HOUR);
    const second = await pruneNow(p, s2);

    // Assess: R1 was committed, and what only it holds ('alpha, second version') is kept with it: it
    // is not the losing root of two sealers of one run, which names nothing the winner does not.
    for (const key of [r1Docs.manifestKey, ...r1Docs.partKeys, ...r1Docs.packKeys])
      expect(p.primary.objects.has(key), key).toBe(true);
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    expect(index.locate(contentIdOf('alpha, second version'))).toBeDefined();
    for (const gc of [first, second])
      expect(gc['us-east-1']).toMatchObject({ manifestsDeleted: 0, rootsUnknown: 1 });
  });
});

describe('repairCatalog', () => {
  let p: MemoryPipeline;
  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 10 } })]);
    await putText(p, 'a.txt', 'alpha');
  });

  it('leaves known records alone, copies a recovered snapshot a copy region lacks, and skips what it cannot read', async () => {
    // Prepare: S1 and S2 commit; S2's record is lost; the copy region lost S2's root; a foreign plan's root.
    const s1 = await snapshotNow(p);
    await putText(p, 'a.txt', 'alpha 2');
    const s2 = await snapshotNow(p);
    const s1Record = await p.catalog.getSnapshot('photos', s1);
    const manifestId = (await p.catalog.getSnapshot('photos', s2))?.manifestId as string;
    p.catalog.snapshots.delete(`photos/${s2}`);
    p.catalog.jobs.delete(`photos/${s2}`);
    await p.copy.delete([VaultLayout.manifestKey('photos', manifestId)]);
    await p.primary.put(VaultLayout.manifestKey('gone', contentIdOf('x')), Buffer.from('x'));
    await p.primary.put(VaultLayout.manifestKey('photos', contentIdOf('y')), Buffer.from('not a root'));

    // Act
    const result = await repairCatalog(p.deps);

    // Assess
    expect(result.recreated).toEqual([`photos/${s2}`]);
    expect(await p.catalog.getSnapshot('photos', s1)).toEqual(s1Record);
    expect((await p.catalog.getSnapshot('photos', s2))?.regions).toEqual({
      'eu-west-1': { status: 'PENDING' },
    });
    expect(result.enqueued).toEqual([
      { kind: 'copy', planId: 'photos', snapshotId: s2, region: 'eu-west-1' },
    ]);
    expect(result.skipped.map((k) => k.reason)).toEqual([
      expect.stringMatching(/^plan 'gone' is not in the catalog/),
      expect.stringMatching(/^unreadable in us-east-1: IntegrityError/),
    ]);
    await p.drain();
    const copied = await p.catalog.getSnapshot('photos', s2);
    expect(copied?.regions?.['eu-west-1']?.status).toBe('COPIED');
    expect(copied?.verification?.status).toBe('PASSED');
    expect(p.copy.objects.has(VaultLayout.manifestKey('photos', manifestId))).toBe(true);
  });

  it('is the CLI’s `strongbox repair catalog [--dry-run]`', () => {
    const repair = buildCli().commands.find((c) => c.name() === 'repair');
    const catalog = repair?.commands.find((c) => c.name() === 'catalog');
    expect(catalog?.options.map((o) => o.long)).toEqual(['--dry-run']);
  });

  it('does not bring back a snapshot forgotten earlier (its job remains) whose root reappeared', async () => {
    const s1 = await snapshotNow(p);
    p.catalog.snapshots.delete(`photos/${s1}`); // its tombstone was deleted; the job stays
    const result = await repairCatalog(p.deps);
    expect(result.recreated).toEqual([]);
    expect(result.skipped.map((k) => k.reason)).toEqual([
      expect.stringMatching(/job photos\/.* exists: the snapshot was forgotten earlier/),
    ]);
    expect(await p.catalog.getSnapshot('photos', s1)).toBeUndefined();
  });
});
