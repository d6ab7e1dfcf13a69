/**
 * A lighter S3 client for the hot object paths — whole and ranged `GetObject` (with `If-Match`,
 * `VersionId`) and single-request `PutObject` — as plain SigV4-signed HTTP requests: `undici` for
 * HTTP, `@smithy/signature-v4` (the AWS SDK's own signer) for signing. Everything else stays on the
 * AWS SDK client it is built from.
 *
 * Why: the SDK's per-request CPU cost (middleware stack, schema serde, checksum plumbing) is several
 * times that of the request itself; a snapshot GETs and a restore PUTs every object, so that cost
 * dominated their CPU profile.
 *
 * What it takes from the SDK client, so it behaves as that client is configured:
 * - credentials: the client's own provider chain (`client.config.credentials`), resolved per request
 *   (the SDK memoizes and refreshes them);
 * - addressing: the client's endpoint rules (`client.config.endpointProvider`) with its region,
 *   endpoint override, `forcePathStyle`, FIPS, dual-stack and accelerate settings, resolved once per
 *   bucket — so virtual-host vs path style is exactly the SDK's choice;
 * - `sha256` for the payload hash and signing.
 *
 * What it does not do, and hands back to the SDK instead (by throwing {@link S3HttpFallback}): a
 * bucket whose endpoint rules want another signing scheme than SigV4 (S3 Express, multi-region
 * access points), and a bucket in another region (S3 answers a redirect; the SDK client follows
 * region redirects) — the caller then uses the SDK for that bucket from then on — and a request S3
 * refuses for a skewed clock (the SDK corrects its clock offset, which this client then signs with).
 * Retries back off exponentially with full jitter, as the SDK's standard mode; the SDK's adaptive
 * mode also rate-limits a throttled client, which this client does not.
 */

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { Agent, type Dispatcher } from 'undici';
import { IntegrityError } from '#domain/errors.ts';
import type { WriteConditions } from '#domain/ports.ts';
import { type RuntimeRetryPolicy, withRetry } from './retrying.ts';

/** A non-2xx answer from S3: its HTTP status and the error `Code` of its XML body (or the status text). */
export class S3HttpError extends Error {
  readonly status: number;
  /** S3's error code, e.g. `NoSuchKey`, `PreconditionFailed`, `SlowDown`; `NotFound` for a bodyless 404. */
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = code;
    this.status = status;
    this.code = code;
  }
}

/**
 * Thrown when a request is better made by the SDK client (see the module comment): nothing was
 * read or written. Not an S3 failure: callers catch it and go through the SDK.
 */
export class S3HttpFallback extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'S3HttpFallback';
  }
}

/** A GET's answer: the body and the headers the adapters use. */
export interface S3HttpObject {
  body: Uint8Array;
  etag: string;
  lastModified?: string;
  contentType?: string;
  contentRange?: string;
  versionId?: string;
  /** `x-amz-server-side-encryption`, with `:<x-amz-server-side-encryption-aws-kms-key-id>` when it names a KMS key. */
  encryption?: string;
  /** `x-amz-meta-*` headers, by lower-case name without the prefix (as the SDK reports them). */
  metadata: Record<string, string>;
}

/**
 * An object's encryption at rest as one string (see `FetchedObject.encryption`, #domain/ports.ts):
 * the server-side encryption header, and the KMS key it names when it names one.
 */
export function encryptionOf(sse: string | undefined, kmsKeyId: string | undefined): string | undefined {
  if (!sse) return undefined;
  return kmsKeyId && sse.startsWith('aws:kms') ? `${sse}:${kmsKeyId}` : sse;
}

/** Options of {@link S3HttpClient}. */
export interface S3HttpClientOptions {
  /** Attempts per request (retrying 5xx, 429, SlowDown and connection failures). @default 8 */
  maxAttempts?: number;
  /** Connections per origin. @default 64 */
  connections?: number;
  /** Base of the exponential backoff, in milliseconds (full jitter, capped at 20 s). @default 100 */
  backoffBaseMs?: number;
  /** Waits between attempts (tests). @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** The HTTP dispatcher (tests). @default an undici Agent with keep-alive */
  dispatcher?: Dispatcher;
}

