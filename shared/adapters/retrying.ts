/**
 * What cuts across the ports, as decorators (after restic's `backend/retry` and Kopia's
 * `blob/retrying` and `blob/logging` wrappers): the one retry mechanism of Strongbox,
 * {@link withRetry}, and decorators that run every call of a port through it
 * ({@link retryingVaultStore}, {@link retryingObjectStore}, {@link retryingCatalog}). The other
 * decorators have their own modules: `loggingPort` (./logging-port.ts) logs the calls that fail,
 * `meteredPort` (./metered-port.ts) counts and times them; ./decorate.ts is their shared Proxy.
 *
 * {@link withRetry} implements the domain's `Retry` (#domain/retry-policy.ts) on p-retry, which runs the
 * attempts, counts them and asks whether to go on. The waits are this module's: p-retry randomizes a
 * wait by [1, 2)× rather than full jitter and waits on its own timer, so it is told to wait 0 ms and
 * each attempt after the first begins by sleeping the policy's delay through an injectable `sleep`
 * (tests run instantly). Every failure reaches the policy's `retryIf` as it was thrown: p-retry alone
 * would never retry a `TypeError`, nor a thrown non-Error.
 *
 * Who classifies: the decorators retry what the domain marks retryable (`isRetryable`); a loop with
 * its own semantics (S3's 503 SlowDown, DynamoDB's unprocessed items, a torn read) passes its own
 * `retryIf` and keeps that classification where it is.
 */
import pRetry from 'p-retry';
import { isRetryable } from '#domain/errors.ts';
import type { Catalog, ObjectStore, VaultStore } from '#domain/ports.ts';
import type { RetryPolicy } from '#domain/retry-policy.ts';
import { decorate } from './decorate.ts';

/** One retry about to happen: the failure, the attempt that failed (from 1) and the wait before the next. */
export interface RetryEvent {
  error: unknown;
  attempt: number;
  delayMs: number;
}

/** What the runtime adds to a domain {@link RetryPolicy}: the timer, the randomness, an observer. */
export interface RetryHooks {
  /** Waits between attempts. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) for the jitter. @default Math.random */
  random?: () => number;
  /** Told before each retry (logging, metrics). */
  onRetry?: (event: RetryEvent) => void;
}

/** A policy with its runtime hooks. */
export type RuntimeRetryPolicy = RetryPolicy & RetryHooks;

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The wait after attempt `attempt` (from 1) failed, before the total cap: up to
 * min(maxDelayMs, baseDelayMs × factor^(attempt−1)), all of it or a `random()` part of it.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * (policy.factor ?? 2) ** (attempt - 1));
  return policy.jitter === 'none' ? ceiling : random() * ceiling;
}

/** Carries what an attempt threw through p-retry, untouched (see the module comment). */
class AttemptFailed extends Error {
  readonly thrown: unknown;
  constructor(thrown: unknown) {
    super('attempt failed');
    this.thrown = thrown;
  }
}

/**
 * Run `fn` as `policy` says (see `RetryPolicy` in #domain/retry-policy.ts): retries the failures
 * `policy.retryIf` accepts (@default isRetryable), with jittered exponential backoff, at most
 * `maxAttempts` attempts and at most `maxTotalDelayMs` of waits in all.
 * @returns what the first successful attempt resolved to.
 * @throws the last failure, as `fn` threw it (retryable or not, as it says).
 * @example
 * ```ts
 * const body = await withRetry(() => vault.get(key), { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5_000 });
 * ```
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RuntimeRetryPolicy,
): Promise<T> {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be a whole number ≥ 1, not ${policy.maxAttempts}`);
  }
  const { sleep = sleepMs, random = Math.random, retryIf = isRetryable } = policy;
  const maxTotalDelayMs = policy.maxTotalDelayMs ?? Number.POSITIVE_INFINITY;
  let waited = 0;
  let next = 0;
  try {
    return await pRetry(
      async (attempt) => {
        if (next > 0) await sleep(next);
        try {
          return await fn(attempt);
        } catch (error) {
          throw new AttemptFailed(error);
        }
      },
      {
        retries: policy.maxAttempts - 1,
        minTimeout: 0, // p-retry waits nothing: the attempt sleeps (above)
        shouldRetry: ({ error, attemptNumber }) => {
          const thrown = (error as AttemptFailed).thrown;
          if (!retryIf(thrown, attemptNumber)) return false;
          const left = maxTotalDelayMs - waited;
          const ceiling = backoffDelay(policy, attemptNumber, () => 1);
          if (ceiling > 0 && left <= 0) return false; // the waits are spent
          const delay = Math.min(backoffDelay(policy, attemptNumber, random), left);
          waited += delay;
          next = delay;
          policy.onRetry?.({ error: thrown, attempt: attemptNumber, delayMs: delay });
          return true;
        },
      },
    );
  } catch (error) {
    throw error instanceof AttemptFailed ? error.thrown : error;
  }
}

/**
 * A port whose every asynchronous method runs through {@link withRetry} with `policy` (by default
 * retrying only what the domain marks retryable). Methods that return no promise — the listings'
 * async iterables, synchronous getters — and properties pass through untouched: a listing half
 * consumed cannot be restarted from here.
 */
export function retryingPort<T extends object>(port: T, policy: RuntimeRetryPolicy): T {
  return decorate(port, (method, args, first) =>
    withRetry((attempt) => (attempt === 1 ? first : method(...args)), policy),
  );
}

/**
 * A vault store that retries each call that fails retryably. A conditional put whose answer was lost
 * is retried like any other: the retry sees the object the first attempt wrote (`exists`), as a
 * redelivered task would.
 */
export function retryingVaultStore(store: VaultStore, policy: RuntimeRetryPolicy): VaultStore {
  return retryingPort(store, policy);
}

/** An object store that retries each call that fails retryably (see {@link retryingVaultStore}). */
export function retryingObjectStore(store: ObjectStore, policy: RuntimeRetryPolicy): ObjectStore {
  return retryingPort(store, policy);
}

/**
 * A catalog that retries each call that fails retryably. A conditional write whose answer was lost
 * is retried too, and may then report its condition failed: the answer a redelivery would get.
 */
export function retryingCatalog(catalog: Catalog, policy: RuntimeRetryPolicy): Catalog {
  return retryingPort(catalog, policy);
}
