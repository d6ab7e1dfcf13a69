// The web console's parts that need no emulator: dedup and compression per snapshot, the reasons of
// dead letters, and what the server refuses (foreign Host or Origin, no token, a POST not JSON).
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CostInputs } from '#domain/cost.ts';
import { type DeadLetter, DLQ_REASON_ATTRIBUTE, describeDeadLetters } from '#domain/dead-letters.ts';
import type { JobRecord, TaskRecord } from '#domain/records.ts';
import { snapshotEfficiency } from '#local/console/efficiency.ts';
import { type RunningConsole, startConsole } from '#local/console/server.ts';
import type { Container } from '#runtime/container.ts';
import { DLQ_REASON_ATTRIBUTE as RUNTIME_DLQ_REASON_ATTRIBUTE } from '#runtime/sqs-task-handler.ts';

describe('snapshotEfficiency', () => {
  // Prepare: two snapshots sharing blob a; the second adds c. Blob b is in no index (unlocated).
  const inputs: CostInputs = {
    plans: [
      {
        planId: 'photos',
        snapshots: [
          {
            snapshotId: 's2',
            logicalBytes: 300,
            regions: ['us-east-1'],
            rootKey: 'r2',
            partIds: ['p1', 'p2'],
          },
          {
            snapshotId: 's1',
            logicalBytes: 200,
            regions: ['us-east-1'],
            rootKey: 'r1',
            partIds: ['p1', 'p3'],
          },
        ],
        parts: new Map([
          ['p1', { key: 'k1', blobs: ['a'] }],
          ['p2', { key: 'k2', blobs: ['c'] }],
          ['p3', { key: 'k3', blobs: ['a', 'b'] }],
        ]),
        unreadable: [],
      },
    ],
    vaults: [
      {
        region: 'us-east-1',
        bucket: 'vault',
        objects: [],
        blobs: new Map([
          ['a', { packId: 'x', lengthBytes: 10, sizeBytes: 100 }],
          ['c', { packId: 'x', lengthBytes: 20, sizeBytes: 50 }],
        ]),
      },
    ],
  };

  it('measures each snapshot after dedup and compression, and what it added to the previous one by time', () => {
    // Act
    const [s1, s2] = snapshotEfficiency(inputs, 'photos', 'us-east-1', ['s1', 's2']);
    // Assess
    expect(s1).toMatchObject({
      snapshotId: 's1',
      uniqueBlobs: 2,
      uniquePlaintextBytes: 100,
      sealedBytes: 10,
      newSealedBytes: 10,
      dedupRatio: 2,
      compressionRatio: 10,
      unlocatedBlobs: 1,
    });
    expect(s2).toMatchObject({
      snapshotId: 's2',
      uniquePlaintextBytes: 150,
      sealedBytes: 30,
      newBlobs: 1,
      newSealedBytes: 20,
    });
  });

  it('is empty for a region that holds none of them', () => {
    expect(snapshotEfficiency(inputs, 'photos', 'eu-west-1', ['s1', 's2'])).toEqual([]);
  });
});

describe('describeDeadLetters', () => {
  const letter = (body: string, extra: Partial<DeadLetter> = {}): DeadLetter => ({
    messageId: body.slice(0, 8),
    body,
    receives: 4,
    ...extra,
  });
  const task: TaskRecord = {
    jobId: 'photos/s1',
    taskId: 'copy:eu-west-1',
    status: 'FAILED',
    attempts: 3,
    error: 'SlowDown (failed 3 times)',
  };
  const catalog = {
    listTasks: async (jobId: string) => (jobId === 'photos/s1' ? [task] : []),
    getJob: async (): Promise<JobRecord | undefined> => undefined,
    getRestoreJob: async () => undefined,
  };

  it('gives the poison reason, else the failure the job recorded, else what is known', async () => {
    // Prepare
    const queues = {
      peek: async () => [
        letter('not json', { reasonAttribute: 'task body is not JSON' }),
        letter(JSON.stringify({ kind: 'copy', planId: 'photos', snapshotId: 's1', region: 'eu-west-1' })),
        letter(JSON.stringify({ kind: 'verify', planId: 'photos', snapshotId: 's9' })),
      ],
    };
    // Act
    const described = await describeDeadLetters(queues, catalog, 'copy', 10);
    // Assess
    expect(described.map((d) => [d.kind, d.subject, d.reason])).toEqual([
      [undefined, undefined, 'task body is not JSON'],
      ['copy', 'job photos/s1', 'SlowDown (failed 3 times)'],
      ['verify', 'job photos/s9', 'no reason recorded: moved by SQS after 4 receive(s)'],
    ]);
  });

  it('reads the reason attribute the handlers set', () => {
    expect(DLQ_REASON_ATTRIBUTE).toBe(RUNTIME_DLQ_REASON_ATTRIBUTE);
  });
});

