/**
 * Application metrics, written as CloudWatch embedded metric format (EMF) lines on stdout by
 * Powertools Metrics: Lambda ships them to CloudWatch Logs, which turns them into metrics (no API
 * call, no permission). serverless.yml's alarms and dashboard read them, in the namespace
 * `Strongbox/<stage>` with the dimension `service=strongbox` (`plan` too for per-plan ages).
 *
 * - `CaptureLagSeconds` (capture): how long after an S3 event capture journaled it.
 * - `AnomalyDetected` (capture, after a batch whose detector run recorded findings): how many
 *   findings it recorded first, overall and per plan (see #domain/detector); nothing otherwise.
 * - `RpoExceededPlans` (scheduler, every tick): how many enabled plans' newest committed snapshot is
 *   older than the plan's own `rpoMinutes`.
 * - `SnapshotAgeMinutes` per plan and `OldestSnapshotAgeMinutes` (scheduler, every tick): minutes
 *   since each enabled plan's newest committed snapshot; the alarm compares the oldest with the RPO.
 * - `VerificationFailed` (verify): after each run of any tier, 1 when the snapshot's verification is
 *   FAILED (it stays FAILED, so every later run of a tier on it raises the alarm again), 0 otherwise.
 * - `DrillFailed` (drill): after each restore drill, 1 when it FAILED, 0 otherwise, and per plan;
 *   `EstimatedRtoSeconds` per plan: the slowest region's RTO estimate of the drill.
 * - `PortCalls`, `PortMilliseconds`, `PortFailures` and `PortRetryableFailures` per `port` (every
 *   function, each invocation): how often the ports (catalog, queue, vaults, object store) were
 *   called, for how long in all, and how many calls failed (see {@link publishPortMetrics}).
 *
 * Function errors and throttles come from AWS/Lambda's own metrics. Metrics carry ids and numbers
 * only: never a key, an object's name or its content.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { PortMeter } from '#adapters/metered-port.ts';
import type { DrillRecord, Verification } from '#domain/records.ts';
import { recoveryPoint } from '#domain/rpo.ts';
import type { Config } from './config.ts';
import type { Container } from './container.ts';

/** The names of Strongbox's metrics (serverless.yml's alarms name them too). */
export const METRICS = {
  captureLag: 'CaptureLagSeconds',
  anomalyDetected: 'AnomalyDetected',
  snapshotAge: 'SnapshotAgeMinutes',
  oldestSnapshotAge: 'OldestSnapshotAgeMinutes',
  rpoExceededPlans: 'RpoExceededPlans',
  verificationFailed: 'VerificationFailed',
  drillFailed: 'DrillFailed',
  estimatedRto: 'EstimatedRtoSeconds',
  portCalls: 'PortCalls',
  portMilliseconds: 'PortMilliseconds',
  portFailures: 'PortFailures',
  portRetryableFailures: 'PortRetryableFailures',
} as const;

/** The dimension naming the port of the port metrics (`catalog`, `queue`, `vault`, `vault:<region>`, `objects`). */
export const PORT_DIMENSION = 'port';

/** The `service` dimension of every metric. */
export const METRICS_SERVICE = 'strongbox';

/**
 * The metrics of one function (one per container). `POWERTOOLS_METRICS_DISABLED=true` in the
 * process environment turns output off (the embedded stack does, to keep stdout readable).
 */
export function createMetrics(config: Pick<Config, 'metricsNamespace'>, logger?: Logger): Metrics {
  return new Metrics({
    namespace: config.metricsNamespace ?? 'Strongbox',
    serviceName: METRICS_SERVICE,
    ...(logger ? { logger } : {}),
  });
}

/**
 * middy middleware: publish what the invocation stored, after it succeeds or fails, then the port
 * metrics `meter` counted (when given; see {@link publishPortMetrics}). Unlike Powertools'
 * `logMetrics`, an invocation that stored nothing writes nothing (and warns nothing).
 */
export function publishMetrics(metrics: Metrics, meter?: PortMeter): MiddlewareObj {
  const publish = async () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    if (meter && !meter.empty) publishPortMetrics(metrics, meter);
  };
  return { after: publish, onError: publish };
}

/**
 * The port metrics (`meteredPort` in #adapters/metered-port.ts): for each port called since the
 * meter was last drained, ONE EMF document with the dimension `port` carrying `PortCalls` and
 * `PortMilliseconds` (the calls' durations summed: divide by `PortCalls` for the mean), plus
 * `PortFailures` and `PortRetryableFailures` when a call failed; then the meter is empty. The
 * per-method tallies ride along as the metadata `methods` (JSON: `{ "<method>": { calls, failures,
 * retryableFailures, milliseconds } }`), searchable in Logs Insights, not a metric.
 *
 * Cheap on purpose: every distinct metric name × dimension value is a CloudWatch custom metric billed
 * for each hour it receives data, and Powertools keeps every `addMetric` value until it publishes.
 * So a handful of sums per port and invocation — never one value per call, never a method or key
 * dimension — and the failure counts only in the hours when something failed. What `metrics` stored
 * before is published first, on its own: the `port` dimension must not reach it.
 */
