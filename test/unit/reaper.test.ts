import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { reapStaleWork } from '#domain/reaper.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { retrySnapshot, startDrillNow, startSnapshotNow } from '#domain/scheduling.ts';
import type { RestoreSliceTask, Task } from '#domain/tasks.ts';
import { makeHandler as makeSchedulerHandler } from '../../functions/scheduler.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

const options = { staleSeconds: 180, maxRedrives: 3 };

/**
 * A process that can be killed: once `kill` fires, every port call throws, so nothing is caught and
 * nothing recorded (a Lambda killed, timed out or out of memory). `revive` is the next container.
 */
function killable(p: MemoryPipeline) {
  const state = {
    dead: false,
    killOnGet: undefined as string | undefined,
    killOnPut: undefined as ((bucket: string, key: string) => boolean) | undefined,
  };
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        const v = Reflect.get(t, prop, t);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (state.dead) throw new Error('killed');
          if (prop === 'get' && target === (p.objects as object) && args[1] === state.killOnGet) {
            state.dead = true;
            throw new Error('killed');
          }
          if (
            prop === 'put' &&
            target === (p.objects as object) &&
            state.killOnPut?.(args[0] as string, args[1] as string)
          ) {
            state.dead = true;
            throw new Error('killed');
          }
          return v.apply(t, args);
        };
      },
    });
  const deps = p.deps as { -readonly [K in keyof PipelineDeps]: PipelineDeps[K] };
  deps.catalog = wrap(p.catalog);
  deps.queue = wrap(p.queue);
  deps.objects = wrap(p.objects);
  deps.vaults = { primary: wrap(p.primary), copies: new Map([['eu-west-1', wrap(p.copy)]]) };
  return {
    /** Kill the process now: from here on every port call throws. */
    kill() {
      state.dead = true;
    },
    /** The next read of this source key kills the process. */
    killOnGet(key: string | undefined) {
      state.killOnGet = key;
    },
    /** The next write of a target object for which `when` holds kills the process. */
    killOnPut(when: ((bucket: string, key: string) => boolean) | undefined) {
      state.killOnPut = when;
    },
    revive() {
      state.dead = false;
    },
  };
}

/** Run queued tasks until none is left; a killed task's message is lost (held by the dead worker). */
async function drain(p: MemoryPipeline, process: ReturnType<typeof killable>): Promise<Task[]> {
  const killed: Task[] = [];
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
    for (const task of tasks) {
      try {
        await p.run(task);
      } catch (error) {
        if ((error as Error).message !== 'killed') throw error;
        killed.push(task);
        process.revive();
      }
    }
  }
  return killed;
}

const minutes = (p: MemoryPipeline, n: number) => p.clock.advance(n * 60_000);

