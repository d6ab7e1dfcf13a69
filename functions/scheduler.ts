/**
 * scheduler: fired by an EventBridge schedule; starts one snapshot job per due plan, and enqueues
 * the verification tiers plans schedule on their own and their due restore drills; then the reaper
 * re-drives (or fails for good) work held by dead workers; then the detector's settings watch reads
 * each protected bucket's lifecycle rules and policy (docs/format.md#detector): a change is counted
 * and judged like captured changes (a finding, `AnomalyDetected`, an event, a quarantine). A watch
 * that fails is logged and tried again on the next tick; it never fails the tick.
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html
 * @see ../shared/runtime/scheduled-event-handler.ts
 */

import { TransientError } from '#domain/errors.ts';
import { reapStaleWork } from '#domain/reaper.ts';
import { startDueDrills, startDueSnapshots, startDueVerifications } from '#domain/scheduling.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';
import { recordSnapshotAges } from '#runtime/metrics.ts';
import { scheduledEventHandler } from '#runtime/scheduled-event-handler.ts';
import { settingsWatch } from '#runtime/settings-watch.ts';

export const makeHandler = (c: Container) => {
  const watchSettings = settingsWatch(c);
  return scheduledEventHandler(c, async (time, event) => {
    const result = await startDueSnapshots(c.pipeline, time);
    const verifications = await startDueVerifications(c.pipeline, time);
    const drills = await startDueDrills(c.pipeline, time);
    const reaper = await reapStaleWork(c.pipeline, time, c.config.reaper);
    c.logger.info('scheduler tick', {
      time: event.time,
      ...result,
      verifications: verifications.started,
      drills: drills.started,
      reaped: reaper.reaped,
    });
    for (const r of reaper.reaped.filter((x) => x.action === 'failed'))
      c.logger.error('a task held by a dead worker failed for good', { ...r });
    for (const f of reaper.failed) c.logger.warn('the reaper could not handle a task', { ...f });
    for (const f of result.failed) c.logger.error('could not start a plan’s snapshot', { ...f });
    for (const f of verifications.failed)
      c.logger.error('could not enqueue a plan’s scheduled verification', { ...f });
    for (const f of drills.failed) c.logger.error('could not enqueue a plan’s restore drill', { ...f });
    await recordSnapshotAges(c, c.pipeline.clock.now());
    await watchSettings();
    // A passing failure (throttling) fails the tick, so Lambda retries it; starting jobs is idempotent.
    const failed = [...result.failed, ...verifications.failed, ...drills.failed];
    if (failed.some((f) => f.retryable)) {
      throw new TransientError(`scheduler tick: ${failed.map((f) => `${f.planId}: ${f.reason}`).join('; ')}`);
    }
    return {
      ...result,
      verifications: verifications.started,
      drills: drills.started,
      reaped: reaper.reaped,
    };
  });
};

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
