/**
 * drill: SQS-fed; runs a restore drill of a plan (a random sample of a recent snapshot restored to
 * the drill bucket's scratch prefix in every region holding it, checked, timed, deleted) and records
 * it on the plan.
 */
import { runDrill } from '#domain/drill.ts';
import { ValidationError } from '#domain/errors.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { recordDrill } from '#runtime/metrics.ts';
import { sqsTaskHandler } from '#runtime/sqs-task-handler.ts';

export const makeHandler = (c: Container) =>
  sqsTaskHandler('drill', c, async (task) => {
    const drillBucket = c.config.drillBucket;
    if (!drillBucket) throw new ValidationError('missing environment variable', 'STRONGBOX_DRILL_BUCKET');
    // A table plan's scratch tables: `<service>-<stage>-drill-…` (the vault name is `<service>-<stage>`).
    const prefix = c.config.vaultName ? { drillTablePrefix: c.config.vaultName } : {};
    const drill = await runDrill(
      { ...c.pipeline, drillBucket, ...prefix, elapsedMs: () => performance.now() },
      task,
    );
    return recordDrill(c.metrics, task.planId, drill);
  });
export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
