// The ransomware detector: the pure decision over counts (attacks fire, bulk uploads and deploys do
// not, at the rates named in each test), and capture counting on the memory twins, with the
// quarantine the detector places.
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mapS3Error } from '#adapters/s3/errors.ts';
import { captureChange, S3EventRecordSchema } from '#domain/capture.ts';
import { extensionOf, isIncompressible } from '#domain/detector/count.ts';
import { countsRange, detectAnomalies } from '#domain/detector/detect.ts';
import { addMinutes, type ChangeCounts, type MinuteCounts } from '#domain/detector/model.ts';
import { type AnomalyEvent, anomalyLines, runDetector } from '#domain/detector/run.ts';
import { DetectorSettingsSchema, detectorSettingsOf } from '#domain/detector/settings.ts';
import { EncryptedObjectError } from '#domain/errors.ts';
import { validatePlans } from '#domain/plan.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { printStatus } from '#local/cli/status.ts';
import type { Container } from '#runtime/container.ts';
import { createMetrics, METRICS } from '#runtime/metrics.ts';
import { makeHandler as makeCaptureHandler } from '../../functions/capture.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { captureEmf } from '../support/metrics.ts';

const defaults = DetectorSettingsSchema.parse({});
const now = new Date('2026-12-06T03:41:30Z');

/** `perMinute` counts in each of the `minutes` minutes ending with `to` (inclusive). */
function minutes(to: string, count: number, perMinute: Partial<ChangeCounts>): MinuteCounts[] {
  return Array.from({ length: count }, (_, i) => ({
    planId: 'photos',
    minute: addMinutes(to, -i),
    ...perMinute,
  })).reverse();
}

/** An hour of ordinary traffic before the window: 3 changes a minute, 1 an overwrite of a text file. */
const quietHour = minutes('2026-12-06T03:36', 60, { created: 3, overwrites: 1, removals: 0 });

