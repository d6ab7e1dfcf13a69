/**
 * capture: invoked by S3 event notifications of protected buckets; journals each change.
 * Invalid records are logged and skipped (the others still count); a retryable failure fails the
 * invocation so Lambda's asynchronous retries run it again (journaling twice is harmless).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { type CaptureOutcome, captureChange, S3EventRecordSchema } from '#domain/capture.ts';
import { isRetryable, reasonOf } from '#domain/errors.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { publishMetrics, recordCaptureLag } from '#runtime/metrics.ts';

const S3EventSchema = z.looseObject({ Records: z.array(z.unknown()) });

export const makeHandler = (c: Container) =>
  middy()
    .use(injectLambdaContext(c.logger))
    .use(publishMetrics(c.metrics))
    .handler(async (event: unknown) => {
      const parsed = S3EventSchema.safeParse(event);
      if (!parsed.success) {
        // s3:TestEvent and other non-record payloads carry nothing to journal.
        c.logger.info('ignored an event without Records', { event });
        return { outcomes: [] };
      }
      const outcomes: (CaptureOutcome | { status: 'invalid'; reason: string })[] = [];
      let retry: unknown;
      for (const raw of parsed.data.Records) {
        const record = S3EventRecordSchema.safeParse(raw);
        if (!record.success) {
          const reason = record.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
          c.logger.error('invalid S3 event record skipped', { reason });
          outcomes.push({ status: 'invalid', reason });
          continue;
        }
        try {
          const outcome = await captureChange(c.pipeline, record.data);
          recordCaptureLag(c.metrics, record.data.eventTime, c.pipeline.clock.now());
          if (outcome.status === 'ignored') c.logger.info('change ignored', { ...outcome });
          outcomes.push(outcome);
        } catch (error) {
          if (!isRetryable(error)) {
            outcomes.push({ status: 'invalid', reason: reasonOf(error) });
            continue;
          }
          retry = error;
        }
      }
      if (retry) throw retry;
      return { outcomes };
    });

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
