/**
 * Tasks: the messages on the snapshot, copy, verify, prune and restore queues. Validated at the edge;
 * a task that does not parse is a poison message (DLQ with the reason).
 * @see ../../docs/format.md#tasks
 */
import { z } from 'zod';
import { ValidationError } from './errors.ts';
import { PartRefSchema } from './vault.ts';

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);

const count = z.number().int().nonnegative();

/**
 * Where a partition stopped when its time budget ran out: the last key done, the parts written so
 * far and the counters, so the next invocation goes on from there. @see docs/format.md#partitions
 */
/**
 * An object whose read paused when the invocation ran short of time: the read goes on from
 * `offsetBytes` while the object's ETag and size are still these. `part` is a manifest part of one
 * entry, the object so far (its `sizeBytes` the bytes stored, its `blobs` their chunks): it keeps
 * them live for garbage collection, and the next invocation reads the blob ids from it.
 * `sha256State` is the whole-object SHA-256 over those bytes, resumable (base64).
 * @see docs/format.md#partitions (step 4)
 */
export const ObjectResumeSchema = z.strictObject({
  key: z.string().min(1),
  etag: z.string().min(1),
  sizeBytes: count,
  offsetBytes: count,
  sha256State: z.string().min(1),
  part: PartRefSchema,
});
export type ObjectResume = z.infer<typeof ObjectResumeSchema>;

export const PartitionResumeSchema = z.strictObject({
  /** The last key done; absent when nothing before `object` was (it is the partition's first). */
  afterKey: z.string().min(1).optional(),
  parts: z.array(PartRefSchema),
  objectsRead: count,
  blobsWritten: count,
  packsWritten: count,
  storedBytesWritten: count,
  objectsVanished: count,
  invocations: z.number().int().min(1),
  seconds: z.number().nonnegative(),
  /** A reconcile's count so far. */
  reconcileMissed: count.optional(),
  /**
   * ISO-8601 UTC: the `time` of the partition plan this work was stored under (the snapshot record's
   * `time`). Work of another plan (a straggler from before a state-table restore) is not continued.
   */
  planTime: z.iso.datetime().optional(),
  /** The object whose read paused, the first after `afterKey`. */
  object: ObjectResumeSchema.optional(),
  /**
   * A table's scan segment (docs/format.md#table-snapshots): where its Scan goes on, the
   * `LastEvaluatedKey` of the last page stored, as JSON (DynamoDB JSON).
   */
  scanKey: z.string().min(2).optional(),
});
export type PartitionResume = z.infer<typeof PartitionResumeSchema>;

const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/);

/**
 * Plan a snapshot of a plan's source for one scheduled time: split the source into key ranges
 * (recorded on the snapshot once), then enqueue its partitions.
 * @see docs/format.md#partitions
 */
export const SnapshotPlanTaskSchema = z.strictObject({
  kind: z.literal('snapshot-plan'),
  planId: id,
  snapshotId: id,
  scheduledAt: z.iso.datetime({ offset: false }),
});
/**
 * Store one key range of a planned snapshot: `partition.index` into the snapshot's recorded
 * boundaries, going on from `partition.resume` when given (else from its recorded checkpoint).
 * @see docs/format.md#partitions
 */
export const SnapshotPartitionTaskSchema = z.strictObject({
  kind: z.literal('snapshot-partition'),
  planId: id,
  snapshotId: id,
  scheduledAt: z.iso.datetime({ offset: false }),
  partition: z.strictObject({ index: z.number().int().min(0), resume: PartitionResumeSchema.optional() }),
});
/**
 * Copy a committed snapshot to one copy region, or to an isolated vault: `region` is then its
 * location `vault:<name>` (docs/format.md#isolated-vaults).
 */
export const CopyTaskSchema = z.strictObject({
  kind: z.literal('copy'),
  planId: id,
  snapshotId: id,
  region: z.union([region, z.string().regex(/^vault:[a-z0-9][a-z0-9-]{0,62}$/)]),
});
/**
 * The pipeline's verify step on a committed snapshot, in every region that holds it: the catalog and
 * checksum tiers and a deep pass over the plan's sample, then a `forget` task.
 * @see docs/format.md#verification
 */
export const VerifyTaskSchema = z.strictObject({
  kind: z.literal('verify'),
  planId: id,
  snapshotId: id,
});
/**
 * One verification tier of a committed snapshot, in every region that holds it, and nothing after
 * (a plan's scheduled verification, or a deep pass continuing from its cursor). `all` (deep tier
 * only) makes a deep pass check every blob instead of the plan's sample.
 * @see docs/format.md#verification
 */
export const VerifyTierTaskSchema = z.strictObject({
  kind: z.literal('verify-tier'),
  planId: id,
  snapshotId: id,
  tier: z.enum(['catalog', 'checksum', 'deep']),
  all: z.boolean().optional(),
});
/**
 * Apply a plan's retention (forget what it drops), then enqueue one `gc` task per region.
 * `snapshotId` names the job that asked for it. `force` (an operator's `strongbox prune`) passes on
 * to the `gc` tasks. @see docs/format.md#retention
 */
