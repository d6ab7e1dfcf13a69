import { describe, expect, it } from 'vitest';
import { decodeS3Key, type S3EventRecord, S3EventRecordSchema } from '#domain/capture.ts';
import { ValidationError } from '#domain/errors.ts';
import { jobIdOf, parseTask, type TaskQueueName, taskIdOf, upgradeTask } from '#domain/tasks.ts';
import { validationErrorOf } from '../support/errors.ts';

const snapshotTask = {
  kind: 'snapshot-plan',
  planId: 'photos',
  snapshotId: '20260301T000000Z',
  scheduledAt: '2026-03-01T00:00:00.000Z',
};

const job = { planId: 'photos', snapshotId: '20260301T000000Z' };
const slice = { restoreJobId: 'restore-20260301T000000Z-1a2b3c4d', manifestId: 'M', first: 10, count: 5 };
const resume = {
  afterKey: 'k/04999',
  parts: [],
  objectsRead: 12,
  blobsWritten: 10,
  packsWritten: 1,
  storedBytesWritten: 40960,
  objectsVanished: 0,
  invocations: 2,
  seconds: 780.5,
};

describe('parseTask', () => {
  it.each<[string, TaskQueueName, Record<string, unknown>]>([
    ['snapshot-plan', 'snapshot', snapshotTask],
    [
      'snapshot-partition',
      'snapshot',
      { ...snapshotTask, kind: 'snapshot-partition', partition: { index: 2 } },
    ],
    ['copy', 'copy', { kind: 'copy', ...job, region: 'eu-west-1' }],
    ['verify', 'verify', { kind: 'verify', ...job }],
    ['verify-tier', 'verify', { kind: 'verify-tier', ...job, tier: 'deep', all: true }],
    ['forget', 'prune', { kind: 'forget', ...job }],
    ['gc', 'prune', { kind: 'gc', ...job, region: 'eu-west-1' }],
    ['restore-slice', 'restore', { kind: 'restore-slice', ...slice, slice: 2 }],
  ])('parses a valid %s task from the %s queue', (_kind, queue, body) => {
    expect(parseTask(JSON.stringify(body), queue)).toEqual(body);
  });

  it.each<[string, Record<string, unknown>, TaskQueueName, Record<string, unknown>]>([
    [
      'snapshot',
      { kind: 'snapshot', ...job, scheduledAt: snapshotTask.scheduledAt },
      'snapshot',
      snapshotTask,
    ],
    [
      'snapshot with partition',
      { kind: 'snapshot', ...job, scheduledAt: snapshotTask.scheduledAt, partition: { index: 2 } },
      'snapshot',
      { ...snapshotTask, kind: 'snapshot-partition', partition: { index: 2 } },
    ],
    [
      'snapshot with partition and resume',
      { kind: 'snapshot', ...job, scheduledAt: snapshotTask.scheduledAt, partition: { index: 2, resume } },
      'snapshot',
      { ...snapshotTask, kind: 'snapshot-partition', partition: { index: 2, resume } },
    ],
    [
      'verify with tier',
      { kind: 'verify', ...job, tier: 'checksum' },
      'verify',
      { kind: 'verify-tier', ...job, tier: 'checksum' },
    ],
    [
      'verify with tier and all',
      { kind: 'verify', ...job, tier: 'deep', all: true },
      'verify',
      { kind: 'verify-tier', ...job, tier: 'deep', all: true },
    ],
    ['prune', { kind: 'prune', ...job }, 'prune', { kind: 'forget', ...job }],
    [
      'prune with region',
      { kind: 'prune', ...job, region: 'eu-west-1' },
      'prune',
      { kind: 'gc', ...job, region: 'eu-west-1' },
    ],
    [
      'restore-part',
      { kind: 'restore-part', ...slice, part: 2 },
      'restore',
      { kind: 'restore-slice', ...slice, slice: 2 },
    ],
  ])(
    'accepts the old shape %s (in flight or redriven from a DLQ) as its new kind',
    (_name, old, queue, now) => {
      expect(parseTask(JSON.stringify(old), queue)).toEqual(now);
    },
  );

  it('keeps today’s shapes, and what is not a task, as they are', () => {
    const gc = { kind: 'gc', ...job, region: 'eu-west-1' };
    expect(upgradeTask(gc)).toBe(gc);
    expect(upgradeTask({ kind: 'verify', ...job })).toEqual({ kind: 'verify', ...job });
    expect(upgradeTask(null)).toBeNull();
    expect(upgradeTask([1])).toEqual([1]);
  });

  it.each<[string, Record<string, unknown>, TaskQueueName, string]>([
    [
      'a partition task without its partition',
      { ...snapshotTask, kind: 'snapshot-partition' },
      'snapshot',
      'partition',
    ],
    ['a plan task with a partition', { ...snapshotTask, partition: { index: 0 } }, 'snapshot', 'partition'],
    ['a verify-tier task without its tier', { kind: 'verify-tier', ...job }, 'verify', 'tier'],
    [
      'a verify task with all but no tier (never sent)',
      { kind: 'verify', ...job, all: true },
      'verify',
      'all',
    ],
    ['a gc task without its region', { kind: 'gc', ...job }, 'prune', 'region'],
    ['a forget task with a region', { kind: 'forget', ...job, region: 'eu-west-1' }, 'prune', 'region'],
    [
      'a restore-slice task with a part',
      { kind: 'restore-slice', ...slice, slice: 2, part: 2 },
      'restore',
      'part',
    ],
    ['a restore-part task without its part', { kind: 'restore-part', ...slice }, 'restore', 'slice'],
  ])('refuses %s (each kind has only the fields its meaning needs)', (_name, body, queue, field) => {
    const error = validationErrorOf(() => parseTask(JSON.stringify(body), queue));
    expect(`${error.field} ${error.message}`).toMatch(field);
  });

  it('refuses a body that is not JSON, quoting its start', () => {
    const error = validationErrorOf(() => parseTask('{"kind": "snapshot",', 'snapshot'));
    expect(error.message).toMatch(/not JSON: \{"kind": "snapshot",/);
    expect(error.retryable).toBe(false);
  });

  it('quotes at most 80 characters of a body that is not JSON', () => {
    const error = validationErrorOf(() => parseTask(`x${'y'.repeat(500)}`, 'snapshot'));
    expect(error.message.length).toBeLessThan(120);
  });

  it('refuses a task of another kind than the queue carries', () => {
    const body = JSON.stringify({ kind: 'verify', planId: 'photos', snapshotId: 's1' });
    const error = validationErrorOf(() => parseTask(body, 'snapshot'));
    expect(error.field).toBe('kind');
    expect(error.message).toMatch(/expected a task of the snapshot queue, got a verify task/);
  });

  it('refuses an old shape on another queue than its kind’s', () => {
    const body = JSON.stringify({ kind: 'prune', planId: 'photos', snapshotId: 's1', region: 'eu-west-1' });
    expect(validationErrorOf(() => parseTask(body, 'verify')).message).toMatch(/got a gc task/);
  });

  it('refuses an unknown kind', () => {
    const error = validationErrorOf(() =>
      parseTask(JSON.stringify({ ...snapshotTask, kind: 'backup' }), 'snapshot'),
    );
    expect(error.field).toBe('kind');
  });

  it('refuses an unknown field (tasks are strict)', () => {
    const error = validationErrorOf(() =>
      parseTask(JSON.stringify({ ...snapshotTask, force: true }), 'snapshot'),
    );
    expect(error.message).toMatch(/force/);
  });

  it('refuses a copy task with a bad region, naming the field', () => {
    const body = JSON.stringify({ kind: 'copy', planId: 'photos', snapshotId: 's1', region: 'Europe' });
    expect(validationErrorOf(() => parseTask(body, 'copy')).field).toBe('region');
  });

  it('refuses a snapshot task with a scheduledAt that is not UTC ISO-8601', () => {
    const body = JSON.stringify({ ...snapshotTask, scheduledAt: '2026-03-01T00:00:00+02:00' });
    expect(validationErrorOf(() => parseTask(body, 'snapshot')).field).toBe('scheduledAt');
  });

  it.each([
    ['a path separator', 'a/b'],
    ['an empty id', ''],
    ['a leading dot', '.hidden'],
    ['129 characters', 'a'.repeat(129)],
  ])('refuses a planId with %s', (_name, planId) => {
    const body = JSON.stringify({ kind: 'forget', planId, snapshotId: 's1' });
    expect(validationErrorOf(() => parseTask(body, 'prune')).field).toBe('planId');
  });

  it('refuses a missing field, naming it', () => {
    const body = JSON.stringify({ kind: 'verify', planId: 'photos' });
    expect(validationErrorOf(() => parseTask(body, 'verify')).field).toBe('snapshotId');
  });

  it('refuses JSON that is not an object', () => {
    expect(() => parseTask('null', 'verify')).toThrow(ValidationError);
    expect(() => parseTask('[1,2]', 'verify')).toThrow(ValidationError);
  });
});

describe('jobIdOf and taskIdOf', () => {
  it('names the job <planId>/<snapshotId>', () => {
    expect(jobIdOf({ planId: 'photos', snapshotId: '20260301T000000Z' })).toBe('photos/20260301T000000Z');
  });

  it('names each task within its job, as the records stored before the kinds were explicit do', () => {
    const base = { planId: 'p', snapshotId: 's' };
    const scheduledAt = '2026-03-01T00:00:00Z';
    expect(taskIdOf({ kind: 'snapshot-plan', ...base, scheduledAt })).toBe('snapshot');
    expect(taskIdOf({ kind: 'snapshot-partition', ...base, scheduledAt, partition: { index: 3 } })).toBe(
      'snapshot:p3',
    );
    expect(taskIdOf({ kind: 'copy', ...base, region: 'eu-west-1' })).toBe('copy:eu-west-1');
    expect(taskIdOf({ kind: 'verify', ...base })).toBe('verify');
    expect(taskIdOf({ kind: 'verify-tier', ...base, tier: 'deep' })).toBe('verify:deep');
    expect(taskIdOf({ kind: 'forget', ...base })).toBe('prune');
    expect(taskIdOf({ kind: 'gc', ...base, region: 'eu-west-1' })).toBe('prune:eu-west-1');
  });

  it('names a restore slice by its number (logged only: a restore job has no task record)', () => {
    expect(taskIdOf({ kind: 'restore-slice', ...slice, slice: 4 })).toBe('restore-slice:4');
  });
});

describe('decodeS3Key', () => {
  it.each([
    ['photos/my+cat%C3%A9.jpg', 'photos/my caté.jpg'],
    ['a+b+c', 'a b c'],
    ['a%20b', 'a b'],
    ['1%2B1%3D2', '1+1=2'],
    ['%E6%97%A5%E6%9C%AC/%F0%9F%98%80.txt', '日本/😀.txt'],
    ['dir%2Fsub/file', 'dir/sub/file'],
    ['plain/key.txt', 'plain/key.txt'],
    ['100%25', '100%'],
  ])('decodes %s', (encoded, decoded) => {
    expect(decodeS3Key(encoded)).toBe(decoded);
  });
});

function s3Record(overrides: {
  bucket?: string;
  key?: string;
  eventName?: string;
  sequencer?: string;
  size?: number;
  eTag?: string;
  versionId?: string;
  eventTime?: string;
}): S3EventRecord {
  const removed = overrides.eventName?.startsWith('ObjectRemoved');
  return S3EventRecordSchema.parse({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: overrides.eventTime ?? '2026-03-01T10:00:00.000Z',
    eventName: overrides.eventName ?? 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:EXAMPLE' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'strongbox',
      bucket: { name: overrides.bucket ?? 'source', arn: `arn:aws:s3:::${overrides.bucket ?? 'source'}` },
      object: {
        key: overrides.key ?? 'photos/cat.jpg',
        ...(removed
          ? {}
          : { size: overrides.size ?? 1024, eTag: overrides.eTag ?? 'd41d8cd98f00b204e9800998ecf8427e' }),
        ...(overrides.versionId ? { versionId: overrides.versionId } : {}),
        sequencer: overrides.sequencer ?? '0055AED6DCD90281E5',
      },
    },
  });
}

