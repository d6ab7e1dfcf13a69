/**
 * Typed configuration, read once. The only module that reads `process.env`.
 */
import { z } from 'zod';
import { ValidationError } from '#domain/errors.ts';
import { type LockPolicy, PACK_STORAGE_CLASSES } from '#domain/immutability.ts';
import { TUNING_DEFAULTS } from '#domain/pipeline.ts';
import { type IsolatedAccess, type IsolatedVault, IsolatedVaultsSchema } from './isolated-vaults.ts';

const url = z.url();
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'not an AWS region name');

/** `region=value,region=value` → map. */
const regionMap = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const map = new Map<string, string>();
    for (const part of s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const at = part.indexOf('=');
      const r = at < 0 ? '' : part.slice(0, at).trim();
      const v = at < 0 ? '' : part.slice(at + 1).trim();
      if (!r || !v || !region.safeParse(r).success) {
        ctx.addIssue({ code: 'custom', message: `'${part}' is not region=value` });
        return z.NEVER;
      }
      map.set(r, v);
    }
    return map;
  });

const optional = z
  .string()
  .optional()
  .transform((s) => (s?.trim() ? s.trim() : undefined));

const restoreSliceSize = z.coerce.number().int().min(1).max(10_000).default(500);

const EnvSchema = z.object({
  STRONGBOX_PRIMARY_REGION: region,
  STRONGBOX_STATE_TABLE: z.string().min(3),
  STRONGBOX_VAULT_BUCKET: z.string().min(3),
  STRONGBOX_COPY_VAULTS: regionMap,
  /** JSON list of isolated vaults (another account or provider): ./isolated-vaults.ts. */
  STRONGBOX_ISOLATED_VAULTS: IsolatedVaultsSchema,
  /** `write`: the copy function's role for isolated vaults; every other function reads. */
  STRONGBOX_ISOLATED_VAULT_ACCESS: z.enum(['read', 'write']).default('read'),
  STRONGBOX_KMS_KEY_ID: optional,
  /**
   * The vault's logical name, the same in every region (`strongbox-<stage>`): KMS data keys are
   * bound to the EncryptionContext `{ "strongbox:vault": name }` (docs/format.md#keyring).
   */
  STRONGBOX_VAULT_NAME: optional,
  STRONGBOX_LOCAL_KEY_FILE: optional,
  /** Write-only keys (docs/format.md#keyring), AWS: the KMS RSA_4096 key content data keys are wrapped to. */
  STRONGBOX_CONTENT_KEY_ID: optional,
  /** Write-only keys, embedded stack: the content key's public key (PEM). */
  STRONGBOX_CONTENT_PUBLIC_KEY_FILE: optional,
  /** Write-only keys, embedded stack: its private key (PEM), given to the reader functions alone. */
  STRONGBOX_CONTENT_PRIVATE_KEY_FILE: optional,
  /** `true` on the functions that may open content (restore, restoreWorker, verify, drill, browse). */
  STRONGBOX_CONTENT_KEY_UNWRAP: z.enum(['true', 'false']).default('false'),
  /**
   * Break-glass: comma-separated PEM private key files of isolated vaults' escrow keys, held only by
   * an operator restoring without this deployment's keys (never set on a function).
   */
  STRONGBOX_ESCROW_KEY_FILES: optional,
  STRONGBOX_SNAPSHOT_QUEUE_URL: url,
  STRONGBOX_COPY_QUEUE_URL: url,
  STRONGBOX_VERIFY_QUEUE_URL: url,
  STRONGBOX_PRUNE_QUEUE_URL: url,
  /** The restore queue (restore-slice tasks of fanned-out restores). */
  STRONGBOX_RESTORE_QUEUE_URL: optional.pipe(url.optional()),
  /** A restore selecting more objects than this fans out through the restore queue. */
  STRONGBOX_RESTORE_FANOUT_THRESHOLD: z.coerce.number().int().min(1).default(500),
  /** Selected objects per restore slice. */
  STRONGBOX_RESTORE_SLICE_SIZE: restoreSliceSize,
  /** Deprecated: the old name of STRONGBOX_RESTORE_SLICE_SIZE, read only when that is not set. */
  STRONGBOX_RESTORE_PART_SIZE: restoreSliceSize,
  /** Selected bytes per restore slice, at most (a larger object is a slice of its own). */
  STRONGBOX_RESTORE_SLICE_BYTES: z.coerce.number().int().min(1).optional(),
  /** The drill queue (restore drills). */
  STRONGBOX_DRILL_QUEUE_URL: optional.pipe(url.optional()),
  /** The bucket of restore drills' scratch copies (the drill function). */
  STRONGBOX_DRILL_BUCKET: optional,
  STRONGBOX_DLQ_URL: optional.pipe(url.optional()),
  STRONGBOX_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(TUNING_DEFAULTS.concurrency),
  STRONGBOX_GC_GRACE_SECONDS: z.coerce.number().int().min(0).default(TUNING_DEFAULTS.gcGraceSeconds),
  /** A prune after a snapshot collects garbage only when the vault's last GC run ended this long ago (0 = always). */
  STRONGBOX_GC_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(TUNING_DEFAULTS.gcIntervalSeconds),
  /** How far a table stream record's time may lie before its change (AWS: 10 with skew; DynamoDB Local: 60). */
  STRONGBOX_STREAM_TIME_PRECISION_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(3600)
    .default(TUNING_DEFAULTS.streamTimePrecisionSeconds),
  /** Repack a partly live pack when more than this percentage of its bytes is unreferenced. */
  STRONGBOX_GC_MAX_UNUSED_PERCENT: z.coerce
    .number()
    .min(0)
    .max(100)
    .default(TUNING_DEFAULTS.gcMaxUnusedPercent),
  /** Consolidate live packs stored in fewer bytes than this (docs/format.md#garbage-collection, step 6). */
  STRONGBOX_GC_SMALL_PACK_BYTES: z.coerce.number().int().min(0).default(TUNING_DEFAULTS.gcSmallPackBytes),
  /** …only when at least this many small packs are older than the grace period. */
  STRONGBOX_GC_CONSOLIDATE_MIN_PACKS: z.coerce
    .number()
    .int()
    .min(1)
    .default(TUNING_DEFAULTS.gcConsolidateMinPacks),
  /** …and at most this many in one run. */
  STRONGBOX_GC_CONSOLIDATE_MAX_PACKS: z.coerce
    .number()
    .int()
    .min(0)
    .default(TUNING_DEFAULTS.gcConsolidateMaxPacks),
  /** S3 Object Lock of every vault document written: mode, and days from the write (both or neither). */
  STRONGBOX_OBJECT_LOCK_MODE: optional.pipe(z.enum(['GOVERNANCE', 'COMPLIANCE']).optional()),
  STRONGBOX_OBJECT_LOCK_DAYS: optional.pipe(
    z
      .string()
      .regex(/^\d+$/, 'whole days')
      .transform(Number)
      .pipe(z.number().int().min(1).max(36_500))
      .optional(),
  ),
  /** `region=CLASS,…`: the storage class packs are written in, per vault region (default STANDARD). */
  STRONGBOX_PACK_STORAGE_CLASSES: regionMap.refine(
    (m) => [...m.values()].every((c) => (PACK_STORAGE_CLASSES as readonly string[]).includes(c)),
    `a pack storage class is one of ${PACK_STORAGE_CLASSES.join(', ')}`,
  ),
  /** Seconds a snapshot partition keeps in hand before it checkpoints and re-enqueues the rest. */
  STRONGBOX_TIME_RESERVE_SECONDS: z.coerce
    .number()
    .min(0)
    .max(900)
    .default(TUNING_DEFAULTS.timeReserveSeconds),
  /**
   * Bytes from which a snapshot reads, and a restore slice writes, one object so that it can pause
   * inside it and go on in the next invocation (PipelineDeps.resumableObjectBytes).
   */
  STRONGBOX_RESUMABLE_OBJECT_BYTES: z.coerce
    .number()
    .int()
    .min(8 * 1024 * 1024)
    .default(TUNING_DEFAULTS.resumableObjectBytes),
  /**
   * Blobs a vault index holds in memory before it spills to local disk (PipelineDeps.indexMemoryBlobs;
   * docs/format.md#reading-the-index). 0 spills every index at once.
   */
  STRONGBOX_INDEX_MEMORY_BLOBS: z.coerce.number().int().min(0).default(TUNING_DEFAULTS.indexMemoryBlobs),
  /** Attempts per AWS SDK call (adaptive retry mode: backoff and client-side rate limiting on throttling). */
  STRONGBOX_SDK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(8),
  /**
   * `http`: object GETs, ranged pack reads and single-request PUTs go through the lighter signed-HTTP
   * client (shared/adapters/s3-http.ts); `sdk`: everything through the AWS SDK.
   */
  STRONGBOX_S3_OBJECT_CLIENT: z.enum(['http', 'sdk']).default('http'),
  STRONGBOX_MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).max(1000).default(3),
  /** Seconds between two heartbeats a worker records on the task it holds. */
  STRONGBOX_HEARTBEAT_SECONDS: z.coerce.number().min(1).max(600).default(30),
  /** Seconds without a heartbeat after which the reaper treats a RUNNING task as dead. */
  STRONGBOX_REAPER_STALE_SECONDS: z.coerce.number().min(10).max(86_400).default(180),
  /** Re-drives of a dead task before the reaper fails it for good. */
  STRONGBOX_REAPER_MAX_REDRIVES: z.coerce.number().int().min(0).max(100).default(3),
  AWS_ENDPOINT_URL_S3: optional.pipe(url.optional()),
  AWS_ENDPOINT_URL_SQS: optional.pipe(url.optional()),
  AWS_ENDPOINT_URL_DYNAMODB: optional.pipe(url.optional()),
  /** S3 endpoints of other regions (the embedded stack runs one endpoint per region). */
  STRONGBOX_REGION_ENDPOINTS: regionMap,
  POWERTOOLS_LOG_LEVEL: optional,
  /** CloudWatch namespace of the application metrics (EMF). */
  POWERTOOLS_METRICS_NAMESPACE: optional,
});

