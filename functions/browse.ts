/**
 * browse: invoked by hand (`strongbox ls|diff|find|versions --stage NAME`) with a browse request (see
 * BrowseRequestSchema: a page of a tree, of a diff, or a find across time) and answers it, reading
 * manifests with this function's read-only role: the vault key lets only function roles decrypt, so
 * an operator needs `lambda:InvokeFunction` on this function and no key grant. Errors surface as the
 * invocation's error with a clear message.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import {
  answerBrowse,
  type DiffPage,
  type FindAnswer,
  type TreePage,
  type VersionsAnswer,
} from '#domain/browse/remote.ts';
import { type Container, lambdaContainer } from '#runtime/container.ts';
import { lazyHandler } from '#runtime/lazy-handler.ts';

export const makeHandler = (c: Container) =>
  middy()
    .use(injectLambdaContext(c.logger))
    .handler(
      async (event: unknown): Promise<TreePage | DiffPage | FindAnswer | VersionsAnswer> =>
        answerBrowse(c.pipeline, event),
    );

export const handler = lazyHandler(() => makeHandler(lambdaContainer()));
