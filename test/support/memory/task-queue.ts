/** A memory twin of the TaskQueue port, for unit tests and the contract suites. */

import type { TaskQueue } from '#domain/ports.ts';
import type { Task } from '#domain/tasks.ts';

/** A queue per task kind, in memory. */
export class MemoryTaskQueue implements TaskQueue {
  readonly sent: Task[] = [];
  async send(task: Task): Promise<void> {
    this.sent.push(structuredClone(task));
  }
  /** Remove and return every queued task. */
  drain(): Task[] {
    return this.sent.splice(0);
  }
}
