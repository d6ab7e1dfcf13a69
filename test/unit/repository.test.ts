// The vault's documents as the pipeline reads and writes them (format v2): packs, the index, manifest
// parts and roots, on the memory vault.
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { withRetry } from '#adapters/retrying.ts';
import { Envelope } from '#domain/envelope.ts';
import { IntegrityError, NotFoundError } from '#domain/errors.ts';
import type { PutOptions, StoredChecksum } from '#domain/ports.ts';
import { manifestEntries, readAllEntries, referencedDocuments } from '#domain/repository/manifest-entries.ts';
import {
  type BlobLocation,
  coalesceBlobReads,
  entryContent,
  readBlob,
  readBlobsOfPack,
  readEntryContent,
} from '#domain/repository/read-blobs.ts';
import { readIndex, readManifest, readPackHeader, readPart } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { PackWriter, writeIndex, writeManifest, writePart } from '#domain/repository/write.ts';
import {
  type ContentId,
  contentIdOf,
  type IndexedPack,
  type Manifest,
  type ManifestEntry,
  type PartRef,
  VAULT_FORMAT_VERSION,
  VaultLayout,
} from '#domain/vault.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

let clock: ManualClock;
let vault: MemoryVaultStore;
let envelope: Envelope;

beforeEach(() => {
  clock = new ManualClock('2026-03-01T00:00:00Z');
  vault = new MemoryVaultStore('us-east-1', 'vault-use1', clock);
  envelope = new Envelope(memoryKeyProvider());
});

/** Random (incompressible) plaintext of `n` bytes and its blob id. */
function chunk(n: number): { blobId: ContentId; data: Buffer } {
  const data = randomBytes(n);
  return { blobId: contentIdOf(data), data };
}

function entry(key: string, blobs: ContentId[], sizeBytes = 5): ManifestEntry {
  return { key, sizeBytes, etag: 'e', lastModified: '2026-02-01T00:00:00.000Z', blobs };
}

function root(parts: PartRef[], planId = 'photos'): Manifest {
  return {
    version: VAULT_FORMAT_VERSION,
    type: 'manifest',
    planId,
    snapshotId: '20260301T000000Z',
    parentSnapshotId: null,
    source: { bucket: 'source', prefix: '' },
    scheduledAt: '2026-03-01T00:00:00.000Z',
    time: '2026-03-01T00:00:00.000Z',
    completedAt: '2026-03-01T00:00:00.000Z',
    totals: {
      objectCount: parts.reduce((s, p) => s + p.objectCount, 0),
      logicalBytes: parts.reduce((s, p) => s + p.logicalBytes, 0),
    },
    parts,
  };
}

/** Store `chunks` in packs (each pack closed at `targetBytes`) and one index naming them. */
async function store(
  chunks: { blobId: ContentId; data: Buffer }[],
  targetBytes = 1024 * 1024,
): Promise<IndexedPack[]> {
  const writer = new PackWriter(vault, envelope, { targetBytes });
  for (const c of chunks) await writer.add(c.blobId, c.data);
  const packs = await writer.flush();
  await writeIndex(vault, envelope, packs);
  return packs;
}

