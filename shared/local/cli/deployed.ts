/**
 * `--stage STAGE [--aws-region REGION]`: a deployed stack, reached through its restore function (its
 * configuration names the state table and queues; invoking it runs a restore with its role).
 */
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import type { BrowseRequest } from '#domain/browse/remote.ts';
import { StrongboxError } from '#domain/errors.ts';
import type { RestoreJobRecord } from '#domain/records.ts';
import type { RestoreReport } from '#domain/restore/report.ts';
import type { RestoreRequest } from '#domain/restore/request.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';

/** A deployed stack: its stage and primary region (`--stage`, `--aws-region`). */
export interface Deployment {
  stage: string;
  region: string;
}

/** The deployed restore function of a stage (serverless.yml names functions `<service>-<stage>-<name>`). */
export function restoreFunctionName(stage: string): string {
  return `strongbox-${stage}-restore`;
}

/**
 * A container for a deployed stack, built from its restore function's environment (the same
 * configuration the functions read), with the operator's credentials.
 */
export async function connectDeployed({ stage, region }: Deployment): Promise<Container> {
  const functionName = restoreFunctionName(stage);
  let variables: Record<string, string>;
  try {
    const out = await new LambdaClient({ region }).send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName }),
    );
    variables = out.Environment?.Variables ?? {};
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      throw new StrongboxError(
        `no function ${functionName} in ${region}: is stage '${stage}' deployed there?`,
      );
    }
    throw error;
  }
  return createContainer(loadConfig(variables));
}

/**
 * Invoke the deployed restore function with a restore request and return its report, or the
 * record of the restore job it started (a selection large enough to fan out).
 */
export async function invokeRestore(
  deployment: Deployment,
  request: RestoreRequest,
  client = new LambdaClient({ region: deployment.region }),
): Promise<RestoreReport | RestoreJobRecord> {
  const payload = await invokeFunction(client, restoreFunctionName(deployment.stage), request);
  if (typeof payload.snapshotId !== 'string') {
    throw new StrongboxError(
      `${restoreFunctionName(deployment.stage)} returned no restore report: ${JSON.stringify(payload).slice(0, 500)}`,
    );
  }
  return payload as unknown as RestoreReport | RestoreJobRecord;
}

/**
 * Invoke the deployed browse function (`strongbox-<stage>-browse`) with a browse request: ls, diff
 * and find read manifests with its role, the only kind of principal the vault key lets decrypt.
 * @throws StrongboxError with the function's error message.
 */
export async function invokeBrowse<T>(
  deployment: Deployment,
  request: BrowseRequest,
  client = new LambdaClient({ region: deployment.region }),
): Promise<T> {
  return (await invokeFunction(client, `strongbox-${deployment.stage}-browse`, request)) as T;
}

/** Invoke a function with a JSON payload and return its JSON answer. @throws StrongboxError on its error. */
async function invokeFunction(
  client: LambdaClient,
  functionName: string,
  request: unknown,
): Promise<Record<string, unknown>> {
  const out = await client.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(request)) }),
  );
  const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
  let payload: Record<string, unknown> = {};
  try {
    payload = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON: reported below
  }
  if (out.FunctionError) {
    const reason = typeof payload.errorMessage === 'string' ? payload.errorMessage : text;
    throw new StrongboxError(
      `${functionName} failed: ${typeof payload.errorType === 'string' ? `${payload.errorType}: ` : ''}${reason}`,
    );
  }
  return payload;
}
