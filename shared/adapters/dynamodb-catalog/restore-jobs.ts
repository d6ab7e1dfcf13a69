/**
 * {@link RestoreJobCatalog} on the catalog's table: restore jobs (`RESTORE` / `JOB#<restoreJobId>`)
 * their slices' done markers (`RESTORE#<restoreJobId>` / `PART#<slice>`), and the entries per slice
 * of a job whose slices were cut by bytes (`RESTORE#<restoreJobId>` / `SLICES`), and the keys of
 * each slice of a restore of listed keys (`RESTORE#<restoreJobId>` / `KEYS#<slice>`).
 *
 * Slices were called parts before; what is stored keeps the old names, so a job in flight across the
 * upgrade reads and counts the same: the markers' `PART#` sort keys, and the job's `partsTotal`,
 * `partsDone` and `partSize` attributes, which {@link toItem} and {@link fromItem} map to and from
 * the record's `slicesTotal`, `slicesDone` and `sliceSize`.
 * @see ../../../docs/format.md#catalog
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { NotFoundError } from '#domain/errors.ts';
import type { RestoreJobCatalog } from '#domain/ports.ts';
import type { RestoreJobRecord, RestoreSliceCounts } from '#domain/records.ts';
import { catalogFailure } from './errors.ts';
import { strip, type Table } from './table.ts';

/** A restore job as stored: its slice counters under their old names. */
type StoredRestoreJob = Omit<RestoreJobRecord, 'slicesTotal' | 'slicesDone' | 'sliceSize'> & {
  partsTotal: number;
  partsDone: number;
  partSize: number;
};

/** The attributes a restore job is stored with (its slice counters under their old names). */
function toItem(job: RestoreJobRecord): StoredRestoreJob {
  const { slicesTotal, slicesDone, sliceSize, ...rest } = job;
  return { ...rest, partsTotal: slicesTotal, partsDone: slicesDone, partSize: sliceSize };
}

/** The record of a stored restore job (keys stripped). */
function fromItem(item: StoredRestoreJob): RestoreJobRecord {
  const { partsTotal, partsDone, partSize, ...rest } = item;
  return { ...rest, slicesTotal: partsTotal, slicesDone: partsDone, sliceSize: partSize };
}

export class DynamoDbRestoreJobCatalog implements RestoreJobCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async createRestoreJob(job: RestoreJobRecord, sliceCounts?: readonly number[]): Promise<boolean> {
    if (sliceCounts) {
      // First, and apart from the job (which every slice updates): the same job id is the same
      // request in the same second, so a second start writes the same counts.
      await this.#table.call(`store the slices of restore job ${job.restoreJobId}`, () =>
        this.#table.doc.send(
          new PutCommand({
            TableName: this.#table.name,
            Item: { pk: `RESTORE#${job.restoreJobId}`, sk: 'SLICES', counts: [...sliceCounts] },
          }),
        ),
      );
    }
    try {
      await this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
          Item: { pk: 'RESTORE', sk: `JOB#${job.restoreJobId}`, ...toItem(job) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`create restore job ${job.restoreJobId}`, error);
    }
  }

  async getRestoreSliceCounts(restoreJobId: string): Promise<number[] | undefined> {
    const item = await this.#table.get<{ counts: number[] }>(`RESTORE#${restoreJobId}`, 'SLICES');
    return item?.counts;
  }

  async putRestoreSliceKeys(restoreJobId: string, slice: number, keys: readonly string[]): Promise<void> {
    await this.#table.call(`store the keys of slice ${slice} of restore job ${restoreJobId}`, () =>
      this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
          Item: { pk: `RESTORE#${restoreJobId}`, sk: `KEYS#${slice}`, keys: [...keys] },
        }),
      ),
    );
  }

  async getRestoreSliceKeys(restoreJobId: string, slice: number): Promise<string[] | undefined> {
    const item = await this.#table.get<{ keys: string[] }>(`RESTORE#${restoreJobId}`, `KEYS#${slice}`);
    return item?.keys;
  }

  async getRestoreJob(restoreJobId: string): Promise<RestoreJobRecord | undefined> {
    const item = await this.#table.get<StoredRestoreJob>('RESTORE', `JOB#${restoreJobId}`);
    return item && fromItem(item);
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
      return (out.Items ?? []).map((item) => fromItem(strip<StoredRestoreJob>(item) as StoredRestoreJob));
    });
  }

  async completeRestoreSlice(
    restoreJobId: string,
    slice: number,
    counts: RestoreSliceCounts,
    at: string,
  ): Promise<{ counted: boolean; job: RestoreJobRecord }> {
    const cancelled = await this.#table.transact(`complete slice ${slice} of ${restoreJobId}`, [
      {
        Put: {
          TableName: this.#table.name,
          Item: { pk: `RESTORE#${restoreJobId}`, sk: `PART#${slice}`, doneAt: at, ...counts },
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

  async listRestoreSlicesDone(restoreJobId: string): Promise<number[]> {
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
