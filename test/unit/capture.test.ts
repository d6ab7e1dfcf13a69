/**
 * Capture on the memory twins: every upload's bytes are stored in the primary vault (packs, then
 * index, then the journal entry naming the blobs), exactly the bytes the event names.
 */
import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import {
  type CaptureOutcome,
  captureChange,
  type S3EventRecord,
  S3EventRecordSchema,
} from '#domain/capture.ts';
import { TransientError } from '#domain/errors.ts';
import { latestByKey } from '#domain/journal.ts';
import type { JournalEntry } from '#domain/records.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { CHUNK_SIZE_BYTES, contentIdOf, VaultLayout } from '#domain/vault.ts';
import type { Container } from '#runtime/container.ts';
import { makeHandler } from '../../functions/capture.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

let sequence = 0;
/** An S3 event record as S3 sends it (key URL-encoded); a fresh, increasing sequencer unless given. */
function s3Record(o: {
  bucket?: string;
  key: string;
  eventName?: string;
  sequencer?: string;
  size?: number;
  eTag?: string;
  versionId?: string;
  eventTime?: string;
}): S3EventRecord {
  sequence += 1;
  const removed = o.eventName?.startsWith('ObjectRemoved');
  return S3EventRecordSchema.parse({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: o.eventTime ?? '2026-03-01T00:00:00.000Z',
    eventName: o.eventName ?? 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:EXAMPLE' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'strongbox',
      bucket: { name: o.bucket ?? 'source', arn: `arn:aws:s3:::${o.bucket ?? 'source'}` },
      object: {
        key: o.key,
        ...(removed ? {} : { size: o.size ?? 0, ...(o.eTag === undefined ? {} : { eTag: o.eTag }) }),
        ...(o.versionId ? { versionId: o.versionId } : {}),
        sequencer: o.sequencer ?? sequence.toString(16).toUpperCase().padStart(18, '0'),
      },
    },
  });
}

/** Encode a key as S3 notifications do: URL-encoded, `+` for a space. */
const encodeKey = (key: string) => encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');

/** Put an object and return the event record S3 would send for it. */
async function upload(
  p: MemoryPipeline,
  key: string,
  body: Uint8Array | string,
  options: {
    bucket?: string;
    sequencer?: string;
    contentType?: string;
    metadata?: Record<string, string>;
  } = {},
): Promise<S3EventRecord> {
  const bucket = options.bucket ?? 'source';
  p.objects.createBucket(bucket);
  await p.objects.put(bucket, key, typeof body === 'string' ? Buffer.from(body) : body, {
    ...(options.contentType ? { contentType: options.contentType } : {}),
    ...(options.metadata ? { metadata: options.metadata } : {}),
  });
  const o = p.objects.buckets.get(bucket)?.get(key);
  if (!o) throw new Error('put failed');
  return s3Record({
    bucket,
    key: encodeKey(key),
    size: o.sizeBytes,
    eTag: o.etag,
    ...(o.versionId ? { versionId: o.versionId } : {}),
    ...(options.sequencer ? { sequencer: options.sequencer } : {}),
  });
}

/** The bytes a captured entry's blobs restore, read back from the primary vault. */
async function contentOf(p: MemoryPipeline, entry: JournalEntry | undefined): Promise<Buffer> {
  if (entry?.outcome !== 'captured' || !entry.blobs)
    throw new Error(`not captured: ${JSON.stringify(entry)}`);
  const index = await VaultIndex.load(p.primary, p.deps.envelope);
  return readEntryContent(p.primary, p.deps.envelope, index, { key: entry.key, blobs: entry.blobs });
}

async function setUp(planOverrides: Parameters<typeof plan>[0][] = [{}]): Promise<MemoryPipeline> {
  const p = memoryPipeline();
  p.objects.createBucket('source');
  await p.catalog.putPlans(planOverrides.map((o, i) => plan({ id: `plan${i}`, ...o })));
  return p;
}

const packKeys = (p: MemoryPipeline) => [...p.primary.objects.keys()].filter((k) => k.startsWith('packs/'));
const indexKeys = (p: MemoryPipeline) =>
  [...p.primary.objects.keys()].filter((k) => k.startsWith(VaultLayout.indexPrefix));

