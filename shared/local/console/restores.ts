/**
 * The restores the web console starts, and how it follows them. A restore runs as the CLI's does: on
 * the embedded stack in this process ({@link startRestore}, its progress reported as it goes), on a
 * deployed stage in the deployed restore function (`invokeRestore`, with that function's role). When
 * the selection is large (or `fanOut` asks for it), it becomes a restore job, followed through the
 * catalog until it ends.
 */
import { randomUUID } from 'node:crypto';
import { reasonOf } from '#domain/errors.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { RestoreJobRecord } from '#domain/records.ts';
import { reportOfRestoreJob, startRestore } from '#domain/restore/jobs.ts';
import type { RestoreReport } from '#domain/restore/report.ts';
import { parseRestoreRequest, type RestoreRequest } from '#domain/restore/request.ts';
import type { ConsoleRestore } from './api-types.ts';

/** Runs a restore request to its report, or to the restore job it started. */
export type RestoreRunner = (
  request: RestoreRequest,
  onProgress: (p: NonNullable<ConsoleRestore['progress']>) => void,
) => Promise<RestoreReport | RestoreJobRecord>;

/** The runner of the embedded stack: the restore use case in this process. */
export function inProcessRunner(deps: PipelineDeps): RestoreRunner {
  return async (request, onProgress) => {
    const started = await startRestore(deps, request, { onProgress });
    return started.job ?? started.report;
  };
}

/** Restores kept for `GET /api/restores/:id` and the jobs view. */
const KEPT = 50;

/**
 * The console's restores: started, followed, listed.
 * @example
 * ```ts
 * const restores = new ConsoleRestores(inProcessRunner(c.pipeline), c.pipeline.catalog);
 * const { id } = restores.start({ plan: 'photos', targetBucket: 'photos-restored' });
 * await restores.get(id); // { state: 'running', progress: { phase: 'write', objects: 12, … } }
 * ```
 */
export class ConsoleRestores {
  readonly #run: RestoreRunner;
  readonly #catalog: Pick<PipelineDeps['catalog'], 'getRestoreJob'>;
  readonly #now: () => Date;
  readonly #restores = new Map<string, ConsoleRestore>();

  constructor(
    run: RestoreRunner,
    catalog: Pick<PipelineDeps['catalog'], 'getRestoreJob'>,
    now: () => Date = () => new Date(),
  ) {
    this.#run = run;
    this.#catalog = catalog;
    this.#now = now;
  }

  /**
   * What a dry run of `request` would restore (nothing is written).
   * @throws ValidationError naming the field; NotFoundError; as the runner.
   */
  async dryRun(request: RestoreRequest): Promise<RestoreReport> {
    parseRestoreRequest({ ...request, dryRun: true });
    const result = await this.#run({ ...request, dryRun: true }, () => {});
    if ('restoreJobId' in result) throw new Error('a dry run started a restore job');
    return result;
  }

  /**
   * Start `request` and return at once; {@link get} follows it.
   * @throws ValidationError (not retryable) naming the field, before anything starts.
   */
  start(request: RestoreRequest): ConsoleRestore {
    parseRestoreRequest(request);
    const restore: ConsoleRestore = {
      id: `console-${randomUUID().slice(0, 8)}`,
      request,
      startedAt: this.#now().toISOString(),
      state: 'running',
    };
    this.#restores.set(restore.id, restore);
    for (const id of [...this.#restores.keys()].slice(0, Math.max(0, this.#restores.size - KEPT)))
      this.#restores.delete(id);
    this.#run(request, (progress) => {
      restore.progress = progress;
    }).then(
      (result) => {
        if ('restoreJobId' in result) {
          restore.state = 'job';
          restore.job = result;
        } else {
          restore.state = 'done';
          restore.report = result;
        }
      },
      (error: unknown) => {
        restore.state = 'failed';
        restore.error = reasonOf(error);
      },
    );
    return restore;
  }

  /** A restore as it stands: a restore job read again from the catalog, with its report once it ended. */
  async get(id: string): Promise<ConsoleRestore | undefined> {
    const restore = this.#restores.get(id);
    if (restore?.state !== 'job' || !restore.job) return restore;
    const job = (await this.#catalog.getRestoreJob(restore.job.restoreJobId)) ?? restore.job;
    restore.job = job;
    if (job.status !== 'RUNNING') restore.report = reportOfRestoreJob(job);
    return restore;
  }

  /** Every restore kept, newest first (restore jobs as last read). */
  list(): ConsoleRestore[] {
    return [...this.#restores.values()].reverse();
  }
}
