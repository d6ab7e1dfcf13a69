/**
 * The catalog's table as the per-port classes share it: the document client and table name, and
 * the reads and writes they all use (gets and queries that join overflow items back, conditional
 * updates, transactions, batched writes and gets), each failure mapped by {@link catalogFailure}.
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
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { StrongboxError, TransientError } from '#domain/errors.ts';
import { isOverflowChunk, joinOverflow } from '../item-size.ts';
import { withRetry } from '../retrying.ts';
import { catalogFailure } from './errors.ts';

export type Item = Record<string, unknown>;

export function strip<T>(item: Item | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as T;
}

/** One DynamoDB table of the catalog, keys `pk`/`sk`. */
export class Table {
  readonly doc: DynamoDBDocumentClient;
  readonly name: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.name = tableName;
  }

  /** BatchWriteItem in batches of 25 (DynamoDB's limit), sending unprocessed items again with backoff. */
  async batchWrite(
    what: string,
    requests: NonNullable<BatchWriteCommandInput['RequestItems']>[string],
  ): Promise<void> {
    // 9 sends at most, 100 ms before the second, doubling; the SDK's own errors go to call.
    const policy = { maxAttempts: 9, baseDelayMs: 100, maxDelayMs: 12_800, jitter: 'none' } as const;
    await this.call(what, async () => {
      for (let i = 0; i < requests.length; i += 25) {
        let pending = requests.slice(i, i + 25);
        const send = async () => {
          const request = new BatchWriteCommand({ RequestItems: { [this.name]: pending } });
          pending = (await this.doc.send(request)).UnprocessedItems?.[this.name] ?? [];
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
  async transact(
    what: string,
    items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>,
  ): Promise<(string | undefined)[] | undefined> {
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return undefined;
    } catch (error) {
      const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
      if (!reasons.some((r) => r.Code === 'ConditionalCheckFailed')) {
        throw catalogFailure(what, error);
      }
      return reasons.map((r) => r.Code);
    }
  }

  async get<T>(pk: string, sk: string): Promise<T | undefined> {
    return this.call(`get ${pk} ${sk}`, async () => {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.name, Key: { pk, sk }, ConsistentRead: true }),
      );
      if (!out.Item?.overflow) return strip<T>(out.Item);
      return strip<T>(joinOverflow(out.Item, await this.overflowOf(pk, sk)));
    });
  }

  /** The overflow items of the item at `pk`/`sk` (see item-size.ts). */
  async overflowOf(pk: string, sk: string): Promise<Item[]> {
    return this.queryItems({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': pk, ':p': `${sk}#~` },
    });
  }

  /** Put overflow items (before the item naming them is written). */
  async putOverflow(what: string, chunks: readonly Item[]): Promise<void> {
    if (chunks.length === 0) return;
    await this.batchWrite(
      what,
      chunks.map((Item) => ({ PutRequest: { Item } })),
    );
  }

  /**
   * Query, with every item's long lists joined back from its overflow items (which a range query
   * returns right after the item; fetched when the range cut them off). `keepKeys` keeps `pk` and
   * `sk` on each.
   */
  async query<T>(
    input: Omit<QueryCommandInput, 'TableName'>,
    options: { keepKeys?: boolean } = {},
  ): Promise<T[]> {
    const finish = (item: Item): T => (options.keepKeys ? item : strip<T>(item)) as T;
    const raw = await this.queryItems(input);
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
      const found = mine.length >= expected ? mine : await this.overflowOf(String(item.pk), sk);
      joined.push(finish(joinOverflow(item, found)));
    }
    return joined;
  }

  async queryItems(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    return this.call('query', async () => {
      const items: Item[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.name,
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
  async update(
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
      await this.doc.send(
        new UpdateCommand({
          TableName: this.name,
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

  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StrongboxError) throw error;
      throw catalogFailure(what, error);
    }
  }

  /** Consistent BatchGetItem of up to 100 keys, retrying unprocessed keys. */
  async batchGet(keys: Item[]): Promise<Item[]> {
    return this.call('batch get', async () => {
      const items: Item[] = [];
      let pending: Item[] = keys;
      for (let round = 0; pending.length > 0; round++) {
        if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** round)));
        if (round > 8) throw new TransientError(`batch get: ${pending.length} keys left unprocessed`);
        const out = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.name]: { Keys: pending, ConsistentRead: true } } }),
        );
        items.push(...(out.Responses?.[this.name] ?? []));
        pending = (out.UnprocessedKeys?.[this.name]?.Keys as Item[] | undefined) ?? [];
      }
      return items;
    });
  }
}
