/**
 * Integration tests of shared/local/dynamodb-local.ts: DynamoDB Local started through the loopback
 * launcher (shared/local/dynamodb/LoopbackDynamoDBLocal.java). Needs Java 17+.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../shared/local/dynamodb-local.ts';
import { listeners, nonLoopbackIPv4, tryConnect } from '../support/network.ts';

const isLinux = process.platform === 'linux';
const MODULE_URL = pathToFileURL(
  fileURLToPath(new URL('../../shared/local/dynamodb-local.ts', import.meta.url)),
).href;

/** Pid of the process holding socket `inode` open, by scanning /proc/<pid>/fd (own processes only). */
function pidOfSocket(inode: string): number | undefined {
  const target = `socket:[${inode}]`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === target) return Number(entry);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

/** The java process listening on `port`. */
function javaPidOnPort(port: number): number {
  const [listener] = listeners(port);
  expect(listener, `nothing listens on ${port}`).toBeDefined();
  const pid = pidOfSocket(listener?.inode ?? '');
  expect(pid, `no process owns the socket on ${port}`).toBeDefined();
  expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('LoopbackDynamoDBLocal.java');
  return pid as number;
}

/** Whether `pid` is a live process (an unreaped zombie, e.g. an orphan whose init does not reap, counts as gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!isLinux) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isAlive(pid);
}

describe('startDynamoDbLocal', () => {
  let ddb: DynamoDbLocal;
  let client: DynamoDBClient;
  let pid = 0;
  const TableName = 'accounts';

  beforeAll(async () => {
    const started = performance.now();
    ddb = await startDynamoDbLocal();
    const ms = Math.round(performance.now() - started);
    console.log(`DynamoDB Local listening on ${ddb.endpoint} after ${ms} ms`);
    client = new DynamoDBClient({
      endpoint: ddb.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });

  afterAll(async () => {
    client?.destroy();
    await ddb?.stop();
  });

  it('reports an endpoint on 127.0.0.1 and a real port', () => {
    expect(ddb.port).toBeGreaterThan(0);
    expect(ddb.endpoint).toBe(`http://127.0.0.1:${ddb.port}`);
  });

  it('runs TransactWriteItems: a failed ConditionExpression cancels the whole transaction', async () => {
    await client.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const balance = async (pk: string) => {
      const { Item } = await client.send(
        new GetItemCommand({ TableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
      );
      return Item?.balance?.N === undefined ? undefined : Number(Item.balance.N);
    };
    const transfer = (amount: number) =>
      new TransactWriteItemsCommand({
        TransactItems: [
          {
            Update: {
              TableName,
              Key: { pk: { S: 'acct#1' } },
              UpdateExpression: 'SET balance = balance - :amt',
              ConditionExpression: 'balance >= :amt',
              ExpressionAttributeValues: { ':amt': { N: String(amount) } },
            },
          },
          {
            Update: {
              TableName,
              Key: { pk: { S: 'acct#2' } },
              UpdateExpression: 'SET balance = balance + :amt',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':amt': { N: String(amount) } },
            },
          },
        ],
      });

    // Succeeds: both items are new.
    await client.send(
      new TransactWriteItemsCommand({
        TransactItems: ['acct#1', 'acct#2'].map((pk, i) => ({
          Put: {
            TableName,
            Item: { pk: { S: pk }, balance: { N: i === 0 ? '100' : '0' } },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        })),
      }),
    );
    expect([await balance('acct#1'), await balance('acct#2')]).toEqual([100, 0]);

    // Fails: the first condition (balance >= 150) is false, so neither update is applied.
    const failed = await client.send(transfer(150)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(TransactionCanceledException);
    const reasons = (failed as TransactionCanceledException).CancellationReasons?.map((r) => r.Code);
    expect(reasons).toEqual(['ConditionalCheckFailed', 'None']);
    expect([await balance('acct#1'), await balance('acct#2')]).toEqual([100, 0]);

    // Succeeds.
    await client.send(transfer(40));
    expect([await balance('acct#1'), await balance('acct#2')]).toEqual([60, 40]);
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(await tryConnect('127.0.0.1', ddb.port)).toBe('connected');
    if (isLinux) {
      expect(listeners(ddb.port).map((l) => l.address)).toEqual(['127.0.0.1']);
      pid = javaPidOnPort(ddb.port);
    }
    const external = nonLoopbackIPv4();
    if (external) expect(await tryConnect(external, ddb.port)).toBe('ECONNREFUSED');
  });

  it('stop() ends the java process and frees the port; calling it again is harmless', async () => {
    await ddb.stop();
    await ddb.stop();
    expect(await tryConnect('127.0.0.1', ddb.port)).toBe('ECONNREFUSED');
    if (isLinux) {
      expect(pid).toBeGreaterThan(0);
      expect(isAlive(pid)).toBe(false);
      expect(listeners(ddb.port)).toEqual([]);
    }
  });
});

describe('startDynamoDbLocal with dbPath', () => {
  it('keeps tables across restarts', async () => {
    const dbPath = await mkdtemp(path.join(os.tmpdir(), 'strongbox-ddb-test-'));
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    try {
      const first = await startDynamoDbLocal({ dbPath: path.join(dbPath, 'nested') });
      const c1 = new DynamoDBClient({ endpoint: first.endpoint, region: 'us-east-1', credentials });
      try {
        await c1.send(
          new CreateTableCommand({
            TableName: 'persisted',
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
      } finally {
        c1.destroy();
        await first.stop();
      }
      const second = await startDynamoDbLocal({ dbPath: path.join(dbPath, 'nested') });
      const c2 = new DynamoDBClient({ endpoint: second.endpoint, region: 'us-east-1', credentials });
      try {
        expect((await c2.send(new ListTablesCommand({}))).TableNames).toEqual(['persisted']);
      } finally {
        c2.destroy();
        await second.stop();
      }
    } finally {
      await rm(dbPath, { recursive: true, force: true });
    }
  });
});

describe('startDynamoDbLocal failures', () => {
  it('rejects with java’s stderr when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      await expect(startDynamoDbLocal({ port })).rejects.toThrow(
        /exited before listening \(exit code 1\)[\s\S]*java stderr[\s\S]*(BindException|Address already in use)/,
      );
    } finally {
      blocker.close();
    }
  });

  it('rejects clearly when java cannot be found', async () => {
    const saved = { PATH: process.env.PATH, JAVA_HOME: process.env.JAVA_HOME };
    process.env.PATH = '/nonexistent';
    delete process.env.JAVA_HOME;
    try {
      await expect(startDynamoDbLocal()).rejects.toThrow(/'java' not found/);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.JAVA_HOME !== undefined) process.env.JAVA_HOME = saved.JAVA_HOME;
    }
  });

  it('rejects an invalid port without starting java', async () => {
    await expect(startDynamoDbLocal({ port: 70_000 })).rejects.toThrow(RangeError);
  });
});

describe.skipIf(!isLinux)('no stray java after the parent Node process ends', () => {
  /** Starts a Node process that starts DynamoDB Local, prints its port, then waits for "exit" on stdin. */
  async function startParent(): Promise<{ parent: ChildProcess; port: number }> {
    const script = `
      import { startDynamoDbLocal } from ${JSON.stringify(MODULE_URL)};
      const ddb = await startDynamoDbLocal();
      console.log('PORT ' + ddb.port);
      process.stdin.setEncoding('utf8').on('data', (d) => { if (d.includes('exit')) process.exit(0); });
    `;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      parent.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const match = /PORT (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      parent.once('exit', (code) => reject(new Error(`parent exited early (${code}): ${out}`)));
    });
    return { parent, port };
  }

  it('process.exit() in the parent kills the JVM', async () => {
    const { parent, port } = await startParent();
    const javaPid = javaPidOnPort(port);
    const parentExited = new Promise((r) => parent.once('exit', r));
    parent.stdin?.write('exit\n');
    await parentExited;
    expect(await waitUntilGone(javaPid, 10_000)).toBe(true);
  });

  it('SIGKILL of the parent: the JVM exits by itself when its stdin closes', async () => {
    const { parent, port } = await startParent();
    const javaPid = javaPidOnPort(port);
    const parentExited = new Promise((r) => parent.once('exit', r));
    parent.kill('SIGKILL');
    await parentExited;
    expect(await waitUntilGone(javaPid, 10_000)).toBe(true);
    expect(listeners(port)).toEqual([]);
  });
});
