/**
 * {@link JournalCatalog} on the catalog's table: a plan's journal entries, each under its
 * idempotency marker, by time (`JOURNAL#<planId>`) and by key (`JKEY#<planId>#<sha256(key)>`).
 */

import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { journalEntryHash, sequencerSortKey } from '#domain/journal.ts';
import type { JournalCatalog } from '#domain/ports.ts';
import type { JournalEntry } from '#domain/records.ts';
import { compareKeys, contentIdOf } from '#domain/vault.ts';
import { splitOverflow } from '../item-size.ts';
import type { Table } from './table.ts';

/**
 * Bytes of a key that order its entry in the key-range index: hex-encoded (940 characters), with
 * `#` and the 64-digit hash, they keep the sort key under its 1,024 bytes. Longer keys sort by these
 * first bytes (a query over a range then holds every key in it, and is filtered exactly).
 */
const KEY_RANGE_BYTES = 470;

/** `key`'s first {@link KEY_RANGE_BYTES} UTF-8 bytes as lowercase hex: the same order as the keys'. */
function rangeHex(key: string): string {
  return Buffer.from(key, 'utf8').subarray(0, KEY_RANGE_BYTES).toString('hex');
}

/**
 * Sort key of an entry in the key-range index (`JRANGE#<planId>`): the key as {@link rangeHex}, `#`
 * (below every hex digit, so a key sorts before the keys it is a prefix of), the entry's hash.
 */
function keyRangeSk(key: string, hash: string): string {
  return `${rangeHex(key)}#${hash}`;
}

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
    const byRange = splitOverflow(
      { pk: `JRANGE#${entry.planId}`, sk: keyRangeSk(entry.key, hash), ...entry },
      'blobs',
    );
    await this.#table.putOverflow(`blobs of journal entry ${entry.key}`, [
      ...byTime.chunks,
      ...byKey.chunks,
      ...byRange.chunks,
    ]);
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
      { Put: { TableName: this.#table.name, Item: byRange.item } },
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

  async expireJournal(planId: string, capturedBefore: string): Promise<number> {
    const pk = `JOURNAL#${planId}`;
    // Every item by time below `C#<capturedBefore>` (entries, and their overflow items, whose sort
    // keys extend the entry's), a page at a time.
    const high = `C#${new Date(capturedBefore).toISOString()}`;
    let deleted = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.#table.call('expire journal', () =>
        this.#table.doc.send(
          new QueryCommand({
            TableName: this.#table.name,
            ConsistentRead: true,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
            ExpressionAttributeValues: { ':pk': pk, ':low': 'C#', ':high': high },
            ProjectionExpression: 'sk, #key, sequencer, chunkOf',
            ExpressionAttributeNames: { '#key': 'key' },
            Limit: 500,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      // The items by time go last, in a request of their own: a run that fails midway leaves each
      // entry findable by time, so the next run deletes the rest of it.
      const others: { pk: string; sk: string }[] = [];
      const byTime: { pk: string; sk: string }[] = [];
      for (const item of page.Items ?? []) {
        const sk = String(item.sk);
        byTime.push({ pk, sk });
        if (item.chunkOf !== undefined) continue; // an overflow item of an entry in this range
        const byKey = `JKEY#${planId}#${contentIdOf(String(item.key))}`;
        const bySequencer = sequencerSortKey(String(item.sequencer));
        const hash = sk.slice(sk.lastIndexOf('#') + 1);
        const byRange = { pk: `JRANGE#${planId}`, sk: keyRangeSk(String(item.key), hash) };
        for (const chunk of [
          ...(await this.#table.overflowOf(byKey, bySequencer)).map((c) => ({ pk: byKey, sk: String(c.sk) })),
          ...(await this.#table.overflowOf(byRange.pk, byRange.sk)).map((c) => ({
            pk: byRange.pk,
            sk: String(c.sk),
          })),
        ]) {
          others.push(chunk);
        }
        others.push({ pk: byKey, sk: bySequencer }, byRange, { pk, sk: `E#${hash}` });
        deleted += 1;
      }
      const remove = (keys: { pk: string; sk: string }[]) =>
        this.#table.batchWrite(
          `expire journal of ${planId}`,
          keys.map((Key) => ({ DeleteRequest: { Key } })),
        );
      await remove(others);
      await remove(byTime);
      start = page.LastEvaluatedKey;
    } while (start);
    return deleted;
  }

  async listJournalInRange(
    planId: string,
    range: { after?: string; upTo?: string },
    window: { capturedAfter?: string; capturedUntil?: string } = {},
  ): Promise<JournalEntry[]> {
    // The sort keys' order is the keys' order with keys cut to KEY_RANGE_BYTES, so this query holds
    // every key in the range (and maybe a few long keys beside it), then filtered exactly.
    const low = range.after === undefined ? '!' : rangeHex(range.after); // '!' is below every sort key
    const high = range.upTo === undefined ? '~' : `${rangeHex(range.upTo)}~`;
    const iso = (t: string) => new Date(t).toISOString();
    const after = window.capturedAfter === undefined ? undefined : iso(window.capturedAfter);
    const until = window.capturedUntil === undefined ? undefined : iso(window.capturedUntil);
    const entries = await this.#table.query<JournalEntry>({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: {
        ':pk': `JRANGE#${planId}`,
        ':low': low,
        ':high': high,
        ...(after === undefined ? {} : { ':after': after }),
        ...(until === undefined ? {} : { ':until': until }),
      },
      ...(after === undefined && until === undefined
        ? {}
        : {
            FilterExpression: [
              ...(after === undefined ? [] : ['capturedAt > :after']),
              ...(until === undefined ? [] : ['capturedAt <= :until']),
            ].join(' AND '),
          }),
    });
    const order = (e: JournalEntry) => `${e.capturedAt}#${journalEntryHash(e)}`;
    return entries
      .filter(
        (e) =>
          (range.after === undefined || compareKeys(e.key, range.after) > 0) &&
          (range.upTo === undefined || compareKeys(e.key, range.upTo) <= 0),
      )
      .sort((a, b) => compareKeys(a.key, b.key) || (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  }

  async listJournalForKey(planId: string, key: string): Promise<JournalEntry[]> {
    return this.#table.query<JournalEntry>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `JKEY#${planId}#${contentIdOf(key)}` },
    });
  }
}
