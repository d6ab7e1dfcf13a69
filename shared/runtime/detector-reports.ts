/**
 * What a function reports of a detector run (capture after each batch, the scheduler's settings
 * watch): `AnomalyDetected` for the findings it recorded first, an error line per new finding, a
 * warning per quarantine it placed, an error per announcement that failed.
 * @see ../../docs/format.md#detector
 */
import type { CaptureOutcome } from '#domain/capture.ts';
import { describeFinding } from '#domain/detector/detect.ts';
import { type DetectorRun, runDetector } from '#domain/detector/run.ts';
import type { Container } from './container.ts';
import { recordAnomalies } from './metrics.ts';
import type { InvalidRecord } from './s3-event-handler.ts';

/** Report one plan's detector run. `fields` are added to each line (e.g. the bucket watched). */
export function reportDetectorRun(
  c: Container,
  run: DetectorRun,
  fields: Record<string, unknown> = {},
): void {
  const plan = run.planId;
  recordAnomalies(c.metrics, plan, run.created.length);
  for (const finding of run.created) {
    c.logger.error('anomaly detected', {
      plan,
      ...fields,
      finding: describeFinding(finding),
      firstSeenAt: finding.firstSeenAt,
    });
  }
  const q = run.quarantine;
  if (q?.created) {
    c.logger.warn('plan quarantined by the detector', {
      plan,
      since: q.quarantine.since,
      heldSnapshotId: q.quarantine.heldSnapshotId,
    });
  }
  for (const u of run.unannounced) {
    c.logger.error('anomaly not announced', { plan, finding: describeFinding(u.finding), reason: u.reason });
  }
}

/**
 * Capture's `afterRecords`: run the detector for the plans a batch counted changes of, or saw
 * redelivered changes of (their first delivery may have failed before the detector ran), and report.
 * @throws TransientError (retryable) from the catalog: the batch then runs again.
 */
export async function detectAfterBatch(
  c: Container,
  outcomes: readonly (CaptureOutcome | InvalidRecord)[],
): Promise<void> {
  const plans = new Set<string>();
  for (const o of outcomes) {
    if (o.status === 'journaled') for (const id of o.counted) plans.add(id);
    else if (o.status === 'duplicate') for (const id of o.plans) plans.add(id);
  }
  for (const planId of plans) {
    reportDetectorRun(
      c,
      await runDetector(c.pipeline, planId, c.anomalyEvents ? { events: c.anomalyEvents } : {}),
    );
  }
}
