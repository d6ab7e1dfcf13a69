// `strongbox prune` and `strongbox cost` output: pruneNow follows the prune task and each region's
// garbage-collection task by their records (a fake worker writes them, as the functions would).
import { describe, expect, it } from 'vitest';
import { costReport } from '#domain/cost.ts';
import { NotFoundError } from '#domain/errors.ts';
import type { TaskQueue } from '#domain/ports.ts';
import type { Task } from '#domain/tasks.ts';
import { formatCostReport, formatPruneRun, parsePrice, pruneNow } from '#local/reports.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { plan } from '../support/memory-pipeline.ts';

async function setUp() {
  const clock = new ManualClock('2026-03-01T00:00:00Z');
  const catalog = new MemoryCatalog();
  await catalog.putPlans([plan({ id: 'photos' })]);
  const at = '2026-03-01T00:00:00.000Z';
  await catalog.createJob(
    {
      jobId: 'photos/s1',
      planId: 'photos',
      snapshotId: 's1',
      status: 'SUCCEEDED',
      createdAt: at,
      updatedAt: at,
    },
    { planId: 'photos', snapshotId: 's1', status: 'COMMITTED', scheduledAt: at },
  );
  // The pipeline's own prune of this job ran once already.
  await catalog.startTask('photos/s1', 'prune', at);
  await catalog.updateTask('photos/s1', 'prune', { status: 'SUCCEEDED', result: { kept: 9 } });
  const sent: Task[] = [];
  // A worker: the prune task runs at once; each region's GC task a poll later.
  const queue: TaskQueue = {
    async send(task) {
      sent.push(task);
      await catalog.startTask('photos/s1', 'prune', at);
      await catalog.updateTask('photos/s1', 'prune', {
        status: 'SUCCEEDED',
        result: { kept: 1, forgotten: 2, gcRegions: 'us-east-1,eu-west-1' },
      });
      setTimeout(async () => {
        for (const r of ['us-east-1', 'eu-west-1']) {
          await catalog.startTask('photos/s1', `prune:${r}`, at);
          await catalog.updateTask('photos/s1', `prune:${r}`, {
            status: 'SUCCEEDED',
            result: { packsDeleted: 3, bytesDeleted: 2048 },
          });
        }
      }, 5);
    },
    async sendBatch() {
      throw new Error('pruneNow sends one task');
    },
  };
  const vaults = { primary: new MemoryVaultStore('us-east-1', 'v', clock), copies: new Map() };
  return { catalog, queue, vaults, sent };
}

describe('pruneNow', () => {
  it('enqueues a prune task for the newest snapshot and waits for this run’s tasks, not the earlier one', async () => {
    const deps = await setUp();
    const run = await pruneNow(deps, 'photos', { pollMs: 2 });
    expect(deps.sent).toEqual([{ kind: 'forget', planId: 'photos', snapshotId: 's1', force: true }]);
    expect(run.prune.result).toMatchObject({ kept: 1, forgotten: 2 });
    expect(run.regions.map((t) => t.taskId)).toEqual(['prune:us-east-1', 'prune:eu-west-1']);
    const text = formatPruneRun(run);
    expect(text).toContain('prune photos/s1:');
    expect(text).toContain('  forgotten: 2');
    expect(text).toContain('region eu-west-1:');
    expect(text).toContain('  bytesDeleted: 2048 (2.0 KiB)');
  });

  it('refuses an unknown plan, and a plan without snapshots', async () => {
    const deps = await setUp();
    await expect(pruneNow(deps, 'nope')).rejects.toBeInstanceOf(NotFoundError);
    await deps.catalog.putPlans([plan({ id: 'empty' })]);
    await expect(pruneNow(deps, 'empty')).rejects.toThrow(/no snapshot/);
  });
});

describe('cost output', () => {
  it('parses --price and prints the prices used', () => {
    expect(parsePrice('GLACIER_IR=0.0045')).toEqual(['GLACIER_IR', 0.0045]);
    expect(() => parsePrice('glacier=cheap')).toThrow(/CLASS=USD/);
    const text = formatCostReport(costReport({ plans: [], vaults: [] }, { prices: { GLACIER_IR: 0.0045 } }));
    expect(text).toContain('GLACIER_IR 0.0045');
    expect(text).toContain('https://aws.amazon.com/s3/pricing/');
  });
});
