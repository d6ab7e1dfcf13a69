/**
 * A port decorator that logs the calls that fail (after Kopia's `blob/logging` wrapper), built on
 * ./decorate.ts.
 */
import { isRetryable, reasonOf } from '#domain/errors.ts';
import { decorate } from './decorate.ts';

/** Where {@link loggingPort} writes: Powertools' `Logger` is one. */
export interface WarnLogger {
  warn(message: string, attributes: Record<string, unknown>): void;
}

/**
 * A port that logs, at warn level, each asynchronous call that fails — the port's `name`, the method,
 * the reason and whether it is retryable — and rethrows the failure unchanged. Ids only: the
 * arguments (keys, object names) are not logged.
 */
export function loggingPort<T extends object>(port: T, name: string, logger: WarnLogger): T {
  return decorate(port, (_method, _args, first, property) =>
    first.catch((error: unknown) => {
      logger.warn(`${name}.${property} failed`, {
        port: name,
        method: property,
        reason: reasonOf(error),
        retryable: isRetryable(error),
      });
      throw error;
    }),
  );
}
