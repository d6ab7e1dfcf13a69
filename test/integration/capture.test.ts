/**
 * Capture on the embedded stack: fauxqs turns S3 writes into S3 event records, the dispatcher invokes
 * serverless.yml's capture function asynchronously (at most its async invocation limit at once),
 * and capture stores each upload's bytes in the primary vault and journals it.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import type { JournalEntry } from '#domain/records.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { CHUNK_SIZE_BYTES } from '#domain/vault.ts';
import { encodeS3EventKey } from '#local/dispatcher.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { waitFor } from '../support/wait.ts';

/** Uploads of the burst test on the stack (10,000 run on the memory twins: test/unit/capture.test.ts). */
const BURST = Number(process.env.STRONGBOX_CAPTURE_BURST ?? 2000);

let stack: LocalStack;
let c: Container;
let source: string;

beforeAll(async () => {
  stack = await startLocalStack({ logLevel: 'SILENT' });
  c = stack.container('capture');
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: 'live',
          source: { bucket: source, prefix: 'live/' },
          schedule: 'rate(1 day)',
          retention: { keepLast: 1 },
        },
      ],
    },
    stack.copyRegions,
  );
});

afterAll(async () => {
  await stack?.stop();
});

/** The entries of one key, once `n` are journaled. */
async function journaled(key: string, n = 1): Promise<JournalEntry[]> {
  return waitFor(`${n} journal entries of ${key}`, async () => {
    const entries = await c.pipeline.catalog.listJournalForKey('live', key);
    return entries.length >= n ? entries : undefined;
  });
}

async function contentOf(entry: JournalEntry | undefined, index?: VaultIndex): Promise<Buffer> {
  if (entry?.outcome !== 'captured') throw new Error(`not captured: ${JSON.stringify(entry)}`);
  // Capture seals content it cannot open (write-only keys, docs/format.md#keyring): read as restore does.
  const reader = stack.container().pipeline;
  const vault = reader.vaults.primary;
  const loaded = index ?? (await VaultIndex.load(vault, reader.envelope));
  return readEntryContent(vault, reader.envelope, loaded, { key: entry.key, blobs: entry.blobs ?? [] });
}

const put = (key: string, body: string | Uint8Array) =>
  stack.s3().send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));

/** Invoke capture with one record, as S3 would send it (a record the dispatcher did not make). */
function invokeCapture(
  key: string,
  fields: { eTag?: string; size?: number; sequencer: string; removed?: boolean },
) {
  return stack.dispatcher.invoke('capture', {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: stack.primaryRegion,
        eventTime: new Date().toISOString(),
        eventName: fields.removed ? 'ObjectRemoved:Delete' : 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          bucket: { name: source, arn: `arn:aws:s3:::${source}` },
          object: {
            key: encodeS3EventKey(key),
            ...(fields.removed ? {} : { size: fields.size ?? 0, eTag: fields.eTag ?? '' }),
            sequencer: fields.sequencer,
          },
        },
      },
    ],
  }) as Promise<{ outcomes: { status: string; outcome?: string; reason?: string }[] }>;
}