describe('PackWriter', () => {
  it('closes a pack once its sealed blobs reach the target size', async () => {
    // Prepare: 10 blobs of 1000 bytes (sealed: a little more), packs of 2500 bytes
    const chunks = Array.from({ length: 10 }, () => chunk(1000));
    const writer = new PackWriter(vault, envelope, { targetBytes: 2500 });
    // Act
    for (const c of chunks) await writer.add(c.blobId, c.data);
    const packs = await writer.flush();
    // Assess: three blobs per pack (3 × ~1050 ≥ 2500 > 2 × ~1050), the rest in the last pack
    expect(packs.map((p) => p.blobs.length)).toEqual([3, 3, 3, 1]);
    expect(packs.flatMap((p) => p.blobs.map((b) => b.blobId))).toEqual(chunks.map((c) => c.blobId));
    for (const p of packs.slice(0, -1)) {
      expect(p.blobs.reduce((s, b) => s + b.lengthBytes, 0)).toBeGreaterThanOrEqual(2500);
    }
    expect(writer.packsWritten).toBe(4);
    expect(writer.storedBytesWritten).toBe(packs.reduce((s, p) => s + p.stored.sizeBytes, 0));
  });

  it('stores a blob added twice once', async () => {
    const c = chunk(100);
    const writer = new PackWriter(vault, envelope);
    await writer.add(c.blobId, c.data);
    await writer.add(c.blobId, c.data);
    const packs = await writer.flush();
    expect(packs).toHaveLength(1);
    expect(packs[0]?.blobs.map((b) => b.blobId)).toEqual([c.blobId]);
    expect(writer.added.has(c.blobId)).toBe(true);
    // Still known after the flush: not packed again.
    await writer.add(c.blobId, c.data);
    expect(await writer.flush()).toEqual([]);
  });

  it('returns packs whose id, size and checksum are what the vault stored', async () => {
    const packs = await store(
      Array.from({ length: 5 }, () => chunk(700)),
      1500,
    );
    expect(packs.length).toBeGreaterThan(1);
    for (const p of packs) {
      const stored = vault.objects.get(VaultLayout.packKey(p.packId));
      expect(stored, p.packId).toBeDefined();
      expect(p.stored).toEqual(stored?.checksum);
      expect(p.packId).toBe(contentIdOf(stored?.body as Uint8Array));
      expect(p.stored.sizeBytes).toBe(stored?.body.length);
    }
  });

  it('lays out blobs back to back from offset 0, and ends the pack with a header listing them', async () => {
    const [pack] = await store([chunk(10), chunk(2000), chunk(0)]);
    let offset = 0;
    for (const b of pack?.blobs ?? []) {
      expect(b.offsetBytes).toBe(offset);
      offset += b.lengthBytes;
    }
    expect(pack?.blobs.map((b) => b.sizeBytes)).toEqual([10, 2000, 0]);
    const header = await readPackHeader(vault, envelope, pack?.packId as string);
    expect(header).toEqual({ version: VAULT_FORMAT_VERSION, type: 'pack-header', blobs: pack?.blobs });
  });

  it('stores nothing when nothing was added', async () => {
    const writer = new PackWriter(vault, envelope);
    expect(await writer.flush()).toEqual([]);
    expect(await writeIndex(vault, envelope, [])).toBeUndefined();
    expect(vault.calls.put).toBe(0);
  });

  it('holds at most three closed packs while the vault is slow, however many were stored before', async () => {
    // Prepare: every blob fills a pack; the vault stores the first three packs at once, then stalls
    // (a slow or throttled bucket) until released.
    const release = Promise.withResolvers<void>();
    let packPuts = 0;
    let packsStored = 0;
    class StallingVault extends MemoryVaultStore {
      override async put(key: string, body: Uint8Array, options?: PutOptions): Promise<StoredChecksum> {
        if (key.startsWith('packs/')) {
          packPuts += 1;
          if (packPuts > 3) await release.promise;
        }
        const stored = await super.put(key, body, options);
        if (key.startsWith('packs/')) packsStored += 1;
        return stored;
      }
    }
    const writer = new PackWriter(new StallingVault('us-east-1', 'vault-use1', clock), envelope, {
      targetBytes: 1,
    });
    const chunks = Array.from({ length: 30 }, () => chunk(100));
    let packsClosed = 0;
    let mostHeld = 0;
    const producer = (async () => {
      for (const c of chunks) {
        await writer.add(c.blobId, c.data);
        packsClosed += 1;
        mostHeld = Math.max(mostHeld, packsClosed - packsStored);
      }
    })();
    // Act: let the producer run as far as the writer lets it while the vault stalls
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closedWhileStalled = packsClosed;
    release.resolve();
    await producer;
    const packs = await writer.flush();
    // Assess: the producer waited for the vault (three stored, then at most three more closed), and
    // nothing was lost on the way
    expect(packsStored).toBe(30);
    expect(closedWhileStalled).toBeLessThanOrEqual(3 + 3);
    expect(mostHeld).toBeLessThanOrEqual(3);
    expect(packs.flatMap((p) => p.blobs.map((b) => b.blobId))).toEqual(chunks.map((c) => c.blobId));
  });

  it('surfaces a failed upload from flush', async () => {
    vault.faults.push({ op: 'put', prefix: 'packs/', onCall: 1 });
    const writer = new PackWriter(vault, envelope);
    await writer.add(chunk(10).blobId, Buffer.from('x'));
    await expect(writer.flush()).rejects.toThrow(/injected put fault/);
  });
});

