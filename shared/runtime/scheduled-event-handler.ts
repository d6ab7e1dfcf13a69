/**
 * The shape of a handler an EventBridge schedule invokes (the scheduler): parse the "Scheduled
 * Event" at the edge (zod) and run one tick at its time, with the logger's Lambda context and the
 * metrics flushed after each invocation.
 *
 * EventBridge invokes the function asynchronously: whatever the handler throws — an event that is
 * not a scheduled event (ValidationError), or the tick's own failure — fails the invocation, and
 * Lambda's asynchronous retries run it again (the tick must be idempotent).
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html
 * @see https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
 */

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { ValidationError } from '#domain/errors.ts';
import type { Container } from './container.ts';
import { publishMetrics } from './metrics.ts';

/** The fields of an EventBridge "Scheduled Event" the scheduler reads. */
export const ScheduledEventSchema = z.looseObject({
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
  time: z.iso.datetime({ offset: true }),
});
export type ScheduledEvent = z.infer<typeof ScheduledEventSchema>;

/**
 * Read an invocation's event as an EventBridge scheduled event.
 * @throws ValidationError (not retryable) when it is not one (`detail-type` other than
 *   `Scheduled Event`, `source` other than `aws.events`, or `time` not an ISO-8601 date-time); the
 *   message names zod's first issue.
 * @example
 * ```ts
 * parseScheduledEvent(JSON.parse(readFileSync('events/schedule/tick.json', 'utf8'))).time; // '2026-11-21T23:45:00Z'
 * ```
 */
export function parseScheduledEvent(event: unknown): ScheduledEvent {
  const parsed = ScheduledEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new ValidationError(`not an EventBridge scheduled event: ${parsed.error.issues[0]?.message}`);
  }
  return parsed.data;
}

/**
 * Build the Lambda handler of a function an EventBridge schedule invokes.
 * @param container dependencies (the logger and metrics; the tick closes over the rest).
 * @param tick the use case: takes the tick's time — the event's `time` as ISO-8601 UTC with
 *   milliseconds (`2026-11-21T23:45:00.000Z`) — and the parsed event; returns the invocation's result.
 * @returns a handler that rejects with a ValidationError (not retryable) for an event that is not a
 *   scheduled event, and with whatever `tick` throws (a retryable TransientError for a failure that
 *   may pass, so Lambda's asynchronous retries run the tick again).
 * @example
 * ```ts
 * export const makeHandler = (c: Container) => scheduledEventHandler(c, (time) => startDueSnapshots(c.pipeline, time));
 * ```
 */
export function scheduledEventHandler<R>(
  container: Container,
  tick: (time: string, event: ScheduledEvent) => Promise<R>,
) {
  return middy<unknown, R, Error, Context>()
    .use(injectLambdaContext(container.logger))
    .use(publishMetrics(container.metrics, container.portMeter))
    .handler(async (event) => {
      const parsed = parseScheduledEvent(event);
      return tick(new Date(parsed.time).toISOString(), parsed);
    });
}
