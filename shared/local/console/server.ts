/**
 * The web console's server: `node:http` on 127.0.0.1 only, the UI's bundle (./assets.ts) and a JSON
 * API over the same use cases as the CLI, with the connection the CLI has (the embedded stack, or a
 * deployed stage with the operator's own credentials). There is no public endpoint:
 *
 * - it listens on loopback only;
 * - every API request carries the token the server made at start (the URL it prints holds it after
 *   `#token=`, which the browser never sends; the UI sends it as the `x-strongbox-token` header), so
 *   another local user, or a web page the operator visits, cannot call it;
 * - the `Host` header must name loopback (no DNS rebinding), a request with an `Origin` must come from
 *   the console's own, and a POST must be `application/json` (no form posted across sites);
 * - pages may not be framed, and scripts come from the console only (Content-Security-Policy).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SqsDeadLetterQueues } from '#adapters/sqs-dead-letters.ts';
import { NotFoundError, StrongboxError, ValidationError } from '#domain/errors.ts';
import type { Container } from '#runtime/container.ts';
import type { Deployment } from '../cli/deployed.ts';
import { invokeRestore } from '../cli/deployed.ts';
import { localHistory, remoteHistory } from '../history.ts';
import type { Asset } from './assets.ts';
import { buildConsoleAssets } from './assets.ts';
import { ConsoleRestores, inProcessRunner } from './restores.ts';
import { type ApiContext, routeApi } from './routes.ts';

/** The console's port unless told otherwise (the embedded stack's are 4566–4568). */
export const DEFAULT_CONSOLE_PORT = 4570;
/** Largest request body accepted, in bytes (a restore of listed keys can be long). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const HOST = '127.0.0.1';

/** Options of {@link startConsole}. */
export interface ConsoleOptions {
  /** The connection: the embedded stack's container, or a deployed stage's. */
  container: Container;
  /** A deployed stage: restores run in its restore function. Absent: the embedded stack. */
  deployment?: Deployment;
  /** Port on 127.0.0.1; 0 takes any free one. @default 4570 */
  port?: number;
  /** The API token. @default 24 random bytes, hex */
  token?: string;
}

/** A console being served. */
export interface RunningConsole {
  /** What to open: `http://127.0.0.1:PORT/#token=…`. */
  url: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * Bundle the UI and serve the console on 127.0.0.1.
 * @returns the running console; `close()` stops it.
 * @throws StrongboxError when the port is taken (naming it and `--console-port`) or the UI does not build.
 * @example
 * ```ts
 * const console = await startConsole({ container: await connect(dataDir), port: 4570 });
 * process.stdout.write(`console: ${console.url}\n`); // console: http://127.0.0.1:4570/#token=9f…
 * ```
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const assets = await buildConsoleAssets();
  const token = options.token ?? randomBytes(24).toString('hex');
  const { container, deployment } = options;
  const { config, pipeline } = container;
  const context: ApiContext = {
    deps: pipeline,
    // A deployed stage's manifests are opened by its browse function: only function roles decrypt.
    history: deployment ? remoteHistory(deployment) : localHistory(pipeline),
    target: deployment ? `stage ${deployment.stage} (${deployment.region})` : 'embedded stack',
    regions: { primaryRegion: config.primaryRegion, copyRegions: [...config.copyVaults.keys()] },
    deadLetters: new SqsDeadLetterQueues(container.sqs, config.queueUrls),
    restores: new ConsoleRestores(
      deployment ? (request) => invokeRestore(deployment, request) : inProcessRunner(pipeline),
      pipeline.catalog,
    ),
  };
  let port = 0;
  const server = createServer((req, res) => {
    handle(req, res, { assets, token, port, context }).catch((error: unknown) => sendError(res, error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new StrongboxError(
              `the console's port ${options.port ?? DEFAULT_CONSOLE_PORT} is in use: choose another with --console-port (or --port for 'strongbox console'; 0 takes any free one)`,
            )
          : error,
      ),
    );
    server.listen(options.port ?? DEFAULT_CONSOLE_PORT, HOST, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const origin = `http://${HOST}:${port}`;
  return {
    url: `${origin}/#token=${token}`,
    origin,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Served {
  assets: Map<string, Asset>;
  token: string;
  port: number;
  context: ApiContext;
}

async function handle(req: IncomingMessage, res: ServerResponse, served: Served): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://console');
  const refusal = refusalOf(req, served);
  if (refusal) return sendJson(res, refusal.status, { error: refusal.error });
  if (!url.pathname.startsWith('/api/')) {
    const asset = req.method === 'GET' || req.method === 'HEAD' ? served.assets.get(url.pathname) : undefined;
    if (!asset) return sendJson(res, 404, { error: `no ${url.pathname} here` });
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': asset.contentType,
      'content-length': asset.body.length,
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return;
  }
  if (!tokenMatches(req.headers['x-strongbox-token'], served.token))
    return sendJson(res, 401, {
      error: 'missing or wrong console token: open the console with the URL its server printed (…/#token=…)',
    });
  const body = req.method === 'POST' ? await readJson(req) : undefined;
  const answer = await routeApi(served.context, req.method ?? 'GET', url.pathname, url.searchParams, body);
  sendJson(res, answer.status ?? 200, answer.body);
}

/** Why a request is refused before it is looked at: a foreign Host or Origin, a POST not JSON. */
function refusalOf(req: IncomingMessage, served: Served): { status: number; error: string } | undefined {
  const loopback = [`127.0.0.1:${served.port}`, `localhost:${served.port}`, `[::1]:${served.port}`];
  if (!loopback.includes(req.headers.host ?? ''))
    return { status: 403, error: `Host '${req.headers.host}' is not the console's (loopback only)` };
  const origin = req.headers.origin;
  if (origin !== undefined && !loopback.some((h) => origin === `http://${h}`))
    return { status: 403, error: `requests from ${origin} are refused` };
  if (req.method === 'POST' && !/^application\/json\b/.test(req.headers['content-type'] ?? ''))
    return { status: 415, error: 'POST a JSON body (content-type: application/json)' };
  return undefined;
}

function tokenMatches(given: string | string[] | undefined, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > MAX_BODY_BYTES) throw new ValidationError(`the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('the request body is not JSON');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** An error as the API answers it: 400 invalid input, 404 not found, 503 retryable, 500 otherwise. */
function sendError(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  let status = 500;
  if (error instanceof ValidationError) status = 400;
  else if (error instanceof NotFoundError) status = 404;
  else if (error instanceof StrongboxError) status = error.retryable ? 503 : 422;
  sendJson(res, status, { error: message });
}
