/**
 * The composition root: builds SDK clients, adapters and the pipeline's dependencies from a
 * {@link Config}, once per process (per Lambda container).
 *
 * What cuts across the ports is added here, as decorators (#adapters/logging-port.ts,
 * #adapters/metered-port.ts): the catalog, the queue, every vault and the object store log their
 * failed calls and count and time all of them into the container's `portMeter`. No retry decorator:
 * the domain retries at its own points (`PipelineDeps.retry`) and the SDK clients retry requests;
 * one more layer would multiply the attempts.
 */

import { createPublicKey } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDbCatalog } from '#adapters/dynamodb-catalog/index.ts';
import { DynamoDBTableStore } from '#adapters/dynamodb-table/index.ts';
import { EventBridgeAnomalyEvents, LoggedAnomalyEvents } from '#adapters/eventbridge-anomaly-events.ts';
import {
  KmsKeyProvider,
  KmsRecipient,
  KmsRsaRecipient,
  LocalKeyRecipient,
  localKeyFileProvider,
  type RegionalKey,
  RsaOaepRecipient,
  replicaKeyArn,
} from '#adapters/key-providers.ts';
import { loggingPort, type WarnLogger } from '#adapters/logging-port.ts';
import { meteredPort, PortMeter } from '#adapters/metered-port.ts';
import { withRetry } from '#adapters/retrying.ts';
import { S3ObjectStore } from '#adapters/s3/object-store.ts';
import { S3VaultStore } from '#adapters/s3/vault-store.ts';
import { S3HttpClient } from '#adapters/s3-http.ts';
import { DiskScratchSpace } from '#adapters/scratch.ts';
import { SqsTaskQueue } from '#adapters/sqs-task-queue.ts';
import type { AnomalyEvents } from '#domain/detector/run.ts';
import { Envelope } from '#domain/envelope.ts';
import { PartBlobCache } from '#domain/gc/part-cache.ts';
import { withWritePolicy } from '#domain/immutability.ts';
import { type KeyRecipient, KeyringKeyProvider, withKeyDocuments } from '#domain/keyring.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { Clock, KeyProvider, VaultStore } from '#domain/ports.ts';
import type { TableStore } from '#domain/table/ports.ts';
import { type Config, loadConfig } from './config.ts';
import { isolatedVaultStores } from './isolated-vaults.ts';
import { createMetrics } from './metrics.ts';

/** What handlers are given. */
export interface Container {
  config: Config;
  pipeline: PipelineDeps;
  sqs: SQSClient;
  logger: Logger;
  /** Application metrics (CloudWatch EMF on stdout); see ./metrics.ts. */
  metrics: Metrics;
  /**
   * The tallies of the pipeline's metered ports, published as port metrics after each invocation
   * (`publishMetrics`); absent from containers built by hand, whose ports are not metered.
   */
  portMeter?: PortMeter;
  /**
   * Where the detector announces new findings (capture): EventBridge's default bus on AWS; a log
   * line in the embedded stack (its endpoints are set; there is no EventBridge emulator). Absent
   * from containers built by hand: findings are then recorded and counted, not announced.
   */
  anomalyEvents?: AnomalyEvents;
}

const systemClock: Clock = { now: () => new Date() };

/** An S3 client for `region`, pointed at the configured endpoint when there is one. */
export function s3ClientFor(config: Config, region: string): S3Client {
  const endpoint = config.endpoints.s3.get(region);
  return new S3Client({
    region,
    // SlowDown (503) and other throttling: the SDK's adaptive mode backs off exponentially with
    // jitter and rate-limits this client, so a backup eases off the source bucket instead of failing.
    maxAttempts: config.sdkMaxAttempts,
    retryMode: 'adaptive',
    // Restore targets may live in any region: follow S3's redirect to the bucket's region.
    followRegionRedirects: true,
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
  });
}

/**
 * The lighter client for the hot object requests, over an S3 client (its credentials, region and
 * addressing); undefined when the configuration says `sdk`.
 */