describe('detectAnomalies', () => {
  it('fires on 412 incompressible overwrites/min with 140 removals/min, after an hour of 3 changes/min', () => {
    const counts = [
      ...quietHour,
      {
        planId: 'photos',
        minute: '2026-12-06T03:41',
        created: 412,
        overwrites: 412,
        incompressibleOverwrites: 412,
        removals: 140,
      },
    ];
    const [finding, ...others] = detectAnomalies('photos', counts, defaults, now);
    expect(finding).toEqual({
      planId: 'photos',
      kind: 'encryptedOverwrites',
      firstSeenAt: '2026-12-06T03:41:00.000Z',
      lastSeenAt: now.toISOString(),
      count: 412,
      peakPerMinute: 412,
      baseline: 0,
      threshold: 50,
      windowMinutes: 5,
    });
    expect(others).toEqual([]); // 140 removals stay under 1,000 per 5 min
    expect(anomalyLines([finding as never], now)).toEqual([
      'ANOMALY plan photos since 2026-12-06T03:41:00.000Z: encrypted overwrites 412 in 5 min (peak 412/min; baseline 0 per 5 min; threshold 50)',
    ]);
  });

  it('fires on a slower attack, 12 incompressible overwrites/min for 5 min (60), from its first minute', () => {
    const counts = [...quietHour, ...minutes('2026-12-06T03:41', 5, { incompressibleOverwrites: 12 })];
    const [finding] = detectAnomalies('photos', counts, defaults, now);
    expect(finding).toMatchObject({ count: 60, firstSeenAt: '2026-12-06T03:37:00.000Z', peakPerMinute: 12 });
  });

  it('counts objects capture could not read (SSE-C re-encryption) with the incompressible overwrites: 30 + 30', () => {
    const counts = [
      { planId: 'photos', minute: '2026-12-06T03:41', incompressibleOverwrites: 30, unreadable: 30 },
    ];
    expect(detectAnomalies('photos', counts, defaults, now).map((f) => [f.kind, f.count])).toEqual([
      ['encryptedOverwrites', 60],
    ]);
  });

  it('does not fire on a bulk upload of 2,000 new incompressible files/min (JPEG, zip) for 5 min', () => {
    const counts = [...quietHour, ...minutes('2026-12-06T03:41', 5, { created: 2000 })];
    expect(detectAnomalies('photos', counts, defaults, now)).toEqual([]);
  });

  it('does not fire on a deploy: 1,500 overwrites/min of compressible JS and CSS, 40 re-exported images, 30 removals', () => {
    const counts = [
      ...quietHour,
      {
        planId: 'photos',
        minute: '2026-12-06T03:41',
        created: 1800,
        overwrites: 1540,
        incompressibleOverwrites: 40,
        removals: 30,
      },
    ];
    expect(detectAnomalies('photos', counts, defaults, now)).toEqual([]);
  });

  it('does not fire on a photo library re-saving 9 JPEGs/min (45 per 5 min)', () => {
    const counts = minutes('2026-12-06T03:41', 65, {
      created: 9,
      overwrites: 9,
      incompressibleOverwrites: 9,
    });
    expect(detectAnomalies('photos', counts, defaults, now)).toEqual([]);
  });

  it('needs 10 times the baseline: 30 incompressible overwrites/min as usual, then 600 in 5 min does not fire, 1,600 does', () => {
    const usual = minutes('2026-12-06T03:36', 60, { incompressibleOverwrites: 30 }); // baseline 150 per 5 min
    const window = (n: number) => [
      { planId: 'photos', minute: '2026-12-06T03:41', incompressibleOverwrites: n },
    ];
    expect(detectAnomalies('photos', [...usual, ...window(600)], defaults, now)).toEqual([]);
    expect(detectAnomalies('photos', [...usual, ...window(1600)], defaults, now)).toMatchObject([
      { kind: 'encryptedOverwrites', count: 1600, baseline: 150 },
    ]);
  });

  it('fires on 1,200 removals in 5 min, and on 25 ransom renames (a.jpg → a.jpg.locked)', () => {
    const counts = [
      { planId: 'photos', minute: '2026-12-06T03:41', removals: 1200, extensionChanges: 25, created: 25 },
    ];
    expect(detectAnomalies('photos', counts, defaults, now).map((f) => f.kind)).toEqual([
      'removals',
      'extensionChanges',
    ]);
  });

  it('finds nothing when disabled, and a threshold of 0 turns its kind off', () => {
    const counts = [
      { planId: 'photos', minute: '2026-12-06T03:41', incompressibleOverwrites: 5000, overwrites: 5000 },
    ];
    expect(detectAnomalies('photos', counts, { ...defaults, enabled: false }, now)).toEqual([]);
    const off = DetectorSettingsSchema.parse({ thresholds: { encryptedOverwrites: 0 } });
    expect(detectAnomalies('photos', counts, off, now)).toEqual([]);
    const on = DetectorSettingsSchema.parse({ thresholds: { overwrites: 2000 } });
    expect(detectAnomalies('photos', counts, on, now).map((f) => f.kind)).toEqual([
      'encryptedOverwrites',
      'overwrites',
    ]);
  });

  it('ignores minutes outside the window and the baseline, and reads exactly those', () => {
    expect(countsRange(defaults, now)).toEqual({ from: '2026-12-06T02:37', to: '2026-12-06T03:41' });
    const counts = [{ planId: 'photos', minute: '2026-12-06T03:36', incompressibleOverwrites: 5000 }];
    expect(detectAnomalies('photos', counts, defaults, now)).toEqual([]);
  });
});

describe('detector settings', () => {
  it('has defaults for a plan without them, and validates a plan that sets some', () => {
    expect(detectorSettingsOf({})).toEqual(defaults);
    expect(defaults).toMatchObject({
      enabled: true,
      quarantine: true,
      windowMinutes: 5,
      baselineMinutes: 60,
      factor: 10,
      incompressibleRatio: 0.97,
      thresholds: { encryptedOverwrites: 50, removals: 1000, extensionChanges: 20, overwrites: 0 },
    });
    const doc = {
      plans: [
        {
          id: 'photos',
          source: { bucket: 'photos-src' },
          schedule: 'rate(1 hour)',
          retention: { keepLast: 3 },
          detector: { thresholds: { encryptedOverwrites: 20 }, quarantine: false },
        },
      ],
    };
    expect(validatePlans(doc, [])[0]?.detector).toMatchObject({
      quarantine: false,
      thresholds: { encryptedOverwrites: 20, removals: 1000 },
    });
    const bad = { plans: [{ ...doc.plans[0], detector: { thresholds: { removal: 3 } } }] };
    expect(() => validatePlans(bad, [])).toThrow(/plans\[0\]\.detector\.thresholds/);
  });

  it('judges content incompressible at 0.97 of its plaintext, from 1 KiB', () => {
    expect(isIncompressible(4096, 4140, defaults)).toBe(true);
    expect(isIncompressible(4096, 1500, defaults)).toBe(false);
    expect(isIncompressible(600, 650, defaults)).toBe(false); // too small to judge
    expect(isIncompressible(0, 0, defaults)).toBe(false); // nothing new sealed (deduplicated)
    expect(extensionOf('docs/Report.PDF')).toBe('.pdf');
    expect(extensionOf('docs/a.jpg.locked')).toBe('.locked');
    expect(extensionOf('docs.v2/README')).toBe('');
    expect(extensionOf('.env')).toBe('');
  });
});

