import { beforeEach, describe, expect, it } from 'vitest';
import { Envelope } from '#domain/envelope.ts';
import { IntegrityError, NotFoundError, ValidationError } from '#domain/errors.ts';
import type { SnapshotRecord, SnapshotStatus } from '#domain/records.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { writePart } from '#domain/repository/write.ts';
import { parseRestoreRequest } from '#domain/restore/request.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { selectEntries, selectFromManifest, selectSnapshot } from '#domain/restore/selection.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, type ManifestEntry, type PartRef, VaultLayout } from '#domain/vault.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

function snap(snapshotId: string, status: SnapshotStatus, time?: string): SnapshotRecord {
  return {
    planId: 'photos',
    snapshotId,
    status,
    scheduledAt: time ?? '2026-03-01T00:00:00.000Z',
    ...(time ? { time } : {}),
    ...(status === 'COMMITTED' ? { manifestId: contentIdOf(snapshotId) } : {}),
  };
}

/** Oldest first, as the catalog lists them. */
const snapshots: SnapshotRecord[] = [
  snap('20260301T000000Z', 'COMMITTED', '2026-03-01T00:00:01.000Z'),
  snap('20260301T010000Z', 'FORGOTTEN', '2026-03-01T01:00:01.000Z'),
  snap('20260301T020000Z', 'COMMITTED', '2026-03-01T02:00:01.000Z'),
  snap('20260301T030000Z', 'FAILED'),
  snap('20260301T040000Z', 'COMMITTED', '2026-03-01T04:00:01.000Z'),
  snap('20260301T050000Z', 'RUNNING'),
];

describe('selectSnapshot', () => {
  it('picks the latest committed snapshot for "latest", skipping running and failed ones', () => {
    expect(selectSnapshot(snapshots, { plan: 'photos', snapshot: 'latest' }).snapshotId).toBe(
      '20260301T040000Z',
    );
  });

  it('picks a committed snapshot by id', () => {
    expect(selectSnapshot(snapshots, { plan: 'photos', snapshot: '20260301T020000Z' }).snapshotId).toBe(
      '20260301T020000Z',
    );
  });

  it.each([
    ['RUNNING', '20260301T050000Z'],
    ['FORGOTTEN', '20260301T010000Z'],
    ['FAILED', '20260301T030000Z'],
  ])('refuses a %s snapshot by id with NotFoundError', (status, snapshotId) => {
    const select = () => selectSnapshot(snapshots, { plan: 'photos', snapshot: snapshotId });
    expect(select).toThrow(NotFoundError);
    expect(select).toThrow(`is ${status}, not restorable`);
  });

  it('refuses an unknown snapshot id with NotFoundError', () => {
    expect(() => selectSnapshot(snapshots, { plan: 'photos', snapshot: '20990101T000000Z' })).toThrow(
      "plan 'photos' has no snapshot '20990101T000000Z'",
    );
  });

  it('refuses "latest" of a plan without a committed snapshot', () => {
    const none = [snap('20260301T000000Z', 'RUNNING'), snap('20260301T010000Z', 'FAILED')];
    expect(() => selectSnapshot(none, { plan: 'photos', snapshot: 'latest' })).toThrow(NotFoundError);
    expect(() => selectSnapshot([], { plan: 'photos', snapshot: 'latest' })).toThrow(
      /no committed snapshot yet/,
    );
  });

  it.each([
    ['between two snapshots', '2026-03-01T03:30:00Z', '20260301T020000Z'],
    ['exactly at a snapshot time', '2026-03-01T02:00:01.000Z', '20260301T020000Z'],
    ['a millisecond before a snapshot time', '2026-03-01T02:00:00.999Z', '20260301T000000Z'],
    ['after every snapshot', '2030-01-01T00:00:00Z', '20260301T040000Z'],
    ['in another offset', '2026-03-01T04:30:00+02:00', '20260301T020000Z'],
    ['within a forgotten snapshot', '2026-03-01T01:30:00Z', '20260301T000000Z'],
  ])(
    'picks the newest committed snapshot at or before a point in time (%s)',
    (_name, pointInTime, expected) => {
      const found = selectSnapshot(snapshots, { plan: 'photos', snapshot: 'latest', pointInTime });
      expect(found.snapshotId).toBe(expected);
    },
  );

  it('refuses a point in time before every committed snapshot', () => {
    const select = () =>
      selectSnapshot(snapshots, { plan: 'photos', snapshot: 'latest', pointInTime: '2026-03-01T00:00:00Z' });
    expect(select).toThrow(NotFoundError);
    expect(select).toThrow(/no committed snapshot at or before 2026-03-01T00:00:00Z/);
    expect(select).toThrow('its first snapshot (20260301T000000Z) was taken at 2026-03-01T00:00:01.000Z');
  });

  it('orders by time, not id: an on-demand snapshot taken in the second of a scheduled one sorts before it', () => {
    // Prepare: as the catalog lists them, by id ('.' < 'Z'); the on-demand one read the source last
    const mixed = [
      ...snapshots.slice(0, 5),
      snap('20260301T050000.500Z', 'COMMITTED', '2026-03-01T05:00:02.000Z'),
      snap('20260301T050000Z', 'COMMITTED', '2026-03-01T05:00:01.000Z'),
    ];
    const select = (request: { snapshot?: string; pointInTime?: string }) =>
      selectSnapshot(mixed, { plan: 'photos', snapshot: 'latest', ...request }).snapshotId;
    // Act, Assess
    expect(select({})).toBe('20260301T050000.500Z');
    expect(select({ pointInTime: '2026-03-01T06:00:00Z' })).toBe('20260301T050000.500Z');
    expect(select({ pointInTime: '2026-03-01T05:00:01.500Z' })).toBe('20260301T050000Z');
    expect(select({ snapshot: '20260301T050000.500Z' })).toBe('20260301T050000.500Z');
  });

  it('prefers the point in time over the snapshot id', () => {
    const found = selectSnapshot(snapshots, {
      plan: 'photos',
      snapshot: '20260301T040000Z',
      pointInTime: '2026-03-01T00:30:00Z',
    });
    expect(found.snapshotId).toBe('20260301T000000Z');
  });
});

