/**
 * Integration tests of the parts of the fauxqs patch (patches/fauxqs+2.4.1.patch) that the benchmark
 * peers need:
 *  - bodies whose `x-amz-content-sha256` is STREAMING-* are aws-chunked framed even without
 *    `Content-Encoding: aws-chunked` (minio-go, hence restic, sends them so); the emulator stores
 *    the decoded bytes and checks them against `x-amz-decoded-content-length`, as S3 does,
 *  - a single PutObject may be larger than fauxqs's original 11 MiB body limit (restic's 16 MiB packs).
 *
 * The streaming requests are built by hand with node:http and a real SigV4 streaming signature
 * (fauxqs does not check signatures, but the framing is then exactly what a client sends).
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BUCKET = 'peers';
const REGION = 'us-east-1';
const ACCESS_KEY = 'test';
const SECRET_KEY = 'test';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** Deterministic, non-repeating-looking bytes (so a misplaced chunk boundary shows). */
function payload(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

interface StreamingPut {
  path: string;
  mode: 'signed' | 'unsigned-trailer';
  data: Buffer;
  chunkSize: number;
  /** Override x-amz-decoded-content-length (to send a wrong one). */
  declaredLength?: number;
}

/**
 * PUT a body in aws-chunked framing with `x-amz-content-sha256: STREAMING-…` and no Content-Encoding.
 * 'signed': STREAMING-AWS4-HMAC-SHA256-PAYLOAD, every chunk signed (seed signature, then chained).
 * 'unsigned-trailer': STREAMING-UNSIGNED-PAYLOAD-TRAILER with an x-amz-checksum-sha256 trailer.
 */
async function streamingPut(
  endpoint: string,
  put: StreamingPut,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const url = new URL(put.path, endpoint);
  const amzDate = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${REGION}/s3/aws4_request`;
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${SECRET_KEY}`, day), REGION), 's3'), 'aws4_request');
  const contentSha =
    put.mode === 'signed' ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' : 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
  const pieces = [...chunks(put.data, put.chunkSize), Buffer.alloc(0)];
  const trailer =
    put.mode === 'unsigned-trailer'
      ? `x-amz-checksum-sha256:${createHash('sha256').update(put.data).digest('base64')}\r\n\r\n`
      : '';
  // The framed length does not depend on the signature values (always 64 hex digits).
  const frame = (chunk: Buffer, signature: string | undefined) =>
    Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}${signature ? `;chunk-signature=${signature}` : ''}\r\n`),
      chunk,
      chunk.length > 0 || put.mode === 'signed' ? Buffer.from('\r\n') : Buffer.alloc(0),
    ]);
  const placeholder = '0'.repeat(64);
  const framedLength =
    pieces.reduce((n, c) => n + frame(c, put.mode === 'signed' ? placeholder : undefined).length, 0) +
    trailer.length;
  const headers: Record<string, string> = {
    host: url.host,
    'content-length': String(framedLength),
    'x-amz-content-sha256': contentSha,
    'x-amz-date': amzDate,
    'x-amz-decoded-content-length': String(put.declaredLength ?? put.data.length),
    ...(put.mode === 'unsigned-trailer' ? { 'x-amz-trailer': 'x-amz-checksum-sha256' } : {}),
  };
  const signedHeaders = Object.keys(headers).sort();
  const canonicalQuery = [...url.searchParams.entries()]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');
  const canonicalRequest = [
    'PUT',
    url.pathname,
    canonicalQuery,
    ...signedHeaders.map((h) => `${h}:${headers[h]}`),
    '',
    signedHeaders.join(';'),
    contentSha,
  ].join('\n');
  const seedSignature = hmac(
    signingKey,
    ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n'),
  ).toString('hex');
  let previous = seedSignature;
  const framed: Buffer[] = [];
  for (const chunk of pieces) {
    if (put.mode === 'signed') {
      const stringToSign = [
        'AWS4-HMAC-SHA256-PAYLOAD',
        amzDate,
        scope,
        previous,
        EMPTY_SHA256,
        sha256(chunk),
      ].join('\n');
      previous = hmac(signingKey, stringToSign).toString('hex');
      framed.push(frame(chunk, previous));
    } else framed.push(frame(chunk, undefined));
  }
  framed.push(Buffer.from(trailer));
  const body = Buffer.concat(framed);
  expect(body.length).toBe(framedLength);
  const authorization = `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${seedSignature}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'PUT', headers: { ...headers, authorization, 'content-type': 'application/octet-stream' } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(parts).toString('utf8'),
            headers: res.headers,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('fauxqs patch: what rclone and restic need', () => {
  let server: FauxqsServer;
  let s3: S3Client;

  const getBytes = async (key: string): Promise<Buffer> => {
    const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(
      await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  };

  beforeAll(async () => {
    server = await startFauxqs({ port: 0, logger: false });
    s3 = new S3Client({
      endpoint: server.address,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.stop();
  });

  it('decodes a signed streaming PutObject body sent without Content-Encoding (minio-go / restic)', async () => {
    const data = payload(200_000, 7); // three 64 KiB chunks and a partial one
    const res = await streamingPut(server.address, {
      path: `/${BUCKET}/signed/object.bin`,
      mode: 'signed',
      data,
      chunkSize: 65_536,
    });
    expect(res.status).toBe(200);
    const stored = await getBytes('signed/object.bin');
    expect(stored.length).toBe(data.length);
    expect(sha256(stored)).toBe(sha256(data));
    expect(res.headers.etag).toBe(`"${createHash('md5').update(data).digest('hex')}"`);
  });

  it('decodes an unsigned streaming body with a checksum trailer and records the trailer checksum', async () => {
    const data = payload(100_000, 11);
    const res = await streamingPut(server.address, {
      path: `/${BUCKET}/unsigned/object.bin`,
      mode: 'unsigned-trailer',
      data,
      chunkSize: 16_384,
    });
    expect(res.status).toBe(200);
    expect(sha256(await getBytes('unsigned/object.bin'))).toBe(sha256(data));
    expect(res.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(data).digest('base64'));
  });

  it('decodes a signed streaming UploadPart body sent without Content-Encoding', async () => {
    const key = 'multipart/object.bin';
    const data = payload(300_000, 13);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    const res = await streamingPut(server.address, {
      path: `/${BUCKET}/${key}?partNumber=1&uploadId=${encodeURIComponent(UploadId ?? '')}`,
      mode: 'signed',
      data,
      chunkSize: 65_536,
    });
    expect(res.status).toBe(200);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: String(res.headers.etag) }] },
      }),
    );
    expect(sha256(await getBytes(key))).toBe(sha256(data));
  });

  it('rejects a streaming body whose decoded length differs from x-amz-decoded-content-length', async () => {
    const data = payload(10_000, 17);
    const res = await streamingPut(server.address, {
      path: `/${BUCKET}/mismatch/object.bin`,
      mode: 'signed',
      data,
      chunkSize: 4_096,
      declaredLength: data.length + 1,
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain('IncompleteBody');
  });

  it('accepts a single 20 MiB PutObject and reads it back identical', async () => {
    const data = payload(20 * 1_048_576, 19);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'large/20MiB.bin', Body: data }));
    const stored = await getBytes('large/20MiB.bin');
    expect(stored.length).toBe(data.length);
    expect(sha256(stored)).toBe(sha256(data));
  });
});