describe('captureChange: an upload', () => {
  it('stores the bytes in the primary vault and journals them for every protecting plan', async () => {
    // Prepare
    const p = await setUp([{}, { source: { bucket: 'source', prefix: 'photos/' } }]);
    p.clock.set('2026-03-01T00:00:02.500Z');
    const record = await upload(p, 'photos/cat.jpg', 'meow', {
      contentType: 'image/jpeg',
      metadata: { camera: 'x100' },
    });
    // Act
    const outcome = await captureChange(p.deps, record);
    // Assess
    expect(outcome).toEqual({
      status: 'journaled',
      bucket: 'source',
      key: 'photos/cat.jpg',
      plans: ['plan0', 'plan1'],
      outcome: 'captured',
      eventTime: '2026-03-01T00:00:00.000Z',
      blobsWritten: 1,
      counted: ['plan0', 'plan1'],
    });
    const [entry] = await p.catalog.listJournal('plan1');
    expect(entry).toEqual({
      planId: 'plan1',
      bucket: 'source',
      key: 'photos/cat.jpg',
      event: 'created',
      eventTime: '2026-03-01T00:00:00.000Z',
      sequencer: record.s3.object.sequencer,
      capturedAt: '2026-03-01T00:00:02.500Z',
      outcome: 'captured',
      sizeBytes: 4,
      etag: record.s3.object.eTag,
      lastModified: '2026-03-01T00:00:02.500Z',
      contentType: 'image/jpeg',
      metadata: { camera: 'x100' },
      blobs: [contentIdOf(Buffer.from('meow'))],
    });
    expect((await contentOf(p, entry)).toString()).toBe('meow');
    expect((await p.catalog.listJournal('plan0'))[0]?.blobs).toEqual(entry?.blobs);
    expect(packKeys(p)).toHaveLength(1); // stored once for both plans
    expect(indexKeys(p)).toHaveLength(1);
  });

  it('writes the packs, then the index naming them, then the journal entries', async () => {
    const p = await setUp([{}, { id: 'other' }]);
    const order: string[] = [];
    const put = p.primary.put.bind(p.primary);
    p.primary.put = async (key, body, options) => {
      order.push(key.split('/')[0] as string);
      return put(key, body, options);
    };
    const append = p.catalog.appendJournal.bind(p.catalog);
    p.catalog.appendJournal = async (entry) => {
      order.push(`journal:${entry.planId}`);
      return append(entry);
    };
    await captureChange(p.deps, await upload(p, 'a.txt', 'a'));
    expect(order).toEqual(['packs', 'index', 'journal:other', 'journal:plan0']);
  });

  it('does not store a blob the vault index already locates', async () => {
    const p = await setUp();
    await captureChange(p.deps, await upload(p, 'a.txt', 'same bytes'));
    const puts = p.primary.calls.put;
    const outcome = await captureChange(p.deps, await upload(p, 'b.txt', 'same bytes'));
    expect(outcome).toMatchObject({ status: 'journaled', outcome: 'captured', blobsWritten: 0 });
    expect(p.primary.calls.put).toBe(puts);
    const entries = await p.catalog.listJournal('plan0');
    expect(entries.map((e) => e.blobs)).toEqual([entries[0]?.blobs, entries[0]?.blobs]);
  });

  it('loads the vault index once per container, again only when it is older than a minute', async () => {
    const p = await setUp();
    await captureChange(p.deps, await upload(p, 'a.txt', 'a'));
    await captureChange(p.deps, await upload(p, 'b.txt', 'b'));
    expect(p.primary.calls.list).toBe(1);
    p.clock.advance(61_000);
    await captureChange(p.deps, await upload(p, 'c.txt', 'c'));
    expect(p.primary.calls.list).toBe(2);
    await captureChange(p.deps, await upload(p, 'd.txt', 'd'));
    expect(p.primary.calls.list).toBe(2);
  });

  it('reads the version a versioned bucket event names, not the current one', async () => {
    const p = await setUp();
    p.objects.enableVersioning('source');
    const first = await upload(p, 'doc.txt', 'version one');
    await upload(p, 'doc.txt', 'version two');
    const outcome = await captureChange(p.deps, first);
    expect(outcome).toMatchObject({ outcome: 'captured' });
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry?.versionId).toBe(first.s3.object.versionId);
    expect((await contentOf(p, entry)).toString()).toBe('version one');
    expect(p.objects.reads.at(-1)?.options).toEqual({ versionId: first.s3.object.versionId });
  });

  it('journals an object overwritten before capture as lost-before-capture, storing nothing', async () => {
    const p = await setUp();
    const record = await upload(p, 'doc.txt', 'old');
    await upload(p, 'doc.txt', 'new bytes');
    const outcome = await captureChange(p.deps, record);
    expect(outcome).toMatchObject({ status: 'journaled', outcome: 'lost-before-capture', blobsWritten: 0 });
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry).toMatchObject({
      outcome: 'lost-before-capture',
      sizeBytes: 3,
      etag: record.s3.object.eTag,
    });
    expect(entry?.reason).toMatch(/^overwritten before capture/);
    expect(entry).not.toHaveProperty('blobs');
    expect(p.primary.calls.put).toBe(0);
    expect(p.objects.reads.at(-1)?.options).toEqual({ ifMatch: record.s3.object.eTag });
  });

  it('journals an object deleted before capture as lost-before-capture', async () => {
    const p = await setUp();
    const record = await upload(p, 'doc.txt', 'gone soon');
    await p.objects.delete('source', ['doc.txt']);
    await captureChange(p.deps, record);
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry?.outcome).toBe('lost-before-capture');
    expect(entry?.reason).toMatch(/^deleted before capture/);
    expect(p.primary.calls.put).toBe(0);
  });

  it('journals a version deleted before capture as lost-before-capture', async () => {
    const p = await setUp();
    p.objects.enableVersioning('source');
    const record = await upload(p, 'doc.txt', 'v');
    p.objects.versions.delete('source/doc.txt');
    await captureChange(p.deps, record);
    expect((await p.catalog.listJournal('plan0'))[0]?.reason).toMatch(/deleted before capture.*version/);
  });

  it('journals an event without an ETag or a version as lost-before-capture without reading', async () => {
    const p = await setUp();
    await captureChange(p.deps, s3Record({ key: 'x', size: 1 }));
    expect((await p.catalog.listJournal('plan0'))[0]?.outcome).toBe('lost-before-capture');
    expect(p.objects.reads).toEqual([]);
  });

  it('stores a zero-byte object as one empty blob', async () => {
    const p = await setUp();
    await captureChange(p.deps, await upload(p, 'empty', ''));
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry).toMatchObject({
      outcome: 'captured',
      sizeBytes: 0,
      blobs: [contentIdOf(new Uint8Array())],
    });
    expect(entry).not.toHaveProperty('contentSha256');
    expect((await contentOf(p, entry)).length).toBe(0);
  });

  it('reads a multipart upload with its ETag as S3 gives it (`-<parts>`)', async () => {
    const p = await setUp();
    const record = await upload(p, 'multi.bin', 'parts');
    const stored = p.objects.buckets.get('source')?.get('multi.bin');
    if (stored) stored.etag = '9b2cf535f27731c974343645a3985328-3';
    const multipart = {
      ...record,
      s3: { ...record.s3, object: { ...record.s3.object, eTag: stored?.etag } },
    };
    await captureChange(p.deps, S3EventRecordSchema.parse(multipart));
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry).toMatchObject({ outcome: 'captured', etag: '9b2cf535f27731c974343645a3985328-3' });
    expect(p.objects.reads.at(-1)?.options).toEqual({ ifMatch: '9b2cf535f27731c974343645a3985328-3' });
  });

  it('streams a large object chunk by chunk, each ranged read conditional on the event ETag', async () => {
    // Prepare: 3 chunks and 5 bytes (stands in for objects over 5 GiB: the same loop)
    const p = await setUp();
    const body = Buffer.alloc(3 * CHUNK_SIZE_BYTES + 5);
    for (let i = 0; i < body.length; i += 4096) body[i] = (i / 4096) % 251;
    const record = await upload(p, 'big.bin', body);
    // Act
    await captureChange(p.deps, record);
    // Assess
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry?.blobs).toHaveLength(4);
    expect(entry?.contentSha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(
      p.objects.reads.map((r) => [r.range?.offsetBytes, r.range?.lengthBytes, r.range?.ifMatch]),
    ).toEqual([
      [0, CHUNK_SIZE_BYTES, record.s3.object.eTag],
      [CHUNK_SIZE_BYTES, CHUNK_SIZE_BYTES, record.s3.object.eTag],
      [2 * CHUNK_SIZE_BYTES, CHUNK_SIZE_BYTES, record.s3.object.eTag],
      [3 * CHUNK_SIZE_BYTES, 5, record.s3.object.eTag],
    ]);
    expect((await contentOf(p, entry)).equals(body)).toBe(true);
  });

  it('leaves an object whose read would outlast the invocation to the snapshots, its chunks read so far indexed', async () => {
    // Prepare: 3 chunks and 5 bytes, resumable from 2 chunks; time runs low after the first chunk
    const p = await setUp();
    const body = Buffer.alloc(3 * CHUNK_SIZE_BYTES + 5);
    for (let i = 0; i < body.length; i += 4096) body[i] = (i / 4096) % 251;
    const record = await upload(p, 'huge.bin', body);
    let looks = 0;
    const deps = {
      ...p.deps,
      resumableObjectBytes: 2 * CHUNK_SIZE_BYTES,
      timeReserveSeconds: 60,
      remainingTimeMs: () => (++looks >= 1 ? 1000 : 600_000),
    };
    // Act
    const outcome = await captureChange(deps, record);
    // Assess: journaled lost (a journal-built snapshot counts it, the next reconciles), with why
    expect(outcome).toMatchObject({ status: 'journaled', outcome: 'lost-before-capture', blobsWritten: 1 });
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry).toMatchObject({ outcome: 'lost-before-capture' });
    expect(entry?.reason).toMatch(
      /^too large to capture within one invocation: s3:\/\/source\/huge.bin was read to byte 8388608 of 25165829/,
    );
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    expect(index.locate(contentIdOf(body.subarray(0, CHUNK_SIZE_BYTES)))).toBeDefined();
  });

  it('never mixes two versions: an object overwritten mid-read is lost-before-capture', async () => {
    const p = await setUp();
    const record = await upload(p, 'big.bin', Buffer.alloc(2 * CHUNK_SIZE_BYTES, 1));
    let reads = 0;
    p.objects.beforeGet = () => {
      reads += 1;
      if (reads === 2) void p.objects.put('source', 'big.bin', Buffer.alloc(2 * CHUNK_SIZE_BYTES, 2), {});
    };
    await captureChange(p.deps, record);
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry?.outcome).toBe('lost-before-capture');
    expect(indexKeys(p)).toEqual([]);
  });

  it('decodes the key S3 URL-encodes in events (`+` for a space, UTF-8 percent-encoded)', async () => {
    const p = await setUp([{ source: { bucket: 'source', prefix: 'my photos/' } }]);
    const record = await upload(p, 'my photos/caf\u00e9 +1.txt', 'x');
    expect(record.s3.object.key).toBe('my+photos/caf%C3%A9+%2B1.txt');
    const outcome = await captureChange(p.deps, record);
    expect(outcome).toMatchObject({
      status: 'journaled',
      key: 'my photos/caf\u00e9 +1.txt',
      outcome: 'captured',
    });
    expect((await contentOf(p, (await p.catalog.listJournal('plan0'))[0])).toString()).toBe('x');
  });

  it('fails retryably, journaling nothing, when the vault put fails; the retry captures it', async () => {
    const p = await setUp();
    const record = await upload(p, 'a.txt', 'a');
    p.primary.faults.push({ op: 'put', prefix: 'packs/', onCall: 1 });
    await expect(captureChange(p.deps, record)).rejects.toBeInstanceOf(TransientError);
    expect(await p.catalog.listJournal('plan0')).toEqual([]);
    expect(await captureChange(p.deps, record)).toMatchObject({ status: 'journaled', outcome: 'captured' });
  });
});

