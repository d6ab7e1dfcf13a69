/**
 * A port decorator that counts and times the calls of a port ({@link meteredPort}) into a
 * {@link PortMeter}, the accumulator the runtime drains once per invocation into a few CloudWatch
 * metrics per port (`publishPortMetrics` in #runtime/metrics.ts). Built on ./decorate.ts.
 */
import { isRetryable } from '#domain/errors.ts';
import { decorate } from './decorate.ts';

/** What calls came to since the meter was last drained. */
export interface CallTally {
  /** Calls that returned a promise (settled or not yet: counted when they settle). */
  calls: number;
  /** Of those, the ones that rejected. */
  failures: number;
  /** Of the failures, the ones the domain marks retryable (`isRetryable`). */
  retryableFailures: number;
  /** Milliseconds from each call to its promise settling, summed (not an average). */
  milliseconds: number;
}

/** One port's tallies, as {@link PortMeter.drain} hands them out. */
export interface PortUsage {
  /** The name the port was metered under (`catalog`, `vault`, …). */
  port: string;
  /** The sum of its methods' tallies. */
  total: CallTally;
  /** Per method name. */
  methods: Record<string, CallTally>;
}

const emptyTally = (): CallTally => ({ calls: 0, failures: 0, retryableFailures: 0, milliseconds: 0 });

function add(into: CallTally, from: CallTally): void {
  into.calls += from.calls;
  into.failures += from.failures;
  into.retryableFailures += from.retryableFailures;
  into.milliseconds += from.milliseconds;
}

/**
 * The accumulator of metered calls, per port and method: one per container, shared by its ports,
 * drained after each invocation. Calls of concurrent invocations sharing a container land in
 * whichever drain follows them.
 */
export class PortMeter {
  /** The clock calls are timed with, in milliseconds (monotonic). */
  readonly now: () => number;
  readonly #ports = new Map<string, Map<string, CallTally>>();

  /** @param options.now the clock; @default performance.now */
  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Count one settled call of `port.method` that took `milliseconds`; `failure` when it rejected. */
  record(port: string, method: string, milliseconds: number, failure?: { error: unknown }): void {
    let methods = this.#ports.get(port);
    if (!methods) {
      methods = new Map();
      this.#ports.set(port, methods);
    }
    let tally = methods.get(method);
    if (!tally) {
      tally = emptyTally();
      methods.set(method, tally);
    }
    tally.calls += 1;
    tally.milliseconds += Math.max(0, milliseconds);
    if (failure) {
      tally.failures += 1;
      if (isRetryable(failure.error)) tally.retryableFailures += 1;
    }
  }

  /** Whether no call was counted since the last drain. */
  get empty(): boolean {
    return this.#ports.size === 0;
  }

  /** The tallies of each port called since the last drain, in the order first called; empties the meter. */
  drain(): PortUsage[] {
    const usage = [...this.#ports].map(([port, methods]) => {
      const total = emptyTally();
      for (const tally of methods.values()) add(total, tally);
      return { port, total, methods: Object.fromEntries(methods) };
    });
    this.#ports.clear();
    return usage;
  }
}

/**
 * A port whose asynchronous calls are counted and timed into `meter` under `name` and the method's
 * name: each call, whether it rejected, whether retryably, and the milliseconds until it settled
 * (for a method resolving to a stream or a body, until it resolved, not until the body was read).
 * The result or failure reaches the caller unchanged; properties and methods that return no promise
 * (the listings' async iterables) pass through uncounted.
 * @example
 * ```ts
 * const meter = new PortMeter();
 * const catalog = meteredPort(new DynamoDbCatalog(client, table), 'catalog', meter);
 * ```
 */
export function meteredPort<T extends object>(port: T, name: string, meter: PortMeter): T {
  return decorate(
    port,
    (_method, _args, first, property, startedAt) =>
      first.then(
        (value) => {
          meter.record(name, property, meter.now() - startedAt);
          return value;
        },
        (error: unknown) => {
          meter.record(name, property, meter.now() - startedAt, { error });
          throw error;
        },
      ),
    () => meter.now(),
  );
}