/** Strongbox's configuration. */
export interface Config {
  primaryRegion: string;
  stateTable: string;
  vaultBucket: string;
  /** Copy vault bucket by region. */
  copyVaults: Map<string, string>;
  /** Isolated vaults (`STRONGBOX_ISOLATED_VAULTS`), none when absent. @see ./isolated-vaults.ts */
  isolatedVaults?: IsolatedVault[];
  /** How this function reaches isolated vaults: only the copy function writes. @default 'read' */
  isolatedAccess?: IsolatedAccess;
  /** KMS key that wraps data keys (AWS). */
  kmsKeyId?: string;
  /** The vault's logical name: KMS data keys' EncryptionContext `{ "strongbox:vault": vaultName }`. */
  vaultName?: string;
  /** Local master key file (embedded stack). */
  localKeyFile?: string;
  /**
   * Write-only keys (docs/format.md#keyring): the key content data keys (blobs) are wrapped to
   * instead of the master key. `kmsKeyId` (AWS, a KMS RSA_4096 key) or `publicKeyFile` (embedded,
   * with `privateKeyFile` for readers); `unwrap`: this function may open content. Absent: content
   * keys go to the master key like the rest.
   */
  contentKey?: { kmsKeyId?: string; publicKeyFile?: string; privateKeyFile?: string; unwrap: boolean };
  /** Escrow private key files this process may unwrap with (`STRONGBOX_ESCROW_KEY_FILES`). @default none */
  escrowKeyFiles?: string[];
  /**
   * Task queues by name (`TaskQueueName`: each task kind's queue is `queueOf(kind)`); `restore` only
   * where the restore queue is deployed.
   */
  queueUrls: {
    snapshot: string;
    copy: string;
    verify: string;
    prune: string;
    restore?: string;
    drill?: string;
  };
  /** Restores selecting more objects than this fan out through the restore queue. @default 500 */
  restoreFanOutThreshold?: number;
  /** Selected objects per restore slice. @default 500 */
  restoreSliceSize?: number;
  /** Selected bytes per restore slice, at most. @default 2 GiB */
  restoreSliceBytes?: number;
  /** The bucket restore drills write their scratch copies to (never a vault). */
  drillBucket?: string;
  /** This function's dead-letter queue, for poison messages. */
  dlqUrl?: string;
  concurrency: number;
  gcGraceSeconds: number;
  /** See PipelineDeps.gcIntervalSeconds (`STRONGBOX_GC_INTERVAL_SECONDS`). @default 0 (every prune collects) */
  gcIntervalSeconds?: number;
  /** See PipelineDeps.streamTimePrecisionSeconds (`STRONGBOX_STREAM_TIME_PRECISION_SECONDS`). @default 10 */
  streamTimePrecisionSeconds?: number;
  /** See PipelineDeps.gcMaxUnusedPercent. @default 5 */
  gcMaxUnusedPercent: number;
  /** See PipelineDeps.gcSmallPackBytes (`STRONGBOX_GC_SMALL_PACK_BYTES`). @default 1048576 */
  gcSmallPackBytes?: number;
  /** See PipelineDeps.gcConsolidateMinPacks (`STRONGBOX_GC_CONSOLIDATE_MIN_PACKS`). @default 256 */
  gcConsolidateMinPacks?: number;
  /** See PipelineDeps.gcConsolidateMaxPacks (`STRONGBOX_GC_CONSOLIDATE_MAX_PACKS`). @default 100000 */
  gcConsolidateMaxPacks?: number;
  /**
   * S3 Object Lock of every vault document written (`STRONGBOX_OBJECT_LOCK_MODE` and `_DAYS`): each
   * is retained `days` days from its write in `mode`. None when absent. @see #domain/immutability.ts
   */
  objectLock?: LockPolicy;
  /** Storage class of packs per vault region (`STRONGBOX_PACK_STORAGE_CLASSES`); STANDARD when absent. */
  packStorageClasses?: Map<string, string>;
  /** Seconds a snapshot partition keeps in hand (see PipelineDeps.timeReserveSeconds). @default 120 */
  timeReserveSeconds: number;
  /** Bytes from which one object's read or restore can pause (PipelineDeps.resumableObjectBytes). @default 1 GiB */
  resumableObjectBytes: number;
  /** Blobs a vault index holds in memory before it spills to local disk (PipelineDeps.indexMemoryBlobs). @default 1,000,000 */
  indexMemoryBlobs: number;
  /** Attempts per AWS SDK call, with the SDK's adaptive retry mode. @default 8 */
  sdkMaxAttempts: number;
  /** Which client makes the hot S3 object requests (`STRONGBOX_S3_OBJECT_CLIENT`). @default 'http' */
  s3ObjectClient: 'http' | 'sdk';
  /** The task queues' redrive maxReceiveCount: a failure on that receive is the last. @default 3 */
  maxReceiveCount: number;
  /**
   * Crash recovery (docs/format.md#tasks): a worker records a heartbeat on the task it holds every
   * `heartbeatSeconds` (@default 30); the reaper, on each scheduler tick, re-drives a RUNNING task
   * silent for more than `staleSeconds` (@default 180, above twice the heartbeat) and fails it for
   * good after `maxRedrives` re-drives (@default 3).
   */
  reaper: { heartbeatSeconds: number; staleSeconds: number; maxRedrives: number };
  /** Endpoint overrides (the embedded stack): S3 per region, SQS and DynamoDB for the primary region. */
  endpoints: { s3: Map<string, string>; sqs?: string; dynamodb?: string };
  logLevel?: string;
  /** CloudWatch namespace of the application metrics. @default 'Strongbox' */
  metricsNamespace?: string;
}

