// The handlers' application metrics: the EMF documents Powertools writes to stdout carry the metrics
// that serverless.yml's alarms read (namespace, service dimension, names, values).
import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { meteredPort, PortMeter } from '#adapters/metered-port.ts';
import { NotFoundError, TransientError } from '#domain/errors.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { contentIdOf, VaultLayout } from '#domain/vault.ts';
import type { Config } from '#runtime/config.ts';
import type { Container } from '#runtime/container.ts';
import { createMetrics, METRICS, PORT_DIMENSION, publishPortMetrics } from '#runtime/metrics.ts';
import { scheduledEventHandler } from '#runtime/scheduled-event-handler.ts';
import { makeHandler as makeCaptureHandler } from '../../functions/capture.ts';
import { makeHandler as makeDrillHandler } from '../../functions/drill.ts';
import { makeHandler as makePruneHandler } from '../../functions/prune.ts';
import { makeHandler as makeSchedulerHandler } from '../../functions/scheduler.ts';
import { makeHandler as makeVerifyHandler } from '../../functions/verify.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { captureEmf, type EmfDocument } from '../support/metrics.ts';
import { sqsRecord } from '../support/sqs.ts';

const NAMESPACE = 'Strongbox/test';

const context = {
  functionName: 'strongbox-test',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:strongbox-test',
  memoryLimitInMB: '1024',
  getRemainingTimeInMillis: () => 60_000,
} as Context;

const config = (): Config => testConfig({ metricsNamespace: NAMESPACE });

/** The value of `name` in the documents (the one whose dimensions match `dimensions`, if given). */
function valuesOf(docs: EmfDocument[], name: string, dimensions: Record<string, string> = {}): unknown[] {
  return docs
    .filter((d) => d._aws.CloudWatchMetrics.some((m) => m.Metrics.some((x) => x.Name === name)))
    .filter((d) => Object.entries(dimensions).every(([k, v]) => d[k] === v))
    .map((d) => d[name]);
}

/** The key of the copy vault's pack holding `blobId`. */
async function packKeyOf(p: MemoryPipeline, blobId: string): Promise<string> {
  const where = (await VaultIndex.load(p.copy, p.deps.envelope)).locate(blobId);
  if (!where) throw new Error(`blob ${blobId} is in no index of the copy vault`);
  return VaultLayout.packKey(where.packId);
}

function sqsEvent(body: object): SQSEvent {
  return { Records: [sqsRecord('m-1', JSON.stringify(body))] };
}

