/**
 * DynamoDB Local for local runs and integration tests, bound to 127.0.0.1 only.
 *
 * Uses the official DynamoDB Local jar shipped inside the npm package `amplify-dynamodb-simulator`
 * (only the jar: the package's own JavaScript entry point is not used). DynamoDB Local cannot choose its
 * listen address, so it is started through `dynamodb/LoopbackDynamoDBLocal.java`, a Java 17 single-file
 * launcher that binds Jetty to 127.0.0.1 and reports the actual port with a `LISTENING <port>` line.
 *
 * Requires `java` 17+ on PATH, or JAVA_HOME.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A running DynamoDB Local. */
export interface DynamoDbLocal {
  /** Endpoint for the AWS SDK, e.g. `http://127.0.0.1:8000`. */
  endpoint: string;
  /** TCP port it listens on (127.0.0.1 only). */
  port: number;
  /** Stops the server (and its child processes) and resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startDynamoDbLocal}. */
export interface StartDynamoDbLocalOptions {
  /** TCP port on 127.0.0.1; 0 (the default) picks any free port. */
  port?: number;
  /** Directory for persistent tables (created if missing). Default: in memory, lost on stop. */
  dbPath?: string;
}

/** How long the JVM may take to print its LISTENING line. */
const STARTUP_TIMEOUT_MS = 60_000;
/** How long stop() waits after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** How much of java's stderr/stdout is kept for error messages, in characters. */
const TAIL_CHARS = 4_000;

const LAUNCHER = fileURLToPath(new URL('./dynamodb/LoopbackDynamoDBLocal.java', import.meta.url));

/** Processes started here and not yet exited; killed when this Node process exits. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every JVM still running (synchronously: this runs in process 'exit'). */
function killAllSync(): void {
  for (const child of running) signalTree(child, 'SIGKILL');
}

/** Sends `signal` to the child's process group (it leads one: spawned detached), else to the child. */
function signalTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' covers normal exit and process.exit(). A parent killed by a signal cannot run it; then the
  // launcher notices its stdin pipe closing and exits on its own.
  process.on('exit', killAllSync);
}

/** Directory of the DynamoDB Local distribution (DynamoDBLocal.jar, DynamoDBLocal_lib/). */
function emulatorDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

function javaExecutable(): string {
  const javaHome = process.env.JAVA_HOME;
  return javaHome ? path.join(javaHome, 'bin', process.platform === 'win32' ? 'java.exe' : 'java') : 'java';
}

/** Keeps the last `TAIL_CHARS` characters written to a stream. */
class Tail {
  text = '';
  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-TAIL_CHARS);
  }
}

/**
 * Starts DynamoDB Local on 127.0.0.1 and waits until it accepts connections.
 *
 * Spawns `java` with the loopback launcher, `-disableTelemetry`, `-inMemory` (or `-dbPath`) and `-port`.
 * The JVM is killed when this Node process exits, and exits by itself when its parent dies (its stdin
 * pipe closes), so no stray java process outlives the caller. Startup takes a few seconds (JVM start plus
 * compiling the single-file launcher).
 *
 * @param options.port - TCP port on 127.0.0.1 (1-65535); 0 or omitted picks a free port.
 * @param options.dbPath - directory for persistent data, created if missing; omitted keeps tables in memory.
 * @returns the endpoint (`http://127.0.0.1:<port>`), the port, and `stop()`.
 * @throws {Error} if `java` cannot be run, if the JVM exits before it listens (e.g. the port is taken;
 *   the message includes the tail of java's stderr), or if it does not listen within 60 s.
 * @throws {RangeError} if `options.port` is not an integer in 0..65535.
 * @example
 * ```ts
 * const ddb = await startDynamoDbLocal();
 * const client = new DynamoDBClient({ endpoint: ddb.endpoint, region: 'us-east-1',
 *   credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
 * try { await client.send(new ListTablesCommand({})); } finally { await ddb.stop(); }
 * ```
 */
