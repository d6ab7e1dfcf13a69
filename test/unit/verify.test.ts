import { beforeEach, describe, expect, it } from 'vitest';
import { copyToRegion } from '#domain/copy.ts';
import { IntegrityError, NotFoundError } from '#domain/errors.ts';
import { prunePlan } from '#domain/prune.ts';
import type { Verification } from '#domain/records.ts';
import type { BlobLocation } from '#domain/repository/read-blobs.ts';
import { readManifest } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startDueVerifications, startSnapshotNow } from '#domain/scheduling.ts';
import { blobAssociatedData, contentIdOf, storedChecksumOf, VaultLayout } from '#domain/vault.ts';
import { inSample } from '#domain/verify/sample.ts';
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import { verificationLines } from '#local/cli/format/status.ts';
import type { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const ids = Array.from({ length: 10_000 }, (_v, i) => contentIdOf(`blob ${i}`));

describe('inSample', () => {
  it('is deterministic', () => {
    const first = ids.slice(0, 500).map((id) => inSample('20260301T000000Z', id, 30));
    const again = ids.slice(0, 500).map((id) => inSample('20260301T000000Z', id, 30));
    expect(again).toEqual(first);
  });

  it.each([
    [5, 400, 600],
    [10, 900, 1100],
    [50, 4800, 5200],
  ])('samples about %i%% of many blobs', (percent, min, max) => {
    const sampled = ids.filter((id) => inSample('20260301T000000Z', id, percent)).length;
    expect(sampled).toBeGreaterThanOrEqual(min);
    expect(sampled).toBeLessThanOrEqual(max);
  });

  it('samples none at 0% and all at 100%', () => {
    expect(ids.some((id) => inSample('20260301T000000Z', id, 0))).toBe(false);
    expect(ids.every((id) => inSample('20260301T000000Z', id, 100))).toBe(true);
  });

  it('samples different blobs for different snapshots', () => {
    const one = ids.filter((id) => inSample('20260301T000000Z', id, 5));
    const other = new Set(ids.filter((id) => inSample('20260301T010000Z', id, 5)));
    const shared = one.filter((id) => other.has(id)).length;
    expect(shared).toBeLessThan(one.length / 2);
  });

  it('grows the sample monotonically with the percentage', () => {
    const five = ids.filter((id) => inSample('s', id, 5));
    expect(five.every((id) => inSample('s', id, 10))).toBe(true);
  });
});

/** Where a vault's own index puts the blob of `text`. */
async function locate(p: MemoryPipeline, vault: MemoryVaultStore, text: string): Promise<BlobLocation> {
  const index = await VaultIndex.load(vault, p.deps.envelope);
  const where = index.locate(contentIdOf(text));
  if (!where) throw new Error(`no blob of '${text}' in ${vault.bucket}`);
  return where;
}

/** The blob ids a vault's own index puts in `packId`, sorted. */
async function blobsInPack(p: MemoryPipeline, vault: MemoryVaultStore, packId: string): Promise<string[]> {
  const index = await VaultIndex.load(vault, p.deps.envelope);
  return (index.pack(packId)?.blobs ?? []).map((b) => b.blobId).sort();
}

/** Overwrite `bytes` at `offset` of a stored document, behind the store's back (its checksum stays). */
function overwrite(vault: MemoryVaultStore, key: string, offset: number, bytes: Uint8Array): void {
  const stored = vault.objects.get(key);
  if (!stored) throw new Error(`${key} not found`);
  const body = Buffer.from(stored.body);
  body.set(bytes, offset);
  stored.body = body;
}

/** Flip one byte inside the sealed blob of `text` in its pack (the pack's recorded checksum stays). */
async function flipByteOfBlob(p: MemoryPipeline, vault: MemoryVaultStore, text: string): Promise<string> {
  const where = await locate(p, vault, text);
  const key = VaultLayout.packKey(where.packId);
  const at = where.offsetBytes + where.lengthBytes - 5;
  const byte = vault.objects.get(key)?.body[at] ?? 0;
  overwrite(vault, key, at, Uint8Array.of(byte ^ 0xff));
  return where.packId;
}

describe('verifySnapshot', () => {
  let p: MemoryPipeline;
  let snapshotId: string;
  const jobId = () => `photos/${snapshotId}`;

  /** Start a snapshot and run it and its copy, leaving the verify task queued. */
  async function snapshotAndCopy(): Promise<string> {
    const started = await startSnapshotNow(p.deps, 'photos');
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      const verify = tasks.filter((t) => t.kind === 'verify');
      for (const task of tasks.filter((t) => t.kind !== 'verify')) await p.run(task);
      if (verify.length > 0) {
        p.queue.sent.push(...verify);
        break;
      }
    }
    expect(p.queue.sent.map((t) => t.kind)).toEqual(['verify']);
    return started.snapshotId;
  }

  function verifyTask() {
    return { kind: 'verify' as const, planId: 'photos', snapshotId };
  }

  function tierTask(tier: 'catalog' | 'checksum' | 'deep', all?: true) {
    return { kind: 'verify-tier' as const, planId: 'photos', snapshotId, tier, ...(all ? { all } : {}) };
  }

  /** Delete the copy region's pack holding the blob of `text`; returns the pack and its blobs. */
  async function deleteCopyPackOf(text: string): Promise<{ packId: string; blobs: string[] }> {
    const { packId } = await locate(p, p.copy, text);
    const blobs = await blobsInPack(p, p.copy, packId);
    p.copy.objects.delete(VaultLayout.packKey(packId));
    return { packId, blobs };
  }

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ verification: { samplePercent: 100 }, retention: { keepLast: 1 } })]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'dir/b.txt', 'bravo');
    await putText(p, 'c.txt', 'charlie');
    snapshotId = await snapshotAndCopy();
    p.queue.drain();
  });

  it('passes a snapshot whose documents are all present and intact in every region, in every tier', async () => {
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.status).toBe('PASSED');
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      expect(verification?.tiers[tier]?.status).toBe('PASSED');
      expect(Object.keys(verification?.tiers[tier]?.regions ?? {}).sort()).toEqual([
        'eu-west-1',
        'us-east-1',
      ]);
    }
    const packs = (await VaultIndex.load(p.copy, p.deps.envelope)).packs.size;
    expect(verification?.tiers.catalog?.regions['eu-west-1']).toMatchObject({
      referencedBlobs: 3,
      referencedPacks: packs,
      missingParts: [],
      missingPacks: [],
      missingBlobs: [],
      manifestPresent: true,
    });
    expect(verification?.tiers.checksum?.regions['eu-west-1']).toMatchObject({
      checkedBlobs: 3,
      checkedPacks: packs,
      missingPacks: [],
      mismatchedPacks: [],
      mismatchedBlobs: [],
    });
    expect(verification?.tiers.deep?.regions['eu-west-1']).toMatchObject({
      checkedBlobs: 3,
      totalBlobs: 3,
      corruptBlobs: [],
    });
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.verification?.status).toBe('PASSED');
  });

  it('records in each region’s index the size and S3 checksum of every pack as stored there', async () => {
    for (const vault of [p.primary, p.copy]) {
      // Act
      const index = await VaultIndex.load(vault, p.deps.envelope);
      // Assess
      expect(index.packs.size).toBeGreaterThan(0);
      for (const pack of index.packs.values()) {
        const body = vault.objects.get(VaultLayout.packKey(pack.packId))?.body as Uint8Array;
        expect(pack.stored).toEqual(storedChecksumOf(body));
        expect(contentIdOf(body)).toBe(pack.packId);
      }
    }
  });

  it("keeps an older snapshot's checksums when a later one references a blob its parent lacked", async () => {
    // Prepare: 'bravo' leaves the source, then comes back (its blob is still in a pack: the first
    // snapshot is kept).
    await p.catalog.putPlans([plan({ verification: { samplePercent: 100 }, retention: { keepLast: 5 } })]);
    p.clock.advance(3600_000);
    await p.objects.buckets.get('source')?.delete('dir/b.txt');
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    p.clock.advance(3600_000);
    await putText(p, 'dir/b.txt', 'bravo');
    const packBefore = (await locate(p, p.primary, 'bravo')).packId;
    // Act
    const third = await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    // Assess: the blob was not stored again; the first snapshot's checks still hold.
    expect((await locate(p, p.primary, 'bravo')).packId).toBe(packBefore);
    const first = await verifySnapshot(p.deps, tierTask('checksum'));
    expect(first?.tiers.checksum?.status).toBe('PASSED');
    const record = await p.catalog.getSnapshot('photos', third.snapshotId);
    expect(record?.blobsWritten).toBe(0);
    expect(record?.verification?.tiers.checksum?.status).toBe('PASSED');
  });

  it('catches a deleted pack in the catalog and checksum tiers, naming the region, the pack and its blobs', async () => {
    // Prepare
    const { packId, blobs } = await deleteCopyPackOf('bravo');
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.status).toBe('FAILED');
    expect(verification?.tiers.catalog?.status).toBe('FAILED');
    expect(verification?.tiers.catalog?.regions['eu-west-1']).toMatchObject({
      missingPacks: [packId],
      missingBlobs: blobs,
    });
    expect(blobs).toContain(contentIdOf('bravo'));
    expect(verification?.tiers.catalog?.regions['us-east-1']).toMatchObject({
      missingPacks: [],
      missingBlobs: [],
    });
    expect(verification?.tiers.checksum?.status).toBe('FAILED');
    expect(verification?.tiers.checksum?.regions['eu-west-1']).toMatchObject({
      missingPacks: [packId],
      missingBlobs: blobs,
    });
    const stored = await p.catalog.getSnapshot('photos', snapshotId);
    expect(stored?.verification?.status).toBe('FAILED');
    expect(stored?.status).toBe('COMMITTED');
  });

  it('counts a blob that no index of the region locates as missing', async () => {
    // Prepare: the copy region loses its index documents (its packs stay).
    for (const key of [...p.copy.objects.keys()].filter((k) => k.startsWith(VaultLayout.indexPrefix)))
      p.copy.objects.delete(key);
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    const all = ['alpha', 'bravo', 'charlie'].map((t) => contentIdOf(t)).sort();
    for (const tier of ['catalog', 'checksum', 'deep'] as const) {
      expect(verification?.tiers[tier]?.status).toBe('FAILED');
      expect(verification?.tiers[tier]?.regions['eu-west-1']?.missingBlobs).toEqual(
        tier === 'deep' ? expect.arrayContaining(all) : all,
      );
      expect(verification?.tiers[tier]?.regions['us-east-1']?.missingBlobs).toEqual([]);
    }
  });

  it("catches bytes flipped behind the store's back in the deep tier only: the store still reports the checksum of the upload", async () => {
    // Prepare: like a bit flip on S3's disk, the recorded checksum stays what was uploaded.
    await flipByteOfBlob(p, p.primary, 'alpha');
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.tiers.catalog?.status).toBe('PASSED');
    expect(verification?.tiers.checksum?.status).toBe('PASSED');
    expect(verification?.tiers.deep?.status).toBe('FAILED');
    expect(verification?.tiers.deep?.regions['us-east-1']?.corruptBlobs).toEqual([contentIdOf('alpha')]);
    expect(verification?.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([]);
    expect(verification?.status).toBe('FAILED');
  });

  it('catches other bytes stored under a pack key in the checksum tier only, when they hold valid blobs', async () => {
    // Prepare: the same pack with alpha sealed again (another nonce, the same length), re-uploaded.
    const where = await locate(p, p.copy, 'alpha');
    const key = VaultLayout.packKey(where.packId);
    const resealed = await p.deps.envelope.seal(Buffer.from('alpha'), blobAssociatedData(where.blobId));
    expect(resealed.length).toBe(where.lengthBytes);
    const body = Buffer.from(p.copy.objects.get(key)?.body ?? []);
    body.set(resealed, where.offsetBytes);
    await p.copy.put(key, body);
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.tiers.catalog?.status).toBe('PASSED');
    expect(verification?.tiers.checksum?.status).toBe('FAILED');
    expect(verification?.tiers.checksum?.regions['eu-west-1']?.mismatchedPacks).toEqual([where.packId]);
    expect(verification?.tiers.checksum?.regions['eu-west-1']?.mismatchedBlobs).toEqual(
      await blobsInPack(p, p.copy, where.packId),
    );
    expect(verification?.tiers.checksum?.regions['us-east-1']?.mismatchedPacks).toEqual([]);
    expect(verification?.tiers.deep?.status).toBe('PASSED');
  });

  it('reports a blob whose bytes open but hash to another id as corrupt', async () => {
    // Prepare: where alpha was, a valid envelope (alpha's associated data) of other bytes as long.
    const where = await locate(p, p.copy, 'alpha');
    const other = await p.deps.envelope.seal(Buffer.from('ALPHA'), blobAssociatedData(where.blobId));
    overwrite(p.copy, VaultLayout.packKey(where.packId), where.offsetBytes, other);
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([contentIdOf('alpha')]);
    expect(verification?.tiers.deep?.regions['us-east-1']?.corruptBlobs).toEqual([]);
  });

  it('reports a manifest root missing in the copy region as FAILED in the catalog and checksum tiers', async () => {
    for (const key of [...p.copy.objects.keys()].filter((k) => k.startsWith('manifests/')))
      p.copy.objects.delete(key);
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.status).toBe('FAILED');
    expect(verification?.tiers.catalog?.regions['eu-west-1']?.manifestPresent).toBe(false);
    expect(verification?.tiers.checksum?.regions['eu-west-1']?.manifestPresent).toBe(false);
    expect(verification?.tiers.catalog?.regions['us-east-1']?.manifestPresent).toBe(true);
  });

  it('reports a manifest part missing in a region in the catalog and checksum tiers, and reads it from another', async () => {
    // Prepare
    const parts = [...p.primary.objects.keys()].filter((k) =>
      k.startsWith(VaultLayout.partsPrefix('photos')),
    );
    expect(parts.length).toBeGreaterThan(0);
    for (const key of parts) p.primary.objects.delete(key);
    const partIds = parts.map((k) => VaultLayout.partIdOf(k)).sort();
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess: the entries came from the copy region's parts, so every blob was still checked.
    expect(verification?.tiers.catalog?.regions['us-east-1']).toMatchObject({
      missingParts: partIds,
      referencedBlobs: 3,
    });
    expect(verification?.tiers.checksum?.regions['us-east-1']?.missingParts).toEqual(partIds);
    expect(verification?.tiers.catalog?.regions['eu-west-1']?.missingParts).toEqual([]);
    expect(verification?.tiers.deep?.status).toBe('PASSED');
    expect(verification?.status).toBe('FAILED');
  });

  it('marks the job and the verify task FAILED with a reason naming the tier and region', async () => {
    // Prepare
    const { packId, blobs } = await deleteCopyPackOf('bravo');
    // Act
    await verifySnapshot(p.deps, verifyTask());
    // Assess
    const job = await p.catalog.getJob(jobId());
    const n = blobs.length;
    expect(job?.status).toBe('FAILED');
    // The plan samples 100%, so the deep tier meets the missing blobs too.
    const deepFirst = (await verifySnapshot(p.deps, tierTask('deep')))?.tiers.deep?.regions['eu-west-1']
      ?.missingBlobs[0];
    expect(job?.error).toBe(
      `verification failed: catalog eu-west-1: 1 missing pack(s) (${packId}…), ${n} missing blob(s) (${blobs[0]}…); checksum eu-west-1: 1 missing pack(s) (${packId}…), ${n} missing blob(s) (${blobs[0]}…); deep eu-west-1: ${n} missing blob(s) (${deepFirst}…)`,
    );
    const task = (await p.catalog.listTasks(jobId())).find((t) => t.taskId === 'verify');
    expect(task).toMatchObject({ status: 'FAILED', error: job?.error });
  });

  it('still enqueues prune after a failed verification', async () => {
    await deleteCopyPackOf('bravo');
    await verifySnapshot(p.deps, verifyTask());
    expect(p.queue.sent).toEqual([{ kind: 'forget', planId: 'photos', snapshotId }]);
  });

  it('does not let a later prune turn the failed job into a success', async () => {
    await deleteCopyPackOf('bravo');
    await verifySnapshot(p.deps, verifyTask());
    await p.drain();
    expect((await p.catalog.getJob(jobId()))?.status).toBe('FAILED');
  });

  it('samples at least one blob even at a tiny percentage', async () => {
    await p.catalog.putPlans([plan({ verification: { samplePercent: 0.0001 }, retention: { keepLast: 1 } })]);
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.tiers.deep?.regions['us-east-1']?.checkedBlobs).toBe(1);
  });

  it('samples nothing at 0%, so a corrupt blob passes every tier', async () => {
    await p.catalog.putPlans([plan({ verification: { samplePercent: 0 }, retention: { keepLast: 1 } })]);
    await flipByteOfBlob(p, p.primary, 'alpha');
    const verification = await verifySnapshot(p.deps, verifyTask());
    expect(verification?.tiers.deep?.regions['us-east-1']?.checkedBlobs).toBe(0);
    expect(verification?.status).toBe('PASSED');
  });

  it('samples blobs up to sampleBytes of stored bytes', async () => {
    // Prepare: 0% but one byte: the first blob in sample order covers it.
    await p.catalog.putPlans([
      plan({ verification: { samplePercent: 0, sampleBytes: 1 }, retention: { keepLast: 1 } }),
    ]);
    // Act
    const verification = await verifySnapshot(p.deps, verifyTask());
    // Assess
    expect(verification?.tiers.deep?.regions['us-east-1']).toMatchObject({ checkedBlobs: 1, totalBlobs: 1 });
  });

  it('reads the deep tier’s blobs of one pack with one ranged GET, never a whole pack', async () => {
    // Prepare
    const { get, getRange } = p.primary.calls;
    const documents = [...p.primary.objects.keys()].filter(
      (k) => k.startsWith(VaultLayout.indexPrefix) || k.startsWith(VaultLayout.partsPrefix('photos')),
    ).length;
    // Act
    const verification = await verifySnapshot(p.deps, tierTask('deep'));
    // Assess: the three blobs share a pack, so one ranged GET (one per blob before coalescing);
    // whole GETs only of the root, its parts and the index documents.
    expect(verification?.tiers.deep?.regions['us-east-1']?.checkedBlobs).toBe(3);
    expect(p.primary.calls.getRange - getRange).toBe(1);
    expect(p.primary.calls.get - get).toBe(1 + documents);
  });

  describe('one tier at a time', () => {
    it("runs only the tier the task names, keeps the other tiers' results and does not prune", async () => {
      // Prepare
      await verifySnapshot(p.deps, verifyTask());
      p.queue.drain();
      const before = await p.catalog.getSnapshot('photos', snapshotId);
      p.clock.advance(60_000);
      // Act
      const verification = await verifySnapshot(p.deps, tierTask('checksum'));
      // Assess
      expect(verification?.tiers.checksum?.checkedAt).toBe(p.clock.now().toISOString());
      expect(verification?.tiers.catalog).toEqual(before?.verification?.tiers.catalog);
      expect(verification?.tiers.deep).toEqual(before?.verification?.tiers.deep);
      expect(p.queue.sent).toEqual([]);
      const task = (await p.catalog.listTasks(jobId())).find((t) => t.taskId === 'verify:checksum');
      expect(task?.status).toBe('SUCCEEDED');
    });

    it('never turns a failure back into success when a later run of any tier passes', async () => {
      // Prepare: the catalog tier fails, then the pack comes back.
      const { packId } = await locate(p, p.copy, 'bravo');
      const key = VaultLayout.packKey(packId);
      const saved = p.copy.objects.get(key);
      p.copy.objects.delete(key);
      await verifySnapshot(p.deps, tierTask('catalog'));
      if (saved) p.copy.objects.set(key, saved);
      // Act
      const checksum = await verifySnapshot(p.deps, tierTask('checksum'));
      const catalogAgain = await verifySnapshot(p.deps, tierTask('catalog'));
      // Assess
      expect(checksum?.tiers.checksum?.status).toBe('PASSED');
      expect(catalogAgain?.tiers.catalog?.status).toBe('PASSED');
      expect(catalogAgain?.status).toBe('FAILED');
      expect((await p.catalog.getSnapshot('photos', snapshotId))?.verification?.status).toBe('FAILED');
      expect((await p.catalog.getJob(jobId()))?.status).toBe('FAILED');
    });

    it('does not download a pack in the checksum tier: one HeadObject per pack', async () => {
      // Prepare
      const gets: string[] = [];
      const get = p.primary.get.bind(p.primary);
      p.primary.get = (key: string) => {
        gets.push(key);
        return get(key);
      };
      const ranges = p.primary.calls.getRange;
      const heads = p.primary.calls.checksum;
      const packs = (await VaultIndex.load(p.primary, p.deps.envelope)).packs.size;
      // Act
      await verifySnapshot(p.deps, tierTask('checksum'));
      // Assess: the root, its parts and the index are read; no pack is downloaded.
      expect(gets.filter((k) => k.startsWith(VaultLayout.packsPrefix))).toEqual([]);
      expect(p.primary.calls.getRange - ranges).toBe(0);
      expect(p.primary.calls.checksum - heads).toBe(packs + 1); // the packs and the root
    });
  });

  describe('on its own schedule', () => {
    beforeEach(async () => {
      await verifySnapshot(p.deps, verifyTask());
      p.queue.drain();
      await p.catalog.putPlans([
        plan({
          verification: { samplePercent: 100, schedules: { checksum: 'rate(1 day)', deep: 'rate(7 days)' } },
          retention: { keepLast: 1 },
        }),
      ]);
    });

    it('enqueues nothing for an occurrence before the snapshot was committed (the pipeline verified it)', async () => {
      // Act
      const tick = await startDueVerifications(p.deps, '2026-03-01T12:00:00.000Z');
      // Assess
      expect(tick).toEqual({ started: [], failed: [] });
      expect(p.queue.sent).toEqual([]);
    });

    it('enqueues each due tier once per scheduled time for the newest committed snapshot', async () => {
      // Act
      const first = await startDueVerifications(p.deps, '2026-03-02T00:00:30.000Z');
      const again = await startDueVerifications(p.deps, '2026-03-02T00:01:30.000Z');
      // Assess
      expect(first.started).toEqual([
        {
          planId: 'photos',
          snapshotId,
          tier: 'checksum',
          scheduledAt: '2026-03-02T00:00:00.000Z',
          created: true,
        },
      ]);
      expect(again.started).toEqual([{ ...first.started[0], created: false }]);
      expect(p.queue.drain()).toEqual([
        { kind: 'verify-tier', planId: 'photos', snapshotId, tier: 'checksum' },
      ]);
    });

    it('runs a scheduled deep tier over every blob, recorded with its scope', async () => {
      // Prepare
      await startDueVerifications(p.deps, '2026-03-08T00:00:00.000Z');
      const tasks = p.queue.drain();
      // Act
      for (const task of tasks) await p.run(task);
      // Assess
      expect(tasks).toEqual([
        { kind: 'verify-tier', planId: 'photos', snapshotId, tier: 'checksum' },
        { kind: 'verify-tier', planId: 'photos', snapshotId, tier: 'deep', all: true },
      ]);
      const record = await p.catalog.getSnapshot('photos', snapshotId);
      expect(record?.verification?.tiers.deep).toMatchObject({ status: 'PASSED', scope: 'all' });
      expect(record?.scheduledVerification).toEqual({
        checksum: '2026-03-08T00:00:00.000Z',
        deep: '2026-03-08T00:00:00.000Z',
      });
      expect(p.queue.sent).toEqual([]);
    });
  });

  describe('in the CLI status', () => {
    it('prints the overall status with what failed, then a line per tier and region', async () => {
      // Prepare
      const { packId, blobs } = await deleteCopyPackOf('bravo');
      const verification = await verifySnapshot(p.deps, tierTask('catalog'));
      // Act
      const lines = verificationLines(snapshotId, verification as Verification);
      // Assess
      const n = blobs.length;
      const problems = `1 missing pack(s) (${packId}…), ${n} missing blob(s) (${blobs[0]}…)`;
      expect(lines).toEqual([
        `  verification ${snapshotId} FAILED (catalog eu-west-1: ${problems})`,
        `    catalog  us-east-1    PASSED  3/3 blobs listed  at ${p.clock.now().toISOString()}`,
        `    catalog  eu-west-1    FAILED  ${3 - n}/3 blobs listed: ${problems}  at ${p.clock.now().toISOString()}`,
      ]);
    });
  });

  describe('a deep pass across deadlines', () => {
    beforeEach(async () => {
      p.queue.drain();
      // Twenty more blobs, so a pass has several windows (of 4 blobs: `windowBlobs` below).
      for (let i = 0; i < 20; i += 1) await putText(p, `more/${i}.txt`, `more ${i}`);
      p.clock.advance(3600_000);
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
      snapshotId = (await p.catalog.listSnapshots('photos')).at(-1)?.snapshotId as string;
      p.deps.concurrency = 4;
      p.queue.drain();
    });

    /** A task budget that has time for `batches` batches: each call to it costs one. */
    function budget(batches: number): () => number {
      let left = batches;
      return () => (left-- > 0 ? 120_000 : 0);
    }

    it('saves its cursor when time runs low, continues in a new task and passes when every blob is checked', async () => {
      // Act 1: time for the first batch and two more.
      const first = await verifySnapshot(p.deps, tierTask('deep', true), {
        remainingMs: budget(2),
        reserveMs: 60_000,
        windowBlobs: 4,
      });
      // Assess 1
      expect(first?.tiers.deep?.status).toBe('RUNNING');
      expect(first?.tiers.deep?.regions['us-east-1']).toMatchObject({
        cursor: 12,
        checkedBlobs: 12,
        totalBlobs: 23,
      });
      expect(first?.tiers.deep?.regions['eu-west-1']).toMatchObject({ cursor: 0, checkedBlobs: 0 });
      expect(p.queue.drain()).toEqual([
        { kind: 'verify-tier', planId: 'photos', snapshotId, tier: 'deep', all: true },
      ]);
      // Act 2: the continuation has time for the first batch and three more.
      const second = await verifySnapshot(p.deps, tierTask('deep', true), {
        remainingMs: budget(3),
        reserveMs: 60_000,
        windowBlobs: 4,
      });
      // Assess 2: the rest of the primary (3 batches), then the first batch of the copy region.
      expect(second?.tiers.deep?.regions['us-east-1']).toMatchObject({ cursor: 23, checkedBlobs: 23 });
      expect(second?.tiers.deep?.regions['eu-west-1']).toMatchObject({ cursor: 4, checkedBlobs: 4 });
      expect(second?.tiers.deep?.status).toBe('RUNNING');
      // Act 3: no deadline: the pass finishes.
      p.queue.drain();
      const third = await verifySnapshot(p.deps, tierTask('deep', true));
      // Assess 3
      expect(third?.tiers.deep?.status).toBe('PASSED');
      expect(third?.tiers.deep?.regions['eu-west-1']).toMatchObject({
        cursor: 23,
        checkedBlobs: 23,
        totalBlobs: 23,
      });
      expect(p.queue.drain()).toEqual([]);
    });

    it('fails the snapshot as soon as a cut pass finds a corrupt blob, and goes on to the end', async () => {
      // Prepare: corrupt one blob of the primary.
      await flipByteOfBlob(p, p.primary, 'more 7');
      const corrupt = contentIdOf('more 7');
      // Act: a pass cut after each batch until it ends.
      const runs = [];
      for (let i = 0; i < 20; i += 1) {
        const v = await verifySnapshot(p.deps, tierTask('deep', true), {
          remainingMs: budget(0),
          windowBlobs: 4,
        });
        runs.push(v);
        if (v?.tiers.deep?.status !== 'RUNNING') break;
        p.queue.drain();
      }
      // Assess: twelve one-batch runs (23 blobs in each of two regions, 4 per batch); from the run
      // that met the corrupt blob on, the record is FAILED; the finished pass names it.
      expect(runs).toHaveLength(12);
      const firstFailed = runs.findIndex((v) => v?.status === 'FAILED');
      expect(firstFailed).toBeGreaterThanOrEqual(0);
      expect(runs.slice(firstFailed).every((v) => v?.status === 'FAILED')).toBe(true);
      expect(runs.slice(firstFailed, -1).every((v) => v?.tiers.deep?.status === 'RUNNING')).toBe(true);
      const last = runs.at(-1);
      expect(last?.tiers.deep?.status).toBe('FAILED');
      expect(last?.tiers.deep?.regions['us-east-1']?.corruptBlobs).toEqual([corrupt]);
      expect(last?.tiers.deep?.regions['us-east-1']?.checkedBlobs).toBe(23);
      expect(last?.tiers.deep?.regions['eu-west-1']?.corruptBlobs).toEqual([]);
      expect(p.queue.drain()).toEqual([]);
    });
  });

  it('does nothing for a snapshot that is not committed', async () => {
    await p.catalog.updateSnapshot('photos', snapshotId, { status: 'FORGOTTEN' }, ['COMMITTED']);
    expect(await verifySnapshot(p.deps, verifyTask())).toBeUndefined();
    expect(p.queue.sent).toEqual([]);
  });

  it('does nothing for a late redelivery after prune forgot the snapshot and removed its record', async () => {
    await p.catalog.deleteSnapshot('photos', snapshotId);
    expect(await verifySnapshot(p.deps, verifyTask())).toBeUndefined();
    expect(await copyToRegion(p.deps, { ...verifyTask(), kind: 'copy', region: 'eu-west-1' })).toEqual({
      status: 'SKIPPED',
      region: 'eu-west-1',
      reason: 'FORGOTTEN',
    });
    expect(p.queue.sent).toEqual([]);
  });

  it('refuses an unknown snapshot', async () => {
    await expect(
      verifySnapshot(p.deps, { ...verifyTask(), snapshotId: '20990101T000000Z' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  describe('then prune', () => {
    it('never forgets a snapshot that failed verification', async () => {
      // Prepare: the first snapshot fails verification, two later ones pass; retention keeps 1.
      await deleteCopyPackOf('bravo');
      await verifySnapshot(p.deps, verifyTask());
      await p.drain();
      const failed = snapshotId;
      for (const text of ['alpha 2', 'alpha 3']) {
        p.clock.advance(3600_000);
        await putText(p, 'a.txt', text);
        await startSnapshotNow(p.deps, 'photos');
        await p.drain();
      }
      // Act
      p.clock.advance(2 * 3600_000);
      const result = await prunePlan(p.deps, { kind: 'forget', planId: 'photos', snapshotId: failed });
      // Assess
      const snapshots = await p.catalog.listSnapshots('photos');
      const kept = snapshots.find((s) => s.snapshotId === failed);
      expect(kept?.status).toBe('COMMITTED');
      expect(kept?.verification?.status).toBe('FAILED');
      expect(result.forgotten).not.toContain(failed);
      // The one retention dropped stays as a FORGOTTEN tombstone until GC deleted its root.
      expect(snapshots.map((s) => s.status)).toEqual(['COMMITTED', 'FORGOTTEN', 'COMMITTED']);
    });

    it('keeps the blobs of a snapshot that failed verification', async () => {
      await deleteCopyPackOf('bravo');
      await verifySnapshot(p.deps, verifyTask());
      await p.drain();
      p.clock.advance(3600_000);
      await putText(p, 'a.txt', 'alpha 2');
      await putText(p, 'c.txt', 'charlie 2');
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
      p.clock.advance(2 * 3600_000);
      await prunePlan(p.deps, { kind: 'forget', planId: 'photos', snapshotId });
      for (const text of ['alpha', 'bravo', 'charlie']) {
        const where = await locate(p, p.primary, text);
        expect(p.primary.objects.has(VaultLayout.packKey(where.packId))).toBe(true);
      }
    });

    it('forgets a snapshot that passed verification when retention drops it', async () => {
      await verifySnapshot(p.deps, verifyTask());
      await p.drain();
      p.clock.advance(3600_000);
      await putText(p, 'a.txt', 'alpha 2');
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
      const snapshots = await p.catalog.listSnapshots('photos');
      expect(snapshots.find((s) => s.snapshotId === snapshotId)?.status).toBe('FORGOTTEN');
      expect(snapshots.filter((s) => s.status === 'COMMITTED')).toHaveLength(1);
    });
  });
});

describe('copyToRegion', () => {
  let p: MemoryPipeline;

  /** Take a snapshot (and nothing after it); returns its id. */
  async function snapshotOnly(): Promise<string> {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      for (const task of tasks.filter((t) => t.kind.startsWith('snapshot'))) await p.run(task);
      if (tasks.some((t) => t.kind === 'copy')) break;
    }
    return snapshotId;
  }

  function copyTask(snapshotId: string) {
    return { kind: 'copy' as const, planId: 'photos', snapshotId, region: 'eu-west-1' };
  }

  function keys(vault: MemoryVaultStore, prefix: string): string[] {
    return [...vault.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ verification: { samplePercent: 100 }, retention: { keepLast: 5 } })]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'dir/b.txt', 'bravo');
  });

  it('copies the packs byte for byte, one index naming them with the checksums recorded, the parts, then the root', async () => {
    // Prepare
    const snapshotId = await snapshotOnly();
    const puts: string[] = [];
    const put = p.copy.put.bind(p.copy);
    p.copy.put = (key: string, body: Uint8Array) => {
      puts.push(key);
      return put(key, body);
    };
    // Act
    const result = await copyToRegion(p.deps, copyTask(snapshotId));
    // Assess
    const packs = keys(p.primary, VaultLayout.packsPrefix);
    expect(keys(p.copy, VaultLayout.packsPrefix)).toEqual(packs);
    for (const key of packs) {
      expect(
        Buffer.from(p.copy.objects.get(key)?.body ?? []).equals(
          p.primary.objects.get(key)?.body ?? Buffer.alloc(0),
        ),
      ).toBe(true);
    }
    expect(keys(p.copy, VaultLayout.indexPrefix)).toHaveLength(1);
    const primaryIndex = await VaultIndex.load(p.primary, p.deps.envelope);
    const copyIndex = await VaultIndex.load(p.copy, p.deps.envelope);
    expect([...copyIndex.packs.values()]).toEqual(
      [...copyIndex.packs.keys()].map((id) => primaryIndex.pack(id)),
    );
    expect(keys(p.copy, VaultLayout.partsPrefix('photos'))).toEqual(
      keys(p.primary, VaultLayout.partsPrefix('photos')),
    );
    // Write order: packs, then the index, then the parts, then the root.
    const kinds = puts.map((k) => k.split('/')[0]);
    expect(kinds.at(-1)).toBe('manifests');
    expect(kinds.lastIndexOf('packs')).toBeLessThan(kinds.indexOf('index'));
    expect(kinds.indexOf('index')).toBeLessThan(kinds.indexOf('parts'));
    expect(result).toMatchObject({
      status: 'COPIED',
      blobsReferenced: 2,
      packsReferenced: packs.length,
      packsCopied: packs.length,
      blobsCopied: 2,
    });
    const record = await p.catalog.getSnapshot('photos', snapshotId);
    expect(record?.regions?.['eu-west-1']).toMatchObject({
      status: 'COPIED',
      packsCopied: packs.length,
      blobsCopied: 2,
      bytesCopied: result.bytesCopied,
    });
    expect(p.queue.sent.at(-1)).toEqual({ kind: 'verify', planId: 'photos', snapshotId });
  });

  it('lists the region once per prefix and copies only what it lacks: a redelivery writes nothing new', async () => {
    // Prepare
    const snapshotId = await snapshotOnly();
    await copyToRegion(p.deps, copyTask(snapshotId));
    const puts = p.copy.calls.put;
    const heads = p.copy.calls.checksum;
    // Act
    const again = await copyToRegion(p.deps, copyTask(snapshotId));
    // Assess: only the root is put again (content-addressed: the same bytes); no HeadObject.
    expect(again).toMatchObject({ packsCopied: 0, partsCopied: 0, blobsCopied: 0 });
    expect(p.copy.calls.put - puts).toBe(1);
    expect(p.copy.calls.checksum - heads).toBe(0);
    expect(keys(p.copy, VaultLayout.indexPrefix)).toHaveLength(1);
  });

  it('copies only the new packs and parts of the next snapshot', async () => {
    // Prepare
    const first = await snapshotOnly();
    await copyToRegion(p.deps, copyTask(first));
    p.clock.advance(3600_000);
    await putText(p, 'z.txt', 'zulu');
    const second = await snapshotOnly();
    const before = new Set(keys(p.copy, ''));
    // Act
    const result = await copyToRegion(p.deps, copyTask(second));
    // Assess
    const added = keys(p.copy, '').filter((k) => !before.has(k));
    const newPacks = keys(p.primary, VaultLayout.packsPrefix).filter((k) => !before.has(k));
    expect(result.packsCopied).toBe(newPacks.length);
    expect(added.filter((k) => k.startsWith(VaultLayout.packsPrefix))).toEqual(newPacks);
    expect(added.filter((k) => k.startsWith(VaultLayout.indexPrefix))).toHaveLength(
      newPacks.length > 0 ? 1 : 0,
    );
    const verification = await verifySnapshot(p.deps, {
      kind: 'verify',
      planId: 'photos',
      snapshotId: second,
    });
    expect(verification?.status).toBe('PASSED');
  });

  it('indexes, on redelivery, a pack an earlier attempt copied before it crashed', async () => {
    // Prepare: the first attempt copies the packs, then fails writing its index.
    const snapshotId = await snapshotOnly();
    p.copy.faults.push({ op: 'put', prefix: VaultLayout.indexPrefix, onCall: 1 });
    await expect(copyToRegion(p.deps, copyTask(snapshotId))).rejects.toThrow(/injected put fault/);
    expect(keys(p.copy, VaultLayout.packsPrefix).length).toBeGreaterThan(0);
    expect(keys(p.copy, VaultLayout.indexPrefix)).toEqual([]);
    // Act
    const result = await copyToRegion(p.deps, copyTask(snapshotId));
    // Assess
    expect(result.packsCopied).toBe(0);
    const copyIndex = await VaultIndex.load(p.copy, p.deps.envelope);
    for (const text of ['alpha', 'bravo']) expect(copyIndex.locate(contentIdOf(text))).toBeDefined();
    const verification = await verifySnapshot(p.deps, { kind: 'verify', planId: 'photos', snapshotId });
    expect(verification?.status).toBe('PASSED');
  });

  it('refuses to copy a pack whose bytes in the primary do not hash to its id', async () => {
    // Prepare
    const snapshotId = await snapshotOnly();
    const where = await locate(p, p.primary, 'alpha');
    await flipByteOfBlob(p, p.primary, 'alpha');
    // Act
    const copying = copyToRegion(p.deps, copyTask(snapshotId));
    // Assess
    await expect(copying).rejects.toBeInstanceOf(IntegrityError);
    await expect(copying).rejects.toThrow(where.packId);
    expect(p.copy.objects.has(VaultLayout.packKey(where.packId))).toBe(false);
    expect(keys(p.copy, 'manifests/')).toEqual([]);
  });

  it('reads the root it copies from the primary, as committed', async () => {
    const snapshotId = await snapshotOnly();
    await copyToRegion(p.deps, copyTask(snapshotId));
    const record = await p.catalog.getSnapshot('photos', snapshotId);
    const manifest = await readManifest(p.copy, p.deps.envelope, 'photos', record?.manifestId as string);
    expect(manifest.snapshotId).toBe(snapshotId);
  });
});