describe('parseRestoreRequest', () => {
  it('fills in the defaults', () => {
    expect(parseRestoreRequest({ plan: 'photos', targetBucket: 'restored' })).toEqual({
      plan: 'photos',
      snapshot: 'latest',
      targetBucket: 'restored',
      targetPrefix: '',
      overwrite: 'never',
      archiveTier: 'Standard',
      archiveDays: 3,
      dryRun: false,
    });
  });

  it.each([
    ['a target bucket with capitals', { plan: 'photos', targetBucket: 'Restored' }, 'targetBucket'],
    ['a target bucket with underscores', { plan: 'photos', targetBucket: 'my_bucket' }, 'targetBucket'],
    ['a missing plan', { targetBucket: 'restored' }, 'plan'],
    ['an empty snapshot', { plan: 'photos', targetBucket: 'restored', snapshot: '' }, 'snapshot'],
    [
      'a point in time that is not ISO-8601',
      { plan: 'photos', targetBucket: 'restored', pointInTime: 'yesterday' },
      'pointInTime',
    ],
    ['an empty include glob', { plan: 'photos', targetBucket: 'restored', include: [''] }, 'include.0'],
    ['a dryRun given as a string', { plan: 'photos', targetBucket: 'restored', dryRun: 'yes' }, 'dryRun'],
    ['an unknown overwrite policy', { plan: 'photos', overwrite: 'sometimes' }, 'overwrite'],
    ['an unknown archive tier', { plan: 'photos', archiveTier: 'Fast' }, 'archiveTier'],
    ['an empty exclude glob', { plan: 'photos', exclude: [''] }, 'exclude.0'],
    ['a key with a prefix', { plan: 'photos', key: 'a.txt', prefix: 'dir/' }, 'key'],
    ['a key with include globs', { plan: 'photos', key: 'a.txt', include: ['*'] }, 'key'],
  ])('names the field of %s', (_name, input, field) => {
    let error: unknown;
    try {
      parseRestoreRequest(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as ValidationError).message.startsWith(`${field}: `)).toBe(true);
  });

  it('says why a target bucket is refused', () => {
    expect(() => parseRestoreRequest({ plan: 'photos', targetBucket: 'X' })).toThrow(
      /not a valid S3 bucket name/,
    );
  });

  it('refuses an unknown field', () => {
    expect(() => parseRestoreRequest({ plan: 'photos', targetBucket: 'restored', force: true })).toThrow(
      /force/,
    );
  });

  it('leaves the target bucket to the plan when none is named', () => {
    expect(parseRestoreRequest({ plan: 'photos' }).targetBucket).toBeUndefined();
  });
});

