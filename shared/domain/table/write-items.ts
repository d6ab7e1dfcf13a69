/**
 * Writing items into a table, as a restore does: `BatchWriteItem` in batches of 25 with the
 * `UnprocessedItems` sent again after a backoff, or one conditional `PutItem` per item (write only
 * where no item has the key); batches in flight bounded by an {@link AdaptiveConcurrency}.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 */

import { isRetryable } from '../errors.ts';
import type { Item } from './item.ts';
import type { TableStore, TableWrite } from './ports.ts';
import { AdaptiveConcurrency, backoffMs } from './throttle.ts';

/** Writes per `BatchWriteItem` call, at most (DynamoDB's limit). */
export const BATCH_WRITE_MAX = 25;

/** How items are written. */
export type ItemWriteMode =
  /** BatchWriteItem puts: an item with the key is replaced. */
  | 'batch'
  /** PutItem with `attribute_not_exists` on the key: an item with the key is kept (skipped). */
  | 'ifAbsent';

export interface ItemWriterOptions {
  mode: ItemWriteMode;
  /** Waits between attempts (injected: no timers in the domain's tests). */
  sleep: (ms: number) => Promise<void>;
  /** A number in [0, 1), for the jitter. @default Math.random */
  random?: () => number;
  /** Batches in flight at most; the adaptive limit starts at a quarter of it. @default 16 */
  maxConcurrency?: number;
  /** Attempts per batch (the first included) before its remaining items count as failed. @default 12 */
  maxAttempts?: number;
  /** Called after each batch with the running totals. */
  onProgress?: (outcome: Readonly<ItemWriteOutcome>) => void;
}

/** What a writer did. */
export interface ItemWriteOutcome {
  written: number;
  /** Items kept because the table held an item with their key (`ifAbsent`). */
  skipped: number;
  /** Items not written: attempts exhausted, or a non-retryable error. */
  failed: number;
  /** Attempts that were throttled or left items unprocessed. */
  throttled: number;
  /** The first 10 errors' messages. */
  errors: string[];
}

const ERROR_LIST_LIMIT = 10;

/**
 * Buffers items and writes them in batches of {@link BATCH_WRITE_MAX}. `add` waits while the
 * adaptive limit of batches is in flight (so a caller streaming a huge table holds at most
 * `maxConcurrency + 1` batches); `finish` writes the last batch and waits for all.
 * Never throws for a write: a batch whose items fail is counted (`failed`) and its error listed.
 * @example
 * ```ts
 * const writer = new TableItemWriter(store, 'orders-restored', { mode: 'batch', sleep });
 * for await (const item of items) await writer.add(item);
 * const { written, failed } = await writer.finish();
 * ```
 */
export class TableItemWriter {
  readonly outcome: ItemWriteOutcome = { written: 0, skipped: 0, failed: 0, throttled: 0, errors: [] };
  readonly concurrency: AdaptiveConcurrency;
  readonly #store: TableStore;
  readonly #table: string;
  readonly #options: ItemWriterOptions;
  readonly #random: () => number;
  readonly #maxAttempts: number;
  #batch: Item[] = [];
  readonly #pending = new Set<Promise<void>>();

  constructor(store: TableStore, tableName: string, options: ItemWriterOptions) {
    this.#store = store;
    this.#table = tableName;
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#maxAttempts = options.maxAttempts ?? 12;
    const max = Math.max(1, options.maxConcurrency ?? 16);
    this.concurrency = new AdaptiveConcurrency({ initial: Math.max(1, Math.ceil(max / 4)), max });
  }

  /** Add an item; sends a batch once 25 are buffered (waiting for a slot first). */
  async add(item: Item): Promise<void> {
    this.#batch.push(item);
    if (this.#batch.length >= BATCH_WRITE_MAX) await this.#dispatch();
  }

  /** Send what is buffered and wait for every batch. */
  async finish(): Promise<ItemWriteOutcome> {
    if (this.#batch.length > 0) await this.#dispatch();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    return this.outcome;
  }

  async #dispatch(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    await this.concurrency.acquire();
    const run = this.#write(batch).finally(() => {
      this.concurrency.release();
      this.#pending.delete(run);
    });
    this.#pending.add(run);
  }

  #fail(count: number, error: unknown): void {
    this.outcome.failed += count;
    if (this.outcome.errors.length < ERROR_LIST_LIMIT)
      this.outcome.errors.push(error instanceof Error ? error.message : String(error));
  }

  async #write(items: Item[]): Promise<void> {
    if (this.#options.mode === 'ifAbsent') await Promise.all(items.map((item) => this.#putIfAbsent(item)));
    else await this.#batchWrite(items.map((put): TableWrite => ({ put })));
    this.#options.onProgress?.(this.outcome);
  }

  /** Wait before attempt `attempt + 1`, after a throttled one. */
  async #backoff(attempt: number): Promise<void> {
    this.outcome.throttled += 1;
    this.concurrency.throttled();
    await this.#options.sleep(backoffMs(attempt, this.#random));
  }

  async #batchWrite(writes: TableWrite[]): Promise<void> {
    let left = writes;
    for (let attempt = 1; ; attempt++) {
      let unprocessed: TableWrite[];
      try {
        unprocessed = await this.#store.batchWrite(this.#table, left);
      } catch (error) {
        if (!isRetryable(error) || attempt >= this.#maxAttempts) return this.#fail(left.length, error);
        await this.#backoff(attempt);
        continue;
      }
      this.outcome.written += left.length - unprocessed.length;
      if (unprocessed.length === 0) {
        this.concurrency.succeeded();
        return;
      }
      if (attempt >= this.#maxAttempts) {
        return this.#fail(
          unprocessed.length,
          `${unprocessed.length} item(s) still unprocessed after ${attempt} attempts`,
        );
      }
      left = unprocessed;
      await this.#backoff(attempt);
    }
  }

  async #putIfAbsent(item: Item): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const done = await this.#store.putItem(this.#table, item, { ifAbsent: true });
        if (done === 'exists') this.outcome.skipped += 1;
        else this.outcome.written += 1;
        this.concurrency.succeeded();
        return;
      } catch (error) {
        if (!isRetryable(error) || attempt >= this.#maxAttempts) return this.#fail(1, error);
        await this.#backoff(attempt);
      }
    }
  }
}