describe('captureChange: removals, duplicates, order, scope', () => {
  it('journals a removal without reading anything', async () => {
    const p = await setUp();
    const outcome = await captureChange(
      p.deps,
      s3Record({ key: 'a.txt', eventName: 'ObjectRemoved:Delete' }),
    );
    expect(outcome).toMatchObject({ status: 'journaled', outcome: 'removed', blobsWritten: 0 });
    const [entry] = await p.catalog.listJournal('plan0');
    expect(entry).toMatchObject({ event: 'removed', outcome: 'removed', key: 'a.txt' });
    expect(entry).not.toHaveProperty('sizeBytes');
    expect(p.objects.reads).toEqual([]);
  });

  it('journals a delete marker (versioned bucket) as a removal with its version', async () => {
    const p = await setUp();
    await captureChange(
      p.deps,
      s3Record({ key: 'a.txt', eventName: 'ObjectRemoved:DeleteMarkerCreated', versionId: 'dm1' }),
    );
    expect((await p.catalog.listJournal('plan0'))[0]).toMatchObject({ outcome: 'removed', versionId: 'dm1' });
  });

  it('journals a Lifecycle expiration as a removal, like the ObjectRemoved event it stands for', async () => {
    const p = await setUp();
    const expired = await captureChange(
      p.deps,
      s3Record({ key: 'old.txt', eventName: 'LifecycleExpiration:Delete', size: 0 }),
    );
    expect(expired).toMatchObject({ status: 'journaled', outcome: 'removed', blobsWritten: 0 });
    await captureChange(
      p.deps,
      s3Record({ key: 'v.txt', eventName: 'LifecycleExpiration:DeleteMarkerCreated', versionId: 'dm2' }),
    );
    const journal = (await p.catalog.listJournal('plan0')).sort((a, b) => a.key.localeCompare(b.key));
    expect(journal.map((e) => [e.key, e.event, e.outcome, e.versionId])).toEqual([
      ['old.txt', 'removed', 'removed', undefined],
      ['v.txt', 'removed', 'removed', 'dm2'],
    ]);
    expect(p.objects.reads).toEqual([]);
  });

  it('reads Lifecycle expirations as ObjectRemoved events, and refuses other Lifecycle events', () => {
    expect(s3Record({ key: 'a', eventName: 'LifecycleExpiration:Delete' }).eventName).toBe(
      'ObjectRemoved:Delete',
    );
    expect(s3Record({ key: 'a', eventName: 'LifecycleExpiration:DeleteMarkerCreated' }).eventName).toBe(
      'ObjectRemoved:DeleteMarkerCreated',
    );
    expect(() => s3Record({ key: 'a', eventName: 'LifecycleTransition' })).toThrow();
  });

  it('journals a redelivered event once and stores nothing more', async () => {
    const p = await setUp();
    const record = await upload(p, 'a.txt', 'a');
    await captureChange(p.deps, record);
    const puts = p.primary.calls.put;
    const again = await captureChange(p.deps, record);
    expect(again).toMatchObject({ status: 'duplicate', outcome: 'captured', blobsWritten: 0 });
    expect(await p.catalog.listJournal('plan0')).toHaveLength(1);
    expect(p.primary.calls.put).toBe(puts);
  });

  it('orders the events of a key by sequencer, not by arrival', async () => {
    // Prepare: two uploads and a delete of one key; S3 delivers them late and out of order
    const p = await setUp();
    const first = await upload(p, 'k', 'one', { sequencer: '00AA' });
    const second = await upload(p, 'k', 'two', { sequencer: '00AB' });
    const removal = s3Record({ key: 'k', eventName: 'ObjectRemoved:Delete', sequencer: '0A' });
    // Act: the latest upload arrives first, the first upload last (its bytes are overwritten by then)
    await captureChange(p.deps, second);
    await captureChange(p.deps, removal);
    await captureChange(p.deps, first);
    await captureChange(p.deps, second); // and a duplicate
    // Assess
    const entries = await p.catalog.listJournalForKey('plan0', 'k');
    expect(entries.map((e) => `${e.sequencer} ${e.outcome}`)).toEqual([
      '0A removed',
      '00AA lost-before-capture',
      '00AB captured',
    ]);
    const latest = latestByKey(await p.catalog.listJournal('plan0')).get('k');
    expect(latest?.sequencer).toBe('00AB');
    expect((await contentOf(p, latest)).toString()).toBe('two');
  });

  it('ignores a bucket or a prefix no plan protects, reading nothing', async () => {
    const p = await setUp([{ source: { bucket: 'source', prefix: 'photos/' } }]);
    const elsewhere = await captureChange(p.deps, await upload(p, 'a.txt', 'a', { bucket: 'unprotected' }));
    const outside = await captureChange(p.deps, await upload(p, 'docs/a.txt', 'a'));
    for (const outcome of [elsewhere, outside]) {
      expect(outcome).toMatchObject({ status: 'ignored', reason: 'no plan protects this bucket and prefix' });
    }
    expect(p.objects.reads).toEqual([]);
    expect(p.catalog.journal.size).toBe(0);
  });

  it('captures a burst of 10,000 uploads with bounded concurrency, losing nothing', async () => {
    // Prepare: 10,000 small uploads, delivered 8 at a time (Lambda's async invocations locally)
    const p = await setUp();
    const n = 10_000;
    const records: S3EventRecord[] = [];
    for (let i = 0; i < n; i++)
      records.push(await upload(p, `burst/${String(i).padStart(5, '0')}`, `body ${i}`));
    const limit = pLimit(8);
    let inFlight = 0;
    let most = 0;
    // Act
    const outcomes = await Promise.all(
      records.map((r) =>
        limit(async () => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          try {
            return await captureChange(p.deps, r);
          } finally {
            inFlight -= 1;
          }
        }),
      ),
    );
    // Assess
    expect(most).toBeLessThanOrEqual(8);
    expect(outcomes.filter((o: CaptureOutcome) => o.status === 'journaled')).toHaveLength(n);
    const journal = await p.catalog.listJournal('plan0');
    expect(new Set(journal.map((e) => e.key)).size).toBe(n);
    const index = await VaultIndex.load(p.primary, p.deps.envelope);
    for (const entry of journal) {
      expect(entry.outcome).toBe('captured');
      const bytes = await readEntryContent(p.primary, p.deps.envelope, index, {
        key: entry.key,
        blobs: entry.blobs ?? [],
      });
      expect(bytes.toString()).toBe(`body ${Number(entry.key.slice('burst/'.length))}`);
    }
  }, 120_000);
});

