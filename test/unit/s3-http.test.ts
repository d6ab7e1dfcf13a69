// The lighter S3 client (shared/adapters/s3-http.ts) against a scripted local HTTP server: the
// requests it sends (addressing, SigV4 signature checked by an independent implementation of the
// spec, headers) and how S3ObjectStore maps its answers (404, 412, 503 SlowDown, checksum).
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '#adapters/s3/object-store.ts';
import { S3VaultStore } from '#adapters/s3/vault-store.ts';
import { S3HttpClient, S3HttpFallback, uriEscape } from '#adapters/s3-http.ts';
import { ConflictError, IntegrityError, NotFoundError, TransientError } from '#domain/errors.ts';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

interface Seen {
  method: string;
  /** The raw request target (path and query), as sent. */
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** Whether the Authorization header's signature is the one SigV4 gives for the request. */
  signatureValid: boolean;
}

type Reply = (seen: Seen, res: ServerResponse) => void;

let server: Server;
let endpoint: string;
let seen: Seen[] = [];
let replies: Reply[] = [];

/** SigV4 as the spec writes it (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). */
function signatureOf(req: Omit<Seen, 'signatureValid'>): { expected: string; actual: string } {
  const auth = String(req.headers.authorization ?? '');
  const m =
    /Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=(\w+)/.exec(
      auth,
    );
  if (!m) return { expected: 'unparsable', actual: auth };
  const [, , day, region, service, signedHeaders, signature] = m as unknown as string[];
  const [path, query = ''] = req.url.split('?') as [string, string?];
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((p) => p.split('=').map((s) => uriEscape(decodeURIComponent(s))) as [string, string])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => `${k}=${v ?? ''}`)
    .join('&');
  const names = String(signedHeaders).split(';');
  const canonicalHeaders = names.map((n) => `${n}:${String(req.headers[n]).trim()}\n`).join('');
  const canonical = [
    req.method,
    path,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    String(req.headers['x-amz-content-sha256']),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    req.headers['x-amz-date'],
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  let key = hmac(`AWS4${CREDENTIALS.secretAccessKey}`, String(day));
  for (const part of [region, service, 'aws4_request']) key = hmac(key, String(part));
  return { expected: createHmac('sha256', key).update(toSign).digest('hex'), actual: String(signature) };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      const { expected, actual } = signatureOf(request);
      const s: Seen = { ...request, signatureValid: expected === actual };
      seen.push(s);
      const reply = replies.shift();
      if (reply) reply(s, res);
      else res.writeHead(500).end('<Error><Code>InternalError</Code></Error>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen = [];
  replies = [];
});

function clients(options: { endpoint?: string; forcePathStyle?: boolean } = {}) {
  const sdk = new S3Client({
    region: 'eu-west-1',
    credentials: CREDENTIALS,
    endpoint: options.endpoint ?? endpoint,
    forcePathStyle: options.forcePathStyle ?? true,
    maxAttempts: 1,
  });
  const http = new S3HttpClient(sdk, { maxAttempts: 3, sleep: async () => {} });
  return { sdk, http, objects: new S3ObjectStore(sdk, http) };
}

const ok =
  (headers: Record<string, string>, body = ''): Reply =>
  (_s, res) =>
    res.writeHead(200, headers).end(body);
const error =
  (status: number, code?: string): Reply =>
  (_s, res) =>
    res.writeHead(status).end(code ? `<Error><Code>${code}</Code><Message>m</Message></Error>` : '');

