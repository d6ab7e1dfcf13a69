/**
 * `strongbox console [--port N]`: the web console on loopback, against the running embedded stack or,
 * with `--stage NAME`, a deployed stage with the operator's own AWS credentials (restores run in the
 * stage's restore function, as `strongbox restore --stage` runs them). `strongbox start` serves it too.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_CONSOLE_PORT, type RunningConsole, startConsole } from '../console/server.ts';
import { type CliContext, connect } from './context.ts';

/** Option parser of a port: 0 (any free one) to 65535. */
export function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port (0-65535)');
  return n;
}

/** The line that tells where the console is. */
export function consoleLine(running: RunningConsole): string {
  return `console: ${running.url}`;
}

export function registerConsole(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('console')
    .description(
      'serve the web console on 127.0.0.1 (plans and RPO, snapshot timeline, jobs, DLQs, browse, search, diff, restore, cost); with --stage, for a deployed stage with your own AWS credentials',
    )
    .option('--port <port>', 'port on 127.0.0.1 (0: any free one)', portNumber, DEFAULT_CONSOLE_PORT)
    .action(async (opts: { port: number }) => {
      const deployed = deployment();
      const container = await connect(dataDir(), deployed);
      const running = await startConsole({
        container,
        port: opts.port,
        ...(deployed ? { deployment: deployed } : {}),
      });
      console.log(
        `Strongbox console for ${deployed ? `stage ${deployed.stage} (${deployed.region})` : `the embedded stack in ${dataDir()}`}`,
      );
      console.log(consoleLine(running));
      console.log('Open that URL (it carries the access token). Ctrl-C stops it.');
      await new Promise<void>((resolve) => {
        const stop = () => {
          running.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