interface Target {
  origin: string;
  host: string;
  /** URL path of the bucket's root: `/` (virtual host) or `/bucket` (path style), no trailing slash but `/`. */
  basePath: string;
  signingRegion: string;
  signer: SignatureV4;
}

/** RFC 3986 encoding of one path segment or query value, as SigV4 for S3 wants it. */
export function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${(c.charCodeAt(0) as number).toString(16).toUpperCase()}`,
  );
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Signed GET and PUT of S3 objects over HTTP, configured from an SDK `S3Client`.
 * @example
 * ```ts
 * const http = new S3HttpClient(s3Client, { maxAttempts: 8 });
 * const object = await http.getObject('photos', 'cat.jpg', { range: { offsetBytes: 0, lengthBytes: 1024 } });
 * ```
 */
export class S3HttpClient {
  readonly #client: S3Client;
  readonly #dispatcher: Dispatcher;
  readonly #retry: RuntimeRetryPolicy;
  readonly #targets = new Map<string, Promise<Target>>();
  readonly #sdkOnly = new Set<string>();

  constructor(client: S3Client, options: S3HttpClientOptions = {}) {
    this.#client = client;
    // Full jitter, the ceiling doubling from backoffBaseMs up to 20 s: as the SDK's standard retry.
    this.#retry = {
      maxAttempts: options.maxAttempts ?? 8,
      baseDelayMs: options.backoffBaseMs ?? 100,
      maxDelayMs: 20_000,
      ...(options.sleep ? { sleep: options.sleep } : {}),
    };
    this.#dispatcher =
      options.dispatcher ??
      new Agent({ connections: options.connections ?? 64, keepAliveTimeout: 4_000, pipelining: 1 });
  }

  /** Whether requests to `bucket` go through this client (false once it fell back to the SDK for it). */
  serves(bucket: string): boolean {
    return !this.#sdkOnly.has(bucket);
  }

  /**
   * `GetObject`, whole or a byte range, with `If-Match` and `VersionId` when given. A whole-object
   * GET asks for the stored checksum (`x-amz-checksum-mode: ENABLED`) and checks CRC32, SHA-1 or
   * SHA-256 full-object checksums against the body (others — CRC32C, CRC64NVME, composite — are not
   * checked).
   * @throws S3HttpError for a non-2xx answer (after retries for 5xx, 429 and SlowDown);
   *   IntegrityError (not retryable) when the body does not match its stored checksum;
   *   S3HttpFallback when the SDK should make the request; undici's errors when the connection
   *   keeps failing.
   */
  async getObject(
    bucket: string,
    key: string,
    options: {
      range?: { offsetBytes: number; lengthBytes: number };
      ifMatch?: string;
      versionId?: string;
    } = {},
  ): Promise<S3HttpObject> {
    const headers: Record<string, string> = {};
    if (options.range) {
      const { offsetBytes, lengthBytes } = options.range;
      headers.range = `bytes=${offsetBytes}-${offsetBytes + lengthBytes - 1}`;
    } else {
      headers['x-amz-checksum-mode'] = 'ENABLED';
    }
    if (options.ifMatch) headers['if-match'] = `"${options.ifMatch}"`;
    const query = options.versionId ? { versionId: options.versionId } : undefined;
    const res = await this.#send(bucket, key, 'GET', headers, query, undefined, EMPTY_SHA256);
    const body = await res.body.bytes();
    const h = res.headers;
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(h)) {
      if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice(11)] = value;
    }
    if (!options.range) checkStoredChecksum(h, body, `s3://${bucket}/${key}`);
    const lastModified = header(h, 'last-modified');
    const contentType = header(h, 'content-type');
    const contentRange = header(h, 'content-range');
    const versionId = header(h, 'x-amz-version-id');
    const encryption = encryptionOf(
      header(h, 'x-amz-server-side-encryption'),
      header(h, 'x-amz-server-side-encryption-aws-kms-key-id'),
    );
    return {
      body,
      etag: (header(h, 'etag') ?? '').replace(/"/g, ''),
      ...(lastModified ? { lastModified: new Date(lastModified).toISOString() } : {}),
      ...(contentType ? { contentType } : {}),
      ...(contentRange ? { contentRange } : {}),
      ...(versionId ? { versionId } : {}),
      ...(encryption ? { encryption } : {}),
      metadata,
    };
  }

  /**
   * `PutObject` of a body in one request (S3 takes up to 5 GiB; callers keep it to an upload part's size),
   * with the SHA-256 of the body signed (`x-amz-content-sha256`), so S3 refuses a body changed on
   * the way. `conditions.ifNoneMatch` sends `If-None-Match: *`: S3 then stores the body only when
   * no object has the key, else answers 412 PreconditionFailed; a 409 ConditionalRequestConflict
   * (another write of the key under way) is retried as S3 advises.
   * @throws as {@link getObject} (no checksum check); S3HttpError 412 `PreconditionFailed` when the
   *   condition fails.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
   */
  async putObject(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> } = {},
    conditions: WriteConditions = {},
  ): Promise<void> {
    const headers: Record<string, string> = {
      'content-length': String(body.length),
      ...(attributes.contentType ? { 'content-type': attributes.contentType } : {}),
      ...(conditions.ifNoneMatch ? { 'if-none-match': '*' } : {}),
    };
    for (const [name, value] of Object.entries(attributes.metadata ?? {})) {
      headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    }
    const payloadHash = createHash('sha256').update(body).digest('hex');
    const res = await this.#send(bucket, key, 'PUT', headers, undefined, body, payloadHash);
    await res.body.dump();
  }

  /** One request, signed, retried on 5xx, 429, SlowDown and connection failures; 2xx answers only. */
  async #send(
    bucket: string,
    key: string,
    method: 'GET' | 'PUT',
    extraHeaders: Record<string, string>,
    query: Record<string, string> | undefined,
    body: Uint8Array | undefined,
    payloadHash: string,
  ): Promise<Dispatcher.ResponseData> {
    if (this.#sdkOnly.has(bucket)) throw new S3HttpFallback(`${bucket}: served by the SDK`);
    const target = await this.#target(bucket);
    const path = `${target.basePath === '/' ? '' : target.basePath}/${key.split('/').map(uriEscape).join('/')}`;
    const search = query
      ? `?${Object.entries(query)
          .map(([k, v]) => `${uriEscape(k)}=${uriEscape(v)}`)
          .join('&')}`
      : '';
    let connectionFailure: unknown; // what the last request threw: retried, like a retryable answer
    const retryIf = (error: unknown) =>
      error === connectionFailure || (error instanceof S3HttpError && isRetryableAnswer(error));
    const attempt = async (): Promise<Dispatcher.ResponseData> => {
      // The SDK client's clock offset: it corrects it when S3 reports a skewed clock.
      const signingDate = new Date(Date.now() + (this.#client.config.systemClockOffset ?? 0));
      const signed = await target.signer.sign(
        {
          method,
          protocol: target.origin.startsWith('https:') ? 'https:' : 'http:',
          hostname: target.host,
          path,
          query: query ?? {},
          headers: { ...extraHeaders, host: target.host, 'x-amz-content-sha256': payloadHash },
        },
        { signingDate },
      );
      let res: Dispatcher.ResponseData;
      try {
        res = await this.#dispatcher.request({
          origin: target.origin,
          path: path + search,
          method,
          headers: signed.headers,
          ...(body ? { body } : {}),
        });
      } catch (error) {
        connectionFailure = error;
        throw error;
      }
      if (res.statusCode >= 200 && res.statusCode < 300) return res;
      const text = method === 'GET' || res.statusCode >= 300 ? await res.body.text() : '';
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? codeOfStatus(res.statusCode);
      const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `HTTP ${res.statusCode}`;
      const bucketRegion = header(res.headers, 'x-amz-bucket-region');
      if (
        (res.statusCode === 301 || res.statusCode === 307 || res.statusCode === 400) &&
        bucketRegion &&
        bucketRegion !== target.signingRegion
      ) {
        // Another region's bucket: the SDK client follows region redirects.
        this.#sdkOnly.add(bucket);
        throw new S3HttpFallback(`${bucket} is in ${bucketRegion}`);
      }
      if (code === 'RequestTimeTooSkewed') {
        // The SDK client learns the clock offset from its own requests; let it make this one.
        throw new S3HttpFallback(`${method} s3://${bucket}/${key}: clock skewed`);
      }
      throw new S3HttpError(res.statusCode, code, `${method} s3://${bucket}/${key}: ${code}: ${message}`);
    };
    return withRetry(attempt, { ...this.#retry, retryIf });
  }

  /** Where `bucket`'s requests go, by the SDK client's own endpoint rules (once per bucket). */
  #target(bucket: string): Promise<Target> {
    let target = this.#targets.get(bucket);
    if (!target) {
      target = this.#resolve(bucket);
      target.catch(() => this.#targets.delete(bucket));
      this.#targets.set(bucket, target);
    }
    return target;
  }

  async #resolve(bucket: string): Promise<Target> {
    const config = this.#client.config;
    const region = await config.region();
    const endpoint = config.isCustomEndpoint && config.endpoint ? await config.endpoint() : undefined;
    const resolved = config.endpointProvider({
      Bucket: bucket,
      Region: region,
      ForcePathStyle: config.forcePathStyle ?? false,
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      Accelerate: config.useAccelerateEndpoint ?? false,
      ...(endpoint
        ? {
            Endpoint: `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path}`,
          }
        : {}),
    });
    const schemes = (resolved.properties?.authSchemes ?? []) as { name?: string; signingRegion?: string }[];
    const scheme = schemes[0];
    if (scheme && scheme.name !== 'sigv4') {
      this.#sdkOnly.add(bucket);
      throw new S3HttpFallback(`${bucket}: endpoint wants ${scheme.name}`);
    }
    const url = resolved.url;
    const signingRegion = scheme?.signingRegion ?? region;
    return {
      origin: url.origin,
      host: url.host,
      basePath: url.pathname.replace(/\/$/, '') || '/',
      signingRegion,
      signer: new SignatureV4({
        credentials: config.credentials,
        region: signingRegion,
        service: 's3',
        sha256: config.sha256,
        uriEscapePath: false,
        applyChecksum: false,
      }),
    };
  }

  /** Close the connections. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The error code S3 sends no body for (HEAD, some 404s). */
function codeOfStatus(status: number): string {
  if (status === 404) return 'NotFound';
  if (status === 412) return 'PreconditionFailed';
  if (status === 403) return 'Forbidden';
  if (status === 503) return 'ServiceUnavailable';
  return `Http${status}`;
}

/**
 * Whether S3's answer is worth the same request again: 5xx, 429, `SlowDown`, `RequestTimeout`, and
 * `ConditionalRequestConflict` (409: a conditional PUT met another write of the key; S3 says retry).
 */
function isRetryableAnswer({ status, code }: S3HttpError): boolean {
  return (
    status >= 500 ||
    status === 429 ||
    code === 'SlowDown' ||
    code === 'RequestTimeout' ||
    code === 'ConditionalRequestConflict'
  );
}

/**
 * Check a whole-object body against the full-object checksum S3 stored with it (the headers a GET
 * with `x-amz-checksum-mode: ENABLED` answers). Composite checksums (of multipart uploads, `…-N`)
 * and algorithms Node has no native implementation of are not checked.
 * @throws IntegrityError (not retryable) on a mismatch.
 */
export function checkStoredChecksum(
  headers: Dispatcher.ResponseData['headers'],
  body: Uint8Array,
  what: string,
): void {
  if (header(headers, 'x-amz-checksum-type') === 'COMPOSITE') return;
  const expect = (algorithm: string, actual: () => string) => {
    const stored = header(headers, `x-amz-checksum-${algorithm}`);
    if (!stored || stored.includes('-')) return;
    const computed = actual();
    if (computed !== stored) {
      throw new IntegrityError(
        `${what}: Checksum mismatch: ${algorithm} of the body is ${computed}, S3 stored ${stored}`,
      );
    }
  };
  const crc = () => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(crc32(body) >>> 0);
    return b.toString('base64');
  };
  expect('crc32', crc);
  expect('sha256', () => createHash('sha256').update(body).digest('base64'));
  expect('sha1', () => createHash('sha1').update(body).digest('base64'));
}
