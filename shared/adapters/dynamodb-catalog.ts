/**
 * The catalog on DynamoDB: one table, keys `pk`/`sk`.
 *
 * | item      | pk                 | sk                              |
 * |-----------|--------------------|---------------------------------|
 * | plan      | `PLAN`             | `<planId>`                      |
 * | snapshot  | `PLAN#<planId>`    | `SNAPSHOT#<snapshotId>`         |
 * | job       | `PLAN#<planId>`    | `JOB#<snapshotId>`              |
 * | task      | `PLAN#<planId>`    | `TASK#<snapshotId>#<taskId>`    |
 * | running task (sparse index) | `RUNNING` | `TASK#<jobId>#<taskId>` (`indexedAt`; put at start, dropped after it ends) |
 * | journal marker | `JOURNAL#<planId>` | `E#<sha256(bucket, key, sequencer)>` (idempotency) |
 * | journal entry, by time | `JOURNAL#<planId>` | `C#<capturedAt>#<sha256(bucket, key, sequencer)>` |
 * | journal entry, by key | `JKEY#<planId>#<sha256(key)>` | `<sequencer, uppercase, zero-padded to 64>` |
 * | drills    | `PLAN#<planId>`    | `DRILLS`                        |
 * | restore job | `RESTORE`        | `JOB#<restoreJobId>`            |
 * | restore part done | `RESTORE#<restoreJobId>` | `PART#<part>`     |
 * | snapshot partition done | `PLAN#<planId>` | `PARTITION#<snapshotId>#<000000 partition>` |
 * | partition checkpoint | `PLAN#<planId>` | `CHECKPOINT#<snapshotId>#<000000 partition>` (no parts; `token`, `chunks`) |
 * | its part refs, in order | `PLAN#<planId>` | `CHECKPOINT#<snapshotId>#<000000 partition>#<token>#<0000 chunk>` (`parts`) |
 * | GC mark of a pack | `GC#<vault bucket>` | `PACK#<packId>` (with `markedAt`) |
 * | GC lease of a vault | `GC#<vault bucket>` | `LEASE` (with `owner`, `until`; copies' holds `copy:<holder>`, `version`) |
 *
 * Conditional writes make duplicate deliveries harmless: a job is created once (transaction with
 * `attribute_not_exists`), a snapshot commits once (`#status = RUNNING`), a restore part counts
 * once (its done marker is put with `attribute_not_exists` in the transaction that `ADD`s its counts),
 * and so does a snapshot partition (its summary, in the transaction that `ADD`s `partitionsDone`).
 * A journal entry is one transaction of three puts: its marker (`attribute_not_exists`), then the
 * entry under the plan's time order and under its key's sequencer order; a redelivered event finds
 * the marker and writes nothing. `sha256(bucket, key, sequencer)` hashes `<bucket>\n<key>\n<sequencer>`.
 * A partition checkpoint's part refs can outgrow DynamoDB's 400 KB item: they are written first, in
 * chunk items of at most {@link CHECKPOINT_CHUNK_BYTES} under a fresh token, then the checkpoint item
 * naming the token and chunk count (conditional on fewer invocations), then the previous token's
 * chunks are deleted. A reader that finds fewer chunks than the checkpoint names reads again.
 * @see ../../docs/format.md#catalog
 */
import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  ConflictError,
  NotFoundError,
  StrongboxError,
  TransientError,
  ValidationError,
} from '#domain/errors.ts';
import { journalEntryHash, sequencerSortKey } from '#domain/journal.ts';
import type { Catalog } from '#domain/ports.ts';
import type {
  DrillHistory,
  GcMark,
  JobRecord,
  JournalEntry,
  LegalHold,
  PartitionCheckpoint,
  PartitionPlan,
  PartitionSummary,
  PlanRecord,
  RegionCopy,
  RestoreJobRecord,
  RestorePartCounts,
  SnapshotRecord,
  SnapshotStatus,
  TaskRecord,
} from '#domain/records.ts';
import { contentIdOf, type PartRef } from '#domain/vault.ts';
import { isOverflowChunk, joinOverflow, splitOverflow } from './item-size.ts';
import { withRetry } from './retrying.ts';

type Item = Record<string, unknown>;

/** Attribute name prefix of a copy's hold on the lease item of a vault (`copy:<holder>` = until). */
const COPY_HOLD_PREFIX = 'copy:';

/**
 * Bytes of part refs (as UTF-8 JSON, an upper bound of DynamoDB's size of the list) per checkpoint
 * chunk item: well under DynamoDB's 400 KB item limit.
 */
export const CHECKPOINT_CHUNK_BYTES = 256 * 1024;

/** Sort key of a partition checkpoint (a chunk of its parts: `<sk>#<token>#<0000 chunk>`). */
function checkpointSk(snapshotId: string, partition: number): string {
  return `CHECKPOINT#${snapshotId}#${String(partition).padStart(6, '0')}`;
}

function chunkSk(head: string, token: string, chunk: number): string {
  return `${head}#${token}#${String(chunk).padStart(4, '0')}`;
}

