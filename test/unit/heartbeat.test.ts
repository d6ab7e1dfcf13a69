import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withHeartbeat } from '#runtime/heartbeat.ts';
import { testConfig } from '../support/config.ts';
import { memoryPipeline } from '../support/memory-pipeline.ts';

describe('withHeartbeat', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('records a heartbeat on the running task every heartbeatSeconds, and stops when the work ends', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const p = memoryPipeline('2026-03-01T00:00:00Z');
    const container = {
      config: testConfig(),
      pipeline: p.deps,
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
    };
    const task = { kind: 'copy', planId: 'photos', snapshotId: 'S1', region: 'eu-west-1' } as const;
    let finish: () => void = () => {};
    const heartbeats = async () =>
      (await p.catalog.listTasks('photos/S1')).find((t) => t.taskId === 'copy:eu-west-1')?.heartbeatAt;
    // Act
    const running = withHeartbeat(container, task, async () => {
      await p.catalog.startTask('photos/S1', 'copy:eu-west-1', p.clock.now().toISOString());
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      return 'done';
    });
    await vi.advanceTimersByTimeAsync(0);
    p.clock.advance(30_000);
    await vi.advanceTimersByTimeAsync(30_000);
    // Assess
    expect(await heartbeats()).toBe('2026-03-01T00:00:30.000Z');
    p.clock.advance(30_000);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(await heartbeats()).toBe('2026-03-01T00:01:00.000Z');
    finish();
    expect(await running).toBe('done');
    p.clock.advance(30_000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await heartbeats()).toBe('2026-03-01T00:01:00.000Z');
  });

  it('beats on a restore slice’s job as the slice starts and every heartbeatSeconds, and on a RUNNING drill', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const p = memoryPipeline('2026-03-01T00:00:00Z');
    const container = {
      config: testConfig(),
      pipeline: p.deps,
      logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
    };
    p.catalog.restoreJobs.set('R1', { restoreJobId: 'R1', status: 'RUNNING' } as never);
    await p.catalog.putDrillHistory(
      {
        planId: 'photos',
        version: 1,
        drills: [{ drillId: 'D1', status: 'RUNNING', startedAt: '2026-03-01T00:00:00.000Z' } as never],
      },
      0,
    );
    const slice = {
      kind: 'restore-slice',
      restoreJobId: 'R1',
      manifestId: 'M',
      slice: 0,
      first: 0,
      count: 1,
    };
    const drill = { kind: 'drill', planId: 'photos', drillId: 'D1', scheduledAt: '2026-03-01T00:00:00.000Z' };
    let finish: () => void = () => {};
    const until = () =>
      new Promise<void>((resolve) => {
        finish = resolve;
      });
    // Act: a slice starts at 00:00:10
    p.clock.advance(10_000);
    const restoring = withHeartbeat(container, slice as never, until);
    await vi.advanceTimersByTimeAsync(0);
    // Assess
    expect(p.catalog.restoreJobs.get('R1')?.heartbeatAt).toBe('2026-03-01T00:00:10.000Z');
    p.clock.advance(30_000);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(p.catalog.restoreJobs.get('R1')?.heartbeatAt).toBe('2026-03-01T00:00:40.000Z');
    finish();
    await restoring;
    // Act: a drill
    const drilling = withHeartbeat(container, drill as never, until);
    p.clock.advance(30_000);
    await vi.advanceTimersByTimeAsync(30_000);
    finish();
    await drilling;
    // Assess
    expect((await p.catalog.getDrillHistory('photos'))?.drills[0]?.heartbeatAt).toBe(
      '2026-03-01T00:01:10.000Z',
    );
  });
});
