/**
 * Table definitions at the edge: DescribeTable's `TableDescription` (+ DescribeTimeToLive) reduced
 * to the snapshot's {@link TableDefinition}, and a definition back to the `CreateTable` input that
 * makes the same table under another name.
 * @see ../../../docs/format.md#table-definition
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
 */
import type {
  CreateTableCommandInput,
  KeySchemaElement,
  Projection,
  ProvisionedThroughputDescription,
  TableDescription as SdkTableDescription,
  TimeToLiveDescription,
} from '@aws-sdk/client-dynamodb';
import { ValidationError } from '#domain/errors.ts';
import { type TableDefinition, TableDefinitionSchema } from '#domain/table/definition.ts';

type KeyElement = { AttributeName: string; KeyType: 'HASH' | 'RANGE' };
type Throughput = { ReadCapacityUnits: number; WriteCapacityUnits: number };

const keyElements = (schema: KeySchemaElement[] | undefined): KeyElement[] =>
  (schema ?? []).map((k) => ({ AttributeName: k.AttributeName as string, KeyType: k.KeyType as 'HASH' }));

const projectionOf = (
  p: Projection | undefined,
): TableDefinition['localSecondaryIndexes'][0]['Projection'] => ({
  ProjectionType: (p?.ProjectionType ?? 'ALL') as 'ALL',
  ...(p?.NonKeyAttributes?.length ? { NonKeyAttributes: [...p.NonKeyAttributes] } : {}),
});

/** Read/write capacity when both are set (an on-demand table's indexes report 0 and 0: none). */
function throughputOf(t: ProvisionedThroughputDescription | undefined): Throughput | undefined {
  const read = t?.ReadCapacityUnits ?? 0;
  const write = t?.WriteCapacityUnits ?? 0;
  return read > 0 && write > 0 ? { ReadCapacityUnits: read, WriteCapacityUnits: write } : undefined;
}

/**
 * The definition DescribeTable and DescribeTimeToLive describe. Optional settings appear only when
 * on: `timeToLiveAttribute` when TTL is ENABLED or ENABLING, `streamViewType` when the stream is
 * enabled, `sse` when SSE is KMS (ENABLED or UPDATING), `deletionProtection` only when true,
 * `provisionedThroughput` (table and GSIs) only on a PROVISIONED table. A table without
 * `BillingModeSummary` is PROVISIONED (tables made before on-demand existed).
 * @param region the region the table lives in (the client's).
 * @throws ValidationError (not retryable) when the description does not make a valid definition.
 * @example
 * ```ts
 * const definition = definitionOfDescription(out.Table, ttl.TimeToLiveDescription, 'eu-west-1');
 * ```
 */
export function definitionOfDescription(
  table: SdkTableDescription,
  ttl: TimeToLiveDescription | undefined,
  region: string,
): TableDefinition {
  const types = new Map((table.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]));
  const keyOf = (kind: 'HASH' | 'RANGE') => {
    const name = table.KeySchema?.find((k) => k.KeyType === kind)?.AttributeName;
    return name === undefined ? undefined : { name, type: types.get(name) as 'S' };
  };
  const range = keyOf('RANGE');
  const billingMode = table.BillingModeSummary?.BillingMode ?? 'PROVISIONED';
  const provisioned = billingMode === 'PROVISIONED';
  const tableThroughput = provisioned ? throughputOf(table.ProvisionedThroughput) : undefined;
  const sse = table.SSEDescription;
  const candidate = {
    tableName: table.TableName,
    region,
    key: { hash: keyOf('HASH'), ...(range ? { range } : {}) },
    attributeDefinitions: (table.AttributeDefinitions ?? []).map((a) => ({
      AttributeName: a.AttributeName,
      AttributeType: a.AttributeType,
    })),
    globalSecondaryIndexes: (table.GlobalSecondaryIndexes ?? []).map((g) => {
      const throughput = provisioned ? throughputOf(g.ProvisionedThroughput) : undefined;
      return {
        IndexName: g.IndexName,
        KeySchema: keyElements(g.KeySchema),
        Projection: projectionOf(g.Projection),
        ...(throughput ? { ProvisionedThroughput: throughput } : {}),
      };
    }),
    localSecondaryIndexes: (table.LocalSecondaryIndexes ?? []).map((l) => ({
      IndexName: l.IndexName,
      KeySchema: keyElements(l.KeySchema),
      Projection: projectionOf(l.Projection),
    })),
    billingMode,
    ...(tableThroughput ? { provisionedThroughput: tableThroughput } : {}),
    ...((ttl?.TimeToLiveStatus === 'ENABLED' || ttl?.TimeToLiveStatus === 'ENABLING') && ttl.AttributeName
      ? { timeToLiveAttribute: ttl.AttributeName }
      : {}),
    ...(table.StreamSpecification?.StreamEnabled && table.StreamSpecification.StreamViewType
      ? { streamViewType: table.StreamSpecification.StreamViewType }
      : {}),
    ...(sse?.SSEType === 'KMS' && (sse.Status === 'ENABLED' || sse.Status === 'UPDATING')
      ? { sse: { type: 'KMS', ...(sse.KMSMasterKeyArn ? { kmsKeyArn: sse.KMSMasterKeyArn } : {}) } }
      : {}),
    ...(table.DeletionProtectionEnabled ? { deletionProtection: true } : {}),
  };
  const parsed = TableDefinitionSchema.safeParse(candidate);
  if (!parsed.success)
    throw new ValidationError(
      `DescribeTable of ${table.TableName} does not make a table definition: ${parsed.error.message}`,
    );
  return parsed.data;
}

