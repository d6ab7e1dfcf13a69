/**
 * restore: invoked by hand (`aws lambda invoke`, or `strongbox restore` locally) with a restore
 * request (see RestoreRequestSchema: key, prefix, include/exclude, overwrite, archiveTier, dryRun…);
 * returns the report. Errors surface as the invocation's error with a clear message.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { parseRestoreRequest, type RestoreReport, restoreSnapshot } from '#domain/restore.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';

export const makeHandler = (c: Container) =>
  middy()
    .use(injectLambdaContext(c.logger))
    .handler(async (event: unknown): Promise<RestoreReport> => {
      const report = await restoreSnapshot(c.pipeline, parseRestoreRequest(event));
      // No `sleep`: a restore that needs archived blobs asks for them and fails with a retryable
      // ArchivePendingError; invoking it again once they are ready (hours later) proceeds.
      c.logger.info('restore done', { ...report, keys: undefined, skippedObjects: undefined });
      return report;
    });

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
