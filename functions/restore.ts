/**
 * restore: invoked by hand (`aws lambda invoke`, or `strongbox restore` locally) with a restore
 * request (see RestoreRequestSchema: key, prefix, include/exclude, overwrite, archiveTier, fanOut,
 * dryRun…). A small selection is restored in this invocation and the report returned; a large one
 * (more objects than STRONGBOX_RESTORE_FANOUT_THRESHOLD, or `fanOut: true`) becomes a restore job
 * whose slices the restoreWorker runs from the restore queue, and the job record (its
 * `restoreJobId`) is returned at once. A table restore (a request naming `toTable` or `toOriginal`,
 * see TableRestoreRequestSchema) runs whole in this invocation (no fan-out) and returns its report.
 * Errors surface as the invocation's error with a clear message.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { RestoreJobRecord } from '#domain/records.ts';
import { startRestore } from '#domain/restore/jobs.ts';
import type { RestoreReport } from '#domain/restore/report.ts';
import { parseRestoreRequest } from '#domain/restore/request.ts';
import { restoreTable } from '#domain/table/restore.ts';
import {
  isTableRestoreRequest,
  parseTableRestoreRequest,
  type TableRestoreReport,
} from '#domain/table/restore-request.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';

export const makeHandler = (c: Container) =>
  middy()
    .use(injectLambdaContext(c.logger))
    .handler(
      async (
        event: unknown,
        context?: Context,
      ): Promise<RestoreReport | RestoreJobRecord | TableRestoreReport> => {
        if (isTableRestoreRequest(event)) {
          // One invocation: the restore stops reading items when its time runs low (report.complete).
          const deps = context
            ? { ...c.pipeline, remainingTimeMs: () => context.getRemainingTimeInMillis() }
            : c.pipeline;
          const report = await restoreTable(deps, parseTableRestoreRequest(event));
          c.logger.info('table restore done', { ...report, keys: undefined });
          return report;
        }
        // No `sleep`: a restore that needs archived blobs asks for them and fails with a retryable
        // ArchivePendingError; invoking it again once they are ready (hours later) proceeds.
        const started = await startRestore(c.pipeline, parseRestoreRequest(event));
        if (started.job) {
          const { request: _r, ...job } = started.job;
          c.logger.info('restore job started', job);
          return started.job;
        }
        const { report } = started;
        c.logger.info('restore done', { ...report, keys: undefined, skippedObjects: undefined });
        return report;
      },
    );

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
