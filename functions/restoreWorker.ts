/**
 * restoreWorker: SQS-fed from the restore queue; restores one slice of a fanned-out restore job,
 * adds what it did to the job's counters once, and marks the job SUCCEEDED when it is the last slice.
 */
import { restoreSlice } from '#domain/restore/jobs.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('restore', c, (task) => restoreSlice(c.pipeline, task));
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