export async function startDynamoDbLocal(options: StartDynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`DynamoDB Local port must be an integer in 0..65535, got ${port}`);
  }
  const storage: string[] = ['-inMemory'];
  if (options.dbPath !== undefined) {
    const dbPath = path.resolve(options.dbPath);
    await mkdir(dbPath, { recursive: true });
    storage.splice(0, 1, '-dbPath', dbPath);
  }

  const emulator = emulatorDir();
  const lib = path.join(emulator, 'DynamoDBLocal_lib');
  const classPath = [path.join(emulator, 'DynamoDBLocal.jar'), path.join(lib, '*')].join(path.delimiter);
  // DynamoDB Local writes dynamodb-local-metadata.json into its working directory: keep it out of the
  // caller's directory (the repo). One private directory per user, reused (a JVM killed together with its
  // parent could not clean up a per-run directory).
  const workDir = path.join(os.tmpdir(), `strongbox-dynamodb-local-${os.userInfo().uid}`);
  await mkdir(workDir, { recursive: true, mode: 0o700 });

  const java = javaExecutable();
  const args = [
    '-Djava.net.preferIPv4Stack=true',
    `-Djava.library.path=${lib}`,
    // Startup over peak speed: C1 only and the serial GC cut JVM start from ~4-6 s to ~2.5-3 s here.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-cp',
    classPath,
    LAUNCHER,
    '-disableTelemetry',
    ...storage,
    '-port',
    String(port),
  ];

  installExitHook();
  const child = spawn(java, args, {
    cwd: workDir,
    // stdin stays an open pipe: the launcher exits when it closes (i.e. when this process dies).
    stdio: ['pipe', 'pipe', 'pipe'],
    // Own process group, so stop() can signal the JVM and anything it starts.
    detached: process.platform !== 'win32',
    windowsHide: true,
  });
  running.add(child);
  child.stdin?.on('error', () => {}); // EPIPE if the JVM dies first

  let ready = false;
  let spawnError: NodeJS.ErrnoException | undefined;
  /** Resolves once the JVM is gone and its output is fully read (or it could not be spawned at all). */
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    // spawn failures (ENOENT) emit 'error' and never 'exit'.
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      resolve({ code: null, signal: null });
    });
  }).finally(() => running.delete(child));

  const stderr = new Tail();
  const stdout = new Tail();
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const listening = new Promise<number>((resolve) => {
    let lineBuffer = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      // Keeps draining after startup too, so a chatty JVM never blocks on a full pipe.
      if (ready) return;
      stdout.push(chunk);
      lineBuffer += chunk;
      for (let nl = lineBuffer.indexOf('\n'); nl >= 0; nl = lineBuffer.indexOf('\n')) {
        const match = /^LISTENING (\d+)$/.exec(lineBuffer.slice(0, nl).trim());
        lineBuffer = lineBuffer.slice(nl + 1);
        if (match) {
          ready = true;
          resolve(Number(match[1]));
          return;
        }
      }
    });
  });

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STARTUP_TIMEOUT_MS);
  });
  const outcome = await Promise.race([listening, exited, timedOut]);
  clearTimeout(timer);

  if (typeof outcome !== 'number') {
    signalTree(child, 'SIGKILL');
    await exited;
    const err = stderr.text.trim();
    const out = stdout.text.trim();
    const output = err
      ? `\n--- java stderr (tail) ---\n${err}`
      : out
        ? `\n--- java stdout (tail) ---\n${out}`
        : '';
    if (spawnError) {
      throw new Error(
        spawnError.code === 'ENOENT'
          ? `Cannot run DynamoDB Local: '${java}' not found. Install Java 17+ and put it on PATH (or set JAVA_HOME).`
          : `Cannot run DynamoDB Local with '${java}': ${spawnError.message}`,
        { cause: spawnError },
      );
    }
    if (outcome === 'timeout') {
      throw new Error(
        `DynamoDB Local did not report LISTENING within ${STARTUP_TIMEOUT_MS / 1000} s${output}`,
      );
    }
    const how = outcome.signal ? `signal ${outcome.signal}` : `exit code ${outcome.code}`;
    throw new Error(`DynamoDB Local exited before listening (${how})${output}`);
  }
  const listeningPort = outcome;

  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${listeningPort}`,
    port: listeningPort,
    stop() {
      stopping ??= (async () => {
        signalTree(child, 'SIGTERM');
        const killTimer = setTimeout(() => signalTree(child, 'SIGKILL'), STOP_GRACE_MS);
        try {
          await exited;
        } finally {
          clearTimeout(killTimer);
          child.stdin?.destroy();
        }
      })();
      return stopping;
    },
  };
}
