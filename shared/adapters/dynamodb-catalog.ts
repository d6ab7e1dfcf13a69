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
 * | GC mark of a pack | `GC#<vault bucket>` | `PACK#<packId>` (with `markedAt`) |
 * | GC lease of a vault | `GC#<vault bucket>` | `LEASE` (with `owner`, `until`) |
 *
 * Conditional writes make duplicate deliveries harmless: a job is created once (transaction with
 * `attribute_not_exists`), a snapshot commits once (`#status = RUNNING`), a restore part counts
 * once (its done marker is put with `attribute_not_exists` in the transaction that `ADD`s its counts),
 * and so does a snapshot partition (its summary, in the transaction that `ADD`s `partitionsDone`).
 * A journal entry is one transaction of three puts: its marker (`attribute_not_exists`), then the
 * entry under the plan's time order and under its key's sequencer order; a redelivered event finds
 * the marker and writes nothing. `sha256(bucket, key, sequencer)` hashes `<bucket>\n<key>\n<sequencer>`.
 * @see ../../docs/format.md#catalog
 */
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
import { ConflictError, NotFoundError, TransientError } from '#domain/errors.ts';
import { journalEntryHash, sequencerSortKey } from '#domain/journal.ts';
import type {
  Catalog,
  DrillHistory,
  GcMark,
  JobRecord,
  JournalEntry,
  LegalHold,
  PartitionPlan,
  PartitionSummary,
  PlanRecord,
  RegionCopy,
  RestoreJobRecord,
  RestorePartCounts,
  SnapshotRecord,
  SnapshotStatus,
  TaskRecord,
} from '#domain/ports.ts';
import { contentIdOf } from '#domain/vault.ts';

type Item = Record<string, unknown>;

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
      throw new TransientError(`set legal hold of ${planId}/${snapshotId}: ${(error as Error).message}`, {
        cause: error,
      });
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
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: `PLAN#${planId}`, sk: `SNAPSHOT#${snapshotId}` },
          UpdateExpression:
            'SET partitionBoundaries = :b, partitionsTotal = :n, partitionsDone = if_not_exists(partitionsDone, :zero), parentSnapshotId = :parent, #time = :time',
          ConditionExpression: 'attribute_not_exists(partitionBoundaries) AND #status = :running',
          ExpressionAttributeNames: { '#status': 'status', '#time': 'time' },
          ExpressionAttributeValues: {
            ':b': [...plan.boundaries],
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
        throw new TransientError(`plan partitions of ${planId}/${snapshotId}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    const s = await this.getSnapshot(planId, snapshotId);
    if (!s) throw new NotFoundError(`snapshot ${planId}/${snapshotId} does not exist`);
    if (s.partitionBoundaries) {
      return {
        boundaries: s.partitionBoundaries,
        parentSnapshotId: s.parentSnapshotId ?? null,
        time: s.time ?? '',
      };
    }
    throw new ConflictError(`snapshot ${planId}/${snapshotId} is ${s.status}`);
  }

  async completePartition(planId: string, snapshotId: string, summary: PartitionSummary) {
    const cancelled = await this.#transact(
      `complete partition ${summary.partition} of ${planId}/${snapshotId}`,
      [
        {
          Put: {
            TableName: this.#table,
            Item: { pk: `PLAN#${planId}`, sk: partitionSk(snapshotId, summary.partition), ...summary },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Update: {
            TableName: this.#table,
            Key: { pk: `PLAN#${planId}`, sk: `SNAPSHOT#${snapshotId}` },
            UpdateExpression: 'ADD partitionsDone :one',
            ConditionExpression: '#status = :running',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':one': 1, ':running': 'RUNNING' },
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
      throw new TransientError(`create restore job ${job.restoreJobId}: ${(error as Error).message}`, {
        cause: error,
      });
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
      throw new TransientError(`put drills of ${history.planId}: ${(error as Error).message}`, {
        cause: error,
      });
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
    const cancelled = await this.#transact(`journal ${entry.key}`, [
      {
        Put: {
          TableName: this.#table,
          Item: { pk, sk: `E#${hash}`, capturedAt: entry.capturedAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      { Put: { TableName: this.#table, Item: { pk, sk: `C#${entry.capturedAt}#${hash}`, ...entry } } },
      {
        Put: {
          TableName: this.#table,
          Item: {
            pk: `JKEY#${entry.planId}#${contentIdOf(entry.key)}`,
            sk: bySequencer,
            ...entry,
          },
        },
      },
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

  async acquireGcLease(vault: string, owner: string, now: string, until: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk: `GC#${vault}`, sk: 'LEASE', owner, until },
          ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR #until < :now',
          ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
          ExpressionAttributeValues: { ':owner': owner, ':now': now },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw new TransientError(`acquire GC lease of ${vault}: ${(error as Error).message}`, { cause: error });
    }
  }

  async releaseGcLease(vault: string, owner: string): Promise<void> {
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { pk: `GC#${vault}`, sk: 'LEASE' },
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw new TransientError(`release GC lease of ${vault}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** BatchWriteItem in batches of 25 (DynamoDB's limit), sending unprocessed items again with backoff. */
  async #batchWrite(
    what: string,
    requests: NonNullable<BatchWriteCommandInput['RequestItems']>[string],
  ): Promise<void> {
    await this.#call(what, async () => {
      for (let i = 0; i < requests.length; i += 25) {
        let pending = requests.slice(i, i + 25);
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 8) throw new TransientError(`${what}: ${pending.length} item(s) left unprocessed`);
          if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
          const out = await this.#doc.send(
            new BatchWriteCommand({ RequestItems: { [this.#table]: pending } }),
          );
          pending = out.UnprocessedItems?.[this.#table] ?? [];
        }
      }
    });
  }

  /**
   * One TransactWriteItems. Undefined when it committed; the cancellation code of each item
   * (`ConditionalCheckFailed` for a failed condition) when a condition cancelled it.
   * @throws TransientError (retryable) for any other failure.
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
        throw new TransientError(`${what}: ${(error as Error).message}`, { cause: error });
      }
      return reasons.map((r) => r.Code);
    }
  }

  async #get<T>(pk: string, sk: string): Promise<T | undefined> {
    return this.#call(`get ${pk} ${sk}`, async () => {
      const out = await this.#doc.send(
        new GetCommand({ TableName: this.#table, Key: { pk, sk }, ConsistentRead: true }),
      );
      return strip<T>(out.Item);
    });
  }

  async #query<T>(input: Omit<QueryCommandInput, 'TableName'>): Promise<T[]> {
    return this.#call('query', async () => {
      const items: T[] = [];
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
        for (const item of out.Items ?? []) items.push(strip<T>(item) as T);
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
      throw new TransientError(`update ${pk} ${sk}: ${(error as Error).message}`, { cause: error });
    }
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof TransientError) throw error;
      throw new TransientError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
}
