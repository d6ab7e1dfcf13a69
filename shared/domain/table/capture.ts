/**
 * Table capture (continuous protection of a DynamoDB table): every change a table's stream reports
 * becomes one journal entry for each plan that protects the table (a disabled one too: it is only
 * not scheduled, as for buckets), holding the item after
 * the change inline (canonical DynamoDB JSON) — no blob, no vault write.
 *
 * The mapping (docs/format.md#journal, "Table capture"): `bucket` = `dynamodb:<table>`, `key` = the
 * item key of the record's `Keys` (table/item.ts), `sequencer` = the stream's `SequenceNumber`
 * (decimal digits: `compareSequencers` orders them numerically), `eventTime` =
 * `ApproximateCreationDateTime`; INSERT/MODIFY → `created`, REMOVE → `removed`. Redelivered records
 * are journaled once (the catalog is idempotent on plan, bucket, key and sequencer); records
 * delivered out of order are ordered by their sequence numbers, as S3's are by their sequencers.
 * @see ../../../docs/format.md#journal
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html
 */
import { NotFoundError, ValidationError } from '../errors.ts';
import { nowIso, type PipelineDeps } from '../pipeline.ts';
import { isTableSource, type TableSourceSpec } from '../plan.ts';
import type { JournalEntry, PlanRecord } from '../records.ts';
import { tableContainerOf } from '../source/dynamodb-table.ts';
import type { KeySchema } from './definition.ts';
import { canonicalItem, type Item, itemHashOf, itemKeyOf } from './item.ts';
import type { TableStore } from './ports.ts';
import { type DynamoDBStreamRecord, tableOfStreamArn } from './stream.ts';

/**
 * Largest item capture journals, in bytes of its canonical JSON: 64 KiB. The catalog writes an entry
 * as three items in one transaction (by time, by key, by key range), each holding the item inline
 * and each under DynamoDB's 400 KB item limit; 64 KiB leaves room for the entry's other attributes and
 * for the map overhead DynamoDB counts on nested attribute values, keeps one entry's transaction
 * near 200 write units, and keeps a 1 MB journal query page holding at least a dozen entries.
 * Larger items (DynamoDB allows 400 KB) are journaled `lost-before-capture`: the next snapshot then
 * reconciles, scanning the table (docs/format.md#journal-built-snapshots).
 */
export const MAX_CAPTURED_ITEM_BYTES = 64 * 1024;

/**
 * Deepest canonical item capture journals, in JSON nesting levels (the item's object is 1, an
 * attribute value `{ "S": … }` 2, a map's attributes 3, …). DynamoDB nests attributes at most 32
 * levels deep and the catalog stores the item as a map attribute of the entry, so an item nested
 * deeper (DynamoDB JSON doubles a map's depth) could never be written: it is journaled
 * `lost-before-capture` rather than failing its stream shard forever.
 */
export const MAX_CAPTURED_ITEM_DEPTH = 31;

/** What table capture did with one stream record; the shape of S3 capture's `CaptureOutcome`. */
export type TableCaptureOutcome =
  | {
      status: 'journaled';
      /** `dynamodb:<table>`. */
      bucket: string;
      /** The item key. */
      key: string;
      /** Every plan that protects the table (an entry each). */
      plans: string[];
      /** The plans whose entry was new (the others already held it: a redelivery). */
      journaled: string[];
      outcome: JournalEntry['outcome'];
      /** ISO-8601 UTC, from the record, for the capture-lag metric. */
      eventTime: string;
      /** Always 0: an item lives in its entry, not in blobs. */
      blobsWritten: 0;
      /** Why the item was not captured (lost-before-capture). */
      reason?: string;
      /** Always empty: the detector does not count table changes. */
      counted: string[];
    }
  | {
      status: 'duplicate';
      bucket: string;
      key: string;
      plans: string[];
      outcome: JournalEntry['outcome'];
      eventTime: string;
      blobsWritten: 0;
    }
  | { status: 'ignored'; bucket: string; key: string; reason: string };

/**
 * What table capture uses of the pipeline's deps: the catalog (plans, journal), the clock
 * (`capturedAt`), the table stores (DescribeTable for the key schema; GetItem when a record carries
 * no new image) and the primary vault's region (the deployment's: a plan without `region`).
 */