describe('the capture handler', () => {
  const context = { functionName: 'capture', getRemainingTimeInMillis: () => 60_000 } as Context;
  function handlerOf(p: MemoryPipeline) {
    const container: Container = {
      config: testConfig(),
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: silentMetrics(),
    };
    return makeHandler(container);
  }

  it('ignores the s3:TestEvent S3 sends when notifications are configured', async () => {
    const p = await setUp();
    const test = {
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: '2014-10-13T15:57:02.089Z',
      Bucket: 'source',
      RequestId: '5582815E1AEA5ADF',
      HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
    };
    expect(await handlerOf(p)(test, context)).toEqual({ outcomes: [] });
    expect(p.catalog.journal.size).toBe(0);
  });

  it('captures every record of an event and reports each outcome', async () => {
    const p = await setUp();
    const record = await upload(p, 'a.txt', 'a');
    const result = (await handlerOf(p)({ Records: [record, { not: 'a record' }] }, context)) as {
      outcomes: { status: string }[];
    };
    expect(result.outcomes.map((o) => o.status)).toEqual(['journaled', 'invalid']);
  });

  it('fails the invocation on a retryable failure, so Lambda retries it', async () => {
    const p = await setUp();
    const record = await upload(p, 'a.txt', 'a');
    p.primary.faults.push({ op: 'put', onCall: 1 });
    await expect(handlerOf(p)({ Records: [record] }, context)).rejects.toBeInstanceOf(TransientError);
  });
});

