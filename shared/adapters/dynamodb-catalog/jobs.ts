/**
 * {@link JobCatalog} on the catalog's table: jobs (`PLAN#<planId>` / `JOB#<snapshotId>`), their tasks
 * (`TASK#<snapshotId>#<taskId>`) and the sparse index of running tasks (`RUNNING`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { NotFoundError, TransientError } from '#domain/errors.ts';
import type { JobCatalog } from '#domain/ports.ts';
import type { JobRecord, SnapshotRecord, TaskRecord } from '#domain/records.ts';
import { splitJobId } from './keys.ts';
import { strip, type Table } from './table.ts';

export class DynamoDbJobCatalog implements JobCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async createJob(job: JobRecord, snapshot: SnapshotRecord): Promise<boolean> {
    const cancelled = await this.#table.transact(`create job ${job.jobId}`, [
      {
        Put: {
          TableName: this.#table.name,
          Item: { pk: `PLAN#${job.planId}`, sk: `JOB#${job.snapshotId}`, ...job },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.#table.name,
          Item: { pk: `PLAN#${snapshot.planId}`, sk: `SNAPSHOT#${snapshot.snapshotId}`, ...snapshot },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ]);
    return cancelled === undefined;
  }

  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#table.get<JobRecord>(`PLAN#${planId}`, `JOB#${snapshotId}`);
  }

  async updateJob(jobId: string, patch: Partial<JobRecord>): Promise<void> {
    const { planId, snapshotId } = splitJobId(jobId);
    const ok = await this.#table.update(`PLAN#${planId}`, `JOB#${snapshotId}`, patch, 'attribute_exists(pk)');
    if (!ok) throw new NotFoundError(`job ${jobId} does not exist`);
  }

  async listJobs(planId: string): Promise<JobRecord[]> {
    return this.#table.query<JobRecord>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': 'JOB#' },
    });
  }

  async startTask(jobId: string, taskId: string, at: string): Promise<TaskRecord> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#table.call(`start task ${jobId} ${taskId}`, async () => {
      // The running-task index entry first: a task RUNNING without one would escape the reaper.
      await this.#indexRunning(jobId, taskId, at);
      const out = await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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
    await this.#table.update(`PLAN#${planId}`, `TASK#${snapshotId}#${taskId}`, { jobId, taskId, ...patch });
  }

  async heartbeatTask(jobId: string, taskId: string, at: string): Promise<boolean> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#table.update(
      `PLAN#${planId}`,
      `TASK#${snapshotId}#${taskId}`,
      { heartbeatAt: at },
      '#status = :running',
      { ':running': 'RUNNING' },
      { '#status': 'status' },
    );
  }

  async listRunningTasks(): Promise<TaskRecord[]> {
    const entries = await this.#table.query<{ jobId: string; taskId: string; indexedAt?: string }>({
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
      for (const item of await this.#table.batchGet(chunk.map(keyOf))) {
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
    await this.#table.call('drop running-task index entries', async () => {
      for (const e of ended) {
        try {
          // Only the entry as read: a task started again meanwhile re-indexed itself (a later indexedAt).
          await this.#table.doc.send(
            new DeleteCommand({
              TableName: this.#table.name,
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
    await this.#table.call(`index task ${jobId} ${taskId}`, () => this.#indexRunning(jobId, taskId, at));
    const same =
      expectedRedrives === 0
        ? '(attribute_not_exists(redrives) OR redrives = :expected)'
        : 'redrives = :expected';
    try {
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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
    await this.#table.doc.send(
      new UpdateCommand({
        TableName: this.#table.name,
        Key: { pk: 'RUNNING', sk: `TASK#${jobId}#${taskId}` },
        UpdateExpression: 'SET jobId = :job, taskId = :task, indexedAt = :at',
        ExpressionAttributeValues: { ':job': jobId, ':task': taskId, ':at': at },
      }),
    );
  }

  async listTasks(jobId: string): Promise<TaskRecord[]> {
    const { planId, snapshotId } = splitJobId(jobId);
    return this.#table.query<TaskRecord>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': `TASK#${snapshotId}#` },
    });
  }
}