describe('mapS3Error', () => {
  it('maps GetObject of an SSE-C object without its key (400 InvalidRequest) to EncryptedObjectError', () => {
    const answer = new S3ServiceException({
      name: 'InvalidRequest',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message:
        'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.',
    });
    const error = mapS3Error(answer, 's3://src/a.jpg');
    expect(error).toBeInstanceOf(EncryptedObjectError);
    expect(error.retryable).toBe(false);
  });
});

// Capture counting and the detector on the memory twins.
let p: MemoryPipeline;
let sequence = 0;
const published: AnomalyEvent[] = [];
const events = { publish: async (e: AnomalyEvent) => void published.push(e) };

function record(key: string, eventName: 'ObjectCreated:Put' | 'ObjectRemoved:Delete') {
  const o = p.objects.buckets.get('source')?.get(key);
  sequence += 1;
  return S3EventRecordSchema.parse({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: p.clock.now().toISOString(),
    eventName,
    s3: {
      bucket: { name: 'source' },
      object: {
        key: encodeURIComponent(key),
        ...(eventName === 'ObjectCreated:Put' ? { size: o?.sizeBytes ?? 0, eTag: o?.etag ?? '' } : {}),
        sequencer: sequence.toString(16).toUpperCase().padStart(18, '0'),
      },
    },
  });
}

/** Put `body` at `key` and capture its event 100 ms later. */
async function put(key: string, body: Uint8Array | string) {
  p.objects.createBucket('source');
  await p.objects.put('source', key, typeof body === 'string' ? Buffer.from(body) : body, {});
  p.clock.advance(100);
  return captureChange(p.deps, record(key, 'ObjectCreated:Put'));
}

async function remove(key: string) {
  await p.objects.delete('source', [key]);
  p.clock.advance(100);
  return captureChange(p.deps, record(key, 'ObjectRemoved:Delete'));
}

const textOf = (i: number) =>
  `export const value${i} = ${JSON.stringify('lorem ipsum dolor sit amet '.repeat(80))};\n`;
const keys = Array.from(
  { length: 200 },
  (_, i) => `site/${i < 100 ? 'js' : 'img'}/f${String(i).padStart(3, '0')}.js`,
);

/** 200 objects: the first 100 only in a snapshot taken at 00:00, the others captured at 01:00; the clock at 03:00. */
async function setUpTree(): Promise<void> {
  p = memoryPipeline('2026-12-06T00:00:00Z');
  published.length = 0;
  await p.catalog.putPlans([plan({ retention: { keepLast: 10 }, copyRegions: [] })]);
  // Half the tree only in the snapshot (never journaled), half captured after it.
  for (const key of keys.slice(0, 100)) await putText(p, key, textOf(1));
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.set('2026-12-06T01:00:00Z');
  for (const key of keys.slice(100)) await put(key, textOf(1));
  p.clock.set('2026-12-06T03:00:00Z');
}

