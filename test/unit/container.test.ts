// The composition root (shared/runtime/container.ts) wires the observing decorators around the
// pipeline's ports: a failed call is logged and counted, properties and listings pass through. The
// SDK clients are mocked (aws-sdk-client-mock): no request leaves the process.
import { Logger } from '@aws-lambda-powertools/logger';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PortMeter } from '#adapters/metered-port.ts';
import { NotFoundError, TransientError } from '#domain/errors.ts';
import { writePolicyOf } from '#domain/immutability.ts';
import type { VaultStore } from '#domain/ports.ts';
import { createContainer } from '#runtime/container.ts';
import { testConfig } from '../support/config.ts';

const dynamo = mockClient(DynamoDBDocumentClient);
const s3 = mockClient(S3Client);
const sqs = mockClient(SQSClient);

function container() {
  const logger = new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' });
  const warn = vi.spyOn(logger, 'warn');
  const debug = vi.spyOn(logger, 'debug');
  let ms = 0;
  const portMeter = new PortMeter({ now: () => (ms += 5) }); // every reading 5 ms after the last
  const c = createContainer(
    testConfig({ kmsKeyId: 'alias/strongbox-test', objectLock: { mode: 'GOVERNANCE', days: 30 } }),
    { logger, portMeter },
  );
  return { c, warn, debug, portMeter };
}

describe('createContainer wires the observing port decorators', () => {
  afterEach(() => {
    dynamo.reset();
    s3.reset();
    sqs.reset();
  });

  it('logs and counts a failed catalog call, retryable, and rethrows it as the adapter threw it', async () => {
    dynamo
      .on(GetCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const { c, warn, portMeter } = container();
    const error = await c.pipeline.catalog.getJob('photos/20260301T000000Z').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect(warn).toHaveBeenCalledWith('catalog.getJob failed', {
      port: 'catalog',
      method: 'getJob',
      reason: expect.stringContaining('slow down'),
      retryable: true,
    });
    expect(c.portMeter).toBe(portMeter);
    expect(portMeter.drain()).toEqual([
      {
        port: 'catalog',
        total: { calls: 1, failures: 1, retryableFailures: 1, milliseconds: 5 },
        methods: { getJob: { calls: 1, failures: 1, retryableFailures: 1, milliseconds: 5 } },
      },
    ]);
  });

  it('observes every vault, outside its write policy, and the queue; properties and listings pass through', async () => {
    s3.on(GetObjectCommand).rejects(
      new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }),
    );
    s3.on(ListObjectsV2Command).resolves({
      Contents: [{ Key: 'snapshots/a', Size: 1, LastModified: new Date('2026-03-01T00:00:00Z') }],
    });
    sqs.on(SendMessageCommand).rejects(Object.assign(new Error('socket hang up'), { $metadata: {} }));
    const { c, warn, debug, portMeter } = container();
    const { primary, copies } = c.pipeline.vaults;
    const copy = copies.get('eu-west-1') as VaultStore;
    expect([primary.region, primary.bucket, copy.region, copy.bucket]).toEqual([
      'us-east-1',
      'vault-use1',
      'eu-west-1',
      'vault-euw1',
    ]);
    expect(writePolicyOf(copy)).toEqual({ lock: { mode: 'GOVERNANCE', days: 30 } });
    await expect(primary.get('snapshots/missing')).rejects.toBeInstanceOf(NotFoundError);
    await expect(copy.get('snapshots/missing')).rejects.toBeInstanceOf(NotFoundError);
    const keys: string[] = [];
    for await (const o of copy.list('snapshots/')) keys.push(o.key);
    expect(keys).toEqual(['snapshots/a']);
    await expect(
      c.pipeline.queue.send({
        kind: 'verify',
        planId: 'photos',
        snapshotId: '20260301T000000Z',
      }),
    ).rejects.toThrow();
    // A missing key is an answer the domain expects: debug, not warn.
    expect(debug.mock.calls.map(([message]) => message)).toEqual([
      'vault.get failed',
      'vault:eu-west-1.get failed',
    ]);
    expect(warn.mock.calls.map(([message]) => message)).toEqual(['queue.send failed']);
    expect(portMeter.drain().map(({ port, total }) => [port, total.calls, total.failures])).toEqual([
      ['vault', 1, 1],
      ['vault:eu-west-1', 1, 1],
      ['queue', 1, 1],
    ]);
  });
});
