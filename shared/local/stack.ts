/**
 * The embedded stack: S3 and SQS from fauxqs (one endpoint per region), DynamoDB from DynamoDB
 * Local, the resources and functions of serverless.yml, and the dispatcher that plays their event
 * sources. Everything binds to 127.0.0.1; everything it starts, `stop()` stops.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { ensureContentKeyPair } from '#adapters/key-providers.ts';
import { isolatedLocation } from '#domain/pipeline.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';
import { type IsolatedVault, IsolatedVaultSchema } from '#runtime/isolated-vaults.ts';
import {
  type Invocation,
  LocalDispatcher,
  type ObservedS3Change,
  type S3Mapping,
  type ScheduleMapping,
  type SqsMapping,
} from './dispatcher.ts';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local.ts';
import {
  type DynamoDbStreamMapping,
  dynamoDbStreamMappingOf,
  localDynamoDb,
  localStreams,
} from './dynamodb-streams.ts';
import { type FauxqsStats, type FauxqsThread, startFauxqsThread } from './fauxqs-thread.ts';
import {
  type LatencyProfile,
  type LatencyProxy,
  type RequestOverlay,
  startLatencyProxy,
} from './latency-proxy.ts';
import { type ProcessFunction, ProcessFunctions } from './process-functions.ts';
import {
  LOCAL_ACCOUNT_ID,
  type LocalRefs,
  localPseudoParameters,
  onFailureQueueArn,
  readServerlessConfig,
  resolveIntrinsics,
  type ServerlessConfig,
  scheduleExpressions,
} from './serverless-config.ts';

/** The project root (where serverless.yml lives). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** Keep state here across restarts (SQLite and files); omitted = in memory, gone at stop. */
  dataDir?: string;
  /** Serverless stage. @default 'local' */
  stage?: string;
  /** `--param` overrides for serverless.yml, e.g. `{ protectedBuckets: 'photos' }`. */
  params?: Record<string, string>;
  /** Fixed ports; 0 or omitted = any free port. */
  ports?: { primaryS3Sqs?: number; copyS3?: number; dynamodb?: number; isolatedS3?: number };
  /**
   * Run an isolated vault named `name` on an S3 endpoint of its own (another fauxqs server: a second
   * provider, sharing nothing with the primary's), configured to the functions as an `s3-compatible`
   * isolated vault; plans copy to it with `isolatedVaults: [name]`. None when omitted.
   * @see ../runtime/isolated-vaults.ts
   */
  isolatedVault?: { name: string };
  /** Override every queue's visibility timeout (tests that exercise redelivery). */
  visibilityTimeoutSeconds?: number;
  /** Extra environment for every function (e.g. STRONGBOX_GC_GRACE_SECONDS). */
  environment?: Record<string, string>;
  /** Powertools log level of the functions. @default 'WARN' */
  logLevel?: string;
  /** Start the dispatcher (schedules, S3 notifications, SQS pollers). @default true */
  dispatch?: boolean;
  onInvocation?: (i: Invocation) => void;
  /**
   * Put a {@link startLatencyProxy} in front of each region's S3, and advertise it as the S3 endpoint
   * (`endpoints.s3`, the functions' and the CLI's): S3's first-byte latency and per-connection
   * bandwidth. The stack's own clients (`s3()`: setup, checks) go straight to the emulator.
   */
  s3Latency?: LatencyProfile;
  /**
   * Answer some S3 requests without the emulator, through a proxy advertised as every region's S3
   * endpoint (as `s3Latency`'s): the bench's objects too large for fauxqs, which holds objects in RAM.
   * The stack's own clients (`s3()`) go straight to the emulator.
   */
  s3Overlay?: RequestOverlay;
  /**
   * Put a pass-through proxy in front of DynamoDB Local and advertise it (`endpoints.dynamodb`), so
   * {@link LocalStack.dynamodbRequests} counts every request the functions and the CLI send.
   */
  countDynamoDbRequests?: boolean;
}