describe('readPackHeader', () => {
  it('refuses a pack too short to hold a header, or whose header does not open', async () => {
    const [pack] = await store([chunk(10)]);
    const key = VaultLayout.packKey(pack?.packId as string);
    const stored = vault.objects.get(key) as { body: Uint8Array };
    const body = Buffer.from(stored.body);
    stored.body = body.subarray(0, 3);
    await expect(readPackHeader(vault, envelope, pack?.packId as string)).rejects.toThrow(IntegrityError);
    body[body.length - 10] = (body[body.length - 10] ?? 0) ^ 0xff;
    stored.body = body;
    await expect(readPackHeader(vault, envelope, pack?.packId as string)).rejects.toThrow(IntegrityError);
  });
});

describe('VaultIndex', () => {
  it('locates every blob of every index document, with its pack and place', async () => {
    const chunks = Array.from({ length: 4 }, () => chunk(600));
    const first = await store(chunks.slice(0, 2), 1);
    const second = await store(chunks.slice(2), 1);
    const index = await VaultIndex.load(vault, envelope);
    expect(index.indexIds.size).toBe(2);
    expect(index.packs.size).toBe(4);
    for (const p of [...first, ...second]) {
      expect(index.pack(p.packId)).toEqual(p);
      for (const b of p.blobs) expect(index.locate(b.blobId)).toEqual({ ...b, packId: p.packId });
    }
    expect(index.locate(contentIdOf('nowhere'))).toBeUndefined();
    expect(index.pack(contentIdOf('nowhere'))).toBeUndefined();
  });

  it('loads only the index documents written since, on refresh', async () => {
    await store([chunk(10)]);
    const index = await VaultIndex.load(vault, envelope);
    const later = chunk(10);
    expect(index.locate(later.blobId)).toBeUndefined();
    await store([later]);
    const gets = vault.calls.get;
    expect(await index.refresh()).toBe(1);
    expect(vault.calls.get - gets).toBe(1);
    expect(index.locate(later.blobId)).toBeDefined();
    expect(await index.refresh()).toBe(0);
  });

  it('lists again when an index document vanishes between the listing and the read', async () => {
    // Garbage collection writes a replacement before deleting a document; here the "vanished"
    // document is still listed the second time, so it is read then.
    await store([chunk(10)]);
    const kept = chunk(10);
    await store([kept]);
    vault.faults.push({ op: 'get', prefix: 'index/', onCall: 1, error: new NotFoundError('gone') });
    const lists = vault.calls.list;
    const index = await VaultIndex.load(vault, envelope, { retry: withRetry });
    expect(vault.calls.list - lists).toBe(2);
    expect(index.indexIds.size).toBe(2);
    expect(index.locate(kept.blobId)).toBeDefined();
  });

  it('without a retry, lists once and leaves a vanished document to the next refresh', async () => {
    await store([chunk(10)]);
    await store([chunk(10)]);
    vault.faults.push({ op: 'get', prefix: 'index/', onCall: 1, error: new NotFoundError('gone') });
    const lists = vault.calls.list;
    const index = await VaultIndex.load(vault, envelope);
    expect(vault.calls.list - lists).toBe(1);
    expect(index.indexIds.size).toBe(1);
    expect(await index.refresh()).toBe(1);
    expect(index.indexIds.size).toBe(2);
  });

  it('reads index documents `concurrency` at a time', async () => {
    for (let i = 0; i < 6; i++) await store([chunk(10)]);
    let inFlight = 0;
    let most = 0;
    const get = vault.get.bind(vault);
    vault.get = async (key: string) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight -= 1;
      return get(key);
    };
    await VaultIndex.load(vault, envelope, { concurrency: 2 });
    expect(most).toBe(2);
    most = 0;
    await VaultIndex.load(vault, envelope);
    expect(most).toBe(6); // 16 by default
  });

  it('drops the packs it is told to exclude, now and on every later refresh', async () => {
    // Prepare: a blob held by two packs (stored twice), and a pack indexed after the exclusion
    const shared = chunk(10);
    const only = chunk(10);
    const [first] = await store([shared, only]);
    const [second] = await store([shared]);
    const index = await VaultIndex.load(vault, envelope);
    // Either pack may locate it first (index documents are read in the order of their random ids).
    expect([first?.packId, second?.packId]).toContain(index.locate(shared.blobId)?.packId);
    // Act
    const dropped = index.exclude([first?.packId as ContentId]);
    const later = chunk(10);
    const [third] = await store([later]);
    index.exclude([third?.packId as ContentId]);
    await index.refresh();
    // Assess: the shared blob is located in the pack that still counts; the others nowhere
    expect(dropped).toBe(1);
    expect(index.pack(first?.packId as ContentId)).toBeUndefined();
    expect(index.locate(shared.blobId)?.packId).toBe(second?.packId);
    expect(index.locate(only.blobId)).toBeUndefined();
    expect(index.locate(later.blobId)).toBeUndefined();
    expect(index.exclude([first?.packId as ContentId])).toBe(0);
  });

  it('locates thousands of blobs whose ids share their first bytes, before and after an exclusion', async () => {
    // Prepare: 8 packs of 250 blobs (the table grows twice); every id starts with the same 8 hex digits, so they all hash
    // to one slot and each lookup must probe past the others
    const index = await VaultIndex.load(vault, envelope);
    const packs: IndexedPack[] = Array.from({ length: 8 }, (_, p) => ({
      packId: contentIdOf(`pack ${p}`),
      stored: { sizeBytes: 1, checksumSha256: 'c2hh', checksumType: 'FULL_OBJECT' },
      blobs: Array.from({ length: 250 }, (_, i) => ({
        blobId: `0badcafe${contentIdOf(`blob ${p} ${i}`).slice(8)}`,
        offsetBytes: i * 10,
        lengthBytes: 10,
        sizeBytes: i,
      })),
    }));
    for (const pack of packs) index.addPack(pack);
    const wrong = (pack: IndexedPack) =>
      pack.blobs.filter(
        (b) => JSON.stringify(index.locate(b.blobId)) !== JSON.stringify({ ...b, packId: pack.packId }),
      );
    // Act and assess
    expect(packs.flatMap(wrong)).toEqual([]);
    expect(index.exclude([packs[3]?.packId as ContentId])).toBe(1);
    expect(packs.filter((_, p) => p !== 3).flatMap(wrong)).toEqual([]);
    expect(packs[3]?.blobs.map((b) => index.locate(b.blobId))).toEqual(Array(250).fill(undefined));
    expect(index.locate(`0badcafe${'0'.repeat(56)}`)).toBeUndefined();
    expect(index.locate('not an id')).toBeUndefined();
  });

  it('refuses an index document stored under another id', async () => {
    await store([chunk(10)]);
    const [key] = [...vault.objects.keys()].filter((k) => k.startsWith('index/'));
    const other = VaultLayout.indexKey(contentIdOf('other'));
    vault.objects.set(other, vault.objects.get(key as string) as never);
    await expect(VaultIndex.load(vault, envelope)).rejects.toThrow(IntegrityError);
    await expect(readIndex(vault, envelope, contentIdOf('other'))).rejects.toThrow(IntegrityError);
  });
});