describe('S3EventRecordSchema', () => {
  it('accepts an S3 record and keeps its extra fields', () => {
    const record = s3Record({});
    expect(record.eventSource).toBe('aws:s3');
    expect((record as Record<string, unknown>).userIdentity).toEqual({ principalId: 'AWS:EXAMPLE' });
  });

  it('rejects a record of another service', () => {
    const sqsRecord = {
      messageId: '1',
      eventSource: 'aws:sqs',
      eventVersion: '2.0',
      body: '{}',
      awsRegion: 'us-east-1',
    };
    expect(S3EventRecordSchema.safeParse(sqsRecord).success).toBe(false);
  });

  it('rejects a record that is neither a creation nor a removal', () => {
    const record = { ...s3Record({}), eventName: 'ObjectRestore:Completed' };
    expect(S3EventRecordSchema.safeParse(record).success).toBe(false);
  });

  it('rejects an event structure of version 1', () => {
    const record = { ...s3Record({}), eventVersion: '1.0' };
    expect(S3EventRecordSchema.safeParse(record).success).toBe(false);
  });

  it('rejects a record without a sequencer', () => {
    const record = s3Record({});
    const { sequencer: _s, ...object } = record.s3.object;
    expect(S3EventRecordSchema.safeParse({ ...record, s3: { ...record.s3, object } }).success).toBe(false);
  });
});

describe('S3EventRecordSchema sequencers', () => {
  it('refuses a sequencer that is not hex (it could not be ordered)', () => {
    const record = s3Record({});
    const object = { ...record.s3.object, sequencer: 'not-hex' };
    expect(S3EventRecordSchema.safeParse({ ...record, s3: { ...record.s3, object } }).success).toBe(false);
  });
});
