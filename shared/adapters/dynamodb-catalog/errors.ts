import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type StrongboxError, TransientError, ValidationError } from '#domain/errors.ts';

/**
 * The Strongbox error for a failed DynamoDB call: DynamoDB's `ValidationException` (or a
 * transaction cancelled for `ValidationError`: an item over 400 KB, an empty key attribute, a
 * malformed expression) says the request itself is wrong, so sending it again cannot succeed; any
 * other failure (throttling, 5xx, timeouts, the network) may pass.
 * @param what what the call was doing, for the message (e.g. `journal photos/a.jpg`).
 * @returns ValidationError (not retryable) with DynamoDB's message, or TransientError (retryable).
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 */
export function catalogFailure(what: string, error: unknown): StrongboxError {
  const message = `${what}: ${(error as Error)?.message ?? String(error)}`;
  const name = (error as { name?: unknown })?.name;
  const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
  if (name === 'ValidationException' || reasons.some((r) => r.Code === 'ValidationError')) {
    const detail = reasons.find((r) => r.Code === 'ValidationError')?.Message;
    return new ValidationError(detail ? `${message} (${detail})` : message, '', { cause: error });
  }
  return new TransientError(message, { cause: error });
}
