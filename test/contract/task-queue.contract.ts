/**
 * The TaskQueue contract (shared/domain/ports.ts): each task goes to the queue of its kind
 * (`queueOf`), as sent, at least once. Run against the memory twin and SQS on the emulator; the suite
 * reads what each queue delivers.
 */
import { describe, expect, it } from 'vitest';
import type { TaskQueue } from '#domain/ports.ts';
import { queueOf, type Task, type TaskQueueName, TaskSchema } from '#domain/tasks.ts';
import { contentIdOf } from '#domain/vault.ts';
import { contractCase, type KnownDivergences } from './divergences.ts';

/** A queue under test, and how to read what it delivered. */
export interface TaskQueueUnderTest {
  queue: TaskQueue;
  /** Take every task waiting on `queue` (each is delivered to this reader once). */
  receive(queue: TaskQueueName): Promise<Task[]>;
}

export const TASK_QUEUES: readonly TaskQueueName[] = [
  'snapshot',
  'copy',
  'verify',
  'prune',
  'restore',
  'drill',
];

/** One task for every queue, with every optional field set where it has one. */
const oneOfEach: Task[] = [
  {
    kind: 'snapshot-partition',
    planId: 'photos',
    snapshotId: '20260101T000000Z',
    scheduledAt: '2026-01-01T00:00:00.000Z',
    partition: {
      index: 3,
      resume: {
        afterKey: 'dir/é "quoted" \\back\u0001\u007f.jpg',
        parts: [
          {
            partId: contentIdOf('p0'),
            firstKey: 'dir/a',
            lastKey: 'dir/m',
            objectCount: 1000,
            logicalBytes: 123_456_789,
          },
        ],
        objectsRead: 1000,
        blobsWritten: 900,
        packsWritten: 3,
        storedBytesWritten: 99_000_000,
        objectsVanished: 1,
        invocations: 2,
        seconds: 850.25,
        reconcileMissed: 0,
        planTime: '2026-01-01T00:00:05.000Z',
      },
    },
  },
  { kind: 'copy', planId: 'photos', snapshotId: '20260101T000000Z', region: 'eu-west-1' },
  { kind: 'verify-tier', planId: 'photos', snapshotId: '20260101T000000Z', tier: 'deep', all: true },
  { kind: 'gc', planId: 'photos', snapshotId: '20260101T000000Z', region: 'ap-south-1' },
  {
    kind: 'restore-slice',
    restoreJobId: 'restore-20260101T000000Z-aaaaaaaa',
    manifestId: contentIdOf('m'),
    slice: 7,
    first: 70,
    count: 10,
  },
  {
    kind: 'drill',
    planId: 'photos',
    drillId: 'drill-20260108T000000Z',
    scheduledAt: '2026-01-08T00:00:00.000Z',
  },
];

/** A snapshot task going on after `afterKey`, its resume naming `n` parts whose keys start so. */
function withResume(afterKey: string, n: number): Task {
  const parts = Array.from({ length: n }, (_, i) => ({
    partId: contentIdOf(`${afterKey}${i}`),
    firstKey: `${afterKey}/${String(i).padStart(5, '0')}/a`,
    lastKey: `${afterKey}/${String(i).padStart(5, '0')}/z`,
    objectCount: 1000,
    logicalBytes: 123_456,
  }));
  return {
    kind: 'snapshot-partition',
    planId: 'photos',
    snapshotId: '20260101T000000Z',
    scheduledAt: '2026-01-01T00:00:00.000Z',
    partition: {
      index: 0,
      resume: {
        afterKey: parts.at(-1)?.lastKey ?? afterKey,
        parts,
        objectsRead: n * 1000,
        blobsWritten: 0,
        packsWritten: 0,
        storedBytesWritten: 0,
        objectsVanished: 0,
        invocations: 2,
        seconds: 900,
      },
    },
  };
}

const verify = (i: number): Task => ({ kind: 'verify', planId: `plan-${i}`, snapshotId: '20260101T000000Z' });
const byPlan = (tasks: Task[]) =>
  [...tasks].sort((a, b) => ('planId' in a ? a.planId : '').localeCompare('planId' in b ? b.planId : ''));

export function taskQueueContract(
  name: string,
  make: () => Promise<TaskQueueUnderTest>,
  known?: KnownDivergences,
): void {
  describe(`TaskQueue contract: ${name}`, () => {
    it('delivers each task on the queue of its kind, every field as sent, as a task that parses', async () => {
      const { queue, receive } = await make();
      for (const task of oneOfEach) await queue.send(task);
      for (const task of oneOfEach) {
        const delivered = await receive(queueOf(task.kind));
        expect(delivered).toEqual([task]);
        expect(TaskSchema.parse(delivered[0])).toEqual(task);
      }
      for (const queueName of TASK_QUEUES) expect(await receive(queueName)).toEqual([]);
    });

    contractCase(
      known,
      'supplementary-characters',
      'delivers a task naming a key with characters beyond the BMP (four-byte UTF-8)',
      async () => {
        const { queue, receive } = await make();
        const task = withResume('dir/😀 \u{10ffff} 𝄞.jpg', 1);
        await queue.send(task);
        expect(await receive('snapshot')).toEqual([task]);
      },
    );

    contractCase(
      known,
      'large-resume',
      'delivers a continued partition’s task however many parts its resume names',
      async () => {
        const { queue, receive } = await make();
        // As many parts as a checkpoint in the catalog holds (megabytes: see the catalog contract).
        const task = withResume('c'.repeat(600), 1500);
        await queue.send(task);
        expect(await receive('snapshot')).toEqual([task]);
      },
    );

    it('delivers the task as it was when sent, whatever the sender does with it after', async () => {
      const { queue, receive } = await make();
      const task = { kind: 'copy', planId: 'photos', snapshotId: 'S1', region: 'eu-west-1' } satisfies Task;
      await queue.send(task);
      task.region = 'us-west-2';
      expect(await receive('copy')).toEqual([{ ...task, region: 'eu-west-1' }]);
    });

    it('delivers every task of a batch, each on the queue of its kind, whatever the batch size', async () => {
      const { queue, receive } = await make();
      // 25 verify tasks (more than one SendMessageBatch of 10) mixed with restore slices
      const verifies = Array.from({ length: 25 }, (_, i) => verify(i));
      const slices: Task[] = Array.from({ length: 7 }, (_, slice) => ({
        kind: 'restore-slice',
        restoreJobId: 'restore-20260101T000000Z-aaaaaaaa',
        manifestId: contentIdOf('m'),
        slice,
        first: slice * 500,
        count: 500,
      }));
      await queue.sendBatch([...verifies.slice(0, 12), ...slices, ...verifies.slice(12)]);
      expect(byPlan(await receive('verify'))).toEqual(byPlan(verifies));
      const restored = (await receive('restore')) as Extract<Task, { kind: 'restore-slice' }>[];
      expect(restored.sort((a, b) => a.slice - b.slice)).toEqual(slices);
      await queue.sendBatch([]);
      for (const queueName of TASK_QUEUES) expect(await receive(queueName)).toEqual([]);
    });

    it('delivers every one of many tasks sent at the same time; a task sent twice, twice (no deduplication)', async () => {
      const { queue, receive } = await make();
      const tasks = Array.from({ length: 30 }, (_, i) => verify(i));
      await Promise.all(tasks.map((t) => queue.send(t)));
      await queue.send(verify(0));
      const delivered = await receive('verify');
      expect(byPlan(delivered)).toEqual(byPlan([...tasks, verify(0)]));
    });
  });
}
