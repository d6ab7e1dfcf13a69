/**
 * {@link RestoreJobCatalog} on the catalog's table: restore jobs (`RESTORE` / `JOB#<restoreJobId>`)
 * and their parts' done markers (`RESTORE#<restoreJobId>` / `PART#<part>`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { NotFoundError } from '#domain/errors.ts';
import type { RestoreJobCatalog } from '#domain/ports.ts';
import type { RestoreJobRecord, RestorePartCounts } from '#domain/records.ts';
import { catalogFailure } from './errors.ts';
import { strip, type Table } from './table.ts';

export class DynamoDbRestoreJobCatalog implements RestoreJobCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async createRestoreJob(job: RestoreJobRecord): Promise<boolean> {
    try {
      await this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
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
    return this.#table.get<RestoreJobRecord>('RESTORE', `JOB#${restoreJobId}`);
  }

  async listRestoreJobs(limit = 20): Promise<RestoreJobRecord[]> {
    return this.#table.call('list restore jobs', async () => {
      const out = await this.#table.doc.send(
        new QueryCommand({
          TableName: this.#table.name,
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
    const cancelled = await this.#table.transact(`complete part ${part} of ${restoreJobId}`, [
      {
        Put: {
          TableName: this.#table.name,
          Item: { pk: `RESTORE#${restoreJobId}`, sk: `PART#${part}`, doneAt: at, ...counts },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.#table.name,
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
    const markers = await this.#table.query<{ sk: string }>(
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
    return this.#table.update(
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
    return this.#table.update(
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
    return this.#table.update(
      'RESTORE',
      `JOB#${restoreJobId}`,
      { status: end.status, updatedAt: end.at, finishedAt: end.at, error: end.error },
      end.status === 'SUCCEEDED' ? '#status = :running AND partsDone = partsTotal' : '#status = :running',
      { ':running': 'RUNNING' },
      { '#status': 'status' },
    );
  }
}
