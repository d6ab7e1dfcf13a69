// Garbage collection on format v2, on vaults built directly with the repository's writers (no
// snapshot task): what prune deletes, what it keeps, and in which order.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  MemoryCatalog,
  MemoryObjectStore,
  MemoryTaskQueue,
  MemoryVaultStore,
  memoryKeyProvider,
} from '#adapters/memory.ts';
import { Envelope } from '#domain/envelope.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { PlanRecord } from '#domain/ports.ts';
import { prunePlan } from '#domain/prune.ts';
import {
  PackWriter,
  readAllEntries,
  readIndex,
  readManifest,
  VaultIndex,
  writeIndex,
  writeManifest,
  writePart,
} from '#domain/repository.ts';
import {
  type ContentId,
  contentIdOf,
  type ManifestEntry,
  type PartRef,
  snapshotIdFor,
  VAULT_FORMAT_VERSION,
  VaultLayout,
} from '#domain/vault.ts';

const HOUR = 3600_000;

interface Harness {
  clock: ManualClock;
  catalog: MemoryCatalog;
  primary: MemoryVaultStore;
  copy: MemoryVaultStore;
  deps: PipelineDeps;
}

function harness(): Harness {
  const clock = new ManualClock('2026-03-01T00:00:00Z');
  const catalog = new MemoryCatalog();
  const primary = new MemoryVaultStore('us-east-1', 'vault-use1', clock);
  const copy = new MemoryVaultStore('eu-west-1', 'vault-euw1', clock);
  const deps: PipelineDeps = {
    catalog,
    queue: new MemoryTaskQueue(),
    clock,
    envelope: new Envelope(memoryKeyProvider()),
    vaults: { primary, copies: new Map([['eu-west-1', copy]]) },
    objects: new MemoryObjectStore(clock),
    concurrency: 4,
    gcGraceSeconds: 3600,
  };
  return { clock, catalog, primary, copy, deps };
}

function plan(overrides: Partial<PlanRecord> = {}): PlanRecord {
  return {
    id: 'photos',
    source: { bucket: 'source', prefix: '' },
    schedule: 'rate(1 hour)',
    retention: { keepLast: 2 },
    copyRegions: ['eu-west-1'],
    verification: { samplePercent: 0 },
    enabled: true,
    createdAt: '2026-03-01T00:00:00.000Z',
    updatedAt: '2026-03-01T00:00:00.000Z',
    ...overrides,
  };
}

const blob = (text: string): ContentId => contentIdOf(text);

/**
 * Store a snapshot of `files` the way the snapshot task does (packs → index → parts → root), then
 * commit it (or leave it RUNNING, without a root). Blobs the vault's index locates are not stored
 * again; parts equal to the parent's are not written again. `partSize` entries per part; `packBytes`
 * the pack target (1: one blob per pack). A committed snapshot moves the clock two hours on.
 */