describe('readBlob', () => {
  it('reads a blob back with one ranged GET', async () => {
    const c = chunk(3000);
    await store([chunk(100), c, chunk(100)]);
    const index = await VaultIndex.load(vault, envelope);
    const gets = vault.calls.getRange;
    const plaintext = await readBlob(vault, envelope, index.locate(c.blobId) as never);
    expect(plaintext.equals(c.data)).toBe(true);
    expect(vault.calls.getRange - gets).toBe(1);
  });

  it('detects a flipped byte with an IntegrityError', async () => {
    const c = chunk(500);
    const [pack] = await store([c]);
    const where = { ...(pack?.blobs[0] as never as object), packId: pack?.packId } as never;
    const stored = vault.objects.get(VaultLayout.packKey(pack?.packId as string)) as { body: Uint8Array };
    const body = Uint8Array.from(stored.body);
    body[200] = (body[200] ?? 0) ^ 0x01;
    stored.body = body;
    await expect(readBlob(vault, envelope, where)).rejects.toThrow(IntegrityError);
  });

  it('refuses a blob served under another blob’s id', async () => {
    const a = chunk(500);
    const b = chunk(500);
    await store([a, b]);
    const index = await VaultIndex.load(vault, envelope);
    const whereA = index.locate(a.blobId);
    await expect(
      readBlob(vault, envelope, { ...(whereA as never as object), blobId: b.blobId } as never),
    ).rejects.toThrow(IntegrityError);
  });

  it('reads a multi-chunk object in order, and names a blob no index locates', async () => {
    const chunks = [chunk(1000), chunk(1000), chunk(10)];
    await store(chunks, 1);
    const index = await VaultIndex.load(vault, envelope);
    const e = entry(
      'big.bin',
      chunks.map((c) => c.blobId),
    );
    expect(
      (await readEntryContent(vault, envelope, index, e)).equals(Buffer.concat(chunks.map((c) => c.data))),
    ).toBe(true);
    const missing = contentIdOf('missing');
    const broken = entry('broken.bin', [chunks[0]?.blobId as string, missing]);
    const seen: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of entryContent(vault, envelope, index, broken)) seen.push(c);
      })(),
    ).rejects.toThrow(new RegExp(`${missing}.*broken\\.bin`));
    expect(seen).toHaveLength(1); // streamed: the first chunk came before the failure
  });
});

