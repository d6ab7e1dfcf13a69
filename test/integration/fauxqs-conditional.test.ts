/**
 * Integration tests of the conditional writes in the fauxqs patch (patches/fauxqs+2.4.1.patch):
 * `If-None-Match: *` on PutObject and on CompleteMultipartUpload writes only when no object has the
 * key, else S3 answers 412 PreconditionFailed and leaves the object as it was. Unpatched fauxqs
 * accepts the header and overwrites. A restore with `overwrite: never` relies on it
 * (docs/format.md, Read and Write Ordering).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BUCKET = 'conditional';
const PART_BYTES = 5 * 1024 * 1024;

describe('fauxqs conditional writes (If-None-Match: *)', () => {
  let server: FauxqsServer;
  let s3: S3Client;

  beforeAll(async () => {
    server = await startFauxqs({ port: 0, logger: false });
    s3 = new S3Client({
      endpoint: server.address,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.stop();
  });

  const read = async (Key: string) =>
    (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }))).Body?.transformToString();

  /** The S3 error a command fails with (its name and HTTP status), or undefined when it succeeds. */
  async function failureOf(send: Promise<unknown>): Promise<{ name: string; status?: number } | undefined> {
    try {
      await send;
      return undefined;
    } catch (error) {
      if (!(error instanceof S3ServiceException)) throw error;
      return { name: error.name, status: error.$metadata.httpStatusCode };
    }
  }

  /** A multipart upload of two parts (5 MiB of `a`, then `tail`), not completed yet. */
  async function startUpload(Key: string, tail: string) {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key }));
    const parts = [];
    for (const [i, Body] of [Buffer.alloc(PART_BYTES, 'a'), Buffer.from(tail)].entries()) {
      const PartNumber = i + 1;
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber, Body }),
      );
      parts.push({ PartNumber, ETag });
    }
    return { UploadId: UploadId as string, parts };
  }

  it('PutObject with If-None-Match: * stores a new key (200)', async () => {
    const out = await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'put/new.txt', Body: 'first', IfNoneMatch: '*' }),
    );
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(await read('put/new.txt')).toBe('first');
  });

  it('PutObject with If-None-Match: * on an existing key answers 412 PreconditionFailed and keeps the object', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'put/live.txt', Body: 'newer write' }));

    const failure = await failureOf(
      s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'put/live.txt', Body: 'restored', IfNoneMatch: '*' }),
      ),
    );

    expect(failure).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await read('put/live.txt')).toBe('newer write');
  });

  it('PutObject without If-None-Match still overwrites', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'put/plain.txt', Body: 'one' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'put/plain.txt', Body: 'two' }));
    expect(await read('put/plain.txt')).toBe('two');
  });

  it('CompleteMultipartUpload with If-None-Match: * creates a new key (200)', async () => {
    const { UploadId, parts } = await startUpload('mpu/new.bin', 'tail');
    const out = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'mpu/new.bin',
        UploadId,
        MultipartUpload: { Parts: parts },
        IfNoneMatch: '*',
      }),
    );
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect((await read('mpu/new.bin'))?.endsWith('tail')).toBe(true);
  });

  it('CompleteMultipartUpload with If-None-Match: * answers 412 when the key was written during the upload, and keeps that write', async () => {
    // Prepare: the upload's parts are in, then another writer stores the key.
    const { UploadId, parts } = await startUpload('mpu/live.bin', 'restored');
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mpu/live.bin', Body: 'newer write' }));

    // Act
    const failure = await failureOf(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'mpu/live.bin',
          UploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: '*',
        }),
      ),
    );

    // Assess: refused, the newer write stays, and the upload can still be aborted (as on S3).
    expect(failure).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await read('mpu/live.bin')).toBe('newer write');
    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'mpu/live.bin', UploadId }));
  });
});
