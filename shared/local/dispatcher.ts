/**
 * The local dispatcher: plays Lambda's event sources from serverless.yml on the embedded stack.
 *
 * - `schedule`: fires each function's rate()/cron() expressions with the EventBridge "Scheduled
 *   Event" payload (first tick one period after start, like a new rule).
 * - `s3`: every object created or removed in a bucket a function subscribes to becomes the S3
 *   event record Lambda would receive (key URL-encoded as S3 encodes it, a per-key-increasing
 *   sequencer); invoked asynchronously, retried on error like Lambda's async invocation
 *   (`maximumRetryAttempts`, 2 by default), then, with `destinations.onFailure`, sent to that queue
 *   as Lambda's invocation record (the event and the error) instead of being dropped.
 * - `sqs`: each event source mapping polls its queue with the configured batch size and
 *   concurrency, honours partial batch responses (ReportBatchItemFailures), leaves failed messages
 *   to the queue's visibility timeout, and so to its redrive policy (DLQ after maxReceiveCount).
 * - `stream` of `type: dynamodb`: each mapping reads its table's stream on DynamoDB Local shard by
 *   shard, in order, with Lambda's retries, bisection, partial batch responses and on-failure
 *   records (./dynamodb-streams.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, S3EventRecord, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import pLimit from 'p-limit';
import { withRetry } from '#adapters/retrying.ts';
import { nextOccurrence, parseSchedule } from '#domain/schedule.ts';
import {
  type DynamoDbStreamMapping,
  DynamoDbStreamPoller,
  type StreamPollerDeps,
} from './dynamodb-streams.ts';

/**
 * The invocation the current code runs in (its function and event source), for code that observes
 * the stack from outside the functions: the benchmark attributes each outgoing S3 request to the
 * function that made it. Undefined outside an invocation.
 */
export const currentInvocation = new AsyncLocalStorage<{
  functionName: string;
  source: Invocation['source'];
}>();

/** A function the dispatcher can invoke. */
export interface LocalFunction {
  name: string;
  timeoutSeconds: number;
  /** serverless.yml's memorySize (MB), for the context's memoryLimitInMB. @default 1024 */
  memorySizeMb?: number;
  /** Retries of an asynchronous invocation that failed (serverless.yml's `maximumRetryAttempts`, 0–2). @default 2 */
  maximumRetryAttempts?: number;
  /**
   * serverless.yml's `destinations.onFailure` when it is an SQS queue: where an asynchronous event
   * goes, as {@link AsyncFailureRecord}, once its retries are spent.
   */
  onFailure?: { queueUrl: string; queueArn: string };
  handler: (event: unknown, context: Context) => Promise<unknown>;
}

/**
 * What Lambda sends to an on-failure destination when an asynchronous invocation failed for good
 * (the "invocation record"): the original event as `requestPayload`, the error as `responsePayload`.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
 */
export interface AsyncFailureRecord {
  version: '1.0';
  /** ISO-8601 UTC. */
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetriesExhausted' | 'EventAgeExceeded';
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext: { statusCode: number; executedVersion: string; functionError: 'Unhandled' };
  responsePayload: { errorType: string; errorMessage: string };
}

/** An SQS event source mapping. */
export interface SqsMapping {
  functionName: string;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
  /** Concurrent pollers. @default 2 */
  concurrency: number;
}

/** A schedule event source. */
export interface ScheduleMapping {
  functionName: string;
  expression: string;
}

/** An S3 event notification. */
export interface S3Mapping {
  functionName: string;
  bucket: string;
  /** `s3:ObjectCreated:*`, `s3:ObjectRemoved:*`, or a specific event. */
  event: string;
  prefix?: string;
  suffix?: string;
}

/** A change the embedded S3 observed. */
export interface ObservedS3Change {
  bucket: string;
  key: string;
  status: 'uploaded' | 'deleted';
  size?: number;
  eTag?: string;
  versionId?: string;
}

/** One invocation, for logs and tests. */
export interface Invocation {
  functionName: string;
  source: 'schedule' | 's3' | 'sqs' | 'stream' | 'manual';
  ok: boolean;
  error?: string;
  batchItemFailures?: number;
  ms: number;
}

/** Encode a key the way S3 event notifications do: URL-encoded, `+` for a space, `/` kept. */
export function encodeS3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
}

/**
 * Plays the event sources. Start with {@link LocalDispatcher.start}; {@link LocalDispatcher.stop}
 * stops timers and pollers and waits for invocations in flight.
 */
export class LocalDispatcher {
  readonly invocations: Invocation[] = [];
  readonly #functions: Map<string, LocalFunction>;
  readonly #sqs: SQSClient;
  readonly #region: string;
  readonly #schedules: ScheduleMapping[];
  readonly #s3: S3Mapping[];
  readonly #queues: SqsMapping[];
  readonly #streams: { mappings: DynamoDbStreamMapping[] } & Partial<
    Pick<StreamPollerDeps, 'dynamodb' | 'streams'>
  >;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #asyncLimit = pLimit(8);
  readonly #onInvocation: ((i: Invocation) => void) | undefined;
  #active = 0;
  #sequence = 0n;
  #running = false;
  #pollers: Promise<void>[] = [];
  #abort = new AbortController();

