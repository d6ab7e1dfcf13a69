/**
 * The benchmark's peers: rclone and restic, run as child processes against an S3 endpoint of the
 * embedded stack (fauxqs on loopback: plain HTTP, path-style, dummy credentials `test`/`test`).
 *
 * Every run is measured the same way ({@link runMeasured}): wall-clock seconds, and the child's peak
 * resident set size from `/usr/bin/time -f %M` (the kernel's ru_maxrss of the waited-for child, in
 * KiB); without /usr/bin/time, the last VmHWM read from /proc/<pid>/status while it ran.
 *
 * Neither tool reads a global configuration: rclone is configured by RCLONE_CONFIG_PEER_* environment
 * variables (a remote named `peer`, with an empty config file), restic by its environment and `-o`
 * options, with a cache directory of its own per repository.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall, which } from '../support/debian.ts';

/** One measured child process. */
export interface PeerRun {
  seconds: number;
  /** Peak RSS of the child in bytes (NaN if it could not be measured). */
  peakRssBytes: number;
  exitCode: number | null;
  /** The last 4 KiB of the child's stdout and stderr, interleaved. */
  stdoutTail: string;
}

/** Where the peers are; `missing` holds one "<name>: <reason>" line per peer that cannot run. */
export interface Peers {
  rclone?: string;
  restic?: string;
  missing: string[];
}

const PEERS = ['rclone', 'restic'] as const;
const TAIL_BYTES = 4096;
const TIME_BIN = '/usr/bin/time';
const DUMMY_KEY = 'test';

/** Find rclone and restic; install the missing ones with apt-get (Debian packages) if possible. */
export async function ensurePeers(): Promise<Peers> {
  const found: Partial<Record<(typeof PEERS)[number], string>> = {};
  for (const name of PEERS) found[name] = await which(name);
  const absent = PEERS.filter((name) => !found[name]);
  let failure: string | undefined;
  if (absent.length > 0) {
    process.stderr.write(
      `bench: ${absent.join(' and ')} not found; running apt-get install -y ${absent.join(' ')}\n`,
    );
    failure = aptInstall([...absent]);
    for (const name of absent) found[name] = await which(name);
  }
  const missing = PEERS.filter((name) => !found[name]).map(
    (name) => `${name}: not installed and ${failure ?? 'apt-get did not provide it'}`,
  );
  return {
    ...(found.rclone ? { rclone: found.rclone } : {}),
    ...(found.restic ? { restic: found.restic } : {}),
    missing,
  };
}

async function readVmHwm(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

/**
 * Run `cmd args` with exactly `env` (plus PATH, HOME and TMPDIR of this process) and measure it.
 * Never rejects for a non-zero exit; the caller looks at `exitCode`.
 */
export async function runMeasured(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string } = {},
): Promise<PeerRun> {
  const useTime = existsSync(TIME_BIN);
  const scratch = await mkdtemp(join(tmpdir(), 'strongbox-peer-'));
  const rssFile = join(scratch, 'maxrss');
  const [file, argv] = useTime ? [TIME_BIN, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const base = Object.fromEntries(
    ['PATH', 'HOME', 'TMPDIR'].flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])),
  );
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, {
    env: { ...base, ...env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString('utf8')).slice(-TAIL_BYTES);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let hwm = Number.NaN;
  const poll = useTime
    ? undefined
    : setInterval(async () => {
        const v = child.pid ? await readVmHwm(child.pid) : undefined;
        if (v !== undefined) hwm = Number.isNaN(hwm) ? v : Math.max(v, hwm);
      }, 50);
  const exitCode = await new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      keep(Buffer.from(`\n${String(err)}\n`));
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (poll) clearInterval(poll);
  let peakRssBytes = hwm;
  if (useTime) {
    // The last line is %M; the lines before it (if any) say how the command ended.
    const kib = Number((await readFile(rssFile, 'utf8').catch(() => '')).trim().split('\n').pop());
    peakRssBytes = Number.isFinite(kib) && kib > 0 ? kib * 1024 : Number.NaN;
  }
  await rm(scratch, { recursive: true, force: true });
  return { seconds, peakRssBytes, exitCode, stdoutTail: tail };
}

// ---------------------------------------------------------------- rclone

/** Options shared by the rclone runs. */
export interface RcloneOptions {
  bin?: string;
  /** @default 32 */
  transfers?: number;
  /** @default 32 */
  checkers?: number;
  /**
   * copy/sync: compare size and MD5 (`--checksum`) instead of size and modification time. Objects not
   * written by rclone carry no mtime metadata, so rclone would take LastModified, which differs after
   * every server-side copy: each unchanged object would then cost a CopyObject to "fix" its mtime.
   * @default true
   */
  checksum?: boolean;
}

