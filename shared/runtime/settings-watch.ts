/**
 * The scheduler's share of the detector: each tick, read every protected bucket's lifecycle rules
 * and policy ({@link watchSourceSettings}) and report what it found: `AnomalyDetected`, a log line
 * per new finding and per quarantine placed. A watch that fails is logged and tried again on the
 * next tick; it never fails the tick (starting snapshots matters more).
 * @see ../../docs/format.md#detector
 */
import { S3SourceSettingsReader } from '#adapters/s3/source-settings.ts';
import { watchSourceSettings } from '#domain/detector/source-settings.ts';
import { type Container, s3ClientFor } from './container.ts';
import { reportDetectorRun } from './detector-reports.ts';

/**
 * A watch over the container's protected buckets (in the primary region), made once per container.
 * @example
 * ```ts
 * const watch = settingsWatch(container);
 * await watch(); // on every scheduler tick
 * ```
 */
export function settingsWatch(c: Container): () => Promise<void> {
  const reader = new S3SourceSettingsReader(s3ClientFor(c.config, c.config.primaryRegion));
  return async () => {
    try {
      const { watched, failed } = await watchSourceSettings(
        { ...c.pipeline, sourceSettings: reader },
        await c.pipeline.catalog.listPlans(),
        c.anomalyEvents ? { events: c.anomalyEvents } : {},
      );
      for (const { bucket, changed, detector } of watched) {
        if (detector) reportDetectorRun(c, detector, { bucket, changed });
      }
      for (const f of failed) c.logger.warn('could not read a protected bucket’s settings', { ...f });
    } catch (error) {
      c.logger.warn('the settings watch failed; the next tick tries again', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };
}
