// The vault index past memory (issue 14: "an index whose memory per function is bounded, whatever
// the vault size"): SpilledTable's lookups, and a VaultIndex spilled to scratch files answering
// exactly as one held in memory, on the memory twin and on local disk.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { Envelope } from '#domain/envelope.ts';
import type { ScratchSpace } from '#domain/ports.ts';
import { SAMPLE_EVERY, SpilledTable } from '#domain/repository/spilled-table.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { writeIndex } from '#domain/repository/write.ts';
import type { ContentId, IndexedPack } from '#domain/vault.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryScratchSpace } from '../support/memory/scratch.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

const id = (n: number | string) => createHash('sha256').update(String(n)).digest('hex');
/** A row of `bytes`: the id of `n`, then `tag` in the next byte. */
const row = (n: number, tag: number, bytes = 40) => {
  const r = Buffer.alloc(bytes);
  r.write(id(n), 0, 32, 'hex');
  r[32] = tag;
  return r;
};

describe('SpilledTable', () => {
  it('finds every id at its first row, through seals between appends, and nothing else', () => {
    const scratch = new MemoryScratchSpace();
    const table = new SpilledTable(scratch, 40);
    const first = new Map<number, number>();
    // 30,000 rows over 20,000 ids: some ids twice, across a seal (the second seal merges)
    for (let n = 0; n < 30_000; n++) {
      const k = (n * 7919) % 20_000;
      const at = table.append(row(k, n % 251));
      if (!first.has(k)) first.set(k, at);
      if (n === 12_345) table.seal();
    }
    for (let k = 0; k < 20_000; k++) {
      const n = table.find(Buffer.from(id(k), 'hex'));
      expect(n).toBe(first.get(k));
      expect(table.row(n as number).toString('hex', 0, 32)).toBe(id(k));
    }
    for (let k = 20_000; k < 21_000; k++) expect(table.find(Buffer.from(id(k), 'hex'))).toBeUndefined();
    table.close();
    expect(scratch.openFiles).toBe(0);
    expect(() => table.find(Buffer.from(id(1), 'hex'))).toThrow(/closed/);
  });

  it('passes over the rows `accept` refuses to the next row of the same id', () => {
    const table = new SpilledTable(new MemoryScratchSpace(), 40);
    table.append(row(1, 10));
    table.append(row(2, 20));
    table.append(row(1, 11));
    const id1 = Buffer.from(id(1), 'hex');
    expect(table.find(id1)).toBe(0);
    expect(table.find(id1, 0, (_, r) => r[32] !== 10)).toBe(2);
    expect(table.find(id1, 0, () => false)).toBeUndefined();
  });

  it('tells apart ids that agree in every bit a key holds (the first 42), and finds them past a window', () => {
    const table = new SpilledTable(new MemoryScratchSpace(), 32);
    const same = (tail: number) => {
      const r = Buffer.alloc(32, 0xab);
      r.writeUInt32BE(tail, 28);
      return r;
    };
    // More rows sharing one key than a lookup reads at once
    const count = SAMPLE_EVERY * 3 + 7;
    for (let t = 0; t < count; t++) table.append(same(t));
    for (let t = 0; t < count; t += 37) expect(table.find(same(t))).toBe(t);
    expect(table.find(same(count))).toBeUndefined();
  });

  it('reads ranges of rows, from disk and from those not yet written out', () => {
    const table = new SpilledTable(new MemoryScratchSpace(), 40);
    for (let n = 0; n < 10_000; n++) table.append(row(n, n % 256));
    const rows = table.rows(6_550, 6_560); // 256 KiB of 40-byte rows is 6,553: across the flush
    for (let k = 0; k < 10; k++) expect(rows.toString('hex', k * 40, k * 40 + 32)).toBe(id(6_550 + k));
  });
});

