// The bench's latency proxy (shared/local/latency-proxy.ts) in front of a loopback server: bytes and
// statuses pass unchanged both ways; no response starts before the first-byte latency; bodies stream
// no faster than the bandwidth limit. Lower bounds only: a slow machine can only make them longer.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapS3Error } from '#adapters/s3/errors.ts';
import { TransientError } from '#domain/errors.ts';
import { type LatencyProxy, startLatencyProxy } from '#local/latency-proxy.ts';

const BODY = Buffer.alloc(1024 * 1024, 7);
let target: Server;
let proxy: LatencyProxy;

beforeAll(async () => {
  target = createServer((req, res) => {
    if (req.method === 'PUT') {
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => hash.update(c));
      req.on('end', () => res.writeHead(201, { 'x-sha256': hash.digest('hex') }).end());
      return;
    }
    if (req.url === '/missing') return void res.writeHead(404, { 'x-why': 'nope' }).end('<Error/>');
    res.writeHead(200, { 'content-length': String(BODY.length), 'x-host': String(req.headers.host) });
    res.end(BODY);
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const { port } = target.address() as AddressInfo;
  proxy = await startLatencyProxy(`http://127.0.0.1:${port}`, {
    firstByteMs: 150,
    bytesPerSecond: 4 * 1024 * 1024,
  });
});

afterAll(async () => {
  await proxy?.stop();
  await new Promise((resolve) => target?.close(resolve));
});

describe('the latency proxy', () => {
  it('answers a GET with the same status, headers and bytes, after the first-byte latency, at the bandwidth limit', async () => {
    const t0 = performance.now();
    const res = await fetch(`${proxy.address}/object`);
    const headersAfter = performance.now() - t0;
    const body = Buffer.from(await res.arrayBuffer());
    const bodyAfter = performance.now() - t0;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-host')).toBe(new URL(proxy.address).host); // the Host header is kept
    expect(body.equals(BODY)).toBe(true);
    expect(headersAfter).toBeGreaterThanOrEqual(149);
    // 1 MiB at 4 MiB/s: at least 250 ms of streaming after the first byte
    expect(bodyAfter).toBeGreaterThanOrEqual(150 + 249);
  });

  it('passes an error status and its body on unchanged', async () => {
    const res = await fetch(`${proxy.address}/missing`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-why')).toBe('nope');
    expect(await res.text()).toBe('<Error/>');
  });

  it('forwards a PUT body intact, no faster than the bandwidth limit', async () => {
    const t0 = performance.now();
    const res = await fetch(`${proxy.address}/upload`, { method: 'PUT', body: BODY });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-sha256')).toBe(createHash('sha256').update(BODY).digest('hex'));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(249);
    expect(proxy.requests()).toBeGreaterThanOrEqual(3);
  });
});

// The emulator failing a request (here: it hangs up without an answer) must reach the SDK as S3
// answers a failure, a 500 error document: a plain-text body made the SDK throw "XML parse error:
// unexpected content" instead, which no caller knows as a server error (the scale bench's key
// document puts failed so).
describe('the latency proxy, when the emulator fails a request', () => {
  it('answers an S3 error document (500 InternalError), which the SDK reports as a retryable server error', async () => {
    const hangUp = createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
    const failing = await startLatencyProxy(`http://127.0.0.1:${(hangUp.address() as AddressInfo).port}`, {
      firstByteMs: 0,
      bytesPerSecond: Number.POSITIVE_INFINITY,
    });
    const s3 = new S3Client({
      endpoint: failing.address,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    try {
      const error = await s3
        .send(new PutObjectCommand({ Bucket: 'vault', Key: 'keys/0123', Body: '{}', IfNoneMatch: '*' }))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(S3ServiceException);
      expect((error as S3ServiceException).name).toBe('InternalError');
      expect((error as S3ServiceException).$metadata.httpStatusCode).toBe(500);
      const mapped = mapS3Error(error, 'put s3://vault/keys/0123');
      expect(mapped).toBeInstanceOf(TransientError);
      expect(mapped.retryable).toBe(true);
    } finally {
      s3.destroy();
      await failing.stop();
      await new Promise((resolve) => hangUp.close(resolve));
    }
  });
});
