// Restores operators need: a key at any captured version, a prefix, include and exclude globs, the
// original bucket or another one under an overwrite policy, dry runs, clear errors before anything
// is written, and blobs in archive storage classes. All on the memory twins.
import { beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '#domain/errors.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { ArchivePendingError } from '#domain/restore/archive.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { listVersions } from '#domain/restore/versions.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const KEYS = ['a.txt', 'notes.md', 'dir/b.txt', 'dir/sub/c.txt', 'dir/tmp/x.tmp', 'other/e.txt'];

let p: MemoryPipeline;

async function snapshotNow(): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.advance(3600_000);
  return snapshotId;
}

function keysIn(bucket: string): string[] {
  return [...(p.objects.buckets.get(bucket)?.keys() ?? [])].sort();
}

async function textOf(bucket: string, key: string): Promise<string> {
  return Buffer.from((await p.objects.get(bucket, key)).body).toString();
}

beforeEach(async () => {
  p = memoryPipeline();
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  for (const key of KEYS) await putText(p, key, `content of ${key}`);
  p.objects.createBucket('restored');
});

describe('selecting what to restore', () => {
  it('leaves out what exclude globs match, after include', async () => {
    // Prepare
    await snapshotNow();
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      include: ['dir/**'],
      exclude: ['**/*.tmp'],
    });
    // Assess
    expect(keysIn('restored')).toEqual(['dir/b.txt', 'dir/sub/c.txt']);
    expect(report).toMatchObject({ selected: 2, objects: 2, warnings: [] });
  });

  it('restores only keys under a prefix', async () => {
    await snapshotNow();
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      prefix: 'dir/',
    });
    expect(keysIn('restored')).toEqual(['dir/b.txt', 'dir/sub/c.txt', 'dir/tmp/x.tmp']);
    expect(report.objects).toBe(3);
  });

  it('warns, writes nothing and succeeds when a glob matches nothing', async () => {
    // Prepare
    await snapshotNow();
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      include: ['photos/**'],
    });
    // Assess
    expect(report.objects).toBe(0);
    expect(report.warnings).toEqual([
      "include glob 'photos/**' matches no object of snapshot 20260301T000000.000Z",
      'nothing to restore: the request selects no object of snapshot 20260301T000000.000Z',
    ]);
    expect(keysIn('restored')).toEqual([]);
  });

  it('warns about one glob that matches nothing while restoring what the others match', async () => {
    await snapshotNow();
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      include: ['*.md', '*.jpg'],
      exclude: ['**/*.bak'],
    });
    expect(keysIn('restored')).toEqual(['notes.md']);
    expect(report.warnings).toEqual([
      "include glob '*.jpg' matches no object of snapshot 20260301T000000.000Z",
      "exclude glob '**/*.bak' matches no object of snapshot 20260301T000000.000Z",
    ]);
  });

  it('warns when a prefix matches nothing', async () => {
    await snapshotNow();
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      prefix: 'nope/',
    });
    expect(report.objects).toBe(0);
    expect(report.warnings[0]).toBe("prefix 'nope/' matches no object of snapshot 20260301T000000.000Z");
  });

  it('restores a single key at an older captured version', async () => {
    // Prepare
    const first = await snapshotNow();
    await putText(p, 'a.txt', 'second version');
    await snapshotNow();
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      key: 'a.txt',
      snapshot: first,
    });
    // Assess
    expect(keysIn('restored')).toEqual(['a.txt']);
    expect(await textOf('restored', 'a.txt')).toBe('content of a.txt');
    expect(report).toMatchObject({ snapshotId: first, objects: 1 });
  });

  it('refuses a key the snapshot does not hold, pointing at the versions command', async () => {
    await snapshotNow();
    const restoring = restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      key: 'missing.txt',
    });
    await expect(restoring).rejects.toBeInstanceOf(NotFoundError);
    await expect(restoring).rejects.toThrow(/does not hold 'missing.txt'.*strongbox versions/);
  });
});