describe('detectAnomalies per prefix', () => {
  const minutesOf = (
    to: string,
    count: number,
    prefix: string | undefined,
    perMinute: Partial<ChangeCounts>,
  ) => minutes(to, count, perMinute).map((m) => (prefix === undefined ? m : { ...m, prefix }));

  it("finds 60 encrypted overwrites/min under docs/ against docs/'s own baseline, while media/ re-encodes 200/min all day", () => {
    // media/ (a transcoder) overwrites 200 incompressible files a minute: the plan's baseline is
    // 1,000 per 5 min, so the plan's 1,060 in the window is no finding (under 10 x 1,000).
    const busy = { created: 200, overwrites: 200, incompressibleOverwrites: 200 };
    const attack = { created: 60, overwrites: 60, incompressibleOverwrites: 60 };
    const counts = [
      ...minutesOf('2026-12-06T03:40', 64, undefined, busy),
      ...minutesOf('2026-12-06T03:41', 65, 'media/', busy),
      {
        planId: 'photos',
        minute: '2026-12-06T03:41',
        created: 260,
        overwrites: 260,
        incompressibleOverwrites: 260,
      },
      { planId: 'photos', minute: '2026-12-06T03:41', prefix: 'docs/', ...attack },
    ];
    const findings = detectAnomalies('photos', counts, defaults, now);
    expect(findings.map((f) => [f.kind, f.count, f.prefix, f.perPrefix])).toEqual([
      ['encryptedOverwrites', 60, 'docs/', true],
    ]);
    expect(anomalyLines(findings, now)[0]).toMatch(
      /encrypted overwrites 60 in 5 min .* under 'docs\/' \(its own baseline\)$/,
    );
  });

  it('reports a bucket-wide attack once, as the plan’s finding, not once per prefix', () => {
    const attack = { created: 100, overwrites: 100, incompressibleOverwrites: 100 };
    const counts = [
      {
        planId: 'photos',
        minute: '2026-12-06T03:41',
        ...attack,
        incompressibleOverwrites: 300,
        overwrites: 300,
        created: 300,
      },
      ...['a/', 'b/', 'c/'].map((prefix) => ({
        planId: 'photos',
        minute: '2026-12-06T03:41',
        prefix,
        ...attack,
      })),
    ];
    expect(
      detectAnomalies('photos', counts, defaults, now).map((f) => [f.kind, f.count, f.perPrefix]),
    ).toEqual([['encryptedOverwrites', 300, undefined]]);
  });
});