describe('reapStaleWork', () => {
  let p: MemoryPipeline;
  let process: ReturnType<typeof killable>;

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([plan({ snapshot: { partitionObjects: 10, maxParallelPartitions: 2 } })]);
    for (let i = 0; i < 40; i++) await putText(p, `k${String(i).padStart(3, '0')}`, `body ${i}`);
    p.objects.createBucket('restored');
    process = killable(p);
  });

  it('re-drives a partition killed mid-way once it is silent, and the snapshot commits and restores', async () => {
    // Prepare: partition 1 (k010…k019) dies on its sixth object, with nothing caught or recorded.
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    process.killOnGet('k015');
    const killed = await drain(p, process);
    process.killOnGet(undefined);
    expect(killed.map((t) => (t.kind === 'snapshot-partition' ? t.partition.index : t.kind))).toEqual([1]);
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.status).toBe('RUNNING');
    // Not yet silent for the threshold: nothing happens.
    minutes(p, 2);
    expect((await reapStaleWork(p.deps, p.clock.now().toISOString(), options)).reaped).toEqual([]);
    // Act: past the threshold.
    minutes(p, 2);
    const tick = await reapStaleWork(p.deps, p.clock.now().toISOString(), options);
    // Assess
    expect(tick.reaped).toEqual([
      { jobId: `photos/${snapshotId}`, taskId: 'snapshot:p1', action: 'redriven', silentSeconds: 240 },
    ]);
    expect(await drain(p, process)).toEqual([]);
    const snapshot = await p.catalog.getSnapshot('photos', snapshotId);
    expect(snapshot?.status).toBe('COMMITTED');
    expect(snapshot?.objectCount).toBe(40);
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      snapshot: snapshotId,
      targetBucket: 'restored',
    });
    expect(report.objects).toBe(40);
    for (const i of [0, 15, 39]) {
      const key = `k${String(i).padStart(3, '0')}`;
      expect(Buffer.from((await p.objects.get('restored', key)).body).toString()).toBe(`body ${i}`);
    }
    // No RUNNING record is left behind.
    expect(await p.catalog.listRunningTasks()).toEqual([]);
  });

  it('re-drives once when the tick is delivered twice', async () => {
    await startSnapshotNow(p.deps, 'photos');
    process.killOnGet('k015');
    await drain(p, process);
    process.killOnGet(undefined);
    minutes(p, 4);
    const at = p.clock.now().toISOString();
    const [first, second] = await Promise.all([
      reapStaleWork(p.deps, at, options),
      reapStaleWork(p.deps, at, options),
    ]);
    expect([...first.reaped, ...second.reaped].map((r) => r.action).sort()).toEqual(['raced', 'redriven']);
    expect(p.queue.sent).toHaveLength(1);
    expect(p.queue.sent[0]).toMatchObject({ kind: 'snapshot-partition', partition: { index: 1 } });
  });

  it('fails a partition that keeps dying after 3 redrives, with its reason, and a retry then commits it', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    process.killOnGet('k015');
    await drain(p, process);
    const actions: string[] = [];
    for (let tick = 0; tick < 4; tick++) {
      minutes(p, 4);
      const { reaped } = await reapStaleWork(p.deps, p.clock.now().toISOString(), options);
      actions.push(...reaped.map((r) => r.action));
      process.killOnGet('k015');
      await drain(p, process);
    }
    expect(actions).toEqual(['redriven', 'redriven', 'redriven', 'failed']);
    const snapshot = await p.catalog.getSnapshot('photos', snapshotId);
    expect(snapshot?.status).toBe('FAILED');
    expect(snapshot?.error).toBe('partition 1: no heartbeat for 240 s after 3 redrives');
    const tasks = await p.catalog.listTasks(`photos/${snapshotId}`);
    expect(tasks.find((t) => t.taskId === 'snapshot:p1')).toMatchObject({
      status: 'FAILED',
      error: 'partition 1: no heartbeat for 240 s after 3 redrives',
    });
    expect((await p.catalog.getJob(`photos/${snapshotId}`))?.status).toBe('FAILED');
    // Nothing RUNNING outlives its deadline: the partition's own record is closed too.
    const after = await reapStaleWork(p.deps, p.clock.now().toISOString(), options);
    expect(await p.catalog.listRunningTasks()).toEqual([]);
    expect(after.failed).toEqual([]);
    // The cause gone, the operator's retry commits it.
    process.killOnGet(undefined);
    await retrySnapshot(p.deps, 'photos', snapshotId);
    await drain(p, process);
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.status).toBe('COMMITTED');
  });

  it('lets `backup --retry` take up a RUNNING snapshot once every task of it is silent', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    process.killOnGet('k015');
    await drain(p, process);
    process.killOnGet(undefined);
    minutes(p, 1);
    await expect(retrySnapshot(p.deps, 'photos', snapshotId, { staleSeconds: 180 })).rejects.toThrow(
      /is RUNNING and a task of it showed life 60 s ago: it is still at work/,
    );
    minutes(p, 3);
    await retrySnapshot(p.deps, 'photos', snapshotId, { staleSeconds: 180 });
    await drain(p, process);
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.status).toBe('COMMITTED');
  });

  it('leaves a task alone while its heartbeat is fresh', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    process.killOnGet('k015');
    await drain(p, process);
    process.killOnGet(undefined);
    // A slow worker (not a dead one) still holds partition 1 and beats.
    for (let i = 0; i < 8; i++) {
      minutes(p, 1);
      await p.catalog.heartbeatTask(`photos/${snapshotId}`, 'snapshot:p1', p.clock.now().toISOString());
      expect((await reapStaleWork(p.deps, p.clock.now().toISOString(), options)).reaped).toEqual([]);
    }
    expect(p.queue.sent).toEqual([]);
  });

  it('re-drives a RUNNING snapshot whose first task never ran (its message was lost)', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    p.queue.drain(); // lost with the process that held it
    minutes(p, 4);
    const { reaped } = await reapStaleWork(p.deps, p.clock.now().toISOString(), options);
    expect(reaped).toEqual([
      { jobId: `photos/${snapshotId}`, taskId: 'snapshot', action: 'redriven', silentSeconds: 240 },
    ]);
    await drain(p, process);
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.status).toBe('COMMITTED');
  });

  it('re-drives the plan task when the process died between the last partition and the seal', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    // The process dies right after the last partition's summary is counted.
    const complete = p.catalog.completePartition.bind(p.catalog);
    let done = 0;
    p.catalog.completePartition = async (...args) => {
      const out = await complete(...args);
      done += 1;
      if (done === 4) process.kill();
      return out;
    };
    await drain(p, process);
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.status).toBe('RUNNING');
    minutes(p, 4);
    const { reaped } = await reapStaleWork(p.deps, p.clock.now().toISOString(), options);
    expect(reaped.map((r) => [r.taskId, r.action])).toEqual([
      ['snapshot:p3', 'closed'],
      ['snapshot', 'redriven'],
    ]);
    await drain(p, process);
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.status).toBe('COMMITTED');
    expect(await p.catalog.listRunningTasks()).toEqual([]);
  });

  it('re-drives a copy killed mid-way, and the copy completes', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    // Run until the copy task is queued, then kill it on its first vault write in the copy region.
    const copyVault = p.copy;
    const put = copyVault.put.bind(copyVault);
    let kills = 1;
    copyVault.put = async (...args) => {
      if (kills-- > 0) {
        process.kill();
        throw new Error('killed');
      }
      return put(...args);
    };
    const killed = await drain(p, process);
    expect(killed.map((t) => t.kind)).toContain('copy');
    minutes(p, 4);
    const { reaped } = await reapStaleWork(p.deps, p.clock.now().toISOString(), options);
    expect(reaped.map((r) => [r.taskId, r.action])).toContainEqual(['copy:eu-west-1', 'redriven']);
    await drain(p, process);
    const snapshot = await p.catalog.getSnapshot('photos', snapshotId);
    expect(snapshot?.regions?.['eu-west-1']?.status).toBe('COPIED');
  });

  it('runs on every scheduler tick, with the configured threshold', async () => {
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    process.killOnGet('k015');
    await drain(p, process);
    process.killOnGet(undefined);
    minutes(p, 2);
    const handler = makeSchedulerHandler({
      config: testConfig({ reaper: { heartbeatSeconds: 10, staleSeconds: 60, maxRedrives: 1 } }),
      pipeline: p.deps,
      sqs: new SQSClient({ region: 'us-east-1' }),
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
      metrics: silentMetrics(),
    });
    const tick = {
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: p.clock.now().toISOString(),
    };
    const result = (await handler(tick, {} as Context)) as { reaped: { taskId: string; action: string }[] };
    expect(result.reaped).toEqual([
      { jobId: `photos/${snapshotId}`, taskId: 'snapshot:p1', action: 'redriven', silentSeconds: 120 },
    ]);
    expect(p.queue.sent).toEqual([
      // The tick also starts the plan's scheduled snapshot of its creation time: a job of its own,
      // not the on-demand one (an id to the millisecond), though both are of 00:00:00.
      expect.objectContaining({ kind: 'snapshot-plan', snapshotId: '20260301T000000Z' }),
      expect.objectContaining({ kind: 'snapshot-partition', snapshotId, partition: { index: 1 } }),
    ]);
  });
});

