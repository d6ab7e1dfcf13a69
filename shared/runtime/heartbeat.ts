/**
 * Heartbeats: while a worker holds a task, it records a sign of life on the task's catalog record
 * every `heartbeatSeconds`, so the reaper (shared/domain/reaper.ts) can tell a slow task from a dead
 * one. A killed function stops beating; a task that ended (or never started) is left alone.
 * @see ../../docs/format.md#tasks
 */
import { reasonOf } from '#domain/errors.ts';
import { jobIdOf, type Task, taskIdOf } from '#domain/tasks.ts';
import type { Container } from './container.ts';

/**
 * Run `work` while recording a heartbeat on `task`'s record every `config.reaper.heartbeatSeconds`
 * (by the container's clock). Restore parts and drills have no task record: they run without one.
 * A heartbeat that fails is logged, never thrown: the work goes on.
 * @example
 * ```ts
 * const result = await withHeartbeat(container, task, () => run(task, context));
 * ```
 */
export async function withHeartbeat<T>(
  container: Pick<Container, 'config' | 'pipeline' | 'logger'>,
  task: Task,
  work: () => Promise<T>,
): Promise<T> {
  if (task.kind === 'restore-part' || task.kind === 'drill') return work();
  const { catalog, clock } = container.pipeline;
  const jobId = jobIdOf(task);
  const taskId = taskIdOf(task);
  const beat = async () => {
    try {
      await catalog.heartbeatTask(jobId, taskId, clock.now().toISOString());
    } catch (error) {
      container.logger.warn('could not record a heartbeat', { jobId, taskId, reason: reasonOf(error) });
    }
  };
  const timer = setInterval(() => void beat(), container.config.reaper.heartbeatSeconds * 1000);
  timer.unref?.();
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