describe('capture counts changes and the detector quarantines an attacked plan', () => {
  beforeEach(setUpTree);

  it('overwriting 60 of 200 objects with random bytes and deleting 20 quarantines the plan from the first minute', async () => {
    const attacked = keys.filter((_, i) => i % 10 < 3); // 30%: half of them only in the snapshot
    for (const key of attacked) await put(key, randomBytes(4096));
    for (const key of keys.filter((_, i) => i % 10 === 5)) await remove(key);
    const counts = await p.catalog.listChangeCounts('photos', {
      from: '2026-12-06T03:00',
      to: '2026-12-06T03:59',
    });
    // The plan's counts, then the same for the keys' prefix (its own baseline).
    expect(counts.map((m) => [m.minute, m.prefix])).toEqual([
      ['2026-12-06T03:00', undefined],
      ['2026-12-06T03:00', 'site/'],
    ]);
    for (const m of counts)
      expect(m).toMatchObject({ created: 60, overwrites: 60, incompressibleOverwrites: 60, removals: 20 });

    const run = await runDetector(p.deps, 'photos', { events });
    expect(run.findings.map((f) => [f.kind, f.count, f.prefix])).toEqual([
      ['encryptedOverwrites', 60, 'site/'],
    ]);
    expect(run.quarantine?.created).toBe(true);
    const q = await p.catalog.getQuarantine('photos');
    // From a minute before the first minute with an incompressible overwrite (capture's lag).
    expect(q).toMatchObject({ by: 'detector', since: '2026-12-06T02:59:00.000Z' });
    expect(q?.reason).toMatch(/^detector: encrypted overwrites 60 in 5 min/);
    expect(q?.heldSnapshotId).toBe((await p.catalog.listSnapshots('photos'))[0]?.snapshotId);
    expect(published.map((e) => e.finding.kind)).toEqual(['encryptedOverwrites']);
    expect(published[0]?.quarantine).toMatchObject({ by: 'detector', heldSnapshotId: q?.heldSnapshotId });

    // Run again (a redelivery, a concurrent invocation): nothing new recorded, announced or placed.
    const again = await runDetector(p.deps, 'photos', { events });
    expect(again.created).toEqual([]);
    expect(again.quarantine).toBeUndefined();
    expect(published).toHaveLength(1);
    expect(await p.catalog.listFindings('photos')).toHaveLength(1);
  });

  it('agrees with itself when two capture invocations run it at once: one finding, one quarantine, one announcement', async () => {
    for (const key of keys.filter((_, i) => i % 10 < 3)) await put(key, randomBytes(4096));
    const runs = await Promise.all([
      runDetector(p.deps, 'photos', { events }),
      runDetector(p.deps, 'photos', { events }),
    ]);
    expect(runs.map((r) => r.created.length).sort()).toEqual([0, 1]);
    expect(runs.filter((r) => r.quarantine?.created)).toHaveLength(1);
    expect(published).toHaveLength(1);
    expect(await p.catalog.listFindings('photos')).toHaveLength(1);
    expect(await p.catalog.listQuarantines()).toHaveLength(1);
  });

  it('prints an ANOMALY line in strongbox status, beside the QUARANTINED one', async () => {
    for (const key of keys.filter((_, i) => i % 10 < 3)) await put(key, randomBytes(4096));
    await runDetector(p.deps, 'photos', { events });
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(String(line)));
    try {
      await printStatus({ pipeline: p.deps } as Container, 'photos');
    } finally {
      log.mockRestore();
    }
    expect(lines.filter((l) => /QUARANTINED|ANOMALY/.test(l))).toEqual([
      expect.stringMatching(
        /^ {2}QUARANTINED since 2026-12-06T02:59:00.000Z by detector .*: detector: encrypted overwrites 60 in 5 min/,
      ),
      "  ANOMALY plan photos since 2026-12-06T03:00:00.000Z: encrypted overwrites 60 in 5 min (peak 60/min; baseline 0 per 5 min; threshold 50) mostly under 'site/'",
    ]);
  });

  it('counts a redelivered event once', async () => {
    await p.objects.put('source', keys[0] as string, randomBytes(4096), {});
    const event = record(keys[0] as string, 'ObjectCreated:Put');
    const first = await captureChange(p.deps, event);
    const second = await captureChange(p.deps, event);
    expect(first).toMatchObject({ status: 'journaled', counted: ['photos'] });
    expect(second.status).toBe('duplicate');
    const [minute] = await p.catalog.listChangeCounts('photos', {
      from: '2026-12-06T03:00',
      to: '2026-12-06T03:00',
    });
    expect(minute).toMatchObject({ created: 1, overwrites: 1, incompressibleOverwrites: 1 });
  });

  it('does not trip on a bulk upload of 300 new random files (300/30 s), nor on a deploy overwriting 200 text files and deleting 10', async () => {
    for (let i = 0; i < 300; i++) await put(`upload/${i}.jpg`, randomBytes(4096));
    for (const key of keys) await put(key, textOf(2));
    for (const key of keys.slice(0, 10)) await remove(key);
    const [minute] = await p.catalog.listChangeCounts('photos', {
      from: '2026-12-06T03:00',
      to: '2026-12-06T03:00',
    });
    expect(minute).toMatchObject({ created: 500, overwrites: 200, removals: 10 });
    expect(minute?.incompressibleOverwrites ?? 0).toBe(0);
    const run = await runDetector(p.deps, 'photos', { events });
    expect(run.findings).toEqual([]);
    expect(await p.catalog.getQuarantine('photos')).toBeUndefined();
  });

  it('journals an object re-encrypted with SSE-C as unreadable and counts it', async () => {
    await p.objects.put('source', 'site/js/f000.js', randomBytes(100), {});
    p.objects.beforeGet = () => {
      throw new EncryptedObjectError(
        's3://source/site/js/f000.js: encrypted with a customer-provided key (SSE-C)',
      );
    };
    const outcome = await captureChange(p.deps, record('site/js/f000.js', 'ObjectCreated:Put'));
    expect(outcome).toMatchObject({ status: 'journaled', outcome: 'lost-before-capture' });
    expect('reason' in outcome && outcome.reason).toMatch(/^unreadable: /);
    const [minute] = await p.catalog.listChangeCounts('photos', {
      from: '2026-12-06T03:00',
      to: '2026-12-06T03:00',
    });
    expect(minute).toMatchObject({ created: 1, overwrites: 1, unreadable: 1 });
  });

  it('counts ransom renames: a new key with a ransom extension, or an extension added to an existing key', async () => {
    await put('site/js/f000.js.crypt9', randomBytes(2048)); // adds an extension to a key that exists
    await put('new/notes.locked', 'pay us'); // a ransom extension
    await put('new/archive.tar.gz', randomBytes(2048)); // new/archive.tar never existed
    const [minute] = await p.catalog.listChangeCounts('photos', {
      from: '2026-12-06T03:00',
      to: '2026-12-06T03:00',
    });
    expect(minute).toMatchObject({ created: 3, extensionChanges: 2 });
    expect(minute?.overwrites ?? 0).toBe(0);
  });

  it('counts overwrites S3 encrypts with another KMS key than the key had (25 of them: a finding)', async () => {
    const encrypt = (key: string, encryption: string) => {
      const o = p.objects.buckets.get('source')?.get(key) as { encryption?: string };
      o.encryption = encryption;
    };
    const victims = keys.slice(100, 125); // captured at 01:00: the journal knows them
    for (const key of victims) {
      await p.objects.put('source', key, Buffer.from(textOf(2)), {});
      encrypt(key, 'aws:kms:arn:aws:kms:us-east-1:111122223333:key/ours');
      p.clock.advance(100);
      await captureChange(p.deps, record(key, 'ObjectCreated:Put'));
    }
    expect((await p.catalog.listJournalForKey('photos', victims[0] as string)).at(-1)?.encryption).toBe(
      'aws:kms:arn:aws:kms:us-east-1:111122223333:key/ours',
    );
    for (const key of victims) {
      await p.objects.put('source', key, Buffer.from(textOf(2)), {});
      encrypt(key, 'aws:kms:arn:aws:kms:us-east-1:999999999999:key/theirs');
      p.clock.advance(100);
      await captureChange(p.deps, record(key, 'ObjectCreated:Put'));
    }
    const [minute] = await p.catalog.listChangeCounts('photos', {
      from: '2026-12-06T03:00',
      to: '2026-12-06T03:00',
    });
    // The first round knew no earlier encryption (the versions of 01:00 said none): not counted.
    expect(minute).toMatchObject({ overwrites: 50, encryptionChanges: 25 });
    const run = await runDetector(p.deps, 'photos', { events });
    expect(run.findings.map((f) => [f.kind, f.count])).toEqual([['encryptionChanges', 25]]);
  });

  it('counts nothing for a plan whose detector is disabled, and quarantines nothing when told not to', async () => {
    await p.catalog.putPlans([
      plan({
        retention: { keepLast: 10 },
        copyRegions: [],
        detector: DetectorSettingsSchema.parse({ enabled: false }),
      }),
    ]);
    const outcome = await put(keys[0] as string, randomBytes(4096));
    expect(outcome).toMatchObject({ counted: [] });
    await p.catalog.putPlans([
      plan({
        retention: { keepLast: 10 },
        copyRegions: [],
        detector: DetectorSettingsSchema.parse({ quarantine: false, thresholds: { encryptedOverwrites: 5 } }),
      }),
    ]);
    for (const key of keys.slice(0, 10)) await put(key, randomBytes(4096));
    const run = await runDetector(p.deps, 'photos', { events });
    expect(run.findings.map((f) => f.count)).toEqual([10]);
    expect(await p.catalog.getQuarantine('photos')).toBeUndefined();
  });
});

