// Immutability on the memory twin: the write policy (lock on every document, the region's class on
// packs only), the twin's Object Lock (extend only, refuse deletes while retained), and the extension
// of the documents kept snapshots reference.
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { Envelope } from '#domain/envelope.ts';
import { ConflictError } from '#domain/errors.ts';
import {
  extendRetainedDocuments,
  extendRetentionForPlan,
  type LockPolicy,
  lockPolicyFor,
  putOptionsFor,
  retentionDue,
  withWritePolicy,
  writePolicyOf,
} from '#domain/immutability.ts';
import type { VaultStore } from '#domain/ports.ts';
import type { SnapshotRecord } from '#domain/records.ts';
import { PackWriter, writeIndex, writeManifest, writePart } from '#domain/repository/write.ts';
import { type ContentId, contentIdOf, VAULT_FORMAT_VERSION, VaultLayout } from '#domain/vault.ts';
import { loadConfig } from '#runtime/config.ts';
import { createContainer } from '#runtime/container.ts';
import { validationErrorOf } from '../support/errors.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

const DAY = 86_400_000;
const T0 = '2026-03-01T00:00:00.000Z';
const LOCK: LockPolicy = { mode: 'COMPLIANCE', days: 10 };
const at = (days: number) => new Date(Date.parse(T0) + days * DAY).toISOString();

let clock: ManualClock;
let memory: MemoryVaultStore;
let vault: VaultStore;
let envelope: Envelope;

beforeEach(() => {
  clock = new ManualClock(T0);
  memory = new MemoryVaultStore('eu-west-1', 'vault-euw1', clock);
  vault = withWritePolicy(memory, { lock: LOCK, packStorageClass: 'GLACIER_IR' }, clock);
  envelope = new Envelope(memoryKeyProvider());
});

describe('write policy', () => {
  it('locks every document and writes only packs in the region’s class', () => {
    const now = new Date(T0);
    const policy = { lock: LOCK, packStorageClass: 'GLACIER_IR' };
    expect(putOptionsFor(VaultLayout.packKey(`ab${'0'.repeat(62)}`), policy, now)).toEqual({
      lockMode: 'COMPLIANCE',
      retainUntil: at(10),
      storageClass: 'GLACIER_IR',
    });
    for (const key of [
      VaultLayout.indexKey('1'.repeat(64)),
      VaultLayout.partKey('photos', '2'.repeat(64)),
      VaultLayout.manifestKey('photos', '3'.repeat(64)),
    ]) {
      expect(putOptionsFor(key, policy, now)).toEqual({ lockMode: 'COMPLIANCE', retainUntil: at(10) });
    }
    expect(putOptionsFor(VaultLayout.packKey(`ab${'0'.repeat(62)}`), {}, now)).toEqual({});
  });

  it('rounds retain-until up to a whole second (S3 keeps seconds)', () => {
    expect(
      putOptionsFor(
        'index/x',
        { lock: { mode: 'GOVERNANCE', days: 1 } },
        new Date('2026-03-01T00:00:00.200Z'),
      ),
    ).toEqual({
      lockMode: 'GOVERNANCE',
      retainUntil: '2026-03-02T00:00:01.000Z',
    });
  });

  it('passes the options to the wrapped vault; the twin lists the class and reads GLACIER_IR at once', async () => {
    const key = VaultLayout.packKey(contentIdOf(Buffer.from('p')));
    await vault.put(key, Buffer.from('p'));
    await vault.put('index/abc', Buffer.from('i'));
    expect(memory.putOptions.get(key)).toEqual({
      lockMode: 'COMPLIANCE',
      retainUntil: at(10),
      storageClass: 'GLACIER_IR',
    });
    expect(memory.putOptions.get('index/abc')).toEqual({ lockMode: 'COMPLIANCE', retainUntil: at(10) });
    const listed = [];
    for await (const o of vault.list('')) listed.push([o.key, o.storageClass]);
    expect(listed).toEqual([
      ['index/abc', 'STANDARD'],
      [key, 'GLACIER_IR'],
    ]);
    expect(Buffer.from(await vault.get(key)).toString()).toBe('p');
    expect(await vault.storageStateOf?.(key)).toEqual({ storageClass: 'GLACIER_IR', restore: 'none' });
    expect(await vault.retainUntil(key)).toBe(at(10));
  });

  it('explicit options win; re-wrapping replaces the policy; plans may override the lock', async () => {
    await vault.put('index/a', Buffer.from('a'), { lockMode: 'GOVERNANCE', retainUntil: at(2) });
    expect(memory.retention.get('index/a')).toEqual({ mode: 'GOVERNANCE', retainUntil: at(2) });
    const rewrapped = withWritePolicy(vault, { packStorageClass: 'STANDARD_IA' }, clock);
    expect(writePolicyOf(rewrapped)).toEqual({ packStorageClass: 'STANDARD_IA' });
    expect(lockPolicyFor({}, vault)).toEqual(LOCK);
    expect(lockPolicyFor({ immutability: { mode: 'GOVERNANCE', days: 90 } }, vault)).toEqual({
      mode: 'GOVERNANCE',
      days: 90,
    });
    expect(lockPolicyFor({}, memory)).toBeUndefined();
  });
});

