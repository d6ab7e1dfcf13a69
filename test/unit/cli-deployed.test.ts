// `strongbox --stage STAGE …` talks to a deployed stack: restore invokes the deployed restore
// function (so it runs with that function's role); the other commands read the function's
// configuration to find the state table. AWS is mocked.
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { invokeRestore } from '#local/cli/deployed.ts';
import { buildCli } from '#local/cli/index.ts';

const lambda = mockClient(LambdaClient);
const dynamo = mockClient(DynamoDBDocumentClient);

const report = {
  planId: 'photos',
  snapshotId: '20261121T234500Z',
  region: 'us-east-1',
  targetBucket: 'photos-restored',
  targetPrefix: '',
  dryRun: false,
  objects: 3,
  bytes: 1536,
  seconds: 1.2,
};

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('strongbox --stage (a deployed stack)', () => {
  let out: string[];

  beforeEach(() => {
    lambda.reset();
    dynamo.reset();
    out = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      out.push(args.join(' '));
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('restore invokes the stage’s restore function with the request and prints its report', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: encode(report) as never });
    // Act
    await buildCli().parseAsync([
      'node',
      'strongbox',
      '--stage',
      'prod',
      '--aws-region',
      'eu-central-1',
      'restore',
      '--plan',
      'photos',
      '--target-bucket',
      'photos-restored',
      '--include',
      '2026/**',
      '--exclude',
      '**/*.tmp',
      '--overwrite',
      'ifChanged',
    ]);
    // Assess
    const calls = lambda.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.FunctionName).toBe('strongbox-prod-restore');
    expect(JSON.parse(Buffer.from(input?.Payload as Uint8Array).toString())).toEqual({
      plan: 'photos',
      snapshot: 'latest',
      targetBucket: 'photos-restored',
      targetPrefix: '',
      overwrite: 'ifChanged',
      archiveTier: 'Standard',
      dryRun: false,
      include: ['2026/**'],
      exclude: ['**/*.tmp'],
    });
    expect(await lambda.call(0).thisValue.config.region()).toBe('eu-central-1');
    expect(out.join('\n')).toContain('restored 3 object(s), 1.5 KiB from snapshot 20261121T234500Z');
  });

  it('surfaces the function’s error', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: encode({ errorType: 'NotFoundError', errorMessage: "plan 'photos' does not exist" }) as never,
    });
    await expect(
      invokeRestore(
        { stage: 'prod', region: 'us-east-1' },
        { plan: 'photos', targetBucket: 'photos-restored' },
      ),
    ).rejects.toThrow("strongbox-prod-restore failed: NotFoundError: plan 'photos' does not exist");
  });

  it('status reads the deployed state table named in the restore function’s configuration', async () => {
    // Prepare
    lambda.on(GetFunctionConfigurationCommand).resolves({
      Environment: {
        Variables: {
          STRONGBOX_PRIMARY_REGION: 'us-east-1',
          STRONGBOX_STATE_TABLE: 'strongbox-prod-state',
          STRONGBOX_VAULT_BUCKET: 'strongbox-prod-vault-111122223333-us-east-1',
          STRONGBOX_COPY_VAULTS: 'eu-west-1=strongbox-prod-vault-111122223333-eu-west-1',
          STRONGBOX_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
          STRONGBOX_SNAPSHOT_QUEUE_URL:
            'https://sqs.us-east-1.amazonaws.com/111122223333/strongbox-prod-snapshot',
          STRONGBOX_COPY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/strongbox-prod-copy',
          STRONGBOX_VERIFY_QUEUE_URL:
            'https://sqs.us-east-1.amazonaws.com/111122223333/strongbox-prod-verify',
          STRONGBOX_PRUNE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/strongbox-prod-prune',
        },
      },
    });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    // Act
    await buildCli().parseAsync(['node', 'strongbox', '--stage', 'prod', 'status']);
    // Assess
    expect(lambda.commandCalls(GetFunctionConfigurationCommand)[0]?.args[0].input.FunctionName).toBe(
      'strongbox-prod-restore',
    );
    expect(dynamo.commandCalls(QueryCommand)[0]?.args[0].input.TableName).toBe('strongbox-prod-state');
    expect(out.join('\n')).toContain('no plans yet');
  });

  it('names the stage and region when the stage is not deployed there', async () => {
    lambda
      .on(GetFunctionConfigurationCommand)
      .rejects(new ResourceNotFoundException({ message: 'Function not found', $metadata: {} }));
    await expect(
      buildCli().parseAsync([
        'node',
        'strongbox',
        '--stage',
        'qa',
        '--aws-region',
        'us-west-2',
        'plans',
        'list',
      ]),
    ).rejects.toThrow("no function strongbox-qa-restore in us-west-2: is stage 'qa' deployed there?");
  });
});