describe('restoreSnapshot', () => {
  let p: MemoryPipeline;

  async function snapshotNow(): Promise<string> {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    return snapshotId;
  }

  function restoredKeys(bucket = 'restored'): string[] {
    return [...(p.objects.buckets.get(bucket)?.keys() ?? [])].sort();
  }

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 10 } })]);
    for (const key of ['a.txt', 'notes.md', 'dir/b.txt', 'dir/sub/c.txt', 'dirt.txt', '.hidden/d.txt']) {
      await putText(p, key, `content of ${key}`);
    }
    p.objects.createBucket('restored');
  });

  it('restores everything without include globs', async () => {
    await snapshotNow();
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored' });
    expect(report.objects).toBe(6);
    expect(restoredKeys()).toEqual([
      '.hidden/d.txt',
      'a.txt',
      'dir/b.txt',
      'dir/sub/c.txt',
      'dirt.txt',
      'notes.md',
    ]);
  });

  it("restores only what 'dir/**' matches, at any depth", async () => {
    await snapshotNow();
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      include: ['dir/**'],
    });
    expect(restoredKeys()).toEqual(['dir/b.txt', 'dir/sub/c.txt']);
    expect(report.objects).toBe(2);
    expect(report.bytes).toBe('content of dir/b.txt'.length + 'content of dir/sub/c.txt'.length);
  });

  it("does not let '*.txt' cross a '/'", async () => {
    await snapshotNow();
    await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'restored', include: ['*.txt'] });
    expect(restoredKeys()).toEqual(['a.txt', 'dirt.txt']);
  });

  it('restores the union of several globs, including dot directories', async () => {
    await snapshotNow();
    await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      include: ['*.md', '**/d.txt'],
    });
    expect(restoredKeys()).toEqual(['.hidden/d.txt', 'notes.md']);
  });

  it('restores under the target prefix, byte-identical, with content type and metadata', async () => {
    await snapshotNow();
    await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      targetPrefix: 'r/',
      include: ['dir/b.txt'],
    });
    const restored = await p.objects.get('restored', 'r/dir/b.txt');
    expect(Buffer.from(restored.body).toString()).toBe('content of dir/b.txt');
    expect(restored.contentType).toBe('text/plain');
    expect(restored.metadata).toEqual({ origin: 'test' });
    expect(restoredKeys()).toEqual(['r/dir/b.txt']);
  });

  it('writes nothing on a dry run, and reports what it would write', async () => {
    // Prepare
    await snapshotNow();
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      targetPrefix: 'r/',
      include: ['dir/**'],
      dryRun: true,
    });
    // Assess
    expect(restoredKeys()).toEqual([]);
    expect(report).toMatchObject({ dryRun: true, objects: 2, keys: ['r/dir/b.txt', 'r/dir/sub/c.txt'] });
    expect(report.bytes).toBe('content of dir/b.txt'.length + 'content of dir/sub/c.txt'.length);
  });

  it('does not need the target bucket to exist on a dry run', async () => {
    await snapshotNow();
    const report = await restoreSnapshot(p.deps, { plan: 'photos', targetBucket: 'nowhere', dryRun: true });
    expect(report.objects).toBe(6);
    expect(p.objects.buckets.has('nowhere')).toBe(false);
  });

  it.each(['vault-use1', 'vault-euw1'])(
    'refuses the vault bucket %s as a target, writing nothing',
    async (vault) => {
      // Prepare
      await snapshotNow();
      const before = [...p.primary.objects.keys()].sort();
      p.objects.createBucket(vault);
      // Act
      const restoring = restoreSnapshot(p.deps, { plan: 'photos', targetBucket: vault });
      // Assess
      await expect(restoring).rejects.toBeInstanceOf(ValidationError);
      await expect(restoring).rejects.toThrow(/^targetBucket: .*is a vault bucket/);
      expect(p.objects.buckets.get(vault)?.size).toBe(0);
      expect([...p.primary.objects.keys()].sort()).toEqual(before);
    },
  );

  it('restores the snapshot a point in time names', async () => {
    // Prepare
    const first = await snapshotNow();
    const between = new Date(p.clock.now().getTime() + 30 * 60_000).toISOString();
    p.clock.advance(3600_000);
    await putText(p, 'a.txt', 'changed');
    const second = await snapshotNow();
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      pointInTime: between,
      include: ['a.txt'],
    });
    // Assess
    expect(second).not.toBe(first);
    expect(report.snapshotId).toBe(first);
    expect(Buffer.from((await p.objects.get('restored', 'a.txt')).body).toString()).toBe('content of a.txt');
  });

  it('restores from a copy region once the snapshot is copied there', async () => {
    // Prepare
    await snapshotNow();
    for (const key of [...p.primary.objects.keys()]) p.primary.objects.delete(key);
    // Act
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      region: 'eu-west-1',
    });
    // Assess
    expect(report.region).toBe('eu-west-1');
    expect(report.objects).toBe(6);
  });

  it('refuses a region the snapshot was not copied to', async () => {
    await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
    await snapshotNow();
    const restoring = restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      region: 'eu-west-1',
    });
    await expect(restoring).rejects.toThrow(NotFoundError);
    await expect(restoring).rejects.toThrow(/has not been copied to eu-west-1/);
  });

  it('refuses an unknown plan', async () => {
    await expect(restoreSnapshot(p.deps, { plan: 'nope', targetBucket: 'restored' })).rejects.toThrow(
      "plan 'nope' does not exist",
    );
  });

  it('refuses to restore a blob that is corrupt in the vault, writing nothing for it', async () => {
    // Prepare
    await snapshotNow();
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    const where = index.locate(contentIdOf('content of a.txt'));
    const stored = where && p.primary.objects.get(VaultLayout.packKey(where.packId));
    if (!where || !stored) throw new Error('blob of a.txt not found');
    const last = where.offsetBytes + where.lengthBytes - 1;
    stored.body[last] = (stored.body[last] ?? 0) ^ 0xff;
    // Act
    const restoring = restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      include: ['a.txt'],
    });
    // Assess
    await expect(restoring).rejects.toBeInstanceOf(IntegrityError);
    expect(restoredKeys()).toEqual([]);
  });

  it('reports progress after each object', async () => {
    await snapshotNow();
    const progress: string[] = [];
    await restoreSnapshot(
      p.deps,
      { plan: 'photos', targetBucket: 'restored', include: ['dir/**'] },
      { onProgress: (p) => progress.push(`${p.phase} ${p.objects}/${p.total}`) },
    );
    expect(progress).toEqual(['check 1/2', 'check 2/2', 'write 1/2', 'write 2/2']);
  });
});

