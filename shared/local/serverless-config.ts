/**
 * serverless.yml, resolved: `osls print --format json` resolves `${self:…}`, `${sls:stage}`,
 * `${param:…}` offline, so the embedded stack reads the same description that deploys to AWS.
 * CloudFormation intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`) stay as objects;
 * {@link resolveIntrinsics} replaces them with the local resources' names, URLs and ARNs.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

const run = promisify(execFile);

const EventSchema = z.looseObject({
  schedule: z
    .union([
      z.string(),
      z.looseObject({ rate: z.union([z.string(), z.array(z.string())]), enabled: z.boolean().optional() }),
    ])
    .optional(),
  s3: z
    .looseObject({
      bucket: z.string(),
      event: z.string(),
      rules: z.array(z.record(z.string(), z.string())).optional(),
    })
    .optional(),
  sqs: z
    .looseObject({
      arn: z.unknown(),
      batchSize: z.number().int().min(1).max(10_000).default(10),
      functionResponseType: z.string().optional(),
      maximumConcurrency: z.number().int().min(2).optional(),
    })
    .optional(),
  /** A DynamoDB (or Kinesis) stream's event source mapping; Lambda's defaults where absent. */
  stream: z
    .union([
      z.string(),
      z.looseObject({
        arn: z.unknown(),
        type: z.enum(['dynamodb', 'kinesis']).optional(),
        batchSize: z.number().int().min(1).max(10_000).default(100),
        startingPosition: z.enum(['TRIM_HORIZON', 'LATEST']).default('TRIM_HORIZON'),
        maximumRetryAttempts: z.number().int().min(-1).max(10_000).default(-1),
        bisectBatchOnFunctionError: z.boolean().default(false),
        functionResponseType: z.string().optional(),
        enabled: z.boolean().optional(),
        destinations: z.looseObject({ onFailure: z.unknown() }).optional(),
      }),
    ])
    .optional(),
});

const FunctionSchema = z.looseObject({
  handler: z.string(),
  timeout: z.number().optional(),
  memorySize: z.number().int().optional(),
  environment: z.record(z.string(), z.unknown()).optional(),
  events: z.array(EventSchema).default([]),
  /** Retries of a failed asynchronous invocation (Lambda's default: 2). */
  maximumRetryAttempts: z.number().int().min(0).max(2).optional(),
  /** `onFailure`: an ARN, or `{ type: sqs | sns | function | eventBus, arn }` (intrinsics unresolved). */
  destinations: z
    .looseObject({ onSuccess: z.unknown().optional(), onFailure: z.unknown().optional() })
    .optional(),
});

/** The parts of the resolved serverless.yml the embedded stack uses. */
export const ServerlessConfigSchema = z.looseObject({
  service: z.string(),
  params: z.looseObject({ default: z.record(z.string(), z.unknown()).default({}) }).optional(),
  provider: z.looseObject({
    region: z.string().default('us-east-1'),
    stage: z.string().default('dev'),
    timeout: z.number().default(6),
    /** MB; Serverless Framework v3's default when absent. */
    memorySize: z.number().int().default(1024),
    environment: z.record(z.string(), z.unknown()).default({}),
  }),
  functions: z.record(z.string(), FunctionSchema),
  resources: z.looseObject({
    Resources: z.record(
      z.string(),
      z.looseObject({ Type: z.string(), Properties: z.record(z.string(), z.unknown()).default({}) }),
    ),
  }),
});
export type ServerlessConfig = z.infer<typeof ServerlessConfigSchema>;
export type ServerlessFunction = ServerlessConfig['functions'][string];

/**
 * Resolve serverless.yml with osls, offline.
 * @param root the project root (where serverless.yml is).
 * @param options stage and `--param` overrides.
 */
