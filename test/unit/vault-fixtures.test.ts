// Frozen vaults (test/fixtures/vaults, written once by test/fixtures/make-vaults.ts and committed):
// this release must still restore, verify and repair a vault an earlier release wrote, and diagnose
// each kind of damage as it did. Never regenerate the fixtures to make this pass: a format change
// keeps them readable, or adds a new fixture (docs/format.md, version 2).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IntegrityError, isRetryable, NotFoundError } from '#domain/errors.ts';
import type { RegionVerification, TierVerification, Verification } from '#domain/records.ts';
import { repairCatalog } from '#domain/repair.ts';
import { readPackHeader } from '#domain/repository/read-documents.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { VAULT_FORMAT_VERSION, VaultLayout } from '#domain/vault.ts';
import { describeFailure, regionProblems } from '#domain/verify/report.ts';
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import {
  FIXTURE_REGION,
  type FixtureExpected,
  type FixtureVault,
  loadFixtureVault,
  readFixtureJson,
} from '../support/fixture-vault.ts';

const expected = await readFixtureJson<FixtureExpected>('healthy', 'expected.json');
const [FULL, INCREMENTAL] = expected.snapshots as [
  FixtureExpected['snapshots'][number],
  FixtureExpected['snapshots'][number],
];
const PLAN = expected.planId;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Keys of `snapshot` whose content the other snapshot does not hold (one-chunk objects: blob id = SHA-256). */
function keysOnlyIn(snapshot: typeof FULL, other: typeof FULL): string[] {
  const theirs = new Set(Object.values(other.objects));
  return Object.keys(snapshot.objects).filter((k) => !theirs.has(snapshot.objects[k] as string));
}
/** Distinct blob ids (= content SHA-256s: every object is one chunk) of some keys of a snapshot. */
function blobsOf(snapshot: typeof FULL, keys = Object.keys(snapshot.objects)): string[] {
  return [...new Set(keys.map((k) => snapshot.objects[k] as string))].sort();
}

/** Restore a snapshot into a fresh bucket; the report, or the error it threw. */
async function restoreInto(fx: FixtureVault, bucket: string, snapshotId: string, exclude?: string[]) {
  fx.objects.createBucket(bucket);
  return restoreSnapshot(fx.deps, {
    plan: PLAN,
    snapshot: snapshotId,
    targetBucket: bucket,
    ...(exclude ? { exclude } : {}),
  });
}

/** What a bucket holds: key → SHA-256. */
async function hashesIn(fx: FixtureVault, bucket: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const o of fx.objects.list(bucket, ''))
    out[o.key] = sha256((await fx.objects.get(bucket, o.key)).body);
  return out;
}

/** The expected objects of a snapshot, without some keys. */
function objectsWithout(snapshot: typeof FULL, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot.objects).filter(([k]) => !keys.includes(k)));
}

/** Run the pipeline's verification (catalog, checksum, deep over the plan's 100 % sample). */
async function verify(fx: FixtureVault, snapshotId: string): Promise<Verification> {
  const v = await verifySnapshot(fx.deps, { kind: 'verify', planId: PLAN, snapshotId });
  if (!v) throw new Error(`verify of ${snapshotId} returned nothing`);
  return v;
}
/** One tier's result in the fixtures' region, its blob lists sorted (the deep tier lists them in pass order). */
function region(tier: TierVerification | undefined): RegionVerification {
  const r = tier?.regions[FIXTURE_REGION] as RegionVerification;
  return { ...r, missingBlobs: [...r.missingBlobs].sort(), corruptBlobs: [...r.corruptBlobs].sort() };
}

