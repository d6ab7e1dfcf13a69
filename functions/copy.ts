/** copy: SQS-fed; copies the blobs a region lacks, then the manifest. */
import { copyToRegion } from '#domain/copy.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('copy', c, (task) => copyToRegion(c.pipeline, task));
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
