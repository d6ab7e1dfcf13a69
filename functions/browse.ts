/**
 * browse: invoked by hand (`strongbox ls|diff|find|versions|serve-s3 --stage NAME`) with a browse request (see
 * BrowseRequestSchema: a page of a tree, of a diff, or a find across time) and answers it, reading
 * manifests with this function's read-only role: the vault key lets only function roles decrypt, so
 * an operator needs `lambda:InvokeFunction` on this function and no key grant. Errors surface as the
 * invocation's error with a clear message.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { answerBrowse, TreeCache } from '#domain/browse/remote.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';

export const makeHandler = (c: Container) => {
  // Trees opened for serve-s3's requests, kept a minute by this warm container.
  const trees = new TreeCache();
  return middy()
    .use(injectLambdaContext(c.logger))
    .handler(
      async (event: unknown): Promise<Awaited<ReturnType<typeof answerBrowse>>> =>
        answerBrowse(c.pipeline, event, trees),
    );
};

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