describe('frozen vault fixtures: healthy', () => {
  it('is a vault of the format version this release reads', async () => {
    const fx = await loadFixtureVault('healthy');
    expect(fx.records.formatVersion).toBe(VAULT_FORMAT_VERSION);
    // Every document is a sealed envelope of that version (magic "SBX1", then the version byte).
    expect(fx.vault.objects.size).toBe(8);
    for (const [key, { body }] of fx.vault.objects) {
      if (VaultLayout.packIdOf(key)) continue; // a pack starts with its first blob's envelope
      expect(Buffer.from(body.subarray(0, 5)), key).toEqual(Buffer.from([0x53, 0x42, 0x58, 0x31, 2]));
    }
  });

  it('restores both snapshots byte for byte', async () => {
    const fx = await loadFixtureVault('healthy');
    expect(Object.keys(FULL.objects)).toHaveLength(12);
    expect(FULL.objects['data/empty.bin']).toBe(sha256(new Uint8Array()));
    expect(Object.keys(FULL.objects)).toContain('unicode/café ☕ 日本語.txt');
    for (const snapshot of [FULL, INCREMENTAL]) {
      const report = await restoreInto(fx, `restored-${snapshot.kind}`, snapshot.snapshotId);
      expect(report).toMatchObject({ snapshotId: snapshot.snapshotId, selected: 12, objects: 12 });
      expect(await hashesIn(fx, `restored-${snapshot.kind}`), snapshot.kind).toEqual(snapshot.objects);
    }
    // Content and attributes as the source had them.
    const cat = await fx.objects.get('restored-full', 'photos/2026/cat.jpg');
    expect(cat).toMatchObject({ contentType: 'image/jpeg', metadata: { camera: 'x100' } });
  });

  it('verifies healthy in every tier, every blob read', async () => {
    const fx = await loadFixtureVault('healthy');
    for (const snapshot of [FULL, INCREMENTAL]) {
      const v = await verify(fx, snapshot.snapshotId);
      expect(describeFailure(v.tiers)).toBeUndefined();
      expect(v.status).toBe('PASSED');
      for (const tier of ['catalog', 'checksum', 'deep'] as const) {
        expect(v.tiers[tier]?.status, `${snapshot.kind} ${tier}`).toBe('PASSED');
        expect(regionProblems(region(v.tiers[tier]))).toEqual([]);
      }
      const deep = region(v.tiers.deep);
      expect(deep.referencedBlobs).toBe(blobsOf(snapshot).length);
      expect(deep.checkedBlobs).toBe(deep.referencedBlobs);
    }
  });

  it('repair finds both roots known, and recreates both records from them when the catalog lost them', async () => {
    const known = await repairCatalog((await loadFixtureVault('healthy')).deps);
    expect(known).toMatchObject({ rootsListed: 2, rootsKnown: 2, recreated: [], skipped: [] });

    const fx = await loadFixtureVault('healthy', { catalog: 'plans' });
    const repaired = await repairCatalog(fx.deps);
    expect(repaired.recreated).toEqual([`${PLAN}/${FULL.snapshotId}`, `${PLAN}/${INCREMENTAL.snapshotId}`]);
    for (const original of fx.records.snapshots) {
      expect(await fx.catalog.getSnapshot(PLAN, original.snapshotId)).toMatchObject({
        status: 'COMMITTED',
        manifestId: original.manifestId,
        time: original.time,
        parentSnapshotId: original.parentSnapshotId,
        objectCount: original.objectCount,
        logicalBytes: original.logicalBytes,
      });
    }
    await restoreInto(fx, 'after-repair', INCREMENTAL.snapshotId);
    expect(await hashesIn(fx, 'after-repair')).toEqual(INCREMENTAL.objects);
  });
});