describe('memory twin Object Lock', () => {
  it('refuses to delete a retained document until its retain-until, then deletes it', async () => {
    await vault.put('manifests/photos/x', Buffer.from('root'));
    await memory.put('parts/photos/free', Buffer.from('part'));
    await expect(vault.delete(['parts/photos/free', 'manifests/photos/x'])).rejects.toBeInstanceOf(
      ConflictError,
    );
    // Nothing of a refused batch is deleted.
    expect(memory.objects.has('parts/photos/free')).toBe(true);
    clock.set(new Date(Date.parse(at(10)) - 1));
    await expect(vault.delete(['manifests/photos/x'])).rejects.toThrow(/retained \(COMPLIANCE\) until/);
    clock.set(at(10));
    await vault.delete(['manifests/photos/x', 'parts/photos/free']);
    expect(memory.objects.size).toBe(0);
  });

  it('extends only later and keeps the mode', async () => {
    await vault.put('index/a', Buffer.from('a'));
    expect(await vault.extendRetention('index/a', at(5), 'GOVERNANCE')).toBe(false);
    expect(await vault.extendRetention('index/a', at(20), 'GOVERNANCE')).toBe(true);
    expect(memory.retention.get('index/a')).toEqual({ mode: 'COMPLIANCE', retainUntil: at(20) });
    await memory.put('index/b', Buffer.from('b'));
    expect(await memory.retainUntil('index/b')).toBeUndefined();
    expect(await memory.extendRetention('index/b', at(3), 'GOVERNANCE')).toBe(true);
    expect(memory.retention.get('index/b')).toEqual({ mode: 'GOVERNANCE', retainUntil: at(3) });
  });
});

describe('retentionDue', () => {
  it('leaves a document retained long enough alone, else extends it half a period past what is needed', () => {
    expect(retentionDue(at(12), at(10), LOCK)).toBeUndefined();
    expect(retentionDue(at(10), at(10), LOCK)).toBeUndefined();
    expect(retentionDue(at(9), at(10), LOCK)).toBe(at(15));
    expect(retentionDue(undefined, at(10), LOCK)).toBe(at(15));
  });
});

