/**
 * A whole pipeline on the memory twins, with a loop that plays the queues: the unit tests' stand-in
 * for the embedded stack.
 */

import { withRetry } from '#adapters/retrying.ts';
import { copyToRegion } from '#domain/copy.ts';
import { runDrill } from '#domain/drill.ts';
import { Envelope } from '#domain/envelope.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { prunePlan } from '#domain/prune.ts';
import type { PlanRecord } from '#domain/records.ts';
import { restoreSlice } from '#domain/restore/jobs.ts';
import { takeSnapshot } from '#domain/snapshot/take-snapshot.ts';
import type { Task } from '#domain/tasks.ts';
import { verifySnapshot } from '#domain/verify/verify-snapshot.ts';
import { MemoryCatalog } from './memory/catalog.ts';
import { ManualClock } from './memory/clock.ts';
import { memoryKeyProvider } from './memory/key-provider.ts';
import { MemoryObjectStore } from './memory/object-store.ts';
import { MemoryTaskQueue } from './memory/task-queue.ts';
import { MemoryVaultStore } from './memory/vault-store.ts';

export interface MemoryPipeline {
  deps: PipelineDeps;
  clock: ManualClock;
  catalog: MemoryCatalog;
  queue: MemoryTaskQueue;
  primary: MemoryVaultStore;
  copy: MemoryVaultStore;
  objects: MemoryObjectStore;
  /** Run queued tasks (and those they enqueue) until none is left; returns what ran. */
  drain(options?: { duplicate?: boolean }): Promise<Task[]>;
  run(task: Task): Promise<unknown>;
}

export function memoryPipeline(start = '2026-03-01T00:00:00Z'): MemoryPipeline {
  const clock = new ManualClock(start);
  const catalog = new MemoryCatalog();
  const queue = new MemoryTaskQueue();
  const primary = new MemoryVaultStore('us-east-1', 'vault-use1', clock);
  const copy = new MemoryVaultStore('eu-west-1', 'vault-euw1', clock);
  const objects = new MemoryObjectStore(clock);
  const deps: PipelineDeps = {
    catalog,
    queue,
    clock,
    envelope: new Envelope(memoryKeyProvider()),
    vaults: { primary, copies: new Map([['eu-west-1', copy]]) },
    objects,
    retry: withRetry,
    concurrency: 4,
    gcGraceSeconds: 3600,
  };
  const run = (task: Task): Promise<unknown> => {
    switch (task.kind) {
      case 'snapshot-plan':
      case 'snapshot-partition':
        return takeSnapshot(deps, task);
      case 'copy':
        return copyToRegion(deps, task);
      case 'verify':
      case 'verify-tier':
        return verifySnapshot(deps, task);
      case 'forget':
      case 'gc':
        return prunePlan(deps, task);
      case 'restore-slice':
        return restoreSlice(deps, task);
      case 'drill':
        // The drill bucket is `drill-scratch`; time is the manual clock's (it stands still unless moved).
        objects.createBucket('drill-scratch');
        return runDrill(
          { ...deps, drillBucket: 'drill-scratch', elapsedMs: () => clock.now().getTime() },
          task,
        );
    }
  };
  return {
    deps,
    clock,
    catalog,
    queue,
    primary,
    copy,
    objects,
    run,
    async drain({ duplicate = false } = {}) {
      const ran: Task[] = [];
      for (let tasks = queue.drain(); tasks.length > 0; tasks = queue.drain()) {
        for (const task of tasks) {
          await run(task);
          if (duplicate) await run(task);
          ran.push(task);
        }
      }
      return ran;
    },
  };
}

export function plan(overrides: Partial<PlanRecord> = {}): PlanRecord {
  return {
    id: 'photos',
    source: { bucket: 'source', prefix: '' },
    schedule: 'rate(1 hour)',
    retention: { keepLast: 2 },
    copyRegions: ['eu-west-1'],
    verification: { samplePercent: 50 },
    enabled: true,
    createdAt: '2026-03-01T00:00:00.000Z',
    updatedAt: '2026-03-01T00:00:00.000Z',
    ...overrides,
  };
}

export async function putText(
  p: MemoryPipeline,
  key: string,
  text: string,
  bucket = 'source',
): Promise<void> {
  p.objects.createBucket(bucket);
  await p.objects.put(bucket, key, Buffer.from(text), {
    contentType: 'text/plain',
    metadata: { origin: 'test' },
  });
}
