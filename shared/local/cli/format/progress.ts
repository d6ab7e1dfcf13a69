/** The progress bars of a restore on stderr: one run in-process, and a restore job followed. */
import cliProgress from 'cli-progress';
import { StrongboxError } from '#domain/errors.ts';
import type { Catalog } from '#domain/ports.ts';
import type { RestoreJobRecord } from '#domain/records.ts';
import type { RestoreOptions } from '#domain/restore/request.ts';
import { formatBytes } from '../../format.ts';

/**
 * A progress bar on stderr for a restore: objects, bytes, rate and ETA while it writes (and a
 * count while it checks the target), plus a line per look at archived packs.
 */
export function restoreProgress(stream: NodeJS.WriteStream = process.stderr): {
  options: RestoreOptions;
  stop(): void;
} {
  const bar = new cliProgress.SingleBar(
    {
      format:
        '{phase} [{bar}] {percentage}% | {value}/{total} objects | {done} of {size} | {rate}/s | ETA {eta_formatted}',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 100,
      stream,
    },
    cliProgress.Presets.shades_classic,
  );
  let phase: 'check' | 'write' | undefined;
  let started = 0;
  const payload = (bytes: number, totalBytes: number) => {
    const seconds = (performance.now() - started) / 1000;
    return {
      phase: phase === 'check' ? 'checking target' : 'restoring',
      done: formatBytes(bytes),
      size: phase === 'check' ? '-' : formatBytes(totalBytes),
      rate: seconds > 0 ? formatBytes(bytes / seconds) : '-',
    };
  };
  return {
    options: {
      onProgress: (p) => {
        if (p.phase !== phase) {
          if (phase) bar.stop();
          phase = p.phase;
          started = performance.now();
          bar.start(p.total, 0, payload(0, p.totalBytes));
        }
        bar.update(p.objects, payload(p.bytes, p.totalBytes));
      },
      onArchive: ({ pending, total, tier }) => {
        stream.write(
          `archive: ${pending} of ${total} archived pack(s) still being restored (tier ${tier})${pending ? '; checking again in 5 min' : ''}\n`,
        );
      },
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
    stop: () => {
      if (phase) bar.stop();
    },
  };
}

/**
 * Follow a restore job until it ends, with a progress bar on `stream`: objects done (written or
 * skipped) of those selected, bytes written, the rate since attaching, ETA and slices done. Returns at
 * once for a job that has ended, or with `follow: false`.
 * @param options.pollMs milliseconds between reads of the job. @default 1000
 * @throws StrongboxError (not retryable) for an unknown job.
 * @example
 * ```ts
 * const job = await followRestoreJob(c.pipeline.catalog, 'restore-20261122T010000Z-1a2b3c4d');
 * console.log(formatRestoreReport(reportOfRestoreJob(job)));
 * ```
 */
export async function followRestoreJob(
  catalog: Pick<Catalog, 'getRestoreJob'>,
  restoreJobId: string,
  options: {
    stream?: NodeJS.WriteStream;
    pollMs?: number;
    follow?: boolean;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<RestoreJobRecord> {
  const stream = options.stream ?? process.stderr;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let job = await catalog.getRestoreJob(restoreJobId);
  if (!job) {
    throw new StrongboxError(
      `no restore job '${restoreJobId}' ('strongbox restore-status' lists the recent ones)`,
    );
  }
  if (job.status !== 'RUNNING' || options.follow === false) return job;
  const bar = new cliProgress.SingleBar(
    {
      format:
        'restoring [{bar}] {percentage}% | {value}/{total} objects | {done} of {size} | {rate}/s | ETA {eta_formatted} | slices {slices}',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 20,
      stream,
    },
    cliProgress.Presets.shades_classic,
  );
  const attachedAt = performance.now();
  const attachedBytes = job.bytes;
  const done = (j: RestoreJobRecord) => j.objects + j.skippedExists + j.skippedUnchanged;
  const payload = (j: RestoreJobRecord) => {
    const seconds = (performance.now() - attachedAt) / 1000;
    return {
      done: formatBytes(j.bytes),
      size: formatBytes(j.selectedBytes),
      rate: seconds > 0 ? formatBytes((j.bytes - attachedBytes) / seconds) : '-',
      slices: `${j.slicesDone}/${j.slicesTotal}`,
    };
  };
  bar.start(job.selected, done(job), payload(job));
  try {
    while (job.status === 'RUNNING') {
      await sleep(options.pollMs ?? 1000);
      job = (await catalog.getRestoreJob(restoreJobId)) ?? job;
      bar.update(done(job), payload(job));
    }
  } finally {
    bar.stop();
  }
  return job;
}
