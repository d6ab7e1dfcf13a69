/**
 * Adaptive throttling of table writes: how many `BatchWriteItem` calls a restore keeps in flight
 * (AIMD, as TCP's congestion control: halve on throttling, grow by one per window of successes), and
 * the wait before sending unprocessed items again (exponential backoff with full jitter).
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */

/**
 * A concurrency limit that adapts to throttling (additive increase, multiplicative decrease).
 * `acquire` waits for a slot under the current limit, `release` frees it; `throttled` halves the
 * limit (at least `min`), `succeeded` adds `1 / limit` (one more slot per `limit` successes, at most
 * `max`). Calls in flight above a lowered limit finish; no new one starts until below it.
 * @example
 * ```ts
 * const aimd = new AdaptiveConcurrency({ initial: 4, min: 1, max: 16 });
 * await aimd.acquire(); try { … aimd.succeeded(); } finally { aimd.release(); }
 * ```
 */
export class AdaptiveConcurrency {
  readonly min: number;
  readonly max: number;
  #limit: number;
  #inFlight = 0;
  #waiting: (() => void)[] = [];
  /** How many times the limit was lowered. */
  decreases = 0;

  constructor(options: { initial: number; min?: number; max: number }) {
    this.min = Math.max(1, options.min ?? 1);
    this.max = Math.max(this.min, options.max);
    this.#limit = Math.min(this.max, Math.max(this.min, options.initial));
  }

  /** The current limit, a whole number of concurrent calls. */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Wait for a slot under the current limit, and take it. */
  async acquire(): Promise<void> {
    while (this.#inFlight >= this.limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight += 1;
  }

  /** Free a slot taken by {@link acquire}. */
  release(): void {
    this.#inFlight -= 1;
    this.#wake();
  }

  /** A call was throttled (or left items unprocessed): halve the limit. */
  throttled(): void {
    this.#limit = Math.max(this.min, this.#limit / 2);
    this.decreases += 1;
  }

  /** A call went through whole: grow the limit by `1 / limit`. */
  succeeded(): void {
    this.#limit = Math.min(this.max, this.#limit + 1 / Math.max(1, this.#limit));
    this.#wake();
  }

  #wake(): void {
    // Each one woken checks the limit again before it takes its slot.
    const free = this.limit - this.#inFlight;
    if (free > 0) for (const resolve of this.#waiting.splice(0, free)) resolve();
  }
}

/**
 * Milliseconds to wait before attempt `attempt` (1 for the first retry): full jitter, a random
 * point in `[0, min(capMs, baseMs × 2^(attempt-1)))`.
 * @param random a number in [0, 1) (injected: `Math.random` in production, fixed in tests).
 */
export function backoffMs(attempt: number, random: () => number, baseMs = 50, capMs = 5000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
