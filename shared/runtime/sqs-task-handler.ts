/**
 * The shape every SQS-fed handler shares: parse each record as a task (zod), run one use case,
 * and map the outcome to Lambda's partial batch response.
 *
 * - success → the record is deleted;
 * - retryable error → reported in `batchItemFailures`: SQS redelivers it after the visibility
 *   timeout and moves it to the DLQ after `maxReceiveCount`; the failure on that last receive is
 *   recorded on the job (and a snapshot that will never finish is marked FAILED; a restore slice's
 *   failure marks its restore job FAILED);
 * - not retryable (bad JSON, unknown plan, integrity failure) → sent to this function's DLQ at once
 *   with the reason as a message attribute, recorded on the job, and deleted from the queue.
 *
 * One bad record never fails the others.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
 */

import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { isRetryable, reasonOf } from '#domain/errors.ts';
import {
  jobIdOf,
  parseTask,
  queueOf,
  type Task,
  type TaskKind,
  type TaskOn,
  type TaskQueueName,
  taskIdOf,
  upgradeTask,
} from '#domain/tasks.ts';
import type { Container } from './container.ts';
import { withHeartbeat } from './heartbeat.ts';
import { publishMetrics } from './metrics.ts';

/** Message attribute that carries the reason a poison message was dead-lettered. */
export const DLQ_REASON_ATTRIBUTE = 'strongbox-error-reason';

/**
 * Build the Lambda handler of an SQS-fed function.
 * @param queue the queue this function polls: it carries the kinds `queueOf` maps to it (the prune
 *   queue: `forget` and `gc`); the old shapes of those kinds are accepted too (`upgradeTask`).
 * @param container dependencies (config, pipeline, SQS client, logger).
 * @param run the use case: takes the parsed task, one of the queue's kinds (and the Lambda context,
 *   for its remaining time), returns a result to log.
 * @example
 * ```ts
 * export const makeHandler = (c: Container) => sqsTaskHandler('verify', c, (task) => verifySnapshot(c.pipeline, task));
 * ```
 */
export function sqsTaskHandler<Q extends TaskQueueName>(
  queue: Q,
  container: Container,
  run: (task: TaskOn<Q>, context?: Context) => Promise<unknown>,
) {
  const { logger } = container;
  const processor = new BatchProcessor(EventType.SQS);

  const recordHandler = async (record: SQSRecord, context?: Context): Promise<void> => {
    let task: TaskOn<Q> | undefined;
    try {
      const parsed = parseTask(record.body, queue);
      task = parsed;
      // A sign of life every heartbeatSeconds: the reaper re-drives the task only once they stop.
      const result = await withHeartbeat(container, parsed, () => run(parsed, context));
      logger.info(`${parsed.kind} task done`, { task, result: summarize(result) });
    } catch (error) {
      const kind = task?.kind ?? queue;
      const reason = reasonOf(error);
      if (isRetryable(error) || !container.config.dlqUrl) {
        const receives = Number(record.attributes.ApproximateReceiveCount);
        if (receives >= container.config.maxReceiveCount) {
          // The last receive: SQS moves the message to the DLQ, so the job ends here.
          const final = `${reason} (failed ${receives} times; the task is in the DLQ)`;
          logger.error(`${kind} task failed for the last time`, {
            messageId: record.messageId,
            reason: final,
          });
          await recordOnJob(container, task ?? looseTask(record.body, queue), final);
        } else {
          logger.warn(`${kind} task failed, will be retried`, {
            messageId: record.messageId,
            reason,
            receives,
          });
        }
        throw error;
      }
      logger.error(`${kind} task is poison: sent to the DLQ`, { messageId: record.messageId, reason });
      await deadLetter(container, record, reason);
      await recordOnJob(container, task ?? looseTask(record.body, queue), reason);
    }
  };

  return middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(injectLambdaContext(logger))
    .use(publishMetrics(container.metrics, container.portMeter))
    .handler(async (event, context) =>
      processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false }),
    );
}

