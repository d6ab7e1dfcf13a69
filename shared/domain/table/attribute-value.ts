/**
 * Attribute values in DynamoDB JSON, with no other import than zod: the vault's manifest entries
 * (vault.ts) hold items, and item.ts builds on vault.ts.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html
 */
import { z } from 'zod';

/**
 * One attribute value, in DynamoDB JSON: exactly one of S, N (a decimal string), B (base64), SS, NS,
 * BS, M, L, NULL (true), BOOL. @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html
 */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { B: string }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }
  | { M: { [name: string]: AttributeValue } }
  | { L: AttributeValue[] }
  | { NULL: true }
  | { BOOL: boolean };

/** An item (or a key): attribute name → value. */
export type Item = { [name: string]: AttributeValue };

export const AttributeValueSchema: z.ZodType<AttributeValue> = z.lazy(() =>
  z.union([
    z.strictObject({ S: z.string() }),
    z.strictObject({ N: z.string().min(1) }),
    z.strictObject({ B: z.string() }),
    z.strictObject({ SS: z.array(z.string()) }),
    z.strictObject({ NS: z.array(z.string().min(1)) }),
    z.strictObject({ BS: z.array(z.string()) }),
    z.strictObject({ M: z.record(z.string(), AttributeValueSchema) }),
    z.strictObject({ L: z.array(AttributeValueSchema) }),
    z.strictObject({ NULL: z.literal(true) }),
    z.strictObject({ BOOL: z.boolean() }),
  ]),
);

/** An item in DynamoDB JSON. */
export const ItemSchema: z.ZodType<Item> = z.record(z.string(), AttributeValueSchema);
