/**
 * Garbage collection under concurrency on the embedded stack: the real functions, queues, table and
 * buckets, with a grace period of a few seconds. Rounds of uploads and snapshots run while restores
 * (from both regions) and extra garbage-collection tasks of both regions run at the same time; the
 * pipeline copies, verifies and prunes on its own. After every round every committed snapshot
 * restores byte-identically in every region holding it; at the end, two GC cycles a grace period
 * apart leave no unreferenced pack in any vault.
 * @see ../../docs/format.md#garbage-collection
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { checkRestores, garbagePacks, liveBlobs, type SourceModel } from '../support/gc-model.ts';
import { waitFor } from '../support/wait.ts';

/** Longer than a snapshot of this small source takes here, short enough to test in seconds. */
const GRACE_SECONDS = 6;
const OBJECTS = 40;
const PLAN = 'gcc';
let stack: LocalStack;
let c: Container;
const source = 'gc-concurrency-source';
const content = new Map<string, string>();
const model: SourceModel = new Map();
let seed = 7;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

async function upload(changes: number): Promise<void> {
  const limit = pLimit(8);
  const keys = new Set(
    Array.from({ length: changes }, () => `k/${String(Math.floor(rand() * OBJECTS)).padStart(3, '0')}`),
  );
  await Promise.all(
    [...keys].map((key) =>
      limit(async () => {
        // Half shared (blobs come back after they died), half new.
        const body =
          rand() < 0.5 ? `shared ${Math.floor(rand() * 10)} `.repeat(30) : `new ${rand()} `.repeat(30);
        content.set(key, body);
        await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
      }),
    ),
  );
}

async function ended(snapshotId: string) {
  return waitFor(
    `snapshot ${snapshotId}`,
    async () => {
      const s = await c.pipeline.catalog.getSnapshot(PLAN, snapshotId);
      return s && s.status !== 'RUNNING' ? s : undefined;
    },
    120_000,
  );
}

