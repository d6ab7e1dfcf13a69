/** verify: SQS-fed; checks every referenced blob exists in each region and a sample hashes to its address. */
import { verifySnapshot } from '#domain/verify.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { recordVerification } from '#runtime/metrics.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('verify', c, async (task) =>
    recordVerification(c.metrics, await verifySnapshot(c.pipeline, task)),
  );
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