/** The environment that defines the remote `peer:` (S3, provider Other, path-style, plain HTTP). */
async function rcloneEnv(
  endpoint: string,
  region: string,
): Promise<{ env: Record<string, string>; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'strongbox-rclone-'));
  const config = join(dir, 'rclone.conf');
  await writeFile(config, '');
  return {
    dir,
    env: {
      RCLONE_CONFIG: config,
      RCLONE_CACHE_DIR: join(dir, 'cache'),
      RCLONE_CONFIG_PEER_TYPE: 's3',
      RCLONE_CONFIG_PEER_PROVIDER: 'Other',
      RCLONE_CONFIG_PEER_ENV_AUTH: 'false',
      RCLONE_CONFIG_PEER_ACCESS_KEY_ID: DUMMY_KEY,
      RCLONE_CONFIG_PEER_SECRET_ACCESS_KEY: DUMMY_KEY,
      RCLONE_CONFIG_PEER_ENDPOINT: endpoint,
      RCLONE_CONFIG_PEER_REGION: region,
      RCLONE_CONFIG_PEER_FORCE_PATH_STYLE: 'true',
    },
  };
}

async function rclone(
  subcommand: string,
  endpoint: string,
  region: string,
  src: string,
  dst: string,
  options: RcloneOptions,
): Promise<PeerRun> {
  const { env, dir } = await rcloneEnv(endpoint, region);
  try {
    return await runMeasured(
      options.bin ?? 'rclone',
      [
        subcommand,
        `peer:${src}`,
        `peer:${dst}`,
        `--transfers=${options.transfers ?? 32}`,
        `--checkers=${options.checkers ?? 32}`,
        '--s3-no-check-bucket',
        ...(subcommand !== 'check' && options.checksum !== false ? ['--checksum'] : []),
        '--stats=0',
        '--stats-log-level=NOTICE',
        '--stats-one-line',
      ],
      env,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `rclone copy peer:src peer:dst` (same remote, so server-side: CopyObject per object). Also the restore. */
export function rcloneCopy(
  endpoint: string,
  region: string,
  srcBucket: string,
  dstBucket: string,
  options: RcloneOptions = {},
): Promise<PeerRun> {
  return rclone('copy', endpoint, region, srcBucket, dstBucket, options);
}

/** `rclone sync peer:src peer:dst`: the incremental (copies changes, deletes what src no longer has). */
export function rcloneSync(
  endpoint: string,
  region: string,
  srcBucket: string,
  dstBucket: string,
  options: RcloneOptions = {},
): Promise<PeerRun> {
  return rclone('sync', endpoint, region, srcBucket, dstBucket, options);
}

/** `rclone check peer:src peer:dst`: sizes and MD5s (from ETags) of both sides; exit 1 on differences. */
export function rcloneCheck(
  endpoint: string,
  region: string,
  srcBucket: string,
  dstBucket: string,
  options: RcloneOptions = {},
): Promise<PeerRun> {
  return rclone('check', endpoint, region, srcBucket, dstBucket, options);
}

// ---------------------------------------------------------------- restic

/** A restic repository in a bucket of the emulator, with a cache directory of its own. */
export interface ResticRepo {
  repository: string;
  region: string;
  password: string;
  cacheDir: string;
  bin: string;
}

function restic(repo: ResticRepo, args: string[], cwd?: string): Promise<PeerRun> {
  return runMeasured(
    repo.bin,
    ['-o', `s3.region=${repo.region}`, '-o', 's3.bucket-lookup=path', ...args],
    {
      RESTIC_REPOSITORY: repo.repository,
      RESTIC_PASSWORD: repo.password,
      RESTIC_CACHE_DIR: repo.cacheDir,
      AWS_ACCESS_KEY_ID: DUMMY_KEY,
      AWS_SECRET_ACCESS_KEY: DUMMY_KEY,
    },
    cwd ? { cwd } : {},
  );
}

/** `restic init` of `s3:<endpoint>/<bucket>`; the returned `repo` is what the other restic calls take. */
export async function resticInit(
  endpoint: string,
  region: string,
  bucket: string,
  password: string,
  options: { bin?: string } = {},
): Promise<PeerRun & { repo: ResticRepo }> {
  const repo: ResticRepo = {
    repository: `s3:${endpoint.replace(/\/+$/, '')}/${bucket}`,
    region,
    password,
    cacheDir: await mkdtemp(join(tmpdir(), 'strongbox-restic-cache-')),
    bin: options.bin ?? 'restic',
  };
  return { ...(await restic(repo, ['init'])), repo };
}

/** `restic backup .` from inside `dir`, so a restore recreates the files directly under its target. */
export function resticBackup(repo: ResticRepo, dir: string): Promise<PeerRun> {
  return restic(repo, ['backup', '.'], dir);
}

/** `restic check --read-data`: reads back and verifies every pack. */
export function resticCheckReadData(repo: ResticRepo): Promise<PeerRun> {
  return restic(repo, ['check', '--read-data']);
}

/** `restic restore <snapshot> --target <targetDir>`. */
export function resticRestore(repo: ResticRepo, snapshot: string, targetDir: string): Promise<PeerRun> {
  return restic(repo, ['restore', snapshot, '--target', targetDir]);
}

/** Remove the repository's local cache (the bucket stays). */
export async function resticDispose(repo: ResticRepo): Promise<void> {
  await rm(repo.cacheDir, { recursive: true, force: true });
}
