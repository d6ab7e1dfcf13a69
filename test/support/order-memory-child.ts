// Child process of test/unit/verify-memory.test.ts: the bytes a deep pass's order over `count`
// referenced blobs holds once the pass has walked it to its end (the referenced blobs themselves,
// spilled, are not counted). The order spills past `memoryBlobs` (second argument). Run with
// --expose-gc; prints one JSON line.
import { randomBytes } from 'node:crypto';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { ReferencedBlobs } from '#domain/verify/referenced.ts';
import { deepPassOrder } from '#domain/verify/sample.ts';

const count = Number(process.argv[2] ?? 200_000);
const memoryBlobs = Number(process.argv[3] ?? 50_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
/** Heap and buffers after collections, with turns of the event loop for buffers freed off-thread. */
const used = async () => {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external; // external includes the ArrayBuffers
};

const scratch = new DiskScratchSpace();
const referenced = new ReferencedBlobs(scratch, memoryBlobs);
for (let i = 0; i < count; i++) referenced.add(randomBytes(32).toString('hex'), 4_096, 4_140);
let order: ReturnType<typeof deepPassOrder> | undefined = deepPassOrder(
  '20261205T000000Z',
  referenced,
  { all: true, samplePercent: 0 },
  { scratch, memoryBlobs },
);
let seen = 0;
for (let i = 0; i < order.length; i++) if (order.at(i) !== undefined) seen += 1;
const { length } = order;
// What the order holds: the process with it, less the process once it is dropped.
const alive = await used();
order.close();
order = undefined;
const held = alive - (await used());
process.stdout.write(`${JSON.stringify({ count, length, seen, held })}\n`);
referenced.close();
