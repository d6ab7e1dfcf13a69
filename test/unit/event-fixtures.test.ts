import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeS3Key, S3EventRecordSchema } from '#domain/capture.ts';
import { parseRestoreRequest } from '#domain/restore/request.ts';
import { parseTask, type TaskQueueName } from '#domain/tasks.ts';
import { ScheduledEventSchema } from '#runtime/scheduled-event-handler.ts';

const fixture = (path: string) =>
  JSON.parse(readFileSync(new URL(`../../events/${path}`, import.meta.url), 'utf8'));

describe('event fixtures (events/) parse at the edge as Lambda delivers them', () => {
  it('reads the S3 ObjectCreated record and decodes its URL-encoded key', () => {
    const record = S3EventRecordSchema.parse(fixture('s3/object-created.json').Records[0]);
    expect(decodeS3Key(record.s3.object.key)).toBe('photos/2026/red flower \u00e9t\u00e9.jpg');
    expect(record.s3.object.size).toBe(1024);
  });

  it('reads the S3 ObjectRemoved record, which has no size or ETag', () => {
    const record = S3EventRecordSchema.parse(fixture('s3/object-removed.json').Records[0]);
    expect(record.eventName).toBe('ObjectRemoved:Delete');
    expect(record.s3.object.size).toBeUndefined();
  });

  it('rejects the s3:TestEvent as a record (capture ignores it)', () => {
    expect(S3EventRecordSchema.safeParse(fixture('s3/test-event.json')).success).toBe(false);
  });

  it('reads the EventBridge scheduled event', () => {
    expect(ScheduledEventSchema.parse(fixture('schedule/tick.json')).time).toBe('2026-11-21T23:45:00Z');
  });

  const job = { planId: 'photos', snapshotId: '20261121T234500Z' };
  const scheduledAt = '2026-11-21T23:45:00.000Z';
  const restoreSlice = {
    kind: 'restore-slice',
    restoreJobId: 'restore-20261122T010203Z-1a2b3c4d',
    manifestId: '9c3e5b7a1d2f4e6c8b0a9d8e7f6c5b4a3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a',
    slice: 3,
    first: 1500,
    count: 500,
  };

  it.each<[string, TaskQueueName, Record<string, unknown>]>([
    ['snapshot-plan', 'snapshot', { kind: 'snapshot-plan', ...job, scheduledAt }],
    [
      'snapshot-partition',
      'snapshot',
      { kind: 'snapshot-partition', ...job, scheduledAt, partition: { index: 2 } },
    ],
    ['verify-tier', 'verify', { kind: 'verify-tier', ...job, tier: 'deep', all: true }],
    ['gc', 'prune', { kind: 'gc', ...job, region: 'eu-west-1' }],
  ])('reads the %s task in the SQS record body', (kind, queue, task) => {
    expect(parseTask(fixture(`sqs/${kind}-task.json`).Records[0].body, queue)).toEqual(task);
  });

  it.each<[string, TaskQueueName, Record<string, unknown>]>([
    ['snapshot', 'snapshot', { kind: 'snapshot-plan', ...job, scheduledAt }],
    ['verify', 'verify', { kind: 'verify-tier', ...job, tier: 'deep', all: true }],
    ['prune', 'prune', { kind: 'gc', ...job, region: 'eu-west-1' }],
    ['restore-part', 'restore', restoreSlice],
  ])(
    'reads the old-shape %s task (in flight, or redriven from a DLQ) as its new kind',
    (kind, queue, task) => {
      expect(parseTask(fixture(`sqs/legacy/${kind}-task.json`).Records[0].body, queue)).toEqual(task);
    },
  );

  it('reads the drill task in the SQS record body', () => {
    const task = parseTask(fixture('sqs/drill-task.json').Records[0].body, 'drill');
    expect(task).toEqual({
      kind: 'drill',
      planId: 'photos',
      drillId: '20261122T010000Z',
      scheduledAt: '2026-11-22T01:00:00.000Z',
    });
  });

  it('reads the restore-slice task in the SQS record body: a range of the job’s selection, not keys', () => {
    const task = parseTask(fixture('sqs/restore-slice-task.json').Records[0].body, 'restore');
    expect(task).toEqual(restoreSlice);
  });

  it('refuses the poison task with a reason', () => {
    expect(() => parseTask(fixture('sqs/poison-task.json').Records[0].body, 'snapshot')).toThrow(/not JSON/);
  });

  it('reads the restore request', () => {
    expect(parseRestoreRequest(fixture('restore/request.json'))).toMatchObject({
      plan: 'photos',
      dryRun: true,
      include: ['2026/**'],
      exclude: ['**/*.tmp'],
      overwrite: 'ifChanged',
      archiveTier: 'Bulk',
    });
  });
});
