/**
 * restore: invoked by hand (`aws lambda invoke`, or `strongbox restore` locally) with a restore
 * request; returns the report. Errors surface as the invocation's error with a clear message.
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
      c.logger.info('restore done', { ...report, keys: undefined });
      return report;
    });

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
