// Upload part sizes of restored objects, against a mocked S3Client: S3 takes at most 10,000 parts
// per multipart upload, so 8 MiB parts stop at 78 GiB and a larger restored object must use larger
// parts (lib-storage fails with "Exceeded 10000 parts" otherwise). fauxqs does not enforce the
// limit, so these tests pin the requests.
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '#adapters/s3/object-store.ts';
import { MAX_UPLOAD_PARTS, UPLOAD_PART_SIZE_BYTES, uploadPartSizeFor } from '#adapters/s3/upload.ts';

const s3 = mockClient(S3Client);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

beforeEach(() => {
  s3.reset();
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
  s3.on(UploadPartCommand).resolves({ ETag: '"p"' });
  s3.on(CompleteMultipartUploadCommand).resolves({});
});

/** `count` chunks of 8 MiB, as a restore streams an object. */
async function* chunks(count: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < count; i++) yield Buffer.alloc(8 * MiB, i);
}

describe('uploadPartSizeFor', () => {
  it.each([
    [undefined, UPLOAD_PART_SIZE_BYTES],
    [60 * GiB, UPLOAD_PART_SIZE_BYTES],
    [100 * GiB, 11 * MiB],
    [5 * 1024 * GiB, 525 * MiB],
  ])('a body of %s bytes goes up in parts of %s bytes', (sizeBytes, partBytes) => {
    expect(uploadPartSizeFor(sizeBytes)).toBe(partBytes);
  });

  it('fits every size up to 5 TiB in 10,000 parts of whole MiB', () => {
    for (let sizeBytes = 1; sizeBytes <= 5 * 1024 * GiB; sizeBytes = Math.ceil(sizeBytes * 1.37) + 12_345) {
      const part = uploadPartSizeFor(sizeBytes);
      expect(Math.ceil(sizeBytes / part)).toBeLessThanOrEqual(MAX_UPLOAD_PARTS);
      expect(part % MiB).toBe(0);
    }
  });
});

describe('S3ObjectStore.putStream', () => {
  it("uploads a 100 GiB object's stream in parts large enough for 10,000 (11 MiB), not 8 MiB", async () => {
    // Only the first few chunks are streamed: what is asserted is the size of each part.
    await new S3ObjectStore(new S3Client({ region: 'us-east-1' })).putStream('target', 'db.dump', chunks(4), {
      sizeBytes: 100 * GiB,
    });
    const sizes = s3.commandCalls(UploadPartCommand).map((c) => (c.args[0].input.Body as Uint8Array).length);
    expect(sizes).toEqual([11 * MiB, 11 * MiB, 10 * MiB]);
  });

  it('uploads in 8 MiB parts when the size is not given', async () => {
    await new S3ObjectStore(new S3Client({ region: 'us-east-1' })).putStream(
      'target',
      'a.bin',
      chunks(3),
      {},
    );
    const sizes = s3.commandCalls(UploadPartCommand).map((c) => (c.args[0].input.Body as Uint8Array).length);
    expect(sizes).toEqual([8 * MiB, 8 * MiB, 8 * MiB]);
  });
});
