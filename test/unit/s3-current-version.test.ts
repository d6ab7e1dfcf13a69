// S3ObjectStore.currentVersion against a mocked S3Client: the HeadObject capture sends after an
// `ObjectRemoved:Delete` of one version (docs/format.md#journal).
import { HeadObjectCommand, NotFound, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '#adapters/s3/object-store.ts';

const s3 = mockClient(S3Client);
const store = () => new S3ObjectStore(new S3Client({ region: 'us-east-1' }));

beforeEach(() => {
  s3.reset();
});

describe('S3ObjectStore.currentVersion', () => {
  it('sends HeadObject without a version id and returns the version a GET would read', async () => {
    // Prepare
    s3.on(HeadObjectCommand).resolves({
      ContentLength: 7,
      ETag: '"abc"',
      LastModified: new Date('2026-03-01T00:00:01Z'),
      VersionId: '3HL4kqtJlcpXroDTDmJ',
    });
    // Act
    const current = await store().currentVersion('source', 'doc.txt');
    // Assess
    expect(s3.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'source',
      Key: 'doc.txt',
    });
    expect(current).toEqual({
      key: 'doc.txt',
      sizeBytes: 7,
      etag: 'abc',
      lastModified: '2026-03-01T00:00:01.000Z',
      versionId: '3HL4kqtJlcpXroDTDmJ',
    });
  });

  it('leaves out the null version of an unversioned bucket', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"e"', VersionId: 'null' });
    expect(await store().currentVersion('source', 'a')).not.toHaveProperty('versionId');
  });

  it('returns undefined when the newest version is a delete marker (S3 answers 404)', async () => {
    s3.on(HeadObjectCommand).rejects(
      new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'NotFound' }),
    );
    expect(await store().currentVersion('source', 'a')).toBeUndefined();
  });

  it('throws a retryable error on throttling', async () => {
    s3.on(HeadObjectCommand).rejects(
      new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } }),
    );
    await expect(store().currentVersion('source', 'a')).rejects.toMatchObject({ retryable: true });
  });
});
