/**
 * One Lambda execution environment of the embedded stack, in a Node process of its own (see
 * ./process-functions.ts): it imports the function's module as Lambda does (its `handler` export,
 * which builds its container from this process's environment on the first invocation) and runs one
 * invocation at a time sent over the IPC channel, answering with the result or the error and the
 * process's peak resident memory so far.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import type { Context } from 'aws-lambda';
import { lambdaContext } from './dispatcher.ts';
import { peakRssBytes } from './peak-rss.ts';

/** An invocation sent to the host. */
export interface HostInvocation {
  /** The function's module (a `.ts` file of functions/) and its exported handler's name. */
  file: string;
  exportName: string;
  functionName: string;
  memorySizeMb: number;
  event: unknown;
  /** Epoch milliseconds by which the invocation must end (Lambda's timeout). */
  deadline: number;
}

/**
 * The host's answer: the handler's result or its error, `process.resourceUsage().maxRSS`, and the
 * CPU the environment has used since it started (user + system, microseconds: `process.cpuUsage()`).
 */
export type HostAnswer = ({ ok: true; result: unknown } | { ok: false; error: string }) & {
  maxRssBytes: number;
  peaks: typeof peaks;
  cpuMicros: number;
};

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

type Handler = (event: unknown, context: Context) => Promise<unknown>;
let handler: Promise<Handler> | undefined;

/** Peak RSS (VmHWM; the highest sampled RSS where /proc is missing). */
const maxRssBytes = () => peakRssBytes() ?? peaks.rssBytes;

/**
 * Where a memory peak goes: with `STRONGBOX_HEAP_SNAPSHOT_MB` (and `STRONGBOX_HEAP_SNAPSHOT_DIR`,
 * default the working directory) set, the environment writes one V8 heap snapshot (ArrayBuffer
 * backing stores included, with their retainers) the first time its RSS reaches that many MB.
 */
const snapshotAtBytes = Number(process.env.STRONGBOX_HEAP_SNAPSHOT_MB ?? 0) * 1024 * 1024;
let snapshotWritten = false;
const snapshotIfDue = (rss: number) => {
  if (snapshotAtBytes <= 0 || snapshotWritten || rss < snapshotAtBytes) return;
  snapshotWritten = true;
  const dir = process.env.STRONGBOX_HEAP_SNAPSHOT_DIR ?? '.';
  const file = writeHeapSnapshot(
    join(dir, `${process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'fn'}-${process.pid}.heapsnapshot`),
  );
  process.stderr.write(`heap snapshot at ${Math.round(rss / 2 ** 20)} MB RSS: ${file}\n`);
};

/** Peaks of `process.memoryUsage()` since the environment started, sampled every 50 ms. */
const peaks = { rssBytes: 0, heapUsedBytes: 0, externalBytes: 0, arrayBuffersBytes: 0 };
setInterval(() => {
  const m = process.memoryUsage();
  snapshotIfDue(m.rss);
  peaks.rssBytes = Math.max(peaks.rssBytes, m.rss);
  peaks.heapUsedBytes = Math.max(peaks.heapUsedBytes, m.heapUsed);
  peaks.externalBytes = Math.max(peaks.externalBytes, m.external);
  peaks.arrayBuffersBytes = Math.max(peaks.arrayBuffersBytes, m.arrayBuffers);
}, 50).unref();

process.on('message', (m: HostInvocation) => {
  handler ??= import(pathToFileURL(m.file).href).then((mod: Record<string, Handler>) => {
    const h = mod[m.exportName];
    if (typeof h !== 'function') throw new Error(`${m.file} exports no handler '${m.exportName}'`);
    return h;
  });
  const context = lambdaContext({ name: m.functionName, memorySizeMb: m.memorySizeMb }, m.deadline);
  handler
    .then((h) => h(m.event, context))
    .then(
      (result) =>
        process.send?.({
          ok: true,
          result,
          maxRssBytes: maxRssBytes(),
          peaks,
          cpuMicros: cpuMicros(),
        } satisfies HostAnswer),
      (error: unknown) =>
        process.send?.({
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          maxRssBytes: maxRssBytes(),
          peaks,
          cpuMicros: cpuMicros(),
        } satisfies HostAnswer),
    );
});
process.on('disconnect', () => process.exit(0));
