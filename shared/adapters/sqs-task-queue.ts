/**
 * {@link TaskQueue} on SQS: one queue per function (snapshot, copy, verify, prune, restore, drill);
 * each task kind goes to its queue, {@link queueOf}.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { TransientError, ValidationError } from '#domain/errors.ts';
import type { TaskQueue } from '#domain/ports.ts';
import { queueOf, type Task, type TaskQueueName } from '#domain/tasks.ts';

/**
 * Sends each task to the queue of its kind (`forget` and `gc` to the prune queue, for instance).
 * @example
 * ```ts
 * const queue = new SqsTaskQueue(new SQSClient({}), { snapshot: url1, copy: url2, verify: url3, prune: url4 });
 * await queue.send({ kind: 'verify', planId: 'photos', snapshotId });
 * ```
 */
export class SqsTaskQueue implements TaskQueue {
  readonly #client: SQSClient;
  readonly #urls: Partial<Record<TaskQueueName, string>>;

  constructor(client: SQSClient, queueUrls: Partial<Record<TaskQueueName, string>>) {
    this.#client = client;
    this.#urls = queueUrls;
  }

  /** @throws ValidationError (not retryable) when no queue is configured for the task's kind. */
  async send(task: Task): Promise<void> {
    const queue = queueOf(task.kind);
    const url = this.#urls[queue];
    if (!url) throw new ValidationError(`no ${queue} queue is configured for ${task.kind} tasks`);
    try {
      await this.#client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(task) }));
    } catch (error) {
      throw new TransientError(`send ${task.kind} task: ${(error as Error).message}`, { cause: error });
    }
  }
}
