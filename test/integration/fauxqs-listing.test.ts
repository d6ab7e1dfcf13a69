/**
 * Integration tests of the patched fauxqs S3 emulator (patches/fauxqs+2.4.1.patch):
 *  - listings page in UTF-8 binary key order (as real S3) without skipping or repeating keys,
 *  - the server binds 127.0.0.1 by default (option `bindHost`),
 *  - the `s3EventSink` option reports object creations and deletions.
 *
 * Each suite starts its own fauxqs server on a free port.
 */
import { createHash } from 'node:crypto';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listeners, nonLoopbackIPv4, tryConnect } from '../support/network.ts';

type SinkEvent = Parameters<NonNullable<NonNullable<Parameters<typeof startFauxqs>[0]>['s3EventSink']>>[0];

const BUCKET = 'listing-order';
const PAGE = 7;

function s3ClientFor(server: FauxqsServer): S3Client {
  return new S3Client({
    endpoint: server.address,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

/** S3 order: compare the UTF-8 encodings byte by byte. Deliberately independent of the patch's code. */
function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * ~280 keys mixing case, punctuation, digits, separators, Latin-1, CJK, fullwidth forms and emoji
 * (astral code points, whose UTF-16 order differs from their UTF-8 order against U+E000..U+FFFF).
 */
function buildKeys(): string[] {
  const tokens = [
    'a',
    'A',
    'b',
    'B',
    'z',
    'Z',
    '0',
    '9',
    '_',
    '-',
    '.',
    '~',
    '!',
    '(',
    "'",
    '+',
    ',',
    '=',
    '@',
    '&',
    'é',
    'É',
    'ß',
    'ÿ',
    'Ω',
    '日本',
    '\uFF01',
    '\uFFEE',
    '😀',
    '🙂',
    '🦄x',
    'a😀',
    'ab',
    'aB',
    'a.b',
  ];
  const patterns = [
    (t: string) => t,
    (t: string) => `${t}-1`,
    (t: string) => `${t}_1`,
    (t: string) => `${t}.2`,
    (t: string) => `${t}/file-0.txt`,
    (t: string) => `${t}0/x`,
    (t: string) => `_x.${t}`,
    (t: string) => `${t}3`,
  ];
  const fixed = [
    'a-1',
    'A_1',
    'b0/file-0.txt',
    '_x.2',
    'é3',
    'Z',
    'a/b',
    'a.b',
    '~',
    '🙂/nested/deep.txt',
    'a b',
  ];
  const keys = new Set<string>(fixed);
  for (const pattern of patterns) for (const token of tokens) keys.add(pattern(token));
  return [...keys];
}

/** Sanity-checks a listing: returns a readable summary of what is wrong, or '' when it is exact. */
function describeMismatch(listed: string[], expected: string[]): string {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const k of listed) {
    if (seen.has(k)) duplicates.push(k);
    seen.add(k);
  }
  const missing = expected.filter((k) => !seen.has(k));
  const outOfOrder = listed.findIndex((k, i) => i > 0 && utf8Order(listed[i - 1] as string, k) >= 0);
  if (
    duplicates.length === 0 &&
    missing.length === 0 &&
    outOfOrder < 0 &&
    listed.length === expected.length
  ) {
    return '';
  }
  return (
    `listed ${listed.length} of ${expected.length}; ${duplicates.length} duplicates ${JSON.stringify(duplicates.slice(0, 5))}; ` +
    `${missing.length} missing ${JSON.stringify(missing.slice(0, 5))}; first out-of-order index ${outOfOrder}` +
    (outOfOrder > 0
      ? ` (${JSON.stringify(listed[outOfOrder - 1])} before ${JSON.stringify(listed[outOfOrder])})`
      : '')
  );
}

describe('fauxqs S3 listing order and pagination', () => {
  let server: FauxqsServer;
  let s3: S3Client;
  const keys = buildKeys();
  const expected = [...keys].sort(utf8Order);

  beforeAll(async () => {
    server = await startFauxqs({ port: 0, logger: false });
    s3 = s3ClientFor(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (let i = 0; i < keys.length; i += 25) {
      await Promise.all(
        keys.slice(i, i + 25).map((Key) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Key }))),
      );
    }
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.stop();
  });

  it('uses a key set whose UTF-8 order differs from locale and UTF-16 order', () => {
    expect(keys.length).toBeGreaterThanOrEqual(270);
    expect([...keys].sort((a, b) => a.localeCompare(b))).not.toEqual(expected);
    expect([...keys].sort()).not.toEqual(expected);
  });

  it('ListObjectsV2 with MaxKeys 7 returns every key once, in UTF-8 binary order', async () => {
    const listed: string[] = [];
    let ContinuationToken: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: PAGE, ContinuationToken }),
      );
      pages++;
      const pageKeys = (page.Contents ?? []).map((o) => o.Key as string);
      expect(pageKeys.length).toBeLessThanOrEqual(PAGE);
      expect(page.KeyCount).toBe(pageKeys.length);
      listed.push(...pageKeys);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated) expect(ContinuationToken).toBeTruthy();
      expect(pages).toBeLessThan(keys.length); // no endless loop
    } while (ContinuationToken);

    expect(describeMismatch(listed, expected)).toBe('');
    expect(listed).toEqual(expected);
    expect(pages).toBe(Math.ceil(keys.length / PAGE));
  });

  it('ListObjectsV2 StartAfter resumes strictly after the given key in UTF-8 order', async () => {
    for (const startAfter of ['a/b', 'Z', '\uFF01', '😀', 'é']) {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, StartAfter: startAfter }));
      const listed = (page.Contents ?? []).map((o) => o.Key as string);
      expect(listed).toEqual(expected.filter((k) => utf8Order(k, startAfter) > 0));
    }
  });

  it('lists under a prefix after a marker, and sees keys added, overwritten and removed between two pages', async () => {
    // The patch keeps each bucket's keys sorted between changes to its key set: a listing must
    // still see every change made since the previous page, as S3 does.
    const bucket = 'listing-changes';
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const put = (Key: string) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
    for (const key of ['a/1', 'a/3', 'a/5', 'b/1', 'c']) await put(key);
    const list = async (Prefix: string, StartAfter?: string) =>
      ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix, StartAfter }))).Contents ?? []).map(
        (o) => o.Key,
      );
    expect(await list('a/', 'a/1')).toEqual(['a/3', 'a/5']);
    expect(await list('b/')).toEqual(['b/1']);
    await put('a/4'); // added after the marker
    await put('a/3'); // overwritten: the key set is unchanged
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'a/5' }));
    expect(await list('a/', 'a/1')).toEqual(['a/3', 'a/4']);
    expect(await list('', 'a/4')).toEqual(['b/1', 'c']);
    expect(await list('a/', 'a/9')).toEqual([]);
  });

  it('ListObjects (V1) with MaxKeys 7 and markers returns every key once, in UTF-8 binary order', async () => {
    const listed: string[] = [];
    let Marker: string | undefined;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(keys.length);
      const page = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, MaxKeys: PAGE, Marker }));
      const pageKeys = (page.Contents ?? []).map((o) => o.Key as string);
      expect(pageKeys.length).toBeLessThanOrEqual(PAGE);
      listed.push(...pageKeys);
      if (!page.IsTruncated) break;
      Marker = page.NextMarker ?? pageKeys.at(-1);
    }
    expect(describeMismatch(listed, expected)).toBe('');
    expect(listed).toEqual(expected);
  });

  it('paging with Delimiter "/" returns each key and common prefix once, in UTF-8 order (V2 and V1)', async () => {
    const rolledUp = new Set<string>();
    for (const key of keys) {
      const slash = key.indexOf('/');
      rolledUp.add(slash >= 0 ? key.slice(0, slash + 1) : key);
    }
    const expectedEntries = [...rolledUp].sort(utf8Order);

    const v2: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: PAGE, Delimiter: '/', ContinuationToken }),
      );
      const entries = [
        ...(page.Contents ?? []).map((o) => o.Key as string),
        ...(page.CommonPrefixes ?? []).map((p) => p.Prefix as string),
      ].sort(utf8Order);
      expect(entries.length).toBeLessThanOrEqual(PAGE);
      expect(page.KeyCount).toBe(entries.length);
      v2.push(...entries);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      expect(v2.length).toBeLessThanOrEqual(expectedEntries.length + PAGE);
    } while (ContinuationToken);
    expect(describeMismatch(v2, expectedEntries)).toBe('');

    const v1: string[] = [];
    let Marker: string | undefined;
    for (;;) {
      const page = await s3.send(
        new ListObjectsCommand({ Bucket: BUCKET, MaxKeys: PAGE, Delimiter: '/', Marker }),
      );
      const entries = [
        ...(page.Contents ?? []).map((o) => o.Key as string),
        ...(page.CommonPrefixes ?? []).map((p) => p.Prefix as string),
      ].sort(utf8Order);
      v1.push(...entries);
      expect(v1.length).toBeLessThanOrEqual(expectedEntries.length + PAGE);
      if (!page.IsTruncated) break;
      // With a delimiter, S3 always returns NextMarker (the last key or common prefix of the page).
      expect(page.NextMarker).toBe(entries.at(-1));
      Marker = page.NextMarker;
    }
    expect(describeMismatch(v1, expectedEntries)).toBe('');
  });
});

