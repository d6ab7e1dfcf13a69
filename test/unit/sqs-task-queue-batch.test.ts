// SqsTaskQueue.sendBatch on a mocked SQS client: what SendMessageBatch requests it makes (10 entries
// and 256 KiB at most, one queue each) and what it throws when SQS fails some entries.
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SqsTaskQueue } from '#adapters/sqs-task-queue.ts';
import { TransientError, ValidationError } from '#domain/errors.ts';
import type { Task } from '#domain/tasks.ts';

const sqs = mockClient(SQSClient);
const URLS = { verify: 'https://sqs.local/verify', restore: 'https://sqs.local/restore' };
const verify = (i: number): Task => ({ kind: 'verify', planId: `plan-${i}`, snapshotId: '20260101T000000Z' });

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

function requests() {
  return sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
}

describe('SqsTaskQueue.sendBatch', () => {
  it('sends 25 tasks of one queue as three requests of at most 10, every task once', async () => {
    const queue = new SqsTaskQueue(new SQSClient({}), URLS);
    const tasks = Array.from({ length: 25 }, (_, i) => verify(i));
    await queue.sendBatch(tasks);
    const sent = requests();
    expect(sent.map((r) => r.Entries?.length)).toEqual([10, 10, 5]);
    expect(sent.every((r) => r.QueueUrl === URLS.verify)).toBe(true);
    const bodies = sent.flatMap((r) => r.Entries?.map((e) => JSON.parse(e.MessageBody ?? '')) ?? []);
    expect(bodies).toEqual(tasks);
    // Ids are distinct within each request, as SQS requires
    for (const r of sent) expect(new Set(r.Entries?.map((e) => e.Id)).size).toBe(r.Entries?.length);
  });

  it('keeps each request to one queue and under 256 KiB', async () => {
    const queue = new SqsTaskQueue(new SQSClient({}), URLS);
    // Six tasks of ~60 KiB each: at most four fit in one request
    const big = (i: number): Task => ({ ...verify(i), planId: `${'p'.repeat(60 * 1024)}-${i}` }) as Task;
    const slice: Task = {
      kind: 'restore-slice',
      restoreJobId: 'restore-20260101T000000Z-aaaaaaaa',
      manifestId: 'a'.repeat(64),
      slice: 0,
      first: 0,
      count: 1,
    };
    await queue.sendBatch([big(0), slice, big(1), big(2), big(3), big(4), big(5)]);
    const sent = requests();
    for (const r of sent) {
      const bytes = (r.Entries ?? []).reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ''), 0);
      expect(bytes).toBeLessThanOrEqual(256 * 1024);
    }
    expect(sent.filter((r) => r.QueueUrl === URLS.restore).map((r) => r.Entries?.length)).toEqual([1]);
    expect(sent.filter((r) => r.QueueUrl === URLS.verify).flatMap((r) => r.Entries ?? [])).toHaveLength(6);
  });

  it('throws a retryable error naming what SQS failed', async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '3', SenderFault: false, Code: 'InternalError', Message: 'try again' }],
    });
    const queue = new SqsTaskQueue(new SQSClient({}), URLS);
    const sending = queue.sendBatch([verify(0), verify(1), verify(2), verify(3)]);
    await expect(sending).rejects.toBeInstanceOf(TransientError);
    await expect(sending).rejects.toThrow('1 not sent, e.g. InternalError: try again');
  });

  it('refuses, before sending anything, a task whose queue is not configured', async () => {
    const queue = new SqsTaskQueue(new SQSClient({}), { verify: URLS.verify });
    const copy: Task = { kind: 'copy', planId: 'photos', snapshotId: 'S1', region: 'eu-west-1' };
    await expect(queue.sendBatch([verify(0), copy])).rejects.toBeInstanceOf(ValidationError);
    expect(requests()).toEqual([]);
  });
});

describe('SqsTaskQueue.sendBatch, refused entries', () => {
  it('throws a ValidationError (not retryable) when SQS refuses an entry as the sender’s fault', async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '0', SenderFault: true, Code: 'InvalidMessageContents', Message: 'Invalid characters' }],
    });
    const queue = new SqsTaskQueue(new SQSClient({}), URLS);
    await expect(queue.sendBatch([verify(0)])).rejects.toBeInstanceOf(ValidationError);
  });
});
