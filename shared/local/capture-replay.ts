/**
 * `strongbox capture replay`: the wiring. The capture failure queue's URL comes from the capture
 * function's configuration (`STRONGBOX_CAPTURE_FAILURE_QUEUE_URL`): the embedded stack's (its
 * stack.json) or a deployed stage's (`GetFunctionConfiguration`). Capture runs on the embedded stack
 * through a {@link LocalDispatcher} invocation of its handler, with its environment; on a deployed
 * stage through a synchronous `Invoke` of the deployed function (its own role), like `restore`.
 */
import {
  GetFunctionConfigurationCommand,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { lambdaCaptureInvoker, SqsCaptureFailureQueue } from '#adapters/capture-replay.ts';
import type { CaptureFailureQueue, CaptureInvoker, CaptureReplayReport } from '#domain/capture-replay.ts';
import { StrongboxError } from '#domain/errors.ts';
import { loadConfig } from '#runtime/config.ts';
import { createContainer } from '#runtime/container.ts';
import { LocalDispatcher } from './dispatcher.ts';

/** The variable of capture's configuration that names its failure queue. */
export const CAPTURE_FAILURE_QUEUE_VARIABLE = 'STRONGBOX_CAPTURE_FAILURE_QUEUE_URL';

/** The deployed capture function of a stage (`<service>-<stage>-<name>`). */
export function captureFunctionName(stage: string): string {
  return `strongbox-${stage}-capture`;
}

/** What replay needs: the failure queue, and capture. */
export interface CaptureReplayDeps {
  failures: CaptureFailureQueue;
  capture: CaptureInvoker;
}

function queueUrlOf(variables: Record<string, string> | undefined, where: string): string {
  const url = variables?.[CAPTURE_FAILURE_QUEUE_VARIABLE];
  if (!url) {
    throw new StrongboxError(
      `${where} has no ${CAPTURE_FAILURE_QUEUE_VARIABLE}: it predates capture's failure queue (deploy or start it again)`,
    );
  }
  return url;
}

/**
 * A deployed stage: the queue URL from the capture function's configuration, capture through Invoke.
 * @throws StrongboxError when the stage has no capture function in `region`, or it has no failure queue.
 */
export async function deployedCaptureReplay(
  deployment: { stage: string; region: string },
  clients: { lambda?: LambdaClient; sqs?: SQSClient } = {},
): Promise<CaptureReplayDeps> {
  const lambda = clients.lambda ?? new LambdaClient({ region: deployment.region });
  const functionName = captureFunctionName(deployment.stage);
  let variables: Record<string, string> | undefined;
  try {
    const out = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    variables = out.Environment?.Variables;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      throw new StrongboxError(
        `no function ${functionName} in ${deployment.region}: is stage '${deployment.stage}' deployed there?`,
      );
    }
    throw error;
  }
  return {
    failures: new SqsCaptureFailureQueue(
      clients.sqs ?? new SQSClient({ region: deployment.region }),
      queueUrlOf(variables, functionName),
    ),
    capture: lambdaCaptureInvoker(lambda, functionName),
  };
}

/**
 * The embedded stack: capture's handler, built with capture's environment (as the stack builds it),
 * invoked through a dispatcher; the failure queue on the stack's SQS endpoint.
 * @param env the capture function's environment (stack.json's `env.capture`).
 */
export async function localCaptureReplay(
  env: Record<string, string> | undefined,
): Promise<CaptureReplayDeps> {
  const url = queueUrlOf(env, 'the embedded stack’s capture function');
  const container = createContainer(loadConfig(env ?? {}));
  const { makeHandler } = (await import('../../functions/capture.ts')) as {
    makeHandler: (c: typeof container) => (event: unknown, context: Context) => Promise<unknown>;
  };
  const dispatcher = new LocalDispatcher({
    functions: [{ name: 'capture', timeoutSeconds: 900, handler: makeHandler(container) }],
    sqs: container.sqs,
    region: container.config.primaryRegion,
    schedules: [],
    s3: [],
    queues: [],
  });
  return {
    failures: new SqsCaptureFailureQueue(container.sqs, url),
    capture: async (event) => {
      await dispatcher.invoke('capture', event);
    },
  };
}

/** The report, for people: one line per message, then the counts. */
export function formatCaptureReplay(report: CaptureReplayReport): string[] {
  const lines = report.messages.map((m) => {
    const what = m.objects.join(', ') || '(no S3 record)';
    const when = m.failedAt ? ` failed ${m.failedAt}` : '';
    const again = m.replayError ? `; again: ${m.replayError}` : '';
    return `${m.status.padEnd(10)} ${what}${when} (${m.error}${again})`;
  });
  const counts = report.dryRun
    ? `dry run: ${report.received} failed event(s) in the queue, none replayed`
    : `${report.received} received, ${report.replayed} replayed and deleted, ${report.failed} failed again (kept), ${report.unreadable} unreadable (kept)`;
  return [...lines, counts];
}
