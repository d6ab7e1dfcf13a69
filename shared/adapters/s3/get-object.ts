/**
 * `GetObject` (whole or ranged, conditional, by version) through the lighter {@link S3HttpClient}
 * when it serves the bucket, else through the SDK.
 */

import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { TransientError } from '#domain/errors.ts';
import type { ByteRange, FetchedObject, ReadOptions } from '#domain/ports.ts';
import { encryptionOf, type S3HttpClient, S3HttpFallback } from '../s3-http.ts';

/**
 * Run `fast` on the {@link S3HttpClient} when there is one and it serves `bucket`, else (or when it
 * hands the request back with S3HttpFallback) `sdk`.
 */
export async function viaHttp<T>(
  http: S3HttpClient | undefined,
  bucket: string,
  fast: (http: S3HttpClient) => Promise<T>,
  sdk: () => Promise<T>,
): Promise<T> {
  if (http?.serves(bucket)) {
    try {
      return await fast(http);
    } catch (error) {
      if (!(error instanceof S3HttpFallback)) throw error;
    }
  }
  return sdk();
}

export async function getObject(
  client: S3Client,
  bucket: string,
  key: string,
  range?: ByteRange,
  options: ReadOptions = range ?? {},
  http?: S3HttpClient,
): Promise<FetchedObject> {
  return viaHttp(
    http,
    bucket,
    async (h) => {
      const out = await h.getObject(bucket, key, {
        ...(range ? { range } : {}),
        ...(options.ifMatch ? { ifMatch: options.ifMatch } : {}),
        ...(options.versionId ? { versionId: options.versionId } : {}),
      });
      const total = /\/(\d+)$/.exec(out.contentRange ?? '')?.[1];
      return {
        key,
        body: out.body,
        sizeBytes: total === undefined ? out.body.length : Number(total),
        etag: out.etag,
        lastModified: out.lastModified ?? new Date(0).toISOString(),
        ...(out.contentType ? { contentType: out.contentType } : {}),
        ...(Object.keys(out.metadata).length > 0 ? { metadata: out.metadata } : {}),
        ...(out.versionId && out.versionId !== 'null' ? { versionId: out.versionId } : {}),
        ...(out.encryption ? { encryption: out.encryption } : {}),
      };
    },
    () => getObjectSdk(client, bucket, key, range, options),
  );
}

async function getObjectSdk(
  client: S3Client,
  bucket: string,
  key: string,
  range: ByteRange | undefined,
  options: ReadOptions,
): Promise<FetchedObject> {
  const out = await client.send(
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ...(range ? { Range: `bytes=${range.offsetBytes}-${range.offsetBytes + range.lengthBytes - 1}` } : {}),
      ...(options.ifMatch ? { IfMatch: `"${options.ifMatch}"` } : {}),
      ...(options.versionId ? { VersionId: options.versionId } : {}),
    }),
  );
  const body = await out.Body?.transformToByteArray();
  const encryption = encryptionOf(out.ServerSideEncryption, out.SSEKMSKeyId);
  if (!body) throw new TransientError(`s3://${bucket}/${key}: empty response body`);
  // A ranged GET answers `Content-Range: bytes a-b/total`: the object's size is the total.
  const total = /\/(\d+)$/.exec(out.ContentRange ?? '')?.[1];
  return {
    key,
    body,
    sizeBytes: total === undefined ? body.length : Number(total),
    etag: (out.ETag ?? '').replace(/"/g, ''),
    lastModified: (out.LastModified ?? new Date(0)).toISOString(),
    ...(out.ContentType ? { contentType: out.ContentType } : {}),
    ...(out.Metadata && Object.keys(out.Metadata).length > 0 ? { metadata: out.Metadata } : {}),
    ...(out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {}),
    ...(encryption ? { encryption } : {}),
  };
}
