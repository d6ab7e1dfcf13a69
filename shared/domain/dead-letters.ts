/**
 * Dead letters: the tasks a task queue gave up on (its DLQ), why, and putting them back on their
 * queue (a redrive). A task reaches its queue's DLQ in one of two ways (see
 * #runtime/sqs-task-handler.ts): at once, as a poison message, with the reason as the message
 * attribute {@link DLQ_REASON_ATTRIBUTE}; or moved by SQS after `maxReceiveCount` failed receives,
 * with no attribute, the last failure recorded on the task's job instead. {@link describeDeadLetters}
 * finds the reason in either place. The {@link DeadLetterQueues} port reads and redrives the queues
 * (#adapters/sqs-dead-letters.ts).
 * @see ../../docs/format.md#tasks
 */
import type { JobCatalog, RestoreJobCatalog } from './catalog-ports.ts';
import { reasonOf } from './errors.ts';
import { IncomingTaskSchema, jobIdOf, type Task, type TaskQueueName, taskIdOf } from './tasks.ts';

/** Message attribute that carries the reason a poison message was dead-lettered (as the handlers set it). */
export const DLQ_REASON_ATTRIBUTE = 'strongbox-error-reason';

/** One task queue's dead-letter queue and how many messages it holds. */
export interface DeadLetterQueueState {
  /** The task queue whose DLQ this is. */
  queue: TaskQueueName;
  /** The DLQ's own name, e.g. `strongbox-prod-snapshot-dlq`. */
  dlqName: string;
  /** Messages waiting (SQS's ApproximateNumberOfMessages). */
  messages: number;
  /** Messages received and not yet deleted or released (ApproximateNumberOfMessagesNotVisible). */
  inFlight: number;
}

/** A message of a DLQ, as read without removing it. */
export interface DeadLetter {
  messageId: string;
  body: string;
  /** The reason attribute a handler set on a poison message, when it did. */
  reasonAttribute?: string;
  /** How many times the message was received (in its queue and in the DLQ). */
  receives: number;
  /** ISO-8601 UTC: when the message was first sent. */
  sentAt?: string;
}

/** What a redrive did. */
export interface RedriveResult {
  queue: TaskQueueName;
  /** Messages sent back to the task queue and deleted from the DLQ. */
  moved: number;
  /** Messages left in the DLQ, with why (they become visible again after their visibility timeout). */
  failed: { messageId: string; reason: string }[];
}

/**
 * The DLQs of the task queues.
 * - `list` reads each configured task queue's redrive policy to find its DLQ.
 * - `peek` reads up to `max` messages, receiving them with a visibility timeout of 0: nothing is
 *   removed or hidden, but each counts one more receive.
 * - `redrive` moves up to `max` messages, and no more than the DLQ held when it started, back to
 *   the task queue they came from: each is sent there, then deleted from the DLQ (a message whose
 *   send failed stays). A message sent whose delete failed is delivered twice: tasks are idempotent.
 *   A task that fails again at once is back in the DLQ, as a new message, when the redrive returns.
 * @throws TransientError (retryable) when SQS fails; StrongboxError naming the queue when it has no DLQ.
 */
export interface DeadLetterQueues {
  list(): Promise<DeadLetterQueueState[]>;
  peek(queue: TaskQueueName, max: number): Promise<DeadLetter[]>;
  redrive(queue: TaskQueueName, max: number): Promise<RedriveResult>;
}

/** A dead letter, read: its task (when its body parses), and why it failed. */
export interface DescribedDeadLetter extends DeadLetter {
  /** The task's kind (`copy`, `verify-tier`, …), or undefined when the body is no task. */
  kind?: string;
  planId?: string;
  /** The snapshot job (`<plan>/<snapshot>`), the restore job or the drill the task belongs to. */
  subject?: string;
  /** Why it is here: the reason attribute, else the failure recorded on its job, else what is known. */
  reason: string;
}

/** The task a body holds, or undefined when it is not JSON or not a task. */
export function taskOfBody(body: string): Task | undefined {
  try {
    const parsed = IncomingTaskSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function subjectOf(task: Task): string {
  if (task.kind === 'restore-slice') return `restore job ${task.restoreJobId}, slice ${task.slice}`;
  if (task.kind === 'drill') return `drill ${task.drillId} of plan ${task.planId}`;
  return `job ${jobIdOf(task)}`;
}

/** The failure the catalog recorded for a task, when it did. */
async function recordedFailure(
  catalog: Pick<JobCatalog, 'listTasks' | 'getJob'> & Pick<RestoreJobCatalog, 'getRestoreJob'>,
  task: Task,
): Promise<string | undefined> {
  if (task.kind === 'drill') return undefined;
  if (task.kind === 'restore-slice') return (await catalog.getRestoreJob(task.restoreJobId))?.error;
  const jobId = jobIdOf(task);
  const recorded = (await catalog.listTasks(jobId)).find((t) => t.taskId === taskIdOf(task));
  return recorded?.error ?? (await catalog.getJob(jobId))?.error;
}

/**
 * Up to `max` messages of `queue`'s DLQ, each with its task and the reason it failed: the reason
 * attribute of a poison message, else the failure its job recorded (a task SQS moved after its last
 * receive), else what can be said without one.
 * @example
 * ```ts
 * const letters = await describeDeadLetters(new SqsDeadLetterQueues(sqs, config.queueUrls), catalog, 'copy', 10);
 * // [{ kind: 'copy', subject: 'job photos/20261201T000000Z', reason: 'copy:eu-west-1: … (failed 3 times; …)', … }]
 * ```
 */
export async function describeDeadLetters(
  queues: Pick<DeadLetterQueues, 'peek'>,
  catalog: Pick<JobCatalog, 'listTasks' | 'getJob'> & Pick<RestoreJobCatalog, 'getRestoreJob'>,
  queue: TaskQueueName,
  max: number,
): Promise<DescribedDeadLetter[]> {
  const letters = await queues.peek(queue, max);
  return Promise.all(
    letters.map(async (letter): Promise<DescribedDeadLetter> => {
      const task = taskOfBody(letter.body);
      let recorded: string | undefined;
      if (!letter.reasonAttribute && task) {
        try {
          recorded = await recordedFailure(catalog, task);
        } catch (error) {
          recorded = `(the catalog could not be read: ${reasonOf(error)})`;
        }
      }
      const reason =
        letter.reasonAttribute ??
        recorded ??
        (task
          ? `no reason recorded: moved by SQS after ${letter.receives} receive(s)`
          : 'the body is not a task');
      return {
        ...letter,
        ...(task ? { kind: task.kind, subject: subjectOf(task) } : {}),
        ...(task && 'planId' in task ? { planId: task.planId } : {}),
        reason,
      };
    }),
  );
}
