/**
 * prune: SQS-fed from the prune queue. A `forget` task applies retention, then enqueues one `gc` task
 * per region; a `gc` task removes the unreferenced manifests, parts and blobs of one region's vault,
 * its mark going on in another invocation when this one's time runs low (docs/format.md#garbage-collection).
 */
import { prunePlan } from '#domain/prune.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('prune', c, (task, context) =>
    prunePlan(
      context ? { ...c.pipeline, remainingTimeMs: () => context.getRemainingTimeInMillis() } : c.pipeline,
      task,
    ),
  );
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
