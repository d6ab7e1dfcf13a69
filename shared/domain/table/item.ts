/**
 * DynamoDB items as the vault stores them: attribute values in DynamoDB's JSON (the wire form of the
 * low-level API and of stream records; binary as base64), a canonical serialisation, the item key
 * that names an item in manifests and the journal, and the manifest entry of one item.
 * Pure: no AWS SDK (adapters convert the SDK's `Uint8Array` binaries to base64 at the edge).
 * @see ../../../docs/format.md#table-items
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html
 */
import { ValidationError } from '../errors.ts';
import { compareKeys, contentIdOf, type ManifestEntry } from '../vault.ts';
import type { AttributeValue, Item } from './attribute-value.ts';
import type { KeyAttributeType, KeySchema } from './definition.ts';

export { type AttributeValue, AttributeValueSchema, type Item, ItemSchema } from './attribute-value.ts';
export type { KeyAttributeType, KeySchema } from './definition.ts';

/** `%` and `/` escaped (`%25`, `%2F`): `/` separates the partition key from the sort key. */
function escapePart(value: string): string {
  return value.replaceAll('%', '%25').replaceAll('/', '%2F');
}

function unescapePart(value: string): string {
  return value.replaceAll('%2F', '/').replaceAll('%25', '%');
}

function scalarOf(item: Item, attribute: { name: string; type: KeyAttributeType }): string {
  const value = item[attribute.name] as Record<string, unknown> | undefined;
  const scalar = value?.[attribute.type];
  if (typeof scalar !== 'string' || scalar === '')
    throw new ValidationError(
      `the item has no ${attribute.type} value for its key attribute '${attribute.name}'`,
    );
  return scalar;
}

/**
 * The item key: how manifests, the journal and restores name one item of a table. The partition
 * key's value, then `/` and the sort key's value on a composite key, each with `%` and `/`
 * percent-escaped (numbers as DynamoDB gives them, binaries in base64). Readable, so a restore can
 * select `customer#42/` (every item of that partition key) by key prefix; ordered like object keys
 * (`compareKeys`).
 * @throws ValidationError (not retryable) when the item lacks a key attribute of the schema's type.
 * @example
 * ```ts
 * itemKeyOf({ pk: { S: 'customer#42' }, sk: { N: '7' }, total: { N: '9.5' } }, schema); // 'customer#42/7'
 * ```
 */
export function itemKeyOf(item: Item, schema: KeySchema): string {
  const hash = escapePart(scalarOf(item, schema.hash));
  return schema.range ? `${hash}/${escapePart(scalarOf(item, schema.range))}` : hash;
}

/**
 * The key attributes an item key names (the inverse of {@link itemKeyOf}): what `DeleteItem` and
 * `GetItem` take. @throws ValidationError (not retryable) when the key does not fit the schema.
 */
export function keyOfItemKey(key: string, schema: KeySchema): Item {
  const parts = key.split('/');
  if (parts.length !== (schema.range ? 2 : 1) || parts.some((p) => p === ''))
    throw new ValidationError(
      `'${key}' is not an item key of this table (${schema.range ? 'partition/sort' : 'partition key only'})`,
    );
  const value = (type: KeyAttributeType, s: string) => ({ [type]: unescapePart(s) }) as AttributeValue;
  const out: Item = { [schema.hash.name]: value(schema.hash.type, parts[0] as string) };
  if (schema.range) out[schema.range.name] = value(schema.range.type, parts[1] as string);
  return out;
}

/** The attribute value with every map's names in `compareKeys` order, and sets sorted: one form per value. */
function canonicalValue(value: AttributeValue): AttributeValue {
  if ('M' in value) return { M: canonicalItem(value.M) };
  if ('L' in value) return { L: value.L.map(canonicalValue) };
  if ('SS' in value) return { SS: [...value.SS].sort(compareKeys) };
  if ('NS' in value) return { NS: [...value.NS].sort(compareKeys) };
  if ('BS' in value) return { BS: [...value.BS].sort(compareKeys) };
  return value;
}

/** The item with its attribute names in `compareKeys` order (recursively) and its sets sorted. */
export function canonicalItem(item: Item): Item {
  const out: Item = {};
  for (const name of Object.keys(item).sort(compareKeys))
    out[name] = canonicalValue(item[name] as AttributeValue);
  return out;
}

/**
 * The item's canonical JSON (UTF-8): names sorted, sets sorted, no spaces. Two reads of the same
 * item give the same bytes, whatever order DynamoDB listed its attributes or set members in.
 */
export function canonicalItemJson(item: Item): string {
  return JSON.stringify(canonicalItem(item));
}

/**
 * The content hash of an item: the lowercase hex SHA-256 of its canonical JSON. A table entry's
 * `etag`; verification recomputes it from the stored item.
 */
export function itemHashOf(item: Item): string {
  return contentIdOf(canonicalItemJson(item));
}

/**
 * The manifest entry of one item (docs/format.md#table-items): `key` the item key, `item` the item
 * itself (canonical), `etag` its content hash, `sizeBytes` its canonical JSON's UTF-8 length, no
 * blobs (the item lives in the part), and `lastModified` when it was read (a scan page, ISO-8601
 * UTC) or changed (its stream record's `ApproximateCreationDateTime`).
 * @throws ValidationError (not retryable) when the item lacks a key attribute.
 * @example
 * ```ts
 * const entry = itemEntryOf(item, schema, '2026-12-06T07:00:00.000Z');
 * ```
 */
export function itemEntryOf(item: Item, schema: KeySchema, lastModified: string): ManifestEntry {
  const canonical = canonicalItem(item);
  const json = JSON.stringify(canonical);
  return {
    key: itemKeyOf(canonical, schema),
    sizeBytes: Buffer.byteLength(json, 'utf8'),
    etag: contentIdOf(json),
    lastModified,
    blobs: [],
    item: canonical,
  };
}
