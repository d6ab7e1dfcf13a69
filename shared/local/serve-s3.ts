/**
 * `strongbox serve-s3`: a read-only S3 endpoint on loopback onto a {@link TreeReader} (a snapshot or
 * a point in time, read in this process or through a deployed stage's browse function), so `aws s3 cp`, rclone or an application read history without restoring it.
 *
 * Path-style requests only (`http://127.0.0.1:PORT/BUCKET/KEY`), one bucket. Served: ListBuckets,
 * HeadBucket, GetBucketLocation, ListObjectsV2 and ListObjects (V1), HeadObject and GetObject with
 * a byte range and `If-Match` / `If-None-Match`. Every write (PUT, POST, DELETE) is refused with
 * S3's `AccessDenied` (403), and any other subresource with `NotImplemented` (501). Requests are
 * not authenticated: it listens on loopback only, for the operator who started it.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ByteRange, ListPage, TreeReader } from '#domain/browse/served-tree.ts';
import { reasonOf } from '#domain/errors.ts';
import type { ManifestEntry } from '#domain/vault.ts';

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
/** ListObjects' page size when the request names none, and its most. */
const MAX_KEYS = 1000;

/** An S3 error: its HTTP status, code and message. */
class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Escape text for XML (and leave out what XML 1.0 cannot carry: such keys need `encoding-type=url`). */
function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `<Name>value</Name>` for each defined value. */
function tags(fields: Record<string, string | number | boolean | undefined>): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${xml(String(v))}</${k}>`)
    .join('');
}

/** A listing's continuation token: where the next page starts, opaque to clients. */
function tokenOf(page: ListPage): string | undefined {
  if (!page.truncated || page.next === undefined) return undefined;
  return Buffer.from(JSON.stringify({ a: page.next, p: page.nextIsPrefix === true })).toString('base64url');
}

function parseToken(token: string): { after: string; afterPrefix: boolean } {
  try {
    const { a, p } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      a: unknown;
      p: unknown;
    };
    if (typeof a === 'string') return { after: a, afterPrefix: p === true };
  } catch {
    // reported below
  }
  throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect');
}

/**
 * `bytes=a-b`, `bytes=a-` or `bytes=-n` of an object of `size` bytes, or undefined (no Range, or
 * one S3 ignores: several ranges, or not `bytes`). @throws S3Error `InvalidRange` (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const range =
    m[1] === ''
      ? { start: Math.max(0, size - Number(m[2])), end: size - 1 }
      : { start: Number(m[1]), end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) };
  if (range.start >= size || range.end < range.start || (m[1] === '' && Number(m[2]) === 0))
    throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable');
  return range;
}

/** What {@link serveS3} started: its endpoint, and how to stop it. */
export interface ServingS3 {
  /** `http://HOST:PORT`: the endpoint URL to give clients (path-style). */
  url: string;
  bucket: string;
  tree: TreeReader;
  close(): Promise<void>;
}

/**
 * Serve `tree` as bucket `bucket` on `host:port` (port 0: any free one).
 * @example
 * ```ts
 * const served = await serveS3(await ServedTree.open(deps, { plan: 'photos' }), { bucket: 'photos', region: 'us-east-1' });
 * // aws --endpoint-url ${served.url} --no-sign-request s3 ls s3://photos/
 * await served.close();
 * ```
 */