describe('VaultIndex spilled to scratch files', () => {
  let vault: MemoryVaultStore;
  let envelope: Envelope;
  beforeEach(() => {
    vault = new MemoryVaultStore('us-east-1', 'vault-use1', new ManualClock('2026-03-01T00:00:00Z'));
    envelope = new Envelope(memoryKeyProvider());
  });

  let seq = 0;
  /** An index document of `packs` packs of `blobs` blobs each; every 5th blob also in an earlier pack. */
  async function document(packs: number, blobs: number, reuse: ContentId[] = []): Promise<IndexedPack[]> {
    const doc: IndexedPack[] = [];
    for (let p = 0; p < packs; p++) {
      const packId = id(`pack ${seq++}`);
      const list = Array.from({ length: blobs }, (_, b) => {
        const blobId =
          b % 5 === 4 && reuse.length > 0
            ? (reuse[(seq * 31 + b) % reuse.length] as string)
            : id(seq * 1000 + b);
        return { blobId, offsetBytes: b * 700, lengthBytes: 700, sizeBytes: 650 + (b % 7) };
      });
      doc.push({
        packId,
        stored: {
          sizeBytes: 700 * blobs + 300,
          checksumSha256: `${randomBytes(32).toString('base64')}-3`,
          checksumType: 'COMPOSITE',
        },
        blobs: list,
      });
    }
    await writeIndex(vault, envelope, doc);
    return doc;
  }

  /** Everything the two indexes answer, for every blob and pack of `docs` and some unknown ids. */
  function expectSame(spilled: VaultIndex, memory: VaultIndex, docs: IndexedPack[][]): void {
    const packs = docs.flat();
    for (const pack of packs) {
      expect(spilled.pack(pack.packId)).toEqual(memory.pack(pack.packId));
      for (const blob of pack.blobs) expect(spilled.locate(blob.blobId)).toEqual(memory.locate(blob.blobId));
    }
    for (let n = 0; n < 50; n++) expect(spilled.locate(id(`absent ${n}`))).toBeUndefined();
    expect(new Map([...spilled.packs].map(([k, v]) => [k, { ...v }]))).toEqual(
      new Map([...memory.packs].map(([k, v]) => [k, { ...v }])),
    );
  }

  async function compare(scratch: ScratchSpace): Promise<void> {
    const docs: IndexedPack[][] = [];
    for (let d = 0; d < 8; d++)
      docs.push(
        await document(
          3,
          40,
          docs.flat().flatMap((p) => p.blobs.map((b) => b.blobId)),
        ),
      );
    const memory = await VaultIndex.load(vault, envelope);
    const spilled = await VaultIndex.load(vault, envelope, {
      scratch,
      indexMemoryBlobs: 100,
      concurrency: 2,
    });
    expect(memory.spilledBlobs).toBe(0);
    expect(spilled.spilledBlobs).toBeGreaterThan(800);
    expectSame(spilled, memory, docs);

    // Garbage collection marks packs: both stop locating blobs in them (a copy elsewhere still counts)
    const marked = [docs[0]?.[0]?.packId, docs[3]?.[1]?.packId, docs[7]?.[2]?.packId] as ContentId[];
    expect(spilled.exclude(marked)).toBe(memory.exclude(marked));
    expectSame(spilled, memory, docs);

    // Documents written since, and packs this task stored, are added after what was loaded
    docs.push(
      await document(
        2,
        40,
        docs.flat().flatMap((p) => p.blobs.map((b) => b.blobId)),
      ),
    );
    expect(await spilled.refresh()).toBe(1);
    expect(await memory.refresh()).toBe(1);
    const stored = (await document(1, 150))[0] as IndexedPack;
    spilled.addPack(stored);
    memory.addPack(stored);
    expectSame(spilled, memory, [...docs, [stored]]);
    spilled.close();
  }

  it('answers as the index held in memory does: locate, pack, packs, exclude, refresh, addPack', async () => {
    const scratch = new MemoryScratchSpace();
    await compare(scratch);
    expect(scratch.openFiles).toBe(0); // close freed every file
  });

  describe('on local disk', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'strongbox-spill-test-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('answers the same, and leaves no file behind even while open', async () => {
      const scratch = new DiskScratchSpace(dir);
      const file = scratch.open();
      file.append(Buffer.from('rows'));
      expect(readdirSync(dir)).toEqual([]); // unlinked on open: freed by close or the process's end
      const into = Buffer.alloc(4);
      file.read(into, 0);
      expect(into.toString()).toBe('rows');
      expect(() => file.read(Buffer.alloc(5), 0)).toThrow(/ends at 4/);
      file.close();
      expect(() => file.read(into, 0)).toThrow(/after close/);
      await compare(scratch);
      expect(readdirSync(dir)).toEqual([]);
    });
  });

  it('keeps no spilled document in the read cache (the cache would hold the whole index again)', async () => {
    for (let d = 0; d < 6; d++) await document(2, 50);
    const { cachedIndexCount } = await import('#domain/repository/read-documents.ts');
    const spilled = await VaultIndex.load(vault, envelope, {
      scratch: new MemoryScratchSpace(),
      indexMemoryBlobs: 120,
      cached: true,
      concurrency: 1,
    });
    expect(spilled.spilledBlobs).toBeGreaterThan(0);
    expect(cachedIndexCount(vault)).toBe(0);
  });
});
