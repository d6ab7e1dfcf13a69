// `strongbox ls|diff|find|versions|serve-s3 --stage NAME`: the CLI asks the stage's browse function, page by page,
// and prints what it prints for the embedded stack. The function runs here on the memory pipeline,
// behind a mocked Lambda client that hands it the invocation's payload as AWS would; serve-s3 --stage
// listens on loopback.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { answerBrowse, type TreePage } from '#domain/browse/remote.ts';
import { openTree } from '#domain/browse/tree.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { buildCli } from '#local/cli/index.ts';
import { remoteHistory } from '#local/history.ts';
import { RemoteTree } from '#local/remote-tree.ts';
import { serveS3 } from '#local/serve-s3.ts';
import { PROJECT_ROOT } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { makeHandler } from '../../functions/browse.ts';
import { testConfig } from '../support/config.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

const lambda = mockClient(LambdaClient);
const KEYS = [
  'a b/1.txt',
  'a b/2.txt',
  'docs/ünï.txt',
  ...Array.from({ length: 9 }, (_, i) => `logs/${i}.log`),
];

let p: MemoryPipeline;
let first: string;
let second: string;
let out: string[];

async function snapshot(): Promise<string> {
  const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
  await p.drain();
  p.clock.advance(3600_000);
  return snapshotId;
}

beforeEach(async () => {
  p = memoryPipeline();
  await p.catalog.putPlans([plan({ copyRegions: [] })]);
  for (const key of KEYS) await putText(p, key, `content of ${key}`);
  first = await snapshot();
  await putText(p, 'docs/ünï.txt', 'changed');
  await putText(p, 'new.txt', 'new');
  second = await snapshot();
  const container: Container = {
    config: testConfig({}),
    pipeline: p.deps,
    sqs: new SQSClient({ region: 'us-east-1' }),
    logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
    metrics: silentMetrics(),
  };
  const handler = makeHandler(container);
  lambda.reset();
  lambda.on(InvokeCommand).callsFake(async (input: { FunctionName: string; Payload: Uint8Array }) => {
    expect(input.FunctionName).toBe('strongbox-prod-browse');
    const event = JSON.parse(Buffer.from(input.Payload).toString('utf8'));
    try {
      const answer = await handler(event, { functionName: 'browse' } as Context);
      return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(answer)) };
    } catch (error) {
      const payload = { errorType: (error as Error).name, errorMessage: (error as Error).message };
      return {
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      };
    }
  });
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    out.push(args.join(' '));
  });
});

afterEach(() => vi.restoreAllMocks());

const cli = (...args: string[]) => buildCli().parseAsync(['node', 'strongbox', '--stage', 'prod', ...args]);

describe('answerBrowse', () => {
  it('pages a tree: following `next` gives exactly what openTree lists', async () => {
    const keys: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = (await answerBrowse(p.deps, {
        op: 'ls',
        tree: { plan: 'photos' },
        limit: 5,
        ...(after ? { after } : {}),
      })) as TreePage;
      keys.push(...page.entries.map((e) => e.key));
      after = page.next;
      pages += 1;
    } while (after);
    const tree = await openTree(p.deps, { plan: 'photos' });
    const all: string[] = [];
    for await (const e of tree.entries) all.push(e.key);
    expect(keys).toEqual(all);
    expect(pages).toBe(3);
  });

  it('answers the event fixture (events/browse/ls.json): a page of a tree at a point in time', async () => {
    const event = JSON.parse(await readFile(join(PROJECT_ROOT, 'events/browse/ls.json'), 'utf8'));
    const page = (await answerBrowse(p.deps, {
      ...event,
      tree: { ...event.tree, pointInTime: p.clock.now().toISOString() },
    })) as TreePage;
    expect(page.entries).toEqual([]); // nothing under 2026/03/ here: a page, not an error
    expect(page.source.snapshot.snapshotId).toBe(second);
  });

  it('refuses a malformed request, naming the field', async () => {
    await expect(answerBrowse(p.deps, { op: 'ls', tree: {} })).rejects.toThrow(/tree\.plan/);
    await expect(answerBrowse(p.deps, { op: 'rm' })).rejects.toThrow('op');
  });
});

