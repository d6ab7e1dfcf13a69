/**
 * {@link SnapshotCatalog} on the catalog's table: snapshot records (`PLAN#<planId>` /
 * `SNAPSHOT#<snapshotId>`), their partition plans, partition summaries and partition checkpoints.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError, TransientError } from '#domain/errors.ts';
import type { SnapshotCatalog } from '#domain/ports.ts';
import type {
  LegalHold,
  ListingLeg,
  PartitionCheckpoint,
  PartitionPlan,
  PartitionSummary,
  RegionCopy,
  SnapshotRecord,
  SnapshotStatus,
} from '#domain/records.ts';
import type { PartRef } from '#domain/vault.ts';
import { splitOverflow } from '../item-size.ts';
import { withRetry } from '../retrying.ts';
import { chunksOf } from './checkpoint-chunks.ts';
import { catalogFailure } from './errors.ts';
import { checkpointSk, chunkSk, listingSk, partitionSk } from './keys.ts';
import type { Item, Table } from './table.ts';

export class DynamoDbSnapshotCatalog implements SnapshotCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async getSnapshot(planId: string, snapshotId: string): Promise<SnapshotRecord | undefined> {
    return this.#table.get<SnapshotRecord>(`PLAN#${planId}`, `SNAPSHOT#${snapshotId}`);
  }

  async listSnapshots(planId: string): Promise<SnapshotRecord[]> {
    return this.#table.query<SnapshotRecord>({
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
    return this.#table.update(
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
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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
    return this.#table.call(`set copy state of ${planId}/${snapshotId} in ${region}`, async () => {
      const out = await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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
    const overflow = await this.#table.overflowOf(`PLAN#${planId}`, `SNAPSHOT#${snapshotId}`);
    await this.#table.batchWrite(
      `delete overflow items of ${planId}/${snapshotId}`,
      overflow.map((c) => ({ DeleteRequest: { Key: { pk: c.pk, sk: c.sk } } })),
    );
    await this.#table.call('delete snapshot', () =>
      this.#table.doc.send(
        new DeleteCommand({
          TableName: this.#table.name,
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
    await this.#table.putOverflow(`partition plan of ${planId}/${snapshotId}`, split.chunks);
    const set = split.chunks.length > 0 ? '#overflow = :b' : 'partitionBoundaries = :b';
    try {
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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
      await this.#table.batchWrite(
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

  async putListingLeg(planId: string, snapshotId: string, leg: ListingLeg): Promise<boolean> {
    const pk = `PLAN#${planId}`;
    const sk = listingSk(snapshotId, leg.leg);
    const what = `listing leg ${leg.leg} of ${planId}/${snapshotId}`;
    // Many long boundaries go to overflow items first (keyed by their hash); the leg then names them.
    const split = splitOverflow({ pk, sk, ...leg }, 'partitionBoundaries');
    await this.#table.putOverflow(what, split.chunks);
    try {
      await this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
          Item: split.item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(what, error);
    }
  }

  async listListingLegs(planId: string, snapshotId: string): Promise<ListingLeg[]> {
    const legs = await this.#table.query<ListingLeg>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `PLAN#${planId}`, ':p': listingSk(snapshotId, undefined) },
    });
    return legs.sort((a, b) => a.leg - b.leg);
  }

  async completePartition(planId: string, snapshotId: string, summary: PartitionSummary) {
    const { item: summaryItem, chunks } = splitOverflow(
      { pk: `PLAN#${planId}`, sk: partitionSk(snapshotId, summary.partition), ...summary },
      'parts',
    );
    await this.#table.putOverflow(
      `parts of partition ${summary.partition} of ${planId}/${snapshotId}`,
      chunks,
    );
    const cancelled = await this.#table.transact(
      `complete partition ${summary.partition} of ${planId}/${snapshotId}`,
      [
        {
          Put: {
            TableName: this.#table.name,
            Item: summaryItem,
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Update: {
            TableName: this.#table.name,
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
    const items = await this.#table.query<PartitionSummary>({
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
      await this.#table.call(what, () =>
        this.#table.doc.send(
          new PutCommand({
            TableName: this.#table.name,
            Item: { pk, sk: chunkSk(head, token, i), parts: chunk },
          }),
        ),
      );
    }
    let previous: Item | undefined;
    try {
      const out = await this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
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
      const items = await this.#table.query<Item & { sk: string }>(
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
    const out = await this.#table.call(`reset partition ${partition} of ${planId}/${snapshotId}`, () =>
      this.#table.doc.send(
        new DeleteCommand({ TableName: this.#table.name, Key: { pk, sk: head }, ReturnValues: 'ALL_OLD' }),
      ),
    );
    if (out.Attributes) {
      await this.#deleteChunks(pk, head, String(out.Attributes.token), Number(out.Attributes.chunks ?? 0));
    }
    const cancelled = await this.#table.transact(`reset partition ${partition} of ${planId}/${snapshotId}`, [
      {
        Delete: {
          TableName: this.#table.name,
          Key: { pk, sk: partitionSk(snapshotId, partition) },
          ConditionExpression: 'attribute_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.#table.name,
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
      await this.#table.call(`delete checkpoint chunk ${head}`, () =>
        this.#table.doc.send(
          new DeleteCommand({ TableName: this.#table.name, Key: { pk, sk: chunkSk(head, token, i) } }),
        ),
      );
    }
  }
}
