/**
 * The table rows' raw floors, in a process of their own (so its peak RSS is its own), with one
 * @aws-sdk/client-dynamodb client, as an application would do it without Strongbox:
 *
 * - `scan`: a parallel Scan of `segments` segments (all at once), strongly consistent, reading every
 *   item and storing nothing; the sum of the pages' ConsumedCapacity is its read capacity units.
 * - `write`: the items of `sourceTable` read first (not timed), then put into `targetTable` (created
 *   like the source, on-demand, no stream) with BatchWriteItem, 25 a call, `concurrency` calls at a
 *   time, unprocessed items sent again: what a restore of those items costs at the least.
 *
 * Usage (run.ts does it): `node test/bench/table-floor.ts <job.json>`; prints one JSON line.
 */
import { readFile } from 'node:fs/promises';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { putItems, scanTable } from '#local/demo/table-load.ts';
import { peakRssBytes } from '#local/peak-rss.ts';

export type TableFloorJob =
  | { op: 'scan'; endpoint: string; region: string; table: string; segments: number }
  | {
      op: 'write';
      endpoint: string;
      region: string;
      sourceTable: string;
      targetTable: string;
      segments: number;
      concurrency: number;
    };

export interface TableFloorResult {
  seconds: number;
  items: number;
  /** Scan: pages read; write: BatchWriteItem calls (retries included). */
  calls: number;
  /** Scan: the read capacity units DynamoDB reported. */
  capacityUnits?: number;
  peakRssBytes: number;
}

async function createLike(ddb: DynamoDBClient, source: string, target: string): Promise<void> {
  const { Table } = await ddb.send(new DescribeTableCommand({ TableName: source }));
  await ddb.send(
    new CreateTableCommand({
      TableName: target,
      AttributeDefinitions: Table?.AttributeDefinitions,
      KeySchema: Table?.KeySchema,
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  for (;;) {
    const out = await ddb.send(new DescribeTableCommand({ TableName: target }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(await readFile(process.argv[2] as string, 'utf8')) as TableFloorJob;
  const ddb = new DynamoDBClient({
    region: job.region,
    endpoint: job.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let result: Omit<TableFloorResult, 'peakRssBytes'>;
  if (job.op === 'scan') {
    const started = performance.now();
    const scan = await scanTable(ddb, job.table, job.segments, { keep: false });
    result = {
      seconds: (performance.now() - started) / 1000,
      items: scan.count,
      calls: scan.pages,
      capacityUnits: scan.capacityUnits,
    };
  } else {
    const { items } = await scanTable(ddb, job.sourceTable, job.segments);
    await createLike(ddb, job.sourceTable, job.targetTable);
    const started = performance.now();
    const calls = await putItems(ddb, job.targetTable, items, job.concurrency);
    result = { seconds: (performance.now() - started) / 1000, items: items.length, calls };
  }
  const out: TableFloorResult = {
    ...result,
    peakRssBytes: peakRssBytes() ?? process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
