// The vault's keyring (docs/format.md#keyring): envelopes name a key document, key documents wrap
// the data key to the master keys; rotation rewraps key documents without touching a pack, and an
// old snapshot restores once the old key file is deleted.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalKeyRecipient } from '#adapters/key-providers.ts';
import { Envelope } from '#domain/envelope.ts';
import { IntegrityError } from '#domain/errors.ts';
import {
  dataKeyIdOf,
  dataKeyIdOfReference,
  KEYS_PREFIX,
  type KeyRecipient,
  KeyringKeyProvider,
  keyDocumentKey,
  listKeyDocuments,
  parseKeyDocument,
  retireRecipient,
  rotateKeys,
  withKeyDocuments,
} from '#domain/keyring.ts';
import type { VaultStore } from '#domain/ports.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { VaultLayout } from '#domain/vault.ts';
import {
  type FixtureExpected,
  fixtureKeyProvider,
  loadFixtureVault,
  readFixtureJson,
  readFixtureKey,
} from '../support/fixture-vault.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * A process of `p`'s pipeline on the keyring: new vault objects (so no cache of another process is
 * reused), an envelope over a keyring wrapping to `recipients` and unwrapping with `holders`.
 * `only` limits the vaults the process can reach (a primary region outage).
 */
function keyringProcess(
  p: MemoryPipeline,
  recipients: KeyRecipient[],
  holders: KeyRecipient[],
  only?: MemoryVaultStore[],
): { keyring: KeyringKeyProvider; primary: VaultStore; copy: VaultStore } {
  const reachable = only ?? [p.primary, p.copy];
  const keyring: KeyringKeyProvider = new KeyringKeyProvider({
    vaults: (): VaultStore[] => reachable,
    recipients: async () => recipients,
    holders: async () => holders,
    clock: p.clock,
  });
  const primary = withKeyDocuments(p.primary, keyring);
  const copy = withKeyDocuments(p.copy, keyring);
  p.deps.envelope = new Envelope(keyring);
  p.deps.vaults = { primary, copies: new Map([['eu-west-1', copy]]) };
  return { keyring, primary, copy };
}

/** Take one snapshot of `p`'s plan and run it through copy, verify and prune. */
async function snapshot(p: MemoryPipeline): Promise<string> {
  p.clock.advance(60_000);
  const started = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  return started.snapshotId;
}

/** Restore `snapshotId` of `region` into a fresh bucket: key → SHA-256 of what was written. */
async function restored(
  p: MemoryPipeline,
  snapshotId: string,
  region?: string,
): Promise<Record<string, string>> {
  const bucket = `restored-${Math.random().toString(36).slice(2)}`;
  p.objects.createBucket(bucket);
  await restoreSnapshot(p.deps, {
    plan: 'photos',
    snapshot: snapshotId,
    targetBucket: bucket,
    ...(region ? { region } : {}),
  });
  const out: Record<string, string> = {};
  for await (const o of p.objects.list(bucket, ''))
    out[o.key] = sha256((await p.objects.get(bucket, o.key)).body);
  return out;
}