describe('captureChange and garbage collection marks (docs/format.md#garbage-collection)', () => {
  /**
   * A pack that only a removed object's journal entry named: capture stores 'doomed' in its own pack
   * while the container is warm, the object is deleted, and a snapshot taken 20 minutes later lets
   * that journal entry out of the live set. The snapshot's prune marks the pack.
   */
  async function doomedPack(p: MemoryPipeline): Promise<string> {
    await captureChange(p.deps, await upload(p, 'keep.txt', 'kept bytes'));
    const packsBefore = new Set(packKeys(p));
    await captureChange(p.deps, await upload(p, 'doomed.txt', 'doomed bytes'));
    const [doomed] = packKeys(p).filter((k) => !packsBefore.has(k));
    await p.objects.delete('source', ['doomed.txt']);
    await captureChange(p.deps, s3Record({ key: 'doomed.txt', eventName: 'ObjectRemoved:Delete' }));
    p.clock.advance(20 * 60_000);
    await startSnapshotNow(p.deps, 'plan0');
    await p.drain();
    const marks = await p.catalog.listGcMarks(p.primary.bucket);
    expect(marks.map((m) => `packs/${m.packId.slice(0, 2)}/${m.packId}`)).toContain(doomed);
    return doomed as string;
  }

  const gc = (p: MemoryPipeline) =>
    p.run({ kind: 'gc', planId: 'plan0', snapshotId: 'gc', region: 'us-east-1' });

  it('never reuses a blob of a pack marked while its container stayed warm', async () => {
    // Prepare: a warm capture container, invoked every 25 minutes while GC marks the pack and,
    // after the grace period (an hour), sweeps it
    const p = await setUp();
    const doomed = await doomedPack(p);
    for (let i = 0; i < 3; i++) {
      p.clock.advance(25 * 60_000);
      await captureChange(p.deps, await upload(p, `other-${i}.txt`, `other ${i}`));
    }
    await gc(p);
    expect(p.primary.objects.has(doomed)).toBe(false);
    // Act: the same content uploaded again
    await captureChange(p.deps, await upload(p, 'again.txt', 'doomed bytes'));
    // Assess: the journal entry's blobs are readable
    const entry = latestByKey(await p.catalog.listJournalForKey('plan0', 'again.txt')).get('again.txt');
    expect((await contentOf(p, entry)).toString()).toBe('doomed bytes');
  });

  it('never reuses a blob of a pack marked and swept while its container was idle', async () => {
    const p = await setUp();
    const doomed = await doomedPack(p);
    p.clock.advance(3601_000);
    await gc(p);
    expect(p.primary.objects.has(doomed)).toBe(false);
    await captureChange(p.deps, await upload(p, 'again.txt', 'doomed bytes'));
    const entry = latestByKey(await p.catalog.listJournalForKey('plan0', 'again.txt')).get('again.txt');
    expect((await contentOf(p, entry)).toString()).toBe('doomed bytes');
  });
});

