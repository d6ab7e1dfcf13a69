/**
 * A loopback HTTP proxy that makes the embedded S3 answer at S3's pace: every response's first byte
 * waits `firstByteMs` from the request's arrival, and each request's body and response stream at no
 * more than `bytesPerSecond` (one request at a time runs on a connection, so this is a per-connection
 * limit). The bench's `--latency` mode puts it in front of the emulator for us and for the peers
 * alike, since on AWS requests, not CPU, set the pace.
 *
 * The defaults are the low ends of AWS's published guidance: first-byte latencies of roughly
 * 100–200 ms for small objects, and one connection per 85–90 MB/s of throughput.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-design-patterns.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-guidelines.html
 */

import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** How slow the proxy makes S3. */
export interface LatencyProfile {
  /** Milliseconds from a request's arrival to its response's first byte. */
  firstByteMs: number;
  /** Bytes per second each request's body and response stream at, at most. */
  bytesPerSecond: number;
}

/** AWS's published figures (low ends): 100 ms to the first byte, 85 MB/s per connection. */
export const S3_LATENCY_PROFILE: LatencyProfile = { firstByteMs: 100, bytesPerSecond: 85_000_000 };

/**
 * Answers some requests itself instead of the emulator (a bench's synthetic objects): returns true
 * when it answered `req` (through `res`), false to let it through to the target.
 */
export type RequestOverlay = (req: IncomingMessage, res: ServerResponse) => boolean;

/** A running proxy. */
export interface LatencyProxy {
  /** `http://127.0.0.1:<port>`: use as the S3 endpoint. */
  address: string;
  /** Requests proxied so far. */
  requests(): number;
  stop(): Promise<void>;
}

/** Passes bytes on no faster than `bytesPerSecond` from its creation. */
class Throttle extends Transform {
  readonly #rate: number;
  readonly #start = performance.now();
  #bytes = 0;
  constructor(bytesPerSecond: number) {
    super();
    this.#rate = bytesPerSecond;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    void this.#pass(chunk).then(() => done(), done);
  }
  async #pass(chunk: Buffer): Promise<void> {
    const piece = 64 * 1024;
    for (let at = 0; at < chunk.length; at += piece) {
      const part = chunk.subarray(at, at + piece);
      this.#bytes += part.length;
      const due = this.#start + (this.#bytes / this.#rate) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      this.push(part);
    }
  }
}

/**
 * What the proxy answers when it cannot reach the emulator (refused, reset, a malformed answer): an
 * S3 error document, as S3 answers a request it failed internally (500 InternalError). Never plain
 * text: the SDK parses any error body of S3 as XML, and fails on text with "XML parse error" instead
 * of reporting (and retrying) a server error.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 */
export function s3ErrorBody(error: Error): string {
  const message = `latency proxy: ${error.message}`.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>${message}</Message></Error>`;
}

const reported = new Set<string>();

/** Each kind of upstream failure once on stderr: the emulator's failure, not the client's, is the cause. */
function reportUpstreamError(error: NodeJS.ErrnoException): void {
  const kind = error.code ?? error.message;
  if (reported.has(kind)) return;
  reported.add(kind);
  console.error(`latency proxy: the emulator failed a request: ${error.stack ?? error.message}`);
}

/**
 * Start a proxy to `target` (an `http://host:port` endpoint) on a free loopback port; `overlay`
 * answers the requests it claims (without the profile's latency).
 * @example
 * ```ts
 * const proxy = await startLatencyProxy('http://127.0.0.1:4566', S3_LATENCY_PROFILE);
 * const s3 = new S3Client({ endpoint: proxy.address, forcePathStyle: true, region: 'us-east-1' });
 * ```
 */
export async function startLatencyProxy(
  target: string,
  profile: LatencyProfile,
  overlay?: RequestOverlay,
): Promise<LatencyProxy> {
  const upstream = new URL(target);
  let count = 0;
  const server: Server = createServer((req, res) => {
    count += 1;
    if (overlay?.(req, res)) return;
    const arrived = performance.now();
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers, // the Host header too: it is signed
      },
      (answer: IncomingMessage) => {
        const wait = arrived + profile.firstByteMs - performance.now();
        void (wait > 1 ? sleep(wait) : Promise.resolve())
          .then(() => {
            if (res.headersSent || res.destroyed) {
              answer.destroy();
              return;
            }
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            return pipeline(answer, new Throttle(profile.bytesPerSecond), res);
          })
          .catch(() => res.destroy());
      },
    );
    forward.on('error', (error) => {
      reportUpstreamError(error);
      // Mid-body: cut the response (as a dropped connection), never append text to it.
      if (res.headersSent) return void res.destroy();
      const body = s3ErrorBody(error);
      res
        .writeHead(500, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) })
        .end(body);
    });
    pipeline(req, new Throttle(profile.bytesPerSecond), forward).catch(() => forward.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    requests: () => count,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
