/**
 * `strongbox restore --from-file FILE`: the keys of a `find`, `diff` or `ls` result (as their
 * `--json` prints it), or of a JSON list of keys, read from a file or from standard input (`-`).
 */
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { InvalidArgumentError } from 'commander';
import { z } from 'zod';

/** A key, or anything with one: an `ls` entry, a `diff` change, a `find` version. */
const KeyItem = z.union([z.string().min(1), z.looseObject({ key: z.string().min(1) })]);
/** One JSON document: a list of the above, or a `find --json` result. */
const KeyDocument = z.union([
  z.array(KeyItem),
  z.looseObject({ versions: z.array(z.looseObject({ key: z.string().min(1) })) }),
  KeyItem,
]);

const keyOf = (item: z.infer<typeof KeyItem>): string => (typeof item === 'string' ? item : item.key);

/** The JSON of `line`, or undefined when it is not JSON. */
function jsonOf(line: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(line) };
  } catch {
    return undefined;
  }
}

/**
 * The keys a file lists, once each, in the order first listed. The file holds one JSON document (a
 * `find --json` result, or an array of keys or of objects with a `key`), or JSON lines of either
 * (`ls --json`, `diff --json`: an object with a `key` per line).
 * @param name the file's name, for errors.
 * @throws InvalidArgumentError naming the line that is not JSON or holds no key, or when the file
 *   lists no key.
 * @example
 * ```ts
 * keysOfList('{"change":"removed","key":"docs/a b.txt"}\n{"change":"added","key":"x"}\n', 'changes.jsonl');
 * // ['docs/a b.txt', 'x']
 * ```
 */
export function keysOfList(content: string, name: string): string[] {
  const keys = new Set<string>();
  const whole = jsonOf(content);
  if (whole) {
    const doc = KeyDocument.safeParse(whole.value);
    if (!doc.success) throw notAList(name, 'its JSON');
    const data = doc.data;
    const items: z.infer<typeof KeyItem>[] = Array.isArray(data)
      ? data
      : typeof data === 'object' && 'versions' in data
        ? (data.versions as z.infer<typeof KeyItem>[])
        : [data as z.infer<typeof KeyItem>];
    for (const item of items) keys.add(keyOf(item));
  } else {
    for (const [i, line] of content.split('\n').entries()) {
      if (line.trim() === '') continue;
      const parsed = jsonOf(line);
      const item = parsed && KeyItem.safeParse(parsed.value);
      if (!item?.success) throw notAList(name, `line ${i + 1}`);
      keys.add(keyOf(item.data));
    }
  }
  if (keys.size === 0) throw new InvalidArgumentError(`${name} lists no key`);
  return [...keys];
}

function notAList(name: string, where: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `${where} of ${name} is not a key list: give the --json output of strongbox find, diff or ls, ` +
      'a JSON array of keys, or JSON lines of keys or of objects with a "key"',
  );
}

/**
 * The keys listed in `path` (`-`: standard input).
 * @throws InvalidArgumentError as {@link keysOfList}, or when the file cannot be read.
 */
export async function readKeyList(path: string): Promise<string[]> {
  const name = path === '-' ? 'standard input' : path;
  let content: string;
  try {
    content = path === '-' ? await text(process.stdin) : await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${name}: ${(error as Error).message}`);
  }
  return keysOfList(content, name);
}

/**
 * Split `keys` into runs whose JSON stays under `maxBytes` (a Lambda invocation's payload is at most
 * 6 MB): a deployed restore of a long list runs as one restore per run, one after another.
 */
export function runsOfKeys(keys: readonly string[], maxBytes: number): string[][] {
  const runs: string[][] = [];
  let run: string[] = [];
  let bytes = 0;
  for (const key of keys) {
    const size = Buffer.byteLength(JSON.stringify(key), 'utf8') + 1;
    if (run.length > 0 && bytes + size > maxBytes) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(key);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
