// The port decorators that observe rather than retry: the shared Proxy (shared/adapters/decorate.ts)
// and meteredPort (shared/adapters/metered-port.ts), with a fake clock so the timings are exact.
import { describe, expect, it } from 'vitest';
import { decorate } from '#adapters/decorate.ts';
import { loggingPort, type WarnLogger } from '#adapters/logging-port.ts';
import { meteredPort, PortMeter } from '#adapters/metered-port.ts';
import { NotFoundError, TransientError } from '#domain/errors.ts';
import { withWritePolicy, writePolicyOf } from '#domain/immutability.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

/** A fake clock in milliseconds, moved by the port below. */
class Ticks {
  value = 0;
  readonly now = () => this.value;
}

/** A port with #private state whose calls take the time they are told (on the fake clock). */
class SlowPort {
  readonly name = 'slow';
  readonly #ticks: Ticks;
  readonly #seen: string[] = [];
  constructor(ticks: Ticks) {
    this.#ticks = ticks;
  }
  /** Takes `before` ms synchronously, then `after` ms once it has awaited. */
  async fetch(key: string, before: number, after = 0): Promise<string> {
    this.#ticks.value += before;
    await Promise.resolve();
    this.#ticks.value += after;
    this.#seen.push(key);
    return `value of ${key}`;
  }
  async fail(error: unknown, ms: number): Promise<never> {
    this.#ticks.value += ms;
    throw error;
  }
  async *list(prefix: string): AsyncIterable<string> {
    this.#ticks.value += 100;
    yield `${prefix}1`;
    yield `${prefix}2`;
  }
  seen(): string[] {
    return [...this.#seen];
  }
}

function metered() {
  const ticks = new Ticks();
  const meter = new PortMeter({ now: ticks.now });
  const inner = new SlowPort(ticks);
  return { ticks, meter, inner, port: meteredPort(inner, 'slow', meter) };
}

describe('decorate', () => {
  it('keeps the port’s class, properties, #private fields and synchronous methods, and leaves constructor alone', async () => {
    const { port, inner } = metered();
    expect(port).toBeInstanceOf(SlowPort);
    expect(port.name).toBe('slow');
    expect(await port.fetch('a', 0)).toBe('value of a');
    expect(port.seen()).toEqual(['a']);
    expect(port.constructor).toBe(SlowPort);
    expect(inner.seen()).toEqual(['a']);
  });

  it('runs enter before the call and hands its result to around', async () => {
    const order: string[] = [];
    const port = decorate(
      { go: async () => order.push('call') },
      (_method, _args, first, property, entered) => first.then(() => order.push(`${property} ${entered}`)),
      (property: string) => {
        order.push(`enter ${property}`);
        return 7;
      },
    );
    await port.go();
    expect(order).toEqual(['enter go', 'call', 'go 7']);
  });

  it('keeps a write-policy vault recognizable through the Proxy', () => {
    const clock = new ManualClock();
    const vault = withWritePolicy(
      new MemoryVaultStore('eu-west-1', 'v', clock),
      { packStorageClass: 'GLACIER_IR' },
      clock,
    );
    const wrapped = meteredPort(vault, 'vault:eu-west-1', new PortMeter());
    expect(writePolicyOf(wrapped)).toEqual({ packStorageClass: 'GLACIER_IR' });
    expect(wrapped.region).toBe('eu-west-1');
  });
});

describe('meteredPort', () => {
  it('counts and times each call per method, the synchronous part included', async () => {
    const { port, meter } = metered();
    await port.fetch('a', 5, 20);
    await port.fetch('b', 0, 7);
    await expect(port.fail(new NotFoundError('gone'), 3)).rejects.toBeInstanceOf(NotFoundError);
    expect(meter.drain()).toEqual([
      {
        port: 'slow',
        total: { calls: 3, failures: 1, retryableFailures: 0, milliseconds: 35 },
        methods: {
          fetch: { calls: 2, failures: 0, retryableFailures: 0, milliseconds: 32 },
          fail: { calls: 1, failures: 1, retryableFailures: 0, milliseconds: 3 },
        },
      },
    ]);
  });

  it('counts retryable failures apart and rethrows every failure unchanged', async () => {
    const { port, meter } = metered();
    const transient = new TransientError('throttled');
    const odd = 'not an Error';
    await expect(port.fail(transient, 1)).rejects.toBe(transient);
    await expect(port.fail(odd, 1)).rejects.toBe(odd);
    await expect(port.fail(new NotFoundError('gone'), 1)).rejects.toBeInstanceOf(NotFoundError);
    const [usage] = meter.drain();
    expect(usage?.total).toEqual({ calls: 3, failures: 3, retryableFailures: 2, milliseconds: 3 });
  });

  it('leaves listings alone: the async iterable passes through, uncounted', async () => {
    const { port, meter } = metered();
    const listed: string[] = [];
    for await (const key of port.list('k')) listed.push(key);
    expect(listed).toEqual(['k1', 'k2']);
    expect(meter.empty).toBe(true);
    expect(meter.drain()).toEqual([]);
  });

  it('drains each port in the order first called, then starts over', async () => {
    const { port, meter, ticks } = metered();
    const other = meteredPort(new SlowPort(ticks), 'other', meter);
    await other.fetch('x', 1);
    await port.fetch('y', 2);
    await other.fetch('z', 4);
    expect(meter.drain().map((u) => [u.port, u.total.calls, u.total.milliseconds])).toEqual([
      ['other', 2, 5],
      ['slow', 1, 2],
    ]);
    expect(meter.empty).toBe(true);
    await port.fetch('w', 1);
    expect(meter.drain().map((u) => u.total.calls)).toEqual([1]);
  });

  it('composes with loggingPort: one failure logged once and counted once', async () => {
    const logged: string[] = [];
    const logger: WarnLogger = { warn: (message) => logged.push(message) };
    const { inner, meter } = metered();
    const port = loggingPort(meteredPort(inner, 'slow', meter), 'slow', logger);
    await expect(port.fail(new TransientError('busy'), 2)).rejects.toBeInstanceOf(TransientError);
    expect(logged).toEqual(['slow.fail failed']);
    expect(meter.drain()[0]?.total).toEqual({ calls: 1, failures: 1, retryableFailures: 1, milliseconds: 2 });
  });

  it('times with performance.now by default', async () => {
    const meter = new PortMeter();
    const port = meteredPort({ nap: () => new Promise((resolve) => setTimeout(resolve, 5)) }, 'nap', meter);
    await port.nap();
    expect(meter.drain()[0]?.total.milliseconds).toBeGreaterThanOrEqual(4);
  });
});
