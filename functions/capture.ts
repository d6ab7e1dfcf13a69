/**
 * capture: invoked by S3 event notifications of protected buckets (asynchronously, one record per
 * event on AWS). For each upload it stores the object's bytes in the primary vault and journals
 * them; for each delete it journals the removal (docs/format.md#journal). Records run one after
 * another; the concurrency is Lambda's (the embedded dispatcher's asynchronous invocation limit).
 *
 * Invalid records are logged and skipped (the others still count); S3's `s3:TestEvent` (sent when
 * a notification configuration is saved) and records of buckets or prefixes no plan protects are
 * ignored with one log line. A retryable failure fails the invocation so Lambda's asynchronous
 * retries run it again (storing and journaling twice is harmless). `CaptureLagSeconds` is recorded
 * per journaled record, from its `eventTime` to after its journal write (the capture is durable).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see ../docs/format.md#journal
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import {
  type CaptureOutcome,
  captureChange,
  S3EventRecordSchema,
  S3TestEventSchema,
} from '#domain/capture.ts';
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
        const test = S3TestEventSchema.safeParse(event);
        if (test.success) c.logger.info('ignored s3:TestEvent', { bucket: test.data.Bucket });
        else c.logger.info('ignored an event without Records', { event });
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
          if (outcome.status === 'journaled') {
            recordCaptureLag(c.metrics, outcome.eventTime, c.pipeline.clock.now());
            if (outcome.outcome === 'lost-before-capture') {
              c.logger.warn('change lost before capture', { plans: outcome.plans, reason: outcome.reason });
            }
          } else if (outcome.status === 'ignored') {
            c.logger.info('change ignored', { bucket: outcome.bucket, reason: outcome.reason });
          }
          outcomes.push(outcome);
        } catch (error) {
          if (!isRetryable(error)) {
            c.logger.error('S3 event record not captured', { reason: reasonOf(error) });
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
