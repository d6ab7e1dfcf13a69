// Garbage collection on format v2, on vaults built directly with the repository's writers (no
// snapshot task): what prune deletes, what it keeps, and in which order.
import { beforeEach, describe, expect, it } from 'vitest';
import { withRetry } from '#adapters/retrying.ts';
import { Envelope } from '#domain/envelope.ts';
import { PartBlobCache } from '#domain/gc/part-cache.ts';
import { INDEX_COMPACT_THRESHOLD } from '#domain/gc/plan.ts';
import { emptyGcResult } from '#domain/gc/result.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { type PruneResult, prunePlan } from '#domain/prune.ts';
import type { PlanRecord } from '#domain/records.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import {
  cachedIndexCount,
  readIndex,
  readManifest,
  retainCachedIndexes,
} from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { PackWriter, writeIndex, writeManifest, writePart } from '#domain/repository/write.ts';
import { type GcTask, taskIdOf } from '#domain/tasks.ts';
import {
  type ContentId,
  contentIdOf,
  type ManifestEntry,
  type PartRef,
  snapshotIdFor,
  VAULT_FORMAT_VERSION,
  VaultLayout,
} from '#domain/vault.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryObjectStore } from '../support/memory/object-store.ts';
import { MemoryTaskQueue } from '../support/memory/task-queue.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

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
    retry: withRetry,
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

/**
 * Retention, then the garbage-collection tasks it enqueued (one per region), as the queue would run
 * them. `force`: as `strongbox prune` asks (GC whatever `gcIntervalSeconds` says).
 */
async function prune(h: Harness, snapshotId: string, planId = 'photos', force = false): Promise<PruneResult> {
  const result = await prunePlan(h.deps, { kind: 'forget', planId, snapshotId, ...(force ? { force } : {}) });
  for (const task of (h.deps.queue as MemoryTaskQueue).drain()) {
    if (task.kind === 'gc') Object.assign(result.gc, (await prunePlan(h.deps, task)).gc);
  }
  return result;
}