describe('extendRetainedDocuments', () => {
  /**
   * Store a snapshot whose one object has the given blobs, packing only `fresh` ones (the others are
   * in the vault already, as a snapshot reuses what the index locates); returns its catalog record.
   */
  async function snapshot(
    snapshotId: string,
    time: string,
    blobs: Buffer[],
    fresh: Buffer[] = blobs,
  ): Promise<SnapshotRecord> {
    const writer = new PackWriter(vault, envelope);
    for (const b of fresh) await writer.add(contentIdOf(b), b);
    await writeIndex(vault, envelope, await writer.flush());
    const ids = blobs.map((b) => contentIdOf(b));
    const { ref } = await writePart(vault, envelope, 'photos', [
      { key: `k-${snapshotId}`, sizeBytes: 10, etag: 'e', lastModified: time, blobs: ids },
    ]);
    const { manifestId } = await writeManifest(vault, envelope, {
      version: VAULT_FORMAT_VERSION,
      type: 'manifest',
      planId: 'photos',
      snapshotId,
      parentSnapshotId: null,
      source: { bucket: 'source', prefix: '' },
      scheduledAt: time,
      time,
      completedAt: time,
      totals: { objectCount: 1, logicalBytes: 10 },
      parts: [ref],
    });
    return { planId: 'photos', snapshotId, status: 'COMMITTED', scheduledAt: time, time, manifestId };
  }

  it('extends the documents a newer snapshot reuses, once per half period, and nothing else', async () => {
    // Prepare: A at T0 writes blob x (pack P1); B at T0+6d reuses x (P1, written at T0) and adds y.
    const x = randomBytes(100);
    const y = randomBytes(100);
    const a = await snapshot('20260301T000000Z', T0, [x]);
    clock.set(at(6));
    const b = await snapshot('20260307T000000Z', at(6), [x, y], [y]);
    // The pack and the index document A wrote (retained until T0+10d).
    const writtenWithA = (prefix: string) =>
      [...memory.objects.keys()].find(
        (k) => k.startsWith(prefix) && memory.putOptions.get(k)?.retainUntil === at(10),
      ) as string;
    const p1 = writtenWithA('packs/');
    const i1 = writtenWithA('index/');
    // Act
    const first = await extendRetainedDocuments({ envelope }, vault, [a, b], LOCK);
    // Assess: P1 and the index naming it now cover B (T0+6d+10d) plus half a period; A's root and
    // part (needed until T0+10d) and B's own documents (written at T0+6d) are left alone.
    expect(first).toMatchObject({
      region: 'eu-west-1',
      extended: 2,
      snapshotsAbsent: 0,
      documentsMissing: 0,
      unlocatedBlobs: 0,
    });
    expect(first.documents).toBe(8); // 2 roots, 2 parts, 2 packs, the 2 index documents naming them
    expect(memory.retentionExtensions.map((e) => e.key).sort()).toEqual([i1, p1].sort());
    expect(await vault.retainUntil(p1)).toBe(at(21));
    expect(await vault.retainUntil(i1)).toBe(at(21));
    // A second run finds nothing due.
    const second = await extendRetainedDocuments({ envelope }, vault, [a, b], LOCK);
    expect(second.extended).toBe(0);
    // Forgetting A changes nothing for B's documents; snapshots the vault lacks are skipped.
    const c = { ...b, snapshotId: 'gone', manifestId: 'f'.repeat(64) as ContentId };
    expect(await extendRetainedDocuments({ envelope }, vault, [b, c], LOCK)).toMatchObject({
      extended: 0,
      snapshotsAbsent: 1,
    });
  });

  it('extendRetentionForPlan: the plan’s lock in each of its vaults, over its COMMITTED snapshots only', async () => {
    const x = randomBytes(50);
    const a = await snapshot('20260301T000000Z', T0, [x]);
    clock.set(at(8));
    const forgotten = {
      ...(await snapshot('20260309T000000Z', at(8), [x], [])),
      status: 'FORGOTTEN' as const,
    };
    // The plan's own lock (30 days from A's time), in a vault without a write policy.
    const results = await extendRetentionForPlan(
      { envelope, vaults: { primary: memory, copies: new Map() } },
      { id: 'photos', copyRegions: [], immutability: { mode: 'GOVERNANCE', days: 30 } },
      [a, forgotten],
    );
    // A's root, part, pack and index document; the forgotten snapshot's root is not among them.
    expect(results.map((r) => [r.region, r.documents, r.extended])).toEqual([['eu-west-1', 4, 4]]);
    expect(await vault.retainUntil(VaultLayout.manifestKey('photos', a.manifestId as ContentId))).toBe(
      at(45),
    );
    // The forgotten snapshot's root keeps the lock it was written with (T0+8d+10d).
    expect(
      await vault.retainUntil(VaultLayout.manifestKey('photos', forgotten.manifestId as ContentId)),
    ).toBe(at(18));
    // Without any lock (no plan lock, no write policy), nothing is read.
    expect(
      await extendRetentionForPlan(
        { envelope, vaults: { primary: memory, copies: new Map() } },
        { id: 'photos' },
        [a],
      ),
    ).toEqual([]);
  });
});

