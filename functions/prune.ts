/**
 * prune: SQS-fed from the prune queue. A `forget` task applies retention, then enqueues one `gc` task
 * per region; a `gc` task removes the unreferenced manifests, parts and blobs of one region's vault.
 */
import { prunePlan } from '#domain/prune.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('prune', c, (task) => prunePlan(c.pipeline, task));
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
