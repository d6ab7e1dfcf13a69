/** DynamoDB's error answers to table-source calls, as the TableStore port's errors. */
import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import {
  ConflictError,
  NotFoundError,
  SourceUnavailableError,
  StrongboxError,
  TransientError,
} from '#domain/errors.ts';
import { catalogFailure } from '../dynamodb-catalog/errors.ts';

/** Throttling answers: DynamoDB asks to slow down; the same request later may pass. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  // Too many tables being created, updated or deleted at once (CreateTable/DeleteTable).
  'LimitExceededException',
]);

/** Answers that say the caller may not do this: credentials, grants, the table's KMS key. */
const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'MissingAuthenticationTokenException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'KMSAccessDeniedException',
]);

/**
 * The TableStore error for a failed DynamoDB call (the port's TSDoc, #domain/table/ports.ts):
 * - ResourceNotFoundException (no such table or index): NotFoundError, not retryable;
 * - access denied, bad credentials, the table's KMS key denied: SourceUnavailableError, not retryable;
 * - ConditionalCheckFailedException, ResourceInUseException (the table exists, or is being created
 *   or deleted): ConflictError, not retryable;
 * - ValidationException: ValidationError, not retryable (as the catalog maps it, `catalogFailure`);
 * - throttling, 5xx, timeouts, the network and a waiter that timed out: TransientError, retryable;
 * - any other 4xx: a StrongboxError, not retryable.
 * @param what what the call was doing, for the message (e.g. `scan orders segment 3/8`).
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 */
export function tableFailure(what: string, error: unknown): StrongboxError {
  if (error instanceof StrongboxError) return error;
  const name = String((error as { name?: unknown })?.name ?? '');
  const message = `${what}: ${name ? `${name}: ` : ''}${(error as Error)?.message ?? String(error)}`;
  if (name === 'ResourceNotFoundException') return new NotFoundError(message, { cause: error });
  if (DENIED.has(name)) return new SourceUnavailableError(message, { cause: error });
  if (name === 'ConditionalCheckFailedException' || name === 'ResourceInUseException')
    return new ConflictError(message, { cause: error });
  if (name === 'ValidationException') return catalogFailure(what, error);
  if (THROTTLING.has(name)) return new TransientError(message, { cause: error });
  if (error instanceof DynamoDBServiceException) {
    const status = error.$metadata.httpStatusCode ?? 0;
    if (status === 403) return new SourceUnavailableError(message, { cause: error });
    if (status >= 400 && status < 500) return new StrongboxError(message, { cause: error });
  }
  // 5xx, the network, timeouts, a waiter's TimeoutError: may pass.
  return new TransientError(message, { cause: error });
}