/** A running embedded stack. */
export interface LocalStack {
  serverless: ServerlessConfig;
  /** The buckets whose changes reach capture (serverless.yml's protectedBuckets). */
  protectedBuckets: string[];
  primaryRegion: string;
  copyRegions: string[];
  endpoints: { s3: Record<string, string>; sqs: string; dynamodb: string };
  /**
   * The isolated vault (with the `isolatedVault` option): its name, bucket, its own endpoint, and an
   * S3 client of that endpoint. The emulator enforces neither its Object Lock nor a bucket policy.
   */
  isolatedVault:
    | {
        name: string;
        location: string;
        bucket: string;
        endpoint: string;
        s3: S3Client;
        /** The escrow key's private half (PEM), for a restore without the stack's own keys. */
        escrowKeyFile: string;
      }
    | undefined;
  /** Where the stack keeps its master key (and state, with `dataDir`). */
  dataDir: string;
  /** The resolved environment of a function, as Lambda would give it, plus local endpoints. */
  env(functionName: string): Record<string, string>;
  /**
   * A container built from a function's environment (for the CLI and tests). `uncounted`: one of its
   * own whose DynamoDB requests skip the counting proxy (a harness's polling, not the product's work).
   */
  container(functionName?: string, options?: { uncounted?: boolean }): Container;
  dispatcher: LocalDispatcher;
  /** An S3 client of a region's endpoint. */
  s3(region?: string): S3Client;
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  /** Queue URL and ARN by logical id (e.g. SnapshotQueue). */
  queues: Record<string, { url: string; arn: string }>;
  /** Resolves when every S3 change so far has been delivered and no invocation is in flight. */
  settled(): Promise<void>;
  /**
   * What each region's fauxqs endpoint has served since start: HTTP requests by kind (`sqs` apart
   * from `s3:GET`, `s3:PUT`, …; see fauxqs-worker.ts) and its thread's memory. Take deltas.
   */
  endpointStats(): Promise<Record<string, FauxqsStats>>;
  /** DynamoDB requests through the advertised endpoint since start (with `countDynamoDbRequests`). */
  dynamodbRequests(): number | undefined;
  /**
   * Functions switched to run in processes of their own, as Lambda environments of their
   * memorySize (none by default): for measuring a function's peak RSS. @see ./process-functions.ts
   */
  processFunctions: ProcessFunctions;
  stop(): Promise<void>;
}

/** The S3 requests among an endpoint's request counts (everything but SQS). */
export function s3RequestCount(requests: Record<string, number>): number {
  return Object.entries(requests).reduce((sum, [kind, n]) => (kind.startsWith('s3:') ? sum + n : sum), 0);
}

/** Each region's S3 endpoint: the emulator's, or a proxy's in front of it (latency, overlay). */
async function s3EndpointsOf(
  servers: ReadonlyMap<string, { address: string }>,
  latency: LatencyProfile | undefined,
  overlay: RequestOverlay | undefined,
  cleanups: (() => Promise<void>)[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [region, server] of servers) {
    if (!latency && !overlay) {
      out[region] = server.address;
      continue;
    }
    const profile = latency ?? { firstByteMs: 0, bytesPerSecond: Number.POSITIVE_INFINITY };
    const proxy = await startLatencyProxy(server.address, profile, overlay);
    cleanups.push(() => proxy.stop());
    out[region] = proxy.address;
  }
  return out;
}

/** DynamoDB's endpoint to advertise: with `count`, a pass-through proxy counting the requests it forwards. */
async function dynamodbEndpointOf(
  endpoint: string,
  count: boolean | undefined,
  cleanups: (() => Promise<void>)[],
): Promise<{ address: string; requests: () => number | undefined }> {
  if (!count) return { address: endpoint, requests: () => undefined };
  const proxy: LatencyProxy = await startLatencyProxy(endpoint, {
    firstByteMs: 0,
    bytesPerSecond: Number.POSITIVE_INFINITY,
  });
  cleanups.push(() => proxy.stop());
  return { address: proxy.address, requests: () => proxy.requests() };
}