async function snapshot(
  h: Harness,
  files: Record<string, string>,
  options: { planId?: string; partSize?: number; packBytes?: number; running?: boolean } = {},
): Promise<{ snapshotId: string; manifestId?: ContentId; parts: PartRef[] }> {
  const { deps, primary, catalog, clock } = h;
  const planId = options.planId ?? 'photos';
  const snapshotId = snapshotIdFor(clock.now());
  const scheduledAt = clock.now().toISOString();
  await catalog.createJob(
    {
      jobId: `${planId}/${snapshotId}`,
      planId,
      snapshotId,
      status: 'RUNNING',
      createdAt: scheduledAt,
      updatedAt: scheduledAt,
    },
    { planId, snapshotId, status: 'RUNNING', scheduledAt },
  );
  const index = await VaultIndex.load(primary, deps.envelope);
  const writer = new PackWriter(primary, deps.envelope, { targetBytes: options.packBytes ?? 1024 * 1024 });
  const entries: ManifestEntry[] = [];
  for (const key of Object.keys(files).sort()) {
    const text = files[key] as string;
    const blobId = blob(text);
    if (!index.locate(blobId)) await writer.add(blobId, Buffer.from(text));
    entries.push({
      key,
      sizeBytes: Buffer.byteLength(text),
      etag: blobId.slice(0, 32),
      lastModified: '2026-02-01T00:00:00.000Z',
      blobs: [blobId],
    });
  }
  await writeIndex(primary, deps.envelope, await writer.flush());
  const parent = (await catalog.listSnapshots(planId)).filter((s) => s.status === 'COMMITTED').at(-1);
  const known = new Set<ContentId>();
  if (parent?.manifestId) {
    for (const ref of (await readManifest(primary, deps.envelope, planId, parent.manifestId)).parts)
      known.add(ref.partId);
  }
  const partSize = options.partSize ?? 1000;
  const parts: PartRef[] = [];
  for (let i = 0; i < entries.length; i += partSize) {
    parts.push((await writePart(primary, deps.envelope, planId, entries.slice(i, i + partSize), known)).ref);
  }
  if (options.running) return { snapshotId, parts }; // still writing: the clock stays
  const time = clock.now().toISOString();
  const { manifestId } = await writeManifest(primary, deps.envelope, {
    version: VAULT_FORMAT_VERSION,
    type: 'manifest',
    planId,
    snapshotId,
    parentSnapshotId: parent?.snapshotId ?? null,
    source: { bucket: 'source', prefix: '' },
    scheduledAt: time,
    time,
    completedAt: time,
    totals: { objectCount: entries.length, logicalBytes: entries.reduce((s, e) => s + e.sizeBytes, 0) },
    parts,
  });
  await catalog.updateSnapshot(
    planId,
    snapshotId,
    {
      status: 'COMMITTED',
      manifestId,
      time,
      committedAt: time,
      parentSnapshotId: parent?.snapshotId ?? null,
    },
    ['RUNNING'],
  );
  clock.advance(2 * HOUR);
  return { snapshotId, manifestId, parts };
}

const prune = (h: Harness, snapshotId: string, planId = 'photos') =>
  prunePlan(h.deps, { kind: 'prune', planId, snapshotId });

const keysUnder = (vault: MemoryVaultStore, prefix: string) =>
  [...vault.objects.keys()].filter((k) => k.startsWith(prefix));

/** Every blob id the packs of a vault hold, by its index documents. */
async function indexedBlobs(vault: MemoryVaultStore, envelope: Envelope): Promise<Set<ContentId>> {
  const index = await VaultIndex.load(vault, envelope);
  return new Set([...index.packs.values()].flatMap((p) => p.blobs.map((b) => b.blobId)));
}

/** Problems of a vault's index: packs an index names that the vault lacks. */
async function danglingPacks(vault: MemoryVaultStore, envelope: Envelope): Promise<ContentId[]> {
  const index = await VaultIndex.load(vault, envelope);
  return [...index.packs.keys()].filter((id) => !vault.objects.has(VaultLayout.packKey(id)));
}

/** Copy every document of the primary to the copy vault, byte for byte (what a copy task yields). */
function mirror(h: Harness): void {
  for (const [key, o] of h.primary.objects) {
    if (!h.copy.objects.has(key)) void h.copy.put(key, o.body);
  }
}