/** Restore a committed snapshot from `region` to a scratch bucket and compare with the model. */
async function restoreAndCompare(snapshotId: string, region: string, prefix: string): Promise<string[]> {
  const expected = model.get(`${PLAN}/${snapshotId}`) ?? new Map();
  try {
    await restoreSnapshot(c.pipeline, {
      plan: PLAN,
      snapshot: snapshotId,
      region,
      targetBucket: 'gcc-restored',
      targetPrefix: prefix,
    });
  } catch (error) {
    // Forgotten by retention before the restore resolved it: not a finding.
    if (/does not exist|not been copied|FORGOTTEN|no committed/i.test((error as Error).message)) return [];
    return [`restore ${snapshotId} from ${region}: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  for (const [key, body] of expected) {
    const out = await stack
      .s3()
      .send(new GetObjectCommand({ Bucket: 'gcc-restored', Key: `${prefix}${key}` }));
    if ((await out.Body?.transformToString()) !== body)
      problems.push(`restore ${snapshotId} ${region}: ${key}`);
  }
  return problems;
}

const regions = () => [c.pipeline.vaults.primary.region, ...c.pipeline.vaults.copies.keys()];

async function gcAllRegions(snapshotId: string): Promise<void> {
  for (const region of regions())
    await c.pipeline.queue.send({ kind: 'gc', planId: PLAN, snapshotId, region });
}

/** Run a GC cycle in every region and wait until each finished (not deferred by another run's lease). */
async function gcCycle(snapshotId: string): Promise<Record<string, unknown>[]> {
  const results: Record<string, unknown>[] = [];
  for (const region of regions()) {
    for (let attempt = 0; ; attempt++) {
      const sent = new Date().toISOString();
      await c.pipeline.queue.send({ kind: 'gc', planId: PLAN, snapshotId, region });
      const task = await waitFor(
        `GC of ${region}`,
        async () =>
          (await c.pipeline.catalog.listTasks(`${PLAN}/${snapshotId}`)).find(
            (t) => t.taskId === `prune:${region}` && t.status === 'SUCCEEDED' && (t.finishedAt ?? '') >= sent,
          ),
        60_000,
      );
      if (!task.result?.deferred || attempt > 5) {
        results.push({ region, ...task.result });
        break;
      }
    }
  }
  return results;
}

beforeAll(async () => {
  stack = await startLocalStack({
    visibilityTimeoutSeconds: 5,
    logLevel: 'SILENT',
    environment: { STRONGBOX_GC_GRACE_SECONDS: String(GRACE_SECONDS) },
  });
  c = stack.container();
  await stack.s3().send(new CreateBucketCommand({ Bucket: source }));
  await stack.s3().send(new CreateBucketCommand({ Bucket: 'gcc-restored' }));
  await upload(OBJECTS * 3);
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: PLAN,
          source: { bucket: source },
          schedule: 'rate(1 day)',
          retention: { keepLast: 2 },
          copyRegions: stack.copyRegions,
          verification: { samplePercent: 0 },
        },
      ],
    },
    stack.copyRegions,
  );
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe('garbage collection under concurrency on the embedded stack', { timeout: 300_000 }, () => {
  it('keeps every committed snapshot restorable everywhere while snapshots, copies, restores and GC run at once, and leaves no garbage', async () => {
    const problems: string[] = [];
    let last = '';
    for (let round = 1; round <= 4; round++) {
      await upload(12);
      await stack.settled(); // capture heard the uploads: the source is what the model says
      const started = await startSnapshotNow(c.pipeline, PLAN);
      model.set(`${PLAN}/${started.snapshotId}`, new Map(content));
      // At the same time: restores of the committed snapshots from both regions, and GC runs.
      const committed = (await c.pipeline.catalog.listSnapshots(PLAN)).filter(
        (s) => s.status === 'COMMITTED',
      );
      const side = [
        ...committed.flatMap((s) =>
          [c.pipeline.vaults.primary.region, ...Object.keys(s.regions ?? {})].map((region) =>
            restoreAndCompare(s.snapshotId, region, `r${round}/${s.snapshotId}/${region}/`),
          ),
        ),
        last ? gcAllRegions(last).then(() => []) : Promise.resolve([]),
      ];
      expect((await ended(started.snapshotId)).status).toBe('COMMITTED');
      problems.push(...(await Promise.all(side)).flat());
      await stack.settled(); // copy → verify → prune → GC of each region
      last = started.snapshotId;
      const check = await checkRestores(
        c.pipeline.catalog,
        c.pipeline.vaults,
        c.pipeline.envelope,
        [PLAN],
        model,
      );
      problems.push(...check.problems.map((p) => `round ${round}: ${p}`));
      expect(check.checked).toBeGreaterThan(0);
      // Past the grace period now and then, so sweeps happen between rounds.
      if (round % 2 === 0) await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1) * 1000));
    }
    expect(problems).toEqual([]);
    // Two GC cycles a grace period apart: the first marks (and repacks), the second sweeps.
    await stack.settled();
    await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1) * 1000));
    const marking = await gcCycle(last);
    await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1) * 1000));
    const sweeping = await gcCycle(last);
    const { catalog, vaults, envelope } = c.pipeline;
    const live = await liveBlobs(catalog, vaults, envelope);
    for (const vault of [vaults.primary, ...vaults.copies.values()]) {
      expect(
        [...(await garbagePacks(vault, envelope, live))],
        `${vault.region}: ${JSON.stringify({ marking, sweeping })}`,
      ).toEqual([]);
    }
    const final = await checkRestores(catalog, vaults, envelope, [PLAN], model);
    expect(final.problems).toEqual([]);
    expect(final.checked).toBeGreaterThanOrEqual(2);
    // GC did work: packs were marked and deleted along the way.
    const tasks = (await catalog.listJobs(PLAN)).length;
    expect(tasks).toBeGreaterThan(0);
    expect(await catalog.listGcMarks(vaults.primary.bucket)).toEqual([]);
  });
});