/** Part refs in order, cut into chunks of at most {@link CHECKPOINT_CHUNK_BYTES}. */
function chunksOf(parts: readonly PartRef[]): PartRef[][] {
  const chunks: PartRef[][] = [];
  let chunk: PartRef[] = [];
  let bytes = 0;
  for (const ref of parts) {
    const size = Buffer.byteLength(JSON.stringify(ref)) + 1;
    if (chunk.length > 0 && bytes + size > CHECKPOINT_CHUNK_BYTES) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(ref);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** Sort key of a partition summary; the number is zero-padded so a query returns them in order. */
function partitionSk(snapshotId: string, partition: number): string {
  return `PARTITION#${snapshotId}#${String(partition).padStart(6, '0')}`;
}

function splitJobId(jobId: string): { planId: string; snapshotId: string } {
  const i = jobId.indexOf('/');
  if (i < 0) throw new NotFoundError(`job id '${jobId}' is not <plan>/<snapshot>`);
  return { planId: jobId.slice(0, i), snapshotId: jobId.slice(i + 1) };
}

function strip<T>(item: Item | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as T;
}

/**
 * The Strongbox error for a failed DynamoDB call: DynamoDB's `ValidationException` (or a
 * transaction cancelled for `ValidationError`: an item over 400 KB, an empty key attribute, a
 * malformed expression) says the request itself is wrong, so sending it again cannot succeed; any
 * other failure (throttling, 5xx, timeouts, the network) may pass.
 * @param what what the call was doing, for the message (e.g. `journal photos/a.jpg`).
 * @returns ValidationError (not retryable) with DynamoDB's message, or TransientError (retryable).
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 */
export function catalogFailure(what: string, error: unknown): StrongboxError {
  const message = `${what}: ${(error as Error)?.message ?? String(error)}`;
  const name = (error as { name?: unknown })?.name;
  const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
  if (name === 'ValidationException' || reasons.some((r) => r.Code === 'ValidationError')) {
    const detail = reasons.find((r) => r.Code === 'ValidationError')?.Message;
    return new ValidationError(detail ? `${message} (${detail})` : message, '', { cause: error });
  }
  return new TransientError(message, { cause: error });
}

/**
 * {@link Catalog} on one DynamoDB table.
 * @example
 * ```ts
 * const catalog = new DynamoDbCatalog(new DynamoDBClient({ region: 'us-east-1' }), 'strongbox-prod-state');
 * ```
 */
export class DynamoDbCatalog implements Catalog {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.#doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.#table = tableName;
  }

  async putPlans(plans: readonly PlanRecord[]): Promise<void> {
    await this.#call('put plans', async () => {
      for (let i = 0; i < plans.length; i += 25) {
        await this.#doc.send(
          new TransactWriteCommand({
            TransactItems: plans
              .slice(i, i + 25)
              .map((p) => ({ Put: { TableName: this.#table, Item: { pk: 'PLAN', sk: p.id, ...p } } })),
          }),
        );
      }
    });
  }

  async getPlan(planId: string): Promise<PlanRecord | undefined> {
    return this.#get<PlanRecord>('PLAN', planId);
  }

  async listPlans(): Promise<PlanRecord[]> {
    return this.#query<PlanRecord>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'PLAN' },
    });
  }

  async createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean> {
    const cancelled = await this.#transact(`create job ${job.jobId}`, [
      {
        Put: {
          TableName: this.#table,
          Item: { pk: `PLAN#${job.planId}`, sk: `JOB#${job.snapshotId}`, ...job },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.#table,
          Item: { pk: `PLAN#${snapshot.planId}`, sk: `SNAPSHOT#${snapshot.snapshotId}`, ...snapshot },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ]);
    return cancelled === undefined;
  }

  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#get<JobRecord>(`PLAN#${planId}`, `JOB#${snapshotId}`);
  }

  async updateJob(jobId: string, patch: Partial<JobRecord>): Promise<void> {
    const { planId, snapshotId } = splitJobId(jobId);
    const ok = await this.#update(`PLAN#${planId}`, `JOB#${snapshotId}`, patch, 'attribute_exists(pk)');
    if (!ok) throw new NotFoundError(`job ${jobId} does not exist`);
  }

  async listJobs(planId: string): Promise<JobRecord[]> {
    return this.#query<JobRecord>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': 'JOB#' },
    });
  }

  async getSnapshot(planId: string, snapshotId: string): Promise<SnapshotRecord | undefined> {
    return this.#get<SnapshotRecord>(`PLAN#${planId}`, `SNAPSHOT#${snapshotId}`);
  }

  async listSnapshots(planId: string): Promise<SnapshotRecord[]> {
    return this.#query<SnapshotRecord>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': 'SNAPSHOT#' },
    });
  }

  async updateSnapshot(
    planId: string,
    snapshotId: string,
    patch: Partial<SnapshotRecord>,
    when: readonly SnapshotStatus[],
  ): Promise<boolean> {
    const names = when.map((_, i) => `:when${i}`);
    const values = Object.fromEntries(when.map((s, i) => [`:when${i}`, s]));
    // A snapshot under legal hold is never marked FORGOTTEN, whatever retention decided before the hold.
    const forgetting = patch.status === 'FORGOTTEN';
    return this.#update(
      `PLAN#${planId}`,
      `SNAPSHOT#${snapshotId}`,
      patch,
      `#status IN (${names.join(', ')})${forgetting ? ' AND attribute_not_exists(#legalHold)' : ''}`,
      values,
      {
        '#status': 'status',
        ...(forgetting ? { '#legalHold': 'legalHold' } : {}),
      },
    );
  }

  async setLegalHold(planId: string, snapshotId: string, hold: LegalHold | undefined): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `PLAN#${planId}`, sk: `SNAPSHOT#${snapshotId}` },
          // #update only SETs: clearing the hold needs REMOVE.
          UpdateExpression: hold ? 'SET #legalHold = :hold' : 'REMOVE #legalHold',
          ConditionExpression: 'attribute_exists(pk) AND #status <> :forgotten',
          ExpressionAttributeNames: { '#legalHold': 'legalHold', '#status': 'status' },
          ExpressionAttributeValues: { ':forgotten': 'FORGOTTEN', ...(hold ? { ':hold': hold } : {}) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`set legal hold of ${planId}/${snapshotId}`, error);
    }
  }

  async setRegionCopy(
    planId: string,
    snapshotId: string,
    region: string,
    copy: RegionCopy,
  ): Promise<Record<string, RegionCopy>> {
    return this.#call(`set copy state of ${planId}/${snapshotId} in ${region}`, async () => {
      const out = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `PLAN#${planId}`, sk: `SNAPSHOT#${snapshotId}` },
          UpdateExpression: 'SET #regions.#region = :copy',
          ConditionExpression: 'attribute_exists(#regions)',
          ExpressionAttributeNames: { '#regions': 'regions', '#region': region },
          ExpressionAttributeValues: { ':copy': copy },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return (out.Attributes?.regions ?? {}) as Record<string, RegionCopy>;
    });
  }

  async deleteSnapshot(planId: string, snapshotId: string): Promise<void> {
    const overflow = await this.#overflowOf(`PLAN#${planId}`, `SNAPSHOT#${snapshotId}`);
    await this.#batchWrite(
      `delete overflow items of ${planId}/${snapshotId}`,
      overflow.map((c) => ({ DeleteRequest: { Key: { pk: c.pk, sk: c.sk } } })),
    );
    await this.#call('delete snapshot', () =>
      this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { pk: `PLAN#${planId}`, sk: `SNAPSHOT#${snapshotId}` },
        }),
      ),
    );
  }

  async planPartitions(planId: string, snapshotId: string, plan: PartitionPlan): Promise<PartitionPlan> {
    // Many long boundaries go to overflow items first; the record then names them (`overflow`).
    const pk = `PLAN#${planId}`;
    const sk = `SNAPSHOT#${snapshotId}`;
    const split = splitOverflow({ pk, sk, partitionBoundaries: [...plan.boundaries] }, 'partitionBoundaries');
    await this.#putOverflow(`partition plan of ${planId}/${snapshotId}`, split.chunks);
    const set = split.chunks.length > 0 ? '#overflow = :b' : 'partitionBoundaries = :b';
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk, sk },
          UpdateExpression: `SET ${set}, partitionsTotal = :n, partitionsDone = if_not_exists(partitionsDone, :zero), parentSnapshotId = :parent, #time = :time`,
          ConditionExpression:
            'attribute_not_exists(partitionBoundaries) AND attribute_not_exists(#overflow) AND #status = :running',
          ExpressionAttributeNames: { '#status': 'status', '#time': 'time', '#overflow': 'overflow' },
          ExpressionAttributeValues: {
            ':b': split.chunks.length > 0 ? split.item.overflow : [...plan.boundaries],
            ':n': plan.boundaries.length + 1,
            ':zero': 0,
            ':running': 'RUNNING',
            ':parent': plan.parentSnapshotId,
            ':time': plan.time,
          },
        }),
      );
      return plan;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw catalogFailure(`plan partitions of ${planId}/${snapshotId}`, error);
      }
    }
    const s = await this.getSnapshot(planId, snapshotId);
    if (!s) throw new NotFoundError(`snapshot ${planId}/${snapshotId} does not exist`);
    const recorded = s.partitionBoundaries;
    if (split.chunks.length > 0 && JSON.stringify(recorded) !== JSON.stringify(plan.boundaries)) {
      // Another plan was recorded first: this one's overflow items (keyed by its hash) are garbage.
      await this.#batchWrite(
        `delete the losing partition plan of ${planId}/${snapshotId}`,
        split.chunks.map((c) => ({ DeleteRequest: { Key: { pk: c.pk, sk: c.sk } } })),
      );
    }
    if (recorded) {
      return {
        boundaries: recorded,
        parentSnapshotId: s.parentSnapshotId ?? null,
        time: s.time ?? '',
      };
    }
    throw new ConflictError(`snapshot ${planId}/${snapshotId} is ${s.status}`);
  }

  async completePartition(planId: string, snapshotId: string, summary: PartitionSummary) {
    const { item: summaryItem, chunks } = splitOverflow(
      { pk: `PLAN#${planId}`, sk: partitionSk(snapshotId, summary.partition), ...summary },
      'parts',
    );
    await this.#putOverflow(`parts of partition ${summary.partition} of ${planId}/${snapshotId}`, chunks);
    const cancelled = await this.#transact(
      `complete partition ${summary.partition} of ${planId}/${snapshotId}`,
      [
        {
          Put: {
            TableName: this.#table,
            Item: summaryItem,
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Update: {
            TableName: this.#table,
            Key: { pk: `PLAN#${planId}`, sk: `SNAPSHOT#${snapshotId}` },
            UpdateExpression: 'ADD partitionsDone :one',
            // Counted only into the partition plan it was stored under (see PartitionSummary.planTime).
            ...(summary.planTime === undefined
              ? {
                  ConditionExpression: '#status = :running',
                  ExpressionAttributeNames: { '#status': 'status' },
                  ExpressionAttributeValues: { ':one': 1, ':running': 'RUNNING' },
                }
              : {
                  ConditionExpression: '#status = :running AND #time = :planTime',
                  ExpressionAttributeNames: { '#status': 'status', '#time': 'time' },
                  ExpressionAttributeValues: {
                    ':one': 1,
                    ':running': 'RUNNING',
                    ':planTime': summary.planTime,
                  },
                }),
          },
        },
      ],
    );
    const counted = cancelled === undefined;
    const s = await this.getSnapshot(planId, snapshotId);
    if (!s) throw new NotFoundError(`snapshot ${planId}/${snapshotId} does not exist`);
    return { counted, done: s.partitionsDone ?? 0, total: s.partitionsTotal ?? 0, status: s.status };
  }

  async listPartitions(planId: string, snapshotId: string): Promise<PartitionSummary[]> {
    const items = await this.#query<PartitionSummary>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': `PARTITION#${snapshotId}#` },
    });
    return items.sort((a, b) => a.partition - b.partition);
  }

  async putPartitionCheckpoint(
    planId: string,
    snapshotId: string,
    checkpoint: PartitionCheckpoint,
  ): Promise<boolean> {
    const pk = `PLAN#${planId}`;
    const head = checkpointSk(snapshotId, checkpoint.partition);
    const what = `checkpoint partition ${checkpoint.partition} of ${planId}/${snapshotId}`;
    const token = randomUUID();
    const { parts, ...rest } = checkpoint;
    const chunks = chunksOf(parts);
    // The parts first, under a token no reader follows yet.
    for (const [i, chunk] of chunks.entries()) {
      await this.#call(what, () =>
        this.#doc.send(
          new PutCommand({ TableName: this.#table, Item: { pk, sk: chunkSk(head, token, i), parts: chunk } }),
        ),
      );
    }
    let previous: Item | undefined;
    try {
      const out = await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk, sk: head, ...rest, token, chunks: chunks.length },
          ConditionExpression: 'attribute_not_exists(pk) OR invocations < :n',
          ExpressionAttributeValues: { ':n': checkpoint.invocations },
          ReturnValues: 'ALL_OLD',
        }),
      );
      previous = out.Attributes;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw new TransientError(`${what}: ${(error as Error).message}`, { cause: error });
      }
      await this.#deleteChunks(pk, head, token, chunks.length);
      return false;
    }
    if (previous) await this.#deleteChunks(pk, head, String(previous.token), Number(previous.chunks ?? 0));
    return true;
  }

  async listPartitionCheckpoints(planId: string, snapshotId: string): Promise<PartitionCheckpoint[]> {
    const prefix = `CHECKPOINT#${snapshotId}#`;
    // A replacement between two pages deletes chunks the query then misses: read again, only ever whole.
    const torn = new TransientError(
      `checkpoints of ${planId}/${snapshotId} keep changing while they are read`,
    );
    const read = async (): Promise<PartitionCheckpoint[]> => {
      const items = await this.#query<Item & { sk: string }>(
        {
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': prefix },
        },
        { keepKeys: true },
      );
      const bySk = new Map(items.map((item) => [item.sk, item]));
      const out: PartitionCheckpoint[] = [];
      for (const item of items) {
        if (item.sk.slice(prefix.length).includes('#')) continue; // a chunk
        const { pk: _pk, sk, token, chunks, ...rest } = item;
        const parts: PartRef[] = [];
        for (let i = 0; i < Number(chunks ?? 0); i++) {
          const chunk = bySk.get(chunkSk(sk, String(token), i));
          if (!chunk) throw torn;
          parts.push(...(chunk.parts as PartRef[]));
        }
        out.push({ ...(rest as Omit<PartitionCheckpoint, 'parts'>), parts });
      }
      return out.sort((a, b) => a.partition - b.partition);
    };
    return withRetry(read, { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0, retryIf: (e) => e === torn });
  }

  async resetPartition(planId: string, snapshotId: string, partition: number): Promise<boolean> {
    const pk = `PLAN#${planId}`;
    const s = await this.getSnapshot(planId, snapshotId);
    if (s?.status !== 'RUNNING') return false;
    const head = checkpointSk(snapshotId, partition);
    const out = await this.#call(`reset partition ${partition} of ${planId}/${snapshotId}`, () =>
      this.#doc.send(
        new DeleteCommand({ TableName: this.#table, Key: { pk, sk: head }, ReturnValues: 'ALL_OLD' }),
      ),
    );
    if (out.Attributes) {
      await this.#deleteChunks(pk, head, String(out.Attributes.token), Number(out.Attributes.chunks ?? 0));
    }
    const cancelled = await this.#transact(`reset partition ${partition} of ${planId}/${snapshotId}`, [
      {
        Delete: {
          TableName: this.#table,
          Key: { pk, sk: partitionSk(snapshotId, partition) },
          ConditionExpression: 'attribute_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.#table,
          Key: { pk, sk: `SNAPSHOT#${snapshotId}` },
          UpdateExpression: 'ADD partitionsDone :minusOne',
          ConditionExpression: '#status = :running',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':minusOne': -1, ':running': 'RUNNING' },
        },
      },
    ]);
    return cancelled === undefined;
  }

  /** Delete the chunk items of one token of a checkpoint (deleting a missing item succeeds). */
  async #deleteChunks(pk: string, head: string, token: string, chunks: number): Promise<void> {
    for (let i = 0; i < chunks; i++) {
      await this.#call(`delete checkpoint chunk ${head}`, () =>
        this.#doc.send(
          new DeleteCommand({ TableName: this.#table, Key: { pk, sk: chunkSk(head, token, i) } }),
        ),
      );
    }
  }

  async startTask(jobId: string, taskId: string, at: string): Promise<TaskRecord> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#call(`start task ${jobId} ${taskId}`, async () => {
      // The running-task index entry first: a task RUNNING without one would escape the reaper.
      await this.#indexRunning(jobId, taskId, at);
      const out = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `PLAN#${planId}`, sk: `TASK#${snapshotId}#${taskId}` },
          UpdateExpression:
            'SET #status = :running, startedAt = :at, heartbeatAt = :at, jobId = :job, taskId = :task ADD attempts :one REMOVE #error, finishedAt, progress',
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: {
            ':running': 'RUNNING',
            ':at': at,
            ':job': jobId,
            ':task': taskId,
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<TaskRecord>(out.Attributes) as TaskRecord;
    });
  }

  async updateTask(jobId: string, taskId: string, patch: Partial<TaskRecord>): Promise<void> {
    const { planId, snapshotId } = splitJobId(jobId);
    await this.#update(`PLAN#${planId}`, `TASK#${snapshotId}#${taskId}`, { jobId, taskId, ...patch });
  }

  async heartbeatTask(jobId: string, taskId: string, at: string): Promise<boolean> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#update(
      `PLAN#${planId}`,
      `TASK#${snapshotId}#${taskId}`,
      { heartbeatAt: at },
      '#status = :running',
      { ':running': 'RUNNING' },
      { '#status': 'status' },
    );
  }

  async listRunningTasks(): Promise<TaskRecord[]> {
    const entries = await this.#query<{ jobId: string; taskId: string; indexedAt?: string }>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'RUNNING' },
    });
    const keyOf = (e: { jobId: string; taskId: string }) => {
      const { planId, snapshotId } = splitJobId(e.jobId);
      return { pk: `PLAN#${planId}`, sk: `TASK#${snapshotId}#${e.taskId}` };
    };
    const running: TaskRecord[] = [];
    const ended: { jobId: string; taskId: string; indexedAt?: string }[] = [];
    for (let i = 0; i < entries.length; i += 100) {
      const chunk = entries.slice(i, i + 100);
      const found = new Map<string, TaskRecord>();
      for (const item of await this.#batchGet(chunk.map(keyOf))) {
        const task = strip<TaskRecord>(item) as TaskRecord;
        found.set(`${task.jobId}#${task.taskId}`, task);
      }
      for (const entry of chunk) {
        const task = found.get(`${entry.jobId}#${entry.taskId}`);
        if (task?.status === 'RUNNING') running.push(task);
        else ended.push(entry);
      }
    }
    // The index is sparse: an entry lives from the task's start until the first listing after it ended.
    await this.#call('drop running-task index entries', async () => {
      for (const e of ended) {
        try {
          // Only the entry as read: a task started again meanwhile re-indexed itself (a later indexedAt).
          await this.#doc.send(
            new DeleteCommand({
              TableName: this.#table,
              Key: { pk: 'RUNNING', sk: `TASK#${e.jobId}#${e.taskId}` },
              ConditionExpression: 'attribute_not_exists(indexedAt) OR indexedAt = :seen',
              ExpressionAttributeValues: { ':seen': e.indexedAt ?? '' },
            }),
          );
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }
    });
    return running;
  }

  async redriveTask(jobId: string, taskId: string, expectedRedrives: number, at: string): Promise<boolean> {
    const { planId, snapshotId } = splitJobId(jobId);
    await this.#call(`index task ${jobId} ${taskId}`, () => this.#indexRunning(jobId, taskId, at));
    const same =
      expectedRedrives === 0
        ? '(attribute_not_exists(redrives) OR redrives = :expected)'
        : 'redrives = :expected';
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `PLAN#${planId}`, sk: `TASK#${snapshotId}#${taskId}` },
          UpdateExpression:
            'SET redrives = :next, heartbeatAt = :at, jobId = :job, taskId = :task, #status = :running, attempts = if_not_exists(attempts, :zero), startedAt = if_not_exists(startedAt, :at)',
          ConditionExpression: `(attribute_not_exists(pk) OR #status <> :succeeded) AND ${same}`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':expected': expectedRedrives,
            ':next': expectedRedrives + 1,
            ':at': at,
            ':job': jobId,
            ':task': taskId,
            ':running': 'RUNNING',
            ':succeeded': 'SUCCEEDED',
            ':zero': 0,
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw new TransientError(`redrive task ${jobId} ${taskId}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Put the running-task index entry of a task (idempotent), stamped `indexedAt` = `at`. */
  async #indexRunning(jobId: string, taskId: string, at: string): Promise<void> {
    // UpdateItem, not PutItem: every role that starts tasks may already update items.
    await this.#doc.send(
      new UpdateCommand({
        TableName: this.#table,
        Key: { pk: 'RUNNING', sk: `TASK#${jobId}#${taskId}` },
        UpdateExpression: 'SET jobId = :job, taskId = :task, indexedAt = :at',
        ExpressionAttributeValues: { ':job': jobId, ':task': taskId, ':at': at },
      }),
    );
  }

  /** Consistent BatchGetItem of up to 100 keys, retrying unprocessed keys. */
  async #batchGet(keys: Item[]): Promise<Item[]> {
    return this.#call('batch get', async () => {
      const items: Item[] = [];
      let pending: Item[] = keys;
      for (let round = 0; pending.length > 0; round++) {
        if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** round)));
        if (round > 8) throw new TransientError(`batch get: ${pending.length} keys left unprocessed`);
        const out = await this.#doc.send(
          new BatchGetCommand({ RequestItems: { [this.#table]: { Keys: pending, ConsistentRead: true } } }),
        );
        items.push(...(out.Responses?.[this.#table] ?? []));
        pending = (out.UnprocessedKeys?.[this.#table]?.Keys as Item[] | undefined) ?? [];
      }
      return items;
    });
  }

  async listTasks(jobId: string): Promise<TaskRecord[]> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#query<TaskRecord>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': `TASK#${snapshotId}#` },
    });
  }

  async createRestoreJob(job: RestoreJobRecord): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk: 'RESTORE', sk: `JOB#${job.restoreJobId}`, ...job },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`create restore job ${job.restoreJobId}`, error);
    }
  }

  async getRestoreJob(restoreJobId: string): Promise<RestoreJobRecord | undefined> {
    return this.#get<RestoreJobRecord>('RESTORE', `JOB#${restoreJobId}`);
  }

  async listRestoreJobs(limit = 20): Promise<RestoreJobRecord[]> {
    return this.#call('list restore jobs', async () => {
      const out = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': 'RESTORE', ':p': 'JOB#' },
          ScanIndexForward: false,
          Limit: limit,
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? []).map((item) => strip<RestoreJobRecord>(item) as RestoreJobRecord);
    });
  }

  async completeRestorePart(
    restoreJobId: string,
    part: number,
    counts: RestorePartCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }> {
    const cancelled = await this.#transact(`complete part ${part} of ${restoreJobId}`, [
      {
        Put: {
          TableName: this.#table,
          Item: { pk: `RESTORE#${restoreJobId}`, sk: `PART#${part}`, doneAt: at, ...counts },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.#table,
          Key: { pk: 'RESTORE', sk: `JOB#${restoreJobId}` },
          UpdateExpression:
            'SET updatedAt = :at ADD objects :o, #bytes :b, skippedExists :se, skippedUnchanged :su, partsDone :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#bytes': 'bytes' },
          ExpressionAttributeValues: {
            ':at': at,
            ':o': counts.objects,
            ':b': counts.bytes,
            ':se': counts.skippedExists,
            ':su': counts.skippedUnchanged,
            ':one': 1,
          },
        },
      },
    ]);
    if (cancelled?.[1] === 'ConditionalCheckFailed') {
      throw new NotFoundError(`restore job ${restoreJobId} does not exist`);
    }
    const counted = cancelled === undefined;
    const job = await this.getRestoreJob(restoreJobId);
    if (!job) throw new NotFoundError(`restore job ${restoreJobId} does not exist`);
    return { counted, job };
  }

  async listRestorePartsDone(restoreJobId: string): Promise<number[]> {
    const markers = await this.#query<{ sk: string }>(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': `RESTORE#${restoreJobId}`, ':p': 'PART#' },
        ProjectionExpression: 'sk',
      },
      { keepKeys: true },
    );
    return markers.map((m) => Number(m.sk.slice('PART#'.length))).sort((a, b) => a - b);
  }

  async heartbeatRestoreJob(restoreJobId: string, at: string): Promise<boolean> {
    return this.#update(
      'RESTORE',
      `JOB#${restoreJobId}`,
      { heartbeatAt: at },
      '#status = :running',
      { ':running': 'RUNNING' },
      { '#status': 'status' },
    );
  }

  async redriveRestoreJob(restoreJobId: string, expectedRedrives: number, at: string): Promise<boolean> {
    const same =
      expectedRedrives === 0
        ? '(attribute_not_exists(redrives) OR redrives = :expected)'
        : 'redrives = :expected';
    return this.#update(
      'RESTORE',
      `JOB#${restoreJobId}`,
      { redrives: expectedRedrives + 1, heartbeatAt: at },
      `#status = :running AND ${same}`,
      { ':running': 'RUNNING', ':expected': expectedRedrives },
      { '#status': 'status' },
    );
  }

  async finishRestoreJob(
    restoreJobId: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; at: string; error?: string },
  ): Promise<boolean> {
    return this.#update(
      'RESTORE',
      `JOB#${restoreJobId}`,
      { status: end.status, updatedAt: end.at, finishedAt: end.at, error: end.error },
      end.status === 'SUCCEEDED' ? '#status = :running AND partsDone = partsTotal' : '#status = :running',
      { ':running': 'RUNNING' },
      { '#status': 'status' },
    );
  }

  async getDrillHistory(planId: string): Promise<DrillHistory | undefined> {
    return this.#get<DrillHistory>(`PLAN#${planId}`, 'DRILLS');
  }

  async putDrillHistory(history: DrillHistory, expectedVersion: number): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk: `PLAN#${history.planId}`, sk: 'DRILLS', ...history },
          ...(expectedVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#version = :expected',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':expected': expectedVersion },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`put drills of ${history.planId}`, error);
    }
  }

  /**
   * One transaction: the idempotency marker (conditional on not existing), the time-ordered item
   * and the per-key item. A marker already there cancels it all: false.
   */
  async appendJournal(entry: JournalEntry): Promise<boolean> {
    const hash = journalEntryHash(entry);
    const pk = `JOURNAL#${entry.planId}`;
    const bySequencer = sequencerSortKey(entry.sequencer); // ValidationError (not retryable) for a non-hex one
    // A long blob list (an object of thousands of chunks) goes to overflow items first.
    const byTime = splitOverflow({ pk, sk: `C#${entry.capturedAt}#${hash}`, ...entry }, 'blobs');
    const byKey = splitOverflow(
      { pk: `JKEY#${entry.planId}#${contentIdOf(entry.key)}`, sk: bySequencer, ...entry },
      'blobs',
    );
    await this.#putOverflow(`blobs of journal entry ${entry.key}`, [...byTime.chunks, ...byKey.chunks]);
    const cancelled = await this.#transact(`journal ${entry.key}`, [
      {
        Put: {
          TableName: this.#table,
          Item: { pk, sk: `E#${hash}`, capturedAt: entry.capturedAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      { Put: { TableName: this.#table, Item: byTime.item } },
      { Put: { TableName: this.#table, Item: byKey.item } },
    ]);
    return cancelled?.[0] !== 'ConditionalCheckFailed';
  }

  async listJournal(
    planId: string,
    options: { capturedAfter?: string; capturedUntil?: string } = {},
  ): Promise<JournalEntry[]> {
    // `$` sorts right after `#`: `C#<t>$` is above every `C#<t>#<hash>` and below any later time.
    const iso = (t: string) => new Date(t).toISOString();
    const low = options.capturedAfter === undefined ? 'C#' : `C#${iso(options.capturedAfter)}$`;
    const high = options.capturedUntil === undefined ? 'C$' : `C#${iso(options.capturedUntil)}$`;
    if (low >= high) return [];
    return this.#query<JournalEntry>({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': `JOURNAL#${planId}`, ':low': low, ':high': high },
    });
  }

  async listJournalForKey(planId: string, key: string): Promise<JournalEntry[]> {
    return this.#query<JournalEntry>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `JKEY#${planId}#${contentIdOf(key)}` },
    });
  }

  async putGcMarks(vault: string, marks: readonly GcMark[]): Promise<void> {
    await this.#batchWrite(
      `put GC marks of ${vault}`,
      marks.map((m) => ({
        PutRequest: {
          Item: { pk: `GC#${vault}`, sk: `PACK#${m.packId}`, packId: m.packId, markedAt: m.markedAt },
        },
      })),
    );
  }

  async listGcMarks(vault: string): Promise<GcMark[]> {
    const items = await this.#query<GcMark>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
      ExpressionAttributeValues: { ':pk': `GC#${vault}`, ':sk': 'PACK#' },
    });
    return items.map((m) => ({ packId: m.packId, markedAt: m.markedAt }));
  }

  async deleteGcMarks(vault: string, packIds: readonly string[]): Promise<void> {
    await this.#batchWrite(
      `delete GC marks of ${vault}`,
      packIds.map((id) => ({ DeleteRequest: { Key: { pk: `GC#${vault}`, sk: `PACK#${id}` } } })),
    );
  }

  /**
   * The lease item holds the run's `owner` and `until`, and one attribute `copy:<holder>` = until per
   * copy's hold, with a `version` every hold adds 1 to. A run reads the item, then writes its lease on
   * the condition that the version is unchanged (no copy took a hold since the read) and that no
   * other run holds it; a copy's hold is conditional on no run holding it. One item, so the two
   * conditions cannot both pass against each other.
   */
  async acquireGcLease(vault: string, owner: string, now: string, until: string): Promise<boolean> {
    const item = await this.#get<Item>(`GC#${vault}`, 'LEASE');
    if (item?.owner && item.owner !== owner && String(item.until) >= now) return false;
    const holds = Object.entries(item ?? {}).filter(([name]) => name.startsWith(COPY_HOLD_PREFIX));
    if (holds.some(([, end]) => String(end) >= now)) return false;
    const names: Record<string, string> = { '#owner': 'owner', '#until': 'until', '#version': 'version' };
    // Holds that ended (their copies died) are dropped on the way.
    const ended = holds.map(([name], i) => {
      names[`#h${i}`] = name;
      return `#h${i}`;
    });
    const unchanged = item?.version === undefined ? 'attribute_not_exists(#version)' : '#version = :version';
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `GC#${vault}`, sk: 'LEASE' },
          UpdateExpression: `SET #owner = :owner, #until = :until${ended.length > 0 ? ` REMOVE ${ended.join(', ')}` : ''}`,
          ConditionExpression: `(attribute_not_exists(#owner) OR #owner = :owner OR #until < :now) AND ${unchanged}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: {
            ':owner': owner,
            ':until': until,
            ':now': now,
            ...(item?.version === undefined ? {} : { ':version': item.version }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`acquire GC lease of ${vault}`, error);
    }
  }

  async releaseGcLease(vault: string, owner: string): Promise<void> {
    try {
      // REMOVE, not DeleteItem: the item also carries the copies' holds.
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `GC#${vault}`, sk: 'LEASE' },
          UpdateExpression: 'REMOVE #owner, #until',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw catalogFailure(`release GC lease of ${vault}`, error);
    }
  }

  async acquireCopyHold(vault: string, holder: string, now: string, until: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `GC#${vault}`, sk: 'LEASE' },
          UpdateExpression: 'SET #hold = :until ADD #version :one',
          ConditionExpression: 'attribute_not_exists(#owner) OR #until < :now',
          ExpressionAttributeNames: {
            '#hold': `${COPY_HOLD_PREFIX}${holder}`,
            '#owner': 'owner',
            '#until': 'until',
            '#version': 'version',
          },
          ExpressionAttributeValues: { ':until': until, ':now': now, ':one': 1 },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw new TransientError(`hold ${vault} for a copy: ${(error as Error).message}`, { cause: error });
    }
  }

  async releaseCopyHold(vault: string, holder: string): Promise<void> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `GC#${vault}`, sk: 'LEASE' },
          UpdateExpression: 'REMOVE #hold',
          ConditionExpression: 'attribute_exists(#hold)',
          ExpressionAttributeNames: { '#hold': `${COPY_HOLD_PREFIX}${holder}` },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw new TransientError(`release ${vault} from a copy: ${(error as Error).message}`, { cause: error });
    }
  }

  /** BatchWriteItem in batches of 25 (DynamoDB's limit), sending unprocessed items again with backoff. */
  async #batchWrite(
    what: string,
    requests: NonNullable<BatchWriteCommandInput['RequestItems']>[string],
  ): Promise<void> {
    // 9 sends at most, 100 ms before the second, doubling; the SDK's own errors go to #call.
    const policy = { maxAttempts: 9, baseDelayMs: 100, maxDelayMs: 12_800, jitter: 'none' } as const;
    await this.#call(what, async () => {
      for (let i = 0; i < requests.length; i += 25) {
        let pending = requests.slice(i, i + 25);
        const send = async () => {
          const request = new BatchWriteCommand({ RequestItems: { [this.#table]: pending } });
          pending = (await this.#doc.send(request)).UnprocessedItems?.[this.#table] ?? [];
          if (pending.length) throw new TransientError(`${what}: ${pending.length} item(s) left unprocessed`);
        };
        await withRetry(send, { ...policy, retryIf: (e) => e instanceof TransientError });
      }
    });
  }

  /**
   * One TransactWriteItems. Undefined when it committed; the cancellation code of each item
   * (`ConditionalCheckFailed` for a failed condition) when a condition cancelled it.
   * @throws ValidationError (not retryable) when DynamoDB refused the request itself (see
   *   {@link catalogFailure}); TransientError (retryable) for any other failure.
   */
  async #transact(
    what: string,
    items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>,
  ): Promise<(string | undefined)[] | undefined> {
    try {
      await this.#doc.send(new TransactWriteCommand({ TransactItems: items }));
      return undefined;
    } catch (error) {
      const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
      if (!reasons.some((r) => r.Code === 'ConditionalCheckFailed')) {
        throw catalogFailure(what, error);
      }
      return reasons.map((r) => r.Code);
    }
  }

  async #get<T>(pk: string, sk: string): Promise<T | undefined> {
    return this.#call(`get ${pk} ${sk}`, async () => {
      const out = await this.#doc.send(
        new GetCommand({ TableName: this.#table, Key: { pk, sk }, ConsistentRead: true }),
      );
      if (!out.Item?.overflow) return strip<T>(out.Item);
      return strip<T>(joinOverflow(out.Item, await this.#overflowOf(pk, sk)));
    });
  }

  /** The overflow items of the item at `pk`/`sk` (see item-size.ts). */
  async #overflowOf(pk: string, sk: string): Promise<Item[]> {
    return this.#queryItems({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': pk, ':p': `${sk}#~` },
    });
  }

  /** Put overflow items (before the item naming them is written). */
  async #putOverflow(what: string, chunks: readonly Item[]): Promise<void> {
    if (chunks.length === 0) return;
    await this.#batchWrite(
      what,
      chunks.map((Item) => ({ PutRequest: { Item } })),
    );
  }

  /**
   * Query, with every item's long lists joined back from its overflow items (which a range query
   * returns right after the item; fetched when the range cut them off). `keepKeys` keeps `pk` and
   * `sk` on each.
   */
  async #query<T>(
    input: Omit<QueryCommandInput, 'TableName'>,
    options: { keepKeys?: boolean } = {},
  ): Promise<T[]> {
    const finish = (item: Item): T => (options.keepKeys ? item : strip<T>(item)) as T;
    const raw = await this.#queryItems(input);
    const chunks = raw.filter(isOverflowChunk);
    const joined: T[] = [];
    for (const item of raw) {
      if (isOverflowChunk(item)) continue;
      if (!item.overflow) {
        joined.push(finish(item));
        continue;
      }
      const sk = String(item.sk);
      const mine = chunks.filter((c) => c.chunkOf === sk && c.pk === item.pk);
      const refs = item.overflow as Record<string, { chunks: number }>;
      const expected = Object.values(refs).reduce((n, r) => n + r.chunks, 0);
      const found = mine.length >= expected ? mine : await this.#overflowOf(String(item.pk), sk);
      joined.push(finish(joinOverflow(item, found)));
    }
    return joined;
  }

  async #queryItems(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    return this.#call('query', async () => {
      const items: Item[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const out = await this.#doc.send(
          new QueryCommand({
            TableName: this.#table,
            ConsistentRead: true,
            ...input,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
      } while (start);
      return items;
    });
  }

  /** SET every field of `patch`; false when the condition fails. */
  async #update(
    pk: string,
    sk: string,
    patch: Item,
    condition?: string,
    values: Item = {},
    names: Record<string, string> = {},
  ): Promise<boolean> {
    const fields = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (fields.length === 0) return true;
    const attrNames: Record<string, string> = { ...names };
    const attrValues: Item = { ...values };
    const sets = fields.map(([k, v], i) => {
      attrNames[`#f${i}`] = k;
      attrValues[`:f${i}`] = v;
      return `#f${i} = :f${i}`;
    });
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk, sk },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ...(condition ? { ConditionExpression: condition } : {}),
          ExpressionAttributeNames: attrNames,
          ExpressionAttributeValues: attrValues,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`update ${pk} ${sk}`, error);
    }
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StrongboxError) throw error;
      throw catalogFailure(what, error);
    }
  }
}
