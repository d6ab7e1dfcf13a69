// checkBlobsOfPack: the deep tier's coalesced read of a pack's blobs. One read per run of blobs, and
// each blob still opened and hashed on its own, so a corrupt blob is named and hides no other.
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { Envelope } from '#domain/envelope.ts';
import { type BlobLocation, checkBlobsOfPack } from '#domain/repository/read-blobs.ts';
import { PackWriter } from '#domain/repository/write.ts';
import { type ContentId, contentIdOf, VaultLayout } from '#domain/vault.ts';
import { windowOf } from '#domain/verify/deep-tier.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

let vault: MemoryVaultStore;
let envelope: Envelope;
let blobs: BlobLocation[];

beforeEach(async () => {
  vault = new MemoryVaultStore('us-east-1', 'vault-use1', new ManualClock('2026-03-01T00:00:00Z'));
  envelope = new Envelope(memoryKeyProvider());
  const writer = new PackWriter(vault, envelope);
  for (let i = 0; i < 5; i++) {
    const data = randomBytes(1000);
    await writer.add(contentIdOf(data), data);
  }
  const [pack] = await writer.flush();
  if (!pack) throw new Error('no pack');
  blobs = pack.blobs.map((b) => ({ ...b, packId: pack.packId }));
});

/** Flip one byte in the middle of the blob at `i` in its pack. */
function corrupt(i: number): void {
  const where = blobs[i] as BlobLocation;
  const stored = vault.objects.get(VaultLayout.packKey(where.packId));
  if (!stored) throw new Error('no pack');
  const body = Uint8Array.from(stored.body);
  const at = where.offsetBytes + Math.floor(where.lengthBytes / 2);
  body[at] = (body[at] as number) ^ 0xff;
  stored.body = body;
}

describe('checkBlobsOfPack', () => {
  it('checks five blobs of a pack with one ranged GET', async () => {
    const before = vault.calls.getRange;
    expect(await checkBlobsOfPack(vault, envelope, blobs)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(vault.calls.getRange - before).toBe(1);
  });

  it('names the corrupt blob and passes the others read with it', async () => {
    corrupt(2);
    expect(await checkBlobsOfPack(vault, envelope, blobs)).toEqual(['ok', 'ok', 'corrupt', 'ok', 'ok']);
  });

  it('finds every blob missing when the pack is gone', async () => {
    await vault.delete([VaultLayout.packKey((blobs[0] as BlobLocation).packId)]);
    expect(await checkBlobsOfPack(vault, envelope, blobs)).toEqual(Array(5).fill('missing'));
  });

  it('tells the blobs still there from those past the end of a truncated pack', async () => {
    // Prepare: the pack loses its last two blobs
    const key = VaultLayout.packKey((blobs[0] as BlobLocation).packId);
    const stored = vault.objects.get(key);
    if (!stored) throw new Error('no pack');
    stored.body = stored.body.subarray(0, (blobs[3] as BlobLocation).offsetBytes + 10);
    // Act and assess: the first three read on their own pass; the cut one and the one after do not
    expect(await checkBlobsOfPack(vault, envelope, blobs)).toEqual(['ok', 'ok', 'ok', 'corrupt', 'corrupt']);
  });
});

describe('the deep pass window', () => {
  const ids = Array.from({ length: 100 }, (_, i) => contentIdOf(`blob ${i}`));

  it('holds a run of one pack whole: one read for 100 blobs', () => {
    const index = {
      locate: (blobId: ContentId) => {
        const i = ids.indexOf(blobId);
        return { blobId, packId: contentIdOf('pack'), offsetBytes: i * 100, lengthBytes: 100, sizeBytes: 90 };
      },
    };
    const window = windowOf(ids, 0, index, 4096, 8);
    expect(window.to).toBe(100);
    expect(window.reads).toHaveLength(1);
  });

  it('shrinks to at most maxReads reads when the blobs lie in as many packs (a spread sample)', () => {
    const index = {
      locate: (blobId: ContentId) => ({
        blobId,
        packId: contentIdOf(`pack of ${blobId}`),
        offsetBytes: 0,
        lengthBytes: 100,
        sizeBytes: 90,
      }),
    };
    const window = windowOf(ids, 10, index, 4096, 8);
    expect(window.reads.length).toBeLessThanOrEqual(8);
    expect(window.to).toBe(10 + window.reads.length);
    expect(window.to).toBeGreaterThan(10); // always progress
  });
});
