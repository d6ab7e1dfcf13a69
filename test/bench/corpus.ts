/**
 * The bench's corpus: files from trees every machine has (`/usr/share/doc` and the project's
 * `node_modules`), chosen deterministically and copied into a directory of their own (restic backs
 * up a directory; the stack uploads from it, so both see the same bytes).
 *
 * Selection: every regular file of both trees (sorted walk, symbolic links skipped; the demo's
 * `walk`), keyed `doc/…` and `node_modules/…`, ranked by the SHA-256 of its key; the first `files`
 * of that ranking, then more in the same order until `minBytes` is reached. The same trees give the
 * same corpus; the digest printed names it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { type CorpusFile, walk } from '#local/demo/corpus.ts';
import { PROJECT_ROOT } from '#local/stack.ts';

export const CORPUS_ROOTS = [
  { root: '/usr/share/doc', prefix: 'doc/' },
  { root: join(PROJECT_ROOT, 'node_modules'), prefix: 'node_modules/' },
];

/** Caches that change between runs are not part of the corpus. */
const VOLATILE = /^node_modules\/\.(cache|vite|vitest)\//;

export interface Corpus {
  dir: string;
  /** Sorted by key; `path` is the copy in `dir`, `sha256` and `sizeBytes` its bytes. */
  files: CorpusFile[];
  bytes: number;
  /** SHA-256 over every key, size and content hash: the same digest, the same corpus. */
  digest: string;
}

const rank = (key: string) => createHash('sha256').update(key).digest('hex');

/** Choose the corpus and copy it into `dir/<key>`. */
export async function buildCorpus(options: {
  files: number;
  minBytes: number;
  dir: string;
}): Promise<Corpus> {
  const candidates: CorpusFile[] = [];
  for (const { root, prefix } of CORPUS_ROOTS) {
    const found = await walk(root, Number.POSITIVE_INFINITY).catch(() => []);
    for (const f of found) {
      const key = `${prefix}${f.key}`;
      if (!VOLATILE.test(key)) candidates.push({ ...f, key });
    }
  }
  const ranked = candidates.map((f) => ({ f, r: rank(f.key) })).sort((a, b) => (a.r < b.r ? -1 : 1));
  const chosen: CorpusFile[] = [];
  let bytes = 0;
  for (const { f } of ranked) {
    if (chosen.length >= options.files && bytes >= options.minBytes) break;
    chosen.push(f);
    bytes += f.sizeBytes;
  }
  chosen.sort((a, b) => (a.key < b.key ? -1 : 1));

  // Copy (a file we cannot read is left out: the selection stays deterministic on one machine).
  const limit = pLimit(16);
  const copied: (CorpusFile | undefined)[] = await Promise.all(
    chosen.map((f) =>
      limit(async () => {
        const body = await readFile(f.path).catch(() => undefined);
        if (!body) return undefined;
        const path = join(options.dir, f.key);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, body);
        return {
          key: f.key,
          path,
          sizeBytes: body.length,
          sha256: createHash('sha256').update(body).digest('hex'),
        };
      }),
    ),
  );
  const files = copied.filter((f): f is CorpusFile => f !== undefined);
  const digest = createHash('sha256');
  for (const f of files) digest.update(`${f.key}\0${f.sizeBytes}\0${f.sha256}\n`);
  return {
    dir: options.dir,
    files,
    bytes: files.reduce((sum, f) => sum + f.sizeBytes, 0),
    digest: digest.digest('hex'),
  };
}