describe('selectFromManifest', () => {
  /** Five parts of four entries each: a/0…a/3, b/0…b/3, c/…, d/…, e/… */
  const KEYS = ['a', 'b', 'c', 'd', 'e'].flatMap((dir) => [0, 1, 2, 3].map((i) => `${dir}/${i}.txt`));
  let vault: MemoryVaultStore;
  let envelope: Envelope;
  let manifest: { planId: string; parts: PartRef[] };
  let entries: ManifestEntry[];

  const entryOf = (key: string): ManifestEntry => ({
    key,
    sizeBytes: key.length,
    etag: contentIdOf(key).slice(0, 32),
    lastModified: '2026-03-01T00:00:00.000Z',
    blobs: [contentIdOf(key)],
  });

  beforeEach(async () => {
    vault = new MemoryVaultStore('us-east-1', 'vault-use1', new ManualClock('2026-03-01T00:00:00Z'));
    envelope = new Envelope(memoryKeyProvider());
    entries = KEYS.map(entryOf);
    const parts: PartRef[] = [];
    for (let i = 0; i < entries.length; i += 4) {
      parts.push((await writePart(vault, envelope, 'photos', entries.slice(i, i + 4))).ref);
    }
    manifest = { planId: 'photos', parts };
    vault.calls.get = 0;
  });

  it.each([
    ['everything', {}],
    ['a prefix', { prefix: 'c/' }],
    ['a prefix across parts', { prefix: 'c' }],
    ['a prefix matching nothing', { prefix: 'x/' }],
    ['include and exclude globs', { include: ['*/1.txt', 'b/**'], exclude: ['b/2.txt', 'z/**'] }],
    ['a prefix and a glob', { prefix: 'd/', include: ['**/3.txt'] }],
    ['one key', { key: 'd/2.txt' }],
    ['a list of keys', { keys: ['e/0.txt', 'a/1.txt', 'c/3.txt', 'a/1.txt'] }],
    ['a list of keys, some not held', { keys: ['b/2.txt', 'b/9.txt', 'zz', 'x'] }],
    ['a list of keys and a glob', { keys: ['a/1.txt', 'b/1.txt', 'c/2.txt'], include: ['*/1.txt'] }],
  ])('selects what selectEntries selects, with the same warnings: %s', async (_name, request) => {
    const streamed = await selectFromManifest(vault, envelope, manifest, request, 'S');
    const whole = selectEntries(entries, request, 'S');
    expect(streamed.selected).toEqual(whole.selected);
    expect(streamed.selectedCount).toBe(whole.selected.length);
    expect(streamed.warnings).toEqual(whole.warnings);
  });

  it('reads only the part whose key range holds a single key', async () => {
    const { selected } = await selectFromManifest(vault, envelope, manifest, { key: 'd/2.txt' }, 'S');
    expect(selected.map((e) => e.key)).toEqual(['d/2.txt']);
    expect(vault.calls.get).toBe(1);
  });

  it('refuses a key no part holds, reading at most the part whose range holds it', async () => {
    await expect(selectFromManifest(vault, envelope, manifest, { key: 'b/25.txt' }, 'S')).rejects.toThrow(
      NotFoundError,
    );
    expect(vault.calls.get).toBe(1);
    vault.calls.get = 0;
    await expect(selectFromManifest(vault, envelope, manifest, { key: 'zzz' }, 'S')).rejects.toThrow(
      /does not hold 'zzz'/,
    );
    expect(vault.calls.get).toBe(0);
  });

  it('selects exactly the listed keys the snapshot holds, in manifest order, and names those it does not', async () => {
    const { selected, warnings } = await selectFromManifest(
      vault,
      envelope,
      manifest,
      { keys: ['e/0.txt', 'a/1.txt', 'b/9.txt', 'a/1.txt', 'c/3.txt'] },
      'S',
    );
    expect(selected.map((e) => e.key)).toEqual(['a/1.txt', 'c/3.txt', 'e/0.txt']);
    expect(warnings).toEqual(["1 of the 4 listed key(s) are not in snapshot S: 'b/9.txt'"]);
  });

  it('reads only the parts whose key range holds a listed key', async () => {
    // b/9.txt sorts after b/3.txt and before c/0.txt: no part's range holds it.
    await selectFromManifest(vault, envelope, manifest, { keys: ['a/1.txt', 'b/9.txt', 'd/0.txt'] }, 'S');
    expect(vault.calls.get).toBe(2);
  });

  it('reads only the parts whose key range meets a prefix', async () => {
    await selectFromManifest(vault, envelope, manifest, { prefix: 'c/' }, 'S');
    expect(vault.calls.get).toBe(1);
  });

  it.each([
    [{}, 0, 4],
    [{}, 6, 5],
    [{}, 16, 4],
    [{ prefix: 'b' }, 1, 3],
    [{ include: ['*/2.txt', '*/3.txt'] }, 3, 5],
    [{ exclude: ['a/**'] }, 4, 4],
  ])(
    'gives a restore slice its range of the selection: %j from %i, %i entries',
    async (request, first, count) => {
      const { selected } = await selectFromManifest(vault, envelope, manifest, request, 'S', {
        first,
        count,
      });
      expect(selected).toEqual(selectEntries(entries, request, 'S').selected.slice(first, first + count));
    },
  );

  it('skips the parts wholly before a range of a whole-snapshot selection, and stops after it', async () => {
    const { selected } = await selectFromManifest(vault, envelope, manifest, {}, 'S', { first: 9, count: 2 });
    expect(selected.map((e) => e.key)).toEqual(['c/1.txt', 'c/2.txt']);
    expect(vault.calls.get).toBe(1);
  });

  it('returns fewer entries than asked for a range past the selection', async () => {
    const { selected, selectedCount } = await selectFromManifest(vault, envelope, manifest, {}, 'S', {
      first: 18,
      count: 5,
    });
    expect(selected.map((e) => e.key)).toEqual(['e/2.txt', 'e/3.txt']);
    expect(selectedCount).toBe(20);
  });
});