describe('prune: garbage collection on format v2', () => {
  let h: Harness;
  beforeEach(async () => {
    h = harness();
    await h.catalog.putPlans([plan()]);
  });

  it('deletes what forgotten snapshots alone needed, once older than the grace period, and keeps every live snapshot whole', async () => {
    // Prepare: a and b never change (their part is shared); c changes every time; d arrives in S2.
    const base = { 'a.txt': 'alpha', 'b.txt': 'bravo' };
    const s1 = await snapshot(h, { ...base, 'c.txt': 'one' }, { partSize: 2 });
    const s2 = await snapshot(
      h,
      { ...base, 'c.txt': 'two', 'd.txt': 'delta' },
      { partSize: 2, packBytes: 1 },
    );
    const s3 = await snapshot(h, { ...base, 'c.txt': 'three', 'd.txt': 'delta' }, { partSize: 2 });
    expect(s2.parts[0]?.partId).toBe(s1.parts[0]?.partId); // the unchanged part is shared
    // Act: keepLast 2 forgets S1
    const first = await prune(h, s3.snapshotId);
    // Assess: 'one' shares its pack with alpha and bravo: the pack stays, partly unused
    expect(first.forgotten).toEqual([s1.snapshotId]);
    const gc1 = first.gc['us-east-1'];
    expect(gc1).toMatchObject({
      manifestsDeleted: 1,
      partsDeleted: 1, // S1's [c.txt] part; [a, b] is shared with S2 and S3
      packsDeleted: 0,
      indexesDeleted: 0,
      indexesRewritten: 0,
      packsPartlyUnused: 1,
    });
    expect(gc1?.deferred).toBeUndefined();
    expect(gc1?.unusedBytesInLivePacks).toBeGreaterThan(0);
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(false);
    expect(h.primary.objects.has(VaultLayout.partKey('photos', s1.parts[0]?.partId as string))).toBe(true);
    expect(await h.catalog.getSnapshot('photos', s1.snapshotId)).toBeUndefined();

    // Act: S4 makes keepLast 2 forget S2, whose index names two packs: 'two' (dead) and 'delta' (live)
    const s4 = await snapshot(h, { ...base, 'c.txt': 'four', 'd.txt': 'delta' }, { partSize: 2 });
    const indexesBefore = keysUnder(h.primary, 'index/');
    const second = await prune(h, s4.snapshotId);
    // Assess
    expect(second.forgotten).toEqual([s2.snapshotId]);
    expect(second.gc['us-east-1']).toMatchObject({
      manifestsDeleted: 1,
      partsDeleted: 1,
      packsDeleted: 1,
      orphanPacksDeleted: 0,
      blobsDeleted: 1,
      indexesRewritten: 1,
      indexesDeleted: 0,
    });
    const blobs = await indexedBlobs(h.primary, h.deps.envelope);
    expect(blobs.has(blob('two'))).toBe(false);
    expect(blobs.has(blob('delta'))).toBe(true);
    expect(blobs.has(blob('one'))).toBe(true); // in the partly used pack
    expect(await danglingPacks(h.primary, h.deps.envelope)).toEqual([]);
    const indexesAfter = keysUnder(h.primary, 'index/');
    expect(indexesAfter).toHaveLength(indexesBefore.length);
    expect(indexesAfter).not.toEqual(indexesBefore);
    // Every live snapshot still reads whole, from a fresh index.
    const index = await VaultIndex.load(h.primary, h.deps.envelope);
    for (const s of [s3, s4]) {
      const root = await readManifest(h.primary, h.deps.envelope, 'photos', s.manifestId as string);
      for (const e of await readAllEntries(h.primary, h.deps.envelope, root)) {
        for (const id of e.blobs) expect(index.locate(id), e.key).toBeDefined();
      }
    }
  });

  it('deletes an index document all of whose packs are gone', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    await snapshot(h, { 'a.txt': 'two' });
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    const result = await prune(h, s3.snapshotId);
    expect(result.forgotten).toEqual([s1.snapshotId]);
    expect(result.gc['us-east-1']).toMatchObject({ packsDeleted: 1, indexesDeleted: 1, indexesRewritten: 0 });
    expect(keysUnder(h.primary, 'index/')).toHaveLength(2);
    expect(keysUnder(h.primary, 'packs/')).toHaveLength(2);
    expect(await danglingPacks(h.primary, h.deps.envelope)).toEqual([]);
  });

  it('leaves documents younger than the grace period, and deletes them in a later run', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    await snapshot(h, { 'a.txt': 'two' });
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    // S1's documents are 6 h old now: younger than a 7 h grace period.
    h.deps.gcGraceSeconds = 7 * 3600;
    const young = await prune(h, s3.snapshotId);
    expect(young.forgotten).toEqual([s1.snapshotId]);
    expect(young.gc['us-east-1']).toMatchObject({ manifestsDeleted: 0, partsDeleted: 0, packsDeleted: 0 });
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(true);
    expect((await indexedBlobs(h.primary, h.deps.envelope)).has(blob('one'))).toBe(true);
    // The record is gone: the root is now a stray, which a later run deletes once old enough.
    expect(await h.catalog.getSnapshot('photos', s1.snapshotId)).toBeUndefined();
    h.clock.advance(2 * HOUR);
    const later = await prune(h, s3.snapshotId);
    expect(later.gc['us-east-1']).toMatchObject({ manifestsDeleted: 1, partsDeleted: 1, packsDeleted: 1 });
    expect((await indexedBlobs(h.primary, h.deps.envelope)).has(blob('one'))).toBe(false);
  });

  it('deletes packs no index names (a crashed task’s) once older than the grace period', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'alpha' });
    const writer = new PackWriter(h.primary, h.deps.envelope);
    await writer.add(blob('orphan'), Buffer.from('orphan'));
    const [orphan] = await writer.flush(); // no index: the task crashed here
    const orphanKey = VaultLayout.packKey(orphan?.packId as string);
    const young = await prune(h, s1.snapshotId);
    expect(young.gc['us-east-1']).toMatchObject({ packsDeleted: 0, orphanPacksDeleted: 0 });
    expect(h.primary.objects.has(orphanKey)).toBe(true);
    h.clock.advance(2 * HOUR);
    const old = await prune(h, s1.snapshotId);
    expect(old.gc['us-east-1']).toMatchObject({ packsDeleted: 1, orphanPacksDeleted: 1, blobsDeleted: 0 });
    expect(h.primary.objects.has(orphanKey)).toBe(false);
    expect(keysUnder(h.primary, 'packs/')).toHaveLength(1); // alpha's
  });

  it('defers deleting packs and index documents while a snapshot is running, but still deletes roots and parts', async () => {
    // keepLast 1 among the candidates: S3 is protected as the running snapshot's parent.
    await h.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    await snapshot(h, { 'a.txt': 'two' });
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    const running = await snapshot(h, { 'a.txt': 'four' }, { running: true });
    const packsBefore = keysUnder(h.primary, 'packs/');
    const indexesBefore = keysUnder(h.primary, 'index/');
    const result = await prune(h, s3.snapshotId);
    expect(result.forgotten).toEqual([s1.snapshotId]);
    expect(result.gc['us-east-1']).toMatchObject({
      deferred: `snapshot photos/${running.snapshotId} is running`,
      manifestsDeleted: 1,
      partsDeleted: 1,
      packsDeleted: 0,
      indexesDeleted: 0,
    });
    expect(keysUnder(h.primary, 'packs/')).toEqual(packsBefore);
    expect(keysUnder(h.primary, 'index/')).toEqual(indexesBefore);
    // The running snapshot's own part is younger than the grace period.
    expect(h.primary.objects.has(VaultLayout.partKey('photos', running.parts[0]?.partId as string))).toBe(
      true,
    );
    const task = await h.catalog.listTasks(`photos/${s3.snapshotId}`);
    expect(task[0]?.result?.deferred).toMatch(/is running/);
  });

  it('keeps the parts a running snapshot’s finished partitions wrote', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const running = await snapshot(h, { 'a.txt': 'two', 'b.txt': 'bravo' }, { running: true });
    await h.catalog.completePartition('photos', running.snapshotId, {
      partition: 0,
      parts: running.parts,
      objectCount: 2,
      logicalBytes: 8,
      objectsRead: 2,
      blobsWritten: 2,
      packsWritten: 1,
      storedBytesWritten: 100,
      objectsVanished: 0,
      invocations: 1,
      seconds: 1,
      doneAt: h.clock.now().toISOString(),
    });
    h.clock.advance(4 * HOUR);
    const result = await prune(h, s1.snapshotId);
    expect(result.gc['us-east-1']?.partsDeleted).toBe(0);
    expect(h.primary.objects.has(VaultLayout.partKey('photos', running.parts[0]?.partId as string))).toBe(
      true,
    );
  });

  it('keeps a blob another plan’s committed snapshot references', async () => {
    await h.catalog.putPlans([plan({ id: 'docs', retention: { keepLast: 5 } })]);
    const s1 = await snapshot(h, { 'a.txt': 'shared', 'b.txt': 'mine' }, { packBytes: 1 });
    await snapshot(h, { 'x.txt': 'shared' }, { planId: 'docs' }); // found in the index: not stored again
    await snapshot(h, { 'a.txt': 'two' });
    const s4 = await snapshot(h, { 'a.txt': 'three' });
    const result = await prune(h, s4.snapshotId);
    expect(result.forgotten).toEqual([s1.snapshotId]);
    expect(result.gc['us-east-1']).toMatchObject({ packsDeleted: 1, blobsDeleted: 1 });
    const blobs = await indexedBlobs(h.primary, h.deps.envelope);
    expect(blobs.has(blob('shared'))).toBe(true);
    expect(blobs.has(blob('mine'))).toBe(false);
  });

  it('reads each live manifest part once, however many snapshots share it', async () => {
    const base = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, `v${i}`]));
    let last = '';
    for (const v of ['one', 'two', 'three', 'four']) {
      last = (await snapshot(h, { ...base, zz: v }, { partSize: 3 })).snapshotId;
    }
    await h.catalog.putPlans([plan({ retention: { keepLast: 10 } })]);
    const reads = new Map<string, number>();
    const get = h.primary.get.bind(h.primary);
    h.primary.get = async (key: string) => {
      if (key.startsWith('parts/')) reads.set(key, (reads.get(key) ?? 0) + 1);
      return get(key);
    };
    await prune(h, last);
    expect(reads.size).toBe(2 + 4); // two shared parts, one [zz] part per snapshot
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
  });

  it('collects each copy vault on its own', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    mirror(h);
    await snapshot(h, { 'a.txt': 'two' });
    mirror(h);
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    mirror(h);
    h.clock.advance(2 * HOUR);
    const result = await prune(h, s3.snapshotId);
    expect(result.forgotten).toEqual([s1.snapshotId]);
    for (const region of ['us-east-1', 'eu-west-1']) {
      expect(result.gc[region], region).toMatchObject({
        manifestsDeleted: 1,
        partsDeleted: 1,
        packsDeleted: 1,
      });
    }
    expect((await indexedBlobs(h.copy, h.deps.envelope)).has(blob('one'))).toBe(false);
    expect(await danglingPacks(h.copy, h.deps.envelope)).toEqual([]);
  });

  it('never leaves an index naming a deleted pack when it crashes mid-way; the rerun finishes', async () => {
    await snapshot(h, { 'a.txt': 'one', 'b.txt': 'bravo' }, { packBytes: 1 });
    await snapshot(h, { 'a.txt': 'two', 'b.txt': 'bravo' });
    const s3 = await snapshot(h, { 'a.txt': 'three', 'b.txt': 'bravo' });
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    h.primary.faults.push({ op: 'delete', prefix: 'packs/', onCall: 1 });
    await expect(prune(h, s3.snapshotId)).rejects.toThrow(/injected delete fault/);
    // The index was rewritten before the packs went: the dead pack is now an orphan.
    expect(await danglingPacks(h.primary, h.deps.envelope)).toEqual([]);
    expect(keysUnder(h.primary, 'packs/')).toHaveLength(4);
    const rerun = await prune(h, s3.snapshotId);
    expect(rerun.gc['us-east-1']).toMatchObject({ packsDeleted: 1, orphanPacksDeleted: 1 });
    expect(keysUnder(h.primary, 'packs/')).toHaveLength(3);
    expect((await indexedBlobs(h.primary, h.deps.envelope)).has(blob('bravo'))).toBe(true);
  });

  it('deletes nothing but roots when a live root cannot be read', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two' });
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    h.primary.objects.delete(VaultLayout.manifestKey('photos', s2.manifestId as string));
    const result = await prune(h, s3.snapshotId);
    expect(result.forgotten).toEqual([s1.snapshotId]);
    expect(result.gc['us-east-1']?.deferred).toMatch(/manifest of photos\/.* is unreadable/);
    expect(result.gc['us-east-1']).toMatchObject({ manifestsDeleted: 1, partsDeleted: 0, packsDeleted: 0 });
  });

  it('an index rewritten by GC opens and names only remaining packs', async () => {
    await snapshot(h, { 'a.txt': 'one', 'b.txt': 'bravo' }, { packBytes: 1 });
    await snapshot(h, { 'a.txt': 'two', 'b.txt': 'bravo' });
    const s3 = await snapshot(h, { 'a.txt': 'three', 'b.txt': 'bravo' });
    await prune(h, s3.snapshotId);
    for (const key of keysUnder(h.primary, 'index/')) {
      const doc = await readIndex(h.primary, h.deps.envelope, VaultLayout.indexIdOf(key) as string);
      for (const p of doc.packs) expect(h.primary.objects.has(VaultLayout.packKey(p.packId))).toBe(true);
    }
  });
});