describe('coalesceBlobReads', () => {
  const at = (packId: string, blobId: string, offsetBytes: number, lengthBytes: number): BlobLocation => ({
    packId,
    blobId,
    offsetBytes,
    lengthBytes,
    sizeBytes: lengthBytes,
  });
  const ids = (reads: BlobLocation[][]) => reads.map((r) => r.map((b) => b.blobId));

  it('groups blobs of one pack in pack order, each pack apart, each blob once', () => {
    const reads = coalesceBlobReads(
      [
        at('p1', 'c', 200, 100),
        at('p2', 'x', 0, 10),
        at('p1', 'a', 0, 100),
        at('p1', 'b', 100, 100),
        at('p1', 'a', 0, 100),
      ],
      { maxSpanBytes: 1000, maxGapBytes: 0 },
    );
    expect(ids(reads)).toEqual([['a', 'b', 'c'], ['x']]);
  });

  it('cuts a read at a gap longer than maxGapBytes and at maxSpanBytes', () => {
    const blobs = [
      at('p', 'a', 0, 100),
      at('p', 'b', 150, 100),
      at('p', 'c', 400, 100),
      at('p', 'd', 500, 600),
    ];
    expect(ids(coalesceBlobReads(blobs, { maxSpanBytes: 600, maxGapBytes: 50 }))).toEqual([
      ['a', 'b'],
      ['c'],
      ['d'],
    ]);
    expect(ids(coalesceBlobReads(blobs, { maxSpanBytes: 10_000, maxGapBytes: 150 }))).toEqual([
      ['a', 'b', 'c', 'd'],
    ]);
    // A blob longer than the span is a read of its own.
    expect(ids(coalesceBlobReads([at('p', 'big', 0, 5000)], { maxSpanBytes: 1000, maxGapBytes: 0 }))).toEqual(
      [['big']],
    );
  });
});

