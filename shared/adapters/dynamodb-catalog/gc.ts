/**
 * {@link GcCatalog} on the catalog's table: a vault's GC marks (`GC#<vault bucket>` / `PACK#<packId>`)
 * and its lease item (`LEASE`), which also carries the copies' holds.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TransientError } from '#domain/errors.ts';
import type { GcCatalog } from '#domain/ports.ts';
import type { GcMark } from '#domain/records.ts';
import { catalogFailure } from './errors.ts';
import type { Item, Table } from './table.ts';

/** Attribute name prefix of a hold on the lease item of a vault (`copy:<holder>` = until; named when copies were the only holders, kept so holds written by an older release still count). */
const COPY_HOLD_PREFIX = 'copy:';

export class DynamoDbGcCatalog implements GcCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async putGcMarks(vault: string, marks: readonly GcMark[]): Promise<void> {
    await this.#table.batchWrite(
      `put GC marks of ${vault}`,
      marks.map((m) => ({
        PutRequest: {
          Item: { pk: `GC#${vault}`, sk: `PACK#${m.packId}`, packId: m.packId, markedAt: m.markedAt },
        },
      })),
    );
  }

  async listGcMarks(vault: string): Promise<GcMark[]> {
    const items = await this.#table.query<GcMark>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
      ExpressionAttributeValues: { ':pk': `GC#${vault}`, ':sk': 'PACK#' },
    });
    return items.map((m) => ({ packId: m.packId, markedAt: m.markedAt }));
  }

  async deleteGcMarks(vault: string, packIds: readonly string[]): Promise<void> {
    await this.#table.batchWrite(
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
    const item = await this.#table.get<Item>(`GC#${vault}`, 'LEASE');
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
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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

  async releaseGcLease(vault: string, owner: string, completedAt?: string): Promise<void> {
    try {
      // REMOVE, not DeleteItem: the item also carries the copies' holds (and the last completed run).
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
          Key: { pk: `GC#${vault}`, sk: 'LEASE' },
          UpdateExpression: `${completedAt ? 'SET #completedAt = :completedAt ' : ''}REMOVE #owner, #until`,
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: {
            '#owner': 'owner',
            '#until': 'until',
            ...(completedAt ? { '#completedAt': 'completedAt' } : {}),
          },
          ExpressionAttributeValues: {
            ':owner': owner,
            ...(completedAt ? { ':completedAt': completedAt } : {}),
          },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw catalogFailure(`release GC lease of ${vault}`, error);
    }
  }

  async lastGcCompletedAt(vault: string): Promise<string | undefined> {
    const item = await this.#table.get<Item>(`GC#${vault}`, 'LEASE');
    return typeof item?.completedAt === 'string' ? item.completedAt : undefined;
  }

  async acquireVaultHold(vault: string, holder: string, now: string, until: string): Promise<boolean> {
    try {
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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

  async releaseVaultHold(vault: string, holder: string): Promise<void> {
    try {
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
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
}
