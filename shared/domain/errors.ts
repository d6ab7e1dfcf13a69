/**
 * Errors of the Strongbox domain. One base class, {@link StrongboxError}; each carries a
 * `retryable` flag that the handlers map to retry (partial batch failure), or to the DLQ
 * with the reason recorded on the job.
 *
 * @see ../../docs/format.md
 */

/** Options shared by every Strongbox error. */
export interface StrongboxErrorOptions {
  /** The error that caused this one, kept for logs. */
  cause?: unknown;
  /** Whether trying the same work again may succeed. @default false */
  retryable?: boolean;
}

/**
 * Base class of every error Strongbox throws on purpose.
 *
 * @example
 * ```ts
 * try { await useCase(); } catch (e) { if (e instanceof StrongboxError && !e.retryable) toDlq(e.message); }
 * ```
 */
export class StrongboxError extends Error {
  /** Whether trying the same work again may succeed. */
  readonly retryable: boolean;

  constructor(message: string, options: StrongboxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
  }
}

/** Input (an event, a task, a plan, a restore request) is invalid. Not retryable. */
export class ValidationError extends StrongboxError {
  /** Dotted path of the offending field, e.g. `retention.keepDaily`; '' when the whole input is wrong. */
  readonly field: string;

  constructor(message: string, field = '', options: StrongboxErrorOptions = {}) {
    super(field ? `${field}: ${message}` : message, { ...options, retryable: false });
    this.field = field;
  }
}

/** A plan, snapshot or job that the request names does not exist. Not retryable. */
export class NotFoundError extends StrongboxError {
  constructor(message: string, options: StrongboxErrorOptions = {}) {
    super(message, { ...options, retryable: false });
  }
}

/** A source bucket is missing or unreadable. Not retryable: the job fails with this reason. */
export class SourceUnavailableError extends StrongboxError {
  constructor(message: string, options: StrongboxErrorOptions = {}) {
    super(message, { ...options, retryable: false });
  }
}

/**
 * Stored data does not match its address or cannot be decrypted: a blob whose content hashes to
 * something else, a manifest whose id differs, a bad authentication tag. Not retryable.
 * @see ../../docs/format.md#encrypted-envelope
 */
export class IntegrityError extends StrongboxError {
  constructor(message: string, options: StrongboxErrorOptions = {}) {
    super(message, { ...options, retryable: false });
  }
}

/** A storage, queue or catalog call failed in a way that may pass (throttling, 5xx, timeouts). Retryable. */
export class TransientError extends StrongboxError {
  constructor(message: string, options: StrongboxErrorOptions = {}) {
    super(message, { ...options, retryable: true });
  }
}

/** A conditional write lost a race (another delivery of the same task got there first). Not retryable. */
export class ConflictError extends StrongboxError {
  constructor(message: string, options: StrongboxErrorOptions = {}) {
    super(message, { ...options, retryable: false });
  }
}

/**
 * A source object the pipeline may not read because of how it is encrypted: S3 wants the customer's
 * own key (SSE-C; GetObject answers 400 InvalidRequest without it). Re-encryption with SSE-C is a
 * known ransomware technique, so capture counts these for the detector. Not retryable.
 * @see ../../docs/format.md#detector
 */
export class EncryptedObjectError extends StrongboxError {
  constructor(message: string, options: StrongboxErrorOptions = {}) {
    super(message, { ...options, retryable: false });
  }
}

/** Whether an unknown thrown value should be retried: Strongbox errors say so; anything else is retried. */
export function isRetryable(error: unknown): boolean {
  return error instanceof StrongboxError ? error.retryable : true;
}

/** A one-line reason for an unknown thrown value, for job records and DLQ attributes. */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
