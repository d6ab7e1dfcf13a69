/**
 * A fault-injecting HTTP proxy in front of an S3 endpoint (the Toxiproxy idea, in a few lines): it
 * forwards every request unchanged, except that a matching request is answered with an S3 error
 * instead, as many times as the fault says. The functions under test see real S3 error responses
 * on the wire, so the SDK's retries and the handlers' retry/DLQ decisions run as they would on AWS.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Answer `times` requests matching `method` and `path` with `status` and an S3 error `code`. */
export interface Fault {
  method: string;
  path: RegExp;
  times: number;
  status: number;
  code: string;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: use it as the S3 endpoint. */
  url: string;
  /** Add a fault; it is used up after `times` matching requests. */
  inject(fault: Fault): void;
  /** Requests answered with an injected error so far, as `METHOD path`. */
  readonly injected: string[];
  clear(): void;
  stop(): Promise<void>;
}

/** Start a proxy on a free loopback port forwarding to `target` (`http://127.0.0.1:<port>`). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let faults: Fault[] = [];
  const injected: string[] = [];
  const server: Server = createServer((req, res) => {
    const fault = faults.find((f) => f.times > 0 && f.method === req.method && f.path.test(req.url ?? ''));
    if (fault) {
      fault.times -= 1;
      injected.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test</Message></Error>`,
        );
      });
      return;
    }
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    inject: (fault) => faults.push({ ...fault }),
    injected,
    clear: () => {
      faults = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
