/** S3's error answers (through the SDK or the lighter HTTP client) as Strongbox errors. */

import { S3ServiceException } from '@aws-sdk/client-s3';
import {
  ConflictError,
  EncryptedObjectError,
  IntegrityError,
  NotFoundError,
  StrongboxError,
  TransientError,
} from '#domain/errors.ts';
import { S3HttpError } from '../s3-http.ts';

/**
 * Map an SDK error to a Strongbox error. 404s become NotFoundError; throttling and 5xx are retryable;
 * a body that does not match the checksum S3 recorded at upload (the SDK validates every GetObject of
 * an object stored with a checksum) is IntegrityError: corrupt, not worth retrying.
 */
export function mapS3Error(error: unknown, what: string): StrongboxError {
  if (error instanceof StrongboxError) return error;
  if (error instanceof Error && /^Checksum mismatch/.test(error.message)) {
    return new IntegrityError(`${what}: ${error.message}`, { cause: error });
  }
  if (error instanceof S3ServiceException) {
    return errorOfS3Answer(error.name, error.$metadata.httpStatusCode ?? 0, error.message, what, error);
  }
  if (error instanceof S3HttpError)
    return errorOfS3Answer(error.code, error.status, error.message, what, error);
  return new TransientError(`${what}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}

/** An S3 error answer (its code and HTTP status), from the SDK or {@link S3HttpClient}, as a Strongbox error. */
function errorOfS3Answer(
  name: string,
  status: number,
  message: string,
  what: string,
  cause: Error,
): StrongboxError {
  if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket')) {
    return new NotFoundError(`${what}: not found`, { cause });
  }
  if (name === 'NoSuchBucket') return new NotFoundError(`${what}: bucket does not exist`, { cause });
  if (status === 403) return new StrongboxError(`${what}: access denied`, { cause, retryable: false });
  // GetObject of an SSE-C object without its customer key: 400 InvalidRequest, "The object was stored
  // using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
  if (status === 400 && name === 'InvalidRequest' && /server side encryption|customer/i.test(message)) {
    return new EncryptedObjectError(
      `${what}: encrypted with a customer-provided key (SSE-C) Strongbox does not hold: ${message}`,
      { cause },
    );
  }
  if (status === 412 || name === 'PreconditionFailed')
    return new ConflictError(`${what}: changed since it was listed (precondition failed)`, { cause });
  // 409 to a conditional write: another write of the key was under way; S3 advises to try again.
  if (name === 'ConditionalRequestConflict') return new TransientError(`${what}: ${name}`, { cause });
  if (status >= 500 || name === 'SlowDown' || status === 429 || status === 0) {
    return new TransientError(`${what}: ${name}`, { cause });
  }
  return new StrongboxError(`${what}: ${name}: ${message}`, { cause, retryable: false });
}

/** Whether S3 answered 412 PreconditionFailed (through the SDK or {@link S3HttpClient}). */
export function isPreconditionFailed(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    return error.name === 'PreconditionFailed' || error.$metadata.httpStatusCode === 412;
  }
  return error instanceof S3HttpError && error.status === 412;
}
