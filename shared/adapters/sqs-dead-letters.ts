/**
 * {@link DeadLetterQueues} on SQS: each task queue's DLQ is found from the queue's own redrive policy
 * (`RedrivePolicy.deadLetterTargetArn`), so nothing but the task queues' URLs is configured.
 *
 * A redrive receives messages from the DLQ, sends each back to its task queue (body and message
 * attributes, less the reason attribute, which belonged to the failure that put it there) and deletes
 * it from the DLQ. SQS's own `StartMessageMoveTask` would do this inside SQS on AWS, but the embedded
 * stack's emulator (fauxqs) does not implement it, and this way behaves the same on both.
 * @see https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type DeadLetter,
  type DeadLetterQueueState,
  type DeadLetterQueues,
  DLQ_REASON_ATTRIBUTE,
  type RedriveResult,
} from '#domain/dead-letters.ts';
import { StrongboxError, TransientError } from '#domain/errors.ts';
import type { TaskQueueName } from '#domain/tasks.ts';

/** Seconds a redrive holds the messages it received before it sends and deletes them. */
const REDRIVE_VISIBILITY_SECONDS = 60;
/** Receives a peek makes at most. */
const PEEK_ROUNDS = 20;

/**
 * The DLQs of the configured task queues.
 * @example
 * ```ts
 * const dlqs = new SqsDeadLetterQueues(container.sqs, container.config.queueUrls);
 * for (const q of await dlqs.list()) console.log(q.queue, q.messages);
 * await dlqs.redrive('copy', 100); // { queue: 'copy', moved: 3, failed: [] }
 * ```
 */
export class SqsDeadLetterQueues implements DeadLetterQueues {
  readonly #client: SQSClient;
  readonly #queueUrls: Partial<Record<TaskQueueName, string>>;
  readonly #dlqs = new Map<TaskQueueName, Promise<{ url: string; name: string }>>();

  constructor(client: SQSClient, queueUrls: Partial<Record<TaskQueueName, string>>) {
    this.#client = client;
    this.#queueUrls = queueUrls;
  }