export function s3HttpClientFor(config: Config, client: S3Client): S3HttpClient | undefined {
  return config.s3ObjectClient === 'http'
    ? new S3HttpClient(client, { maxAttempts: config.sdkMaxAttempts })
    : undefined;
}

/**
 * A region's vault writing under the deployment's Object Lock and that region's pack storage class
 * (unchanged when neither is configured). @see #domain/immutability.ts
 */
export function withVaultPolicy(config: Config, vault: VaultStore, clock: Clock): VaultStore {
  const packStorageClass = config.packStorageClasses?.get(vault.region);
  if (!config.objectLock && !packStorageClass) return vault;
  return withWritePolicy(
    vault,
    {
      ...(config.objectLock ? { lock: config.objectLock } : {}),
      ...(packStorageClass ? { packStorageClass } : {}),
    },
    clock,
  );
}

/**
 * `port` as the pipeline gets it: each call counted and timed into `meter` under `name`, each failed
 * call logged at warn level (ids only), the result or failure unchanged. Properties pass through.
 */
export function observedPort<T extends object>(
  port: T,
  name: string,
  { logger, meter }: { logger: WarnLogger; meter: PortMeter },
): T {
  return loggingPort(meteredPort(port, name, meter), name, logger);
}

/**
 * Build the container.
 * @example
 * ```ts
 * const container = createContainer(loadConfig());
 * ```
 */
