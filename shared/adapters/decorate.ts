/**
 * The plumbing every port decorator shares (retrying.ts, logging-port.ts): a Proxy that routes each
 * call of a port's method that returns a promise through the decorator.
 */

/**
 * `port` with each method that returns a promise routed through `around` (given the method bound to
 * the port, its arguments, the promise of this first call and the method's name).
 */
export function decorate<T extends object>(
  port: T,
  around: (
    method: (...args: unknown[]) => Promise<unknown>,
    args: unknown[],
    first: Promise<unknown>,
    property: string,
  ) => Promise<unknown>,
): T {
  return new Proxy(port, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = (...args: unknown[]) => value.apply(target, args);
      return (...args: unknown[]) => {
        const first: unknown = method(...args);
        return first instanceof Promise ? around(method, args, first, String(property)) : first;
      };
    },
  });
}
