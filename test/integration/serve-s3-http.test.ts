// serve-s3's HTTP answers, as S3 gives them, on loopback over the memory pipeline (no emulator needed):
// ListObjects V1 and V2 pages, GetBucketLocation, conditional and ranged GETs, and S3's error codes for
// what it does not serve.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServedTree } from '#domain/browse/served-tree.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { type ServingS3, serveS3 } from '#local/serve-s3.ts';
import { memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

let served: ServingS3;

/** The values of every `<tag>` in an XML body, in order. */
function values(body: string, tag: string): string[] {
  return [...body.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1] as string);
}

beforeAll(async () => {
  const p = memoryPipeline();
  await p.catalog.putPlans([plan({ copyRegions: [] })]);
  for (const key of ['a/1', 'a/2', 'b & c/ü 1', 'z']) await putText(p, key, `content of ${key}`);
  await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  served = await serveS3(await ServedTree.open(p.deps, { plan: 'photos' }), {
    bucket: 'photos',
    region: 'eu-west-1',
  });
});

afterAll(async () => served?.close());

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${served.url}${path}`, { method, headers });

describe('serve-s3 over HTTP', () => {
  it('pages ListObjects (V1) by marker, a common prefix resuming after everything under it', async () => {
    const first = await (await get('/photos?delimiter=/&max-keys=2')).text();
    expect(values(first, 'Prefix').slice(1)).toEqual(['a/', 'b &#38; c/']);
    expect(values(first, 'IsTruncated')).toEqual(['true']);
    expect(values(first, 'NextMarker')).toEqual(['b &#38; c/']);
    const second = await (
      await get(`/photos?delimiter=/&max-keys=2&marker=${encodeURIComponent('b & c/')}`)
    ).text();
    expect(values(second, 'Key')).toEqual(['z']);
    expect(values(second, 'IsTruncated')).toEqual(['false']);
  });

  it('URL-encodes keys in a listing when asked to (encoding-type=url)', async () => {
    const body = await (await get('/photos?list-type=2&prefix=b&encoding-type=url')).text();
    expect(values(body, 'Key')).toEqual([encodeURIComponent('b & c/ü 1')]);
  });

  it('answers GetBucketLocation with the region', async () => {
    expect(await (await get('/photos?location')).text()).toContain('>eu-west-1</LocationConstraint>');
  });

  it('answers If-None-Match with 304 and If-Match with 412 when the ETag says so', async () => {
    const head = await get('/photos/z', {}, 'HEAD');
    const etag = head.headers.get('etag') as string;
    expect((await get('/photos/z', { 'If-None-Match': etag })).status).toBe(304);
    expect((await get('/photos/z', { 'If-Match': '"other"' })).status).toBe(412);
    expect(await (await get('/photos/z', { 'If-Match': etag })).text()).toBe('content of z');
  });

  it.each([
    ['/photos/z', { Range: 'bytes=100-' }, 'GET', 416, 'InvalidRange'],
    ['/photos/nope', {}, 'GET', 404, 'NoSuchKey'],
    ['/other/z', {}, 'GET', 404, 'NoSuchBucket'],
    ['/photos/z?acl', {}, 'GET', 501, 'NotImplemented'],
    ['/photos/%E0%A4%A', {}, 'GET', 400, 'InvalidURI'],
    ['/photos?versioning', {}, 'GET', 501, 'NotImplemented'],
    ['/photos/z', {}, 'PUT', 403, 'AccessDenied'],
    ['/photos/z', {}, 'DELETE', 403, 'AccessDenied'],
    ['/photos?delete', {}, 'POST', 403, 'AccessDenied'],
  ])('answers %s (%j, %s) with %i %s', async (path, headers, method, status, code) => {
    const res = await get(path, headers, method);
    expect(res.status).toBe(status);
    expect(values(await res.text(), 'Code')).toEqual([code]);
  });

  it('answers a HEAD of a missing key with 404 and no body', async () => {
    const res = await get('/photos/nope', {}, 'HEAD');
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('');
  });
});
