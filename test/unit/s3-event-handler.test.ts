/**
 * The S3-notification handler shape (shared/runtime/s3-event-handler.ts): the event is parsed at the
 * edge, every record runs, and one bad record never loses the others.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import type { S3EventRecord } from '#domain/capture.ts';
import { isRetryable, TransientError, ValidationError } from '#domain/errors.ts';
import type { Container } from '#runtime/container.ts';
import { parseS3Event, s3EventHandler } from '#runtime/s3-event-handler.ts';
import { makeHandler as makeCaptureHandler } from '../../functions/capture.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

const context = { functionName: 'capture', getRemainingTimeInMillis: () => 60_000 } as Context;

function containerOf(p: MemoryPipeline): Container {
  return {
    config: testConfig(),
    pipeline: p.deps,
    sqs: new SQSClient({ region: 'us-east-1' }),
    logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
    metrics: silentMetrics(),
  };
}

let sequence = 0;
/** A raw S3 event record (as in the notification's `Records`) for `key` in bucket `source`. */
function rawRecord(key: string, object: { size?: number; eTag?: string } = {}): Record<string, unknown> {
  sequence += 1;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: '2026-03-01T00:00:00.000Z',
    eventName: 'ObjectCreated:Put',
    s3: {
      bucket: { name: 'source' },
      object: { key, ...object, sequencer: sequence.toString(16).toUpperCase().padStart(18, '0') },
    },
  };
}

/** A use case that returns the record's key, or throws according to it. */
const run = async (record: S3EventRecord) => {
  const { key } = record.s3.object;
  if (key.startsWith('transient')) throw new TransientError(`throttled on ${key}`);
  if (key.startsWith('poison')) throw new ValidationError('not URL-encoded', 's3.object.key');
  return { status: 'done' as const, key };
};

describe('parseS3Event', () => {
  it('reads the records of a notification, and the s3:TestEvent', () => {
    expect(parseS3Event({ Records: [1, 2] })).toEqual({ kind: 'records', records: [1, 2] });
    expect(parseS3Event({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'source' })).toEqual({
      kind: 'test',
      bucket: 'source',
    });
  });

  it.each([
    ['no Records', { detail: {} }],
    ['Records that is not an array', { Records: 'a' }],
    ['not an object', 'ObjectCreated:Put'],
    ['nothing', undefined],
  ])('refuses an event with %s with a clear, non-retryable ValidationError', (_what, event) => {
    let thrown: unknown;
    try {
      parseS3Event(event);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect(isRetryable(thrown)).toBe(false);
    expect((thrown as Error).message).toMatch(/not an S3 event notification \(no Records array\)/);
  });
});

describe('s3EventHandler', () => {
  function handlerOf(use = run) {
    const c = containerOf(memoryPipeline());
    const logged = { info: vi.spyOn(c.logger, 'info'), error: vi.spyOn(c.logger, 'error') };
    const spy = vi.fn(use);
    return { handler: s3EventHandler(c, spy), run: spy, logged };
  }

  it('runs every record and reports each outcome in order', async () => {
    const h = handlerOf();
    const result = await h.handler({ Records: [rawRecord('a'), rawRecord('b')] }, context);
    expect(result).toEqual({
      outcomes: [
        { status: 'done', key: 'a' },
        { status: 'done', key: 'b' },
      ],
    });
  });

  it('skips an invalid record among good ones: the good ones run, the bad one is reported and logged', async () => {
    const h = handlerOf();
    const result = await h.handler(
      { Records: [rawRecord('a'), { not: 'a record' }, rawRecord('b')] },
      context,
    );
    expect(result.outcomes.map((o) => o.status)).toEqual(['done', 'invalid', 'done']);
    expect(result.outcomes[1]).toMatchObject({
      status: 'invalid',
      reason: expect.stringContaining('eventSource'),
    });
    expect(h.run).toHaveBeenCalledTimes(2);
    expect(h.logged.error).toHaveBeenCalledWith('invalid S3 event record skipped', {
      reason: expect.any(String),
    });
  });

  it('skips a record whose use case fails for good, without failing the invocation', async () => {
    const h = handlerOf();
    const result = await h.handler({ Records: [rawRecord('poison'), rawRecord('b')] }, context);
    expect(result.outcomes).toEqual([
      { status: 'invalid', reason: 'ValidationError: s3.object.key: not URL-encoded' },
      { status: 'done', key: 'b' },
    ]);
    expect(h.logged.error).toHaveBeenCalledWith('S3 event record not captured', {
      reason: 'ValidationError: s3.object.key: not URL-encoded',
    });
  });

  it('runs the records after a retryable failure, then fails the invocation with the last one', async () => {
    const h = handlerOf();
    const records = [rawRecord('transient-1'), rawRecord('a'), rawRecord('transient-2'), rawRecord('b')];
    const invocation = h.handler({ Records: records }, context);
    await expect(invocation).rejects.toBeInstanceOf(TransientError);
    await expect(invocation).rejects.toThrow('throttled on transient-2');
    expect(h.run.mock.calls.map(([r]) => r.s3.object.key)).toEqual(['transient-1', 'a', 'transient-2', 'b']);
  });

  it('ignores the s3:TestEvent and an event without Records with one log line, running nothing', async () => {
    const h = handlerOf();
    const test = { Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'source' };
    expect(await h.handler(test, context)).toEqual({ outcomes: [] });
    expect(h.logged.info).toHaveBeenCalledWith('ignored s3:TestEvent', { bucket: 'source' });
    expect(await h.handler({ detail: {} }, context)).toEqual({ outcomes: [] });
    expect(h.logged.info).toHaveBeenCalledWith('ignored an event without Records', { event: { detail: {} } });
    expect(h.run).not.toHaveBeenCalled();
  });
});

describe('the capture handler on s3EventHandler', () => {
  async function setUp(): Promise<MemoryPipeline> {
    const p = memoryPipeline();
    p.objects.createBucket('source');
    await p.catalog.putPlans([plan({ id: 'plan0' })]);
    return p;
  }

  async function upload(p: MemoryPipeline, key: string, body: string) {
    await p.objects.put('source', key, Buffer.from(body), {});
    const o = p.objects.buckets.get('source')?.get(key);
    return rawRecord(key, { size: o?.sizeBytes ?? 0, ...(o?.etag ? { eTag: o.etag } : {}) });
  }

  const journaledKeys = (p: MemoryPipeline) => [...p.catalog.journal.values()].map((e) => e.key).sort();

  it('captures the good records around an invalid one and reports it', async () => {
    const p = await setUp();
    const records = [await upload(p, 'a.txt', 'a'), { not: 'a record' }, await upload(p, 'b.txt', 'b')];
    const result = (await makeCaptureHandler(containerOf(p))({ Records: records }, context)) as {
      outcomes: { status: string }[];
    };
    expect(result.outcomes.map((o) => o.status)).toEqual(['journaled', 'invalid', 'journaled']);
    expect(journaledKeys(p)).toEqual(['a.txt', 'b.txt']);
  });

  it('captures the good records after a retryable failure, then fails so Lambda retries', async () => {
    const p = await setUp();
    const records = [await upload(p, 'a.txt', 'a'), await upload(p, 'b.txt', 'b')];
    p.primary.faults.push({ op: 'put', onCall: 1 });
    await expect(makeCaptureHandler(containerOf(p))({ Records: records }, context)).rejects.toBeInstanceOf(
      TransientError,
    );
    expect(journaledKeys(p)).toEqual(['b.txt']);
  });
});
