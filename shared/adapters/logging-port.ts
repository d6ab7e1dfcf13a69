/**
 * A port decorator that logs the calls that fail (after Kopia's `blob/logging` wrapper), built on
 * ./decorate.ts.
 */
import { ConflictError, isRetryable, NotFoundError, reasonOf } from '#domain/errors.ts';
import { decorate } from './decorate.ts';

/** Where {@link loggingPort} writes: Powertools' `Logger` is one. */
export interface WarnLogger {
  warn(message: string, attributes: Record<string, unknown>): void;
  /** Where answers the domain expects go (see {@link loggingPort}); dropped when absent. */
  debug?(message: string, attributes: Record<string, unknown>): void;
}

/**
 * Failures that are answers the domain asks for and handles (a missing object or item, a condition
 * that failed): logged at debug, so a healthy GC race or an existence check writes no warning.
 */
function isExpectedAnswer(error: unknown): boolean {
  return error instanceof NotFoundError || error instanceof ConflictError;
}

/**
 * A port that logs each asynchronous call that fails — the port's `name`, the method, the reason and
 * whether it is retryable — and rethrows the failure unchanged: at warn level, except a
 * NotFoundError or ConflictError (answers the domain expects), which go to debug. Ids only: the
 * arguments (keys, object names) are not logged.
 * @example
 * ```ts
 * const catalog = loggingPort(new DynamoDbCatalog(client, table), 'catalog', logger);
 * ```
 */
export function loggingPort<T extends object>(port: T, name: string, logger: WarnLogger): T {
  return decorate(port, (_method, _args, first, property) =>
    first.catch((error: unknown) => {
      const attributes = {
        port: name,
        method: property,
        reason: reasonOf(error),
        retryable: isRetryable(error),
      };
      if (isExpectedAnswer(error)) logger.debug?.(`${name}.${property} failed`, attributes);
      else logger.warn(`${name}.${property} failed`, attributes);
      throw error;
    }),
  );
}
