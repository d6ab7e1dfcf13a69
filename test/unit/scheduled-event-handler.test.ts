/**
 * The EventBridge schedule handler shape (shared/runtime/scheduled-event-handler.ts): the scheduled
 * event is parsed at the edge and the tick runs at its time.
 */
import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { isRetryable, TransientError, ValidationError } from '#domain/errors.ts';
import type { Container } from '#runtime/container.ts';
import { parseScheduledEvent, scheduledEventHandler } from '#runtime/scheduled-event-handler.ts';
import { testConfig } from '../support/config.ts';
import { memoryPipeline } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

const context = { functionName: 'scheduler', getRemainingTimeInMillis: () => 60_000 } as Context;
const tick = JSON.parse(readFileSync(new URL('../../events/schedule/tick.json', import.meta.url), 'utf8'));

function container(): Container {
  return {
    config: testConfig(),
    pipeline: memoryPipeline().deps,
    sqs: new SQSClient({ region: 'us-east-1' }),
    logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
    metrics: silentMetrics(),
  };
}

describe('parseScheduledEvent', () => {
  it('reads the time of an EventBridge scheduled event', () => {
    expect(parseScheduledEvent(tick).time).toBe('2026-11-21T23:45:00Z');
  });

  it.each([
    ['another detail-type', { ...tick, 'detail-type': 'Object Created' }],
    ['another source', { ...tick, source: 'aws.s3' }],
    ['a time that is not a date-time', { ...tick, time: 'yesterday' }],
    ['an S3 notification', { Records: [] }],
  ])('refuses %s with a non-retryable ValidationError', (_what, event) => {
    let thrown: unknown;
    try {
      parseScheduledEvent(event);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect(isRetryable(thrown)).toBe(false);
    expect((thrown as Error).message).toMatch(/^not an EventBridge scheduled event: /);
  });
});

describe('scheduledEventHandler', () => {
  it('runs the tick at the event’s time, as ISO-8601 UTC with milliseconds, and returns its result', async () => {
    const run = vi.fn(async (time: string) => ({ time }));
    const handler = scheduledEventHandler(container(), run);
    expect(await handler({ ...tick, time: '2026-11-22T01:45:00+02:00' }, context)).toEqual({
      time: '2026-11-21T23:45:00.000Z',
    });
    expect(run).toHaveBeenCalledWith(
      '2026-11-21T23:45:00.000Z',
      expect.objectContaining({ source: 'aws.events' }),
    );
  });

  it('fails the invocation, running nothing, for an event that is not a scheduled event', async () => {
    const run = vi.fn(async () => 'ran');
    const handler = scheduledEventHandler(container(), run);
    await expect(handler({ detail: {} }, context)).rejects.toBeInstanceOf(ValidationError);
    expect(run).not.toHaveBeenCalled();
  });

  it('fails the invocation with the tick’s error, so Lambda retries it', async () => {
    const handler = scheduledEventHandler(container(), async () => {
      throw new TransientError('throttled');
    });
    await expect(handler(tick, context)).rejects.toBeInstanceOf(TransientError);
  });
});
