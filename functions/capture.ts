/**
 * capture: invoked by S3 event notifications of protected buckets (asynchronously, one record per
 * event on AWS). For each upload it stores the object's bytes in the primary vault and journals
 * them; for each delete it journals the removal (docs/format.md#journal). Records run one after
 * another; the concurrency is Lambda's (the embedded dispatcher's asynchronous invocation limit).
 *
 * The event is parsed and each record's failure isolated by `s3EventHandler`: invalid records are
 * logged and skipped (the others still count); S3's `s3:TestEvent` is ignored with one log line, and
 * so are records of buckets or prefixes no plan protects (`captureChange` returns `ignored`). A
 * retryable failure fails the invocation so Lambda's asynchronous retries run it again (storing and
 * journaling twice is harmless). `CaptureLagSeconds` is recorded per journaled record, from its
 * `eventTime` to after its journal write (the capture is durable).
 *
 * After the batch, the ransomware detector runs for every plan that counted a change (or saw a
 * redelivered one, whose first delivery may have failed before it ran): a finding is recorded,
 * counted by `AnomalyDetected`, announced on EventBridge, and quarantines the plan
 * (docs/format.md#detector). A retryable failure there fails the invocation: the records run again
 * as duplicates (journaled and counted once) and the detector with them.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see ../shared/runtime/s3-event-handler.ts
 * @see ../docs/format.md#journal
 */
import { type CaptureOutcome, captureChange } from '#domain/capture.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { detectAfterBatch } from '#runtime/detector-reports.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { recordCaptureLag } from '#runtime/metrics.ts';
import { s3EventHandler } from '#runtime/s3-event-handler.ts';

export const makeHandler = (c: Container) =>
  s3EventHandler(
    c,
    async (record, context): Promise<CaptureOutcome> => {
      const deps = context
        ? { ...c.pipeline, remainingTimeMs: () => context.getRemainingTimeInMillis() }
        : c.pipeline;
      const outcome = await captureChange(deps, record);
      if (outcome.status === 'journaled') {
        recordCaptureLag(c.metrics, outcome.eventTime, c.pipeline.clock.now());
        if (outcome.outcome === 'lost-before-capture') {
          c.logger.warn('change lost before capture', { plans: outcome.plans, reason: outcome.reason });
        }
      } else if (outcome.status === 'ignored') {
        c.logger.info('change ignored', { bucket: outcome.bucket, reason: outcome.reason });
      }
      return outcome;
    },
    { afterRecords: (outcomes) => detectAfterBatch(c, outcomes) },
  );

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
