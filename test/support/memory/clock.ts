/** A memory twin of the Clock port, for unit tests and the contract suites. */

import type { Clock } from '#domain/ports.ts';

/** A clock that stands still until moved. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: string | Date = '2026-01-01T00:00:00Z') {
    this.#now = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#now);
  }
  /** Move the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#now += ms;
  }
  set(at: string | Date): void {
    this.#now = new Date(at).getTime();
  }
}
