/**
 * Items at the edge: the vault's DynamoDB JSON (#domain/table/item.ts, binaries as base64 strings)
 * to and from the SDK's low-level `AttributeValue` (binaries as `Uint8Array`), recursively through
 * maps, lists and binary sets.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html
 */
import type { AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb';
import { ValidationError } from '#domain/errors.ts';
import type { AttributeValue, Item } from '#domain/table/attribute-value.ts';

/** An item as the SDK's low-level API takes and gives it. */
export type SdkItem = Record<string, SdkAttributeValue>;

const toBytes = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, 'base64'));
const toBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * One attribute value for the SDK: `B` and `BS` base64-decoded to bytes, maps and lists converted
 * member by member, every other type unchanged.
 * @example
 * ```ts
 * toSdkValue({ B: 'AQI=' }); // { B: Uint8Array [1, 2] }
 * ```
 */
export function toSdkValue(value: AttributeValue): SdkAttributeValue {
  if ('B' in value) return { B: toBytes(value.B) };
  if ('BS' in value) return { BS: value.BS.map(toBytes) };
  if ('M' in value) return { M: toSdkItem(value.M) };
  if ('L' in value) return { L: value.L.map(toSdkValue) };
  return value as SdkAttributeValue;
}

/** An item (or a key) for the SDK (see {@link toSdkValue}). */
export function toSdkItem(item: Item): SdkItem {
  const out: SdkItem = {};
  for (const [name, value] of Object.entries(item)) out[name] = toSdkValue(value);
  return out;
}

/**
 * One attribute value from the SDK: binaries base64-encoded, maps and lists converted member by
 * member. @throws ValidationError (not retryable) on a value of no known type (the SDK's `$unknown`).
 */
export function fromSdkValue(value: SdkAttributeValue): AttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: toBase64(value.B) };
  if (value.SS !== undefined) return { SS: [...value.SS] };
  if (value.NS !== undefined) return { NS: [...value.NS] };
  if (value.BS !== undefined) return { BS: value.BS.map(toBase64) };
  if (value.M !== undefined) return { M: fromSdkItem(value.M) };
  if (value.L !== undefined) return { L: value.L.map(fromSdkValue) };
  if (value.NULL !== undefined) return { NULL: true };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  throw new ValidationError(`an attribute value of no known type: ${JSON.stringify(Object.keys(value))}`);
}

/**
 * An item (or a key) from the SDK, in the vault's DynamoDB JSON.
 * @example
 * ```ts
 * fromSdkItem({ pk: { S: 'a' }, blob: { B: new Uint8Array([1, 2]) } }); // { pk: { S: 'a' }, blob: { B: 'AQI=' } }
 * ```
 */
export function fromSdkItem(item: SdkItem): Item {
  const out: Item = {};
  for (const [name, value] of Object.entries(item)) out[name] = fromSdkValue(value);
  return out;
}