export async function serveS3(
  tree: TreeReader,
  options: { bucket: string; region: string; host?: string; port?: number },
): Promise<ServingS3> {
  const server: Server = createServer((req, res) => {
    handle(tree, options, req, res).catch((error: unknown) => {
      const e =
        error instanceof S3Error
          ? error
          : new S3Error(500, 'InternalError', `strongbox serve-s3: ${reasonOf(error)}`);
      if (res.headersSent) {
        res.destroy(e); // a body cut short: the client sees a short read, never wrong bytes
        return;
      }
      sendError(req, res, e);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    bucket: options.bucket,
    tree,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sendError(req: IncomingMessage, res: ServerResponse, e: S3Error): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${tags({
    Code: e.code,
    Message: e.message,
    Resource: req.url,
    RequestId: requestId(res),
  })}</Error>`;
  res.writeHead(e.status, {
    'Content-Type': 'application/xml',
    ...(req.method === 'HEAD' ? {} : { 'Content-Length': Buffer.byteLength(body) }),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function requestId(res: ServerResponse): string {
  let id = res.getHeader('x-amz-request-id');
  if (typeof id !== 'string') {
    id = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', id);
  }
  return id;
}

function sendXml(res: ServerResponse, body: string): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(
  tree: TreeReader,
  options: { bucket: string; region: string },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  requestId(res);
  res.setHeader('x-amz-bucket-region', options.region);
  // The raw path, not a URL's: a key may hold `..`, `.` or `//`, which URL parsing would fold.
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const [, bucket = '', ...rest] = (q < 0 ? raw : raw.slice(0, q)).split('/');
  const key = rest.length > 0 ? decodePath(rest.join('/')) : '';
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new S3Error(
      403,
      'AccessDenied',
      `strongbox serve-s3 is read-only: ${req.method} is refused (restore with strongbox restore)`,
    );
  }
  if (bucket === '') return sendXml(res, listBuckets(tree, options.bucket));
  if (decodePath(bucket) !== options.bucket) {
    throw new S3Error(
      404,
      'NoSuchBucket',
      `The specified bucket does not exist: this endpoint serves '${options.bucket}'`,
    );
  }
  if (key === '') return bucketRequest(tree, options, query, req, res);
  return objectRequest(tree, key, query, req, res);
}

/** A path segment's text. @throws S3Error `InvalidURI` (400) for a malformed percent-encoding. */
function decodePath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error(400, 'InvalidURI', "Couldn't parse the specified URI.");
  }
}

function listBuckets(tree: TreeReader, bucket: string): string {
  const created = tree.source.snapshot.time ?? tree.source.snapshot.scheduledAt;
  return `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner>${tags({ ID: 'strongbox', DisplayName: 'strongbox' })}</Owner><Buckets><Bucket>${tags(
    { Name: bucket, CreationDate: created },
  )}</Bucket></Buckets></ListAllMyBucketsResult>`;
}

/** @throws S3Error `NotImplemented` (501) for a query parameter not in `known` (a subresource not served). */
function answerable(query: URLSearchParams, known: ReadonlySet<string>): void {
  const unknown = [...query.keys()].find((k) => !known.has(k));
  if (unknown !== undefined) {
    throw new S3Error(501, 'NotImplemented', `strongbox serve-s3 does not implement '?${unknown}'`);
  }
}

/** The subresources of a bucket that are answered; any other is NotImplemented. */
const BUCKET_QUERY = new Set([
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'continuation-token',
  'start-after',
  'encoding-type',
  'fetch-owner',
  'marker',
  'location',
  'x-id',
]);

async function bucketRequest(
  tree: TreeReader,
  options: { bucket: string; region: string },
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  answerable(query, BUCKET_QUERY);
  if (req.method === 'HEAD') {
    res.writeHead(200);
    res.end();
    return;
  }
  if (query.has('location')) {
    const region = options.region === 'us-east-1' ? '' : options.region;
    return sendXml(res, `<LocationConstraint xmlns="${XMLNS}">${xml(region)}</LocationConstraint>`);
  }
  return sendXml(res, await listObjects(tree, options.bucket, query));
}

/** ListObjectsV2 (`list-type=2`) or ListObjects (V1) as S3 answers them. */
async function listObjects(tree: TreeReader, bucket: string, query: URLSearchParams): Promise<string> {
  const v2 = query.get('list-type') === '2';
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') || undefined;
  const maxKeysText = query.get('max-keys');
  const maxKeys = maxKeysText === null ? MAX_KEYS : Number(maxKeysText);
  if (!Number.isInteger(maxKeys) || maxKeys < 0) {
    throw new S3Error(400, 'InvalidArgument', 'max-keys must be a non-negative integer');
  }
  const encoding = query.get('encoding-type');
  if (encoding !== null && encoding !== 'url') {
    throw new S3Error(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request');
  }
  const enc = (s: string | undefined) => (s === undefined || encoding !== 'url' ? s : encodeURIComponent(s));
  const token = v2 ? query.get('continuation-token') : null;
  const startAfter = (v2 ? query.get('start-after') : query.get('marker')) || undefined;
  const resume = token
    ? parseToken(token)
    : startAfter !== undefined
      ? // A V1 marker that is a common prefix (it ends with the delimiter) resumes after everything under it.
        { after: startAfter, afterPrefix: !v2 && delimiter !== undefined && startAfter.endsWith(delimiter) }
      : {};
  const page = await tree.list({
    ...(prefix ? { prefix } : {}),
    ...(delimiter ? { delimiter } : {}),
    ...resume,
    maxKeys: Math.min(maxKeys, MAX_KEYS),
  });
  const contents = page.entries
    .map(
      (e) =>
        `<Contents>${tags({
          Key: enc(e.key),
          LastModified: new Date(e.lastModified).toISOString(),
          ETag: `"${e.etag}"`,
          Size: e.sizeBytes,
          StorageClass: 'STANDARD',
        })}</Contents>`,
    )
    .join('');
  const prefixes = page.commonPrefixes
    .map((p) => `<CommonPrefixes>${tags({ Prefix: enc(p) })}</CommonPrefixes>`)
    .join('');
  const head = v2
    ? tags({
        Name: bucket,
        Prefix: enc(prefix),
        Delimiter: enc(delimiter),
        MaxKeys: maxKeys,
        KeyCount: page.entries.length + page.commonPrefixes.length,
        IsTruncated: page.truncated,
        ContinuationToken: token ?? undefined,
        NextContinuationToken: tokenOf(page),
        StartAfter: enc(query.get('start-after') ?? undefined),
        EncodingType: encoding ?? undefined,
      })
    : tags({
        Name: bucket,
        Prefix: enc(prefix),
        Marker: enc(query.get('marker') ?? ''),
        Delimiter: enc(delimiter),
        MaxKeys: maxKeys,
        IsTruncated: page.truncated,
        NextMarker: page.truncated ? enc(page.next) : undefined,
        EncodingType: encoding ?? undefined,
      });
  return `<ListBucketResult xmlns="${XMLNS}">${head}${contents}${prefixes}</ListBucketResult>`;
}

/** The subresources of an object that are answered (response header overrides are not). */
const OBJECT_QUERY = new Set(['x-id', 'partNumber']);

async function objectRequest(
  tree: TreeReader,
  key: string,
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  answerable(query, OBJECT_QUERY);
  const entry = await tree.entry(key);
  if (!entry) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
  const etag = `"${entry.etag}"`;
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.split(/\s*,\s*/).includes(etag)) {
    throw new S3Error(
      412,
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold',
    );
  }
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined && (ifNoneMatch === '*' || ifNoneMatch.split(/\s*,\s*/).includes(etag))) {
    res.writeHead(304, { ETag: etag });
    res.end();
    return;
  }
  const range = parseRange(req.headers.range, entry.sizeBytes);
  const length = range ? range.end - range.start + 1 : entry.sizeBytes;
  res.writeHead(range ? 206 : 200, {
    ...objectHeaders(entry),
    'Content-Length': length,
    ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${entry.sizeBytes}` } : {}),
  });
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  for await (const chunk of tree.content(entry, range)) {
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}

/** HeadObject's headers of an entry: what the snapshot recorded of the source object. */
function objectHeaders(entry: ManifestEntry): Record<string, string> {
  return {
    ETag: `"${entry.etag}"`,
    'Last-Modified': new Date(entry.lastModified).toUTCString(),
    // A table item is served as its canonical DynamoDB JSON.
    'Content-Type': entry.contentType ?? (entry.item ? 'application/json' : 'binary/octet-stream'),
    'Accept-Ranges': 'bytes',
    ...Object.fromEntries(
      Object.entries(entry.metadata ?? {}).map(([k, v]) => [`x-amz-meta-${k}`, encodeHeader(v)]),
    ),
  };
}

/** A metadata value as an HTTP header carries it: non-ASCII as RFC 2047 `=?UTF-8?B?…?=`, like S3. */
function encodeHeader(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value).toString('base64')}?=`;
}