/**
 * Start the embedded stack.
 * @example
 * ```ts
 * const stack = await startLocalStack({ params: { protectedBuckets: 'photos' } });
 * try { await stack.dispatcher.fireSchedule('scheduler'); } finally { await stack.stop(); }
 * ```
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  process.env.AWS_REGION ??= 'us-east-1';
  // The functions' EMF metric lines would drown the console; on AWS they go to CloudWatch Logs.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const stage = options.stage ?? 'local';
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), 'strongbox-'));
    if (!options.dataDir) cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    await mkdir(dataDir, { recursive: true });
    const serverless = await readServerlessConfig(PROJECT_ROOT, {
      stage,
      ...(options.params ? { params: options.params } : {}),
    });
    const primaryRegion = serverless.provider.region;
    const providerEnv = serverless.provider.environment;
    // What `Ref` and `Fn::GetAtt … Arn` mean locally: pseudo parameters now, resources as they are made.
    const refs: LocalRefs = {
      ref: localPseudoParameters(primaryRegion, `${serverless.service}-${stage}`),
      arn: {},
    };
    const copyVaults = parseRegionMap(
      String(resolveIntrinsics(providerEnv.STRONGBOX_COPY_VAULTS ?? '', refs)),
    );

    // One S3+SQS endpoint per region; the sink turns S3 writes into notifications.
    let dispatcher: LocalDispatcher | undefined;
    const servers = new Map<string, FauxqsThread>();
    const startRegion = async (region: string, port: number | undefined, withSink: boolean) => {
      if (options.dataDir) await mkdir(join(dataDir, 'fauxqs', region), { recursive: true });
      const server = await startFauxqsThread({
        region,
        ...(port ? { port } : {}),
        ...(options.dataDir
          ? { dataDir: join(dataDir, 'fauxqs', region), s3StorageDir: join(dataDir, 's3', region) }
          : {}),
        ...(withSink ? { onS3Change: (e: ObservedS3Change) => dispatcher?.observeS3(e) } : {}),
      });
      servers.set(region, server);
      cleanups.push(() => server.stop());
    };
    await startRegion(primaryRegion, options.ports?.primaryS3Sqs, true);
    let copyPort = options.ports?.copyS3;
    for (const region of copyVaults.keys()) {
      await startRegion(region, copyPort, false);
      copyPort = copyPort ? copyPort + 1 : undefined;
    }
    const isolated = await startIsolatedVault(options, `${serverless.service}-${stage}`, dataDir, cleanups);
    const dynamo: DynamoDbLocal = await startDynamoDbLocal({
      ...(options.ports?.dynamodb ? { port: options.ports.dynamodb } : {}),
      ...(options.dataDir ? { dbPath: join(dataDir, 'dynamodb') } : {}),
    });
    cleanups.push(() => dynamo.stop());

    const dynamoEndpoint = await dynamodbEndpointOf(dynamo.endpoint, options.countDynamoDbRequests, cleanups);
    const endpoints = {
      s3: await s3EndpointsOf(servers, options.s3Latency, options.s3Overlay, cleanups),
      sqs: (servers.get(primaryRegion) as FauxqsThread).address,
      dynamodb: dynamoEndpoint.address,
    };
    const s3Clients = new Map(
      [...servers].map(([r, s]) => [
        r,
        new S3Client({ region: r, endpoint: s.address, forcePathStyle: true }),
      ]),
    );
    const sqs = new SQSClient({ region: primaryRegion, endpoint: endpoints.sqs });
    const dynamodb = new DynamoDBClient({ region: primaryRegion, endpoint: endpoints.dynamodb });

    // Resources, as CloudFormation would create them (only the kinds the functions touch locally).
    const queues: LocalStack['queues'] = {};
    const notifications: S3Mapping[] = [];
    const resources = Object.entries(serverless.resources.Resources);
    const isDlqFirst = ([, r]: (typeof resources)[number]) => (r.Properties.RedrivePolicy ? 1 : 0);
    for (const [id, resource] of [...resources].sort((a, b) => isDlqFirst(a) - isDlqFirst(b))) {
      const p = resource.Properties;
      const nameOf = (value: unknown) => String(resolveIntrinsics(value, refs));
      if (resource.Type === 'AWS::SQS::Queue') {
        const attributes: Record<string, string> = {};
        const visibility = options.visibilityTimeoutSeconds ?? p.VisibilityTimeout;
        if (visibility !== undefined) attributes.VisibilityTimeout = String(visibility);
        if (p.MessageRetentionPeriod !== undefined)
          attributes.MessageRetentionPeriod = String(p.MessageRetentionPeriod);
        if (p.RedrivePolicy)
          attributes.RedrivePolicy = JSON.stringify(resolveIntrinsics(p.RedrivePolicy, refs));
        const out = await sqs.send(
          new CreateQueueCommand({ QueueName: nameOf(p.QueueName), Attributes: attributes }),
        );
        const url = out.QueueUrl as string;
        const attrs = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
        );
        const arn = attrs.Attributes?.QueueArn as string;
        queues[id] = { url, arn };
        refs.ref[id] = url;
        refs.arn[id] = arn;
      } else if (resource.Type === 'AWS::DynamoDB::Table') {
        const tableName = nameOf(p.TableName);
        try {
          await dynamodb.send(
            new CreateTableCommand({
              TableName: tableName,
              BillingMode: 'PAY_PER_REQUEST',
              AttributeDefinitions: p.AttributeDefinitions as never,
              KeySchema: p.KeySchema as never,
            }),
          );
        } catch (error) {
          if (!(error instanceof ResourceInUseException)) throw error;
        }
        refs.ref[id] = tableName;
        refs.arn[id] = `arn:aws:dynamodb:${primaryRegion}:${LOCAL_ACCOUNT_ID}:table/${tableName}`;
      } else if (resource.Type === 'AWS::S3::Bucket') {
        const bucketName = nameOf(p.BucketName);
        await createBucket(s3Clients.get(primaryRegion) as S3Client, bucketName);
        refs.ref[id] = bucketName;
        refs.arn[id] = `arn:aws:s3:::${bucketName}`;
      } else if (resource.Type === 'Custom::S3') {
        // osls's notifications on an existing bucket, written out for capture's further buckets.
        const fn = String(p.FunctionName).slice(`${serverless.service}-${stage}-`.length);
        for (const config of (p.BucketConfigs ?? []) as { Event: string }[]) {
          notifications.push({ functionName: fn, bucket: String(p.BucketName), event: config.Event });
        }
        await createBucket(s3Clients.get(primaryRegion) as S3Client, String(p.BucketName)); // `existing` locally
      } else if (resource.Type === 'AWS::KMS::Key') {
        // No KMS locally: a key resolves to '' (STRONGBOX_KMS_KEY_ID unset), so the functions wrap
        // data keys with the stack's local key file (STRONGBOX_LOCAL_KEY_FILE) instead.
        refs.ref[id] = '';
        refs.arn[id] = '';
      }
      // Roles, policies, alarms, topics, the dashboard: nothing to emulate, nothing refers to them.
    }
    for (const [region, bucket] of copyVaults) await createBucket(s3Clients.get(region) as S3Client, bucket);
    for (const name of Object.keys(serverless.functions)) {
      refs.ref[`${lambdaLogicalId(name)}LambdaFunction`] = `${serverless.service}-${stage}-${name}`;
    }

    // Write-only keys (docs/format.md#keyring): a content key pair in the data directory, its private
    // key given only to the functions serverless.yml lets open content (STRONGBOX_CONTENT_KEY_UNWRAP).
    const contentPublicKeyFile = join(dataDir, 'content.pub.pem');
    const contentPrivateKeyFile = join(dataDir, 'content.key.pem');
    await ensureContentKeyPair(contentPublicKeyFile, contentPrivateKeyFile);
    // Functions: the environment Lambda would give them, plus the local endpoints and key files.
    const localEnv: Record<string, string> = {
      AWS_ENDPOINT_URL_S3: endpoints.s3[primaryRegion] as string,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      STRONGBOX_REGION_ENDPOINTS: [...copyVaults.keys()].map((r) => `${r}=${endpoints.s3[r]}`).join(','),
      STRONGBOX_LOCAL_KEY_FILE: join(dataDir, 'master.key'),
      STRONGBOX_CONTENT_PUBLIC_KEY_FILE: contentPublicKeyFile,
      ...isolated.env,
      POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
      ...(options.environment ?? {}),
    };
    const envOf = (name: string): Record<string, string> => {
      const fn = serverless.functions[name];
      if (!fn) throw new Error(`serverless.yml has no function '${name}'`);
      const merged = resolveIntrinsics({ ...providerEnv, ...(fn.environment ?? {}) }, refs) as Record<
        string,
        unknown
      >;
      const reader = merged.STRONGBOX_CONTENT_KEY_UNWRAP === 'true';
      return {
        ...Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, String(v)])),
        ...(reader ? { STRONGBOX_CONTENT_PRIVATE_KEY_FILE: contentPrivateKeyFile } : {}),
        ...localEnv,
      };
    };
    // Restore drills' scratch bucket (an existing bucket on AWS, like the restore buckets): made here.
    for (const name of Object.keys(serverless.functions)) {
      const drillBucket = envOf(name).STRONGBOX_DRILL_BUCKET;
      if (drillBucket) await createBucket(s3Clients.get(primaryRegion) as S3Client, drillBucket);
    }
    const logger = new Logger({ serviceName: 'strongbox', logLevel: (options.logLevel ?? 'WARN') as 'WARN' });
    const containers = new Map<string, Container>();
    const containerOf = (name = 'restore', options: { uncounted?: boolean } = {}): Container => {
      const id = options.uncounted ? `${name} (uncounted)` : name;
      let c = containers.get(id);
      if (!c) {
        const env = envOf(name);
        // A harness watching the stack (a bench polling the catalog) talks to DynamoDB directly,
        // so dynamodbRequests() counts what the functions and the CLI send, not the watching.
        if (options.uncounted) env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
        c = createContainer(loadConfig(env), { logger });
        containers.set(id, c);
      }
      return c;
    };

    const processFunctions = new ProcessFunctions();
    cleanups.push(() => processFunctions.stop());
    const functions = await Promise.all(
      Object.entries(serverless.functions).map(async ([name, fn]) => {
        const file = join(PROJECT_ROOT, `${fn.handler.replace(/\.[^.]+$/, '')}.ts`);
        const mod = (await import(pathToFileURL(file).href)) as {
          makeHandler: (c: Container) => (event: unknown, context: Context) => Promise<unknown>;
        };
        const inProcess = mod.makeHandler(containerOf(name));
        const memorySizeMb = fn.memorySize ?? serverless.provider.memorySize;
        // Lambda's asynchronous invocation settings: retries, then the on-failure queue.
        const failureArn = onFailureQueueArn(fn, refs);
        const failureQueue = failureArn && Object.values(queues).find((q) => q.arn === failureArn);
        if (failureArn && !failureQueue)
          throw new Error(`serverless.yml: ${name}'s onFailure ${failureArn} is not a queue of this stack`);
        const asProcess: ProcessFunction = {
          name,
          file,
          exportName: fn.handler.slice(fn.handler.lastIndexOf('.') + 1),
          memorySizeMb,
          environment: envOf(name),
        };
        return {
          name,
          timeoutSeconds: fn.timeout ?? serverless.provider.timeout,
          memorySizeMb,
          ...(fn.maximumRetryAttempts === undefined ? {} : { maximumRetryAttempts: fn.maximumRetryAttempts }),
          ...(failureQueue ? { onFailure: { queueUrl: failureQueue.url, queueArn: failureQueue.arn } } : {}),
          handler: (event: unknown, context: Context) =>
            processFunctions.has(name)
              ? processFunctions.invoke(asProcess, event, context)
              : inProcess(event, context),
        };
      }),
    );
    const schedules: ScheduleMapping[] = [];
    const s3: S3Mapping[] = [...notifications];
    const sqsMappings: SqsMapping[] = [];
    const streamMappings: DynamoDbStreamMapping[] = [];
    for (const [name, fn] of Object.entries(serverless.functions)) {
      for (const event of fn.events) {
        for (const expression of scheduleExpressions(event.schedule))
          schedules.push({ functionName: name, expression });
        if (event.s3) {
          const prefix = event.s3.rules?.find((r) => r.prefix)?.prefix;
          const suffix = event.s3.rules?.find((r) => r.suffix)?.suffix;
          s3.push({
            functionName: name,
            bucket: event.s3.bucket,
            event: event.s3.event,
            ...(prefix ? { prefix } : {}),
            ...(suffix ? { suffix } : {}),
          });
          await createBucket(s3Clients.get(primaryRegion) as S3Client, event.s3.bucket); // `existing: true` locally
        }
        if (event.sqs) {
          const arn = String(resolveIntrinsics(event.sqs.arn, refs));
          const queue = Object.values(queues).find((q) => q.arn === arn);
          if (!queue)
            throw new Error(`serverless.yml: ${name} polls ${arn}, which is not a queue of this stack`);
          sqsMappings.push({
            functionName: name,
            queueUrl: queue.url,
            queueArn: arn,
            batchSize: event.sqs.batchSize,
            reportBatchItemFailures: event.sqs.functionResponseType === 'ReportBatchItemFailures',
            concurrency: event.sqs.maximumConcurrency ?? 2,
          });
        }
        streamMappings.push(...dynamoDbStreamMappingOf(name, event.stream, refs, queues));
      }
    }
    dispatcher = new LocalDispatcher({
      functions,
      sqs,
      region: primaryRegion,
      schedules,
      s3,
      queues: sqsMappings,
      // Read straight from DynamoDB Local: the stream pollers are Lambda's, not the functions' requests.
      streams: {
        mappings: streamMappings,
        dynamodb: localDynamoDb(dynamo.endpoint),
        streams: localStreams(dynamo.endpoint),
      },
      ...(options.onInvocation ? { onInvocation: options.onInvocation } : {}),
    });
    const running = dispatcher;
    if (options.dispatch !== false) running.start();
    cleanups.push(() => running.stop());

    return {
      serverless,
      protectedBuckets: [...new Set(s3.map((m) => m.bucket))],
      primaryRegion,
      copyRegions: [...copyVaults.keys()],
      endpoints,
      isolatedVault: isolated.vault,
      dataDir,
      env: envOf,
      container: containerOf,
      dispatcher: running,
      processFunctions,
      s3: (region = primaryRegion) => {
        const c = s3Clients.get(region);
        if (!c) throw new Error(`the embedded stack has no endpoint in ${region}`);
        return c;
      },
      sqs,
      dynamodb,
      queues,
      settled: async () => {
        for (const server of servers.values()) await server.flush();
        await running.settled();
      },
      dynamodbRequests: dynamoEndpoint.requests,
      endpointStats: async () =>
        Object.fromEntries(
          await Promise.all([...servers].map(async ([r, s]) => [r, await s.stats()] as const)),
        ),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Where the embedded stack's isolated vault says it is (a provider's region, signed for, not routed by). */