describe('bad requests fail before anything is written', () => {
  it('names the first snapshot when a point in time is before it', async () => {
    // Prepare
    await snapshotNow();
    // Act
    const restoring = restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      pointInTime: '2025-12-31T23:00:00Z',
    });
    // Assess
    await expect(restoring).rejects.toBeInstanceOf(NotFoundError);
    await expect(restoring).rejects.toThrow(
      "plan 'photos' has no committed snapshot at or before 2025-12-31T23:00:00Z: its first snapshot (20260301T000000.000Z) was taken at 2026-03-01T00:00:00.000Z",
    );
    expect(keysIn('restored')).toEqual([]);
  });

  it('refuses an unknown snapshot', async () => {
    await snapshotNow();
    await expect(
      restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored', snapshot: '20990101T000000Z' }),
    ).rejects.toThrow("plan 'photos' has no snapshot '20990101T000000Z'");
    expect(keysIn('restored')).toEqual([]);
  });

  it('refuses a vault bucket as the target', async () => {
    await snapshotNow();
    await expect(restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'vault-use1' })).rejects.toThrow(
      ValidationError,
    );
  });
});

describe('restoring to the original bucket under an overwrite policy', () => {
  /** After the snapshot: a.txt changed size, notes.md changed content at the same size, dir/b.txt deleted. */
  async function changeSourceAfterSnapshot(): Promise<void> {
    await snapshotNow();
    await putText(p, 'a.txt', 'a.txt was rewritten entirely');
    await putText(p, 'notes.md', 'CONTENT OF NOTES.MD');
    p.objects.buckets.get('source')?.delete('dir/b.txt');
  }

  it("defaults to the plan's source bucket and 'never': only missing keys are written", async () => {
    // Prepare
    await changeSourceAfterSnapshot();
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos' });
    // Assess
    expect(report).toMatchObject({
      targetBucket: 'source',
      overwrite: 'never',
      objects: 1,
      skipped: { exists: 5, unchanged: 0 },
    });
    expect(report.bytes).toBe('content of dir/b.txt'.length);
    expect(await textOf('source', 'dir/b.txt')).toBe('content of dir/b.txt');
    expect(await textOf('source', 'a.txt')).toBe('a.txt was rewritten entirely');
    expect(report.skippedObjects).toContainEqual({ key: 'a.txt', reason: 'exists' });
    expect(report.skippedObjects).toHaveLength(5);
  });

  it("'ifChanged' rewrites objects whose size or content differ, and skips identical ones", async () => {
    // Prepare
    await changeSourceAfterSnapshot();
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', overwrite: 'ifChanged' });
    // Assess
    expect(report).toMatchObject({ objects: 3, skipped: { exists: 0, unchanged: 3 } });
    expect(await textOf('source', 'a.txt')).toBe('content of a.txt');
    expect(await textOf('source', 'notes.md')).toBe('content of notes.md');
    expect(await textOf('source', 'dir/b.txt')).toBe('content of dir/b.txt');
    expect(report.skippedObjects.map((s) => s.key).sort()).toEqual([
      'dir/sub/c.txt',
      'dir/tmp/x.tmp',
      'other/e.txt',
    ]);
    expect(report.skippedObjects.every((s) => s.reason === 'unchanged')).toBe(true);
  });

  it("'always' rewrites every selected object without looking at the target", async () => {
    // Prepare
    await changeSourceAfterSnapshot();
    const headsBefore = p.objects.heads.length;
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', overwrite: 'always' });
    // Assess
    expect(report).toMatchObject({ objects: 6, skipped: { exists: 0, unchanged: 0 } });
    expect(p.objects.heads.length).toBe(headsBefore);
    expect(await textOf('source', 'a.txt')).toBe('content of a.txt');
  });

  it('counts on a dry run what would be written and skipped, writing nothing', async () => {
    // Prepare
    await changeSourceAfterSnapshot();
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', overwrite: 'ifChanged', dryRun: true });
    // Assess
    expect(report).toMatchObject({ dryRun: true, objects: 3, skipped: { exists: 0, unchanged: 3 } });
    expect(report.keys).toEqual(['a.txt', 'dir/b.txt', 'notes.md']);
    expect(report.bytes).toBe(
      'content of a.txt'.length + 'content of dir/b.txt'.length + 'content of notes.md'.length,
    );
    expect(await textOf('source', 'a.txt')).toBe('a.txt was rewritten entirely');
    expect(keysIn('source')).not.toContain('dir/b.txt');
  });

  it('lists at most 1000 skipped objects but counts them all', async () => {
    // Prepare
    for (let i = 0; i < 1005; i++) await putText(p, `many/${String(i).padStart(4, '0')}`, 'x');
    await snapshotNow();
    // Act
    const report = await restoreSnapshot(p.deps, { plan: 'photos', prefix: 'many/', dryRun: true });
    // Assess
    expect(report.skipped.exists).toBe(1005);
    expect(report.skippedObjects).toHaveLength(1000);
  });
});