/** Key documents a vault holds, parsed. */
async function keyDocuments(vault: MemoryVaultStore) {
  return Promise.all(
    (await listKeyDocuments(vault)).map(async (id) =>
      parseKeyDocument(await vault.get(keyDocumentKey(id)), id),
    ),
  );
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongbox-keyring-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the keyring', () => {
  it('seals with a key reference, storing the key document before the first document sealed with its key', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([plan()]);
    await putText(p, 'a.txt', 'alpha');
    const key = await LocalKeyRecipient.fromFile(join(dir, 'master.key'));
    keyringProcess(p, [key], [key]);
    const order: string[] = [];
    const put = p.primary.put.bind(p.primary);
    p.primary.put = (k, body, options) => {
      order.push(k);
      return put(k, body, options);
    };

    await snapshot(p);

    const firstKeyDocument = order.findIndex((k) => k.startsWith(KEYS_PREFIX));
    expect(firstKeyDocument).toBe(0);
    const [root] = [...p.primary.objects.keys()].filter((k) => k.startsWith('manifests/'));
    const sealed = Buffer.from(await p.primary.get(root as string));
    // The wrapped-key field (length at 6, bytes from 8) holds `SBK1` and the data key id: 20 bytes.
    expect(sealed.readUInt16BE(6)).toBe(20);
    const dataKeyId = dataKeyIdOfReference(sealed.subarray(8, 28)) as string;
    // Two data keys: one sealed the blob (content), one the other documents (metadata).
    const docs = await keyDocuments(p.primary);
    expect(docs.map((d) => d.purpose).sort()).toEqual(['content', 'metadata']);
    const doc = docs.find((d) => d.dataKeyId === dataKeyId);
    expect(doc).toMatchObject({
      version: 1,
      type: 'data-key',
      purpose: 'metadata',
      recipients: [{ kind: 'local-aes-256-gcm', keyId: key.keyId }],
    });
    // The master key's wrap is in the key document only, never in the envelope.
    expect(sealed.includes(Buffer.from(doc?.recipients[0]?.wrapped as string, 'base64'))).toBe(false);
  });

  it('copies the key documents with a snapshot, so the copy region restores through a primary outage', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([plan()]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'b.txt', 'bravo');
    const key = await LocalKeyRecipient.fromFile(join(dir, 'master.key'));
    keyringProcess(p, [key], [key]);
    const id = await snapshot(p);
    const expected = await restored(p, id);

    expect((await listKeyDocuments(p.copy)).sort()).toEqual((await listKeyDocuments(p.primary)).sort());
    // Another process reaching only the copy region's vault.
    keyringProcess(p, [key], [key], [p.copy]);
    expect(await restored(p, id, 'eu-west-1')).toEqual(expected);
  });

  it('stores the key documents an isolated vault needs there, so it restores with the primary and the copy region gone', async () => {
    // Prepare: a plan copying to the copy region and to isolated vault `offsite`, all on the keyring.
    const p = memoryPipeline();
    const offsite = new MemoryVaultStore('vault:offsite', 'isolated-offsite', p.clock);
    await p.catalog.putPlans([plan({ isolatedVaults: ['offsite'], retention: { keepLast: 10 } })]);
    await putText(p, 'a.txt', 'alpha');
    const key = await LocalKeyRecipient.fromFile(join(dir, 'master.key'));
    const withOffsite = (reachable: MemoryVaultStore[]) => {
      const { keyring } = keyringProcess(p, [key], [key], reachable);
      p.deps.vaults = {
        ...p.deps.vaults,
        isolated: new Map([['offsite', withKeyDocuments(offsite, keyring)]]),
      };
    };
    // Each task in a process of its own, as in Lambda: the copy seals its index documents with a data
    // key of its own, which only it stores.
    withOffsite([p.primary, p.copy, offsite]);
    const { snapshotId: id } = await startSnapshotNow(p.deps, 'photos');
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      for (const task of tasks) {
        withOffsite([p.primary, p.copy, offsite]);
        await p.run(task);
      }
    }
    const expected = await restored(p, id);
    // Act: the primary and the copy region's vaults are lost; a process reaching the isolated vault alone.
    await p.primary.delete([...p.primary.objects.keys()]);
    await p.copy.delete([...p.copy.objects.keys()]);
    withOffsite([offsite]);
    // Assess
    expect(await restored(p, id, 'vault:offsite')).toEqual(expected);
  });

  it('never lets garbage collection delete a key document', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 1 } })]);
    const key = await LocalKeyRecipient.fromFile(join(dir, 'master.key'));
    for (let i = 0; i < 3; i++) {
      keyringProcess(p, [key], [key]); // a new process, a new data key, each time
      await putText(p, `f${i}.txt`, `content ${i}`);
      await snapshot(p);
      p.clock.advance(7200_000); // past the grace period: GC deletes what is unreferenced
    }
    keyringProcess(p, [key], [key]);
    await snapshot(p);
    const keys = await listKeyDocuments(p.primary);
    expect(keys.length).toBeGreaterThanOrEqual(4);
    expect([...p.primary.objects.keys()].filter((k) => dataKeyIdOf(k)).length).toBe(keys.length);
  });

  it('still opens envelopes written before the keyring (a frozen vault, direct wraps) through its legacy provider', async () => {
    const fx = await loadFixtureVault('healthy');
    const expected = await readFixtureJson<FixtureExpected>('healthy', 'expected.json');
    const unrelated = new LocalKeyRecipient(Buffer.alloc(32, 7));
    const keyring = new KeyringKeyProvider({
      vaults: () => [fx.vault],
      recipients: async () => [unrelated],
      holders: async () => [unrelated],
      legacy: fixtureKeyProvider(await readFixtureKey()),
      clock: fx.clock,
    });
    fx.deps.envelope = new Envelope(keyring);
    const [first] = expected.snapshots;
    fx.objects.createBucket('out');
    const report = await restoreSnapshot(fx.deps, {
      plan: expected.planId,
      snapshot: first?.snapshotId as string,
      targetBucket: 'out',
    });
    expect(report.objects).toBe(Object.keys(first?.objects ?? {}).length);
    for (const [k, blobId] of Object.entries(first?.objects ?? {})) {
      expect(sha256((await fx.objects.get('out', k)).body)).toBe(blobId);
    }
  });
});

