/**
 * Restore drills on the embedded stack: a plan with a drill, a snapshot committed and copied to the
 * second region, `strongbox drill` enqueues a drill, the drill function (fed by its own queue)
 * restores a sample in both regions to the drill bucket's scratch prefix, and `strongbox status`
 * shows what it measured.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import type { DrillRecord } from '#domain/records.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { writeStackFile } from '#local/cli/context.ts';
import { buildCli } from '#local/cli/index.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { jobEnded, waitFor } from '../support/wait.ts';

const PLAN = 'drilled';
let stack: LocalStack;
let c: Container;
let dataDir: string;
let snapshotId: string;
let drillBucket: string;

/** Run the CLI against this stack (as `npm run strongbox -- …` would) and return what it printed. */
async function cli(...args: string[]): Promise<string> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await buildCli().parseAsync(['node', 'strongbox', '--data-dir', dataDir, ...args]);
    return log.mock.calls.map((call) => call.join(' ')).join('\n');
  } finally {
    log.mockRestore();
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'strongbox-drills-'));
  stack = await startLocalStack({ dataDir, logLevel: 'SILENT' });
  c = stack.container();
  await writeStackFile(stack, dataDir); // what `strongbox start` writes for the other commands
  drillBucket = String(stack.env('drill').STRONGBOX_DRILL_BUCKET);
  const source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  for (let i = 0; i < 40; i++) {
    await stack.s3().send(
      new PutObjectCommand({
        Bucket: source,
        Key: `docs/${i}.txt`,
        Body: `document ${i} `.repeat(200 * (i + 1)),
      }),
    );
  }
  await stack.settled();
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: PLAN,
          source: { bucket: source },
          // No scheduled snapshot while the file runs (a rate plan is due at once, and the scheduler
          // ticks): the on-demand one below stays the only one, the drills' latest.
          schedule: 'cron(0 3 1 1 ? *)',
          retention: { keepLast: 5 },
          copyRegions: ['eu-west-1'],
          drill: { schedule: 'rate(7 days)', sampleObjects: 10 },
        },
      ],
    },
    stack.copyRegions,
  );
  snapshotId = (await startSnapshotNow(c.pipeline, PLAN)).snapshotId;
  await jobEnded(c.pipeline.catalog, PLAN, snapshotId);
  // No wait for a new second: the manual drill's id (to the millisecond) never equals the scheduled
  // drill's (the weekly schedule's first occurrence, the second the plan was created).
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('restore drills on the embedded stack', () => {
  let drill: DrillRecord;

  it('runs a drill enqueued by `strongbox drill` in both regions and records it on the plan', async () => {
    // Prepare
    const snapshot = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
    expect(snapshot?.status).toBe('COMMITTED');
    expect(snapshot?.regions?.['eu-west-1']?.status).toBe('COPIED');
    // Act
    const printed = await cli('drill', PLAN);
    // A drill is RUNNING in the history while it runs: wait for its result.
    drill = await waitFor('the drill record', async () =>
      (await c.pipeline.catalog.getDrillHistory(PLAN))?.drills.find((d) => d.status !== 'RUNNING'),
    );
    // Assess
    expect(printed).toMatch(new RegExp(`^enqueued: drill ${drill.drillId} of plan ${PLAN}`));
    expect(drill).toMatchObject({
      status: 'PASSED',
      snapshotId,
      latestSnapshotId: snapshotId,
      latestLogicalBytes: snapshot?.logicalBytes,
    });
    expect(Object.keys(drill.regions).sort()).toEqual(['eu-west-1', 'us-east-1']);
    for (const [region, r] of Object.entries(drill.regions)) {
      expect(r.status, region).toBe('PASSED');
      expect(r.objects, region).toBe(10);
      expect(r.bytes, region).toBeGreaterThan(0);
      expect(r.throughputBytesPerSecond, region).toBeGreaterThan(0);
      expect(r.timeToFirstByteMs, region).toBeGreaterThan(0);
      expect(r.estimatedRtoSeconds, region).toBeCloseTo(
        (snapshot?.logicalBytes ?? 0) / r.throughputBytesPerSecond,
        6,
      );
    }
  });

  it('leaves the scratch prefix of the drill bucket empty', async () => {
    const listed = await stack
      .s3()
      .send(new ListObjectsV2Command({ Bucket: drillBucket, Prefix: 'strongbox-drill/' }));
    expect(drillBucket).not.toBe(c.config.vaultBucket);
    expect(listed.KeyCount ?? 0).toBe(0);
  });

  it('enqueues the plan’s scheduled drill once per occurrence from the scheduler’s tick', async () => {
    // Act: two ticks within the same occurrence of the weekly drill schedule.
    const first = (await stack.dispatcher.fireSchedule('scheduler')) as {
      drills: { drillId: string; created: boolean }[];
    };
    const again = (await stack.dispatcher.fireSchedule('scheduler')) as {
      drills: { drillId: string; created: boolean }[];
    };
    const scheduledId = first.drills[0]?.drillId as string;
    const scheduled = await waitFor('the scheduled drill', async () =>
      (await c.pipeline.catalog.getDrillHistory(PLAN))?.drills.find(
        (d) => d.drillId === scheduledId && d.status !== 'RUNNING',
      ),
    );
    await stack.settled();
    // Assess
    expect(first.drills).toEqual([expect.objectContaining({ created: true })]);
    expect(again.drills).toEqual([{ ...first.drills[0], created: false }]);
    expect(scheduled.status).toBe('PASSED');
    const history = await c.pipeline.catalog.getDrillHistory(PLAN);
    expect(history?.drills.filter((d) => d.drillId === scheduledId)).toHaveLength(1);
    expect(history?.drills.map((d) => d.drillId)).toEqual([drill.drillId, scheduledId]);
  });

  it('shows the drill in `strongbox status`', async () => {
    const printed = await cli('status', PLAN);
    const line = printed.split('\n').find((l) => l.trimStart().startsWith('drill '));
    expect(line).toMatch(
      new RegExp(
        `^ {2}drill \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\dZ snapshot ${snapshotId} PASSED: us-east-1 10 objects [\\d.]+ (KiB|MiB) [\\d.]+ [KMG]?i?B/s TTFB \\d+ ms RTO ≈ [\\d.]+ (s|min|h); eu-west-1 10 objects `,
      ),
    );
  });
});
