/**
 * Retrying, as the domain sees it: a {@link RetryPolicy} says how an operation is tried again, a
 * {@link Retry} runs it. The domain never waits on a timer: `Retry` is injected
 * (`PipelineDeps.retry`), implemented on a backoff library by shared/adapters/retrying.ts.
 */

/**
 * How a failed operation is tried again (see {@link Retry}). At most `maxAttempts` attempts, the
 * first included. Before attempt n+1 it waits up to min(`maxDelayMs`, `baseDelayMs` × `factor`^(n−1))
 * milliseconds: a uniformly random part of it (`jitter: 'full'`) or all of it (`'none'`). The waits
 * add up to at most `maxTotalDelayMs`: the last is cut short to fit, and once they reach it no retry
 * that would wait is made. Zero delays re-attempt at once (a re-read, not a backoff).
 */
export interface RetryPolicy {
  /** Attempts in all, ≥ 1. */
  maxAttempts: number;
  /** Ceiling of the first wait, in milliseconds. */
  baseDelayMs: number;
  /** Ceiling of any one wait, in milliseconds. */
  maxDelayMs: number;
  /** Growth of the ceiling per attempt. @default 2 */
  factor?: number;
  /** Ceiling of all the waits together, in milliseconds. @default Infinity */
  maxTotalDelayMs?: number;
  /** @default 'full' */
  jitter?: 'full' | 'none';
  /** Which failures are tried again (`attempt` is the one that failed, from 1). @default isRetryable (errors.ts) */
  retryIf?: (error: unknown, attempt: number) => boolean;
}

/**
 * Runs `attempt(1)`, and again (`attempt(2)`, …) after each failure `policy` retries; resolves with
 * the first success, rejects with the last failure as it was thrown. Implemented outside the domain
 * (shared/adapters/retrying.ts) and injected as `PipelineDeps.retry`, so the domain waits on no timer.
 */
export type Retry = <T>(attempt: (attempt: number) => Promise<T>, policy: RetryPolicy) => Promise<T>;
