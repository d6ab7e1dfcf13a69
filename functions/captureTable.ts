/**
 * captureTable: invoked by the DynamoDB Streams event source mapping of each protected table (one
 * shard's records per batch, in order). Each record is journaled with its item inline
 * (docs/format.md#table-items): an insert or update as `captured` with the new image, a delete as
 * `removed`.
 *
 * `streamHandler` validates the event and each record (zod), parks poison records and records that
 * fail for good on the capture failure queue with the reason, and stops at the first record that
 * fails retryably, answering `batchItemFailures` with its sequence number so Lambda retries from it
 * (ReportBatchItemFailures; bisection and the on-failure destination are the mapping's, in
 * serverless.yml). `CaptureLagSeconds` is recorded per journaled record.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
 * @see ../shared/runtime/stream-handler.ts
 * @see ../shared/domain/table/capture.ts
 */
import { captureTableRecord, type TableCaptureOutcome } from '#domain/table/capture.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { recordCaptureLag } from '#runtime/metrics.ts';
import { streamHandler } from '#runtime/stream-handler.ts';

export const makeHandler = (c: Container) =>
  streamHandler(
    c,
    (record) => captureTableRecord(c.pipeline, record),
    (outcome: TableCaptureOutcome, record) => {
      const line = {
        table: outcome.bucket,
        key: outcome.key,
        sequenceNumber: record.dynamodb.SequenceNumber,
      };
      if (outcome.status === 'ignored') {
        c.logger.info('table change ignored', { ...line, reason: outcome.reason });
        return;
      }
      if (outcome.status === 'journaled')
        recordCaptureLag(c.metrics, outcome.eventTime, c.pipeline.clock.now());
      if (outcome.status === 'journaled' && outcome.outcome === 'lost-before-capture') {
        c.logger.warn('table change lost before capture', {
          ...line,
          plans: outcome.plans,
          reason: outcome.reason,
        });
      } else {
        c.logger.info(`table change ${outcome.status}`, {
          ...line,
          plans: outcome.plans,
          outcome: outcome.outcome,
        });
      }
    },
  );

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
