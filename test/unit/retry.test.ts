// The one retry mechanism (shared/adapters/retrying.ts) and the port decorators built on it. A fake
// sleep records the waits instead of waiting them, so nothing here takes time.
import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import { loggingPort, type WarnLogger } from '#adapters/logging-port.ts';
import {
  backoffDelay,
  type RetryEvent,
  type RuntimeRetryPolicy,
  retryingVaultStore,
  withRetry,
} from '#adapters/retrying.ts';
import { ConflictError, NotFoundError, TransientError } from '#domain/errors.ts';
import type { Retry } from '#domain/retry-policy.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

/** A policy whose waits are recorded in `waits`, not waited. */
function recorded(policy: Omit<RuntimeRetryPolicy, 'sleep'>) {
  const waits: number[] = [];
  const sleep = async (ms: number) => {
    waits.push(ms);
  };
  return { policy: { ...policy, sleep }, waits };
}

/** An operation failing with `errors` in turn, then resolving 'ok'; counts its attempts. */
function failing(...errors: unknown[]) {
  const seen: number[] = [];
  const fn = async (attempt: number) => {
    seen.push(attempt);
    if (errors.length > 0) throw errors.shift();
    return 'ok';
  };
  return { fn, seen };
}

const STEADY = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 10_000, jitter: 'none' } as const;

