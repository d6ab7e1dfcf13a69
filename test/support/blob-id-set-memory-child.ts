// Child process of test/unit/blob-id-set.test.ts: the bytes per id a BlobIdSet and a Set of hex
// strings keep, for the same ids. Run with --expose-gc; prints one JSON line.
import { randomBytes } from 'node:crypto';
import { BlobIdSet } from '#domain/repository/blob-id-set.ts';

const count = Number(process.argv[2] ?? 200_000);
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

let wrong = 0;
for (let i = 0; i < count; i += 97) if (!compact.has(idAt(i)) || !strings.has(idAt(i))) wrong += 1;
console.log(
  JSON.stringify({
    compactPerId: compactBytes / count,
    setPerId: stringBytes / count,
    wrong,
    sizes: [compact.size, strings.size],
  }),
);
