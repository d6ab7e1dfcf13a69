/**
 * Functions as Lambda environments of their own: the snapshot function switched to processes runs
 * in children started with Lambda's heap flags for its memorySize, the snapshot commits as it does
 * in the stack's process, and the environments' peak RSS is measured.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { lambdaHeapFlags } from '#local/process-functions.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import { waitFor } from '../support/wait.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ logLevel: 'SILENT' });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('functions in processes of their own', () => {
  it("uses Lambda's Node.js heap flags for the function's memory size", () => {
    expect(lambdaHeapFlags(1024)).toEqual(['--max-semi-space-size=51', '--max-old-space-size=922']);
  });

  it('runs the snapshot function as separate environments: it commits, and their peak RSS is measured', async () => {
    const c = stack.container();
    const source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
    for (let i = 0; i < 30; i++) {
      await stack
        .s3()
        .send(
          new PutObjectCommand({ Bucket: source, Key: `env/${i}.txt`, Body: `object ${i} `.repeat(100) }),
        );
    }
    await stack.settled();
    await applyPlans(
      c.pipeline,
      {
        plans: [
          {
            id: 'in-processes',
            source: { bucket: source, prefix: 'env/' },
            schedule: 'rate(1 day)',
            retention: { keepLast: 3 },
            copyRegions: [],
            enabled: false,
          },
        ],
      },
      [],
    );
    stack.processFunctions.use(['snapshot']);
    try {
      const started = await startSnapshotNow(c.pipeline, 'in-processes');
      const snapshot = await waitFor(
        'the snapshot committed',
        async () => {
          const s = await c.pipeline.catalog.getSnapshot('in-processes', started.snapshotId);
          return s?.status === 'COMMITTED' ? s : undefined;
        },
        60_000,
      );
      expect(snapshot.objectCount).toBe(30);
      const stats = stack.processFunctions.stats().snapshot;
      expect(stats?.invocations).toBeGreaterThanOrEqual(1);
      expect(stats?.environments).toBeGreaterThanOrEqual(1);
      expect(stats?.crashes).toBe(0);
      // A Node process that loaded the function (and the AWS SDK) holds tens of MB at least.
      expect(stats?.maxRssBytes).toBeGreaterThan(30 * 1024 * 1024);
      expect(stats?.maxRssBytes).toBeLessThan(1024 * 1024 * 1024);
      // Loading the function and snapshotting 30 objects takes CPU: counted from the environments'
      // own process.cpuUsage() (the stack process's CPU is not in it).
      expect(stats?.cpuSeconds).toBeGreaterThan(0.05);
      // Every snapshot invocation the dispatcher made went to an environment (an invocation is
      // recorded when it ends, which may be after the commit).
      await waitFor('the snapshot invocations recorded', async () => {
        const recorded = stack.dispatcher.invocations.filter((i) => i.functionName === 'snapshot').length;
        return recorded === stack.processFunctions.stats().snapshot?.invocations ? true : undefined;
      });
    } finally {
      stack.processFunctions.use([]);
    }
  }, 120_000);
});