export async function readServerlessConfig(
  root: string,
  options: { stage?: string; params?: Record<string, string> } = {},
): Promise<ServerlessConfig> {
  const require = createRequire(join(root, 'package.json'));
  const bin = join(dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js');
  const args = [bin, 'print', '--format', 'json'];
  if (options.stage) args.push('--stage', options.stage);
  for (const [k, v] of Object.entries(options.params ?? {})) args.push('--param', `${k}=${v}`);
  const { stdout } = await run(process.execPath, args, {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
    env: {
      ...process.env,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    },
  });
  return ServerlessConfigSchema.parse(JSON.parse(stdout));
}

/** What `Ref` and `Fn::GetAtt … Arn` mean for each logical id (and pseudo parameter), locally. */
export interface LocalRefs {
  ref: Record<string, string>;
  arn: Record<string, string>;
}

/** The account id the embedded stack pretends to run in. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** `Ref`s of CloudFormation's pseudo parameters, locally (e.g. in `!Sub '…-${AWS::AccountId}'`). */
export function localPseudoParameters(region: string, stackName: string): Record<string, string> {
  return {
    'AWS::AccountId': LOCAL_ACCOUNT_ID,
    'AWS::Region': region,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': stackName,
  };
}

/**
 * Replace CloudFormation intrinsics with local values: `{Ref: X}` → refs.ref[X],
 * `{'Fn::GetAtt': [X, 'Arn']}` → refs.arn[X], `Fn::Sub` (string or [string, variables]; `${X}`,
 * `${X.Arn}`, `${!Literal}`) and `Fn::Join`. Other values pass through; strings stay strings.
 * @throws Error naming an intrinsic the stack cannot resolve.
 */
export function resolveIntrinsics(value: unknown, refs: LocalRefs): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, refs));
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if ('Fn::Sub' in obj && Object.keys(obj).length === 1) return resolveSub(obj['Fn::Sub'], refs);
    if ('Fn::Join' in obj && Object.keys(obj).length === 1) {
      const [delimiter, list] = obj['Fn::Join'] as [string, unknown];
      const items = resolveIntrinsics(list, refs);
      if (!Array.isArray(items)) throw new Error('serverless.yml: Fn::Join needs a list locally');
      return items.map(String).join(delimiter);
    }
    if ('Ref' in obj && Object.keys(obj).length === 1) {
      const id = String(obj.Ref);
      const found = refs.ref[id];
      if (found === undefined) throw new Error(`serverless.yml: cannot resolve { Ref: ${id} } locally`);
      return found;
    }
    if ('Fn::GetAtt' in obj && Object.keys(obj).length === 1) {
      const [id, attr] = obj['Fn::GetAtt'] as [string, string];
      const found = attr === 'Arn' ? refs.arn[id] : undefined;
      if (found === undefined)
        throw new Error(`serverless.yml: cannot resolve { Fn::GetAtt: [${id}, ${attr}] } locally`);
      return found;
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveIntrinsics(v, refs)]));
  }
  return value;
}

function resolveSub(argument: unknown, refs: LocalRefs): string {
  const [template, variables] =
    typeof argument === 'string' ? [argument, {}] : (argument as [string, object]);
  const locals = resolveIntrinsics(variables ?? {}, refs) as Record<string, unknown>;
  return String(template).replace(/\$\{(!?)([^}]+)\}/g, (_, literal: string, name: string) => {
    if (literal) return `\${${name}}`;
    if (name in locals) return String(locals[name]);
    const dot = name.includes('::') ? -1 : name.indexOf('.');
    const intrinsic = dot < 0 ? { Ref: name } : { 'Fn::GetAtt': [name.slice(0, dot), name.slice(dot + 1)] };
    return String(resolveIntrinsics(intrinsic, refs));
  });
}

/** The rate expressions of a `schedule` event, in any of the forms Serverless accepts. */
export function scheduleExpressions(event: z.infer<typeof EventSchema>['schedule']): string[] {
  if (!event) return [];
  if (typeof event === 'string') return [event];
  if (event.enabled === false) return [];
  return Array.isArray(event.rate) ? event.rate : [event.rate];
}

/**
 * The SQS queue ARN of a function's `destinations.onFailure`, intrinsics resolved; undefined when it
 * has none.
 * @throws Error for a destination other than an SQS queue (the embedded stack plays only those).
 */
export function onFailureQueueArn(fn: ServerlessFunction, refs: LocalRefs): string | undefined {
  const target = fn.destinations?.onFailure;
  if (target === undefined) return undefined;
  const isObject = typeof target === 'object' && target !== null;
  const arn = String(resolveIntrinsics(isObject ? (target as { arn: unknown }).arn : target, refs));
  const type = isObject ? (target as { type?: unknown }).type : undefined;
  if (type === 'sqs' || (type === undefined && arn.startsWith('arn:') && arn.includes(':sqs:'))) return arn;
  throw new Error(`serverless.yml: the embedded stack plays only SQS on-failure destinations, not ${arn}`);
}
