/**
 * The crash test's stack process (test/integration/crash-recovery.test.ts): the whole embedded stack
 * (fauxqs threads, DynamoDB Local as a Java child process, the dispatcher and every function) on the
 * data directory given as argv[2], in a process of its own so the test can SIGKILL it mid-snapshot.
 * It posts `{ type: 'ready', env }` (the restore function's environment, for the test's own clients)
 * and stops cleanly on `{ type: 'stop' }`.
 */
import { startLocalStack } from '#local/stack.ts';

const dataDir = process.argv[2];
if (!dataDir || !process.send)
  throw new Error('usage: fork crash-stack-child.ts <dataDir> (with an IPC channel)');
const environment = JSON.parse(process.argv[3] ?? '{}') as Record<string, string>;

const stack = await startLocalStack({ dataDir, environment, logLevel: 'ERROR' });
process.on('message', (m: { type: string }) => {
  if (m.type === 'stop') void stack.stop().then(() => process.exit(0));
});
process.send({ type: 'ready', env: stack.env('restore') });
