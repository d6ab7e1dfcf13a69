/**
 * One object too large for the emulator (fauxqs keeps objects in RAM: 60 GiB does not fit this
 * machine), served by the stack's S3 proxy instead (`s3Overlay`, shared/local/stack.ts) from a
 * generator: ListObjectsV2 of its bucket, and HEAD and GET (ranged, with If-Match) of its key, as S3
 * answers them. Every other request goes on to the emulator, so the bucket must exist there too.
 *
 * Each 8 MiB block is 512 KiB of AES-256-CTR keystream (a fixed key, the block number as its
 * counter: no two blocks alike, so nothing deduplicates) followed by zeros: it compresses about 16:1,
 * so the vault's packs (which fauxqs does keep in RAM) hold about 4 GiB for 60 GiB. Compression and
 * upload are cheaper than for incompressible bytes; reading, hashing and the memory held are not.
 * @see https://docs.aws.amazon.com/AmazonS3/API/API_GetObject.html
 * @see https://docs.aws.amazon.com/AmazonS3/API/API_ListObjectsV2.html
 */
import { createCipheriv, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestOverlay } from '#local/latency-proxy.ts';

const BLOCK_BYTES = 8 * 1024 * 1024;
const RANDOM_BYTES = 512 * 1024;

/** The object the overlay serves. */
export interface SyntheticObject {
  bucket: string;
  key: string;
  sizeBytes: number;
  /** Without quotes. */
  etag: string;
  lastModified: Date;
}

/** The synthetic object of `sizeBytes` at `bucket`/`key`. */
export function syntheticObject(bucket: string, key: string, sizeBytes: number): SyntheticObject {
  const etag = createHash('md5').update(`${bucket}/${key}/${sizeBytes}`).digest('hex');
  return { bucket, key, sizeBytes, etag, lastModified: new Date('2026-12-01T00:00:00Z') };
}

/** Block `n` of the content (the last one cut to the object's size). */
function block(o: SyntheticObject, n: number): Buffer {
  const length = Math.min(BLOCK_BYTES, o.sizeBytes - n * BLOCK_BYTES);
  const out = Buffer.alloc(length);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(n, 12);
  const random = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), iv).update(
    Buffer.alloc(Math.min(RANDOM_BYTES, length)),
  );
  random.copy(out);
  return out;
}

/** Bytes `[start, end)` of the content, a block at a time. */
function* bytes(o: SyntheticObject, start: number, end: number): Generator<Buffer> {
  for (let n = Math.floor(start / BLOCK_BYTES); n * BLOCK_BYTES < end; n++) {
    const b = block(o, n);
    const from = Math.max(0, start - n * BLOCK_BYTES);
    const to = Math.min(b.length, end - n * BLOCK_BYTES);
    yield b.subarray(from, to);
  }
}

/** The whole content's SHA-256 (hex): what the snapshot's `contentSha256` must be. */
export function syntheticSha256(o: SyntheticObject): string {
  const hash = createHash('sha256');
  for (const b of bytes(o, 0, o.sizeBytes)) hash.update(b);
  return hash.digest('hex');
}

/** The overlay answering `o`'s listing, HEAD and GETs; `served` counts the requests it answered. */
export function syntheticOverlay(o: SyntheticObject, served: { requests: number }): RequestOverlay {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://overlay');
    const [, bucket, ...rest] = url.pathname.split('/');
    if (bucket !== o.bucket) return false;
    const key = decodeURIComponent(rest.join('/'));
    if (key === '' && req.method === 'GET' && url.searchParams.get('list-type') === '2') {
      served.requests += 1;
      list(o, url, res);
      return true;
    }
    if (key !== o.key || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    served.requests += 1;
    read(o, req, res);
    return true;
  };
}

function list(o: SyntheticObject, url: URL, res: ServerResponse): void {
  const prefix = url.searchParams.get('prefix') ?? '';
  const after = url.searchParams.get('start-after') ?? '';
  const listed = o.key.startsWith(prefix) && o.key > after && !url.searchParams.has('continuation-token');
  const contents = listed
    ? `<Contents><Key>${o.key}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>&quot;${o.etag}&quot;</ETag><Size>${o.sizeBytes}</Size><StorageClass>STANDARD</StorageClass></Contents>`
    : '';
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${o.bucket}</Name><Prefix>${prefix}</Prefix><KeyCount>${listed ? 1 : 0}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`;
  res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function read(o: SyntheticObject, req: IncomingMessage, res: ServerResponse): void {
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && ifMatch.replace(/"/g, '') !== o.etag) {
    res.writeHead(412, { 'content-type': 'application/xml' });
    res.end(
      '<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
    );
    return;
  }
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range?.[2] ? Math.min(Number(range[2]) + 1, o.sizeBytes) : o.sizeBytes;
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': end - start,
    etag: `"${o.etag}"`,
    'last-modified': o.lastModified.toUTCString(),
    'accept-ranges': 'bytes',
    ...(range ? { 'content-range': `bytes ${start}-${end - 1}/${o.sizeBytes}` } : {}),
  };
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const pieces = bytes(o, start, end);
  const pump = () => {
    for (let next = pieces.next(); !next.done; next = pieces.next()) {
      if (!res.write(next.value)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}
