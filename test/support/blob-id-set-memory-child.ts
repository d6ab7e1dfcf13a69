// Child process of test/unit/blob-id-set.test.ts: the bytes per id a BlobIdSet and a Set of hex
// strings keep, for the same ids; with a second argument, also the bytes a SpillingIdSet of those
// ids keeps in memory (holding that many in memory, the rest in scratch files on local disk). Run
// with --expose-gc; prints one JSON line.
import { randomBytes } from 'node:crypto';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { BlobIdSet, SpillingIdSet } from '#domain/repository/blob-id-set.ts';

const count = Number(process.argv[2] ?? 200_000);
const memoryIds = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external; // external includes the ArrayBuffers
};
/** The ids as one buffer, so that generating them costs no strings kept outside the sets. */
const raw = randomBytes(count * 32);
const idAt = (i: number) => raw.toString('hex', i * 32, (i + 1) * 32);

let before = used();
const compact = new BlobIdSet();
for (let i = 0; i < count; i++) compact.add(idAt(i));
const compactBytes = used() - before;

before = used();
const strings = new Set<string>();
for (let i = 0; i < count; i++) strings.add(idAt(i));
const stringBytes = used() - before;

let spilling: SpillingIdSet | undefined;
let spillingBytes: number | undefined;
if (memoryIds !== undefined) {
  before = used();
  spilling = new SpillingIdSet(new DiskScratchSpace(), memoryIds);
  for (let i = 0; i < count; i++) spilling.add(idAt(i));
  spillingBytes = used() - before;
}

let wrong = 0;
for (let i = 0; i < count; i += 97) {
  if (!compact.has(idAt(i)) || !strings.has(idAt(i)) || (spilling && !spilling.has(idAt(i)))) wrong += 1;
}
const absent = randomBytes(32).toString('hex');
if (compact.has(absent) || spilling?.has(absent)) wrong += 1;
console.log(
  JSON.stringify({
    compactPerId: compactBytes / count,
    setPerId: stringBytes / count,
    ...(spillingBytes === undefined ? {} : { spillingBytes }),
    wrong,
    sizes: [compact.size, strings.size, ...(spilling ? [spilling.size] : [])],
  }),
);
spilling?.close();
