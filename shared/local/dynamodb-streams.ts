/**
 * A DynamoDB Streams event source mapping, played on the embedded stack against DynamoDB Local:
 * what Lambda's stream poller does for a `stream` event of `type: dynamodb` in serverless.yml.
 *
 * - The event's ARN names a table; a label `*` (`arn:…:table/<name>/stream/*`, serverless.yml's
 *   `params.local`), or a label that is not the table's, is resolved to the table's LatestStreamArn
 *   with DescribeTable; until the table exists with a stream, the poller waits (and follows a
 *   table created again under its name: a new stream, read from its start).
 * - Shards come from DescribeStream; a child shard is read only once its parent is read to its end
 *   (a closed shard's GetRecords ends without a NextShardIterator), so one item's changes arrive
 *   in order across splits.
 * - Each shard starts at TRIM_HORIZON (or LATEST: its end when the poller first saw it), then
 *   continues AFTER_SEQUENCE_NUMBER of the last record acknowledged.
 * - A batch is at most `batchSize` records of one shard, as the Lambda event
 *   ({@link lambdaStreamRecord}). The function's answer:
 *   - success → the batch is acknowledged;
 *   - `batchItemFailures` (with ReportBatchItemFailures) → acknowledged up to the lowest reported
 *     sequence number; the rest is retried from it (a retry attempt);
 *   - an error → with bisection, the batch is split in two and each half delivered on its own
 *     (splitting spends no retry); a single record (or any batch without bisection) is retried;
 *   - after `maximumRetryAttempts` retries (-1: forever), the batch's description
 *     ({@link StreamBatchFailureRecord}) goes to the on-failure queue and the shard moves on.
 * - Idle polls sleep `idleMs` (300 ms by default).
 *
 * DynamoDB Local's quirks, handled here: its stream ARNs and records carry the region `ddblocal`
 * (records and failure records show the stack's region instead, as AWS would); its records carry no
 * `eventSourceARN` (Lambda adds it); the SDK returns binary attributes as Uint8Array and
 * ApproximateCreationDateTime as a Date, which Lambda's JSON event carries as base64 and epoch
 * seconds. Checkpoints live in memory: a restarted stack reads each stream from TRIM_HORIZON again
 * (captureTable is idempotent).
 * @see https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
 * @see https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
 */
import { randomUUID } from 'node:crypto';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type AttributeValue,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as SdkStreamRecord,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import {
  type LocalRefs,
  onFailureQueueArn,
  resolveIntrinsics,
  type ServerlessConfig,
  type ServerlessFunction,
} from './serverless-config.ts';

type ServerlessEvent = ServerlessConfig['functions'][string]['events'][number];

/** A `stream` event of `type: dynamodb`, resolved. */
export interface DynamoDbStreamMapping {
  functionName: string;
  /** serverless.yml's ARN: `arn:…:table/<name>/stream/<label or *>`. */
  arn: string;
  batchSize: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** -1: until the record expires (forever, locally). */
  maximumRetryAttempts: number;
  bisectBatchOnFunctionError: boolean;
  reportBatchItemFailures: boolean;
  onFailure?: { queueUrl: string; queueArn: string };
}

/** One record of the Lambda event, as Lambda's JSON carries it. */
export interface LambdaStreamRecord {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventVersion: string;
  eventSource: 'aws:dynamodb';
  awsRegion: string;
  dynamodb: {
    /** Epoch seconds. */
    ApproximateCreationDateTime?: number;
    Keys: Record<string, unknown>;
    NewImage?: Record<string, unknown>;
    OldImage?: Record<string, unknown>;
    SequenceNumber: string;
    SizeBytes?: number;
    StreamViewType?: string;
  };
  userIdentity?: { type: string; principalId: string };
  eventSourceARN: string;
}

/**
 * What Lambda sends to a stream mapping's on-failure destination when a batch is discarded.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
 */
export interface StreamBatchFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetryAttemptsExhausted';
    approximateInvokeCount: number;
  };
  responseContext: { statusCode: number; executedVersion: string; functionError?: 'Unhandled' };
  version: '1.0';
  /** ISO-8601 UTC. */
  timestamp: string;
  DDBStreamBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    /** ISO-8601 UTC, to the second. */
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

/** An attribute value as Lambda's JSON event carries it: binaries base64, the rest as DynamoDB JSON. */
export function lambdaAttributeValue(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.M !== undefined) return { M: lambdaImage(value.M) };
  if (value.L !== undefined) return { L: value.L.map(lambdaAttributeValue) };
  const { $unknown: _unknown, ...plain } = value as AttributeValue & { $unknown?: unknown };
  return plain;
}

