import { beforeEach, describe, expect, it } from 'vitest';
import {
  DRILLS_KEPT,
  type DrillDeps,
  estimatedRtoSeconds,
  pickSample,
  pickSnapshot,
  runDrill,
  scratchPrefix,
  seededRandom,
} from '#domain/drill.ts';
import { TransientError, ValidationError } from '#domain/errors.ts';
import type { DrillRecord, SnapshotRecord } from '#domain/records.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startDrillNow, startDueDrills, startSnapshotNow } from '#domain/scheduling.ts';
import type { DrillTask } from '#domain/tasks.ts';
import {
  blobAssociatedData,
  CHUNK_SIZE_BYTES,
  contentIdOf,
  type ManifestEntry,
  VaultLayout,
} from '#domain/vault.ts';
import { drillLine } from '#local/cli/format/status.ts';
import type { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const SCRATCH = 'drill-scratch';

function entry(key: string, sizeBytes: number): ManifestEntry {
  return {
    key,
    sizeBytes,
    etag: 'e',
    lastModified: '2026-03-01T00:00:00.000Z',
    blobs: [contentIdOf(key)],
  };
}

describe('seededRandom', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const draws = (seed: string) => Array.from({ length: 5 }, seededRandom(seed));
    expect(draws('photos:a')).toEqual(draws('photos:a'));
    expect(draws('photos:a')).not.toEqual(draws('photos:b'));
    for (const d of draws('photos:a')) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(1);
    }
  });
});

describe('pickSample', () => {
  const entries = Array.from({ length: 100 }, (_v, i) => entry(`k${String(i).padStart(3, '0')}`, 100));

  it('draws the same objects under the same seed, other objects under another', () => {
    const keys = (seed: string) =>
      pickSample(entries, { sampleObjects: 10 }, seededRandom(seed)).map((e) => e.key);
    expect(keys('photos:20260301T000000Z')).toEqual(keys('photos:20260301T000000Z'));
    expect(keys('photos:20260301T000000Z')).not.toEqual(keys('photos:20260302T000000Z'));
    expect(new Set(keys('photos:20260301T000000Z')).size).toBe(10);
  });

  it('takes at most sampleObjects, and every object of a smaller snapshot', () => {
    expect(pickSample(entries, { sampleObjects: 7 }, seededRandom('s'))).toHaveLength(7);
    expect(pickSample(entries.slice(0, 3), { sampleObjects: 20 }, seededRandom('s'))).toHaveLength(3);
  });

  it('keeps the sample within sampleBytes, skipping objects that do not fit', () => {
    const mixed = [...entries.slice(0, 50), ...Array.from({ length: 50 }, (_v, i) => entry(`big${i}`, 600))];
    for (const seed of ['a', 'b', 'c', 'd']) {
      const sample = pickSample(mixed, { sampleObjects: 20, sampleBytes: 950 }, seededRandom(seed));
      const bytes = sample.reduce((n, e) => n + e.sizeBytes, 0);
      expect(bytes, seed).toBeLessThanOrEqual(950);
      // Full: not even one more 100-byte object would fit.
      expect(bytes, seed).toBeGreaterThan(850);
    }
  });

  it('always takes the first object drawn, even one larger than the cap', () => {
    const sample = pickSample(
      [entry('huge', 10_000)],
      { sampleObjects: 20, sampleBytes: 1 },
      seededRandom('s'),
    );
    expect(sample.map((e) => e.key)).toEqual(['huge']);
  });
});

describe('pickSnapshot', () => {
  const committed = ['s1', 's2', 's3', 's4', 's5'].map(
    (snapshotId) =>
      ({ planId: 'photos', snapshotId, status: 'COMMITTED', scheduledAt: '' }) as SnapshotRecord,
  );

  it('draws only among the recentSnapshots newest', () => {
    const drawn = new Set(
      Array.from({ length: 200 }, (_v, i) => pickSnapshot(committed, 3, seededRandom(`${i}`))?.snapshotId),
    );
    expect([...drawn].sort()).toEqual(['s3', 's4', 's5']);
  });

  it('draws nothing without a committed snapshot', () => {
    expect(pickSnapshot([], 3, seededRandom('s'))).toBeUndefined();
  });
});

describe('estimatedRtoSeconds', () => {
  it('divides the plan’s bytes by the measured throughput', () => {
    expect(estimatedRtoSeconds(36 * 2 ** 20, 2 * 2 ** 20)).toBe(18);
  });

  it('is 0, never Infinity, when no throughput was measured', () => {
    expect(estimatedRtoSeconds(1000, 0)).toBe(0);
  });
});