describe('S3HttpClient through S3ObjectStore', () => {
  it('GETs a whole object path-style with a valid SigV4 signature, and reads its headers', async () => {
    // Prepare
    const { objects } = clients();
    replies.push(
      ok(
        {
          etag: '"abc"',
          'last-modified': 'Wed, 21 Oct 2026 07:28:00 GMT',
          'content-type': 'text/plain',
          'x-amz-meta-owner': 'cat',
          'x-amz-version-id': 'v1',
        },
        'hello',
      ),
    );
    // Act
    const got = await objects.get('src-bucket', 'dir/a b+c(1)*.txt', { versionId: 'v 1', ifMatch: 'abc' });
    // Assess
    expect(Buffer.from(got.body).toString()).toBe('hello');
    expect(got).toMatchObject({
      key: 'dir/a b+c(1)*.txt',
      sizeBytes: 5,
      etag: 'abc',
      lastModified: '2026-10-21T07:28:00.000Z',
      contentType: 'text/plain',
      metadata: { owner: 'cat' },
      versionId: 'v1',
    });
    const request = seen[0] as Seen;
    expect(request.method).toBe('GET');
    expect(request.url).toBe('/src-bucket/dir/a%20b%2Bc%281%29%2A.txt?versionId=v%201');
    expect(request.headers['if-match']).toBe('"abc"');
    expect(request.headers['x-amz-checksum-mode']).toBe('ENABLED');
    expect(request.headers.authorization).toMatch(
      /Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request/,
    );
    expect(request.signatureValid).toBe(true);
  });

  it('sends a ranged GET and takes the size from Content-Range', async () => {
    const { sdk, http } = clients();
    replies.push((_s, res) =>
      res.writeHead(206, { etag: '"e"', 'content-range': 'bytes 2-4/10' }).end('cde'),
    );
    const vault = new S3VaultStore(sdk, 'eu-west-1', 'vault', http);
    const body = await vault.getRange('packs/ab/ab12', 2, 3);
    expect(Buffer.from(body).toString()).toBe('cde');
    expect(seen[0]?.headers.range).toBe('bytes=2-4');
    expect(seen[0]?.headers['x-amz-checksum-mode']).toBeUndefined();
    expect(seen[0]?.signatureValid).toBe(true);
  });

  it('PUTs with the body signed (x-amz-content-sha256), content type and metadata', async () => {
    const { objects } = clients();
    replies.push(ok({ etag: '"e"' }));
    const body = Buffer.from('restored bytes');
    await objects.put('target', 'k/ey.txt', body, { contentType: 'text/plain', metadata: { Owner: 'cat' } });
    const request = seen[0] as Seen;
    expect(request.method).toBe('PUT');
    expect(request.url).toBe('/target/k/ey.txt');
    expect(request.body.equals(body)).toBe(true);
    expect(request.headers).toMatchObject({
      'content-type': 'text/plain',
      'content-length': String(body.length),
      'x-amz-meta-owner': 'cat',
      'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
    });
    expect(request.signatureValid).toBe(true);
  });

  it('PUTs If-None-Match: * (signed) for a conditional write, and none otherwise', async () => {
    // Prepare
    const { objects } = clients();
    replies.push(ok({ etag: '"e"' }), ok({ etag: '"e"' }));
    // Act
    const conditional = await objects.put('target', 'a', Buffer.from('x'), {}, { ifNoneMatch: true });
    const plain = await objects.put('target', 'b', Buffer.from('x'), {});
    // Assess
    expect([conditional, plain]).toEqual(['written', 'written']);
    const [first, second] = seen as [Seen, Seen];
    expect(first.headers['if-none-match']).toBe('*');
    expect(String(first.headers.authorization)).toMatch(/SignedHeaders=[^,]*if-none-match/);
    expect(first.signatureValid).toBe(true);
    expect(second.headers['if-none-match']).toBeUndefined();
  });

  it("takes a conditional PUT's 412 PreconditionFailed for 'exists', after retrying a 409 ConditionalRequestConflict", async () => {
    // Prepare: another write of the key is under way (409), then it has landed (412)
    const { objects } = clients();
    replies.push(error(409, 'ConditionalRequestConflict'), error(412, 'PreconditionFailed'));
    // Act
    const outcome = await objects.put('target', 'a', Buffer.from('x'), {}, { ifNoneMatch: true });
    // Assess
    expect(outcome).toBe('exists');
    expect(seen).toHaveLength(2);
    expect(seen.every((s) => s.headers['if-none-match'] === '*')).toBe(true);
  });

  it('addresses a bucket virtual-host style when the SDK client is not path-style', async () => {
    const { http } = clients({ endpoint: 'http://localhost:1', forcePathStyle: false });
    // The endpoint rules put the bucket in the host name: the request goes to that origin.
    await expect(http.getObject('my-bucket', 'k')).rejects.toThrow(
      /ENOTFOUND|ECONNREFUSED|getaddrinfo|fetch failed/,
    );
  });

  it.each([
    ['412 PreconditionFailed', 412, 'PreconditionFailed', ConflictError],
    ['404 NoSuchKey', 404, 'NoSuchKey', NotFoundError],
    ['404 without a body', 404, undefined, NotFoundError],
  ])('maps %s as the SDK path does', async (_name, status, code, type) => {
    const { objects } = clients();
    replies.push(error(status, code));
    const read = objects.get('src', 'k', { ifMatch: 'e' });
    await expect(read).rejects.toBeInstanceOf(type);
    await expect(read).rejects.toMatchObject({ retryable: false });
    expect(seen).toHaveLength(1);
  });

  it('retries 503 SlowDown and 500 with backoff, then succeeds', async () => {
    const { objects } = clients();
    replies.push(error(503, 'SlowDown'), error(500, 'InternalError'), ok({ etag: '"e"' }, 'x'));
    const got = await objects.get('src', 'k');
    expect(Buffer.from(got.body).toString()).toBe('x');
    expect(seen).toHaveLength(3);
  });

  it('gives up after maxAttempts with a retryable TransientError', async () => {
    const { objects } = clients();
    replies.push(error(503, 'SlowDown'), error(503, 'SlowDown'), error(503, 'SlowDown'));
    const read = objects.get('src', 'k');
    await expect(read).rejects.toBeInstanceOf(TransientError);
    await expect(read).rejects.toMatchObject({ retryable: true });
    expect(seen).toHaveLength(3);
  });

  it('checks a whole object against the CRC32 S3 stored: a mismatch is IntegrityError', async () => {
    const { objects } = clients();
    const crc = (s: string) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(crc32(s) >>> 0);
      return b.toString('base64');
    };
    replies.push(ok({ etag: '"e"', 'x-amz-checksum-crc32': crc('hello') }, 'hello'));
    await expect(objects.get('src', 'k')).resolves.toMatchObject({ sizeBytes: 5 });
    replies.push(ok({ etag: '"e"', 'x-amz-checksum-crc32': crc('hellO') }, 'hello'));
    const read = objects.get('src', 'k');
    await expect(read).rejects.toBeInstanceOf(IntegrityError);
    await expect(read).rejects.toMatchObject({ retryable: false });
  });

  it('lets the SDK client make a request S3 refused for a skewed clock (it corrects its offset)', async () => {
    const { objects } = clients();
    replies.push(error(403, 'RequestTimeTooSkewed'), ok({ etag: '"e"' }, 'x'));
    const got = await objects.get('src', 'k');
    expect(Buffer.from(got.body).toString()).toBe('x');
    expect(seen).toHaveLength(2);
    expect(seen[0]?.headers['amz-sdk-invocation-id']).toBeUndefined();
    expect(seen[1]?.headers['amz-sdk-invocation-id']).toBeDefined(); // the SDK's request
  });

  it('hands a bucket of another region back to the SDK, and keeps it there', async () => {
    const { http } = clients();
    replies.push((_s, res) =>
      res
        .writeHead(301, { 'x-amz-bucket-region': 'us-west-2' })
        .end('<Error><Code>PermanentRedirect</Code></Error>'),
    );
    expect(http.serves('elsewhere')).toBe(true);
    await expect(http.getObject('elsewhere', 'k')).rejects.toBeInstanceOf(S3HttpFallback);
    expect(http.serves('elsewhere')).toBe(false);
    await expect(http.getObject('elsewhere', 'k')).rejects.toBeInstanceOf(S3HttpFallback);
    expect(seen).toHaveLength(1);
  });
});
