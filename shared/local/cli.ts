/**
 * `strongbox`: the command line for the embedded stack (and, through the same use cases, for a
 * deployment). `npm start` runs `strongbox start`; other commands talk to the running stack.
 *
 *   strongbox start [--data-dir DIR]              start the embedded stack and keep it running
 *   strongbox plans apply FILE                    validate and store plans (YAML)
 *   strongbox plans list
 *   strongbox backup PLAN                         start an on-demand snapshot
 *   strongbox status [PLAN]                       plans, snapshots, jobs and their tasks
 *   strongbox restore --plan P --target-bucket B  restore a snapshot (see --help)
 *
 * With `--stage STAGE [--aws-region REGION]` the same commands talk to a deployed stack instead
 * (AWS credentials from the environment): plans, backup and status use its state table and queues
 * (their names come from the restore function's configuration), and restore invokes the deployed
 * restore function, so the restore runs with that function's role and nothing else.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { Command, InvalidArgumentError } from 'commander';
import YAML from 'yaml';
import { applyPlans } from '#domain/apply-plans.ts';
import { StrongboxError } from '#domain/errors.ts';
import { type RestoreReport, type RestoreRequest, restoreSnapshot } from '#domain/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { loadConfig } from '#runtime/config.ts';
import { type Container, createContainer } from '#runtime/container.ts';
import { formatBytes, formatSeconds, formatTable } from './format.ts';
import { PROJECT_ROOT, startLocalStack } from './stack.ts';

const DEFAULT_DATA_DIR = join(PROJECT_ROOT, '.strongbox', 'data');

interface StackFile {
  pid: number;
  endpoints: Record<string, unknown>;
  env: Record<string, Record<string, string>>;
}

/** A deployed stack: its stage and primary region (`--stage`, `--aws-region`). */
interface Deployment {
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
async function connectDeployed({ stage, region }: Deployment): Promise<Container> {
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

/** Invoke the deployed restore function with a restore request and return its report. */
export async function invokeRestore(
  deployment: Deployment,
  request: RestoreRequest,
  client = new LambdaClient({ region: deployment.region }),
): Promise<RestoreReport> {
  const functionName = restoreFunctionName(deployment.stage);
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
  if (typeof payload.snapshotId !== 'string') {
    throw new StrongboxError(`${functionName} returned no restore report: ${text.slice(0, 500)}`);
  }
  return payload as unknown as RestoreReport;
}

async function connect(dataDir: string, deployment?: Deployment): Promise<Container> {
  if (deployment) return connectDeployed(deployment);
  let file: StackFile;
  try {
    file = JSON.parse(await readFile(join(dataDir, 'stack.json'), 'utf8')) as StackFile;
  } catch {
    throw new StrongboxError(`no embedded stack is running for ${dataDir}: start one with 'npm start'`);
  }
  try {
    process.kill(file.pid, 0);
  } catch {
    throw new StrongboxError(
      `the embedded stack (pid ${file.pid}) is not running any more: start it with 'npm start'`,
    );
  }
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  return createContainer(loadConfig(file.env.restore));
}

/** `strongbox status`: plans, their snapshots and recent jobs. */
export async function printStatus(c: Container, planId?: string): Promise<void> {
  const { catalog } = c.pipeline;
  const plans = (await catalog.listPlans()).filter((p) => !planId || p.id === planId);
  if (plans.length === 0) {
    console.log(
      planId ? `no plan '${planId}'` : "no plans yet: apply some with 'strongbox plans apply FILE'",
    );
    return;
  }
  for (const plan of plans) {
    console.log(
      `\nplan ${plan.id}: s3://${plan.source.bucket}/${plan.source.prefix}  ${plan.schedule}  copies: ${plan.copyRegions.join(', ') || 'none'}${plan.enabled ? '' : '  (disabled)'}`,
    );
    const snapshots = await catalog.listSnapshots(plan.id);
    console.log(
      formatTable(
        ['snapshot', 'status', 'objects', 'size', 'copies', 'verification', 'error'],
        snapshots.map((s) => [
          s.snapshotId,
          s.status,
          s.objectCount ?? '-',
          s.logicalBytes === undefined ? '-' : formatBytes(s.logicalBytes),
          Object.entries(s.regions ?? {})
            .map(([r, x]) => `${r}:${x.status}`)
            .join(' ') || '-',
          s.verification?.status ?? '-',
          s.error ?? '',
        ]),
      ),
    );
    const jobs = (await catalog.listJobs(plan.id)).slice(-5);
    for (const job of jobs) {
      const tasks = await catalog.listTasks(job.jobId);
      const line = tasks
        .map(
          (t) =>
            `${t.taskId}:${t.status}${t.attempts > 1 ? `(x${t.attempts})` : ''}${t.progress ? ` ${t.progress.done}/${t.progress.total ?? '?'}` : ''}`,
        )
        .join('  ');
      console.log(`  job ${job.jobId} ${job.status}  ${line}${job.error ? `  reason: ${job.error}` : ''}`);
    }
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function buildCli(): Command {
  const program = new Command('strongbox')
    .description('Strongbox: serverless backups for S3, on the embedded stack')
    .option('--data-dir <dir>', 'state of the embedded stack', DEFAULT_DATA_DIR)
    .option('--stage <stage>', 'talk to this deployed stage instead (AWS credentials from the environment)')
    .option(
      '--aws-region <region>',
      'primary region of the deployed stage',
      process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    )
    .showHelpAfterError();
  const dataDir = () => resolve(program.opts<{ dataDir: string }>().dataDir);
  const deployment = (): Deployment | undefined => {
    const { stage, awsRegion } = program.opts<{ stage?: string; awsRegion: string }>();
    return stage ? { stage, region: awsRegion } : undefined;
  };

  program
    .command('start')
    .description('start the embedded stack (S3, SQS, DynamoDB, the functions) and keep it running')
    .option(
      '--port <port>',
      'port of the primary region S3+SQS endpoint (the copy region uses the next one)',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port');
        return n;
      },
      4566,
    )
    .option('--log-level <level>', 'functions log level', 'INFO')
    .action(async (opts: { port: number; logLevel: string }) => {
      const dir = dataDir();
      const stack = await startLocalStack({
        dataDir: dir,
        ports: { primaryS3Sqs: opts.port, copyS3: opts.port + 1, dynamodb: opts.port + 2 },
        logLevel: opts.logLevel,
      });
      const env = Object.fromEntries(Object.keys(stack.serverless.functions).map((f) => [f, stack.env(f)]));
      await writeFile(
        join(dir, 'stack.json'),
        JSON.stringify({ pid: process.pid, endpoints: stack.endpoints, env }, null, 2),
      );
      console.log(`Strongbox embedded stack running (state in ${dir})`);
      console.log(
        formatTable(
          ['service', 'endpoint'],
          [
            ...Object.entries(stack.endpoints.s3).map(([r, e]) => [`S3 ${r}`, e]),
            ['SQS', stack.endpoints.sqs],
            ['DynamoDB', stack.endpoints.dynamodb],
          ],
        ),
      );
      console.log(`protected bucket(s): ${stack.protectedBuckets.join(', ') || 'none'}`);
      console.log('Ctrl-C stops it.');
      const stop = async () => {
        await rm(join(dir, 'stack.json'), { force: true });
        await stack.stop();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  const plans = program.command('plans').description('manage backup plans');
  plans
    .command('apply <file>')
    .description(
      'validate a YAML plans file and store every plan in it (nothing is written if any is invalid)',
    )
    .action(async (file: string) => {
      const c = await connect(dataDir(), deployment());
      const doc = YAML.parse(await readFile(file, 'utf8')) as unknown;
      const applied = await applyPlans(c.pipeline, doc, [...c.config.copyVaults.keys()]);
      console.log(`applied ${applied.length} plan(s): ${applied.map((p) => p.id).join(', ')}`);
    });
  plans
    .command('list')
    .description('list plans')
    .action(async () => {
      const c = await connect(dataDir(), deployment());
      const all = await c.pipeline.catalog.listPlans();
      console.log(
        formatTable(
          ['plan', 'source', 'schedule', 'retention', 'copies'],
          all.map((p) => [
            p.id,
            `s3://${p.source.bucket}/${p.source.prefix}`,
            p.schedule,
            JSON.stringify(p.retention),
            p.copyRegions.join(',') || '-',
          ]),
        ),
      );
    });

  program
    .command('backup <plan>')
    .description('start an on-demand snapshot of a plan now')
    .action(async (planId: string) => {
      const c = await connect(dataDir(), deployment());
      const job = await startSnapshotNow(c.pipeline, planId);
      console.log(
        `${job.created ? 'started' : 'already running'}: snapshot ${job.snapshotId} of plan ${planId}`,
      );
    });

  program
    .command('status [plan]')
    .description('plans, snapshots, jobs and tasks')
    .action(async (planId?: string) => printStatus(await connect(dataDir(), deployment()), planId));

  program
    .command('restore')
    .description('restore a snapshot (whole or in part) into a bucket')
    .requiredOption('--plan <plan>', 'plan id')
    .option('--snapshot <id>', 'snapshot id, or "latest"', 'latest')
    .option('--point-in-time <iso>', 'restore the newest snapshot taken at or before this ISO-8601 time')
    .requiredOption('--target-bucket <bucket>', 'bucket to write into (never a vault)')
    .option('--target-prefix <prefix>', 'prefix to write under', '')
    .option('--include <glob>', 'only keys matching this glob (repeatable)', collect)
    .option('--region <region>', 'read from this region’s vault')
    .option('--dry-run', 'list what would be restored, write nothing', false)
    .action(
      async (opts: {
        plan: string;
        snapshot: string;
        pointInTime?: string;
        targetBucket: string;
        targetPrefix: string;
        include?: string[];
        region?: string;
        dryRun: boolean;
      }) => {
        const request: RestoreRequest = {
          plan: opts.plan,
          snapshot: opts.snapshot,
          targetBucket: opts.targetBucket,
          targetPrefix: opts.targetPrefix,
          dryRun: opts.dryRun,
          ...(opts.pointInTime ? { pointInTime: opts.pointInTime } : {}),
          ...(opts.include ? { include: opts.include } : {}),
          ...(opts.region ? { region: opts.region } : {}),
        };
        const deployed = deployment();
        let report: RestoreReport;
        if (deployed) {
          process.stderr.write(`invoking ${restoreFunctionName(deployed.stage)} in ${deployed.region}…\n`);
          report = await invokeRestore(deployed, request);
        } else {
          const c = await connect(dataDir());
          report = await restoreSnapshot(c.pipeline, request, ({ objects, total }) => {
            if (objects % 500 === 0 || objects === total)
              process.stderr.write(`\rrestored ${objects}/${total}`);
          });
          if (!opts.dryRun) process.stderr.write('\n');
        }
        for (const key of report.keys ?? []) console.log(key);
        console.log(
          `${opts.dryRun ? 'would restore' : 'restored'} ${report.objects} object(s), ${formatBytes(report.bytes)} from snapshot ${report.snapshotId} (${report.region}) into s3://${report.targetBucket}/${report.targetPrefix} in ${formatSeconds(report.seconds)}`,
        );
      },
    );

  return program;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(`strongbox: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
}
