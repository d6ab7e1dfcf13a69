/** prune: SQS-fed; applies retention, removes expired manifests and unreferenced blobs. */
import { prunePlan } from '#domain/prune.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('prune', c, (task) => prunePlan(c.pipeline, task));
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