/**
 * The restore slice size the environment sets: STRONGBOX_RESTORE_SLICE_SIZE, else the deprecated
 * STRONGBOX_RESTORE_PART_SIZE (its name before slices were called so, still read so a deployment
 * that sets it keeps its size); neither: none (the pipeline's default).
 */
function restoreSliceSizeOf(
  env: Record<string, string | undefined>,
  e: z.infer<typeof EnvSchema>,
): Pick<Config, 'restoreSliceSize'> {
  if (env.STRONGBOX_RESTORE_SLICE_SIZE) return { restoreSliceSize: e.STRONGBOX_RESTORE_SLICE_SIZE };
  if (env.STRONGBOX_RESTORE_PART_SIZE) return { restoreSliceSize: e.STRONGBOX_RESTORE_PART_SIZE };
  return {};
}

/** The isolated vaults the environment configures, and how this function reaches them; none: nothing. */
function isolatedVaultsOf(e: z.infer<typeof EnvSchema>): Pick<Config, 'isolatedVaults' | 'isolatedAccess'> {
  if (e.STRONGBOX_ISOLATED_VAULTS.length === 0) return {};
  return { isolatedVaults: e.STRONGBOX_ISOLATED_VAULTS, isolatedAccess: e.STRONGBOX_ISOLATED_VAULT_ACCESS };
}