describe('application metrics (EMF on stdout)', () => {
  let metrics: Metrics;

  function container(p: MemoryPipeline): Container {
    return {
      config: config(),
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics,
    };
  }

  beforeEach(() => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    vi.stubEnv('POWERTOOLS_DEV', 'false');
    metrics = createMetrics(config());
  });

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('capture reports how long after the S3 event it journaled it', async () => {
    // Prepare: the fixture's event happened at 23:45:00.123; capture runs 42.5 s later
    const event = JSON.parse(readFileSync('events/s3/object-created.json', 'utf8')) as unknown;
    const p = memoryPipeline('2026-11-21T23:45:42.623Z');
    await p.catalog.putPlans([plan({ source: { bucket: 'strongbox-dev-source', prefix: '' } })]);
    const handler = makeCaptureHandler(container(p));
    // Act
    const docs = await captureEmf(() => handler(event, context));
    // Assess
    expect(docs).toHaveLength(1);
    const [doc] = docs as [EmfDocument];
    expect(doc._aws.CloudWatchMetrics[0]).toEqual({
      Namespace: NAMESPACE,
      Dimensions: [['service']],
      Metrics: [{ Name: METRICS.captureLag, Unit: 'Seconds' }],
    });
    expect(doc.service).toBe('strongbox');
    expect(doc[METRICS.captureLag]).toBe(42.5);
  });

  it('the scheduler reports each enabled plan’s snapshot age and the oldest, every tick', async () => {
    // Prepare: one plan snapshotted at 00:00, one disabled plan
    const p = memoryPipeline('2026-03-01T00:00:00Z');
    await p.catalog.putPlans([plan(), plan({ id: 'archive', enabled: false })]);
    await putText(p, 'a.txt', 'alpha');
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    p.clock.advance(90 * 60_000);
    const handler = makeSchedulerHandler(container(p));
    const tick = {
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: p.clock.now().toISOString(),
    };
    // Act
    const docs = await captureEmf(() => handler(tick, context));
    // Assess
    expect(valuesOf(docs, METRICS.snapshotAge, { plan: 'photos', service: 'strongbox' })).toEqual([90]);
    expect(valuesOf(docs, METRICS.snapshotAge, { plan: 'archive' })).toEqual([]);
    expect(valuesOf(docs, METRICS.oldestSnapshotAge)).toEqual([90]);
    const perPlan = docs.find((d) => d.plan === 'photos');
    expect(perPlan?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'plan']]);
    expect(perPlan?._aws.CloudWatchMetrics[0]?.Namespace).toBe(NAMESPACE);
  });

  it('a plan without a committed snapshot ages from its creation; no plans report 0', async () => {
    const p = memoryPipeline('2026-03-01T02:00:00Z');
    const handler = makeSchedulerHandler(container(p));
    const tick = {
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: p.clock.now().toISOString(),
    };
    expect(valuesOf(await captureEmf(() => handler(tick, context)), METRICS.oldestSnapshotAge)).toEqual([0]);
    await p.catalog.putPlans([plan({ createdAt: '2026-03-01T01:15:00.000Z', schedule: 'rate(1 day)' })]);
    p.clock.advance(0);
    const docs = await captureEmf(() => handler(tick, context));
    expect(valuesOf(docs, METRICS.snapshotAge, { plan: 'photos' })).toEqual([45]);
    expect(valuesOf(docs, METRICS.oldestSnapshotAge)).toEqual([45]);
  });

  describe('verify', () => {
    let p: MemoryPipeline;
    let snapshotId: string;

    beforeEach(async () => {
      p = memoryPipeline();
      await p.catalog.putPlans([plan({ verification: { samplePercent: 100 } })]);
      await putText(p, 'a.txt', 'alpha');
      snapshotId = (await startSnapshotNow(p.deps, 'photos')).snapshotId;
      // Run the snapshot and its copy; leave verification to the handler.
      for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
        for (const task of tasks.filter((t) => t.kind !== 'verify')) await p.run(task);
      }
    });

    it('reports VerificationFailed 0 for a snapshot that passes', async () => {
      const handler = makeVerifyHandler(container(p));
      const docs = await captureEmf(() =>
        handler(sqsEvent({ kind: 'verify', planId: 'photos', snapshotId }), context),
      );
      expect(valuesOf(docs, METRICS.verificationFailed)).toEqual([0]);
      expect(docs[0]?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
        { Name: METRICS.verificationFailed, Unit: 'Count' },
      ]);
    });

    it('reports VerificationFailed 1 for a snapshot with a missing pack', async () => {
      p.copy.objects.delete(await packKeyOf(p, contentIdOf('alpha')));
      const handler = makeVerifyHandler(container(p));
      const docs = await captureEmf(() =>
        handler(sqsEvent({ kind: 'verify', planId: 'photos', snapshotId }), context),
      );
      expect(valuesOf(docs, METRICS.verificationFailed)).toEqual([1]);
    });
  });

  describe('drill', () => {
    let p: MemoryPipeline;
    const drillTask = {
      kind: 'drill',
      planId: 'photos',
      drillId: '20260301T010000Z',
      scheduledAt: '2026-03-01T01:00:00.000Z',
    };

    beforeEach(async () => {
      p = memoryPipeline();
      p.objects.createBucket('drill-scratch');
      await p.catalog.putPlans([plan()]);
      await putText(p, 'a.txt', 'alpha');
      await startSnapshotNow(p.deps, 'photos');
      await p.drain();
    });

    const drillContainer = () => ({
      ...container(p),
      config: testConfig({ metricsNamespace: NAMESPACE, drillBucket: 'drill-scratch' }),
    });

    it('reports DrillFailed 0 and the plan’s EstimatedRtoSeconds for a drill that passes', async () => {
      const handler = makeDrillHandler(drillContainer());
      const docs = await captureEmf(() => handler(sqsEvent(drillTask), context));
      expect(valuesOf(docs, METRICS.drillFailed, { service: 'strongbox' })).toEqual([0, 0]);
      expect(valuesOf(docs, METRICS.drillFailed, { plan: 'photos' })).toEqual([0]);
      const [rto] = valuesOf(docs, METRICS.estimatedRto, { plan: 'photos' }) as [number];
      expect(rto).toBeGreaterThan(0);
    });

    it('reports DrillFailed 1 for a drill that finds a corrupt blob', async () => {
      const pack = p.copy.objects.get(await packKeyOf(p, contentIdOf('alpha'))) as { body: Uint8Array };
      pack.body = new Uint8Array(pack.body.length);
      const handler = makeDrillHandler(drillContainer());
      const docs = await captureEmf(() => handler(sqsEvent(drillTask), context));
      expect(valuesOf(docs, METRICS.drillFailed, { plan: 'photos' })).toEqual([1]);
      expect((await p.catalog.getDrillHistory('photos'))?.drills[0]?.status).toBe('FAILED');
    });
  });

  it('writes nothing for an invocation that stored no metric', async () => {
    const p = memoryPipeline();
    const handler = makePruneHandler(container(p));
    const docs = await captureEmf(() =>
      handler(sqsEvent({ kind: 'forget', planId: 'nope', snapshotId: '20260301T000000Z' }), context),
    );
    expect(docs).toEqual([]);
  });

  describe('port metrics', () => {
    const PORT_METRICS = [
      { Name: METRICS.portCalls, Unit: 'Count' },
      { Name: METRICS.portMilliseconds, Unit: 'Milliseconds' },
    ];

    /** A meter on a fake clock, and a port whose calls take 10 ms and fail when told. */
    function meteredFake(name: string, meter: PortMeter, clock: { ms: number }) {
      return meteredPort(
        {
          async read(fail?: Error) {
            clock.ms += 10;
            if (fail) throw fail;
            return 'ok';
          },
        },
        name,
        meter,
      );
    }

    it('publishes one document per port called, with the port dimension, then empties the meter', async () => {
      const clock = { ms: 0 };
      const meter = new PortMeter({ now: () => clock.ms });
      const catalog = meteredFake('catalog', meter, clock);
      const vault = meteredFake('vault:eu-west-1', meter, clock);
      await catalog.read();
      await catalog.read(new TransientError('throttled')).catch(() => undefined);
      await catalog.read(new NotFoundError('gone')).catch(() => undefined);
      await vault.read();
      metrics.addMetric(METRICS.captureLag, 'Seconds', 1); // stored by the invocation itself
      const docs = await captureEmf(async () => publishPortMetrics(metrics, meter));
      expect(docs).toHaveLength(3);
      const [own, ofCatalog, ofVault] = docs as [EmfDocument, EmfDocument, EmfDocument];
      expect(own._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
      expect(own[PORT_DIMENSION]).toBeUndefined();
      expect(ofCatalog._aws.CloudWatchMetrics[0]).toEqual({
        Namespace: NAMESPACE,
        Dimensions: [['service', PORT_DIMENSION]],
        Metrics: [
          ...PORT_METRICS,
          { Name: METRICS.portFailures, Unit: 'Count' },
          { Name: METRICS.portRetryableFailures, Unit: 'Count' },
        ],
      });
      expect(ofCatalog).toMatchObject({
        service: 'strongbox',
        [PORT_DIMENSION]: 'catalog',
        [METRICS.portCalls]: 3,
        [METRICS.portMilliseconds]: 30,
        [METRICS.portFailures]: 2,
        [METRICS.portRetryableFailures]: 1,
      });
      expect(JSON.parse(ofCatalog.methods as string)).toEqual({
        read: { calls: 3, failures: 2, retryableFailures: 1, milliseconds: 30 },
      });
      // No failure, no failure metrics: an hour without failures costs no failure metric.
      expect(ofVault._aws.CloudWatchMetrics[0]?.Metrics).toEqual(PORT_METRICS);
      expect(ofVault).toMatchObject({ [PORT_DIMENSION]: 'vault:eu-west-1', [METRICS.portCalls]: 1 });
      expect(meter.empty).toBe(true);
      expect(await captureEmf(async () => publishPortMetrics(metrics, meter))).toEqual([]);
    });

    it('every handler shape publishes the port metrics after its invocation, a failed one too', async () => {
      const p = memoryPipeline('2026-03-01T00:00:00Z');
      const meter = new PortMeter();
      const metered = (): Container => ({
        ...container(p),
        pipeline: { ...p.deps, catalog: meteredPort(p.deps.catalog, 'catalog', meter) },
        portMeter: meter,
      });
      const capture = JSON.parse(readFileSync('events/s3/object-created.json', 'utf8')) as unknown;
      const tick = { 'detail-type': 'Scheduled Event', source: 'aws.events', time: '2026-03-01T00:00:00Z' };
      const forget = sqsEvent({ kind: 'forget', planId: 'nope', snapshotId: '20260301T000000Z' });
      for (const run of [
        () => makeCaptureHandler(metered())(capture, context),
        () => makeSchedulerHandler(metered())(tick, context),
        () => makePruneHandler(metered())(forget, context),
        // A tick that fails: the middleware publishes from onError.
        async () => {
          const c = metered();
          const failing = scheduledEventHandler(c, async () => {
            await c.pipeline.catalog.listPlans();
            throw new TransientError('tick failed');
          });
          await expect(failing(tick, context)).rejects.toThrow('tick failed');
        },
      ]) {
        const docs = await captureEmf(() => run().catch(() => undefined));
        const [calls] = valuesOf(docs, METRICS.portCalls, { [PORT_DIMENSION]: 'catalog' }) as [number];
        expect(calls).toBeGreaterThan(0);
        expect(meter.empty).toBe(true);
      }
    });
  });
});