describe('key rotation', () => {
  it('restores an old snapshot after rotating to a new key file and deleting the old one, without rewriting a pack', async () => {
    // Prepare: two snapshots under the old key, in both regions.
    const p = memoryPipeline();
    await p.catalog.putPlans([plan({ retention: { keepLast: 10 } })]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'dir/b.txt', 'bravo');
    const oldFile = join(dir, 'old.key');
    const newFile = join(dir, 'new.key');
    const oldKey = await LocalKeyRecipient.fromFile(oldFile);
    keyringProcess(p, [oldKey], [oldKey]);
    const first = await snapshot(p);
    const expected = await restored(p, first);
    await putText(p, 'c.txt', 'charlie');
    keyringProcess(p, [oldKey], [oldKey]);
    await snapshot(p);
    const packsBefore = new Map(
      [...p.primary.objects.entries()]
        .filter(([k]) => VaultLayout.packIdOf(k))
        .map(([k, v]) => [k, sha256(v.body)]),
    );
    const newKey = await LocalKeyRecipient.fromFile(newFile);
    // Retiring the old key before a rotation is refused, and changes nothing.
    await expect(retireRecipient([p.primary, p.copy], { keyId: oldKey.keyId })).rejects.toThrow(
      /only recipient of .* run 'strongbox keys rotate' first/,
    );

    // Act: rotate (twice: idempotent), point new writes at the new key, delete the old key file, retire.
    const progress: string[] = [];
    const rotation = await rotateKeys([p.primary, p.copy], {
      holders: [oldKey],
      to: newKey,
      progress: (l) => progress.push(l),
    });
    const again = await rotateKeys([p.primary, p.copy], { holders: [oldKey], to: newKey });
    keyringProcess(p, [newKey], [newKey]);
    await putText(p, 'd.txt', 'delta');
    await snapshot(p);
    await rm(oldFile);
    const retired = await retireRecipient([p.primary, p.copy], { keyId: oldKey.keyId });

    // Assess: every key document was rewrapped once, no pack changed, and a process holding only
    // the new key (the old key file is gone) restores the first snapshot from either region.
    expect(rotation.every((r) => r.changed === r.documents && r.documents >= 2)).toBe(true);
    expect(again.every((r) => r.changed === 0 && r.unchanged === r.documents)).toBe(true);
    expect(progress.at(-1)).toMatch(/key documents, \d+ rewrapped/);
    expect(retired.reduce((n, r) => n + r.changed, 0)).toBeGreaterThanOrEqual(4);
    for (const vault of [p.primary, p.copy]) {
      for (const doc of await keyDocuments(vault)) {
        expect(doc.recipients.map((r) => r.keyId)).toEqual([newKey.keyId]);
      }
    }
    const packsAfter = new Map(
      [...p.primary.objects.entries()]
        .filter(([k]) => packsBefore.has(k))
        .map(([k, v]) => [k, sha256(v.body)]),
    );
    expect(packsAfter).toEqual(packsBefore);
    const onlyNew = await LocalKeyRecipient.fromFile(newFile);
    keyringProcess(p, [onlyNew], [onlyNew]);
    expect(await restored(p, first)).toEqual(expected);
    keyringProcess(p, [onlyNew], [onlyNew], [p.copy]);
    expect(await restored(p, first, 'eu-west-1')).toEqual(expected);
    // The old key (had it been kept) no longer opens anything.
    keyringProcess(p, [oldKey], [oldKey]);
    await expect(restored(p, first)).rejects.toThrow(IntegrityError);
  });

  it('resumes a rotation stopped halfway', async () => {
    const p = memoryPipeline();
    await p.catalog.putPlans([plan()]);
    const oldKey = await LocalKeyRecipient.fromFile(join(dir, 'old.key'));
    const newKey = await LocalKeyRecipient.fromFile(join(dir, 'new.key'));
    for (let i = 0; i < 3; i++) {
      keyringProcess(p, [oldKey], [oldKey]);
      await putText(p, `f${i}.txt`, `content ${i}`);
      await snapshot(p);
    }
    let puts = 0;
    const put = p.primary.put.bind(p.primary);
    p.primary.put = async (k, body, options) => {
      if (++puts === 2) throw new Error('crash');
      return put(k, body, options);
    };
    await expect(rotateKeys([p.primary], { holders: [oldKey], to: newKey })).rejects.toThrow('crash');
    p.primary.put = put;
    const [resumed] = await rotateKeys([p.primary], { holders: [oldKey], to: newKey });
    expect(resumed?.unchanged).toBe(1);
    expect(resumed?.changed).toBe((resumed?.documents ?? 0) - 1);
  });
});