describe('listVersions', () => {
  it('lists the captured versions of a key newest first, one per distinct ETag', async () => {
    // Prepare
    const s1 = await snapshotNow();
    const s2 = await snapshotNow();
    await putText(p, 'a.txt', 'v2 of a');
    const s3 = await snapshotNow();
    const s4 = await snapshotNow();
    // Act
    const versions = await listVersions(p.deps, { plan: 'photos', key: 'a.txt' });
    // Assess
    expect(versions.map((v) => [v.snapshotId, v.firstSnapshotId, v.sizeBytes])).toEqual([
      [s4, s3, 'v2 of a'.length],
      [s2, s1, 'content of a.txt'.length],
    ]);
    expect(versions[0]?.etag).not.toBe(versions[1]?.etag);
    expect(versions[1]?.time).toBe('2026-03-01T01:00:00.000Z');
  });

  it('stops reading manifests once the versions asked for are complete', async () => {
    // Prepare
    for (const text of ['one', 'two', 'three']) {
      await putText(p, 'a.txt', text);
      await snapshotNow();
    }
    const readsBefore = p.primary.calls.get;
    // Act
    const versions = await listVersions(p.deps, { plan: 'photos', key: 'a.txt', limit: 1 });
    // Assess
    expect(versions.map((v) => v.sizeBytes)).toEqual(['three'.length]);
    // Of the two newest snapshots: the root and the one part whose key range holds a.txt.
    expect(p.primary.calls.get - readsBefore).toBe(4);
  });

  it('lists nothing for a key no snapshot holds', async () => {
    await snapshotNow();
    expect(await listVersions(p.deps, { plan: 'photos', key: 'never.txt' })).toEqual([]);
  });
});