describe('captureChange: deletes on a versioned bucket', () => {
  /** Delete one version of `key` and return the record S3 sends: `ObjectRemoved:Delete` with its version. */
  async function deleteVersion(p: MemoryPipeline, key: string, versionId: string): Promise<S3EventRecord> {
    await p.objects.deleteVersion('source', key, versionId);
    return s3Record({ key: encodeKey(key), eventName: 'ObjectRemoved:Delete', versionId });
  }
  /** A simple delete (a delete marker) of `key`: `ObjectRemoved:DeleteMarkerCreated` with the marker's version. */
  async function deleteMarker(p: MemoryPipeline, key: string): Promise<S3EventRecord> {
    await p.objects.delete('source', [key]);
    const marker = p.objects.versions.get(`source/${key}`)?.at(-1);
    return s3Record({
      key: encodeKey(key),
      eventName: 'ObjectRemoved:DeleteMarkerCreated',
      versionId: marker?.versionId as string,
    });
  }
  async function latest(p: MemoryPipeline, key: string): Promise<JournalEntry | undefined> {
    return latestByKey(await p.catalog.listJournalForKey('plan0', key)).get(key);
  }
  async function versioned(): Promise<{ p: MemoryPipeline; v1: string; v2: string }> {
    const p = await setUp();
    p.objects.enableVersioning('source');
    const one = await upload(p, 'doc.txt', 'version one');
    const two = await upload(p, 'doc.txt', 'version two');
    await captureChange(p.deps, one);
    await captureChange(p.deps, two);
    return { p, v1: one.s3.object.versionId as string, v2: two.s3.object.versionId as string };
  }

  it('asks once, not three times, when the version left current is too large to read in the invocation', async () => {
    // Prepare: a huge version under a small one; the small one is deleted
    const p = await setUp();
    p.objects.enableVersioning('source');
    const huge = Buffer.alloc(3 * CHUNK_SIZE_BYTES + 5, 1);
    await captureChange(p.deps, await upload(p, 'doc.bin', huge));
    const two = await upload(p, 'doc.bin', 'small');
    await captureChange(p.deps, two);
    const record = await deleteVersion(p, 'doc.bin', two.s3.object.versionId as string);
    const deps = {
      ...p.deps,
      resumableObjectBytes: 2 * CHUNK_SIZE_BYTES,
      timeReserveSeconds: 60,
      remainingTimeMs: () => 1000,
    };
    const reads = p.objects.reads.length;
    // Act
    const outcome = await captureChange(deps, record);
    // Assess: left to the snapshots after one read of its first chunk
    expect(outcome).toMatchObject({ status: 'journaled', outcome: 'lost-before-capture' });
    expect((await latest(p, 'doc.bin'))?.reason).toMatch(/^too large to capture within one invocation/);
    const firstChunkReads = p.objects.reads.slice(reads).filter((r) => r.range?.offsetBytes === 0);
    expect(firstChunkReads).toHaveLength(1);
  });

  it('journals the older version as the key’s state when the current version is deleted', async () => {
    // Prepare
    const { p, v2 } = await versioned();
    // Act: deleting the current version makes version one current again
    const outcome = await captureChange(p.deps, await deleteVersion(p, 'doc.txt', v2));
    // Assess
    expect(outcome).toMatchObject({ status: 'journaled', outcome: 'captured' });
    const entry = await latest(p, 'doc.txt');
    expect(entry).toMatchObject({ event: 'removed', outcome: 'captured', versionId: v2 });
    expect((await contentOf(p, entry)).toString()).toBe('version one');
  });

  it('journals the current version, unchanged, when a noncurrent version is deleted', async () => {
    const { p, v1, v2 } = await versioned();
    await captureChange(p.deps, await deleteVersion(p, 'doc.txt', v1));
    const entry = await latest(p, 'doc.txt');
    expect(entry).toMatchObject({ outcome: 'captured', currentVersionId: v2 });
    expect((await contentOf(p, entry)).toString()).toBe('version two');
  });

  it('journals a removal when the last version is deleted', async () => {
    const { p, v1, v2 } = await versioned();
    await captureChange(p.deps, await deleteVersion(p, 'doc.txt', v1));
    await captureChange(p.deps, await deleteVersion(p, 'doc.txt', v2));
    expect(await latest(p, 'doc.txt')).toMatchObject({ outcome: 'removed', versionId: v2 });
  });

  it('journals a removal for a delete marker, and the key back when the marker is deleted', async () => {
    const { p } = await versioned();
    const marker = await deleteMarker(p, 'doc.txt');
    await captureChange(p.deps, marker);
    expect(await latest(p, 'doc.txt')).toMatchObject({ outcome: 'removed' });
    await captureChange(p.deps, await deleteVersion(p, 'doc.txt', marker.s3.object.versionId as string));
    const entry = await latest(p, 'doc.txt');
    expect(entry).toMatchObject({ outcome: 'captured' });
    expect((await contentOf(p, entry)).toString()).toBe('version two');
  });

  it('journals a removal when the newest remaining version is a delete marker', async () => {
    const { p, v2 } = await versioned();
    await captureChange(p.deps, await deleteMarker(p, 'doc.txt'));
    await captureChange(p.deps, await deleteVersion(p, 'doc.txt', v2));
    expect(await latest(p, 'doc.txt')).toMatchObject({ outcome: 'removed', versionId: v2 });
  });
});
