/**
 * The shape of a handler a DynamoDB Streams event source mapping invokes (captureTable), with
 * `functionResponseType: ReportBatchItemFailures`: a batch holds one shard's records in order, and
 * the handler answers which record Lambda must retry from.
 *
 * What happens to each record, in order:
 * - not a stream record (`DynamoDBStreamRecordSchema` rejects it) → a poison message: sent with the
 *   reason to the failure queue (`config.dlqUrl`, the capture failure queue) and skipped;
 * - the use case returns → its outcome goes to `onOutcome` (one log line, metrics);
 * - the use case throws an error that is not retryable → sent with the reason to the failure queue,
 *   skipped;
 * - the use case throws a retryable error → the batch stops there and the handler returns
 *   `{ batchItemFailures: [{ itemIdentifier: <its SequenceNumber> }] }`: Lambda retries from that
 *   record (the ones before are done), bisecting the batch, and after `maximumRetryAttempts` sends
 *   the batch's description to the mapping's on-failure destination. Records after it did not run.
 *
 * A failure queue that cannot be reached is retryable: the record that could not be parked is
 * reported as the batch's failure (or, for a record without a sequence number, the invocation
 * throws and Lambda retries the whole batch). The use case must be idempotent (Lambda delivers at
 * least once).
 * @see https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
 * @see https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
 * @see shared/domain/table/stream.ts
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { DLQ_REASON_ATTRIBUTE } from '#domain/dead-letters.ts';
import { isRetryable, reasonOf } from '#domain/errors.ts';
import {
  DynamoDBStreamEventSchema,
  type DynamoDBStreamRecord,
  DynamoDBStreamRecordSchema,
  type StreamBatchResponse,
} from '#domain/table/stream.ts';
import type { Container } from './container.ts';
import { publishMetrics } from './metrics.ts';

/** What a poison stream record becomes on the failure queue (its body, JSON). */
export interface PoisonStreamRecord {
  kind: 'dynamodb-stream-record';
  reason: string;
  /** The record as Lambda delivered it (or the whole event when it was not one). */
  record: unknown;
}

/** The dependencies the handler uses: the logger, metrics, SQS and where poison records go. */
export type StreamHandlerDeps = Pick<Container, 'logger' | 'metrics' | 'portMeter' | 'sqs'> & {
  config: Pick<Container['config'], 'dlqUrl'>;
};

/**
 * Build the Lambda handler of a function a DynamoDB stream's event source mapping invokes.
 * @param container the logger, metrics, SQS client and `config.dlqUrl` (the failure queue; without
 *   it, poison records are logged at error level and dropped).
 * @param run the use case for one validated record (and the invocation's context). Throws a
 *   retryable error (`isRetryable`) when the record should run again, any other error when it never
 *   will succeed.
 * @param onOutcome called with each record's outcome, in order (log it, record metrics).
 * @returns a handler resolving to a {@link StreamBatchResponse}; empty `batchItemFailures` when the
 *   whole batch is done.
 * @example
 * ```ts
 * export const makeHandler = (c: Container) =>
 *   streamHandler(c, (record) => captureTableRecord(c.pipeline, record), (o) => c.logger.info('captured', { o }));
 * ```
 */
export function streamHandler<O>(
  container: StreamHandlerDeps,
  run: (record: DynamoDBStreamRecord, context?: Context) => Promise<O>,
  onOutcome: (outcome: O, record: DynamoDBStreamRecord) => void = () => {},
) {
  const { logger } = container;
  return middy<unknown, StreamBatchResponse, Error, Context>()
    .use(injectLambdaContext(logger))
    .use(publishMetrics(container.metrics, container.portMeter))
    .handler(async (event, context) => {
      const parsed = DynamoDBStreamEventSchema.safeParse(event);
      if (!parsed.success) {
        const reason = `not a DynamoDB stream event: ${issuesOf(parsed.error.issues)}`;
        logger.error('stream event is poison: sent to the failure queue', { reason });
        await park(container, event, reason);
        return { batchItemFailures: [] };
      }
      for (const raw of parsed.data.Records) {
        const record = DynamoDBStreamRecordSchema.safeParse(raw);
        if (!record.success) {
          const reason = `not a DynamoDB stream record: ${issuesOf(record.error.issues)}`;
          const failed = await parkOrFail(container, raw, reason, sequenceOf(raw));
          if (failed) return failed;
          continue;
        }
        const sequenceNumber = record.data.dynamodb.SequenceNumber;
        try {
          onOutcome(await run(record.data, context), record.data);
        } catch (error) {
          const reason = reasonOf(error);
          if (isRetryable(error)) {
            logger.warn('stream record failed, retried from it', { sequenceNumber, reason });
            return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
          }
          const failed = await parkOrFail(container, raw, reason, sequenceNumber);
          if (failed) return failed;
        }
      }
      return { batchItemFailures: [] };
    });
}

/** Park a poison record; when the queue fails, the batch fails from it (or throws without a number). */
async function parkOrFail(
  container: StreamHandlerDeps,
  raw: unknown,
  reason: string,
  sequenceNumber: string | undefined,
): Promise<StreamBatchResponse | undefined> {
  container.logger.error('stream record is poison: sent to the failure queue', { sequenceNumber, reason });
  try {
    await park(container, raw, reason);
    return undefined;
  } catch (error) {
    container.logger.warn('could not send a poison record to the failure queue', {
      sequenceNumber,
      reason: reasonOf(error),
    });
    if (sequenceNumber === undefined) throw error;
    return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
  }
}

async function park(container: StreamHandlerDeps, record: unknown, reason: string): Promise<void> {
  const queueUrl = container.config.dlqUrl;
  if (!queueUrl) {
    container.logger.error('no failure queue configured: poison stream record dropped', { reason, record });
    return;
  }
  const body: PoisonStreamRecord = { kind: 'dynamodb-stream-record', reason, record };
  await container.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify(body),
      MessageAttributes: {
        [DLQ_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: reason.slice(0, 1000) },
      },
    }),
  );
}

/** The SequenceNumber of a record that did not validate, when it has a usable one. */
function sequenceOf(raw: unknown): string | undefined {
  const n = (raw as { dynamodb?: { SequenceNumber?: unknown } } | undefined)?.dynamodb?.SequenceNumber;
  return typeof n === 'string' && /^[0-9]{1,64}$/.test(n) ? n : undefined;
}

function issuesOf(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
}
