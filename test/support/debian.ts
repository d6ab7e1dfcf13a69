/**
 * Programs from Debian's packages that tests (rclone, chromium) and the benchmark (rclone, restic)
 * drive: found on PATH, or installed with apt-get when missing, so a clean machine runs them too.
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The executable `name` on PATH, or undefined. */
export async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

/** `apt-get install -y` the packages (updating the lists once if that fails); undefined, or why it failed. */
export function aptInstall(packages: string[]): string | undefined {
  // Test files run in parallel: a second apt-get waits for the first's dpkg lock, not fails on it.
  const run = (args: string[]) =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], { encoding: 'utf8', stdio: 'pipe' });
  let res = run(['install', '-y', ...packages]);
  if (res.status !== 0) {
    // The package lists may be missing or stale.
    run(['update']);
    res = run(['install', '-y', ...packages]);
  }
  if (res.status === 0) return undefined;
  const why = res.error?.message ?? (res.stderr || res.stdout || '').trim().split('\n').pop();
  return `apt-get install -y ${packages.join(' ')} failed (${why ?? `exit ${res.status}`})`;
}

/**
 * The path of `program`, installing Debian package `pkg` first when it is not on PATH.
 * @throws Error saying why when it cannot be installed: the test needs it, and does not pass without.
 */
export async function debianProgram(program: string, pkg = program): Promise<string> {
  const found = await which(program);
  if (found) return found;
  const failure = aptInstall([pkg]);
  const installed = await which(program);
  if (installed) return installed;
  throw new Error(
    `${program} is not installed and ${failure ?? `apt-get install ${pkg} did not provide it`}`,
  );
}
