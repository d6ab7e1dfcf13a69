// Child process of test/unit/pack-writer-memory.test.ts: the ArrayBuffer bytes a PackWriter holds
// for an open pack of `count` small blobs (1,500 random bytes each, sealed), against the pack's own
// bytes. Run with --expose-gc; prints one JSON line.
import { createHash, randomBytes } from 'node:crypto';
import { Envelope } from '#domain/envelope.ts';
import { PackWriter } from '#domain/repository/write.ts';
import { ManualClock } from './memory/clock.ts';
import { memoryKeyProvider } from './memory/key-provider.ts';
import { MemoryVaultStore } from './memory/vault-store.ts';

const count = Number(process.argv[2] ?? 4_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const vault = new MemoryVaultStore('us-east-1', 'vault-use1', new ManualClock());
const envelope = new Envelope(memoryKeyProvider());
// Never full: every blob stays in the open pack.
const writer = new PackWriter(vault, envelope, { targetBytes: 1024 ** 3 });
/** A blob as a repack or a partition adds it: its plaintext just read, then dropped. */
const blob = () => {
  const plaintext = randomBytes(1_500);
  return { blobId: createHash('sha256').update(plaintext).digest('hex'), plaintext };
};
const first = blob();
await writer.add(first.blobId, first.plaintext); // the data key, made once
const held = () => {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
};
const before = held();
for (let i = 1; i < count; i++) {
  const { blobId, plaintext } = blob();
  await writer.add(blobId, plaintext);
}
const after = held();
const packBytes = writer.sealedBytesAdded;
process.stdout.write(`${JSON.stringify({ count, packBytes, heldBytes: after - before })}\n`);
