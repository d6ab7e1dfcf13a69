/** Listing a prefix (`ListObjectsV2`, every page) and deleting keys in batches (`DeleteObjects`). */

import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { TransientError } from '#domain/errors.ts';
import { mapS3Error } from './errors.ts';

export async function* listAll(
  client: S3Client,
  bucket: string,
  prefix: string,
  startAfter?: string,
): AsyncIterable<{
  key: string;
  sizeBytes: number;
  etag: string;
  lastModified: string;
  storageClass: string;
}> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
      }),
    );
    for (const o of page.Contents ?? []) {
      if (!o.Key) continue;
      yield {
        key: o.Key,
        sizeBytes: o.Size ?? 0,
        etag: (o.ETag ?? '').replace(/"/g, ''),
        lastModified: (o.LastModified ?? new Date(0)).toISOString(),
        storageClass: o.StorageClass ?? 'STANDARD',
      };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** `DeleteObjects` in batches of 1000; a key S3 reports it could not delete fails the call (retryable). */
export async function deleteKeys(client: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    try {
      const out = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = out.Errors ?? [];
      if (failed.length > 0) {
        throw new TransientError(
          `delete in s3://${bucket}: ${failed.length} key(s) failed, e.g. ${failed[0]?.Key}: ${failed[0]?.Code}`,
        );
      }
    } catch (error) {
      throw mapS3Error(error, `delete in s3://${bucket}`);
    }
  }
}
