/**
 * What every command shares: the global options (`--data-dir`, `--stage`, `--aws-region`), the
 * connection to the running embedded stack (or to a deployed one), and the option parsers.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { StrongboxError } from '#domain/errors.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';
import { type LocalStack, PROJECT_ROOT } from '../stack.ts';
import { connectDeployed, type Deployment } from './deployed.ts';

export const DEFAULT_DATA_DIR = join(PROJECT_ROOT, '.strongbox', 'data');

export interface StackFile {
  pid: number;
  endpoints: Record<string, unknown>;
  env: Record<string, Record<string, string>>;
}

/** The global options as a command's action reads them, when it runs. */
export interface CliContext {
  /** `--data-dir`, resolved to an absolute path. */
  dataDir: () => string;
  /** `--stage` and `--aws-region`, or undefined without `--stage` (the embedded stack). */
  deployment: () => Deployment | undefined;
}

export async function connect(dataDir: string, deployment?: Deployment): Promise<Container> {
  if (deployment) return connectDeployed(deployment);
  const file = await readStackFile(dataDir);
  return createContainer(loadConfig(file.env.restore));
}

/**
 * Write `dir`/stack.json for a stack running in this process (its pid, endpoints and each function's
 * environment), so the CLI run with `--data-dir dir` reaches it: what `strongbox start` does, and
 * the tests and the bench that drive the CLI.
 */
export async function writeStackFile(
  stack: Pick<LocalStack, 'serverless' | 'endpoints' | 'env'>,
  dir: string,
): Promise<void> {
  const env = Object.fromEntries(Object.keys(stack.serverless.functions).map((f) => [f, stack.env(f)]));
  const file: StackFile = { pid: process.pid, endpoints: stack.endpoints, env };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'stack.json'), JSON.stringify(file, null, 2));
}

/** The running embedded stack's stack.json (endpoints, each function's environment). */
export async function readStackFile(dataDir: string): Promise<StackFile> {
  let file: StackFile;
  try {
    file = JSON.parse(await readFile(join(dataDir, 'stack.json'), 'utf8')) as StackFile;
  } catch {
    throw new StrongboxError(`no embedded stack is running for ${dataDir}: start one with 'npm start'`);
  }
  try {
    process.kill(file.pid, 0);
  } catch {
    throw new StrongboxError(
      `the embedded stack (pid ${file.pid}) is not running any more: start it with 'npm start'`,
    );
  }
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  return file;
}

/** Option parser of a repeatable option: every value, in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Option parser of a count (`--max`, `--limit`): a positive integer. */
export function positiveInteger(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}