describe('strongbox --stage through the browse function', () => {
  it('ls lists the whole tree, page after page, as the embedded stack would', async () => {
    await cli('ls', `photos@${first}`);
    expect(out.slice(0, -1).map((l) => l.split('  ').at(-1))).toEqual([...KEYS].sort());
    expect(out.at(-1)).toMatch(new RegExp(`^12 object\\(s\\), .* in snapshot ${first} of plan photos`));
  });

  it('diff lists the changes between two snapshots', async () => {
    await cli('diff', 'photos', first, second, '--json');
    expect(out.map((l) => JSON.parse(l)).map((c) => [c.change, c.key])).toEqual([
      ['modified', 'docs/ünï.txt'],
      ['added', 'new.txt'],
    ]);
  });

  it('find finds every version across the snapshots', async () => {
    await cli('find', 'photos', 'docs/**', '--json');
    const found = JSON.parse(out.join('\n'));
    expect(found.versions.map((v: { key: string; snapshots: number }) => [v.key, v.snapshots])).toEqual([
      ['docs/ünï.txt', 1],
      ['docs/ünï.txt', 1],
    ]);
  });

  it('versions lists one object’s versions, newest first', async () => {
    await cli('versions', 'photos', 'docs/ünï.txt');
    expect(out.join('\n')).toContain(second);
    expect(out.join('\n')).toContain(first);
  });

  it('serve-s3 serves the stage’s tree through the function: listings, entries, and content in 4 MiB reads', async () => {
    // Prepare: an object of 9 MiB (two chunks, three reads) in a third snapshot
    const big = Buffer.alloc(9 * 1024 * 1024).map((_, i) => i % 253);
    await p.objects.put('source', 'big.bin', big, {});
    const third = await snapshot();
    const tree = await RemoteTree.open({ stage: 'prod', region: 'us-east-1' }, { plan: 'photos' });
    const served = await serveS3(tree, { bucket: 'photos', region: 'us-east-1' });
    try {
      // Act
      const listing = await (await fetch(`${served.url}/photos?list-type=2&delimiter=/`)).text();
      const whole = Buffer.from(await (await fetch(`${served.url}/photos/big.bin`)).arrayBuffer());
      const ranged = await fetch(`${served.url}/photos/big.bin`, {
        headers: { Range: 'bytes=4194300-4194310' },
      });
      // Assess
      expect(tree.source.snapshot.snapshotId).toBe(third);
      expect([...listing.matchAll(/<Prefix>([^<]+)<\/Prefix>/g)].map((m) => m[1])).toEqual([
        'a b/',
        'docs/',
        'logs/',
      ]);
      expect(whole.equals(big)).toBe(true);
      expect(Buffer.from(await ranged.arrayBuffer())).toEqual(big.subarray(4194300, 4194311));
      const reads = lambda.commandCalls(InvokeCommand).filter((call) =>
        Buffer.from(call.args[0].input.Payload as Uint8Array)
          .toString()
          .includes('"op":"read"'),
      );
      expect(reads).toHaveLength(3 + 1); // the whole object in 4 MiB reads, then the 11 bytes in one
    } finally {
      await served.close();
    }
  });

  it('keeps paging one snapshot when another is committed between two pages of latest', async () => {
    // Prepare: pages of 5 of latest (`second`), and a snapshot with a new key committed after the first
    const tree = await remoteHistory({ stage: 'prod', region: 'us-east-1' }, 5).openTree({ plan: 'photos' });
    const keys: string[] = [];
    for await (const e of tree.entries) {
      keys.push(e.key);
      if (keys.length === 5) {
        await putText(p, 'zz-after.txt', 'committed between two pages');
        await snapshot();
      }
    }
    // Assess
    expect(tree.source.snapshot.snapshotId).toBe(second);
    expect(keys).not.toContain('zz-after.txt');
    expect(keys).toHaveLength(13);
  });

  it('surfaces the function’s error', async () => {
    await expect(cli('ls', 'nope')).rejects.toThrow(
      "strongbox-prod-browse failed: NotFoundError: plan 'nope' does not exist",
    );
  });
});
