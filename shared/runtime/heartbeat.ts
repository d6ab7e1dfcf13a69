/**
 * Heartbeats: while a worker holds a task, it records a sign of life on the task's catalog record
 * every `heartbeatSeconds`, so the reaper (shared/domain/reaper.ts) can tell a slow task from a dead
 * one. A killed function stops beating; a task that ended (or never started) is left alone.
 * @see ../../docs/format.md#tasks
 */
import { heartbeatDrill } from '#domain/drill.ts';
import { reasonOf } from '#domain/errors.ts';
import { jobIdOf, type Task, taskIdOf } from '#domain/tasks.ts';
import type { Container } from './container.ts';

/**
 * Run `work` while recording a heartbeat on `task`'s record every `config.reaper.heartbeatSeconds`
 * (by the container's clock). A restore slice beats on its restore job's record, once as it starts
 * and then on the same interval; a drill beats on its RUNNING record in the plan's drill history
 * ({@link heartbeatDrill}). A heartbeat that fails is logged, never thrown: the work goes on.
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
  const { catalog, clock } = container.pipeline;
  const jobId =
    task.kind === 'restore-slice' ? task.restoreJobId : task.kind === 'drill' ? task.planId : jobIdOf(task);
  const taskId = taskIdOf(task);
  const record = (at: string): Promise<boolean> => {
    if (task.kind === 'restore-slice') return catalog.heartbeatRestoreJob(task.restoreJobId, at);
    if (task.kind === 'drill') return heartbeatDrill(container.pipeline, task.planId, task.drillId, at);
    return catalog.heartbeatTask(jobId, taskId, at);
  };
  const beat = async () => {
    try {
      await record(clock.now().toISOString());
    } catch (error) {
      container.logger.warn('could not record a heartbeat', { jobId, taskId, reason: reasonOf(error) });
    }
  };
  // A restore job has slices waiting in the queue: each slice that starts is a sign of life of the job.
  if (task.kind === 'restore-slice') await beat();
  const timer = setInterval(() => void beat(), container.config.reaper.heartbeatSeconds * 1000);
  timer.unref?.();
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