describe('runDrill', () => {
  let p: MemoryPipeline;
  let deps: DrillDeps;
  /** The fake monotonic timer: each GET of the primary vault takes 10 ms, of the copy vault 40 ms. */
  let nowMs: number;
  const written: string[] = [];
  const task = (drillId = '20260302T000000Z'): DrillTask => ({
    kind: 'drill',
    planId: 'photos',
    drillId,
    scheduledAt: '2026-03-02T00:00:00.000Z',
  });
  const texts = Array.from({ length: 30 }, (_v, i) => `object number ${i} `.repeat(i + 1));

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([
      plan({ drill: { schedule: 'rate(7 days)', sampleObjects: 5, recentSnapshots: 3 } }),
    ]);
    for (const [i, text] of texts.entries()) await putText(p, `dir/${i}.txt`, text);
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    p.objects.createBucket(SCRATCH);
    nowMs = 1_000;
    written.length = 0;
    // Each blob read (a ranged GET of its pack) takes 10 ms in the primary region, 40 in the copy's.
    for (const [vault, ms] of [
      [p.primary, 10],
      [p.copy, 40],
    ] as const) {
      const getRange = vault.getRange.bind(vault);
      vault.getRange = async (key, offsetBytes, lengthBytes) => {
        nowMs += ms;
        return getRange(key, offsetBytes, lengthBytes);
      };
    }
    const put = p.objects.put.bind(p.objects);
    p.objects.put = async (bucket, key, body, attributes) => {
      written.push(`${bucket}/${key}`);
      return put(bucket, key, body, attributes);
    };
    deps = { ...p.deps, drillBucket: SCRATCH, elapsedMs: () => nowMs };
  });

  const scratch = () => [...(p.objects.buckets.get(SCRATCH)?.keys() ?? [])];

  /** Where each blob of a vault lies: its pack's stored bytes, and its range in them. */
  async function blobsIn(vault: MemoryVaultStore) {
    const index = await VaultIndex.load(vault, p.deps.envelope);
    return [...index.packs.values()].flatMap((pack) =>
      pack.blobs.map((blob) => ({
        blob,
        stored: vault.objects.get(VaultLayout.packKey(pack.packId)) as { body: Uint8Array },
      })),
    );
  }

  it('restores the sample in both regions, measures it and records the RTO estimate', async () => {
    // Act
    const drill = await runDrill(deps, task());
    // Assess
    const snapshot = (await p.catalog.listSnapshots('photos')).at(-1) as SnapshotRecord;
    expect(drill).toMatchObject({
      status: 'PASSED',
      snapshotId: snapshot.snapshotId,
      latestLogicalBytes: snapshot.logicalBytes,
    });
    expect(Object.keys(drill.regions).sort()).toEqual(['eu-west-1', 'us-east-1']);
    const primary = drill.regions['us-east-1'];
    expect(primary?.objects).toBe(5);
    expect(primary?.timeToFirstByteMs).toBe(10);
    expect(primary?.seconds).toBeCloseTo(0.05, 10);
    expect(primary?.throughputBytesPerSecond).toBeCloseTo((primary?.bytes ?? 0) / 0.05, 6);
    expect(primary?.estimatedRtoSeconds).toBeCloseTo(
      (snapshot.logicalBytes ?? 0) / (primary?.throughputBytesPerSecond ?? 1),
      6,
    );
    const copy = drill.regions['eu-west-1'];
    expect(copy?.timeToFirstByteMs).toBe(40);
    expect(copy?.bytes).toBe(primary?.bytes);
    expect(copy?.estimatedRtoSeconds).toBeCloseTo((primary?.estimatedRtoSeconds ?? 0) * 4, 6);
    // Written to scratch under the drill's prefix, then deleted.
    expect(written).toHaveLength(10);
    expect(written.every((k) => k.startsWith(`${SCRATCH}/strongbox-drill/photos/20260302T000000Z/`))).toBe(
      true,
    );
    expect(scratch()).toEqual([]);
    expect((await p.catalog.getDrillHistory('photos'))?.drills).toEqual([drill]);
  });

  it('draws the same snapshot and objects when the same drill runs again', async () => {
    // Prepare
    await runDrill(deps, task());
    const first = [...written];
    p.catalog.drills.clear();
    written.length = 0;
    // Act
    await runDrill(deps, task());
    // Assess
    expect(written).toEqual(first);
  });

  it('fails on a blob that does not hash to the manifest, deletes the scratch copies, and raises no error', async () => {
    // Prepare: corrupt the last byte of every blob in the copy region.
    for (const { blob, stored } of await blobsIn(p.copy)) {
      const last = blob.offsetBytes + blob.lengthBytes - 1;
      stored.body[last] = (stored.body[last] ?? 0) ^ 1;
    }
    // Act
    const drill = await runDrill(deps, task());
    // Assess
    expect(drill.status).toBe('FAILED');
    expect(drill.reason).toMatch(
      /^drill failed: eu-west-1: 5 object\(s\) missing or not matching the manifest's hash/,
    );
    expect(drill.regions['eu-west-1']).toMatchObject({ status: 'FAILED', objects: 0 });
    expect(drill.regions['eu-west-1']?.failedObjects).toHaveLength(5);
    expect(drill.regions['us-east-1']?.status).toBe('PASSED');
    expect(scratch()).toEqual([]);
  });

  it('fails on a blob that opens but whose content hashes to another id than the manifest’s', async () => {
    // Prepare: every object in the sample; in place of dir/0.txt's blob, other content of the same
    // length sealed for that blob id.
    await p.catalog.putPlans([
      plan({ drill: { schedule: 'rate(7 days)', sampleObjects: 30, recentSnapshots: 1 } }),
    ]);
    const blobId = contentIdOf(texts[0] as string);
    const other = await p.deps.envelope.seal(
      Buffer.from('not what was bkd'.slice(0, (texts[0] as string).length)),
      blobAssociatedData(blobId),
    );
    const found = (await blobsIn(p.primary)).find((b) => b.blob.blobId === blobId);
    if (!found || found.blob.lengthBytes !== other.length) throw new Error('cannot swap the blob in place');
    found.stored.body.set(other, found.blob.offsetBytes);
    // Act
    const drill = await runDrill(deps, task());
    // Assess
    expect(drill.status).toBe('FAILED');
    expect(drill.regions['us-east-1']).toMatchObject({
      status: 'FAILED',
      objects: 29,
      failedObjects: ['dir/0.txt'],
    });
    expect(drill.regions['eu-west-1']).toMatchObject({ status: 'PASSED', objects: 30 });
    expect(written).not.toContain(`${SCRATCH}/strongbox-drill/photos/20260302T000000Z/us-east-1/dir/0.txt`);
    expect(scratch()).toEqual([]);
  });

  it('fails on blobs the region’s index does not locate, and on an index that does not open', async () => {
    // Prepare: the copy region loses its index documents; then one is corrupt instead.
    const indexKeys = [...p.copy.objects.keys()].filter((k) => k.startsWith(VaultLayout.indexPrefix));
    const saved = new Map(indexKeys.map((k) => [k, p.copy.objects.get(k)]));
    for (const key of indexKeys) p.copy.objects.delete(key);
    // Act
    const lost = await runDrill(deps, task('20260303T000000Z'));
    for (const [key, o] of saved)
      if (o) p.copy.objects.set(key, { ...o, body: new Uint8Array(o.body.length) });
    const corrupt = await runDrill(deps, task('20260304T000000Z'));
    // Assess
    expect(lost.regions['eu-west-1']).toMatchObject({ status: 'FAILED', objects: 0 });
    expect(lost.regions['eu-west-1']?.failedObjects).toHaveLength(5);
    expect(lost.regions['us-east-1']?.status).toBe('PASSED');
    expect(corrupt.regions['eu-west-1']).toMatchObject({ status: 'FAILED', objects: 0 });
    expect(corrupt.regions['eu-west-1']?.reason).toMatch(/^the index of vault-euw1 does not load: /);
    expect(scratch()).toEqual([]);
  });

  it('never turns a failed drill into success when it is delivered again', async () => {
    // Prepare
    const blobs = [...p.copy.objects].filter(([key]) => key.startsWith(VaultLayout.packsPrefix));
    const originals = new Map(blobs.map(([key, o]) => [key, o.body]));
    for (const [, o] of blobs) o.body = new Uint8Array(o.body.length);
    const failed = await runDrill(deps, task());
    for (const [key, body] of originals) (p.copy.objects.get(key) as { body: Uint8Array }).body = body;
    // Act
    const again = await runDrill(deps, task());
    const next = await runDrill(deps, task('20260309T000000Z'));
    // Assess
    expect(failed.status).toBe('FAILED');
    expect(again).toEqual(failed);
    expect(next.status).toBe('PASSED');
    expect((await p.catalog.getDrillHistory('photos'))?.drills.map((d) => d.status)).toEqual([
      'FAILED',
      'PASSED',
    ]);
  });

  it('deletes the scratch copies written before a storage failure, and throws it to be retried', async () => {
    // Prepare: the third blob read (a ranged GET of a pack) of the primary vault fails.
    p.primary.faults.push({
      op: 'get',
      prefix: VaultLayout.packsPrefix,
      onCall: 3,
      error: new TransientError('503'),
    });
    // Act
    const run = runDrill(deps, task());
    // Assess
    await expect(run).rejects.toThrow(TransientError);
    expect(written.length).toBeGreaterThan(0);
    expect(scratch()).toEqual([]);
    // No record, not even a RUNNING one: the queue delivers it again, the reaper leaves it alone.
    expect((await p.catalog.getDrillHistory('photos'))?.drills).toEqual([]);
  });

  it('refuses a vault bucket as the drill bucket', async () => {
    await expect(runDrill({ ...deps, drillBucket: p.primary.bucket }, task())).rejects.toThrow(
      ValidationError,
    );
    expect(written).toEqual([]);
  });

  it(`keeps the newest ${DRILLS_KEPT} drills of a plan`, async () => {
    // Act
    for (let day = 10; day < 22; day++) await runDrill(deps, task(`202603${day}T000000Z`));
    // Assess
    const drills = (await p.catalog.getDrillHistory('photos'))?.drills ?? [];
    expect(drills).toHaveLength(DRILLS_KEPT);
    expect(drills[0]?.drillId).toBe('20260312T000000Z');
    expect(drills.at(-1)?.drillId).toBe('20260321T000000Z');
  });

  it('writes under one prefix per plan, drill and region', () => {
    expect(scratchPrefix('photos', '20260302T000000Z', 'eu-west-1')).toBe(
      'strongbox-drill/photos/20260302T000000Z/eu-west-1/',
    );
  });
});