export function createContainer(
  config: Config,
  options: { clock?: Clock; logger?: Logger; metrics?: Metrics; portMeter?: PortMeter } = {},
): Container {
  const logger =
    options.logger ??
    new Logger({
      serviceName: 'strongbox',
      ...(config.logLevel ? { logLevel: config.logLevel as 'INFO' } : {}),
    });
  const portMeter = options.portMeter ?? new PortMeter();
  const observed = <T extends object>(port: T, name: string) =>
    observedPort(port, name, { logger, meter: portMeter });
  const region = config.primaryRegion;
  // An explicit endpoint keeps SQSClient from switching to the QueueUrl's host.
  const sqs = new SQSClient({
    region,
    maxAttempts: config.sdkMaxAttempts,
    retryMode: 'adaptive',
    ...(config.endpoints.sqs ? { endpoint: config.endpoints.sqs } : {}),
  });
  const dynamodb = new DynamoDBClient({
    region,
    maxAttempts: config.sdkMaxAttempts,
    retryMode: 'adaptive',
    ...(config.endpoints.dynamodb ? { endpoint: config.endpoints.dynamodb } : {}),
  });
  const clock = options.clock ?? systemClock;
  const { legacy, master } = masterKeyOf(config);
  const content = contentKeyOf(config);
  const escrow = escrowRecipientsOf(config);
  // The vault's keyring (docs/format.md#keyring): envelopes name a key document; the master key
  // wraps data keys in it. Envelopes written before it carry the master key's wrap (`legacy`).
  const vaultsForKeys: VaultStore[] = [];
  const keyring = new KeyringKeyProvider({
    vaults: () => vaultsForKeys,
    // Isolated vaults' escrow keys are recipients of every data key, never holders here.
    recipients: async () => [await master(), ...escrow],
    ...(content ? { contentRecipients: async () => [await content(), ...escrow] } : {}),
    // A writer's content key wraps only (write-only keys): it is no holder, so a blob it cannot open
    // says so (NoKeyError) without asking KMS. Escrow private keys: an operator's break-glass restore.
    holders: async () => [
      await master(),
      ...(content && config.contentKey?.unwrap ? [await content()] : []),
      ...(await Promise.all(
        (config.escrowKeyFiles ?? []).map((f) => RsaOaepRecipient.fromPrivateKeyFile(f)),
      )),
    ],
    legacy,
    clock,
  });
  const primaryS3 = s3ClientFor(config, region);
  const primaryHttp = s3HttpClientFor(config, primaryS3);
  // The vaults are observed outside their write policy: the calls are counted as the domain makes
  // them, and the policy (`writePolicyOf`, `region`, `bucket`) still reads through the Proxy.
  const copies = new Map(
    [...config.copyVaults].map(([r, bucket]) => {
      const client = s3ClientFor(config, r);
      const vault = new S3VaultStore(client, r, bucket, s3HttpClientFor(config, client));
      return [
        r,
        observed(withKeyDocuments(withVaultPolicy(config, vault, clock), keyring), `vault:${r}`),
      ] as const;
    }),
  );
  // Isolated vaults (another account or provider): never under this deployment's write policy.
  const isolated = isolatedVaultStores(
    config.isolatedVaults ?? [],
    config.isolatedAccess ?? 'read',
    config,
    // The key documents of this process's data keys go in first, as in every vault it writes.
    (vault, location) => observed(withKeyDocuments(vault, keyring), location),
    (client) => s3HttpClientFor(config, client),
  );
  const pipeline: PipelineDeps = {
    catalog: observed(new DynamoDbCatalog(dynamodb, config.stateTable), 'catalog'),
    queue: observed(new SqsTaskQueue(sqs, config.queueUrls), 'queue'),
    clock,
    envelope: new Envelope(keyring),
    vaults: {
      primary: observed(
        withKeyDocuments(
          withVaultPolicy(
            config,
            new S3VaultStore(primaryS3, region, config.vaultBucket, primaryHttp),
            clock,
          ),
          keyring,
        ),
        'vault',
      ),
      copies,
      ...(isolated.size > 0 ? { isolated } : {}),
    },
    objects: observed(new S3ObjectStore(primaryS3, primaryHttp), 'objects'),
    tables: tableStoresOf(config, dynamodb, observed),
    retry: withRetry,
    concurrency: config.concurrency,
    gcGraceSeconds: config.gcGraceSeconds,
    gcIntervalSeconds: config.gcIntervalSeconds,
    ...(config.streamTimePrecisionSeconds === undefined
      ? {}
      : { streamTimePrecisionSeconds: config.streamTimePrecisionSeconds }),
    // Built once per Lambda environment: the next GC run in it reads only manifest parts new since.
    partBlobCache: new PartBlobCache(config.indexMemoryBlobs),
    gcMaxUnusedPercent: config.gcMaxUnusedPercent,
    gcSmallPackBytes: config.gcSmallPackBytes,
    gcConsolidateMinPacks: config.gcConsolidateMinPacks,
    gcConsolidateMaxPacks: config.gcConsolidateMaxPacks,
    timeReserveSeconds: config.timeReserveSeconds,
    resumableObjectBytes: config.resumableObjectBytes,
    scratch: new DiskScratchSpace(),
    indexMemoryBlobs: config.indexMemoryBlobs,
    ...(config.restoreFanOutThreshold ? { restoreFanOutThreshold: config.restoreFanOutThreshold } : {}),
    ...(config.restoreSliceSize ? { restoreSliceSize: config.restoreSliceSize } : {}),
    ...(config.restoreSliceBytes ? { restoreSliceBytes: config.restoreSliceBytes } : {}),
  };
  // Key documents are read from the primary first, then the copy regions', then the isolated vaults'.
  vaultsForKeys.push(pipeline.vaults.primary, ...copies.values(), ...isolated.values());
  const metrics = options.metrics ?? createMetrics(config, logger);
  const embedded = config.endpoints.dynamodb !== undefined || config.endpoints.sqs !== undefined;
  const anomalyEvents: AnomalyEvents = embedded
    ? new LoggedAnomalyEvents((message, fields) => logger.warn(message, fields))
    : new EventBridgeAnomalyEvents(
        new EventBridgeClient({ region, maxAttempts: config.sdkMaxAttempts, retryMode: 'adaptive' }),
      );
  return { config, pipeline, sqs, logger, metrics, portMeter, anomalyEvents };
}

/**
 * Table sources and restore targets: one observed {@link DynamoDBTableStore} per region, made on
 * first use (the primary region's over the catalog's client). The configured DynamoDB endpoint serves
 * every region: DynamoDB Local keeps each region's tables apart.
 */