describe("capture's handler runs the detector after each batch", () => {
  beforeEach(setUpTree);
  afterEach(() => vi.unstubAllEnvs());

  it('quarantines the plan within the batch that overwrote 60 objects with random bytes, announces it once, counts AnomalyDetected 1', async () => {
    // Prepare: the tree of the previous tests, a container with real metrics and an event sink
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    vi.stubEnv('POWERTOOLS_DEV', 'false');
    const config = testConfig({ metricsNamespace: 'Strongbox/test' });
    const c: Container = {
      config,
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: createMetrics(config),
      anomalyEvents: events,
    };
    const handler = makeCaptureHandler(c);
    const context = { functionName: 'capture', getRemainingTimeInMillis: () => 60_000 } as Context;
    const attacked = keys.filter((_, i) => i % 10 < 3);
    const records: ReturnType<typeof record>[] = [];
    for (const key of attacked) {
      await p.objects.put('source', key, randomBytes(4096), {});
      records.push(record(key, 'ObjectCreated:Put'));
    }
    // Act: one batch of 60 records
    const docs = await captureEmf(() => handler({ Records: records }, context));
    // Assess
    expect(await p.catalog.getQuarantine('photos')).toMatchObject({ by: 'detector' });
    expect(published).toHaveLength(1);
    const anomalies = docs.filter((d) => METRICS.anomalyDetected in d);
    expect(anomalies.map((d) => [d[METRICS.anomalyDetected], d.plan ?? null])).toEqual([
      [1, 'photos'],
      [1, null],
    ]);
    // The batch redelivered: journaled and counted once, announced once.
    const again = await captureEmf(() => handler({ Records: records }, context));
    expect(published).toHaveLength(1);
    expect(again.filter((d) => METRICS.anomalyDetected in d)).toEqual([]);
  });
});
