/** A memory twin of the TaskQueue port, for unit tests and the contract suites. */

import type { TaskQueue } from '#domain/ports.ts';
import type { Task } from '#domain/tasks.ts';

/** A queue per task kind, in memory. */
export class MemoryTaskQueue implements TaskQueue {
  readonly sent: Task[] = [];
  /** How many `sendBatch` calls were made (a fan-out's requests). */
  batches = 0;
  async send(task: Task): Promise<void> {
    this.sent.push(structuredClone(task));
  }
  async sendBatch(tasks: readonly Task[]): Promise<void> {
    this.batches += 1;
    for (const task of tasks) await this.send(task);
  }
  /** Remove and return every queued task. */
  drain(): Task[] {
    return this.sent.splice(0);
  }
}
