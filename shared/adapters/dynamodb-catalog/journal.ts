/**
 * {@link JournalCatalog} on the catalog's table: a plan's journal entries, each under its
 * idempotency marker, by time (`JOURNAL#<planId>`) and by key (`JKEY#<planId>#<sha256(key)>`).
 */

import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { compareSequencers, journalEntryHash, sequencerSortKey } from '#domain/journal.ts';
import type { JournalCatalog } from '#domain/ports.ts';
import type { JournalEntry } from '#domain/records.ts';
import { compareKeys, contentIdOf } from '#domain/vault.ts';
import { splitOverflow } from '../item-size.ts';
import type { Table } from './table.ts';

/**
 * Bytes of a key that order its entry in the key-range index: hex-encoded (860 characters), with
 * `#` and the 64-digit hash (1,005), and an overflow item's suffix (`#~blobs#<64 hex>#0000`, 77
 * more: an object of thousands of chunks), they keep every sort key under DynamoDB's 1,024 bytes.
 * Longer keys sort by these first bytes (a query over a range then holds every key in it, and is
 * filtered exactly).
 */
const KEY_RANGE_BYTES = 430;

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
    const cutoff = new Date(capturedBefore).toISOString();
    // Every item by time below `C#<cutoff>` (entries, and their overflow items, whose sort keys
    // extend the entry's), a page at a time.
    const high = `C#${cutoff}`;
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
      const expired = (page.Items ?? [])
        .filter((item) => item.chunkOf === undefined)
        .map((item) => ({ key: String(item.key), sequencer: String(item.sequencer), sk: String(item.sk) }));
      // First the entries an expiring one supersedes (its key's lower sequencers, captured later):
      // without the newer entry, a reader could no longer tell them for the late captures they are.
      const newest = new Map<string, string>();
      for (const e of expired) {
        const seen = newest.get(e.key);
        if (seen === undefined || compareSequencers(e.sequencer, seen) > 0) newest.set(e.key, e.sequencer);
      }
      for (const [key, sequencer] of newest) {
        for (const old of await this.listJournalForKey(planId, key)) {
          if (compareSequencers(old.sequencer, sequencer) >= 0 || old.capturedAt < cutoff) continue;
          await this.#removeEntry(
            planId,
            old.key,
            old.sequencer,
            `C#${old.capturedAt}#${journalEntryHash(old)}`,
            'by key',
          );
          deleted += 1;
        }
      }
      for (const e of expired) {
        await this.#removeEntry(planId, e.key, e.sequencer, e.sk, 'by time');
        deleted += 1;
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return deleted;
  }

  /**
   * Delete one entry's items and their overflow items. The item the caller found it by goes last
   * (`by`), in a request of its own: a run that fails midway leaves the entry findable the same way,
   * so the next run deletes the rest of it.
   */
  async #removeEntry(
    planId: string,
    key: string,
    sequencer: string,
    byTimeSk: string,
    by: 'by time' | 'by key',
  ) {
    const pk = `JOURNAL#${planId}`;
    const hash = byTimeSk.slice(byTimeSk.lastIndexOf('#') + 1);
    const items = {
      byTime: { pk, sk: byTimeSk },
      byKey: { pk: `JKEY#${planId}#${contentIdOf(key)}`, sk: sequencerSortKey(sequencer) },
      byRange: { pk: `JRANGE#${planId}`, sk: keyRangeSk(key, hash) },
      marker: { pk, sk: `E#${hash}` },
    };
    const withOverflow = async (item: { pk: string; sk: string }) => [
      ...(await this.#table.overflowOf(item.pk, item.sk)).map((c) => ({ pk: item.pk, sk: String(c.sk) })),
      item,
    ];
    const last = by === 'by time' ? items.byTime : items.byKey;
    const first = [items.byTime, items.byKey, items.byRange, items.marker].filter((i) => i !== last);
    const remove = (keys: { pk: string; sk: string }[]) =>
      this.#table.batchWrite(
        `expire journal entry ${key} of ${planId}`,
        keys.map((Key) => ({ DeleteRequest: { Key } })),
      );
    await remove((await Promise.all(first.map(withOverflow))).flat());
    await remove(await withOverflow(last));
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
