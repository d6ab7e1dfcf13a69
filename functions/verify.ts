/**
 * verify: SQS-fed; runs the verification tiers (catalog, checksum, deep) in every region holding the
 * snapshot; a deep pass stops before the Lambda's time runs out and continues in a new task.
 */
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { recordVerification } from '#runtime/metrics.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('verify', c, async (task, context) =>
    recordVerification(
      c.metrics,
      await verifySnapshot(
        c.pipeline,
        task,
        context ? { remainingMs: () => context.getRemainingTimeInMillis() } : {},
      ),
    ),
  );
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