export const ForgetTaskSchema = z.strictObject({
  kind: z.literal('forget'),
  planId: id,
  snapshotId: id,
  force: z.boolean().optional(),
});
/**
 * Collect garbage in one region's vault (for every plan sharing it). `planId` and `snapshotId` name
 * the job that asked for it (its figures are recorded there). Without `force`, a vault whose last
 * completed run ended less than `gcIntervalSeconds` ago is left alone (the run is `deferred`).
 * @see docs/format.md#garbage-collection
 */
export const GcTaskSchema = z.strictObject({
  kind: z.literal('gc'),
  planId: id,
  snapshotId: id,
  region,
  force: z.boolean().optional(),
});

/**
 * Restore one slice of a fanned-out restore: the selected entries `first` … `first + count - 1`
 * (indexes into the job's selection, in manifest order) of manifest `manifestId`. The slice names a
 * range, not keys, so messages stay small; the restore job record holds the request. (A slice is
 * not a manifest part: it may span several parts, or cover a few entries of one.)
 * @see ../../docs/format.md#tasks
 */
/** The most upload parts a restore's resumable upload uses: their ETags travel in the task (~35 bytes each). */
export const MAX_RESUMABLE_UPLOAD_PARTS = 4000;

/**
 * A restore of one large object that paused when the invocation ran short of time: its multipart
 * upload to the target (`uploadId`), the ETags of the parts done (parts 1..n, each `partBytes` of
 * the object, i.e. `partBytes / CHUNK_SIZE_BYTES` of its blobs), the bytes they hold, the object's
 * SHA-256 over those bytes, resumable (base64), and the write condition decided at its start.
 * @see docs/format.md#resumable-restore
 */
export const RestoreUploadSchema = z.strictObject({
  key: z.string().min(1),
  uploadId: z.string().min(1),
  partBytes: z.number().int().positive(),
  etags: z.array(z.string().min(1)).min(1).max(MAX_RESUMABLE_UPLOAD_PARTS),
  offsetBytes: count,
  sha256State: z.string().min(1),
  ifNoneMatch: z.boolean(),
});
export type RestoreUpload = z.infer<typeof RestoreUploadSchema>;

export const RestoreSliceTaskSchema = z.strictObject({
  kind: z.literal('restore-slice'),
  restoreJobId: id,
  manifestId: id,
  slice: z.number().int().min(0),
  first: z.number().int().min(0),
  count: z.number().int().min(1),
  /** Present when the slice is one large object whose restore goes on from here. */
  upload: RestoreUploadSchema.optional(),
});

/**
 * Run a restore drill of a plan: `drillId` names the drill (from its scheduled time) and seeds its
 * random choices, so a redelivery drills the same snapshot and objects.
 * @see ../../docs/format.md#restore-drills
 */
export const DrillTaskSchema = z.strictObject({
  kind: z.literal('drill'),
  planId: id,
  drillId: id,
  scheduledAt: z.iso.datetime({ offset: false }),
});

/** Every task, by its `kind`: each kind has only the fields its meaning needs. */
export const TaskSchema = z.discriminatedUnion('kind', [
  SnapshotPlanTaskSchema,
  SnapshotPartitionTaskSchema,
  CopyTaskSchema,
  VerifyTaskSchema,
  VerifyTierTaskSchema,
  ForgetTaskSchema,
  GcTaskSchema,
  RestoreSliceTaskSchema,
  DrillTaskSchema,
]);
export type Task = z.infer<typeof TaskSchema>;
export type SnapshotPlanTask = z.infer<typeof SnapshotPlanTaskSchema>;
export type SnapshotPartitionTask = z.infer<typeof SnapshotPartitionTaskSchema>;
export type CopyTask = z.infer<typeof CopyTaskSchema>;
export type VerifyTask = z.infer<typeof VerifyTaskSchema>;
export type VerifyTierTask = z.infer<typeof VerifyTierTaskSchema>;
export type ForgetTask = z.infer<typeof ForgetTaskSchema>;
export type GcTask = z.infer<typeof GcTaskSchema>;
export type DrillTask = z.infer<typeof DrillTaskSchema>;
export type RestoreSliceTask = z.infer<typeof RestoreSliceTaskSchema>;
export type TaskKind = Task['kind'];

/**
 * The queue (and so the function) each kind travels on: one queue per function in serverless.yml,
 * so a function's kinds share its queue, its DLQ and its `STRONGBOX_<QUEUE>_QUEUE_URL`.
 */