describe('configuration', () => {
  const env = {
    STRONGBOX_PRIMARY_REGION: 'us-east-1',
    STRONGBOX_STATE_TABLE: 'strongbox-state',
    STRONGBOX_VAULT_BUCKET: 'strongbox-vault-use1',
    STRONGBOX_COPY_VAULTS: 'eu-west-1=strongbox-vault-euw1',
    STRONGBOX_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    STRONGBOX_SNAPSHOT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/snapshot',
    STRONGBOX_COPY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/copy',
    STRONGBOX_VERIFY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/verify',
    STRONGBOX_PRUNE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/prune',
  };

  it('reads the lock and the pack classes, and the container wraps each region’s vault with its own', () => {
    const config = loadConfig({
      ...env,
      STRONGBOX_OBJECT_LOCK_MODE: 'GOVERNANCE',
      STRONGBOX_OBJECT_LOCK_DAYS: '35',
      STRONGBOX_PACK_STORAGE_CLASSES: 'eu-west-1=GLACIER_IR',
    });
    expect(config.objectLock).toEqual({ mode: 'GOVERNANCE', days: 35 });
    expect(config.packStorageClasses).toEqual(new Map([['eu-west-1', 'GLACIER_IR']]));
    const { vaults } = createContainer(config).pipeline;
    expect(writePolicyOf(vaults.primary)).toEqual({ lock: { mode: 'GOVERNANCE', days: 35 } });
    expect(writePolicyOf(vaults.copies.get('eu-west-1') as VaultStore)).toEqual({
      lock: { mode: 'GOVERNANCE', days: 35 },
      packStorageClass: 'GLACIER_IR',
    });
  });

  it('leaves vaults unwrapped when nothing is configured (empty values count as unset)', () => {
    const config = loadConfig({
      ...env,
      STRONGBOX_OBJECT_LOCK_MODE: '',
      STRONGBOX_OBJECT_LOCK_DAYS: '',
      STRONGBOX_PACK_STORAGE_CLASSES: '',
    });
    expect(config.objectLock).toBeUndefined();
    expect(config.packStorageClasses).toBeUndefined();
    expect(writePolicyOf(createContainer(config).pipeline.vaults.primary)).toBeUndefined();
  });

  it.each([
    [{ STRONGBOX_OBJECT_LOCK_MODE: 'COMPLIANCE' }, 'STRONGBOX_OBJECT_LOCK_DAYS'],
    [{ STRONGBOX_OBJECT_LOCK_DAYS: '30' }, 'STRONGBOX_OBJECT_LOCK_MODE'],
    [{ STRONGBOX_OBJECT_LOCK_MODE: 'LEGAL', STRONGBOX_OBJECT_LOCK_DAYS: '30' }, 'STRONGBOX_OBJECT_LOCK_MODE'],
    [
      { STRONGBOX_OBJECT_LOCK_MODE: 'COMPLIANCE', STRONGBOX_OBJECT_LOCK_DAYS: '0' },
      'STRONGBOX_OBJECT_LOCK_DAYS',
    ],
    [{ STRONGBOX_PACK_STORAGE_CLASSES: 'eu-west-1=DEEP_ARCHIVE' }, 'STRONGBOX_PACK_STORAGE_CLASSES'],
  ])('refuses %o, naming %s', (vars, name) => {
    expect(validationErrorOf(() => loadConfig({ ...env, ...vars })).field).toBe(name);
  });
});