export function publishPortMetrics(metrics: Metrics, meter: PortMeter): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  for (const { port, total, methods } of meter.drain()) {
    metrics.addDimension(PORT_DIMENSION, port);
    metrics.addMetric(METRICS.portCalls, MetricUnit.Count, total.calls);
    metrics.addMetric(METRICS.portMilliseconds, MetricUnit.Milliseconds, Math.round(total.milliseconds));
    if (total.failures > 0) {
      metrics.addMetric(METRICS.portFailures, MetricUnit.Count, total.failures);
      metrics.addMetric(METRICS.portRetryableFailures, MetricUnit.Count, total.retryableFailures);
    }
    const perMethod = Object.entries(methods).map(([method, t]) => [
      method,
      { ...t, milliseconds: Math.round(t.milliseconds) },
    ]);
    metrics.addMetadata('methods', JSON.stringify(Object.fromEntries(perMethod)));
    metrics.publishStoredMetrics();
  }
}

/** Capture: seconds between an S3 event and its journaling. */
export function recordCaptureLag(metrics: Metrics, eventTime: string, now: Date): void {
  const lag = Math.max(0, (now.getTime() - Date.parse(eventTime)) / 1000);
  metrics.addMetric(METRICS.captureLag, MetricUnit.Seconds, lag);
}

/**
 * Capture: `AnomalyDetected`, the findings the detector recorded first for `planId` in this batch,
 * once without the plan dimension (the alarm's) and once with it; nothing when it recorded none.
 */
export function recordAnomalies(metrics: Metrics, planId: string, created: number): void {
  if (created === 0) return;
  metrics.addMetric(METRICS.anomalyDetected, MetricUnit.Count, created);
  const single = metrics.singleMetric();
  single.addDimension('plan', planId);
  single.addMetric(METRICS.anomalyDetected, MetricUnit.Count, created);
}

/** Verify: 1 when the snapshot's verification is FAILED (by any tier, now or before), 0 otherwise. Returns its argument. */
export function recordVerification(
  metrics: Metrics,
  verification: Verification | undefined,
): Verification | undefined {
  if (verification) {
    metrics.addMetric(METRICS.verificationFailed, MetricUnit.Count, verification.status === 'FAILED' ? 1 : 0);
  }
  return verification;
}

/**
 * Drill: `DrillFailed` (1 or 0) for the alarm and per plan, and the plan's `EstimatedRtoSeconds`
 * (the largest of its regions'). Returns its argument.
 */
export function recordDrill(metrics: Metrics, planId: string, drill: DrillRecord): DrillRecord {
  const failed = drill.status === 'FAILED' ? 1 : 0;
  metrics.addMetric(METRICS.drillFailed, MetricUnit.Count, failed);
  const rto = Math.max(0, ...Object.values(drill.regions).map((r) => r.estimatedRtoSeconds));
  // A single metric is written at once, per metric: one document each, with the plan dimension.
  for (const [name, unit, value] of [
    [METRICS.drillFailed, MetricUnit.Count, failed],
    [METRICS.estimatedRto, MetricUnit.Seconds, rto],
  ] as const) {
    const single = metrics.singleMetric();
    single.addDimension('plan', planId);
    single.addMetric(name, unit, value);
  }
  return drill;
}

/**
 * Scheduler: the age in minutes of each enabled plan's newest committed snapshot (its point in
 * time), or of the plan itself while it has none, per plan and the oldest of all (0 without plans,
 * so a tick always reports and a silent scheduler shows as missing data). A catalog failure is
 * logged, not thrown: the tick's own work is done by then.
 */
export async function recordSnapshotAges(
  c: Pick<Container, 'metrics' | 'pipeline' | 'logger'>,
  now: Date,
): Promise<void> {
  const { catalog } = c.pipeline;
  try {
    let oldest = 0;
    let exceeded = 0;
    for (const plan of await catalog.listPlans()) {
      if (!plan.enabled) continue;
      const point = recoveryPoint(plan, await catalog.listSnapshots(plan.id), now);
      const single = c.metrics.singleMetric();
      single.addDimension('plan', plan.id);
      single.addMetric(METRICS.snapshotAge, MetricUnit.NoUnit, point.ageMinutes);
      oldest = Math.max(oldest, point.ageMinutes);
      if (point.exceeded) exceeded += 1;
    }
    c.metrics.addMetric(METRICS.oldestSnapshotAge, MetricUnit.NoUnit, oldest);
    c.metrics.addMetric(METRICS.rpoExceededPlans, MetricUnit.Count, exceeded);
  } catch (error) {
    c.logger.warn('could not measure snapshot ages', { reason: (error as Error).message });
  }
}
