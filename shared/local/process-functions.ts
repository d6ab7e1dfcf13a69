/**
 * Functions run the way Lambda runs them: each execution environment a Node process of its own,
 * started with the heap limits Lambda's Node.js bootstrap derives from the function's memory size
 * (new space = memory / 10, semi-space = half of that, old space = memory − new space), kept while
 * idle and reused (a warm environment), one invocation at a time.
 *
 * The embedded stack runs its functions inside its own process by default (fast, one debugger);
 * functions switched to processes here show what one Lambda environment of `memorySize` MB costs:
 * peak RSS per environment, and an environment that runs out of memory fails its invocation as
 * Lambda's would.
 * @example
 * ```ts
 * stack.processFunctions.use(['snapshot']);
 * // … run snapshots …
 * stack.processFunctions.stats().snapshot; // { invocations, environments, maxRssBytes, crashes, cpuSeconds }
 * ```
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Context } from 'aws-lambda';
import type { HostAnswer, HostInvocation } from './function-host.ts';

const HOST = new URL('./function-host.ts', import.meta.url);

/** A function the pool can run in processes. */
export interface ProcessFunction {
  name: string;
  /** The function's module and its exported handler (serverless.yml's `handler`). */
  file: string;
  exportName: string;
  memorySizeMb: number;
  /** The environment Lambda would give it (the stack's, with the local endpoints). */
  environment: Record<string, string>;
}

/** What the environments of one function did. */
export interface FunctionProcessStats {
  invocations: number;
  /** Processes started (cold starts). */
  environments: number;
  /** The highest peak RSS of any of its environments, in bytes (`process.resourceUsage().maxRSS`). */
  maxRssBytes: number;
  /** Environments that exited during an invocation (out of memory, a crash). */
  crashes: number;
  /**
   * CPU seconds (user + system) its environments used, up to the end of each invocation, cold
   * starts included: steadier than wall time on a shared machine.
   */
  cpuSeconds: number;
  /** Highest sampled (every 50 ms) `process.memoryUsage()` figures of any environment, in bytes. */
  heapUsedBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
}

/** The V8 flags Lambda's Node.js bootstrap passes for a function of `memorySizeMb`. */
export function lambdaHeapFlags(memorySizeMb: number): string[] {
  const newSpace = Math.floor(memorySizeMb / 10);
  return [
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memorySizeMb - newSpace}`,
  ];
}

export class ProcessFunctions {
  readonly #idle = new Map<string, ChildProcess[]>();
  readonly #live = new Set<ChildProcess>();
  readonly #stats = new Map<string, FunctionProcessStats>();
  /** Each environment's CPU as of its last answer (`HostAnswer.cpuMicros`). */
  readonly #cpuMicros = new WeakMap<ChildProcess, number>();
  #names = new Set<string>();

  /** Run these functions in processes from now on (the others in the stack's process). */
  use(names: readonly string[]): void {
    this.#names = new Set(names);
  }

  /** Whether `name` runs in processes. */
  has(name: string): boolean {
    return this.#names.has(name);
  }

  /** Per function run in processes so far. */
  stats(): Record<string, FunctionProcessStats> {
    return Object.fromEntries([...this.#stats].map(([name, s]) => [name, { ...s }]));
  }

  /** Forget the statistics (not the environments). */
  resetStats(): void {
    this.#stats.clear();
  }

  /**
   * Invoke `fn` in one of its idle environments, or a new one.
   * @throws Error with the handler's error (message and stack), or when the environment exits
   *   during the invocation (out of memory or a crash).
   */
  async invoke(fn: ProcessFunction, event: unknown, context: Context): Promise<unknown> {
    const stats = this.#statsOf(fn.name);
    stats.invocations += 1;
    const child = this.#idle.get(fn.name)?.pop() ?? this.#start(fn, stats);
    const message: HostInvocation = {
      file: fn.file,
      exportName: fn.exportName,
      functionName: fn.name,
      memorySizeMb: fn.memorySizeMb,
      event,
      deadline: Date.now() + context.getRemainingTimeInMillis(),
    };
    const answer = await new Promise<HostAnswer>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) => {
        stats.crashes += 1;
        reject(
          new Error(
            `${fn.name}: its environment (${fn.memorySizeMb} MB) exited during the invocation (code ${code}, signal ${signal})`,
          ),
        );
      };
      child.once('exit', onExit);
      child.once('message', (m: HostAnswer) => {
        child.off('exit', onExit);
        resolve(m);
      });
      child.send(message);
    });
    stats.maxRssBytes = Math.max(stats.maxRssBytes, answer.maxRssBytes);
    stats.cpuSeconds += (answer.cpuMicros - (this.#cpuMicros.get(child) ?? 0)) / 1e6;
    this.#cpuMicros.set(child, answer.cpuMicros);
    stats.heapUsedBytes = Math.max(stats.heapUsedBytes, answer.peaks.heapUsedBytes);
    stats.externalBytes = Math.max(stats.externalBytes, answer.peaks.externalBytes);
    stats.arrayBuffersBytes = Math.max(stats.arrayBuffersBytes, answer.peaks.arrayBuffersBytes);
    this.#idle.set(fn.name, [...(this.#idle.get(fn.name) ?? []), child]);
    if (!answer.ok) throw new Error(answer.error);
    return answer.result;
  }

  /** End every environment. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.#live].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill();
          }),
      ),
    );
    this.#idle.clear();
  }

  #start(fn: ProcessFunction, stats: FunctionProcessStats): ChildProcess {
    stats.environments += 1;
    const child = fork(HOST, [], {
      execArgv: lambdaHeapFlags(fn.memorySizeMb),
      env: {
        ...process.env,
        ...fn.environment,
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySizeMb),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.#live.add(child);
    child.once('exit', () => {
      this.#live.delete(child);
      const idle = this.#idle.get(fn.name);
      if (idle)
        this.#idle.set(
          fn.name,
          idle.filter((c) => c !== child),
        );
    });
    return child;
  }

  #statsOf(name: string): FunctionProcessStats {
    let s = this.#stats.get(name);
    if (!s) {
      s = {
        invocations: 0,
        environments: 0,
        maxRssBytes: 0,
        crashes: 0,
        cpuSeconds: 0,
        heapUsedBytes: 0,
        externalBytes: 0,
        arrayBuffersBytes: 0,
      };
      this.#stats.set(name, s);
    }
    return s;
  }
}
