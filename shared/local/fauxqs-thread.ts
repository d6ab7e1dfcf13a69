/** Start and talk to a fauxqs server running in a worker thread (see fauxqs-worker.ts). */
import { Worker } from 'node:worker_threads';
import type { ObservedS3Change } from './dispatcher.ts';

/** What a fauxqs thread has served so far, and its memory now. */
export interface FauxqsStats {
  /** HTTP requests received since start, by kind: `sqs`, `s3:LIST`, `s3:GET`, `s3:HEAD`, `s3:PUT`, `s3:POST`, `s3:DELETE`. */
  requests: Record<string, number>;
  /** The worker thread's `process.memoryUsage()` (heap and external are this thread's; rss is the process's). */
  memory: NodeJS.MemoryUsage;
}

/** A fauxqs server in its own thread. */
export interface FauxqsThread {
  address: string;
  /** Resolves once every S3 change event the server emitted so far has reached `onS3Change`. */
  flush(): Promise<void>;
  /** Requests served so far (S3 by operation, SQS apart), counted as they arrive. */
  stats(): Promise<FauxqsStats>;
  stop(): Promise<void>;
}

/**
 * Start fauxqs for one region in a worker thread.
 * @param onS3Change receives each object created or removed, in order; omit for no events.
 */
export async function startFauxqsThread(options: {
  port?: number;
  region: string;
  dataDir?: string;
  s3StorageDir?: string;
  onS3Change?: (change: ObservedS3Change) => void;
}): Promise<FauxqsThread> {
  const worker = new Worker(new URL('./fauxqs-worker.ts', import.meta.url), {
    workerData: {
      port: options.port ?? 0,
      region: options.region,
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.s3StorageDir ? { s3StorageDir: options.s3StorageDir } : {}),
      withSink: options.onS3Change !== undefined,
    },
  });
  let pings = 0;
  const pending = new Map<number, (stats?: FauxqsStats) => void>();
  let stopped: (() => void) | undefined;
  const address = await new Promise<string>((resolve, reject) => {
    worker.once('error', reject);
    worker.on(
      'message',
      (
        m: { type: string; address?: string; event?: ObservedS3Change; id?: number } & Partial<FauxqsStats>,
      ) => {
        if (m.type === 'ready') resolve(m.address as string);
        else if (m.type === 'event') options.onS3Change?.(m.event as ObservedS3Change);
        else if (m.type === 'pong') pending.get(m.id as number)?.();
        else if (m.type === 'stats')
          pending.get(m.id as number)?.({
            requests: m.requests as FauxqsStats['requests'],
            memory: m.memory as FauxqsStats['memory'],
          });
        else if (m.type === 'stopped') stopped?.();
      },
    );
    worker.once('exit', (code) =>
      reject(new Error(`fauxqs worker for ${options.region} exited with ${code}`)),
    );
  });
  const ask = <T>(type: 'ping' | 'stats') =>
    new Promise<T>((resolve) => {
      pings += 1;
      const id = pings;
      pending.set(id, (stats) => {
        pending.delete(id);
        resolve(stats as T);
      });
      worker.postMessage({ type, id });
    });
  return {
    address,
    flush: () => ask<void>('ping'),
    stats: () => ask<FauxqsStats>('stats'),
    stop: async () => {
      await new Promise<void>((resolve) => {
        stopped = resolve;
        worker.postMessage({ type: 'stop' });
        setTimeout(resolve, 5000).unref();
      });
      await worker.terminate();
    },
  };
}
