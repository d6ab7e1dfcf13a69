// Child process of test/unit/vault-index-memory.test.ts: how many bytes a loaded VaultIndex (and the
// index documents cached beside it) keeps per blob; with a third argument, an index that spills to
// local disk past that many blobs. Run with --expose-gc; prints one JSON line.
import { randomBytes } from 'node:crypto';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { Envelope } from '#domain/envelope.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { writeIndex } from '#domain/repository/write.ts';
import type { IndexedPack } from '#domain/vault.ts';
import { ManualClock } from './memory/clock.ts';
import { memoryKeyProvider } from './memory/key-provider.ts';
import { MemoryVaultStore } from './memory/vault-store.ts';

const [blobCount = 100_000, documents = 10, memoryBlobs] = process.argv.slice(2).map(Number);
const BLOBS_PER_PACK = 500;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const vault = new MemoryVaultStore('us-east-1', 'vault', new ManualClock('2026-12-05T00:00:00Z'));
const envelope = new Envelope(memoryKeyProvider());
const sample: { blobId: string; packId: string; offsetBytes: number }[] = [];
const perDocument = Math.ceil(blobCount / documents);
for (let d = 0; d < documents; d++) {
  const packs: IndexedPack[] = [];
  for (let first = 0; first < perDocument; first += BLOBS_PER_PACK) {
    const packId = randomBytes(32).toString('hex');
    const blobs = Array.from({ length: Math.min(BLOBS_PER_PACK, perDocument - first) }, (_, i) => ({
      blobId: randomBytes(32).toString('hex'),
      offsetBytes: i * 1_100,
      lengthBytes: 1_100,
      sizeBytes: 1_000 + i,
    }));
    packs.push({
      packId,
      stored: { sizeBytes: blobs.length * 1_100 + 64, checksumSha256: 'c2hh', checksumType: 'FULL_OBJECT' },
      blobs,
    });
    const probe = blobs[blobs.length - 1];
    if (probe) sample.push({ blobId: probe.blobId, packId, offsetBytes: probe.offsetBytes });
  }
  await writeIndex(vault, envelope, packs);
}

const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
// One load first, closed, when spilling: what any first load allocates once per process (buffer
// pools, the zstd contexts) is not the index's to count.
if (memoryBlobs !== undefined)
  (
    await VaultIndex.load(vault, envelope, { scratch: new DiskScratchSpace(), indexMemoryBlobs: memoryBlobs })
  ).close();
const before = used();
const spill =
  memoryBlobs === undefined ? {} : { scratch: new DiskScratchSpace(), indexMemoryBlobs: memoryBlobs };
const index = await VaultIndex.load(vault, envelope, { cached: true, ...spill });
const after = used();
const wrong = sample.filter((s) => {
  const where = index.locate(s.blobId);
  return where?.packId !== s.packId || where.offsetBytes !== s.offsetBytes;
}).length;
process.stdout.write(
  `${JSON.stringify({ blobs: blobCount, bytes: after - before, bytesPerBlob: (after - before) / blobCount, spilled: index.spilledBlobs, wrong })}\n`,
);
