/**
 * Merging the sorted runs a table snapshot's segments stored into one stream in key order, and
 * reading a manifest's entries part by part, holding one part per run at a time.
 */
import type { Envelope } from '../envelope.ts';
import type { VaultStore } from '../ports.ts';
import { readPart } from '../repository/read-documents.ts';
import { compareKeys, type ManifestEntry, type PartRef } from '../vault.ts';

/**
 * The runs among parts stored in order by segments: a run is parts each past the one before it (a
 * segment's parts of one stored run); a part at or before the previous one starts a new run.
 */
export function runsOf(parts: readonly PartRef[]): PartRef[][] {
  const runs: PartRef[][] = [];
  let current: PartRef[] = [];
  for (const part of parts) {
    const last = current.at(-1);
    if (last && compareKeys(part.firstKey, last.lastKey) <= 0) {
      runs.push(current);
      current = [];
    }
    current.push(part);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** The entries of `parts` (in key order), read one part at a time. */
export async function* entriesOf(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  parts: readonly PartRef[],
): AsyncGenerator<ManifestEntry> {
  for (const part of parts) yield* (await readPart(vault, envelope, planId, part.partId)).entries;
}

interface Head {
  entry: ManifestEntry;
  run: number;
  rest: AsyncIterator<ManifestEntry>;
}

/** A binary min-heap of run heads by key (then by run, so the later run of two equal keys comes last). */
class HeadHeap {
  readonly #items: Head[] = [];
  get size(): number {
    return this.#items.length;
  }
  #less(a: Head, b: Head): boolean {
    const byKey = compareKeys(a.entry.key, b.entry.key);
    return byKey < 0 || (byKey === 0 && a.run < b.run);
  }
  push(head: Head): void {
    const items = this.#items;
    items.push(head);
    let i = items.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.#less(items[i] as Head, items[up] as Head)) break;
      [items[i], items[up]] = [items[up] as Head, items[i] as Head];
      i = up;
    }
  }
  pop(): Head | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && this.#less(items[l] as Head, items[m] as Head)) m = l;
        if (r < items.length && this.#less(items[r] as Head, items[m] as Head)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m] as Head, items[i] as Head];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The entries of every run, merged in key order. A key in two runs (a segment's page read twice
 * after a crash between storing a run and its checkpoint can only repeat the same items) comes once:
 * the later run's. Holds one part per run.
 */
export async function* mergeRuns(
  runs: readonly AsyncIterable<ManifestEntry>[],
): AsyncGenerator<ManifestEntry> {
  const heap = new HeadHeap();
  const advance = async (run: number, rest: AsyncIterator<ManifestEntry>) => {
    const next = await rest.next();
    if (!next.done) heap.push({ entry: next.value, run, rest });
  };
  await Promise.all(runs.map((r, run) => advance(run, r[Symbol.asyncIterator]())));
  let held: ManifestEntry | undefined;
  while (heap.size > 0) {
    const head = heap.pop() as Head;
    if (held && held.key !== head.entry.key) yield held;
    held = head.entry;
    await advance(head.run, head.rest);
  }
  if (held) yield held;
}