  constructor(options: {
    functions: LocalFunction[];
    sqs: SQSClient;
    region: string;
    schedules: ScheduleMapping[];
    s3: S3Mapping[];
    queues: SqsMapping[];
    /** DynamoDB stream mappings, and the clients that read DynamoDB Local's streams. */
    streams?: { mappings: DynamoDbStreamMapping[] } & Pick<StreamPollerDeps, 'dynamodb' | 'streams'>;
    onInvocation?: (i: Invocation) => void;
  }) {
    this.#functions = new Map(options.functions.map((f) => [f.name, f]));
    this.#sqs = options.sqs;
    this.#region = options.region;
    this.#schedules = options.schedules;
    this.#s3 = options.s3;
    this.#queues = options.queues;
    this.#streams = options.streams ?? { mappings: [] };
    this.#onInvocation = options.onInvocation;
  }

  /** Invocations running now, of every source (the benchmark waits for 0 before it times a row). */
  get activeInvocations(): number {
    return this.#active;
  }

  /** Start schedules and SQS pollers. */
  start(now: Date = new Date()): void {
    this.#running = true;
    for (const s of this.#schedules) this.#arm(s, parseSchedule(s.expression), now, now);
    for (const q of this.#queues) {
      for (let i = 0; i < q.concurrency; i++) this.#pollers.push(this.#poll(q));
    }
    for (const m of this.#streams.mappings) this.#pollers.push(this.#pollStream(m));
  }

  #pollStream(mapping: DynamoDbStreamMapping): Promise<void> {
    const signal = this.#abort.signal;
    const poller = new DynamoDbStreamPoller(mapping, {
      dynamodb: this.#streams.dynamodb as StreamPollerDeps['dynamodb'],
      streams: this.#streams.streams as StreamPollerDeps['streams'],
      region: this.#region,
      invoke: (name, event) => this.#invoke(name, event, 'stream', true),
      sendFailure: async (queueUrl, record) => {
        await this.#sqs.send(
          new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(record) }),
        );
      },
      running: () => this.#running,
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(done, ms);
          function done() {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            resolve();
          }
          signal.addEventListener('abort', done, { once: true });
        }),
    });
    return poller.run();
  }

  /** Stop: no new invocations; waits for those in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled(this.#pollers);
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Invoke a function directly (like `aws lambda invoke`) and return its result. */
  async invoke(functionName: string, event: unknown): Promise<unknown> {
    return this.#invoke(functionName, event, 'manual', true);
  }

  /** Fire a function's schedule now, with the EventBridge payload for `at`. */
  async fireSchedule(functionName: string, at: Date = new Date()): Promise<unknown> {
    return this.#invoke(functionName, scheduledEvent(this.#region, at), 'schedule', true);
  }

  /** Feed one observed S3 change to the functions subscribed to it (asynchronous invocation). */
  observeS3(change: ObservedS3Change, at: Date = new Date()): void {
    if (!this.#running) return;
    const kind = change.status === 'uploaded' ? 'ObjectCreated' : 'ObjectRemoved';
    const eventName = change.status === 'uploaded' ? 'ObjectCreated:Put' : 'ObjectRemoved:Delete';
    this.#sequence += 1n;
    const sequencer = this.#sequence.toString(16).toUpperCase().padStart(18, '0');
    for (const m of this.#s3) {
      if (m.bucket !== change.bucket) continue;
      if (m.event !== `s3:${kind}:*` && m.event !== `s3:${eventName}`) continue;
      if (m.prefix && !change.key.startsWith(m.prefix)) continue;
      if (m.suffix && !change.key.endsWith(m.suffix)) continue;
      const record: S3EventRecord = {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: this.#region,
        eventTime: at.toISOString(),
        eventName,
        userIdentity: { principalId: 'AWS:LOCAL' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': randomUUID(), 'x-amz-id-2': randomUUID() },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: `${m.functionName}-${kind}`,
          bucket: {
            name: change.bucket,
            ownerIdentity: { principalId: 'LOCAL' },
            arn: `arn:aws:s3:::${change.bucket}`,
          },
          object: {
            key: encodeS3EventKey(change.key),
            ...(change.status === 'uploaded' ? { size: change.size ?? 0, eTag: change.eTag ?? '' } : {}),
            ...(change.versionId ? { versionId: change.versionId } : {}),
            sequencer,
          } as S3EventRecord['s3']['object'],
        },
      };
      this.#track(this.#asyncLimit(() => this.#invokeAsync(m.functionName, { Records: [record] })));
    }
  }

  /** Resolves when no invocation is in flight. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #arm(
    mapping: ScheduleMapping,
    schedule: ReturnType<typeof parseSchedule>,
    anchor: Date,
    after: Date,
  ): void {
    if (!this.#running) return;
    const next = nextOccurrence(schedule, anchor, after);
    if (!next) return;
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        this.#track(
          this.#invoke(mapping.functionName, scheduledEvent(this.#region, next), 'schedule', false),
        );
        this.#arm(mapping, schedule, anchor, next);
      },
      Math.max(0, next.getTime() - Date.now()),
    );
    this.#timers.add(timer);
  }

  async #invokeAsync(functionName: string, event: unknown): Promise<void> {
    // Lambda's asynchronous invocation: the first try and its retries (two by default), 200 ms and
    // then 400 ms apart, then the on-failure destination, if any. Any error is retried.
    const fn = this.#functions.get(functionName);
    const attempts = 1 + (fn?.maximumRetryAttempts ?? 2);
    const stopped = new Error('the dispatcher stopped');
    const attempt = async () => {
      if (!this.#running) throw stopped; // stopped mid-way: the event is not spent, only abandoned
      await this.#invoke(functionName, event, 's3', true);
    };
    const policy = { maxAttempts: attempts, baseDelayMs: 200, maxDelayMs: Number.POSITIVE_INFINITY };
    try {
      await withRetry(attempt, { ...policy, jitter: 'none', retryIf: (error) => error !== stopped });
    } catch (error) {
      if (error !== stopped && fn?.onFailure) {
        await this.#sendToOnFailure(fn, fn.onFailure.queueUrl, event, error, attempts);
      }
    }
  }

  async #sendToOnFailure(
    fn: LocalFunction,
    queueUrl: string,
    event: unknown,
    error: unknown,
    attempts: number,
  ): Promise<void> {
    const record: AsyncFailureRecord = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:${this.#region}:000000000000:function:${fn.name}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: attempts,
      },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: {
        errorType: error instanceof Error ? error.name : 'Error',
        errorMessage: error instanceof Error ? error.message : String(error),
      },
    };
    await this.#sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(record) }));
  }

  async #poll(mapping: SqsMapping): Promise<void> {
    while (this.#running) {
      let messages: Message[] = [];
      try {
        const out = await this.#sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: mapping.queueUrl,
            MaxNumberOfMessages: Math.min(mapping.batchSize, 10),
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.#abort.signal },
        );
        messages = out.Messages ?? [];
      } catch {
        if (!this.#running) return;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (messages.length === 0) {
        // Long polling waits on SQS; a receiver that answers at once must not spin.
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const records = messages.map((m) => toSqsRecord(m, mapping, this.#region));
      let failed = new Set(records.map((r) => r.messageId));
      try {
        const response = (await this.#invoke(mapping.functionName, { Records: records }, 'sqs', true)) as
          | SQSBatchResponse
          | undefined;
        const items = mapping.reportBatchItemFailures ? (response?.batchItemFailures ?? []) : [];
        failed = new Set(items.map((i) => i.itemIdentifier));
      } catch {
        // the whole batch failed: every message returns after its visibility timeout
      }
      const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
      if (done.length > 0) {
        await this.#sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: mapping.queueUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
    }
  }

  async #invoke(
    functionName: string,
    event: unknown,
    source: Invocation['source'],
    rethrow: boolean,
  ): Promise<unknown> {
    const fn = this.#functions.get(functionName);
    if (!fn) throw new Error(`serverless.yml has no function '${functionName}'`);
    const started = Date.now();
    const deadline = started + fn.timeoutSeconds * 1000;
    const context = lambdaContext(fn, deadline);
    this.#active += 1;
    try {
      const result = await currentInvocation.run({ functionName, source }, () => fn.handler(event, context));
      const failures = (result as SQSBatchResponse | undefined)?.batchItemFailures?.length;
      this.#record({
        functionName,
        source,
        ok: true,
        ms: Date.now() - started,
        ...(failures ? { batchItemFailures: failures } : {}),
      });
      return result;
    } catch (error) {
      this.#record({
        functionName,
        source,
        ok: false,
        error: (error as Error).message,
        ms: Date.now() - started,
      });
      if (rethrow) throw error;
      return undefined;
    } finally {
      this.#active -= 1;
    }
  }

  #record(i: Invocation): void {
    this.invocations.push(i);
    if (this.invocations.length > 10_000) this.invocations.splice(0, 5_000);
    this.#onInvocation?.(i);
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.catch(() => {});
    this.#inFlight.add(tracked);
    tracked.finally(() => this.#inFlight.delete(tracked));
  }
}

/** The EventBridge "Scheduled Event" payload for a tick at `at`. */
export function scheduledEvent(region: string, at: Date) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:000000000000:rule/local-schedule`],
    detail: {},
  };
}

function toSqsRecord(m: Message, mapping: SqsMapping, region: string): SQSRecord {
  const a = m.Attributes ?? {};
  return {
    messageId: m.MessageId ?? randomUUID(),
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'LOCAL',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
        k,
        {
          dataType: v.DataType ?? 'String',
          ...(v.StringValue === undefined ? {} : { stringValue: v.StringValue }),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    ),
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: mapping.queueArn,
    awsRegion: region,
  };
}

/** The Lambda context of one invocation of `fn` that must end by `deadline` (epoch ms). */
export function lambdaContext(fn: Pick<LocalFunction, 'name' | 'memorySizeMb'>, deadline: number): Context {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${fn.name}`,
    memoryLimitInMB: String(fn.memorySizeMb ?? 1024),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
