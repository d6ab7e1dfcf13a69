/**
 * The shape of a handler S3 event notifications invoke (capture): parse the event at the edge (zod),
 * run one use case per record, one after another, and keep one record's failure from losing the
 * others. Lambda invokes it asynchronously (one record per event on AWS; the local dispatcher may
 * deliver several).
 *
 * What happens to each record:
 * - the use case returns → its outcome is reported in `outcomes`, in the records' order;
 * - the record is not an S3 event record (see `S3EventRecordSchema`), or the use case throws an
 *   error that is not retryable (a malformed key) → logged at error level, reported as
 *   `{ status: 'invalid', reason }` and skipped: running it again would fail the same way;
 * - the use case throws a retryable error (S3, the vault or the catalog may answer later) → the
 *   records after it still run, then the invocation fails with that error (the last one when
 *   several did), so Lambda's asynchronous retries run the whole event again and, once they are
 *   spent, its on-failure destination records it. The use case must therefore be idempotent.
 *
 * After every record ran, `options.afterRecords` (when given) sees the outcomes of the batch (capture
 * runs the ransomware detector there): it runs before a retryable failure of a record is thrown, and
 * a retryable error it throws fails the invocation like a record's would.
 *
 * An event that is not an S3 event notification ({@link parseS3Event} throws) — among them S3's
 * `s3:TestEvent`, sent when a notification configuration is saved — is logged with one line and
 * ignored: `{ outcomes: [] }`, no retry.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
 * @see docs/format.md#journal
 */

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { type S3EventRecord, S3EventRecordSchema, S3TestEventSchema } from '#domain/capture.ts';
import { isRetryable, reasonOf, ValidationError } from '#domain/errors.ts';
import type { Container } from './container.ts';
import { publishMetrics } from './metrics.ts';

/**
 * The envelope of an S3 event notification: `{ "Records": [ … ] }`. Each record is parsed on its own
 * (`S3EventRecordSchema`), so one malformed record does not reject the others.
 */
export const S3EventSchema = z.looseObject({ Records: z.array(z.unknown()) });

/**
 * An event as {@link parseS3Event} reads it: the records of a notification (each still to be
 * parsed), or S3's test message (`bucket` is its `Bucket` field, as S3 sent it).
 */
export type ParsedS3Event = { kind: 'records'; records: unknown[] } | { kind: 'test'; bucket: unknown };

/** A record that was not captured and will not be retried: why. */
export interface InvalidRecord {
  status: 'invalid';
  reason: string;
}

/** What the handler returns: one entry per record, in order (retryable failures have none). */
export interface S3EventResult<O> {
  outcomes: (O | InvalidRecord)[];
}

/**
 * Read an invocation's event as an S3 event notification, or as the `s3:TestEvent` S3 sends when a
 * notification configuration is saved.
 * @throws ValidationError (not retryable) when the event is neither (no `Records` array): its
 *   message says so and names zod's first issue.
 * @example
 * ```ts
 * const event = parseS3Event(JSON.parse(readFileSync('events/s3/object-created.json', 'utf8')));
 * if (event.kind === 'records') for (const raw of event.records) S3EventRecordSchema.parse(raw);
 * ```
 */
export function parseS3Event(event: unknown): ParsedS3Event {
  const parsed = S3EventSchema.safeParse(event);
  if (parsed.success) return { kind: 'records', records: parsed.data.Records };
  const test = S3TestEventSchema.safeParse(event);
  if (test.success) return { kind: 'test', bucket: test.data.Bucket };
  const issue = parsed.error.issues[0];
  throw new ValidationError(
    `not an S3 event notification (no Records array): ${issue?.message ?? 'invalid event'}`,
    issue?.path.join('.') ?? '',
  );
}

/**
 * Build the Lambda handler of a function S3 event notifications invoke (see the module's docs for
 * what happens to each record).
 * @param container dependencies (the logger and metrics; the use case closes over the rest).
 * @param run the use case: takes one parsed record, returns its outcome. Throws a retryable error
 *   (`isRetryable`) when the record should run again, any other error when it never will succeed.
 * @returns a handler resolving to `{ outcomes }`; it rejects with the (last) retryable error of a
 *   record, after every record ran.
 * @example
 * ```ts
 * export const makeHandler = (c: Container) => s3EventHandler(c, (record) => captureChange(c.pipeline, record));
 * ```
 */
export function s3EventHandler<O>(
  container: Container,
  run: (record: S3EventRecord, context?: Context) => Promise<O>,
  options: { afterRecords?: (outcomes: readonly (O | InvalidRecord)[]) => Promise<void> } = {},
) {
  const { logger } = container;
  return middy<unknown, S3EventResult<O>, Error, Context>()
    .use(injectLambdaContext(logger))
    .use(publishMetrics(container.metrics, container.portMeter))
    .handler(async (event, context) => {
      let parsed: ParsedS3Event;
      try {
        parsed = parseS3Event(event);
      } catch {
        logger.info('ignored an event without Records', { event });
        return { outcomes: [] };
      }
      if (parsed.kind === 'test') {
        logger.info('ignored s3:TestEvent', { bucket: parsed.bucket });
        return { outcomes: [] };
      }
      return runRecords(container, parsed.records, (record) => run(record, context), options.afterRecords);
    });
}

/** Run `run` on every record in turn; throw the last retryable failure once all have run. */
async function runRecords<O>(
  { logger }: Pick<Container, 'logger'>,
  records: unknown[],
  run: (record: S3EventRecord) => Promise<O>,
  afterRecords?: (outcomes: readonly (O | InvalidRecord)[]) => Promise<void>,
): Promise<S3EventResult<O>> {
  const outcomes: (O | InvalidRecord)[] = [];
  let retry: unknown;
  for (const raw of records) {
    const record = S3EventRecordSchema.safeParse(raw);
    if (!record.success) {
      const reason = record.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      logger.error('invalid S3 event record skipped', { reason });
      outcomes.push({ status: 'invalid', reason });
      continue;
    }
    try {
      outcomes.push(await run(record.data));
    } catch (error) {
      if (!isRetryable(error)) {
        logger.error('S3 event record not captured', { reason: reasonOf(error) });
        outcomes.push({ status: 'invalid', reason: reasonOf(error) });
        continue;
      }
      retry = error;
    }
  }
  if (afterRecords) {
    try {
      await afterRecords(outcomes);
    } catch (error) {
      if (!isRetryable(error)) logger.error('after the records', { reason: reasonOf(error) });
      else retry = error;
    }
  }
  if (retry) throw retry;
  return { outcomes };
}
