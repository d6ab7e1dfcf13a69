/** `strongbox start`: run the embedded stack (and the web console) in this process until Ctrl-C. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_CONSOLE_PORT, type RunningConsole, startConsole } from '../console/server.ts';
import { formatTable } from '../format.ts';
import { startLocalStack } from '../stack.ts';
import { consoleLine, portNumber } from './console.ts';
import type { CliContext } from './context.ts';
import { writeStackFile } from './context.ts';

/** The options of `strongbox start`, as commander parses them. */
interface StartOptions {
  port: number;
  logLevel: string;
  consolePort: number;
  console: boolean;
  isolatedVault?: string;
}

/**
 * `start [--port P] [--log-level L] [--console-port N | --no-console]`: start the stack, serve the
 * web console on 127.0.0.1, and write its stack.json for the other commands.
 */
export function registerStart(program: Command, { dataDir }: CliContext): void {
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
    .option(
      '--console-port <port>',
      'port of the web console on 127.0.0.1 (0: any free one)',
      portNumber,
      DEFAULT_CONSOLE_PORT,
    )
    .option('--no-console', 'do not serve the web console')
    .option(
      '--isolated-vault <name>',
      'also run an isolated vault of this name on an S3 endpoint of its own (port +3), for plans’ isolatedVaults',
    )
    .action(async (opts: StartOptions) => {
      const dir = dataDir();
      const stack = await startLocalStack({
        dataDir: dir,
        ports: {
          primaryS3Sqs: opts.port,
          copyS3: opts.port + 1,
          dynamodb: opts.port + 2,
          isolatedS3: opts.port + 3,
        },
        logLevel: opts.logLevel,
        ...(opts.isolatedVault ? { isolatedVault: { name: opts.isolatedVault } } : {}),
      });
      let served: RunningConsole | undefined;
      try {
        if (opts.console)
          served = await startConsole({ container: stack.container(), port: opts.consolePort });
      } catch (error) {
        await stack.stop();
        throw error;
      }
      await writeStackFile(stack, dir);
      console.log(`Strongbox embedded stack running (state in ${dir})`);
      console.log(
        formatTable(
          ['service', 'endpoint'],
          [
            ...Object.entries(stack.endpoints.s3).map(([r, e]) => [`S3 ${r}`, e]),
            ['SQS', stack.endpoints.sqs],
            ['DynamoDB', stack.endpoints.dynamodb],
            ...(stack.isolatedVault
              ? [[`S3 isolated vault ${stack.isolatedVault.name}`, stack.isolatedVault.endpoint]]
              : []),
          ],
        ),
      );
      console.log(`protected bucket(s): ${stack.protectedBuckets.join(', ') || 'none'}`);
      if (served) console.log(consoleLine(served));
      console.log('Ctrl-C stops it.');
      const stop = async () => {
        await rm(join(dir, 'stack.json'), { force: true });
        await served?.close();
        await stack.stop();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
