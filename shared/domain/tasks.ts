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
export const PartitionResumeSchema = z.strictObject({
  afterKey: z.string().min(1),
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
});
export type PartitionResume = z.infer<typeof PartitionResumeSchema>;

/**
 * Take a snapshot of a plan's source for one scheduled time. Without `partition`: plan the snapshot
 * (split the source into key ranges) and start its partitions. With `partition`: store one key range
 * (`index` into the snapshot's recorded boundaries), going on from `resume` when given.
 * @see docs/format.md#partitions
 */
export const SnapshotTaskSchema = z.strictObject({
  kind: z.literal('snapshot'),
  planId: id,
  snapshotId: id,
  scheduledAt: z.iso.datetime({ offset: false }),
  partition: z
    .strictObject({ index: z.number().int().min(0), resume: PartitionResumeSchema.optional() })
    .optional(),
});
/** Copy a committed snapshot to one copy region. */
export const CopyTaskSchema = z.strictObject({
  kind: z.literal('copy'),
  planId: id,
  snapshotId: id,
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/),
});
/**
 * Verify a committed snapshot in every region that holds it. Without `tier`: the catalog and
 * checksum tiers and the plan's deep sample, then prune (the pipeline's step). With `tier`: that
 * tier alone (a scheduled run or a deep pass continuing); `all` makes a deep pass check every blob.
 */
export const VerifyTaskSchema = z.strictObject({
  kind: z.literal('verify'),
  planId: id,
  snapshotId: id,
  tier: z.enum(['catalog', 'checksum', 'deep']).optional(),
  all: z.boolean().optional(),
});
/**
 * Without `region`: apply a plan's retention, then enqueue one garbage-collection task per region.
 * With `region`: collect garbage in that region's vault only (for every plan sharing it). `snapshotId`
 * names the job that asked for it. @see docs/format.md#garbage-collection
 */
export const PruneTaskSchema = z.strictObject({
  kind: z.literal('prune'),
  planId: id,
  snapshotId: id,
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/)
    .optional(),
});

/**
 * Restore one part of a fanned-out restore: the selected entries `first` … `first + count - 1`
 * (indexes into the job's selection, in manifest order) of manifest `manifestId`. The part names a
 * range, not keys, so messages stay small; the restore job record holds the request.
 * @see ../../docs/format.md#tasks
 */
export const RestorePartTaskSchema = z.strictObject({
  kind: z.literal('restore-part'),
  restoreJobId: id,
  manifestId: id,
  part: z.number().int().min(0),
  first: z.number().int().min(0),
  count: z.number().int().min(1),
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

export const TaskSchema = z.discriminatedUnion('kind', [
  SnapshotTaskSchema,
  CopyTaskSchema,
  VerifyTaskSchema,
  PruneTaskSchema,
  RestorePartTaskSchema,
  DrillTaskSchema,
]);
export type Task = z.infer<typeof TaskSchema>;
export type SnapshotTask = z.infer<typeof SnapshotTaskSchema>;
export type CopyTask = z.infer<typeof CopyTaskSchema>;
export type VerifyTask = z.infer<typeof VerifyTaskSchema>;
export type PruneTask = z.infer<typeof PruneTaskSchema>;
export type DrillTask = z.infer<typeof DrillTaskSchema>;
export type RestorePartTask = z.infer<typeof RestorePartTaskSchema>;
export type TaskKind = Task['kind'];

/** The job a task belongs to: `<planId>/<snapshotId>`. */
export function jobIdOf(task: { planId: string; snapshotId: string }): string {
  return `${task.planId}/${task.snapshotId}`;
}

/**
 * The task's id within its job: `snapshot`, `snapshot:p<partition>`, `copy:<region>`, `verify`, `verify:<tier>`, `prune`,
 * `prune:<region>` (garbage collection of one region's vault),
 * `drill:<drillId>` (a drill has no job: its record lives on the plan).
 */
export function taskIdOf(task: Task): string {
  if (task.kind === 'drill') return `drill:${task.drillId}`;
  if (task.kind === 'restore-part') return `restore-part:${task.part}`;
  if (task.kind === 'copy') return `copy:${task.region}`;
  if (task.kind === 'prune' && task.region) return `prune:${task.region}`;
  if (task.kind === 'snapshot' && task.partition) return `snapshot:p${task.partition.index}`;
  if (task.kind === 'verify' && task.tier) return `verify:${task.tier}`;
  return task.kind;
}

/**
 * Parse a task of the expected kind from a message body.
 * @throws ValidationError (not retryable) naming the first bad field.
 * @example
 * ```ts
 * const task = parseTask(record.body, 'snapshot');
 * ```
 */
export function parseTask<K extends TaskKind>(body: string, kind: K): Extract<Task, { kind: K }> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError(`task body is not JSON: ${body.slice(0, 80)}`);
  }
  const parsed = TaskSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid task', issue?.path.join('.') ?? '');
  }
  if (parsed.data.kind !== kind) {
    throw new ValidationError(`expected a ${kind} task, got ${parsed.data.kind}`, 'kind');
  }
  return parsed.data as Extract<Task, { kind: K }>;
}