  async list(): Promise<DeadLetterQueueState[]> {
    const queues = Object.keys(this.#queueUrls) as TaskQueueName[];
    return Promise.all(
      queues.map(async (queue) => {
        const dlq = await this.#dlqOf(queue);
        const [messages, inFlight] = await this.#depth(dlq.url, queue);
        return { queue, dlqName: dlq.name, messages, inFlight };
      }),
    );
  }

  async peek(queue: TaskQueueName, max: number): Promise<DeadLetter[]> {
    const dlq = await this.#dlqOf(queue);
    const seen = new Map<string, DeadLetter>();
    // Received with a visibility timeout of 0, a message stays visible: receives go on until one
    // brings nothing new (SQS returns a sample of the queue each time), or `max` are seen.
    for (let round = 0; round < PEEK_ROUNDS && seen.size < max; round++) {
      const messages = await this.#receive(dlq.url, 10, 0);
      let fresh = 0;
      for (const m of messages) {
        if (!m.MessageId || seen.has(m.MessageId) || seen.size >= max) continue;
        seen.set(m.MessageId, deadLetterOf(m));
        fresh += 1;
      }
      if (fresh === 0) break;
    }
    return [...seen.values()];
  }

  async redrive(queue: TaskQueueName, max: number): Promise<RedriveResult> {
    const dlq = await this.#dlqOf(queue);
    const target = this.#queueUrls[queue] as string;
    const result: RedriveResult = { queue, moved: 0, failed: [] };
    // At most what the DLQ held when the redrive started: a task that fails again at once comes
    // back to the DLQ while the redrive goes on, and is not moved a second time in a loop.
    const held = (await this.#depth(dlq.url, queue)).reduce((a, b) => a + b, 0);
    const budget = Math.min(max, held);
    while (result.moved + result.failed.length < budget) {
      const messages = await this.#receive(
        dlq.url,
        Math.min(10, budget - result.moved - result.failed.length),
        REDRIVE_VISIBILITY_SECONDS,
      );
      if (messages.length === 0) break;
      const sent = await this.#sqs(`send ${messages.length} message(s) back to the ${queue} queue`, () =>
        this.#client.send(
          new SendMessageBatchCommand({
            QueueUrl: target,
            Entries: messages.map((m, i) => ({
              Id: String(i),
              MessageBody: m.Body ?? '',
              ...(attributesToKeep(m) ? { MessageAttributes: attributesToKeep(m) } : {}),
            })),
          }),
        ),
      );
      for (const f of sent.Failed ?? []) {
        const m = messages[Number(f.Id)];
        result.failed.push({ messageId: m?.MessageId ?? '', reason: f.Message ?? f.Code ?? 'send failed' });
      }
      const done = (sent.Successful ?? []).map((s) => messages[Number(s.Id)] as Message);
      if (done.length === 0) break; // every send failed: stop rather than receive them again
      const deleted = await this.#sqs(`delete ${done.length} message(s) from the ${queue} DLQ`, () =>
        this.#client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: dlq.url,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        ),
      );
      result.moved += done.length - (deleted.Failed?.length ?? 0);
      for (const f of deleted.Failed ?? []) {
        const m = done[Number(f.Id)];
        result.failed.push({
          messageId: m?.MessageId ?? '',
          reason: `sent back, but not deleted from the DLQ (it will run twice): ${f.Message ?? f.Code}`,
        });
      }
    }
    return result;
  }

  /** A DLQ's messages waiting and in flight (SQS's approximate counts). */
  async #depth(url: string, queue: TaskQueueName): Promise<[number, number]> {
    const out = await this.#sqs(`read the ${queue} DLQ's depth`, () =>
      this.#client.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      ),
    );
    return [
      Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
      Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    ];
  }

  /** The DLQ of a task queue, from its redrive policy (looked up once). */
  #dlqOf(queue: TaskQueueName): Promise<{ url: string; name: string }> {
    let found = this.#dlqs.get(queue);
    if (!found) {
      found = this.#findDlq(queue);
      found.catch(() => this.#dlqs.delete(queue)); // look again next time
      this.#dlqs.set(queue, found);
    }
    return found;
  }

  async #findDlq(queue: TaskQueueName): Promise<{ url: string; name: string }> {
    const url = this.#queueUrls[queue];
    if (!url) throw new StrongboxError(`no ${queue} queue is configured`);
    const out = await this.#sqs(`read the ${queue} queue's redrive policy`, () =>
      this.#client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['RedrivePolicy'] })),
    );
    const policy = out.Attributes?.RedrivePolicy;
    const arn = policy
      ? (JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn
      : undefined;
    if (!arn) throw new StrongboxError(`the ${queue} queue has no dead-letter queue (no redrive policy)`);
    // arn:aws:sqs:<region>:<account>:<name>
    const [, , , , account, name] = arn.split(':');
    if (!name) throw new StrongboxError(`the ${queue} queue's redrive policy names no queue: ${arn}`);
    const dlq = await this.#sqs(`find the ${queue} queue's DLQ ${name}`, () =>
      this.#client.send(
        new GetQueueUrlCommand({ QueueName: name, ...(account ? { QueueOwnerAWSAccountId: account } : {}) }),
      ),
    );
    if (!dlq.QueueUrl) throw new StrongboxError(`SQS returned no URL for ${name}`);
    return { url: dlq.QueueUrl, name };
  }

  async #receive(url: string, max: number, visibilityTimeoutSeconds: number): Promise<Message[]> {
    const out = await this.#sqs('receive dead letters', () =>
      this.#client.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
          VisibilityTimeout: visibilityTimeoutSeconds,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        }),
      ),
    );
    return out.Messages ?? [];
  }

  async #sqs<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof StrongboxError) throw error;
      throw new TransientError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function deadLetterOf(m: Message): DeadLetter {
  const reason = m.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue;
  const sent = Number(m.Attributes?.SentTimestamp);
  return {
    messageId: m.MessageId ?? '',
    body: m.Body ?? '',
    ...(reason ? { reasonAttribute: reason } : {}),
    receives: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
    ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent).toISOString() } : {}),
  };
}

/** The message attributes a redriven message keeps: all but the reason of its last failure. */
function attributesToKeep(m: Message): Record<string, MessageAttributeValue> | undefined {
  const kept = Object.entries(m.MessageAttributes ?? {}).filter(([name]) => name !== DLQ_REASON_ATTRIBUTE);
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}