export const QUEUE_OF = {
  'snapshot-plan': 'snapshot',
  'snapshot-partition': 'snapshot',
  copy: 'copy',
  verify: 'verify',
  'verify-tier': 'verify',
  forget: 'prune',
  gc: 'prune',
  'restore-slice': 'restore',
  drill: 'drill',
} as const satisfies Record<TaskKind, string>;
/** A task queue: `snapshot`, `copy`, `verify`, `prune`, `restore`, `drill`. */
export type TaskQueueName = (typeof QUEUE_OF)[TaskKind];
/** The kinds a queue carries. */
export type KindOn<Q extends TaskQueueName> = {
  [K in TaskKind]: (typeof QUEUE_OF)[K] extends Q ? K : never;
}[TaskKind];
/** The tasks a queue carries. */
export type TaskOn<Q extends TaskQueueName> = Extract<Task, { kind: KindOn<Q> }>;
/** A task of the snapshot queue: plan a snapshot, or store one of its partitions. */
export type SnapshotTask = TaskOn<'snapshot'>;
/** A task of the prune queue: apply retention, or collect one region's garbage. */
export type PruneTask = TaskOn<'prune'>;

/** The queue a task kind travels on. */
export function queueOf(kind: TaskKind): TaskQueueName {
  return QUEUE_OF[kind];
}

/**
 * The shapes before task kinds were explicit (one field's presence chose the meaning), mapped to
 * today's kinds, so messages already in flight, and those redriven from a DLQ, still run. Accepted
 * for one release:
 * - `snapshot` → `snapshot-plan`; with `partition` → `snapshot-partition`;
 * - `prune` → `forget`; with `region` → `gc`;
 * - `verify` with `tier` → `verify-tier` (without it, `verify` is today's kind unchanged);
 * - `restore-part` with `part` → `restore-slice` with `slice` (the kind's name before the restore
 *   meaning of "part" was renamed "slice": a manifest part is another thing).
 * Anything else is returned as it is. @see ../../docs/format.md#tasks
 */
export function upgradeTask(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const task = value as Record<string, unknown>;
  if (task.kind === 'snapshot')
    return { ...task, kind: task.partition ? 'snapshot-partition' : 'snapshot-plan' };
  if (task.kind === 'prune') return { ...task, kind: task.region ? 'gc' : 'forget' };
  if (task.kind === 'verify' && task.tier) return { ...task, kind: 'verify-tier' };
  if (task.kind === 'restore-part') {
    const { part, ...rest } = task;
    return { ...rest, kind: 'restore-slice', ...(part === undefined ? {} : { slice: part }) };
  }
  return value;
}

/** {@link TaskSchema}, also accepting the old shapes ({@link upgradeTask}): what a queue delivers. */
export const IncomingTaskSchema = z.preprocess(upgradeTask, TaskSchema);

/**
 * The `snapshot-partition` task storing partition `index` of the snapshot `of` names (a snapshot
 * task or record), going on from `resume` when given.
 */
export function partitionTask(
  of: { planId: string; snapshotId: string; scheduledAt: string },
  index: number,
  resume?: PartitionResume,
): SnapshotPartitionTask {
  const { planId, snapshotId, scheduledAt } = of;
  return {
    kind: 'snapshot-partition',
    planId,
    snapshotId,
    scheduledAt,
    partition: { index, ...(resume ? { resume } : {}) },
  };
}

/** The job a task belongs to: `<planId>/<snapshotId>`. */
export function jobIdOf(task: { planId: string; snapshotId: string }): string {
  return `${task.planId}/${task.snapshotId}`;
}

/**
 * The task's id within its job (stored on task records, so unchanged when the kinds were renamed):
 * `snapshot` (snapshot-plan), `snapshot:p<partition>` (snapshot-partition), `copy:<region>`,
 * `verify`, `verify:<tier>` (verify-tier), `prune` (forget), `prune:<region>` (gc: garbage
 * collection of one region's vault), `restore-slice:<slice>` (only logged: a restore job has no
 * task record, its slices' done markers are keyed by number), `drill:<drillId>` (a drill has no
 * job: its record lives on the plan).
 */
export function taskIdOf(task: Task): string {
  switch (task.kind) {
    case 'snapshot-plan':
      return 'snapshot';
    case 'snapshot-partition':
      return `snapshot:p${task.partition.index}`;
    case 'copy':
      return `copy:${task.region}`;
    case 'verify':
      return 'verify';
    case 'verify-tier':
      return `verify:${task.tier}`;
    case 'forget':
      return 'prune';
    case 'gc':
      return `prune:${task.region}`;
    case 'restore-slice':
      return `restore-slice:${task.slice}`;
    case 'drill':
      return `drill:${task.drillId}`;
  }
}

/**
 * Parse a task of the expected queue from a message body; the old shapes are accepted
 * ({@link upgradeTask}) and returned as today's kinds.
 * @throws ValidationError (not retryable) naming the first bad field, or `kind` for a task of
 *   another queue.
 * @example
 * ```ts
 * const task = parseTask(record.body, 'snapshot'); // a snapshot-plan or snapshot-partition task
 * ```
 */
export function parseTask<Q extends TaskQueueName>(body: string, queue: Q): TaskOn<Q> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError(`task body is not JSON: ${body.slice(0, 80)}`);
  }
  const parsed = IncomingTaskSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid task', issue?.path.join('.') ?? '');
  }
  if (queueOf(parsed.data.kind) !== queue) {
    throw new ValidationError(
      `expected a task of the ${queue} queue, got a ${parsed.data.kind} task`,
      'kind',
    );
  }
  return parsed.data as TaskOn<Q>;
}