describe('the console server', () => {
  let served: RunningConsole;
  const container = {
    config: { primaryRegion: 'us-east-1', copyVaults: new Map(), queueUrls: {} },
    pipeline: {
      catalog: { listPlans: async () => [], getPlan: async () => undefined },
      clock: { now: () => new Date('2026-12-01T00:00:00Z') },
    },
    sqs: {},
  } as unknown as Container;
  const call = (
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ) =>
    fetch(`${served.origin}${path}`, init).then(async (r) => ({
      status: r.status,
      headers: r.headers,
      body: await r.text(),
    }));

  beforeAll(async () => {
    served = await startConsole({ container, port: 0, token: 'abc123' });
  }, 30_000);
  afterAll(() => served?.close());

  it('prints a loopback URL that carries the token after #, which browsers never send', () => {
    expect(served.url).toBe(`http://127.0.0.1:${served.port}/#token=abc123`);
  });

  it('says which option to use when its port is taken', async () => {
    await expect(startConsole({ container, port: served.port })).rejects.toThrow(
      `the console's port ${served.port} is in use: choose another with --console-port`,
    );
  });

  it('serves the page and its bundle with a strict Content-Security-Policy, no token needed', async () => {
    const page = await call('/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script type="module" src="/app.js">');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect((await call('/app.js')).status).toBe(200);
    expect((await call('/app.css')).body).toContain('.uplot');
  });

  it('answers the API only with the token', async () => {
    expect((await call('/api/overview')).status).toBe(401);
    expect((await call('/api/overview', { headers: { 'x-strongbox-token': 'abc124' } })).status).toBe(401);
    const ok = await call('/api/overview', { headers: { 'x-strongbox-token': 'abc123' } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ target: 'embedded stack', plans: [] });
  });

  it('refuses another Host (DNS rebinding), another Origin, and a POST that is not JSON', async () => {
    const token = { 'x-strongbox-token': 'abc123' };
    // fetch sets Host itself: a plain request sends the one a rebound name would.
    const rebound = await new Promise<{ status: number }>((resolve, reject) => {
      request(
        {
          host: '127.0.0.1',
          port: served.port,
          path: '/api/overview',
          headers: { ...token, host: 'attacker.example' },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0 });
        },
      )
        .on('error', reject)
        .end();
    });
    expect(rebound.status).toBe(403);
    const crossSite = await call('/api/restores', {
      method: 'POST',
      headers: { ...token, origin: 'https://attacker.example', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(crossSite.status).toBe(403);
    const form = await call('/api/restores', {
      method: 'POST',
      headers: { ...token, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(form.status).toBe(415);
  });

  it('says what is wrong with a request: 400 naming the field, 404 for what does not exist', async () => {
    const headers = { 'x-strongbox-token': 'abc123', 'content-type': 'application/json' };
    const invalid = await call('/api/restores', { method: 'POST', headers, body: '{"request":{"plan":""}}' });
    expect(invalid.status).toBe(400);
    expect(JSON.parse(invalid.body).error).toMatch(/^request\.plan: /);
    const missing = await call('/api/plans/nope/timeline', { headers });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error).toBe("plan 'nope' does not exist");
    expect((await call('/api/nothing', { headers })).status).toBe(404);
  });
});