const ISOLATED_LOCAL_REGION = 'us-east-1';

/**
 * Start the isolated vault's own S3 endpoint (a fauxqs server of its own, no S3 notifications) and
 * its bucket `<service>-<stage>-isolated-<name>`, when the options ask for one: the functions'
 * environment for it (`STRONGBOX_ISOLATED_VAULTS`), and what the stack tells about it.
 */
async function startIsolatedVault(
  options: LocalStackOptions,
  prefix: string,
  dataDir: string,
  cleanups: (() => Promise<void>)[],
): Promise<{ env: Record<string, string>; vault: LocalStack['isolatedVault'] }> {
  if (!options.isolatedVault) return { env: {}, vault: undefined };
  const { name } = options.isolatedVault;
  const dir = options.dataDir ? join(dataDir, 'isolated', name) : undefined;
  if (dir) await mkdir(join(dir, 'fauxqs'), { recursive: true });
  const server = await startFauxqsThread({
    region: ISOLATED_LOCAL_REGION,
    ...(options.ports?.isolatedS3 ? { port: options.ports.isolatedS3 } : {}),
    ...(dir ? { dataDir: join(dir, 'fauxqs'), s3StorageDir: join(dir, 's3') } : {}),
  });
  cleanups.push(() => server.stop());
  const bucket = `${prefix}-isolated-${name}`;
  const s3 = new S3Client({ region: ISOLATED_LOCAL_REGION, endpoint: server.address, forcePathStyle: true });
  await createBucket(s3, bucket);
  // The isolated side's escrow key: every data key is also wrapped to its public half; its private
  // half is given to no function, only to an operator's break-glass restore (STRONGBOX_ESCROW_KEY_FILES).
  const escrowKeyFile = join(dataDir, 'isolated', name, 'escrow.key.pem');
  const escrowPublicFile = join(dataDir, 'isolated', name, 'escrow.pub.pem');
  await ensureContentKeyPair(escrowPublicFile, escrowKeyFile);
  // No credentials secret: the local endpoint takes the stack's local keys (AWS_ACCESS_KEY_ID).
  const spec: IsolatedVault = IsolatedVaultSchema.parse({
    name,
    kind: 's3-compatible',
    endpoint: server.address,
    region: ISOLATED_LOCAL_REGION,
    bucket,
    forcePathStyle: true,
    escrowPublicKey: await readFile(escrowPublicFile, 'utf8'),
  });
  return {
    env: { STRONGBOX_ISOLATED_VAULTS: JSON.stringify([spec]) },
    vault: { name, location: isolatedLocation(name), bucket, endpoint: server.address, s3, escrowKeyFile },
  };
}

async function createBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
}

function parseRegionMap(s: string): Map<string, string> {
  return new Map(
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => p.split('=').map((x) => x.trim()) as [string, string]),
  );
}

/** Serverless's logical id of a function: `restore` → `Restore`. */
function lambdaLogicalId(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1).replace(/[-_](.)/g, (_, c: string) => c.toUpperCase());
}