export type TableCaptureDeps = Pick<PipelineDeps, 'catalog' | 'clock' | 'tables'> & {
  vaults: { primary: { region: string } };
};

/** Key schemas by stream ARN, per `tables` factory (a deps-scoped cache: one DescribeTable per table). */
const keySchemas = new WeakMap<object, Map<string, KeySchema>>();
/** Stream ARNs whose key schema is cached at most, per factory (the cache is then started again). */
const KEY_SCHEMA_CACHE_SIZE = 1000;

/**
 * The table's key schema: cached per stream ARN (a table's key schema never changes; a table
 * deleted and created again under its name has a new stream, so a new ARN), else DescribeTable.
 * @throws NotFoundError (not retryable) when the table no longer exists.
 */
async function keySchemaOf(deps: TableCaptureDeps, store: TableStore, record: DynamoDBStreamRecord) {
  const factory = deps.tables as object;
  const cache = keySchemas.get(factory) ?? new Map<string, KeySchema>();
  keySchemas.set(factory, cache);
  const cached = cache.get(record.eventSourceARN);
  if (cached) return cached;
  const table = tableOfStreamArn(record.eventSourceARN);
  const description = await store.describe(table);
  if (!description)
    throw new NotFoundError(
      `table ${table} no longer exists: its key schema, which names the stream record's item, is unknown`,
    );
  if (cache.size >= KEY_SCHEMA_CACHE_SIZE) cache.clear();
  cache.set(record.eventSourceARN, description.definition.key);
  return description.definition.key;
}

/** The JSON nesting depth of a value (an object or array is one level more than its deepest child). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child));
  return deepest + 1;
}

/** ISO-8601 UTC (milliseconds) of the record's `ApproximateCreationDateTime` (epoch seconds). */
function eventTimeOf(record: DynamoDBStreamRecord): string | undefined {
  const seconds = record.dynamodb.ApproximateCreationDateTime;
  return seconds === undefined ? undefined : new Date(Math.round(seconds * 1000)).toISOString();
}

/** What an entry says beyond the event it journals. */
type EntryBody = Pick<JournalEntry, 'outcome' | 'sizeBytes' | 'etag' | 'lastModified' | 'item' | 'reason'>;

/** The entry body of an item after its change: `captured` with it inline, or lost when too large to. */
function itemBody(item: Item, key: string, eventTime: string): EntryBody {
  const canonical = canonicalItem(item);
  const json = JSON.stringify(canonical);
  const sizeBytes = Buffer.byteLength(json, 'utf8');
  const etag = itemHashOf(canonical);
  if (sizeBytes > MAX_CAPTURED_ITEM_BYTES) {
    return {
      outcome: 'lost-before-capture',
      sizeBytes,
      etag,
      reason: `too large to journal: item ${key} is ${sizeBytes} bytes of canonical JSON (at most ${MAX_CAPTURED_ITEM_BYTES}); left to the snapshots (the next one reconciles)`,
    };
  }
  const depth = depthOf(canonical);
  if (depth > MAX_CAPTURED_ITEM_DEPTH) {
    return {
      outcome: 'lost-before-capture',
      sizeBytes,
      etag,
      reason: `too deeply nested to journal: item ${key} is ${depth} levels of DynamoDB JSON (at most ${MAX_CAPTURED_ITEM_DEPTH}); left to the snapshots (the next one reconciles)`,
    };
  }
  return { outcome: 'captured', sizeBytes, etag, lastModified: eventTime, item: canonical };
}

/** Whether a plan protects the table the record names, in the record's region. */
function protects(source: TableSourceSpec, table: string, record: DynamoDBStreamRecord, home: string) {
  if (source.table !== table) return false;
  return record.awsRegion === undefined || (source.region ?? home) === record.awsRegion;
}