describe('frozen vault fixtures: damaged', () => {
  it('missing-pack: verify names the pack and the blobs only it held; restore refuses that snapshot, restores the rest', async () => {
    const fx = await loadFixtureVault('missing-pack');
    const packId = VaultLayout.packIdOf(fx.damage?.key ?? '') as string;
    expect(fx.vault.objects.has(VaultLayout.packKey(packId))).toBe(false);
    const lost = keysOnlyIn(INCREMENTAL, FULL); // what only the incremental snapshot added
    expect(lost.sort()).toEqual(['data/config.json', 'data/new.txt', 'docs/notes.md']);

    // The full snapshot does not need that pack.
    expect((await verify(fx, FULL.snapshotId)).status).toBe('PASSED');
    const v = await verify(fx, INCREMENTAL.snapshotId);
    expect(v.status).toBe('FAILED');
    for (const tier of ['catalog', 'checksum'] as const) {
      expect(region(v.tiers[tier]), tier).toMatchObject({
        manifestPresent: true,
        missingParts: [],
        missingPacks: [packId],
        missingBlobs: blobsOf(INCREMENTAL, lost),
      });
    }
    expect(region(v.tiers.deep)).toMatchObject({
      missingBlobs: blobsOf(INCREMENTAL, lost),
      corruptBlobs: [],
    });
    expect(describeFailure(v.tiers)).toContain(
      `catalog us-east-1: 1 missing pack(s) (${packId}…), 3 missing blob(s)`,
    );

    // Restore: the snapshot fails as a whole, naming the pack, before writing anything.
    const error = await restoreInto(fx, 'restored', INCREMENTAL.snapshotId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain(VaultLayout.packKey(packId));
    expect(await hashesIn(fx, 'restored')).toEqual({});
    // Leaving out what the pack held restores the rest; the full snapshot restores whole.
    await restoreInto(fx, 'the-rest', INCREMENTAL.snapshotId, lost);
    expect(await hashesIn(fx, 'the-rest')).toEqual(objectsWithout(INCREMENTAL, lost));
    await restoreInto(fx, 'full', FULL.snapshotId);
    expect(await hashesIn(fx, 'full')).toEqual(FULL.objects);

    // Repair works from the roots (intact): both records come back, and verification still sees the loss.
    const repairedFx = await loadFixtureVault('missing-pack', { catalog: 'plans' });
    expect((await repairCatalog(repairedFx.deps)).recreated).toHaveLength(2);
    expect(region((await verify(repairedFx, INCREMENTAL.snapshotId)).tiers.catalog).missingPacks).toEqual([
      packId,
    ]);
  });

  it('corrupt-blob: verify finds the pack checksum and the blob that does not open; restore refuses the object', async () => {
    const fx = await loadFixtureVault('corrupt-blob');
    const { blobId, key } = fx.damage ?? {};
    const packId = VaultLayout.packIdOf(key ?? '') as string;
    expect(blobId).toBe(FULL.objects['docs/readme.txt']);
    expect(INCREMENTAL.objects['docs/readme.txt']).toBe(blobId); // both snapshots hold it

    for (const snapshot of [FULL, INCREMENTAL]) {
      const v = await verify(fx, snapshot.snapshotId);
      expect(v.status, snapshot.kind).toBe('FAILED');
      // The catalog tier compares listings with the index only: the pack is there, it passes.
      expect(v.tiers.catalog?.status, snapshot.kind).toBe('PASSED');
      // S3 reports the stored bytes' checksum, not the one the index recorded at upload.
      expect(region(v.tiers.checksum), snapshot.kind).toMatchObject({
        missingPacks: [],
        mismatchedPacks: [packId],
      });
      // Reading every blob finds exactly the flipped one.
      expect(region(v.tiers.deep), snapshot.kind).toMatchObject({ missingBlobs: [], corruptBlobs: [blobId] });
    }

    // Restore: fails with a non-retryable integrity error naming the blob; the object is not written.
    const error = await restoreInto(fx, 'restored', FULL.snapshotId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(isRetryable(error)).toBe(false);
    expect((error as Error).message).toContain(`strongbox:blob:${blobId}`);
    expect(Object.keys(await hashesIn(fx, 'restored'))).not.toContain('docs/readme.txt');
    // Leaving that object out restores everything else.
    await restoreInto(fx, 'the-rest', FULL.snapshotId, ['docs/readme.txt']);
    expect(await hashesIn(fx, 'the-rest')).toEqual(objectsWithout(FULL, ['docs/readme.txt']));

    const repairedFx = await loadFixtureVault('corrupt-blob', { catalog: 'plans' });
    expect((await repairCatalog(repairedFx.deps)).recreated).toHaveLength(2);
    expect(region((await verify(repairedFx, FULL.snapshotId)).tiers.deep).corruptBlobs).toEqual([blobId]);
  });

  it('missing-index: verify reports the unindexed blobs missing, though their pack is intact; restore refuses before writing', async () => {
    const fx = await loadFixtureVault('missing-index');
    const indexId = VaultLayout.indexIdOf(fx.damage?.key ?? '') as string;
    expect(fx.vault.objects.has(VaultLayout.indexKey(indexId))).toBe(false);
    const unindexedFull = blobsOf(FULL); // the full snapshot's pack is the one no index names now
    const unindexedIncremental = blobsOf(
      INCREMENTAL,
      Object.keys(objectsWithout(INCREMENTAL, keysOnlyIn(INCREMENTAL, FULL))),
    );

    for (const [snapshot, unindexed] of [
      [FULL, unindexedFull],
      [INCREMENTAL, unindexedIncremental],
    ] as const) {
      const v = await verify(fx, snapshot.snapshotId);
      expect(v.status, snapshot.kind).toBe('FAILED');
      // No index locates them, so no pack is named missing: the blobs are.
      expect(region(v.tiers.catalog), snapshot.kind).toMatchObject({
        missingPacks: [],
        missingBlobs: unindexed,
      });
      expect(region(v.tiers.checksum), snapshot.kind).toMatchObject({
        mismatchedPacks: [],
        missingBlobs: unindexed,
      });
      expect(region(v.tiers.deep), snapshot.kind).toMatchObject({
        missingBlobs: unindexed,
        corruptBlobs: [],
      });
    }

    // Restore: refused before any write, naming a blob no index locates.
    const error = await restoreInto(fx, 'restored', FULL.snapshotId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(
      /^blob [0-9a-f]{64} of '.+' is in no index of fixture-vault: the vault lacks it$/,
    );
    expect(await hashesIn(fx, 'restored')).toEqual({});
    // What the incremental snapshot added is indexed (its own index document): that restores.
    const added = keysOnlyIn(INCREMENTAL, FULL);
    await restoreInto(fx, 'added', INCREMENTAL.snapshotId, Object.keys(objectsWithout(INCREMENTAL, added)));
    expect(Object.keys(await hashesIn(fx, 'added')).sort()).toEqual(added.sort());

    // Diagnosis: the data is still there. The unindexed pack's own header (packs re-index from their
    // bytes) names every blob verification reported missing; Strongbox has no index rebuild yet.
    const packKeys = [...fx.vault.objects.keys()].filter((k) => VaultLayout.packIdOf(k));
    const headers = await Promise.all(
      packKeys.map((k) => readPackHeader(fx.vault, fx.deps.envelope, VaultLayout.packIdOf(k) as string)),
    );
    const inPacks = new Set(headers.flatMap((h) => h.blobs.map((b) => b.blobId)));
    for (const blob of unindexedFull) expect(inPacks.has(blob), blob).toBe(true);

    const repairedFx = await loadFixtureVault('missing-index', { catalog: 'plans' });
    expect((await repairCatalog(repairedFx.deps)).recreated).toHaveLength(2);
    expect(region((await verify(repairedFx, FULL.snapshotId)).tiers.catalog).missingBlobs).toEqual(
      unindexedFull,
    );
  });

  it('missing-part: verify and restore of that snapshot fail naming the part; the other snapshot is whole', async () => {
    const fx = await loadFixtureVault('missing-part');
    const partKey = fx.damage?.key as string;
    const partId = VaultLayout.partIdOf(partKey) as string;
    expect(fx.vault.objects.has(partKey)).toBe(false);

    expect((await verify(fx, FULL.snapshotId)).status).toBe('PASSED');
    // Without the part there is nothing to verify against: verification fails (not retryable) and
    // records the failure on its task.
    const error = await verifySnapshot(fx.deps, {
      kind: 'verify',
      planId: PLAN,
      snapshotId: INCREMENTAL.snapshotId,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(isRetryable(error)).toBe(false);
    expect((error as Error).message).toContain(partKey);
    const [task] = await fx.catalog.listTasks(`${PLAN}/${INCREMENTAL.snapshotId}`);
    expect(task).toMatchObject({ status: 'FAILED', error: expect.stringContaining(partId) });

    const restoreError = await restoreInto(fx, 'restored', INCREMENTAL.snapshotId).catch((e: unknown) => e);
    expect(restoreError).toBeInstanceOf(NotFoundError);
    expect((restoreError as Error).message).toContain(partKey);
    expect(await hashesIn(fx, 'restored')).toEqual({});
    await restoreInto(fx, 'full', FULL.snapshotId);
    expect(await hashesIn(fx, 'full')).toEqual(FULL.objects);

    // Repair reads roots, not parts: it recreates both records; verification then names the part.
    const repairedFx = await loadFixtureVault('missing-part', { catalog: 'plans' });
    expect((await repairCatalog(repairedFx.deps)).recreated).toHaveLength(2);
    await expect(
      verifySnapshot(repairedFx.deps, { kind: 'verify', planId: PLAN, snapshotId: INCREMENTAL.snapshotId }),
    ).rejects.toThrow(partId);
  });

  it('wrong key (the healthy vault opened with another master key): every use case fails, not retryable', async () => {
    const wrong = {
      masterKey: createHash('sha256').update('not the fixtures key').digest(),
      keyLabel: 'another key',
    };
    const fx = await loadFixtureVault('healthy', wrong);
    const message = /^data key was not wrapped by the key in another key$/;

    const verifyError = await verify(fx, FULL.snapshotId).catch((e: unknown) => e);
    expect(verifyError).toBeInstanceOf(IntegrityError);
    expect(isRetryable(verifyError)).toBe(false);
    expect((verifyError as Error).message).toMatch(message);

    const restoreError = await restoreInto(fx, 'restored', INCREMENTAL.snapshotId).catch((e: unknown) => e);
    expect(restoreError).toBeInstanceOf(IntegrityError);
    expect(isRetryable(restoreError)).toBe(false);
    expect((restoreError as Error).message).toMatch(message);
    expect(await hashesIn(fx, 'restored')).toEqual({});

    // Repair recreates nothing from roots it cannot open, and says why for each.
    const repairedFx = await loadFixtureVault('healthy', { ...wrong, catalog: 'plans' });
    const repaired = await repairCatalog(repairedFx.deps);
    expect(repaired.recreated).toEqual([]);
    expect(repaired.skipped).toHaveLength(2);
    for (const s of repaired.skipped)
      expect(s.reason).toBe(
        'unreadable in us-east-1: IntegrityError: data key was not wrapped by the key in another key',
      );
    expect(await repairedFx.catalog.listSnapshots(PLAN)).toEqual([]);
  });
});