function lambdaImage(image: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(image).map(([k, v]) => [k, lambdaAttributeValue(v)]));
}

/** The stream ARN as AWS would show it: the stack's region instead of DynamoDB Local's `ddblocal`. */
export function streamArnInRegion(arn: string, region: string): string {
  const parts = arn.split(':');
  if (parts.length < 6) return arn;
  parts[3] = region;
  return parts.join(':');
}

/**
 * One SDK stream record (GetRecords) as the record of Lambda's event: `eventSourceARN` added, the
 * region the stack's, ApproximateCreationDateTime in epoch seconds, binaries in base64.
 * @example lambdaStreamRecord(out.Records[0], 'arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/x', 'us-east-1')
 */
export function lambdaStreamRecord(
  record: SdkStreamRecord,
  streamArn: string,
  region: string,
): LambdaStreamRecord {
  const d = record.dynamodb ?? {};
  const created = d.ApproximateCreationDateTime as Date | number | undefined;
  return {
    eventID: record.eventID ?? randomUUID(),
    eventName: record.eventName as LambdaStreamRecord['eventName'],
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    dynamodb: {
      ...(created === undefined
        ? {}
        : { ApproximateCreationDateTime: created instanceof Date ? created.getTime() / 1000 : created }),
      Keys: lambdaImage(d.Keys ?? {}),
      ...(d.NewImage ? { NewImage: lambdaImage(d.NewImage) } : {}),
      ...(d.OldImage ? { OldImage: lambdaImage(d.OldImage) } : {}),
      SequenceNumber: d.SequenceNumber ?? '',
      ...(d.SizeBytes === undefined ? {} : { SizeBytes: d.SizeBytes }),
      ...(d.StreamViewType ? { StreamViewType: d.StreamViewType } : {}),
    },
    ...(record.userIdentity
      ? {
          userIdentity: {
            type: record.userIdentity.Type ?? '',
            principalId: record.userIdentity.PrincipalId ?? '',
          },
        }
      : {}),
    eventSourceARN: streamArnInRegion(streamArn, region),
  };
}

