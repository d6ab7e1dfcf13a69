/**
 * A table's definition as a snapshot records it, so a restore can create the same table: the
 * primary key, attribute definitions, secondary indexes, billing mode, TTL, stream and SSE settings.
 * Shapes follow DescribeTable's `TableDescription` (and DescribeTimeToLive), reduced to what
 * CreateTable and UpdateTimeToLive take back.
 * @see ../../../docs/format.md#table-definition
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html
 */
import { z } from 'zod';

/** The scalar types a key attribute may have. */
export type KeyAttributeType = 'S' | 'N' | 'B';

/**
 * A table's primary key: its partition (HASH) attribute and, on a composite key, its sort (RANGE)
 * attribute, each with its scalar type (from the table's AttributeDefinitions).
 */
export interface KeySchema {
  hash: { name: string; type: KeyAttributeType };
  range?: { name: string; type: KeyAttributeType };
}

export const KeySchemaSchema = z.strictObject({
  hash: z.strictObject({ name: z.string().min(1), type: z.enum(['S', 'N', 'B']) }),
  range: z.strictObject({ name: z.string().min(1), type: z.enum(['S', 'N', 'B']) }).optional(),
}) satisfies z.ZodType<KeySchema>;

const keyElement = z.strictObject({ AttributeName: z.string().min(1), KeyType: z.enum(['HASH', 'RANGE']) });
const projection = z.strictObject({
  ProjectionType: z.enum(['ALL', 'KEYS_ONLY', 'INCLUDE']),
  NonKeyAttributes: z.array(z.string()).optional(),
});
const throughput = z.strictObject({
  ReadCapacityUnits: z.number().int().positive(),
  WriteCapacityUnits: z.number().int().positive(),
});

/** A table definition document (version 1). @see ../../../docs/format.md#table-definition */
export const TableDefinitionSchema = z.strictObject({
  /** The protected table's name (a restore names its new table itself). */
  tableName: z.string().min(1),
  /** Region the table lives in. */
  region: z.string().min(1),
  key: KeySchemaSchema,
  attributeDefinitions: z.array(
    z.strictObject({ AttributeName: z.string().min(1), AttributeType: z.enum(['S', 'N', 'B']) }),
  ),
  globalSecondaryIndexes: z
    .array(
      z.strictObject({
        IndexName: z.string().min(1),
        KeySchema: z.array(keyElement).min(1),
        Projection: projection,
        ProvisionedThroughput: throughput.optional(),
      }),
    )
    .default([]),
  localSecondaryIndexes: z
    .array(
      z.strictObject({
        IndexName: z.string().min(1),
        KeySchema: z.array(keyElement).min(1),
        Projection: projection,
      }),
    )
    .default([]),
  billingMode: z.enum(['PAY_PER_REQUEST', 'PROVISIONED']),
  /** Provisioned tables only. */
  provisionedThroughput: throughput.optional(),
  /** The TTL attribute when TTL is enabled. */
  timeToLiveAttribute: z.string().min(1).optional(),
  /** The stream's view type when a stream is enabled (NEW_IMAGE or NEW_AND_OLD_IMAGES for capture). */
  streamViewType: z.enum(['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES']).optional(),
  /** Server-side encryption: DynamoDB's own key (absent), or KMS with the key's ARN. */
  sse: z.strictObject({ type: z.literal('KMS'), kmsKeyArn: z.string().optional() }).optional(),
  deletionProtection: z.boolean().optional(),
});
export type TableDefinition = z.infer<typeof TableDefinitionSchema>;

/** The primary key of a definition, as items and item keys use it. */
export function keySchemaOf(definition: Pick<TableDefinition, 'key'>): KeySchema {
  return definition.key;
}
