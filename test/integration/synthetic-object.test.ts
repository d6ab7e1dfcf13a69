// The `--scale` large row's object (test/bench/synthetic-object.ts), served by the stack's S3 proxy
// instead of the emulator: the AWS SDK must read it as it reads S3 (listing, ranged GETs, If-Match),
// its bytes must hash to what the row checks, and every other request must reach the emulator.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LatencyProxy, startLatencyProxy } from '#local/latency-proxy.ts';
import { syntheticObject, syntheticOverlay, syntheticSha256 } from '../bench/synthetic-object.ts';

const MiB = 1024 * 1024;
const OBJECT = syntheticObject('big-bucket', 'large/object.bin', 20 * MiB + 3);
const served = { requests: 0 };
let target: Server;
let proxy: LatencyProxy;
let s3: S3Client;
const passedOn: string[] = [];

beforeAll(async () => {
  target = createServer((req, res) => {
    passedOn.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-length': '0' }).end();
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const { port } = target.address() as AddressInfo;
  proxy = await startLatencyProxy(
    `http://127.0.0.1:${port}`,
    { firstByteMs: 0, bytesPerSecond: Number.POSITIVE_INFINITY },
    syntheticOverlay(OBJECT, served),
  );
  s3 = new S3Client({
    endpoint: proxy.address,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});

afterAll(async () => {
  s3?.destroy();
  await proxy?.stop();
  await new Promise((resolve) => target?.close(resolve));
});

async function bytesOf(range?: string, ifMatch?: string): Promise<Buffer> {
  const out = await s3.send(
    new GetObjectCommand({
      Bucket: OBJECT.bucket,
      Key: OBJECT.key,
      ...(range ? { Range: range } : {}),
      ...(ifMatch ? { IfMatch: ifMatch } : {}),
    }),
  );
  return Buffer.from(
    await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

describe('the synthetic large object', () => {
  it('is listed under its prefix, and not after itself', async () => {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: OBJECT.bucket, Prefix: 'large/' }));
    expect(page.Contents?.map((o) => [o.Key, o.Size, o.ETag])).toEqual([
      [OBJECT.key, OBJECT.sizeBytes, `"${OBJECT.etag}"`],
    ]);
    const after = await s3.send(new ListObjectsV2Command({ Bucket: OBJECT.bucket, StartAfter: OBJECT.key }));
    expect(after.Contents ?? []).toEqual([]);
  });

  it('reads in ranges whose bytes join into the content the row checks', async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: OBJECT.bucket, Key: OBJECT.key }));
    expect(head.ContentLength).toBe(OBJECT.sizeBytes);
    const hash = createHash('sha256');
    for (let at = 0; at < OBJECT.sizeBytes; at += 8 * MiB) {
      const end = Math.min(at + 8 * MiB, OBJECT.sizeBytes) - 1;
      const part = await bytesOf(`bytes=${at}-${end}`, OBJECT.etag);
      expect(part.length).toBe(end - at + 1);
      hash.update(part);
    }
    expect(hash.digest('hex')).toBe(syntheticSha256(OBJECT));
    // no two 8 MiB blocks alike (nothing deduplicates), and a block is mostly zeros (compressible)
    const [a, b] = [await bytesOf(`bytes=0-${MiB - 1}`), await bytesOf(`bytes=${8 * MiB}-${9 * MiB - 1}`)];
    expect(a.equals(b)).toBe(false);
    expect((await bytesOf(`bytes=${MiB}-${2 * MiB - 1}`)).every((x) => x === 0)).toBe(true);
  });

  it('answers 412 to a read held to another ETag, and passes other buckets on', async () => {
    const refused = bytesOf('bytes=0-9', 'another');
    await expect(refused).rejects.toBeInstanceOf(S3ServiceException);
    await expect(refused).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    const before = served.requests;
    await s3.send(new HeadObjectCommand({ Bucket: 'other-bucket', Key: OBJECT.key }));
    expect(served.requests).toBe(before);
    expect(passedOn.at(-1)).toMatch(/^HEAD \/other-bucket\/large\/object\.bin/);
  });
});