describe('readBlobsOfPack', () => {
  it('reads blobs of one pack with one ranged GET, skipping the blobs between them', async () => {
    const chunks = [chunk(300), chunk(100), chunk(700), chunk(50)];
    await store(chunks);
    const index = await VaultIndex.load(vault, envelope);
    const wanted = [chunks[0], chunks[2], chunks[3]].map(
      (c) => index.locate(c?.blobId as ContentId) as BlobLocation,
    );
    const gets = vault.calls.getRange;
    const plaintexts = await readBlobsOfPack(vault, envelope, wanted);
    expect(vault.calls.getRange - gets).toBe(1);
    expect(plaintexts.map((p) => p.toString('hex'))).toEqual(
      [chunks[0], chunks[2], chunks[3]].map((c) => c?.data.toString('hex')),
    );
  });

  it('detects a flipped byte in any blob of the span with an IntegrityError', async () => {
    const chunks = [chunk(300), chunk(300)];
    const [pack] = await store(chunks);
    const index = await VaultIndex.load(vault, envelope);
    const wanted = chunks.map((c) => index.locate(c.blobId) as BlobLocation);
    const stored = vault.objects.get(VaultLayout.packKey(pack?.packId as string)) as { body: Uint8Array };
    const body = Uint8Array.from(stored.body);
    const second = wanted[1] as BlobLocation;
    body[second.offsetBytes + 100] = (body[second.offsetBytes + 100] ?? 0) ^ 0x01;
    stored.body = body;
    await expect(readBlobsOfPack(vault, envelope, wanted)).rejects.toThrow(IntegrityError);
  });
});