describe('startDueDrills', () => {
  let p: MemoryPipeline;

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([
      plan({ drill: { schedule: 'rate(7 days)', sampleObjects: 20, recentSnapshots: 3 } }),
      plan({ id: 'logs', source: { bucket: 'logs', prefix: '' } }),
    ]);
  });

  it('enqueues nothing while the plan has no committed snapshot', async () => {
    const tick = await startDueDrills(p.deps, '2026-03-01T00:00:30.000Z');
    expect(tick).toEqual({ started: [], failed: [] });
    expect(p.queue.sent).toEqual([]);
  });

  it('enqueues one drill per plan and scheduled time, only for plans with a drill schedule', async () => {
    // Prepare
    await putText(p, 'a.txt', 'alpha');
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    // Act
    const first = await startDueDrills(p.deps, '2026-03-01T00:10:00.000Z');
    const again = await startDueDrills(p.deps, '2026-03-01T00:11:00.000Z');
    const week = await startDueDrills(p.deps, '2026-03-08T00:00:30.000Z');
    // Assess
    const item = { planId: 'photos', drillId: '20260301T000000Z', scheduledAt: '2026-03-01T00:00:00.000Z' };
    expect(first.started).toEqual([{ ...item, created: true }]);
    expect(again.started).toEqual([{ ...item, created: false }]);
    expect(week.started).toEqual([
      {
        planId: 'photos',
        drillId: '20260308T000000Z',
        scheduledAt: '2026-03-08T00:00:00.000Z',
        created: true,
      },
    ]);
    expect(p.queue.drain()).toEqual([
      { kind: 'drill', ...item },
      {
        kind: 'drill',
        planId: 'photos',
        drillId: '20260308T000000Z',
        scheduledAt: '2026-03-08T00:00:00.000Z',
      },
    ]);
  });

  it('runs the enqueued drill to a record on the plan', async () => {
    // Prepare
    await putText(p, 'a.txt', 'alpha');
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    await startDueDrills(p.deps, '2026-03-01T00:10:00.000Z');
    // Act
    await p.drain();
    // Assess
    const history = await p.catalog.getDrillHistory('photos');
    expect(history?.scheduledAt).toBe('2026-03-01T00:00:00.000Z');
    expect(history?.drills.map((d) => [d.drillId, d.status, Object.keys(d.regions).sort()])).toEqual([
      ['20260301T000000Z', 'PASSED', ['eu-west-1', 'us-east-1']],
    ]);
  });

  it('names on-demand drills after the millisecond, so two in one second are two drills', async () => {
    // Prepare
    await putText(p, 'a.txt', 'alpha');
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    p.clock.set('2026-03-01T00:30:00.250Z');
    // Act
    const first = await startDrillNow(p.deps, 'photos');
    p.clock.advance(1);
    const second = await startDrillNow(p.deps, 'photos');
    await p.drain();
    // Assess
    expect([first.drillId, second.drillId]).toEqual(['20260301T003000.250Z', '20260301T003000.251Z']);
    expect(second.scheduledAt).toBe('2026-03-01T00:30:00.251Z');
    const history = await p.catalog.getDrillHistory('photos');
    expect(history?.drills.map((d) => [d.drillId, d.status])).toEqual([
      [first.drillId, 'PASSED'],
      [second.drillId, 'PASSED'],
    ]);
  });

  it('refuses an on-demand drill of an unknown plan or one without a snapshot', async () => {
    await expect(startDrillNow(p.deps, 'nope')).rejects.toThrow(/does not exist/);
    await expect(startDrillNow(p.deps, 'photos')).rejects.toThrow(/no committed snapshot/);
    expect(p.queue.sent).toEqual([]);
  });
});

