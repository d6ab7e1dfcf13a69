/** The TaskQueue contract, run against the memory twin and SqsTaskQueue on the emulator (fauxqs). */
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll } from 'vitest';
import { SqsTaskQueue } from '#adapters/sqs-task-queue.ts';
import { queueOf, type Task, type TaskQueueName } from '#domain/tasks.ts';
import { startSqs } from '../support/emulators.ts';
import { MemoryTaskQueue } from '../support/memory/task-queue.ts';
import { TASK_QUEUES, taskQueueContract } from './task-queue.contract.ts';

let sqs: Awaited<ReturnType<typeof startSqs>>;
let n = 0;
beforeAll(async () => {
  sqs = await startSqs();
});
afterAll(async () => {
  await sqs?.stop();
});

taskQueueContract('MemoryTaskQueue', async () => {
  const queue = new MemoryTaskQueue();
  return {
    queue,
    async receive(name: TaskQueueName) {
      const all = queue.drain();
      queue.sent.push(...all.filter((t) => queueOf(t.kind) !== name));
      return all.filter((t) => queueOf(t.kind) === name);
    },
  };
});

taskQueueContract(
  'SqsTaskQueue on the emulator',
  async () => {
    n += 1;
    const urls = Object.fromEntries(
      await Promise.all(TASK_QUEUES.map(async (name) => [name, await sqs.queue(`contract-${n}-${name}`)])),
    ) as Record<TaskQueueName, string>;
    return {
      queue: new SqsTaskQueue(sqs.client, urls),
      /** Receive until the queue answers empty, deleting what it delivered. */
      async receive(kind: TaskQueueName) {
        const tasks: Task[] = [];
        for (;;) {
          const out = await sqs.client.send(
            new ReceiveMessageCommand({ QueueUrl: urls[kind], MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
          );
          const messages = out.Messages ?? [];
          if (messages.length === 0) return tasks;
          for (const m of messages) tasks.push(JSON.parse(m.Body ?? 'null') as Task);
          await sqs.client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: urls[kind],
              Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
            }),
          );
        }
      },
    };
  },
  {
    // The emulator's, not SQS's: fauxqs's INVALID_MESSAGE_BODY_CHAR (/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/,
    // no `u` flag) refuses every surrogate pair, where SQS allows #x10000 to #x10FFFF. The embedded
    // stack cannot continue a partition whose last key has an emoji.
    'supplementary-characters': 'fauxqs refuses characters beyond the BMP (SQS allows them)',
    // SQS's: a message body is at most 1 MiB (MaximumMessageSize; fauxqs enforces it too), and a
    // snapshot task carries its partition's whole resume, parts included. SqsTaskQueue reports the
    // refusal as a retryable TransientError, so the message is retried until its DLQ; the twin takes
    // any size.
    'large-resume': 'a task over 1 MiB is refused, as a retryable TransientError',
  },
);