export function tableStoresOf(
  config: Config,
  primary: DynamoDBClient,
  observed: <T extends object>(port: T, name: string) => T,
): (region?: string) => TableStore {
  const stores = new Map<string, TableStore>();
  return (r = config.primaryRegion) => {
    let store = stores.get(r);
    if (!store) {
      const client =
        r === config.primaryRegion
          ? primary
          : new DynamoDBClient({
              region: r,
              maxAttempts: config.sdkMaxAttempts,
              retryMode: 'adaptive',
              ...(config.endpoints.dynamodb ? { endpoint: config.endpoints.dynamodb } : {}),
            });
      store = observed(
        new DynamoDBTableStore(client, { region: r }),
        r === config.primaryRegion ? 'tables' : `tables:${r}`,
      );
      stores.set(r, store);
    }
    return store;
  };
}

/** The EncryptionContext key naming the vault: `kms:EncryptionContext:strongbox:vault` in key policies. */
export const VAULT_CONTEXT_KEY = 'strongbox:vault';

/**
 * The configured master key: as the keyring's recipient (made on first use: a local key file is
 * read then) and as the provider of envelopes written before the keyring (a direct wrap).
 */
function masterKeyOf(config: Config): { legacy: KeyProvider; master: () => Promise<KeyRecipient> } {
  if (config.kmsKeyId) {
    const client = new KMSClient({ region: config.primaryRegion });
    const replicas = replicasOf(config.kmsKeyId, config.copyVaults);
    // New data keys are bound to the vault (EncryptionContext); the key policy requires it of them.
    const context = config.vaultName ? { [VAULT_CONTEXT_KEY]: config.vaultName } : undefined;
    const recipient = new KmsRecipient(client, config.kmsKeyId, replicas, context);
    return {
      legacy: new KmsKeyProvider(client, config.kmsKeyId, replicas),
      master: async () => recipient,
    };
  }
  const path = config.localKeyFile as string;
  let recipient: Promise<KeyRecipient> | undefined;
  return {
    legacy: localKeyFileProvider(path),
    master: () => {
      recipient ??= LocalKeyRecipient.fromFile(path);
      recipient.catch(() => {
        recipient = undefined;
      });
      return recipient;
    },
  };
}

/**
 * The isolated vaults' escrow keys (docs/format.md#keyring): public keys every data key is also
 * wrapped to, so an isolated vault's copies open with its own key alone.
 */
function escrowRecipientsOf(config: Config): KeyRecipient[] {
  return (config.isolatedVaults ?? []).flatMap((v) =>
    v.escrowPublicKey ? [new RsaOaepRecipient(createPublicKey(v.escrowPublicKey))] : [],
  );
}

/** The write-only content key (docs/format.md#keyring), made on first use; undefined without one. */
function contentKeyOf(config: Config): (() => Promise<KeyRecipient>) | undefined {
  const key = config.contentKey;
  if (!key) return undefined;
  let recipient: Promise<KeyRecipient> | undefined;
  return () => {
    recipient ??= key.kmsKeyId
      ? Promise.resolve(
          new KmsRsaRecipient(
            new KMSClient({ region: config.primaryRegion }),
            key.kmsKeyId,
            undefined,
            replicasOf(key.kmsKeyId, config.copyVaults),
          ),
        )
      : RsaOaepRecipient.fromFiles(key.publicKeyFile as string, key.unwrap ? key.privateKeyFile : undefined);
    recipient.catch(() => {
      recipient = undefined;
    });
    return recipient;
  };
}

/** The vault key's replica in each copy region (a multi-Region key's), which can unwrap its data keys too. */
function replicasOf(keyArn: string, copyVaults: ReadonlyMap<string, string>): RegionalKey[] {
  return [...copyVaults.keys()].flatMap((r) => {
    const keyId = replicaKeyArn(keyArn, r);
    return keyId ? [{ client: new KMSClient({ region: r }), keyId }] : [];
  });
}

let defaultContainer: Container | undefined;

/** The process's container, built from `process.env` on first use (in Lambda). */
export function lambdaContainer(): Container {
  defaultContainer ??= createContainer(loadConfig());
  return defaultContainer;
}