describe('reapStaleWork: restore jobs and drills', () => {
  let p: MemoryPipeline;
  let process: ReturnType<typeof killable>;
  const tick = () => reapStaleWork(p.deps, p.clock.now().toISOString(), options);
  /** Restore slice 2 (k020…k029) dies on its sixth object, nothing caught or recorded. */
  const killPart2 = () => process.killOnPut((bucket, key) => bucket === 'restored' && key === 'k025');
  const keysOf = (bucket: string) => [...(p.objects.buckets.get(bucket)?.keys() ?? [])].sort();

  beforeEach(async () => {
    p = memoryPipeline();
    await p.catalog.putPlans([
      plan({ drill: { schedule: 'rate(7 days)', sampleObjects: 5, recentSnapshots: 1 } }),
    ]);
    for (let i = 0; i < 40; i++) await putText(p, `k${String(i).padStart(3, '0')}`, `body ${i}`);
    p.objects.createBucket('restored');
    process = killable(p);
    await startSnapshotNow(p.deps, 'photos');
    await drain(p, process);
    p.deps.restoreFanOutThreshold = 10;
    p.deps.restoreSliceSize = 10;
  });

  /** Start a fanned-out restore of the 40 objects (4 slices) and run it; slice 2 dies. */
  async function restoreWithPart2Killed() {
    const started = await startRestore(p.deps, { plan: 'photos', targetBucket: 'restored' });
    const restoreJobId = started.job?.restoreJobId as string;
    killPart2();
    const killed = await drain(p, process);
    process.killOnPut(undefined);
    expect(killed).toMatchObject([{ kind: 'restore-slice', slice: 2 }]);
    expect((await p.catalog.getRestoreJob(restoreJobId))?.status).toBe('RUNNING');
    return restoreJobId;
  }

  it('re-drives a restore job whose slice was killed mid-way: only that slice is sent, and the job succeeds', async () => {
    // Prepare
    const restoreJobId = await restoreWithPart2Killed();
    minutes(p, 2);
    expect((await tick()).reaped).toEqual([]);
    // Act
    minutes(p, 2);
    const { reaped } = await tick();
    // Assess
    expect(reaped).toEqual([
      { jobId: restoreJobId, taskId: 'restore', action: 'redriven', silentSeconds: 240 },
    ]);
    expect(p.queue.sent).toEqual([
      { kind: 'restore-slice', restoreJobId, manifestId: expect.any(String), slice: 2, first: 20, count: 10 },
    ]);
    expect(await drain(p, process)).toEqual([]);
    const job = await p.catalog.getRestoreJob(restoreJobId);
    expect(job).toMatchObject({ status: 'SUCCEEDED', slicesDone: 4, redrives: 1 });
    // The 5 objects the dead worker wrote were found in place by the re-driven slice.
    expect((job?.objects ?? 0) + (job?.skippedExists ?? 0) + (job?.skippedUnchanged ?? 0)).toBe(40);
    expect(keysOf('restored')).toHaveLength(40);
    for (const i of [0, 20, 25, 29, 39]) {
      const key = `k${String(i).padStart(3, '0')}`;
      expect(Buffer.from((await p.objects.get('restored', key)).body).toString()).toBe(`body ${i}`);
    }
    expect((await tick()).reaped).toEqual([]);
  });

  it('skips the reads and writes of a restore slice delivered again after it was done, and counts it once', async () => {
    // Prepare: a re-driven job, then slice 0 (done before) delivered again.
    const restoreJobId = await restoreWithPart2Killed();
    minutes(p, 4);
    await tick();
    const [redriven] = p.queue.drain() as RestoreSliceTask[];
    expect(redriven).toMatchObject({ kind: 'restore-slice', restoreJobId, slice: 2 });
    // Every read of the vault and every look at the target, by the slice delivered again.
    const calls: string[] = [];
    const head = p.objects.head.bind(p.objects);
    p.objects.head = async (bucket, key) => {
      calls.push(`head ${key}`);
      return head(bucket, key);
    };
    const get = p.primary.get.bind(p.primary);
    p.primary.get = async (key) => {
      calls.push(`get ${key}`);
      return get(key);
    };
    // Act
    await p.run({ ...(redriven as RestoreSliceTask), slice: 0, first: 0 });
    // Assess
    expect(calls).toEqual([]);
    expect(await p.catalog.getRestoreJob(restoreJobId)).toMatchObject({ slicesDone: 3, objects: 30 });
  });

  it('ends a restore job that keeps dying FAILED with its reason after 3 redrives', async () => {
    const restoreJobId = await restoreWithPart2Killed();
    const actions: string[] = [];
    for (let i = 0; i < 4; i++) {
      minutes(p, 4);
      actions.push(...(await tick()).reaped.map((r) => r.action));
      killPart2();
      await drain(p, process);
    }
    expect(actions).toEqual(['redriven', 'redriven', 'redriven', 'failed']);
    expect(await p.catalog.getRestoreJob(restoreJobId)).toMatchObject({
      status: 'FAILED',
      error: 'restore slice 2: no heartbeat for 240 s after 3 redrives',
      slicesDone: 3,
    });
    minutes(p, 4);
    expect((await tick()).reaped).toEqual([]);
  });

  it('re-drives a restore job once when the tick is delivered twice', async () => {
    await restoreWithPart2Killed();
    minutes(p, 4);
    const [first, second] = await Promise.all([tick(), tick()]);
    expect([...first.reaped, ...second.reaped].map((r) => r.action).sort()).toEqual(['raced', 'redriven']);
    expect(p.queue.sent).toMatchObject([{ kind: 'restore-slice', slice: 2 }]);
  });

  /** Start a drill and run it; it dies on its first scratch write. */
  async function drillKilled() {
    const { drillId } = await startDrillNow(p.deps, 'photos');
    process.killOnPut((bucket) => bucket === 'drill-scratch');
    const killed = await drain(p, process);
    process.killOnPut(undefined);
    expect(killed).toMatchObject([{ kind: 'drill', drillId }]);
    expect((await p.catalog.getDrillHistory('photos'))?.drills).toMatchObject([
      { drillId, status: 'RUNNING' },
    ]);
    return drillId;
  }

  it('re-drives a drill killed mid-way once it is silent, and the drill passes', async () => {
    // Prepare
    const drillId = await drillKilled();
    minutes(p, 2);
    expect((await tick()).reaped).toEqual([]);
    // Act
    minutes(p, 2);
    const { reaped } = await tick();
    // Assess
    expect(reaped).toEqual([
      { jobId: 'photos', taskId: `drill:${drillId}`, action: 'redriven', silentSeconds: 240 },
    ]);
    expect(p.queue.sent).toMatchObject([{ kind: 'drill', planId: 'photos', drillId }]);
    expect(await drain(p, process)).toEqual([]);
    const drills = (await p.catalog.getDrillHistory('photos'))?.drills;
    expect(drills).toMatchObject([{ drillId, status: 'PASSED' }]);
    expect(Object.keys(drills?.[0]?.regions ?? {}).sort()).toEqual(['eu-west-1', 'us-east-1']);
    expect(keysOf('drill-scratch')).toEqual([]);
    expect((await tick()).reaped).toEqual([]);
  });

  it('ends a drill that keeps dying FAILED with its reason after 3 redrives', async () => {
    const drillId = await drillKilled();
    const actions: string[] = [];
    for (let i = 0; i < 4; i++) {
      minutes(p, 4);
      actions.push(...(await tick()).reaped.map((r) => r.action));
      process.killOnPut((bucket) => bucket === 'drill-scratch');
      await drain(p, process);
    }
    expect(actions).toEqual(['redriven', 'redriven', 'redriven', 'failed']);
    expect((await p.catalog.getDrillHistory('photos'))?.drills).toMatchObject([
      { drillId, status: 'FAILED', reason: `drill ${drillId}: no heartbeat for 240 s after 3 redrives` },
    ]);
    // A late delivery never turns it into success.
    process.killOnPut(undefined);
    await p.run({ kind: 'drill', planId: 'photos', drillId, scheduledAt: p.clock.now().toISOString() });
    expect((await p.catalog.getDrillHistory('photos'))?.drills).toMatchObject([
      { drillId, status: 'FAILED' },
    ]);
  });

  it('re-drives a drill once when the tick is delivered twice', async () => {
    await drillKilled();
    minutes(p, 4);
    const [first, second] = await Promise.all([tick(), tick()]);
    expect([...first.reaped, ...second.reaped].map((r) => r.action).sort()).toEqual(['raced', 'redriven']);
    expect(p.queue.sent).toMatchObject([{ kind: 'drill' }]);
  });
});
