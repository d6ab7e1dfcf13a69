/**
 * {@link JournalCatalog} on the catalog's table: a plan's journal entries, each under its
 * idempotency marker, by time (`JOURNAL#<planId>`) and by key (`JKEY#<planId>#<sha256(key)>`).
 */
import { journalEntryHash, sequencerSortKey } from '#domain/journal.ts';
import type { JournalCatalog } from '#domain/ports.ts';
import type { JournalEntry } from '#domain/records.ts';
import { contentIdOf } from '#domain/vault.ts';
import { splitOverflow } from '../item-size.ts';
import type { Table } from './table.ts';

export class DynamoDbJournalCatalog implements JournalCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
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
    await this.#table.putOverflow(`blobs of journal entry ${entry.key}`, [...byTime.chunks, ...byKey.chunks]);
    const cancelled = await this.#table.transact(`journal ${entry.key}`, [
      {
        Put: {
          TableName: this.#table.name,
          Item: { pk, sk: `E#${hash}`, capturedAt: entry.capturedAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      { Put: { TableName: this.#table.name, Item: byTime.item } },
      { Put: { TableName: this.#table.name, Item: byKey.item } },
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
    return this.#table.query<JournalEntry>({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': `JOURNAL#${planId}`, ':low': low, ':high': high },
    });
  }

  async listJournalForKey(planId: string, key: string): Promise<JournalEntry[]> {
    return this.#table.query<JournalEntry>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `JKEY#${planId}#${contentIdOf(key)}` },
    });
  }
}
