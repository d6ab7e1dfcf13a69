/** snapshot: SQS-fed; stores new and changed objects as blobs, then the manifest, then commits. */
import { takeSnapshot } from '#domain/snapshot.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('snapshot', c, (task) => takeSnapshot(c.pipeline, task));
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