async function deadLetter(container: Container, record: SQSRecord, reason: string): Promise<void> {
  await container.sqs.send(
    new SendMessageCommand({
      QueueUrl: container.config.dlqUrl,
      MessageBody: record.body,
      MessageAttributes: {
        [DLQ_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: reason.slice(0, 1000) },
        'strongbox-source-message-id': { DataType: 'String', StringValue: record.messageId },
      },
    }),
  );
}

/**
 * The kind of the old shapes each queue carried: `upgradeTask` tells its kind from its fields (a
 * `restore-part` becomes a `restore-slice`, its `part` the `slice`; a body of today's shape is kept).
 */
const OLD_KIND: Record<TaskQueueName, string> = {
  snapshot: 'snapshot',
  copy: 'copy',
  verify: 'verify',
  prune: 'prune',
  restore: 'restore-part',
  drill: 'drill',
};

/**
 * The task fields a poison message still carries, if any, so its job can record the reason. Its kind
 * is the queue's, told apart by the fields it carries (`partition`, `tier`, `region`), whatever its
 * `kind` says.
 */
function looseTask(body: string, queue: TaskQueueName): Task | undefined {
  try {
    const raw = JSON.parse(body) as Record<string, unknown>;
    const json = upgradeTask({ ...raw, kind: OLD_KIND[queue] }) as Record<string, unknown>;
    const kind = json.kind as TaskKind;
    if (kind === 'restore-slice' && typeof json.restoreJobId === 'string') {
      return { ...json, kind, restoreJobId: json.restoreJobId } as Task;
    }
    if (typeof json.planId === 'string' && typeof json.snapshotId === 'string') {
      return {
        ...json,
        kind,
        planId: json.planId,
        snapshotId: json.snapshotId,
        region: String(json.region ?? ''),
      } as Task;
    }
  } catch {
    // not JSON: nothing to record it on
  }
  return undefined;
}

async function recordOnJob(container: Container, task: Task | undefined, failure: string): Promise<void> {
  let reason = failure;
  // A drill has no job: its record lives on the plan (and the reason in the logs and the DLQ).
  if (!task || task.kind === 'drill') return;
  const { catalog, clock } = container.pipeline;
  const at = clock.now().toISOString();
  if (task.kind === 'restore-slice') {
    // A restore slice names a restore job, not a snapshot job: the whole restore fails with the reason.
    const error = `slice ${task.slice}: ${reason}`;
    try {
      await catalog.finishRestoreJob(task.restoreJobId, { status: 'FAILED', at, error });
    } catch (failure) {
      container.logger.warn('could not record the failure on the restore job', {
        restoreJobId: task.restoreJobId,
        reason: reasonOf(failure),
      });
    }
    return;
  }
  const jobId = jobIdOf(task);
  // A partition's failure fails its snapshot: say which partition.
  if (task.kind === 'snapshot-partition') reason = `partition ${task.partition.index}: ${reason}`;
  try {
    if (!(await catalog.getJob(jobId))) return;
    await catalog.updateTask(jobId, taskIdOf(task), { status: 'FAILED', error: reason, finishedAt: at });
    await catalog.updateJob(jobId, { status: 'FAILED', error: reason, updatedAt: at });
    if (queueOf(task.kind) === 'snapshot') {
      // A snapshot that will never finish must not stay RUNNING (it would shield its parent from retention).
      await catalog.updateSnapshot(task.planId, task.snapshotId, { status: 'FAILED', error: reason }, [
        'RUNNING',
      ]);
    }
  } catch (error) {
    container.logger.warn('could not record the failure on the job', { jobId, reason: reasonOf(error) });
  }
}

function summarize(result: unknown): unknown {
  if (result && typeof result === 'object' && 'decisions' in result) {
    const { decisions: _d, ...rest } = result as Record<string, unknown>;
    return rest;
  }
  return result;
}
