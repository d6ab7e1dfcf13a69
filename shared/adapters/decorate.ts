/**
 * The plumbing every port decorator shares (retrying.ts, logging-port.ts, metered-port.ts): a Proxy
 * that routes each call of a port's method that returns a promise through the decorator.
 *
 * What passes through untouched: properties (`vault.region`, `vault.bucket`, a write policy's
 * `policy`), methods that return no promise (the listings' async iterables, synchronous getters),
 * symbol-keyed members and `constructor`. Methods run on the port itself, not on the Proxy, so
 * classes with `#private` fields keep working, and `instanceof` sees the port's class (a Proxy
 * answers with its target's prototype).
 */

/**
 * What a decorator does with one call: given the method bound to the port (to call it again), its
 * arguments, the promise of this first call, the method's name and what `enter` returned just before
 * the call; returns the promise the caller gets.
 */
export type Around<S> = (
  method: (...args: unknown[]) => Promise<unknown>,
  args: unknown[],
  first: Promise<unknown>,
  property: string,
  entered: S,
) => Promise<unknown>;

/**
 * `port` with each method that returns a promise routed through `around`. `enter`, when given, runs
 * before every call of a method (its result reaches `around`): a decorator that times calls starts
 * its clock there, so the synchronous part of the call is counted too.
 * @example
 * ```ts
 * const traced = decorate(vault, (_method, _args, first, property) => first.finally(() => console.log(property)));
 * ```
 */
export function decorate<T extends object, S = undefined>(
  port: T,
  around: Around<S>,
  enter?: (property: string) => S,
): T {
  return new Proxy(port, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property === 'symbol' || property === 'constructor') {
        return value;
      }
      const method = (...args: unknown[]) => value.apply(target, args);
      return (...args: unknown[]) => {
        const entered = enter?.(property) as S;
        const first: unknown = method(...args);
        return first instanceof Promise ? around(method, args, first, property, entered) : first;
      };
    },
  });
}