/** The description of a discarded batch, as Lambda sends it to the on-failure destination. */
export function streamBatchFailureRecord(
  batch: readonly LambdaStreamRecord[],
  shardId: string,
  options: { functionArn: string; invokeCount: number; streamArn: string; at?: Date },
): StreamBatchFailureRecord {
  const first = batch[0] as LambdaStreamRecord;
  const last = batch[batch.length - 1] as LambdaStreamRecord;
  const arrival = (r: LambdaStreamRecord) =>
    new Date((r.dynamodb.ApproximateCreationDateTime ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    requestContext: {
      requestId: randomUUID(),
      functionArn: options.functionArn,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: options.invokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: (options.at ?? new Date()).toISOString(),
    DDBStreamBatchInfo: {
      shardId,
      startSequenceNumber: first.dynamodb.SequenceNumber,
      endSequenceNumber: last.dynamodb.SequenceNumber,
      approximateArrivalOfFirstRecord: arrival(first),
      approximateArrivalOfLastRecord: arrival(last),
      batchSize: batch.length,
      streamArn: options.streamArn,
    },
  };
}

/** Where a shard's reading stands. */
interface ShardState {
  /** The last acknowledged record's sequence number. */
  after?: string;
  /** LATEST: read from the end the poller first saw (until a record is delivered). */
  latest?: boolean;
  /** Where an empty read of an open shard left off: the next read goes on from it. */
  iterator?: string;
  done: boolean;
}

/** What the poller needs of the dispatcher. */
export interface StreamPollerDeps {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  region: string;
  /** Invoke the function synchronously: its result, or throws its error. */
  invoke: (functionName: string, event: { Records: LambdaStreamRecord[] }) => Promise<unknown>;
  /** Send a failure record to the on-failure queue. */
  sendFailure: (queueUrl: string, record: StreamBatchFailureRecord) => Promise<void>;
  running: () => boolean;
  /** Sleep, ending early when the dispatcher stops. */
  sleep: (ms: number) => Promise<void>;
  idleMs?: number;
}

const tableOf = (arn: string) => /:table\/([^/]+)\/stream\/(.+)$/.exec(arn);

/** Plays one mapping until the dispatcher stops. */
export class DynamoDbStreamPoller {
  readonly #m: DynamoDbStreamMapping;
  readonly #d: StreamPollerDeps;
  #streamArn: string | undefined;
  #shards = new Map<string, ShardState>();
  #firstLook = true;

  constructor(mapping: DynamoDbStreamMapping, deps: StreamPollerDeps) {
    this.#m = mapping;
    this.#d = deps;
  }

  async run(): Promise<void> {
    const idle = this.#d.idleMs ?? 300;
    while (this.#d.running()) {
      let progressed = false;
      try {
        progressed = await this.#round();
      } catch {
        // DynamoDB Local restarting, the table deleted mid-read, the failure queue unreachable: look
        // again after a pause, from the last acknowledged record (a new stream starts over).
      }
      if (!progressed) await this.#d.sleep(idle);
    }
  }

  /** One pass over the stream's readable shards; whether any record was delivered. */
  async #round(): Promise<boolean> {
    const arn = await this.#resolve();
    if (!arn) return false;
    const shards = await this.#describe(arn);
    const ids = new Set(shards.map((s) => s.ShardId as string));
    let progressed = false;
    for (const shard of shards) {
      const id = shard.ShardId as string;
      let state = this.#shards.get(id);
      if (!state) {
        state = { done: false, latest: this.#firstLook && this.#m.startingPosition === 'LATEST' };
        this.#shards.set(id, state);
      }
      if (state.done) continue;
      // A child waits for its parent (when the parent is still listed) to be read to its end.
      const parent = shard.ParentShardId;
      if (parent && ids.has(parent) && !this.#shards.get(parent)?.done) continue;
      if (await this.#readShard(arn, id, state)) progressed = true;
    }
    this.#firstLook = false;
    return progressed;
  }

  /** The stream to read: the configured ARN's table's LatestStreamArn (undefined until it has one). */
  async #resolve(): Promise<string | undefined> {
    const match = tableOf(this.#m.arn);
    if (!match?.[1]) throw new Error(`not a DynamoDB stream ARN: ${this.#m.arn}`);
    let latest: string | undefined;
    try {
      const out = await this.#d.dynamodb.send(new DescribeTableCommand({ TableName: match[1] }));
      latest =
        out.Table?.StreamSpecification?.StreamEnabled === false ? undefined : out.Table?.LatestStreamArn;
    } catch (error) {
      if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    }
    if (latest && match[2] !== '*' && !latest.endsWith(`/stream/${match[2]}`)) {
      // A real label that is not this table's stream (another stage, another table): wait.
      latest = undefined;
    }
    if (latest !== this.#streamArn) {
      // A new stream (a table created again): start over from its trim horizon.
      this.#streamArn = latest;
      this.#shards = new Map();
    }
    return latest;
  }

  async #describe(arn: string): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await this.#d.streams.send(
        new DescribeStreamCommand({ StreamArn: arn, ...(start ? { ExclusiveStartShardId: start } : {}) }),
      );
      shards.push(...(out.StreamDescription?.Shards ?? []));
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  /** Read and deliver one batch of a shard; whether it held records. */
  async #readShard(arn: string, shardId: string, state: ShardState): Promise<boolean> {
    const iterator = state.iterator ?? (await this.#iterator(arn, shardId, state));
    if (!iterator) {
      state.done = true;
      return false;
    }
    state.iterator = undefined; // an expired or failed iterator is not used twice
    const out = await this.#d.streams.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(this.#m.batchSize, 1000) }),
    );
    const records = (out.Records ?? []).map((r) => lambdaStreamRecord(r, arn, this.#d.region));
    if (records.length === 0) {
      // A closed shard read to its end has no next iterator: its children may start. An open one
      // goes on from where this read ended (for LATEST, the end it first saw).
      if (!out.NextShardIterator) state.done = true;
      else state.iterator = out.NextShardIterator;
      return false;
    }
    state.latest = false;
    await this.#deliver(records, shardId, state, 0, arn);
    return true;
  }

  /** A shard iterator: after the last acknowledged record, else at the starting position. */
  async #iterator(arn: string, shardId: string, state: ShardState): Promise<string | undefined> {
    const position = state.after
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: state.after }
      : { ShardIteratorType: state.latest ? ('LATEST' as const) : ('TRIM_HORIZON' as const) };
    const out = await this.#d.streams.send(
      new GetShardIteratorCommand({ StreamArn: arn, ShardId: shardId, ...position }),
    );
    return out.ShardIterator;
  }

  /** Deliver a batch until it is acknowledged or discarded; `attempts` retries already spent. */
  async #deliver(
    batch: LambdaStreamRecord[],
    shardId: string,
    state: ShardState,
    spent: number,
    arn: string,
  ): Promise<void> {
    let pending = batch;
    let retries = spent;
    let invocations = 0;
    const limit = this.#m.maximumRetryAttempts < 0 ? Number.POSITIVE_INFINITY : this.#m.maximumRetryAttempts;
    while (pending.length > 0) {
      if (!this.#d.running()) return; // not acknowledged: read again after a restart
      invocations += 1;
      let failedFrom: number;
      try {
        const result = await this.#d.invoke(this.#m.functionName, { Records: pending });
        failedFrom = this.#failedIndex(pending, result);
        if (failedFrom < 0) {
          state.after = pending[pending.length - 1]?.dynamodb.SequenceNumber;
          return;
        }
        if (failedFrom > 0) state.after = pending[failedFrom - 1]?.dynamodb.SequenceNumber;
        pending = pending.slice(failedFrom);
      } catch {
        if (this.#m.bisectBatchOnFunctionError && pending.length > 1) {
          const half = Math.ceil(pending.length / 2);
          await this.#deliver(pending.slice(0, half), shardId, state, retries, arn);
          await this.#deliver(pending.slice(half), shardId, state, retries, arn);
          return;
        }
      }
      retries += 1;
      if (retries > limit) {
        await this.#discard(pending, shardId, invocations, arn);
        state.after = pending[pending.length - 1]?.dynamodb.SequenceNumber;
        return;
      }
      await this.#d.sleep(Math.min(2000, 50 * 2 ** Math.min(retries, 6)));
    }
  }

  /** -1 when the whole batch succeeded; else the index to retry from (0: the whole batch). */
  #failedIndex(batch: LambdaStreamRecord[], result: unknown): number {
    if (!this.#m.reportBatchItemFailures) return -1;
    const failures = (result as { batchItemFailures?: { itemIdentifier?: unknown }[] } | undefined)
      ?.batchItemFailures;
    if (!failures || failures.length === 0) return -1;
    const indexes = failures.map((f) =>
      batch.findIndex((r) => r.dynamodb.SequenceNumber === f.itemIdentifier),
    );
    // An identifier that names no record of the batch fails the whole batch (as Lambda does).
    return indexes.some((i) => i < 0) ? 0 : Math.min(...indexes);
  }

  async #discard(
    batch: LambdaStreamRecord[],
    shardId: string,
    invocations: number,
    arn: string,
  ): Promise<void> {
    const target = this.#m.onFailure;
    if (!target) return;
    await this.#d.sendFailure(
      target.queueUrl,
      streamBatchFailureRecord(batch, shardId, {
        functionArn: `arn:aws:lambda:${this.#d.region}:000000000000:function:${this.#m.functionName}`,
        invokeCount: invocations,
        streamArn: streamArnInRegion(arn, this.#d.region),
      }),
    );
  }
}

