/**
 * DynamoDB's 400 KB item limit, and how the catalog keeps the three lists that can outgrow it in
 * one item — a journal entry's `blobs` (an object over ~47 GiB names thousands of 8 MiB chunks), a
 * snapshot's `partitionBoundaries` (many long keys) and a partition summary's `parts` — in
 * "overflow" items beside it.
 *
 * An item whose list would make it too big keeps every other attribute, and `overflow.<list>`:
 * `{ chunks, count, sha256 }`; the list is split, in order, into `chunks` overflow items, each under
 * {@link OVERFLOW_CHUNK_BYTES}, keyed `<pk>` / `<sk>#~<list>#<sha256>#<chunk, 4 digits>`. `#` sorts
 * below every character of the catalog's sort keys after their fixed-length part, so a query over a
 * range of items returns each item's overflow items right after it. Overflow items are written
 * before the item that names them (readers never see a reference to a missing chunk), and the
 * reader checks the joined list against `sha256` and `count`.
 * @see ../../docs/format.md#catalog
 */
import { createHash } from 'node:crypto';
import { IntegrityError, ValidationError } from '#domain/errors.ts';

/** DynamoDB's maximum item size: 400 KB, attribute names and values. */
export const DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024;

/** Items whose listed attribute alone takes more than this move it to overflow items. */
export const OVERFLOW_THRESHOLD_BYTES = 200 * 1024;

/** Most bytes of list values in one overflow item (well under the limit with its keys). */
export const OVERFLOW_CHUNK_BYTES = 300 * 1024;

/** The lists the catalog moves to overflow items when they are long. */
export type OverflowAttribute = 'blobs' | 'partitionBoundaries' | 'parts';

/** What an item says of a list it keeps in overflow items. */
export interface OverflowRef {
  chunks: number;
  /** Elements in the whole list. */
  count: number;
  /** SHA-256 (hex) of the list's canonical JSON (object keys sorted). */
  sha256: string;
}

type Item = Record<string, unknown>;

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * The size DynamoDB counts for a value (approximately: its documented rules): strings their UTF-8
 * bytes, numbers about one byte per two digits plus one, booleans and null one byte, lists and maps
 * 3 bytes plus one per element plus their elements (a map's names too).
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 */
export function valueSizeBytes(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    return Math.ceil(String(value).replace(/[-.]/g, '').replace(/^0+/, '').length / 2) + 1;
  }
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce<number>((n, v) => n + 1 + valueSizeBytes(v), 0);
  if (value instanceof Set) return [...value].reduce<number>((n, v) => n + valueSizeBytes(v), 0);
  if (typeof value === 'object') {
    return (
      3 +
      Object.entries(value as Item).reduce<number>(
        (n, [k, v]) => (v === undefined ? n : n + 1 + utf8(k) + valueSizeBytes(v)),
        0,
      )
    );
  }
  return utf8(String(value));
}

/** An item's size as DynamoDB counts it: every attribute's name (UTF-8) plus its value. */
export function itemSizeBytes(item: Item): number {
  return Object.entries(item).reduce<number>(
    (n, [k, v]) => (v === undefined ? n : n + utf8(k) + valueSizeBytes(v)),
    0,
  );
}

/**
 * Refuse an item DynamoDB would refuse for its size, as DynamoDB does (a permanent error).
 * @throws ValidationError (not retryable) naming `what` and the size.
 */
export function assertItemSize(item: Item, what: string): void {
  const size = itemSizeBytes(item);
  if (size > DYNAMODB_ITEM_LIMIT_BYTES) {
    throw new ValidationError(
      `${what}: Item size has exceeded the maximum allowed size (${size} bytes > ${DYNAMODB_ITEM_LIMIT_BYTES})`,
    );
  }
}

/** JSON with every object's keys sorted (DynamoDB returns a map's attributes in any order). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Item)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256Of = (list: readonly unknown[]) => createHash('sha256').update(canonicalJson(list)).digest('hex');

/** Sort key of chunk `index` of `attribute` of the item at `sk`. */
export function overflowSk(sk: string, attribute: string, sha256: string, index: number): string {
  return `${sk}#~${attribute}#${sha256}#${String(index).padStart(4, '0')}`;
}

/**
 * Split a long list off an item: the item with `overflow.<attribute>` instead of the list, and the
 * overflow items holding it (none, and the item unchanged, when the list is short).
 * @param item an item with `pk` and `sk`.
 */
export function splitOverflow(item: Item, attribute: OverflowAttribute): { item: Item; chunks: Item[] } {
  const list = item[attribute];
  if (!Array.isArray(list) || valueSizeBytes(list) <= OVERFLOW_THRESHOLD_BYTES) return { item, chunks: [] };
  const sha256 = sha256Of(list);
  const groups: unknown[][] = [];
  let current: unknown[] = [];
  let bytes = 0;
  for (const element of list) {
    const size = 1 + valueSizeBytes(element);
    if (current.length > 0 && bytes + size > OVERFLOW_CHUNK_BYTES) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(element);
    bytes += size;
  }
  groups.push(current);
  const pk = String(item.pk);
  const sk = String(item.sk);
  const chunks = groups.map((values, index) => ({
    pk,
    sk: overflowSk(sk, attribute, sha256, index),
    chunkOf: sk,
    chunkAttribute: attribute,
    chunkSha256: sha256,
    chunkIndex: index,
    values,
  }));
  const { [attribute]: _moved, ...rest } = item;
  const overflow = { ...((item.overflow as Record<string, OverflowRef> | undefined) ?? {}) };
  overflow[attribute] = { chunks: groups.length, count: list.length, sha256 };
  return { item: { ...rest, overflow }, chunks };
}

/** Whether a stored item is an overflow item (a chunk of another item's list). */
export const isOverflowChunk = (item: Item): boolean => typeof item.chunkOf === 'string';

/**
 * Put an item's lists back from its overflow items (those of other items, or of a list the item does
 * not name now, are ignored); the item without `overflow`.
 * @throws IntegrityError (not retryable) when a chunk is missing or the joined list does not match.
 */
export function joinOverflow(item: Item, chunks: readonly Item[]): Item {
  const overflow = item.overflow as Record<string, OverflowRef> | undefined;
  if (!overflow) return item;
  const { overflow: _refs, ...joined } = item;
  for (const [attribute, ref] of Object.entries(overflow)) {
    const mine = chunks
      .filter((c) => c.chunkOf === item.sk && c.chunkAttribute === attribute && c.chunkSha256 === ref.sha256)
      .sort((a, b) => Number(a.chunkIndex) - Number(b.chunkIndex));
    const list = mine.flatMap((c) => c.values as unknown[]);
    if (mine.length !== ref.chunks || list.length !== ref.count || sha256Of(list) !== ref.sha256) {
      throw new IntegrityError(
        `${String(item.pk)} ${String(item.sk)}: ${attribute} in ${mine.length} of ${ref.chunks} overflow item(s) does not match its reference`,
      );
    }
    joined[attribute] = list;
  }
  return joined;
}
