/**
 * Runs one fauxqs server (S3 + SQS of one region) in a worker thread, so the emulator and the
 * functions it serves do not share one event loop. S3 change events are posted to the parent.
 */
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
port.on('message', (message: { type: 'ping'; id: number } | { type: 'stop' }) => {
  if (message.type === 'ping') port.postMessage({ type: 'pong', id: message.id });
  else void server.stop().then(() => port.postMessage({ type: 'stopped' }));
});