/**
 * The CreateTable input that makes `definition`'s table under `tableName`: key schema, attribute
 * definitions, GSIs and LSIs, billing mode (a PROVISIONED table's GSIs without their own capacity
 * get the table's), the stream (a restored table gets the recorded stream setting: strip
 * `streamViewType` for a table nothing should capture), SSE with the recorded KMS key, and deletion
 * protection. TTL is not part of CreateTable: UpdateTimeToLive applies it once the table is ACTIVE.
 * @throws ValidationError (not retryable) when a PROVISIONED definition has no provisioned throughput.
 * @example
 * ```ts
 * await client.send(new CreateTableCommand(createTableInputOf(definition, 'orders-restored')));
 * ```
 */
export function createTableInputOf(definition: TableDefinition, tableName: string): CreateTableCommandInput {
  const provisioned = definition.billingMode === 'PROVISIONED';
  const recorded = definition.provisionedThroughput;
  if (provisioned && !recorded)
    throw new ValidationError(
      `the PROVISIONED table ${definition.tableName} records no provisioned throughput`,
    );
  const throughput = recorded as Throughput;
  const key: KeyElement[] = [{ AttributeName: definition.key.hash.name, KeyType: 'HASH' }];
  if (definition.key.range) key.push({ AttributeName: definition.key.range.name, KeyType: 'RANGE' });
  return {
    TableName: tableName,
    AttributeDefinitions: definition.attributeDefinitions.map((a) => ({ ...a })),
    KeySchema: key,
    BillingMode: definition.billingMode,
    ...(provisioned ? { ProvisionedThroughput: { ...throughput } } : {}),
    ...(definition.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: definition.globalSecondaryIndexes.map((g) => ({
            IndexName: g.IndexName,
            KeySchema: g.KeySchema.map((k) => ({ ...k })),
            Projection: { ...g.Projection },
            ...(provisioned ? { ProvisionedThroughput: { ...(g.ProvisionedThroughput ?? throughput) } } : {}),
          })),
        }
      : {}),
    ...(definition.localSecondaryIndexes.length > 0
      ? {
          LocalSecondaryIndexes: definition.localSecondaryIndexes.map((l) => ({
            IndexName: l.IndexName,
            KeySchema: l.KeySchema.map((k) => ({ ...k })),
            Projection: { ...l.Projection },
          })),
        }
      : {}),
    ...(definition.streamViewType
      ? { StreamSpecification: { StreamEnabled: true, StreamViewType: definition.streamViewType } }
      : {}),
    ...(definition.sse
      ? {
          SSESpecification: {
            Enabled: true,
            SSEType: 'KMS',
            ...(definition.sse.kmsKeyArn ? { KMSMasterKeyId: definition.sse.kmsKeyArn } : {}),
          },
        }
      : {}),
    ...(definition.deletionProtection ? { DeletionProtectionEnabled: true } : {}),
  };
}