/** Past the grace period (1 h), then another run: what the previous run marked is swept. */
async function afterGrace(h: Harness, snapshotId: string, planId = 'photos'): Promise<PruneResult> {
  h.clock.advance(HOUR + 1000);
  return prune(h, snapshotId, planId);
}

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
    h.deps.gcMaxUnusedPercent = 100; // no repacking here (see the repack test)
    // Act: keepLast 2 forgets S1
    const first = await prune(h, s3.snapshotId);
    // Assess: 'one' shares its pack with alpha and bravo: the pack stays, partly unused
    expect(first.forgotten).toEqual([s1.snapshotId]);
    const gc1 = first.gc['us-east-1'];
    expect(gc1).toMatchObject({
      manifestsDeleted: 1,
      partsDeleted: 1, // S1's [c.txt] part; [a, b] is shared with S2 and S3
      packsMarked: 0,
      packsDeleted: 0,
      indexesDeleted: 0,
      indexesRewritten: 0,
      packsPartlyUnused: 1,
    });
    expect(gc1?.deferred).toBeUndefined();
    expect(gc1?.unusedBytesInLivePacks).toBeGreaterThan(0);
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(false);
    expect(h.primary.objects.has(VaultLayout.partKey('photos', s1.parts[0]?.partId as string))).toBe(true);
    // The record stays as a tombstone for the grace period (a late copy's root would still be condemned).
    expect((await h.catalog.getSnapshot('photos', s1.snapshotId))?.status).toBe('FORGOTTEN');

    // Act: S4 makes keepLast 2 forget S2, whose index names two packs: 'two' (dead) and 'delta' (live)
    const s4 = await snapshot(h, { ...base, 'c.txt': 'four', 'd.txt': 'delta' }, { partSize: 2 });
    const indexesBefore = keysUnder(h.primary, 'index/');
    const second = await prune(h, s4.snapshotId);
    // Assess: the dead pack is only marked
    expect(second.forgotten).toEqual([s2.snapshotId]);
    expect(second.gc['us-east-1']).toMatchObject({
      manifestsDeleted: 1,
      partsDeleted: 1,
      packsMarked: 1,
      packsDeleted: 0,
      indexesRewritten: 0,
    });
    expect(await h.catalog.listGcMarks(h.primary.bucket)).toHaveLength(1);
    expect(keysUnder(h.primary, 'index/')).toEqual(indexesBefore);
    // Act: a run after the grace period sweeps it
    const third = await afterGrace(h, s4.snapshotId);
    expect(third.gc['us-east-1']).toMatchObject({
      packsMarked: 0,
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
    // A tombstone goes once its root is in no vault and it was forgotten over the grace period ago:
    // S1's in the second run, S2's in the third.
    expect(second.gc['us-east-1']?.tombstonesDeleted).toBe(1);
    expect(await h.catalog.getSnapshot('photos', s1.snapshotId)).toBeUndefined();
    expect(third.gc['us-east-1']?.tombstonesDeleted).toBe(1);
    expect(await h.catalog.getSnapshot('photos', s2.snapshotId)).toBeUndefined();
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
    expect(result.gc['us-east-1']).toMatchObject({ packsMarked: 1, packsDeleted: 0 });
    const swept = await afterGrace(h, s3.snapshotId);
    expect(swept.gc['us-east-1']).toMatchObject({ packsDeleted: 1, indexesDeleted: 1, indexesRewritten: 0 });
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
    // The record stays FORGOTTEN: the tombstone by which a later run deletes the root once old enough.
    expect((await h.catalog.getSnapshot('photos', s1.snapshotId))?.status).toBe('FORGOTTEN');
    // Its pack was marked in the first run (a mark does not wait for the pack's age).
    expect(young.gc['us-east-1']?.packsMarked).toBe(1);
    h.clock.advance(2 * HOUR);
    // Roots and parts go by their age; the pack waits until its MARK is older than the grace period.
    const later = await prune(h, s3.snapshotId);
    expect(later.gc['us-east-1']).toMatchObject({
      manifestsDeleted: 1,
      partsDeleted: 1,
      packsDeleted: 0,
      tombstonesDeleted: 0, // its root is in no vault now, but it was forgotten only 2 h ago
    });
    expect((await h.catalog.getSnapshot('photos', s1.snapshotId))?.status).toBe('FORGOTTEN');
    expect((await indexedBlobs(h.primary, h.deps.envelope)).has(blob('one'))).toBe(true);
    h.clock.advance(5 * HOUR);
    const last = await prune(h, s3.snapshotId);
    expect(last.gc['us-east-1']).toMatchObject({ packsDeleted: 1, blobsDeleted: 1, tombstonesDeleted: 1 });
    expect(await h.catalog.getSnapshot('photos', s1.snapshotId)).toBeUndefined();
    expect((await indexedBlobs(h.primary, h.deps.envelope)).has(blob('one'))).toBe(false);
  });

  it('deletes packs no index names (a crashed task’s) once older than the grace period', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'alpha' });
    const writer = new PackWriter(h.primary, h.deps.envelope);
    await writer.add(blob('orphan'), Buffer.from('orphan'));
    const [orphan] = await writer.flush(); // no index: the task crashed here
    const orphanKey = VaultLayout.packKey(orphan?.packId as string);
    const young = await prune(h, s1.snapshotId);
    expect(young.gc['us-east-1']).toMatchObject({ packsMarked: 1, packsDeleted: 0, orphanPacksDeleted: 0 });
    expect(h.primary.objects.has(orphanKey)).toBe(true);
    h.clock.advance(2 * HOUR);
    const old = await prune(h, s1.snapshotId);
    expect(old.gc['us-east-1']).toMatchObject({ packsDeleted: 1, orphanPacksDeleted: 1, blobsDeleted: 0 });
    expect(h.primary.objects.has(orphanKey)).toBe(false);
    expect(keysUnder(h.primary, 'packs/')).toHaveLength(1); // alpha's
  });

  it('no longer defers while a snapshot is running: dead packs are marked, then swept after the grace period', async () => {
    // keepLast 1 among the candidates: S3 is protected as the running snapshot's parent.
    await h.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    await snapshot(h, { 'a.txt': 'two' });
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    const running = await snapshot(h, { 'a.txt': 'four' }, { running: true });
    const result = await prune(h, s3.snapshotId);
    expect(result.forgotten).toEqual([s1.snapshotId]);
    // 'one' (forgotten) and 'four' (the running snapshot's, unreferenced until a partition finishes)
    expect(result.gc['us-east-1']).toMatchObject({ manifestsDeleted: 1, partsDeleted: 1, packsMarked: 2 });
    expect(result.gc['us-east-1']?.deferred).toBeUndefined();
    // The running snapshot finishes its partition within the grace period: its pack is rescued.
    await h.catalog.completePartition('photos', running.snapshotId, {
      partition: 0,
      parts: running.parts,
      objectCount: 1,
      logicalBytes: 4,
      objectsRead: 1,
      blobsWritten: 1,
      packsWritten: 1,
      storedBytesWritten: 100,
      objectsVanished: 0,
      invocations: 1,
      seconds: 1,
      doneAt: h.clock.now().toISOString(),
    });
    const swept = await afterGrace(h, s3.snapshotId);
    expect(swept.gc['us-east-1']).toMatchObject({ packsRescued: 1, packsDeleted: 1, blobsDeleted: 1 });
    const blobs = await indexedBlobs(h.primary, h.deps.envelope);
    expect(blobs.has(blob('one'))).toBe(false);
    expect(blobs.has(blob('four'))).toBe(true);
    expect(await h.catalog.listGcMarks(h.primary.bucket)).toEqual([]);
    const tasks = await h.catalog.listTasks(`photos/${s3.snapshotId}`);
    expect(tasks.map((t) => t.taskId).sort()).toEqual(['prune', 'prune:eu-west-1', 'prune:us-east-1']);
    expect(tasks.find((t) => t.taskId === 'prune:us-east-1')?.result).toMatchObject({ packsDeleted: 1 });
  });

  it('rescues a marked pack whose blob a snapshot references again before the sweep', async () => {
    await h.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two' });
    const first = await prune(h, s2.snapshotId);
    expect(first.forgotten).toEqual([s1.snapshotId]);
    expect(first.gc['us-east-1']?.packsMarked).toBe(1);
    const [mark] = await h.catalog.listGcMarks(h.primary.bucket);
    // A snapshot that loaded the index before the mark reuses 'one' (the write path of a partition
    // that started earlier): its parts name the blob of the marked pack.
    const index = await VaultIndex.load(h.primary, h.deps.envelope);
    expect(index.locate(blob('one'))?.packId).toBe(mark?.packId);
    const s3 = await snapshot(h, { 'a.txt': 'one' });
    const swept = await afterGrace(h, s3.snapshotId);
    expect(swept.gc['us-east-1']).toMatchObject({ packsRescued: 1, packsDeleted: 0, packsMarked: 1 }); // S2's 'two' is marked now
    expect(h.primary.objects.has(VaultLayout.packKey(mark?.packId as string))).toBe(true);
    expect((await h.catalog.listGcMarks(h.primary.bucket)).map((m) => m.packId)).not.toContain(mark?.packId);
    // Nothing marks it again while S3 lives: a later sweep keeps it.
    const later = await afterGrace(h, s3.snapshotId);
    expect(later.gc['us-east-1']).toMatchObject({ packsDeleted: 1, packsRescued: 0 });
    expect(h.primary.objects.has(VaultLayout.packKey(mark?.packId as string))).toBe(true);
  });

  it('leaves the read cache of index documents as it found it (a warm prune container keeps no index)', async () => {
    // Prepare: two snapshots, the older one forgotten; an empty read cache
    await h.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    await snapshot(h, { 'a.txt': 'alpha' });
    const s2 = await snapshot(h, { 'b.txt': 'bravo' });
    retainCachedIndexes(h.primary, new Set());
    // Act: a run that reads every index document, and one that rewrites them past the grace period
    const first = await prune(h, s2.snapshotId);
    await afterGrace(h, s2.snapshotId);
    // Assert
    expect(first.gc['us-east-1']?.packsMarked).toBeGreaterThan(0);
    expect(cachedIndexCount(h.primary)).toBe(0);
  });

  it('makes a snapshot index load leave out marked packs, so their blobs are stored again', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const packId = [...(await VaultIndex.load(h.primary, h.deps.envelope)).packs.keys()][0] as string;
    await h.catalog.putGcMarks(h.primary.bucket, [{ packId, markedAt: h.clock.now().toISOString() }]);
    const index = await VaultIndex.load(h.primary, h.deps.envelope, { exclude: new Set([packId]) });
    expect(index.locate(blob('one'))).toBeUndefined();
    expect(index.pack(packId)).toBeUndefined();
    expect(s1.snapshotId).toBeDefined();
  });

  it('repacks a pack whose unused bytes exceed gcMaxUnusedPercent; the old pack goes after the grace period', async () => {
    await h.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    const s1 = await snapshot(h, { 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'one' });
    const oldPack = [...(await VaultIndex.load(h.primary, h.deps.envelope)).packs.keys()][0] as string;
    const s2 = await snapshot(h, { 'a.txt': 'alpha', 'b.txt': 'bravo' });
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    const first = await prune(h, s2.snapshotId);
    expect(first.forgotten).toEqual([s1.snapshotId]);
    expect(first.gc['us-east-1']).toMatchObject({
      packsPartlyUnused: 1,
      packsRepacked: 1,
      packsMarked: 1,
      packsDeleted: 0,
      indexesRewritten: 1, // the old pack's entry now lists only its unreferenced blob
      indexesDeleted: 0,
    });
    expect(first.gc['us-east-1']?.bytesRepacked).toBeGreaterThan(0);
    const index = await VaultIndex.load(h.primary, h.deps.envelope);
    expect(index.pack(oldPack)?.blobs.map((b) => b.blobId)).toEqual([blob('one')]);
    for (const text of ['alpha', 'bravo']) {
      const where = index.locate(blob(text));
      expect(where?.packId).not.toBe(oldPack);
      expect(h.primary.objects.has(VaultLayout.packKey(where?.packId as string))).toBe(true);
    }
    expect(index.locate(blob('one'))?.packId).toBe(oldPack); // until the sweep
    expect(await h.catalog.listGcMarks(h.primary.bucket)).toEqual([
      { packId: oldPack, markedAt: h.clock.now().toISOString() },
    ]);
    const swept = await afterGrace(h, s2.snapshotId);
    expect(swept.gc['us-east-1']).toMatchObject({ packsDeleted: 1, orphanPacksDeleted: 0, packsRepacked: 0 });
    expect(h.primary.objects.has(VaultLayout.packKey(oldPack))).toBe(false);
    const root = await readManifest(h.primary, h.deps.envelope, 'photos', s2.manifestId as string);
    const fresh = await VaultIndex.load(h.primary, h.deps.envelope);
    for (const e of await readAllEntries(h.primary, h.deps.envelope, root))
      expect((await readEntryContent(h.primary, h.deps.envelope, fresh, e)).toString()).toBe(
        e.key === 'a.txt' ? 'alpha' : 'bravo',
      );
  });

  it('consolidates small live packs (a pack per captured upload) into one; the old ones go after the grace period', async () => {
    await h.catalog.putPlans([plan({ retention: { keepLast: 2 } })]);
    const files = { 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'charlie', 'd.txt': 'delta' };
    const s1 = await snapshot(h, files, { packBytes: 1 }); // one blob a pack, as capture stores them
    const small = keysUnder(h.primary, 'packs/');
    expect(small).toHaveLength(4);
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    h.deps.gcConsolidateMinPacks = 5;
    // Fewer small packs than gcConsolidateMinPacks: left alone.
    const none = await prune(h, s1.snapshotId);
    expect(none.gc['us-east-1']).toMatchObject({ packsRepacked: 0, packsConsolidated: 0, packsMarked: 0 });
    h.deps.gcConsolidateMinPacks = 3;
    // A run whose time runs low before its repack leaves the packs as they are, and says so.
    h.deps.remainingTimeMs = () => 1000;
    const late = await prune(h, s1.snapshotId);
    expect(late.gc['us-east-1']).toMatchObject({ packsRepacked: 0, packsRepackWaiting: 4, packsMarked: 0 });
    expect(keysUnder(h.primary, 'packs/')).toEqual(small);
    delete h.deps.remainingTimeMs;
    // A reader that loaded the index before the run still finds every blob afterwards.
    const before = await VaultIndex.load(h.primary, h.deps.envelope);
    const first = await prune(h, s1.snapshotId);
    expect(first.gc['us-east-1']).toMatchObject({
      packsRepacked: 4,
      packsConsolidated: 4,
      packsMarked: 4,
      packsDeleted: 0,
    });
    const merged = keysUnder(h.primary, 'packs/').filter((k) => !small.includes(k));
    expect(merged).toHaveLength(1);
    const index = await VaultIndex.load(h.primary, h.deps.envelope);
    for (const text of Object.values(files)) {
      expect(VaultLayout.packKey(index.locate(blob(text))?.packId as string)).toBe(merged[0]);
      expect(before.locate(blob(text))).toBeDefined();
    }
    const readAll = async () => {
      const root = await readManifest(h.primary, h.deps.envelope, 'photos', s1.manifestId as string);
      const fresh = await VaultIndex.load(h.primary, h.deps.envelope);
      const out: Record<string, string> = {};
      for (const e of await readAllEntries(h.primary, h.deps.envelope, root))
        out[e.key] = (await readEntryContent(h.primary, h.deps.envelope, fresh, e)).toString();
      return out;
    };
    expect(await readAll()).toEqual(files);
    // After the grace period the four small packs are swept; the consolidated one is not consolidated again.
    const swept = await afterGrace(h, s1.snapshotId);
    expect(swept.gc['us-east-1']).toMatchObject({ packsDeleted: 4, packsRepacked: 0, packsRescued: 0 });
    expect(keysUnder(h.primary, 'packs/')).toEqual(merged);
    expect(await readAll()).toEqual(files);
    const again = await afterGrace(h, s1.snapshotId);
    expect(again.gc['us-east-1']).toMatchObject({ packsRepacked: 0, packsMarked: 0, packsDeleted: 0 });
  });

  it('rescues a repacked pack when a snapshot that loaded the index before reuses its unreferenced blob', async () => {
    await h.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    await snapshot(h, { 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'one' });
    const oldPack = [...(await VaultIndex.load(h.primary, h.deps.envelope)).packs.keys()][0] as string;
    const s2 = await snapshot(h, { 'a.txt': 'alpha', 'b.txt': 'bravo' });
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    const repacked = await prune(h, s2.snapshotId);
    expect(repacked.gc['us-east-1']).toMatchObject({ packsRepacked: 1, packsMarked: 1 });
    // A partition that loaded the index BEFORE the repack found 'one' in the old pack and stored
    // nothing; its snapshot commits within the grace period and restores meanwhile.
    const s3 = await snapshot(h, { 'a.txt': 'alpha', 'c.txt': 'one' });
    expect(keysUnder(h.primary, 'packs/')).toHaveLength(2); // nothing new stored
    const index = await VaultIndex.load(h.primary, h.deps.envelope);
    expect(index.locate(blob('one'))?.packId).toBe(oldPack);
    // Act: the sweep finds the old pack marked for longer than the grace period, referenced again
    const swept = await afterGrace(h, s3.snapshotId);
    // Assess: rescued, not deleted
    expect(swept.gc['us-east-1']).toMatchObject({ packsRescued: 1, packsDeleted: 0 });
    expect(h.primary.objects.has(VaultLayout.packKey(oldPack))).toBe(true);
    expect((await VaultIndex.load(h.primary, h.deps.envelope)).locate(blob('one'))?.packId).toBe(oldPack);
    expect((await h.catalog.listGcMarks(h.primary.bucket)).map((m) => m.packId)).not.toContain(oldPack);
  });

  it('rescues and re-indexes a marked pack no index names when a live blob is nowhere else (a copy that crashed before its index)', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'alpha' });
    // The copy stored the pack in eu-west-1 and crashed before its index; the region is not COPIED.
    for (const [key, o] of h.primary.objects) if (key.startsWith('packs/')) await h.copy.put(key, o.body);
    const packId = VaultLayout.packIdOf(keysUnder(h.copy, 'packs/')[0] as string) as string;
    const first = await prune(h, s1.snapshotId);
    expect(first.gc['eu-west-1']).toMatchObject({ packsMarked: 1, packsDeleted: 0 });
    const swept = await afterGrace(h, s1.snapshotId);
    expect(swept.gc['eu-west-1']).toMatchObject({ packsRescued: 1, packsDeleted: 0 });
    const index = await VaultIndex.load(h.copy, h.deps.envelope);
    expect(index.locate(blob('alpha'))?.packId).toBe(packId);
    expect(index.pack(packId)?.stored).toEqual(await h.primary.checksum(VaultLayout.packKey(packId)));
    expect(await h.catalog.listGcMarks(h.copy.bucket)).toEqual([]);
  });

  it('keeps a pack Object Lock still retains, marked, and counts it', async () => {
    await h.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two' });
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    await prune(h, s2.snapshotId);
    const until = new Date(h.clock.now().getTime() + 30 * 24 * HOUR).toISOString();
    Object.assign(h.primary, { retainUntil: async () => until });
    const swept = await afterGrace(h, s2.snapshotId);
    expect(swept.gc['us-east-1']).toMatchObject({ packsLocked: 1, packsDeleted: 0, indexesRewritten: 0 });
    expect((await indexedBlobs(h.primary, h.deps.envelope)).has(blob('one'))).toBe(true);
    expect(await h.catalog.listGcMarks(h.primary.bucket)).toHaveLength(1);
  });

  it('collects only the vault its region names, and says so in the task id', async () => {
    expect(taskIdOf({ kind: 'gc', planId: 'photos', snapshotId: 'S', region: 'eu-west-1' })).toBe(
      'prune:eu-west-1',
    );
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const listed: string[] = [];
    for (const vault of [h.primary, h.copy]) {
      const list = vault.list.bind(vault);
      vault.list = (prefix: string) => {
        listed.push(`${vault.region}:${prefix}`);
        return list(prefix);
      };
    }
    const result = await prunePlan(h.deps, {
      kind: 'gc',
      planId: 'photos',
      snapshotId: s1.snapshotId,
      region: 'eu-west-1',
    });
    expect(Object.keys(result.gc)).toEqual(['eu-west-1']);
    expect(listed.every((l) => l.startsWith('eu-west-1:'))).toBe(true);
    expect(new Set(listed.map((l) => l.split(':')[1]))).toEqual(
      new Set(['index/', 'packs/', 'manifests/', 'parts/', 'gc/mark/']), // gc/mark/: the mark's checkpoint
    );
    // The retention task collects nothing itself: it enqueues one task per region.
    const retention = await prunePlan(h.deps, {
      kind: 'forget',
      planId: 'photos',
      snapshotId: s1.snapshotId,
    });
    expect(retention.gc).toEqual({});
    expect((h.deps.queue as MemoryTaskQueue).drain()).toEqual([
      { kind: 'gc', planId: 'photos', snapshotId: s1.snapshotId, region: 'us-east-1' },
      { kind: 'gc', planId: 'photos', snapshotId: s1.snapshotId, region: 'eu-west-1' },
    ]);
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
    expect(result.gc['us-east-1']).toMatchObject({ packsMarked: 1 });
    expect((await afterGrace(h, s4.snapshotId)).gc['us-east-1']).toMatchObject({
      packsDeleted: 1,
      blobsDeleted: 1,
    });
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
    // Once per region's garbage-collection task (two regions).
    expect([...reads.values()].every((n) => n === 2)).toBe(true);
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
        packsMarked: 1,
      });
    }
    const swept = await afterGrace(h, s3.snapshotId);
    for (const region of ['us-east-1', 'eu-west-1']) {
      expect(swept.gc[region], region).toMatchObject({ packsDeleted: 1 });
    }
    expect((await indexedBlobs(h.copy, h.deps.envelope)).has(blob('one'))).toBe(false);
    expect(await danglingPacks(h.copy, h.deps.envelope)).toEqual([]);
  });

  it('deletes a forgotten snapshot’s root through its tombstone, and the tombstone once no region holds the root', async () => {
    // Prepare: S1 copied to eu-west-1; keepLast 2 forgets it when S3 commits.
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    mirror(h);
    await snapshot(h, { 'a.txt': 'two' });
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    const root = VaultLayout.manifestKey('photos', s1.manifestId as string);
    await prunePlan(h.deps, { kind: 'forget', planId: 'photos', snapshotId: s3.snapshotId });
    (h.deps.queue as MemoryTaskQueue).drain();
    expect((await h.catalog.getSnapshot('photos', s1.snapshotId))?.status).toBe('FORGOTTEN');
    h.clock.advance(2 * HOUR); // the tombstone is older than the grace period
    const gcIn = async (region: string) =>
      (await prunePlan(h.deps, { kind: 'gc', planId: 'photos', snapshotId: s3.snapshotId, region })).gc[
        region
      ];

    // Act: the primary first: the copy region still holds the root, so the tombstone stays.
    const primary = await gcIn('us-east-1');
    // Assess
    expect(primary).toMatchObject({ manifestsDeleted: 1, tombstonesDeleted: 0, rootsUnknown: 0 });
    expect(h.primary.objects.has(root)).toBe(false);
    expect(h.copy.objects.has(root)).toBe(true);
    expect((await h.catalog.getSnapshot('photos', s1.snapshotId))?.status).toBe('FORGOTTEN');

    // Act: then the copy region: the root is gone from every vault, and so is the tombstone.
    const copy = await gcIn('eu-west-1');
    // Assess
    expect(copy).toMatchObject({ manifestsDeleted: 1, tombstonesDeleted: 1, rootsUnknown: 0 });
    expect(h.copy.objects.has(root)).toBe(false);
    expect(await h.catalog.getSnapshot('photos', s1.snapshotId)).toBeUndefined();
  });

  it('deletes the losing root of two sealers (its snapshot’s record names the other), and keeps the winner', async () => {
    // Prepare: a second sealer of S1 wrote its own root (another completedAt) and lost the commit.
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const winner = await readManifest(h.primary, h.deps.envelope, 'photos', s1.manifestId as string);
    const { manifestId: loser } = await writeManifest(h.primary, h.deps.envelope, {
      ...winner,
      completedAt: new Date(Date.parse(winner.completedAt) + 1000).toISOString(),
    });
    h.deps.vaults = { primary: h.primary, copies: new Map() };

    // Act: before, then after the grace period
    const young = await prune(h, s1.snapshotId);
    h.clock.advance(2 * HOUR);
    const old = await prune(h, s1.snapshotId);

    // Assess
    expect(young.gc['us-east-1']).toMatchObject({ manifestsDeleted: 0, rootsUnknown: 0 });
    expect(old.gc['us-east-1']).toMatchObject({ manifestsDeleted: 1, partsDeleted: 0, rootsUnknown: 0 });
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', loser))).toBe(false);
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(true);
  });

  it('keeps a root the catalog does not know, and one it cannot read, with their parts and packs', async () => {
    // Prepare: S2's record is lost (as after a PITR restore of the table); a stray root is unreadable.
    await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two', 'b.txt': 'bravo' }, { packBytes: 1 });
    h.catalog.snapshots.delete(`photos/${s2.snapshotId}`);
    const stray = VaultLayout.manifestKey('photos', contentIdOf('stray'));
    await h.primary.put(stray, Buffer.from('not a sealed root'));
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    const before = [...h.primary.objects.keys()].sort();

    // Act: two runs past the grace period
    h.clock.advance(2 * HOUR);
    await prune(h, s2.snapshotId);
    h.clock.advance(2 * HOUR);
    const result = await prune(h, s2.snapshotId);

    // Assess: nothing is deleted; both roots are reported; packs and parts wait for the unreadable one.
    expect(result.gc['us-east-1']).toMatchObject({
      manifestsDeleted: 0,
      partsDeleted: 0,
      packsDeleted: 0,
      rootsUnknown: 2,
    });
    expect(result.gc['us-east-1']?.warning).toMatch(/2 manifest root\(s\).*strongbox repair catalog/);
    expect(result.gc['us-east-1']?.deferred).toMatch(/manifest root .* is unreadable/);
    expect([...h.primary.objects.keys()].sort()).toEqual(before);
    // Without the unreadable one, the unknown snapshot's blobs are live: no pack of it is even marked.
    await h.primary.delete([stray]);
    const clean = await prune(h, s2.snapshotId);
    expect(clean.gc['us-east-1']).toMatchObject({ rootsUnknown: 1, partsDeleted: 0 });
    expect(clean.gc['us-east-1']?.deferred).toBeUndefined();
    const marked = new Set((await h.catalog.listGcMarks(h.primary.bucket)).map((m) => m.packId));
    const index = await VaultIndex.load(h.primary, h.deps.envelope);
    for (const text of ['two', 'bravo'])
      expect(marked.has(index.locate(blob(text))?.packId as string), text).toBe(false);
  });

  it('never leaves an index naming a deleted pack when it crashes mid-way; the rerun finishes', async () => {
    await snapshot(h, { 'a.txt': 'one', 'b.txt': 'bravo' }, { packBytes: 1 });
    await snapshot(h, { 'a.txt': 'two', 'b.txt': 'bravo' });
    const s3 = await snapshot(h, { 'a.txt': 'three', 'b.txt': 'bravo' });
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    await prune(h, s3.snapshotId); // marks
    h.primary.faults.push({ op: 'delete', prefix: 'packs/', onCall: 1 });
    await expect(afterGrace(h, s3.snapshotId)).rejects.toThrow(/injected delete fault/);
    // The index was rewritten before the packs went: the dead pack is now an orphan.
    expect(await danglingPacks(h.primary, h.deps.envelope)).toEqual([]);
    expect(keysUnder(h.primary, 'packs/')).toHaveLength(4);
    const rerun = await prune(h, s3.snapshotId);
    expect(rerun.gc['us-east-1']).toMatchObject({ packsDeleted: 1, orphanPacksDeleted: 1 });
    expect(await h.catalog.listGcMarks(h.primary.bucket)).toEqual([]);
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

describe('gcIntervalSeconds: a prune after a snapshot collects each vault at most once per interval', () => {
  let h: Harness;
  const last = (h: Harness) => h.catalog.lastGcCompletedAt(h.primary.bucket);
  beforeEach(async () => {
    h = harness();
    await h.catalog.putPlans([plan()]);
    h.deps.vaults = { primary: h.primary, copies: new Map() };
    h.deps.gcIntervalSeconds = 6 * 3600;
  });

  it('skips GC (and says why) within the interval of the last completed run; forget still runs; after it, GC runs', async () => {
    // Prepare: a completed run at S2 (nothing to collect yet)
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two' });
    const first = await prune(h, s2.snapshotId);
    expect(first.gc['us-east-1']?.deferred).toBeUndefined();
    const ranAt = h.clock.now().toISOString();
    expect(await last(h)).toBe(ranAt);
    const s3 = await snapshot(h, { 'a.txt': 'three' }); // 2 h later

    // Act: S3's prune, 2 h after the run
    const within = await prune(h, s3.snapshotId);

    // Assess: S1 forgotten, but its documents stay until a run is due
    expect(within.forgotten).toEqual([s1.snapshotId]);
    expect(within.gc['us-east-1']).toEqual({
      ...emptyGcResult(),
      deferred: `last GC ${ranAt} (< 6h ago; gcIntervalSeconds)`,
    });
    const task = (await h.catalog.listTasks(`photos/${s3.snapshotId}`)).find(
      (t) => t.taskId === 'prune:us-east-1',
    );
    expect(task?.status).toBe('SUCCEEDED');
    expect(task?.result?.deferred).toMatch(/^last GC .* \(< 6h ago/);
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(true);
    expect(await last(h)).toBe(ranAt);

    // 6 h after the run (the injected clock): it is due, and collects
    h.clock.advance(4 * HOUR);
    const due = await prune(h, s3.snapshotId);
    expect(due.gc['us-east-1']?.deferred).toBeUndefined();
    expect(due.gc['us-east-1']).toMatchObject({ manifestsDeleted: 1, packsMarked: 1 });
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(false);
    expect(await last(h)).toBe(h.clock.now().toISOString());
  });

  it('always collects when forced (strongbox prune), and the forget task passes force on to every gc task', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two' });
    await prune(h, s2.snapshotId);
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    await prunePlan(h.deps, { kind: 'forget', planId: 'photos', snapshotId: s3.snapshotId, force: true });
    const tasks = (h.deps.queue as MemoryTaskQueue).drain();
    expect(tasks).toEqual([
      { kind: 'gc', planId: 'photos', snapshotId: s3.snapshotId, region: 'us-east-1', force: true },
    ]);
    const forced = await prunePlan(h.deps, tasks[0] as GcTask);
    expect(forced.gc['us-east-1']?.deferred).toBeUndefined();
    expect(forced.gc['us-east-1']?.manifestsDeleted).toBe(1);
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(false);
    // A forced run counts as the last one too: an unforced prune right after it skips GC.
    expect(await last(h)).toBe(h.clock.now().toISOString());
    expect((await prune(h, s3.snapshotId)).gc['us-east-1']?.deferred).toMatch(/^last GC /);
    // Quarantine still pauses GC when forced.
    const now = h.clock.now().toISOString();
    await h.catalog.putQuarantine({ planId: 'photos', since: now, at: now, reason: 'test', by: 'operator' });
    expect((await prune(h, s3.snapshotId, 'photos', true)).gc['us-east-1']?.deferred).toMatch(/quarantine/);
  });

  it('does not count a failed run, nor one that deferred part of its work, as the last completed one', async () => {
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two' });
    await prune(h, s2.snapshotId);
    const ranAt = await last(h);
    expect(ranAt).toBeDefined();
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    h.clock.advance(6 * HOUR);
    // A run that fails (its listing of packs/ throws) ...
    h.primary.faults.push({ op: 'list', prefix: 'packs/', onCall: 1 });
    await expect(prune(h, s3.snapshotId)).rejects.toThrow(/injected list fault/);
    expect(await last(h)).toBe(ranAt);
    // ... leaves the next prune, at once, to collect
    const rerun = await prune(h, s3.snapshotId);
    expect(rerun.gc['us-east-1']?.deferred).toBeUndefined();
    expect(rerun.gc['us-east-1']?.manifestsDeleted).toBe(1);
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(false);
    // A run that could not read a live root deferred its packs: not a completed run either.
    const completed = await last(h);
    h.clock.advance(6 * HOUR);
    h.primary.objects.delete(VaultLayout.manifestKey('photos', s2.manifestId as string));
    const partial = await prune(h, s3.snapshotId);
    expect(partial.gc['us-east-1']?.deferred).toMatch(/is unreadable/);
    expect(await last(h)).toBe(completed);
    expect((await prune(h, s3.snapshotId)).gc['us-east-1']?.deferred).toMatch(/is unreadable/);
  });

  it('collects on every prune with 0 (the default)', async () => {
    delete h.deps.gcIntervalSeconds;
    const s1 = await snapshot(h, { 'a.txt': 'one' });
    const s2 = await snapshot(h, { 'a.txt': 'two' });
    await prune(h, s2.snapshotId);
    const s3 = await snapshot(h, { 'a.txt': 'three' });
    const next = await prune(h, s3.snapshotId);
    expect(next.gc['us-east-1']?.deferred).toBeUndefined();
    expect(h.primary.objects.has(VaultLayout.manifestKey('photos', s1.manifestId as string))).toBe(false);
  });
});

describe('PartBlobCache: an incremental mark (the next run reads only the parts new since)', () => {
  let h: Harness;
  let reads: string[];
  beforeEach(async () => {
    h = harness();
    await h.catalog.putPlans([plan({ retention: { keepLast: 2 } })]);
    reads = [];
    const get = h.primary.get.bind(h.primary);
    h.primary.get = async (key: string) => {
      if (key.startsWith('parts/')) reads.push(key);
      return get(key);
    };
  });
  const base = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, `v${i}`]));

  it('reads each part once across runs, and finds the same live set and garbage as a run without it', async () => {
    // Prepare: two runs' worth of history, in two harnesses alike but for the cache
    const cache = new PartBlobCache(1_000);
    h.deps.partBlobCache = cache;
    const plain = harness();
    await plain.catalog.putPlans([plan({ retention: { keepLast: 2 } })]);
    const results: [PruneResult, PruneResult][] = [];
    for (const v of ['one', 'two', 'three', 'four']) {
      const files = { ...base, zz: v };
      const a = await snapshot(h, files, { partSize: 3 });
      const b = await snapshot(plain, files, { partSize: 3 });
      reads.length = 0;
      results.push([await afterGrace(h, a.snapshotId), await afterGrace(plain, b.snapshotId)]);
      // Act/Assess: past the first run, each run reads only the new snapshot's [zz] part (once: the
      // copy region's run finds it cached too)
      const zz = reads.filter((k) => k.endsWith(a.parts.at(-1)?.partId as string));
      if (v !== 'one') expect(reads, v).toEqual(zz.slice(0, 1));
    }
    for (const [cached, uncached] of results) {
      expect(cached.forgotten.length).toBe(uncached.forgotten.length);
      // (sealed sizes differ by a byte or so between two vaults: their bytes are not compared)
      const { bytesDeleted: _a, ...c } = cached.gc['us-east-1'] ?? {};
      const { bytesDeleted: _b, ...u } = uncached.gc['us-east-1'] ?? {};
      expect(c).toEqual(u);
    }
    expect(results.some(([r]) => (r.gc['us-east-1']?.packsDeleted ?? 0) > 0)).toBe(true);
    // The forgotten snapshots' [zz] parts left the cache with the live set: 2 shared parts of 3
    // blobs, and the 2 kept snapshots' [zz] parts of 1.
    expect(cache.size).toBe(3 + 3 + 1 + 1);
    expect(cache.stats.hits).toBeGreaterThan(0);
  });

  it('holds at most its bound, and reads what it cannot hold every time', async () => {
    const cache = new PartBlobCache(3); // one part of three distinct blobs
    h.deps.partBlobCache = cache;
    await snapshot(h, { ...base, zz: 'one' }, { partSize: 3 });
    const s2 = await snapshot(h, { ...base, zz: 'two' }, { partSize: 3 });
    await prune(h, s2.snapshotId);
    expect(cache.size).toBe(3);
    reads.length = 0;
    await prune(h, s2.snapshotId);
    // 4 live parts (2 shared, 2 [zz]): one comes from the cache, the other three are read in each region
    expect(new Set(reads).size).toBe(3);
    expect(reads).toHaveLength(6);
  });

  it('drops the parts a run did not use, and serves a part under its plan only', () => {
    const cache = new PartBlobCache(100);
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    const first = cache.run();
    first.set('photos', 'p1', [a, b]);
    first.set('photos', 'p2', [b]);
    first.end();
    expect(cache.size).toBe(3);
    const second = cache.run();
    expect(second.get('photos', 'p1')).toEqual([a, b]);
    expect(second.get('logs', 'p1')).toBeUndefined();
    second.end();
    expect(cache.size).toBe(2); // p2 was not used: gone
    expect(cache.run().get('photos', 'p2')).toBeUndefined();
  });
});

describe('index compaction', () => {
  it('merges many small index documents into one, and every live blob stays located', async () => {
    const h = harness();
    await h.catalog.putPlans([plan()]);
    // One snapshot per file, one pack and one index document each (as capture writes them).
    const files: Record<string, string> = {};
    let last = '';
    for (let i = 0; i < INDEX_COMPACT_THRESHOLD + 8; i++) {
      files[`f${i}`] = `content ${i}`;
      last = (await snapshot(h, { ...files }, { packBytes: 1 })).snapshotId;
    }
    expect(keysUnder(h.primary, VaultLayout.indexPrefix).length).toBeGreaterThan(INDEX_COMPACT_THRESHOLD);
    const result = await prune(h, last);
    expect(keysUnder(h.primary, VaultLayout.indexPrefix)).toHaveLength(1);
    expect(result.gc['us-east-1']?.indexesRewritten).toBe(1);
    const located = await indexedBlobs(h.primary, h.deps.envelope);
    for (const text of Object.values(files)) expect(located.has(blob(text))).toBe(true);
    expect(await danglingPacks(h.primary, h.deps.envelope)).toEqual([]);
  });
});
