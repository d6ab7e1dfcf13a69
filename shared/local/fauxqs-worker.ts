/**
 * Runs one fauxqs server (S3 + SQS of one region) in a worker thread, so the emulator and the
 * functions it serves do not share one event loop. S3 change events are posted to the parent.
 * It counts every HTTP request the server receives (S3 by operation, SQS apart) and answers a
 * `stats` message with the counts and this thread's memory (see fauxqs-thread.ts).
 */
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { startFauxqs } from 'fauxqs';

interface WorkerOptions {
  port: number;
  region: string;
  dataDir?: string;
  s3StorageDir?: string;
  withSink: boolean;
}

const port = parentPort;
if (!port) throw new Error('fauxqs-worker.ts runs as a worker thread');
const options = workerData as WorkerOptions;
// Requests served, counted as they arrive. Node publishes every request an HTTP server of this
// thread receives on this channel (channels are per thread, and fauxqs is this thread's only server).
const requests: Record<string, number> = {};
subscribe('http.server.request.start', (message) => {
  const op = requestKind((message as { request: IncomingMessage }).request);
  requests[op] = (requests[op] ?? 0) + 1;
});

const server = await startFauxqs({
  port: options.port,
  logger: false,
  defaultRegion: options.region,
  bindHost: '127.0.0.1',
  ...(options.dataDir ? { dataDir: options.dataDir } : {}),
  ...(options.s3StorageDir ? { s3StorageDir: options.s3StorageDir } : {}),
  ...(options.withSink ? { s3EventSink: (event) => port.postMessage({ type: 'event', event }) } : {}),
});
port.postMessage({ type: 'ready', address: server.address });
port.on('message', (message: { type: 'ping' | 'stats'; id: number } | { type: 'stop' }) => {
  if (message.type === 'ping') port.postMessage({ type: 'pong', id: message.id });
  else if (message.type === 'stats')
    port.postMessage({
      type: 'stats',
      id: message.id,
      requests: { ...requests },
      memory: process.memoryUsage(),
    });
  else void server.stop().then(() => port.postMessage({ type: 'stopped' }));
});

/**
 * `sqs` for an SQS call (JSON protocol: `X-Amz-Target: AmazonSQS.*`; query protocol: a form POST,
 * which S3 never receives from the SDK), else the S3 operation's family: `s3:LIST` (GET of a
 * bucket), `s3:GET`, `s3:HEAD`, `s3:PUT`, `s3:POST`, `s3:DELETE`.
 */
function requestKind(request: IncomingMessage): string {
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string' && target.startsWith('AmazonSQS')) return 'sqs';
  const method = request.method ?? 'UNKNOWN';
  const contentType = request.headers['content-type'] ?? '';
  if (method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) return 'sqs';
  const path = (request.url ?? '/').split('?')[0] ?? '/';
  const segments = path.split('/').filter(Boolean);
  if (method === 'GET' && segments.length <= 1) return 's3:LIST';
  return `s3:${method}`;
}