describe('manifest parts and roots', () => {
  const a = contentIdOf('a');
  const b = contentIdOf('b');
  const c = contentIdOf('c');

  it('writes a part and describes it: first and last key in UTF-8 order, counts, bytes', async () => {
    const { ref, written } = await writePart(vault, envelope, 'photos', [
      entry('b.txt', [b], 7),
      entry('a.txt', [a], 5),
      entry('é.txt', [c], 1),
    ]);
    expect(written).toBe(true);
    expect(ref).toMatchObject({ firstKey: 'a.txt', lastKey: 'é.txt', objectCount: 3, logicalBytes: 13 });
    expect(vault.objects.has(VaultLayout.partKey('photos', ref.partId))).toBe(true);
    const stored = await readPart(vault, envelope, 'photos', ref.partId);
    expect(stored.entries.map((e) => e.key)).toEqual(['a.txt', 'b.txt', 'é.txt']);
  });

  it('does not PUT a part it is told is known (the parent’s)', async () => {
    const entries = [entry('a.txt', [a])];
    const { ref } = await writePart(vault, envelope, 'photos', entries);
    const puts = vault.calls.put;
    const again = await writePart(vault, envelope, 'photos', entries, new Set([ref.partId]));
    expect(again).toEqual({ ref, written: false });
    expect(vault.calls.put).toBe(puts);
  });

  it('refuses a part with no entries', async () => {
    await expect(writePart(vault, envelope, 'photos', [])).rejects.toThrow();
  });

  it('refuses a part read under another plan (its address is authenticated)', async () => {
    const { ref } = await writePart(vault, envelope, 'photos', [entry('a.txt', [a])]);
    vault.objects.set(
      VaultLayout.partKey('docs', ref.partId),
      vault.objects.get(VaultLayout.partKey('photos', ref.partId)) as never,
    );
    await expect(readPart(vault, envelope, 'docs', ref.partId)).rejects.toThrow(IntegrityError);
  });

  it('writes and reads a root; streams its entries part by part, in order', async () => {
    // Prepare: three parts
    const refs = [
      (await writePart(vault, envelope, 'photos', [entry('a', [a]), entry('b', [b])])).ref,
      (await writePart(vault, envelope, 'photos', [entry('c', [c])])).ref,
      (await writePart(vault, envelope, 'photos', [entry('d', [a]), entry('e', [b])])).ref,
    ];
    const { manifestId, storedBytes } = await writeManifest(vault, envelope, root(refs));
    expect(storedBytes).toBe(vault.objects.get(VaultLayout.manifestKey('photos', manifestId))?.body.length);
    const manifest = await readManifest(vault, envelope, 'photos', manifestId);
    expect(manifest.parts).toEqual(refs);
    // Act: take one entry, then the rest
    const gets = vault.calls.get;
    const iterator = manifestEntries(vault, envelope, manifest)[Symbol.asyncIterator]();
    const first = await iterator.next();
    // Assess: one part read for the first entry
    expect(first.value?.key).toBe('a');
    expect(vault.calls.get - gets).toBe(1);
    const rest: string[] = [];
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) rest.push(r.value.key);
    expect(rest).toEqual(['b', 'c', 'd', 'e']);
    expect((await readAllEntries(vault, envelope, manifest)).map((e) => e.key)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
    ]);
  });

  it('refuses a root read under another id or plan', async () => {
    const { ref } = await writePart(vault, envelope, 'photos', [entry('a', [a])]);
    const { manifestId } = await writeManifest(vault, envelope, root([ref]));
    await expect(readManifest(vault, envelope, 'photos', contentIdOf('x'))).rejects.toThrow(NotFoundError);
    vault.objects.set(
      VaultLayout.manifestKey('docs', manifestId),
      vault.objects.get(VaultLayout.manifestKey('photos', manifestId)) as never,
    );
    await expect(readManifest(vault, envelope, 'docs', manifestId)).rejects.toThrow(IntegrityError);
  });

  it('names a missing part when streaming entries', async () => {
    const { ref } = await writePart(vault, envelope, 'photos', [entry('a', [a])]);
    vault.objects.delete(VaultLayout.partKey('photos', ref.partId));
    await expect(readAllEntries(vault, envelope, root([ref]))).rejects.toThrow(NotFoundError);
  });
});

describe('referencedDocuments', () => {
  it('finds the root, the parts, the packs of the blobs and the blobs no index locates', async () => {
    // Prepare: x and y stored in two packs; z referenced but never stored; x referenced twice
    const x = chunk(800);
    const y = chunk(800);
    const packs = await store([x, y], 1);
    const z = contentIdOf('never stored');
    const refs = [
      (await writePart(vault, envelope, 'photos', [entry('1', [x.blobId]), entry('2', [x.blobId, y.blobId])]))
        .ref,
      (await writePart(vault, envelope, 'photos', [entry('3', [z])])).ref,
    ];
    const manifest = root(refs);
    const { manifestId } = await writeManifest(vault, envelope, manifest);
    const index = await VaultIndex.load(vault, envelope);
    // Act
    const docs = await referencedDocuments(vault, envelope, index, manifestId, manifest);
    // Assess
    expect(docs.manifestKey).toBe(VaultLayout.manifestKey('photos', manifestId));
    expect(docs.partKeys).toEqual(refs.map((r) => VaultLayout.partKey('photos', r.partId)));
    expect([...docs.packs.keys()].sort()).toEqual(packs.map((p) => p.packId).sort());
    expect(docs.packs.get(packs[0]?.packId as string)?.stored).toEqual(packs[0]?.stored);
    expect(docs.unlocatedBlobs).toEqual([z]);
    expect(docs.blobCount).toBe(3);
  });
});