/**
 * The mapping of a serverless.yml `stream` event of `type: dynamodb` (none for any other event,
 * or a disabled one), its on-failure queue found among the stack's queues.
 * @throws Error when the on-failure destination is not a queue of the stack.
 */
export function dynamoDbStreamMappingOf(
  functionName: string,
  event: ServerlessEvent['stream'],
  refs: LocalRefs,
  queues: Record<string, { url: string; arn: string }>,
): DynamoDbStreamMapping[] {
  if (event === undefined) return [];
  const config = typeof event === 'string' ? { arn: event } : event;
  const arn = String(resolveIntrinsics(config.arn, refs));
  if (!arn.includes(':dynamodb:') || (typeof event !== 'string' && event.enabled === false)) return [];
  const settings = typeof event === 'string' ? undefined : event;
  const failureArn = settings?.destinations
    ? onFailureQueueArn({ destinations: settings.destinations } as ServerlessFunction, refs)
    : undefined;
  const failureQueue = failureArn ? Object.values(queues).find((q) => q.arn === failureArn) : undefined;
  if (failureArn && !failureQueue)
    throw new Error(
      `serverless.yml: ${functionName}'s stream onFailure ${failureArn} is not a queue of this stack`,
    );
  const mapping: DynamoDbStreamMapping = {
    functionName,
    arn,
    batchSize: settings?.batchSize ?? 100,
    startingPosition: settings?.startingPosition ?? 'TRIM_HORIZON',
    maximumRetryAttempts: settings?.maximumRetryAttempts ?? -1,
    bisectBatchOnFunctionError: settings?.bisectBatchOnFunctionError ?? false,
    reportBatchItemFailures: settings?.functionResponseType === 'ReportBatchItemFailures',
    ...(failureQueue ? { onFailure: { queueUrl: failureQueue.url, queueArn: failureQueue.arn } } : {}),
  };
  return [mapping];
}

/** A DynamoDB client of DynamoDB Local (any credentials do). */
export function localDynamoDb(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: LOCAL_CREDENTIALS });
}

/** A DynamoDB Streams client of DynamoDB Local. */
export function localStreams(endpoint: string): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient({ region: 'us-east-1', endpoint, credentials: LOCAL_CREDENTIALS });
}

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