describe('packs in archive storage classes', () => {
  // Three snapshots, so that a.txt, notes.md and the four other objects lie in three packs.
  beforeEach(async () => {
    p.objects.buckets.get('source')?.clear();
    await putText(p, 'a.txt', 'content of a.txt');
    await snapshotNow();
    await putText(p, 'notes.md', 'content of notes.md');
    await snapshotNow();
    for (const key of KEYS.slice(2)) await putText(p, key, `content of ${key}`);
    await snapshotNow();
  });

  /** The vault key of the pack holding the (one-chunk) object whose content is `text`. */
  async function packKeyOf(text: string): Promise<string> {
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    const where = index.locate(contentIdOf(text));
    if (!where) throw new Error(`no blob holds '${text}'`);
    return VaultLayout.packKey(where.packId);
  }

  it('lays the objects out in three packs', async () => {
    const packs = await Promise.all(KEYS.map((key) => packKeyOf(`content of ${key}`)));
    expect(new Set(packs).size).toBe(3);
    expect(packs[0]).not.toBe(packs[1]);
    expect(new Set(packs.slice(2)).size).toBe(1);
  });

  it('asks for a restore with the chosen tier, re-checks after each sleep, and proceeds when ready', async () => {
    // Prepare
    const pack = await packKeyOf('content of a.txt');
    p.primary.archive(pack, 'GLACIER');
    const sleeps: number[] = [];
    const looks: number[] = [];
    const sleep = async (ms: number) => {
      sleeps.push(ms);
      if (sleeps.length === 2) p.primary.completeRestores();
    };
    // Act
    const report = await restoreSnapshot(
      p.deps,
      { plan: 'photos', targetBucket: 'restored', include: ['*.txt'], archiveTier: 'Bulk', archiveDays: 2 },
      { sleep, archivePollMs: 60_000, onArchive: ({ pending }) => looks.push(pending) },
    );
    // Assess
    expect(p.primary.restoreRequests).toEqual([{ key: pack, tier: 'Bulk', days: 2 }]);
    expect(sleeps).toEqual([60_000, 60_000]);
    expect(looks).toEqual([1, 1, 0]);
    expect(report.archive).toEqual({ packs: 1, blobs: 1, requested: 1, tier: 'Bulk' });
    expect(await textOf('restored', 'a.txt')).toBe('content of a.txt');
  });

  it('asks once for a pack that holds several of the objects, and counts their blobs', async () => {
    // Prepare: dir/b.txt, dir/sub/c.txt, dir/tmp/x.tmp and other/e.txt share one pack
    const pack = await packKeyOf('content of dir/b.txt');
    p.primary.archive(pack, 'GLACIER');
    // Act
    const report = await restoreSnapshot(
      p.deps,
      { plan: 'photos', targetBucket: 'restored' },
      { sleep: async () => p.primary.completeRestores(), archivePollMs: 1 },
    );
    // Assess
    expect(p.primary.restoreRequests).toEqual([{ key: pack, tier: 'Standard', days: 3 }]);
    expect(report.archive).toEqual({ packs: 1, blobs: 4, requested: 1, tier: 'Standard' });
    expect(report.objects).toBe(6);
    expect(await textOf('restored', 'other/e.txt')).toBe('content of other/e.txt');
  });

  it('refuses Expedited for a DEEP_ARCHIVE pack before asking for anything', async () => {
    // Prepare
    p.primary.archive(await packKeyOf('content of a.txt'), 'GLACIER');
    p.primary.archive(await packKeyOf('content of notes.md'), 'DEEP_ARCHIVE');
    // Act
    const restoring = restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      archiveTier: 'Expedited',
    });
    // Assess
    await expect(restoring).rejects.toBeInstanceOf(ValidationError);
    await expect(restoring).rejects.toThrow(
      'archiveTier: DEEP_ARCHIVE has no Expedited tier; use Standard (≤ 12 h) or Bulk (≤ 48 h)',
    );
    expect(p.primary.restoreRequests).toEqual([]);
    expect(keysIn('restored')).toEqual([]);
  });

  it('without a sleep, asks for the restores and fails retryably, writing nothing', async () => {
    // Prepare
    const pack = await packKeyOf('content of a.txt');
    p.primary.archive(pack, 'DEEP_ARCHIVE');
    // Act
    const restoring = restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    // Assess
    await expect(restoring).rejects.toBeInstanceOf(ArchivePendingError);
    await expect(restoring).rejects.toMatchObject({ retryable: true, pending: [pack] });
    expect(p.primary.restoreRequests).toEqual([{ key: pack, tier: 'Standard', days: 3 }]);
    expect(keysIn('restored')).toEqual([]);
  });

  it('does not ask again for a restore under way, and gives up after the longest wait', async () => {
    // Prepare
    const pack = await packKeyOf('content of a.txt');
    p.primary.archive(pack, 'GLACIER');
    await p.primary.requestRestore(pack, 'Standard', 3);
    let slept = 0;
    // Act
    const restoring = restoreSnapshot(
      p.deps,
      { plan: 'photos', targetBucket: 'restored' },
      {
        sleep: async () => {
          slept += 1;
        },
        archivePollMs: 1000,
        archiveMaxWaitMs: 3000,
      },
    );
    // Assess
    await expect(restoring).rejects.toThrow(
      /1 of 1 archived pack\(s\) are still being restored \(tier Standard\)/,
    );
    expect(slept).toBe(3);
    expect(p.primary.restoreRequests).toHaveLength(1);
  });

  it('reads GLACIER_IR packs directly, and a dry run asks for nothing', async () => {
    // Prepare
    p.primary.archive(await packKeyOf('content of a.txt'), 'GLACIER_IR');
    p.primary.archive(await packKeyOf('content of notes.md'), 'GLACIER');
    // Act
    const dry = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored', dryRun: true });
    const ir = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored', key: 'a.txt' });
    // Assess
    expect(dry.archive).toEqual({ packs: 1, blobs: 1, requested: 0, tier: 'Standard' });
    expect(dry.warnings).toEqual([
      '1 blob(s) are in 1 archived pack(s): a real restore first restores them with tier Standard',
    ]);
    expect(ir.objects).toBe(1);
    expect(ir.archive).toBeUndefined();
    expect(p.primary.restoreRequests).toEqual([]);
  });
});