/** The keys the environment names: the master key, the vault's name (its EncryptionContext), the content key. */
function keysOf(
  e: z.infer<typeof EnvSchema>,
): Pick<Config, 'kmsKeyId' | 'localKeyFile' | 'vaultName' | 'contentKey' | 'escrowKeyFiles'> {
  const escrow = (e.STRONGBOX_ESCROW_KEY_FILES ?? '').split(',').filter((f) => f.trim() !== '');
  return {
    ...(escrow.length > 0 ? { escrowKeyFiles: escrow } : {}),
    ...(e.STRONGBOX_KMS_KEY_ID ? { kmsKeyId: e.STRONGBOX_KMS_KEY_ID } : {}),
    ...(e.STRONGBOX_VAULT_NAME ? { vaultName: e.STRONGBOX_VAULT_NAME } : {}),
    ...(e.STRONGBOX_LOCAL_KEY_FILE ? { localKeyFile: e.STRONGBOX_LOCAL_KEY_FILE } : {}),
    ...contentKeyOf(e),
  };
}

/** The write-only content key the environment names, if any. */
function contentKeyOf(e: z.infer<typeof EnvSchema>): Pick<Config, 'contentKey'> {
  if (!e.STRONGBOX_CONTENT_KEY_ID && !e.STRONGBOX_CONTENT_PUBLIC_KEY_FILE) return {};
  return {
    contentKey: {
      ...(e.STRONGBOX_CONTENT_KEY_ID ? { kmsKeyId: e.STRONGBOX_CONTENT_KEY_ID } : {}),
      ...(e.STRONGBOX_CONTENT_PUBLIC_KEY_FILE ? { publicKeyFile: e.STRONGBOX_CONTENT_PUBLIC_KEY_FILE } : {}),
      ...(e.STRONGBOX_CONTENT_PRIVATE_KEY_FILE
        ? { privateKeyFile: e.STRONGBOX_CONTENT_PRIVATE_KEY_FILE }
        : {}),
      unwrap: e.STRONGBOX_CONTENT_KEY_UNWRAP === 'true',
    },
  };
}

