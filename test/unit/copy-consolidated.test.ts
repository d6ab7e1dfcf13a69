// A copy region consolidates its small packs on its own (docs/format.md#garbage-collection, step 6):
// it then holds the blobs of the primary's small packs in a pack the primary never had. A later copy
// must find them there, not copy the primary's packs again (twice the storage, and a swept pack
// brought back to be swept again).
import { describe, expect, it } from 'vitest';
import type { CopyResult } from '#domain/copy.ts';
import type { PruneResult } from '#domain/prune.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { writeIndex } from '#domain/repository/write.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { Task } from '#domain/tasks.ts';
import { contentIdOf, type IndexedPack, VaultLayout } from '#domain/vault.ts';
import { checkRestores, type SourceModel } from '../support/gc-model.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const GRACE_SECONDS = 3600;
const REGION = 'eu-west-1';

/** Snapshot the source as it is now, run its copy, and return the copy's result; the rest is dropped. */
async function snapshotAndCopy(p: MemoryPipeline, model: SourceModel, source: Map<string, string>) {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  model.set(`photos/${snapshotId}`, new Map(source));
  let copied: CopyResult | undefined;
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
    for (const task of tasks) {
      if (task.kind === 'snapshot-plan' || task.kind === 'snapshot-partition') await p.run(task);
      else if (task.kind === 'copy') copied = (await p.run(task)) as CopyResult;
    }
  }
  p.clock.advance(60_000);
  return { snapshotId, copied: copied as CopyResult };
}

const packsIn = (vault: MemoryPipeline['copy']) =>
  [...vault.objects.keys()].filter((k) => k.startsWith(VaultLayout.packsPrefix));

describe('a copy into a region that consolidated its small packs', () => {
  it('copies only the packs of blobs the region does not hold, and every snapshot restores there', async () => {
    const p = memoryPipeline();
    p.deps.gcGraceSeconds = GRACE_SECONDS;
    p.deps.gcConsolidateMinPacks = 3;
    await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, verification: { samplePercent: 0 } })]);
    const model: SourceModel = new Map();
    const source = new Map<string, string>();
    // Four snapshots, a new file each: four small packs in the primary, copied to the region.
    let last = '';
    for (const name of ['a', 'b', 'c', 'd']) {
      source.set(`${name}.txt`, `${name} is small`.repeat(10));
      await putText(p, `${name}.txt`, source.get(`${name}.txt`) as string);
      last = (await snapshotAndCopy(p, model, source)).snapshotId;
    }
    const primaryPacks = packsIn(p.primary);
    expect(primaryPacks).toHaveLength(4);
    expect(packsIn(p.copy).sort()).toEqual([...primaryPacks].sort());

    // The region's GC consolidates them (the primary's has not run), and sweeps them after the grace period.
    p.clock.advance((GRACE_SECONDS + 1) * 1000);
    const gc = (snapshotId: string) =>
      p.run({ kind: 'gc', planId: 'photos', snapshotId, region: REGION } as Task) as Promise<PruneResult>;
    expect((await gc(last)).gc[REGION]).toMatchObject({ packsConsolidated: 4, packsMarked: 4 });
    p.clock.advance((GRACE_SECONDS + 1) * 1000);
    expect((await gc(last)).gc[REGION]).toMatchObject({ packsDeleted: 4 });
    const regionPacks = packsIn(p.copy);
    expect(regionPacks).toHaveLength(1);
    expect(primaryPacks).not.toContain(regionPacks[0]);

    // A new snapshot references the four blobs (still in the primary's small packs) and a new one.
    source.set('e.txt', 'e is new');
    await putText(p, 'e.txt', 'e is new');
    const { copied } = await snapshotAndCopy(p, model, source);
    expect(copied).toMatchObject({ status: 'COPIED', packsCopied: 1 });
    expect(packsIn(p.copy)).toHaveLength(2);
    for (const swept of primaryPacks) expect(packsIn(p.copy)).not.toContain(swept);

    const { problems, checked } = await checkRestores(
      p.catalog,
      p.deps.vaults,
      p.deps.envelope,
      ['photos'],
      model,
    );
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(5 * 2); // every snapshot, in both regions
  });

  it('indexes in the region every blob it relies on in a pack the primary is repacking (a shrunk entry beside the full one)', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, verification: { samplePercent: 0 } })]);
    const model: SourceModel = new Map();
    const source = new Map([
      ['a.txt', 'a lives in the pack'],
      ['b.txt', 'b lives there too'],
    ]);
    for (const [key, text] of source) await putText(p, key, text);
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    model.set(`photos/${snapshotId}`, new Map(source));
    const tasks: Task[] = [];
    for (let next = p.queue.drain(); next.length > 0; next = p.queue.drain())
      for (const task of next) {
        if (task.kind === 'snapshot-plan' || task.kind === 'snapshot-partition') await p.run(task);
        else if (task.kind === 'copy') tasks.push(task);
      }
    const [packKey] = packsIn(p.primary);
    const packId = VaultLayout.packIdOf(packKey as string) as string;
    // The primary's GC writes the pack's shrunk entry in a new index document before it deletes the
    // old one (or crashed between the two): a copy loading the index then sees both. A few variants
    // of the new document, until the index's entry for the pack is the shrunk one.
    const full = (await VaultIndex.load(p.primary, p.deps.envelope)).pack(packId) as IndexedPack;
    expect(full.blobs).toHaveLength(2);
    let shrunk = false;
    for (let n = 0; n < 20 && !shrunk; n++) {
      const others = Array.from({ length: n }, (_, i) => ({
        ...full,
        packId: contentIdOf(`absent ${i}`),
        blobs: [],
      }));
      await writeIndex(p.primary, p.deps.envelope, [{ ...full, blobs: [] }, ...others]);
      const index = await VaultIndex.load(p.primary, p.deps.envelope);
      shrunk =
        index.pack(packId)?.blobs.length === 0 && index.locate(full.blobs[0]?.blobId as string) !== undefined;
    }
    expect(shrunk).toBe(true);

    const copied = (await p.run(tasks[0] as Task)) as CopyResult;
    expect(copied).toMatchObject({ status: 'COPIED', packsCopied: 1 });
    const region = await VaultIndex.load(p.copy, p.deps.envelope);
    for (const b of full.blobs) expect(region.locate(b.blobId)?.packId).toBe(packId);
    const { problems } = await checkRestores(p.catalog, p.deps.vaults, p.deps.envelope, ['photos'], model);
    expect(problems).toEqual([]);
  });
});