describe('withRetry', () => {
  it('retries retryable failures and resolves with the first success, numbering the attempts', async () => {
    const { policy, waits } = recorded(STEADY);
    const { fn, seen } = failing(new TransientError('slow down'), new Error('socket hang up'));
    await expect(withRetry(fn, policy)).resolves.toBe('ok');
    expect(seen).toEqual([1, 2, 3]);
    expect(waits).toEqual([100, 200]);
  });

  it('retries up to maxAttempts, then throws the last failure as it was thrown', async () => {
    const { policy } = recorded(STEADY);
    const last = new TransientError('fifth');
    const { fn, seen } = failing(...[1, 2, 3, 4].map((n) => new TransientError(`#${n}`)), last, 'never');
    await expect(withRetry(fn, policy)).rejects.toBe(last);
    expect(seen).toHaveLength(5);
  });

  it('never retries what the domain marks not retryable', async () => {
    for (const error of [new ConflictError('lost a race'), new NotFoundError('gone')]) {
      const { policy, waits } = recorded(STEADY);
      const { fn, seen } = failing(error);
      await expect(withRetry(fn, policy)).rejects.toBe(error);
      expect(seen).toEqual([1]);
      expect(waits).toEqual([]);
    }
  });

  it('retries any other thrown value, a TypeError and a non-Error included (p-retry alone would not)', async () => {
    const { policy } = recorded(STEADY);
    const { fn, seen } = failing(new TypeError('fetch failed'), 'a string');
    await expect(withRetry(fn, policy)).resolves.toBe('ok');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('grows the backoff exponentially up to maxDelayMs', async () => {
    const { policy, waits } = recorded({ ...STEADY, maxAttempts: 7, maxDelayMs: 1_000 });
    const { fn } = failing(...Array.from({ length: 6 }, () => new TransientError('busy')));
    await withRetry(fn, policy);
    expect(waits).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('with full jitter, waits a random part of each ceiling', async () => {
    const { policy, waits } = recorded({ ...STEADY, jitter: 'full', random: () => 0.25 });
    const { fn } = failing(new TransientError('a'), new TransientError('b'), new TransientError('c'));
    await withRetry(fn, policy);
    expect(waits).toEqual([25, 50, 100]);
    expect(backoffDelay({ ...STEADY, jitter: 'full' }, 4, () => 0.999)).toBeLessThan(800);
  });

  it('caps the waits in all at maxTotalDelayMs: the last is cut short, then it gives up', async () => {
    const { policy, waits } = recorded({ ...STEADY, maxAttempts: 10, maxTotalDelayMs: 650 });
    const errors = Array.from({ length: 9 }, (_, i) => new TransientError(`#${i + 1}`));
    const { fn, seen } = failing(...errors);
    await expect(withRetry(fn, policy)).rejects.toBe(errors[3]);
    expect(waits).toEqual([100, 200, 350]);
    expect(seen).toHaveLength(4);
  });

  it('re-attempts at once under a zero-delay policy, retrying only what retryIf accepts', async () => {
    const { policy, waits } = recorded({
      maxAttempts: 3,
      baseDelayMs: 0,
      maxDelayMs: 0,
      retryIf: (error) => error instanceof ConflictError,
    });
    const changed = failing(new ConflictError('changed'), new ConflictError('changed again'));
    await expect(withRetry(changed.fn, policy)).resolves.toBe('ok');
    expect(changed.seen).toEqual([1, 2, 3]);
    const transient = new TransientError('not ours to retry');
    await expect(withRetry(failing(transient).fn, policy)).rejects.toBe(transient);
    expect(waits).toEqual([]);
  });

  it('tells onRetry about each retry, and is the domain Retry', async () => {
    const events: RetryEvent[] = [];
    const { policy } = recorded({ ...STEADY, onRetry: (e) => events.push(e) });
    const error = new TransientError('once');
    const retry: Retry = withRetry;
    await retry(failing(error).fn, policy);
    expect(events).toEqual([{ error, attempt: 1, delayMs: 100 }]);
  });

  it('refuses a policy without an attempt', async () => {
    await expect(withRetry(async () => 1, { ...STEADY, maxAttempts: 0 })).rejects.toBeInstanceOf(RangeError);
  });
});

describe('port decorators', () => {
  const clock = new ManualClock();

  it('retryingVaultStore retries a call that failed retryably, through the store itself', async () => {
    const store = new MemoryVaultStore('us-east-1', 'vault', clock);
    await store.put('k', Buffer.from('v'));
    store.faults.push({ op: 'get', onCall: 1 }, { op: 'get', onCall: 1 }); // calls 1 and 2 fail
    const { policy, waits } = recorded(STEADY);
    const vault = retryingVaultStore(store, policy);
    expect(Buffer.from(await vault.get('k')).toString()).toBe('v');
    expect(store.calls.get).toBe(3);
    expect(waits).toEqual([100, 200]);
    expect(vault.bucket).toBe('vault'); // properties pass through
  });

  it('retryingVaultStore leaves failures that are not retryable, and listings, alone', async () => {
    const store = new MemoryVaultStore('us-east-1', 'vault', clock);
    await store.put('a/1', Buffer.from('1'));
    const vault = retryingVaultStore(store, recorded(STEADY).policy);
    await expect(vault.get('missing')).rejects.toBeInstanceOf(NotFoundError);
    expect(store.calls.get).toBe(1);
    const keys: string[] = [];
    for await (const o of vault.list('a/')) keys.push(o.key);
    expect(keys).toEqual(['a/1']);
  });

  it('loggingPort logs each failed call with its reason, and rethrows it unchanged', async () => {
    const warned: [string, Record<string, unknown>][] = [];
    const debugged: [string, Record<string, unknown>][] = [];
    const logger: WarnLogger = {
      warn: (message, attributes) => warned.push([message, attributes]),
      debug: (message, attributes) => debugged.push([message, attributes]),
    };
    const powertools: WarnLogger = new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' });
    expect(powertools).toBeDefined(); // Powertools' Logger is a WarnLogger
    const store = new MemoryVaultStore('us-east-1', 'vault', clock);
    const broken = new TransientError('storage down');
    store.get = () => Promise.reject(broken);
    const vault = loggingPort(store, 'vault', logger);
    await expect(vault.get('k')).rejects.toBe(broken);
    await vault.put('k', Buffer.from('v'));
    expect(warned).toEqual([
      [
        'vault.get failed',
        { port: 'vault', method: 'get', reason: expect.stringMatching(/^TransientError/), retryable: true },
      ],
    ]);
    expect(debugged).toEqual([]);
  });

  it('loggingPort logs the answers the domain expects (not found, conflict) at debug, not warn', async () => {
    const warned: string[] = [];
    const debugged: [string, Record<string, unknown>][] = [];
    const logger: WarnLogger = {
      warn: (message) => warned.push(message),
      debug: (message, attributes) => debugged.push([message, attributes]),
    };
    const vault = loggingPort(new MemoryVaultStore('us-east-1', 'vault', clock), 'vault', logger);
    await expect(vault.get('missing')).rejects.toBeInstanceOf(NotFoundError);
    expect(warned).toEqual([]);
    expect(debugged).toEqual([
      [
        'vault.get failed',
        { port: 'vault', method: 'get', reason: expect.stringMatching(/^NotFoundError/), retryable: false },
      ],
    ]);
  });
});
