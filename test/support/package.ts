/**
 * Run the real `npm run package` for tests and keep what it wrote. Test files run in parallel and
 * `npm run package` rebuilds .build/ and .serverless/ in place, so runs are serialized by a lock
 * (a directory, shared by every test process) and each run's outputs are copied out before the
 * lock is released.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Template } from './cloudformation.ts';

const run = promisify(execFile);

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOCK = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'strongbox-package.lock');
const STALE_LOCK_MS = 10 * 60_000;

/** What one `npm run package` wrote, copied out of the working tree. */
export interface Packaged {
  /** .serverless/cloudformation-template-update-stack.json */
  template: Template;
  /** A copy of the zips in .build/ (`<function>.zip`). */
  buildDir: string;
  /** Wall-clock milliseconds of `npm run package` itself. */
  ms: number;
  /** Remove the copies. */
  dispose(): Promise<void>;
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(LOCK), { recursive: true });
  for (;;) {
    try {
      await mkdir(LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const since = await stat(LOCK).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (since > STALE_LOCK_MS) await rm(LOCK, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}

/**
 * `npm run package -- ...args`, offline, one at a time across test processes.
 * @example const { template } = await runPackage(['--stage', 'prod', '--param', 'copyRegion=eu-central-1']);
 */
export function runPackage(args: string[] = []): Promise<Packaged> {
  return withLock(async () => {
    const started = performance.now();
    try {
      await run('npm', ['run', 'package', '--', ...args], {
        cwd: PROJECT_ROOT,
        timeout: 150_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `npm run package ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
      );
    }
    const ms = performance.now() - started;
    const buildDir = await mkdtemp(path.join(tmpdir(), 'strongbox-package-'));
    for (const file of await readdir(path.join(PROJECT_ROOT, '.build'))) {
      if (file.endsWith('.zip'))
        await copyFile(path.join(PROJECT_ROOT, '.build', file), path.join(buildDir, file));
    }
    const template = JSON.parse(
      await readFile(
        path.join(PROJECT_ROOT, '.serverless', 'cloudformation-template-update-stack.json'),
        'utf8',
      ),
    ) as Template;
    return { template, buildDir, ms, dispose: () => rm(buildDir, { recursive: true, force: true }) };
  });
}
