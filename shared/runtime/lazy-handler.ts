/**
 * Defer building a handler (and reading the environment) to its first invocation, so that importing
 * a function module has no side effects: tests and the local dispatcher call `makeHandler(deps)`.
 */
export function lazyHandler<E, R, C>(
  build: () => (event: E, context: C) => Promise<R>,
): (event: E, context: C) => Promise<R> {
  let built: ((event: E, context: C) => Promise<R>) | undefined;
  return (event, context) => {
    built ??= build();
    return built(event, context);
  };
}
