// `strongbox prune PLAN --dry-run`: retention's decision and each region's garbage-collection plan,
// printed, with nothing changed in the catalog or any vault.
import { describe, expect, it } from 'vitest';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { pruneDryRun } from '#local/cli/retention.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const GRACE_SECONDS = 3600;

async function snapshot(p: MemoryPipeline): Promise<string> {
  p.clock.advance(60_000);
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain())
    for (const t of tasks) if (t.kind.startsWith('snapshot') || t.kind === 'copy') await p.run(t);
  return snapshotId;
}

/** Everything a dry run must leave alone: records, marks, and every object of every vault. */
async function state(p: MemoryPipeline): Promise<string> {
  const keys = async (v: typeof p.primary) => {
    const out: string[] = [];
    for await (const o of v.list('')) out.push(o.key);
    return out;
  };
  return JSON.stringify({
    snapshots: await p.catalog.listSnapshots('photos'),
    marks: [await p.catalog.listGcMarks(p.primary.bucket), await p.catalog.listGcMarks(p.copy.bucket)],
    primary: await keys(p.primary),
    copy: await keys(p.copy),
    queued: p.queue.sent.length,
  });
}

describe('strongbox prune --dry-run', () => {
  it('prints what retention would forget and what GC would sweep in each region, and changes nothing', async () => {
    // Prepare: S1 = {a, gone}; S2 = {a}. A prune forgets S1 and marks the pack only S1 used; the
    // grace period passes, so the next run would sweep it.
    const p = memoryPipeline();
    p.deps.gcGraceSeconds = GRACE_SECONDS;
    await p.catalog.putPlans([plan({ retention: { keepLast: 1 }, verification: { samplePercent: 0 } })]);
    await putText(p, 'a.txt', 'stays');
    await putText(p, 'gone.txt', 'only the first snapshot holds this '.repeat(40));
    await snapshot(p);
    await p.objects.delete('source', ['gone.txt']);
    p.clock.advance((GRACE_SECONDS + 60) * 1000);
    const s2 = await snapshot(p);
    await p.run({ kind: 'forget', planId: 'photos', snapshotId: s2 });
    for (const t of p.queue.drain()) if (t.kind === 'gc') await p.run(t);
    expect((await p.catalog.listGcMarks(p.primary.bucket)).length).toBeGreaterThan(0);
    p.clock.advance((GRACE_SECONDS + 60) * 1000);
    const before = await state(p);

    // Act
    const lines = (await pruneDryRun(p.deps, 'photos')).join('\n');

    // Assess: both parts of the plan, for both regions; nothing changed.
    expect(lines).toMatch(/dry run: would keep 1 and forget 0 committed snapshot\(s\); nothing was changed/);
    expect(lines).toMatch(
      /garbage collection in us-east-1 \(dry run\):\ngarbage collection of \S+ \(us-east-1\): a plan, nothing done/,
    );
    expect(lines).toMatch(/garbage collection of \S+ \(eu-west-1\): a plan, nothing done/);
    expect(lines).toMatch(/sweep 1 pack\(s\)/);
    expect(await state(p)).toBe(before);
  });
});