describe('fauxqs bind address', () => {
  it('binds 127.0.0.1 by default and refuses connections on other addresses', async () => {
    const server = await startFauxqs({ port: 0, logger: false });
    try {
      const url = new URL(server.address);
      expect(url.hostname).toBe('127.0.0.1');
      expect(await tryConnect('127.0.0.1', server.port)).toBe('connected');
      if (process.platform === 'linux')
        expect(listeners(server.port).map((l) => l.address)).toEqual(['127.0.0.1']);
      const external = nonLoopbackIPv4();
      if (external) expect(await tryConnect(external, server.port)).toBe('ECONNREFUSED');
    } finally {
      await server.stop();
    }
  });

  it.skipIf(process.platform !== 'linux')('honours an explicit bindHost', async () => {
    const server = await startFauxqs({ port: 0, logger: false, bindHost: '127.0.0.2' });
    try {
      expect(new URL(server.address).hostname).toBe('127.0.0.2');
      expect(await tryConnect('127.0.0.2', server.port)).toBe('connected');
      expect(await tryConnect('127.0.0.1', server.port)).toBe('ECONNREFUSED');
    } finally {
      await server.stop();
    }
  });
});

describe.each([{ messageSpies: false }, { messageSpies: true }])(
  'fauxqs s3EventSink (messageSpies: $messageSpies)',
  ({ messageSpies }) => {
    let server: FauxqsServer;
    let s3: S3Client;
    const events: SinkEvent[] = [];
    const bucket = 'sink-events';
    const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

    beforeAll(async () => {
      server = await startFauxqs({
        port: 0,
        logger: false,
        messageSpies,
        s3EventSink: (e) => events.push(e),
      });
      s3 = s3ClientFor(server);
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    });

    afterAll(async () => {
      s3?.destroy();
      await server?.stop();
    });

    /** Returns and clears the events received so far; the sink is called before the response is sent. */
    function drain(): Array<Omit<SinkEvent, 'timestamp'>> {
      const before = Date.now();
      const taken = events.splice(0);
      return taken.map(({ timestamp, ...rest }) => {
        expect(timestamp).toBeGreaterThan(before - 60_000);
        expect(timestamp).toBeLessThanOrEqual(before);
        return rest;
      });
    }

    it('reports PutObject with size and unquoted eTag', async () => {
      const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'put.txt', Body: 'hello' }));
      expect(put.ETag).toBe(`"${md5('hello')}"`);
      expect(drain()).toEqual([{ bucket, key: 'put.txt', status: 'uploaded', size: 5, eTag: md5('hello') }]);
    });

    it('reports a multipart upload (lib-storage Upload) once, on completion', async () => {
      const body = Buffer.alloc(5 * 1024 * 1024 + 1234, 7);
      await new Upload({
        client: s3,
        params: { Bucket: bucket, Key: 'dir/multi.bin', Body: body },
        partSize: 5 * 1024 * 1024,
        queueSize: 2,
      }).done();
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dir/multi.bin' }));
      const eTag = (head.ETag ?? '').replaceAll('"', '');
      expect(eTag).toMatch(/^[0-9a-f]{32}-2$/);
      expect(drain()).toEqual([
        { bucket, key: 'dir/multi.bin', status: 'uploaded', size: body.length, eTag },
      ]);
    });

    it('reports the CopyObject destination', async () => {
      await s3.send(
        new CopyObjectCommand({ Bucket: bucket, Key: 'copy é.txt', CopySource: `${bucket}/put.txt` }),
      );
      expect(drain()).toEqual([
        { bucket, key: 'copy é.txt', status: 'uploaded', size: 5, eTag: md5('hello') },
      ]);
    });

    it('reports DeleteObject, also for a key that does not exist', async () => {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'put.txt' }));
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'never-existed' }));
      expect(drain()).toEqual([
        { bucket, key: 'put.txt', status: 'deleted' },
        { bucket, key: 'never-existed', status: 'deleted' },
      ]);
    });

    it('reports every key of DeleteObjects', async () => {
      const result = await s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: [{ Key: 'copy é.txt' }, { Key: 'dir/multi.bin' }, { Key: 'ghost' }] },
        }),
      );
      expect(result.Deleted?.map((d) => d.Key)).toEqual(['copy é.txt', 'dir/multi.bin', 'ghost']);
      expect(drain()).toEqual([
        { bucket, key: 'copy é.txt', status: 'deleted' },
        { bucket, key: 'dir/multi.bin', status: 'deleted' },
        { bucket, key: 'ghost', status: 'deleted' },
      ]);
    });

    it('does not report reads, failed writes or listings', async () => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'r.txt', Body: 'x' }));
      drain();
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'r.txt' }));
      await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      await expect(
        s3.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'k', Body: 'x' })),
      ).rejects.toThrow();
      await expect(
        s3.send(new DeleteObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' })),
      ).rejects.toThrow();
      expect(drain()).toEqual([]);
    });
  },
);

describe('fauxqs s3EventSink errors', () => {
  it('a throwing sink does not fail the S3 request; it is reported as a process warning', async () => {
    const server = await startFauxqs({
      port: 0,
      logger: false,
      s3EventSink: () => {
        throw new Error('sink exploded');
      },
    });
    const s3 = s3ClientFor(server);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'sink-throws' }));
      const put = await s3.send(new PutObjectCommand({ Bucket: 'sink-throws', Key: 'k', Body: 'v' }));
      expect(put.ETag).toBe(`"${md5hex('v')}"`);
      await new Promise((r) => setImmediate(r));
      expect(warnings.some((m) => m.includes('sink exploded'))).toBe(true);
    } finally {
      process.off('warning', onWarning);
      s3.destroy();
      await server.stop();
    }
  });
});

function md5hex(data: string): string {
  return createHash('md5').update(data).digest('hex');
}