describe('drillLine', () => {
  const region = {
    status: 'PASSED' as const,
    objects: 20,
    bytes: 1.2 * 2 ** 20,
    seconds: 0.034,
    throughputBytesPerSecond: 35 * 2 ** 20,
    timeToFirstByteMs: 12.4,
    estimatedRtoSeconds: 18.2,
  };
  const drill: DrillRecord = {
    drillId: '20261122T010000Z',
    scheduledAt: '2026-11-22T01:00:00.000Z',
    startedAt: '2026-11-22T01:00:01.000Z',
    finishedAt: '2026-11-22T01:00:02.000Z',
    snapshotId: '20261121T234500Z',
    latestSnapshotId: '20261121T234500Z',
    latestLogicalBytes: 35 * 2 ** 20 * 18.2,
    status: 'PASSED',
    regions: { 'us-east-1': region },
  };

  it('shows per region objects, bytes, throughput, time to first byte and the RTO estimate', () => {
    expect(drillLine(drill)).toBe(
      '  drill 2026-11-22T01:00Z snapshot 20261121T234500Z PASSED: us-east-1 20 objects 1.2 MiB 35.0 MiB/s TTFB 12 ms RTO ≈ 18 s',
    );
  });

  it('shows a failure and its reason', () => {
    const failed: DrillRecord = {
      ...drill,
      status: 'FAILED',
      reason: 'drill failed: eu-west-1: 1 object(s) missing',
      regions: {
        ...drill.regions,
        'eu-west-1': { ...region, status: 'FAILED', estimatedRtoSeconds: 10_800 },
      },
    };
    expect(drillLine(failed)).toMatch(
      /FAILED: us-east-1 .*; eu-west-1 .*RTO ≈ 3\.0 h FAILED {2}reason: drill failed: eu-west-1/,
    );
  });
});