/**
 * Capture one DynamoDB stream record: journal the item's state after the change for every
 * plan whose source is the record's table (`tableOfStreamArn(eventSourceARN)`) in the record's
 * `awsRegion` (a plan without `region` is in the deployment's; a record without `awsRegion` matches).
 *
 * - INSERT/MODIFY with a `NewImage` (NEW_IMAGE, NEW_AND_OLD_IMAGES streams): `captured`, the
 *   canonical image inline (`item`), `etag` its hash, `sizeBytes` its canonical JSON's bytes,
 *   `lastModified` the event time.
 * - INSERT/MODIFY without one (KEYS_ONLY, OLD_IMAGE streams): the item is read strongly consistently
 *   (`TableStore.getItem`); present → `captured` with it, absent → `removed`. Such an entry holds the
 *   item's state when capture asked, at or after its event, under the event's sequence number (like
 *   S3's `currentVersion` rule): it can show a later change early, never an earlier one.
 * - REMOVE (TTL expirations too): `removed`.
 * - An item over {@link MAX_CAPTURED_ITEM_BYTES} or {@link MAX_CAPTURED_ITEM_DEPTH}:
 *   `lost-before-capture` with the reason (the next journal-built snapshot counts it in
 *   `journalLost`, so the one after reconciles).
 *
 * `capturedAt` is the clock's now; `eventTime` is `ApproximateCreationDateTime` (else `capturedAt`).
 * @returns `ignored` (nothing read or written) when no plan protects the table; `duplicate`
 *   when every plan's entry existed already (a redelivery); else `journaled`.
 * @throws ValidationError (not retryable) when the record's `Keys` lack the table's key attributes,
 *   or no `tables` store is configured. NotFoundError (not retryable) when the table no longer
 *   exists and its key schema is not cached. TransientError (retryable) when DynamoDB or the catalog
 *   may answer later: run the record again (journaling twice is harmless).
 * @example
 * ```ts
 * for (const raw of event.Records) await captureTableRecord(deps, DynamoDBStreamRecordSchema.parse(raw));
 * ```
 */
export async function captureTableRecord(
  deps: TableCaptureDeps,
  record: DynamoDBStreamRecord,
): Promise<TableCaptureOutcome> {
  const table = tableOfStreamArn(record.eventSourceARN);
  const bucket = tableContainerOf(table);
  const home = deps.vaults.primary.region;
  const plans = (await deps.catalog.listPlans()).filter(
    (plan): plan is PlanRecord & { source: TableSourceSpec } =>
      isTableSource(plan.source) && protects(plan.source, table, record, home),
  );
  const [first] = plans;
  if (first === undefined) {
    const key = JSON.stringify(record.dynamodb.Keys);
    return { status: 'ignored', bucket, key, reason: 'no plan protects this table' };
  }
  if (!deps.tables)
    throw new ValidationError(
      `plan ${first.id} protects table ${table}, but no DynamoDB client is configured`,
    );
  // Every matching plan names the same table in the same region: the first one's store reads it.
  const store = deps.tables(first.source.region);
  const key = itemKeyOf(record.dynamodb.Keys, await keySchemaOf(deps, store, record));
  const capturedAt = nowIso(deps.clock);
  const eventTime = eventTimeOf(record) ?? capturedAt;

  let body: EntryBody;
  if (record.eventName === 'REMOVE') body = { outcome: 'removed' };
  else if (record.dynamodb.NewImage) body = itemBody(record.dynamodb.NewImage, key, eventTime);
  else {
    const now = await store.getItem(table, record.dynamodb.Keys);
    body = now ? itemBody(now, key, eventTime) : { outcome: 'removed' };
  }

  const common = {
    bucket,
    key,
    event: record.eventName === 'REMOVE' ? ('removed' as const) : ('created' as const),
    eventTime,
    sequencer: record.dynamodb.SequenceNumber,
    capturedAt,
  };
  const journaled: string[] = [];
  for (const plan of plans) {
    if (await deps.catalog.appendJournal({ planId: plan.id, ...common, ...body })) journaled.push(plan.id);
  }
  const outcome = {
    bucket,
    key,
    plans: plans.map((p) => p.id),
    outcome: body.outcome,
    eventTime,
    blobsWritten: 0 as const,
  };
  if (journaled.length === 0) return { status: 'duplicate', ...outcome };
  return {
    status: 'journaled',
    ...outcome,
    journaled,
    counted: [],
    ...(body.reason === undefined ? {} : { reason: body.reason }),
  };
}
