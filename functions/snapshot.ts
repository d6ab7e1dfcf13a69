/**
 * snapshot: SQS-fed; plans a snapshot into key-range partitions, stores each partition (packs, index,
 * manifest parts) within its time budget, and the last partition seals and commits.
 */
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('snapshot', c, (task, context) =>
    takeSnapshot(
      context ? { ...c.pipeline, remainingTimeMs: () => context.getRemainingTimeInMillis() } : c.pipeline,
      task,
    ),
  );
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
