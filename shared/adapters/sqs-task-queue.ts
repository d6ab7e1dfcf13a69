/**
 * {@link TaskQueue} on SQS: one queue per function (snapshot, copy, verify, prune, restore, drill);
 * each task kind goes to its queue, {@link queueOf}.
 */
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
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
    const url = this.#urlOf(task);
    try {
      await this.#client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(task) }));
    } catch (error) {
      throw new TransientError(`send ${task.kind} task: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * `SendMessageBatch` per queue: up to 10 tasks and {@link BATCH_MAX_BYTES} a request, a few
   * requests at a time.
   * @throws TransientError (retryable) naming the first entry SQS failed, or the request that failed.
   * @throws ValidationError (not retryable) when no queue is configured for a task's kind, or SQS
   *   refused an entry as the sender's fault (`SenderFault`: its contents or size).
   * @see https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
   */
  async sendBatch(tasks: readonly Task[]): Promise<void> {
    const batches: { url: string; bodies: string[] }[] = [];
    const open = new Map<string, { url: string; bodies: string[]; bytes: number }>();
    for (const task of tasks) {
      const url = this.#urlOf(task);
      const body = JSON.stringify(task);
      const bytes = Buffer.byteLength(body);
      let batch = open.get(url);
      if (!batch || batch.bodies.length === 10 || batch.bytes + bytes > BATCH_MAX_BYTES) {
        batch = { url, bodies: [], bytes: 0 };
        open.set(url, batch);
        batches.push(batch);
      }
      batch.bodies.push(body);
      batch.bytes += bytes;
    }
    const limit = pLimit(BATCHES_IN_FLIGHT);
    await Promise.all(batches.map((b) => limit(() => this.#sendOne(b.url, b.bodies))));
  }

  async #sendOne(url: string, bodies: readonly string[]): Promise<void> {
    let failed: {
      Id?: string | undefined;
      Code?: string | undefined;
      Message?: string | undefined;
      SenderFault?: boolean | undefined;
    }[];
    try {
      const out = await this.#client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: bodies.map((MessageBody, i) => ({ Id: String(i), MessageBody })),
        }),
      );
      failed = out.Failed ?? [];
    } catch (error) {
      throw new TransientError(`send ${bodies.length} task(s): ${(error as Error).message}`, {
        cause: error,
      });
    }
    const first = failed[0];
    const refused = failed.find((f) => f.SenderFault);
    if (refused) {
      // The message itself is refused (its contents or size): sending it again cannot help.
      throw new ValidationError(
        `send ${bodies.length} task(s): SQS refused ${failed.length}, e.g. ${refused.Code}: ${refused.Message}`,
        'task',
      );
    }
    if (first) {
      throw new TransientError(
        `send ${bodies.length} task(s): ${failed.length} not sent, e.g. ${first.Code}: ${first.Message}`,
      );
    }
  }

  #urlOf(task: Task): string {
    const queue = queueOf(task.kind);
    const url = this.#urls[queue];
    if (!url) throw new ValidationError(`no ${queue} queue is configured for ${task.kind} tasks`);
    return url;
  }
}

/** The most message bytes one `SendMessageBatch` carries here: SQS's classic limit for a whole batch. */
const BATCH_MAX_BYTES = 256 * 1024;
/** Batch requests in flight at once per `sendBatch`. */
const BATCHES_IN_FLIGHT = 4;