/**
 * Read and validate the configuration.
 * @param env the environment to read. @default process.env
 * @throws ValidationError naming the missing or invalid variable (not retryable).
 * @example
 * ```ts
 * const config = loadConfig(); // in Lambda
 * const local = loadConfig({ ...functionEnvironment }); // in the local dispatcher
 * ```
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? '');
    throw new ValidationError(
      env[name] === undefined ? 'missing environment variable' : (issue?.message ?? 'invalid'),
      name,
    );
  }
  const e = parsed.data;
  if (!e.STRONGBOX_KMS_KEY_ID && !e.STRONGBOX_LOCAL_KEY_FILE) {
    throw new ValidationError(
      'set STRONGBOX_KMS_KEY_ID (AWS) or STRONGBOX_LOCAL_KEY_FILE (embedded stack)',
      'STRONGBOX_KMS_KEY_ID',
    );
  }
  if (Boolean(e.STRONGBOX_OBJECT_LOCK_MODE) !== (e.STRONGBOX_OBJECT_LOCK_DAYS !== undefined)) {
    throw new ValidationError(
      'set both STRONGBOX_OBJECT_LOCK_MODE and STRONGBOX_OBJECT_LOCK_DAYS, or neither',
      e.STRONGBOX_OBJECT_LOCK_MODE ? 'STRONGBOX_OBJECT_LOCK_DAYS' : 'STRONGBOX_OBJECT_LOCK_MODE',
    );
  }
  const s3 = new Map(e.STRONGBOX_REGION_ENDPOINTS);
  if (e.AWS_ENDPOINT_URL_S3) s3.set(e.STRONGBOX_PRIMARY_REGION, e.AWS_ENDPOINT_URL_S3);
  return {
    primaryRegion: e.STRONGBOX_PRIMARY_REGION,
    stateTable: e.STRONGBOX_STATE_TABLE,
    vaultBucket: e.STRONGBOX_VAULT_BUCKET,
    copyVaults: e.STRONGBOX_COPY_VAULTS,
    ...isolatedVaultsOf(e),
    ...keysOf(e),
    queueUrls: {
      snapshot: e.STRONGBOX_SNAPSHOT_QUEUE_URL,
      copy: e.STRONGBOX_COPY_QUEUE_URL,
      verify: e.STRONGBOX_VERIFY_QUEUE_URL,
      prune: e.STRONGBOX_PRUNE_QUEUE_URL,
      ...(e.STRONGBOX_RESTORE_QUEUE_URL ? { restore: e.STRONGBOX_RESTORE_QUEUE_URL } : {}),
      ...(e.STRONGBOX_DRILL_QUEUE_URL ? { drill: e.STRONGBOX_DRILL_QUEUE_URL } : {}),
    },
    ...(e.STRONGBOX_DRILL_BUCKET ? { drillBucket: e.STRONGBOX_DRILL_BUCKET } : {}),
    ...(env.STRONGBOX_RESTORE_FANOUT_THRESHOLD
      ? { restoreFanOutThreshold: e.STRONGBOX_RESTORE_FANOUT_THRESHOLD }
      : {}),
    ...restoreSliceSizeOf(env, e),
    ...(e.STRONGBOX_RESTORE_SLICE_BYTES ? { restoreSliceBytes: e.STRONGBOX_RESTORE_SLICE_BYTES } : {}),
    ...(e.STRONGBOX_DLQ_URL ? { dlqUrl: e.STRONGBOX_DLQ_URL } : {}),
    concurrency: e.STRONGBOX_CONCURRENCY,
    gcGraceSeconds: e.STRONGBOX_GC_GRACE_SECONDS,
    gcIntervalSeconds: e.STRONGBOX_GC_INTERVAL_SECONDS,
    streamTimePrecisionSeconds: e.STRONGBOX_STREAM_TIME_PRECISION_SECONDS,
    gcMaxUnusedPercent: e.STRONGBOX_GC_MAX_UNUSED_PERCENT,
    gcSmallPackBytes: e.STRONGBOX_GC_SMALL_PACK_BYTES,
    gcConsolidateMinPacks: e.STRONGBOX_GC_CONSOLIDATE_MIN_PACKS,
    gcConsolidateMaxPacks: e.STRONGBOX_GC_CONSOLIDATE_MAX_PACKS,
    ...(e.STRONGBOX_OBJECT_LOCK_MODE && e.STRONGBOX_OBJECT_LOCK_DAYS !== undefined
      ? { objectLock: { mode: e.STRONGBOX_OBJECT_LOCK_MODE, days: e.STRONGBOX_OBJECT_LOCK_DAYS } }
      : {}),
    ...(e.STRONGBOX_PACK_STORAGE_CLASSES.size > 0
      ? { packStorageClasses: e.STRONGBOX_PACK_STORAGE_CLASSES }
      : {}),
    timeReserveSeconds: e.STRONGBOX_TIME_RESERVE_SECONDS,
    resumableObjectBytes: e.STRONGBOX_RESUMABLE_OBJECT_BYTES,
    indexMemoryBlobs: e.STRONGBOX_INDEX_MEMORY_BLOBS,
    sdkMaxAttempts: e.STRONGBOX_SDK_MAX_ATTEMPTS,
    s3ObjectClient: e.STRONGBOX_S3_OBJECT_CLIENT,
    maxReceiveCount: e.STRONGBOX_MAX_RECEIVE_COUNT,
    reaper: {
      heartbeatSeconds: e.STRONGBOX_HEARTBEAT_SECONDS,
      staleSeconds: e.STRONGBOX_REAPER_STALE_SECONDS,
      maxRedrives: e.STRONGBOX_REAPER_MAX_REDRIVES,
    },
    endpoints: {
      s3,
      ...(e.AWS_ENDPOINT_URL_SQS ? { sqs: e.AWS_ENDPOINT_URL_SQS } : {}),
      ...(e.AWS_ENDPOINT_URL_DYNAMODB ? { dynamodb: e.AWS_ENDPOINT_URL_DYNAMODB } : {}),
    },
    ...(e.POWERTOOLS_LOG_LEVEL ? { logLevel: e.POWERTOOLS_LOG_LEVEL } : {}),
    ...(e.POWERTOOLS_METRICS_NAMESPACE ? { metricsNamespace: e.POWERTOOLS_METRICS_NAMESPACE } : {}),
  };
}