describe('drilling an object of several chunks', () => {
  it('streams it to scratch and checks it against the manifest’s SHA-256 of the whole', async () => {
    // Prepare
    const p = memoryPipeline();
    await p.catalog.putPlans([
      plan({ copyRegions: [], drill: { schedule: 'rate(7 days)', sampleObjects: 1, recentSnapshots: 1 } }),
    ]);
    const large = Buffer.concat([Buffer.alloc(CHUNK_SIZE_BYTES, 1), Buffer.alloc(99, 2)]);
    p.objects.createBucket('source');
    await p.objects.put('source', 'large.bin', large, {});
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    p.objects.createBucket(SCRATCH);
    const streamed: string[] = [];
    const putStream = p.objects.putStream.bind(p.objects);
    p.objects.putStream = async (bucket, key, chunks, attributes) => {
      streamed.push(key);
      return putStream(bucket, key, chunks, attributes);
    };
    let nowMs = 0;
    const getRange = p.primary.getRange.bind(p.primary);
    p.primary.getRange = async (key, offsetBytes, lengthBytes) => {
      nowMs += 10;
      return getRange(key, offsetBytes, lengthBytes);
    };
    // Act
    const drill = await runDrill(
      { ...p.deps, drillBucket: SCRATCH, elapsedMs: () => nowMs },
      {
        kind: 'drill',
        planId: 'photos',
        drillId: '20260302T000000Z',
        scheduledAt: '2026-03-02T00:00:00.000Z',
      },
    );
    // Assess: two blobs, two ranged GETs; time to first byte is the first one's
    expect(drill.status).toBe('PASSED');
    expect(drill.regions['us-east-1']).toMatchObject({
      objects: 1,
      bytes: large.length,
      timeToFirstByteMs: 10,
      seconds: 0.02,
    });
    expect(streamed).toEqual(['strongbox-drill/photos/20260302T000000Z/us-east-1/large.bin']);
    expect(p.objects.buckets.get(SCRATCH)?.size).toBe(0);
  });
});