describe('capture on the embedded stack', () => {
  it('stores each upload within seconds, keys decoded, zero-byte and multipart included', async () => {
    // Prepare
    const small = {
      'live/plain.txt': 'plain',
      'live/with space+plus.txt': 'spaces and a plus',
      'live/caf\u00e9/\u00fcber \u6f22\u5b57.md': 'utf-8',
      'live/empty': '',
    };
    const big = Buffer.alloc(CHUNK_SIZE_BYTES + 3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 1000) big[i] = i % 256;
    // Act
    for (const [key, body] of Object.entries(small)) await put(key, body);
    await new Upload({
      client: stack.s3(),
      params: { Bucket: source, Key: 'live/multipart.bin', Body: big },
      partSize: 5 * 1024 * 1024,
    }).done();
    // Assess
    for (const [key, body] of Object.entries(small)) {
      const [entry] = await journaled(key);
      expect(entry).toMatchObject({ key, event: 'created', outcome: 'captured', sizeBytes: body.length });
      expect((await contentOf(entry)).toString()).toBe(body);
    }
    const [multipart] = await journaled('live/multipart.bin');
    expect(multipart?.etag).toMatch(/-3$/);
    expect(multipart?.blobs).toHaveLength(2);
    expect(multipart?.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await contentOf(multipart)).equals(big)).toBe(true);
  });

  it('journals a delete as a removal', async () => {
    await put('live/doomed.txt', 'doomed');
    await journaled('live/doomed.txt');
    await stack.s3().send(new DeleteObjectCommand({ Bucket: source, Key: 'live/doomed.txt' }));
    const entries = await journaled('live/doomed.txt', 2);
    expect(entries.map((e) => e.outcome)).toEqual(['captured', 'removed']);
  });

  it('never stores other bytes under an event: overwritten or deleted first is lost-before-capture', async () => {
    // Prepare: the first version's event, replayed after the object was overwritten (S3 answers 412)
    const first = await put('live/race.txt', 'first');
    await journaled('live/race.txt');
    await put('live/race.txt', 'second, longer');
    await journaled('live/race.txt', 2);
    // Act
    const overwritten = await invokeCapture('live/race.txt', {
      eTag: String(first.ETag).replace(/"/g, ''),
      size: 5,
      sequencer: 'FFFFFFFF0000000001',
    });
    const deleted = await invokeCapture('live/never-there.txt', {
      eTag: 'd41d8cd98f00b204e9800998ecf8427e',
      size: 1,
      sequencer: 'FFFFFFFF0000000002',
    });
    // Assess
    expect(overwritten.outcomes[0]).toMatchObject({ status: 'journaled', outcome: 'lost-before-capture' });
    expect(overwritten.outcomes[0]?.reason).toMatch(/^overwritten before capture/);
    expect(deleted.outcomes[0]?.reason).toMatch(/^deleted before capture/);
    const race = await c.pipeline.catalog.listJournalForKey('live', 'live/race.txt');
    expect(race.map((e) => e.outcome)).toEqual(['captured', 'captured', 'lost-before-capture']);
    expect(race[2]).not.toHaveProperty('blobs');
    expect((await contentOf(race[1])).toString()).toBe('second, longer');
  });

  it('ignores the s3:TestEvent and keys no plan protects', async () => {
    const test = await stack.dispatcher.invoke('capture', {
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: new Date().toISOString(),
      Bucket: source,
      RequestId: '5582815E1AEA5ADF',
      HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
    });
    expect(test).toEqual({ outcomes: [] });
    const outside = await invokeCapture('elsewhere/x.txt', { eTag: 'e', size: 1, sequencer: '01' });
    expect(outside.outcomes[0]).toMatchObject({ status: 'ignored' });
    expect(await c.pipeline.catalog.listJournalForKey('live', 'elsewhere/x.txt')).toEqual([]);
  });

  it(`captures a burst of ${BURST} uploads with bounded concurrency, losing nothing`, async () => {
    // Act: upload as fast as the client can; the dispatcher invokes capture 8 at a time
    const started = Date.now();
    const limit = pLimit(32);
    const keyOf = (i: number) => `live/burst/${String(i).padStart(5, '0')}`;
    await Promise.all([...Array(BURST).keys()].map((i) => limit(() => put(keyOf(i), `burst ${i}`))));
    const uploadedMs = Date.now() - started;
    await stack.settled();
    const capturedMs = Date.now() - started;
    // Assess: every key journaled, its bytes retrievable
    const journal = (await c.pipeline.catalog.listJournal('live')).filter((e) =>
      e.key.startsWith('live/burst/'),
    );
    expect(journal).toHaveLength(BURST);
    expect(journal.every((e) => e.outcome === 'captured')).toBe(true);
    const index = await VaultIndex.load(c.pipeline.vaults.primary, c.pipeline.envelope);
    const read = pLimit(16);
    const bodies = await Promise.all(
      journal.map((e) => read(async () => [e.key, (await contentOf(e, index)).toString()])),
    );
    for (const [key, body] of bodies)
      expect(body).toBe(`burst ${Number(String(key).slice('live/burst/'.length))}`);
    const failures = stack.dispatcher.invocations.filter((i) => i.functionName === 'capture' && !i.ok);
    expect(failures).toEqual([]);
    console.info(`capture burst: ${BURST} uploads in ${uploadedMs} ms, all captured after ${capturedMs} ms`);
  }, 180_000);
});
