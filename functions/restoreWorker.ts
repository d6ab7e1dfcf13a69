/**
 * restoreWorker: SQS-fed from the restore queue; restores one slice of a fanned-out restore job,
 * adds what it did to the job's counters once, and marks the job SUCCEEDED when it is the last slice.
 * A slice of one object too large for one invocation pauses between upload parts and re-enqueues itself.
 */
import { restoreSlice } from '#domain/restore/jobs.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('restore', c, (task, context) =>
    restoreSlice(
      // The time left lets a slice's one large object pause between two upload parts and go on in
      // another invocation (restore/resumable.ts).
      context ? { ...c.pipeline, remainingTimeMs: () => context.getRemainingTimeInMillis() } : c.pipeline,
      task,
    ),
  );
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
