// functions/captureTable.ts over the memory pipeline: a DynamoDB stream batch as Lambda delivers it
// (events/dynamodb-stream/batch.json) becomes journal entries, a poison record goes to the failure
// queue, and a retryable failure answers batchItemFailures from that record.
import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { TransientError } from '#domain/errors.ts';
import type { TableDescription, TableStore } from '#domain/table/ports.ts';
import type { Container } from '#runtime/container.ts';
import { makeHandler } from '../../functions/captureTable.ts';
import { testConfig } from '../support/config.ts';
import { memoryPipeline, plan } from '../support/memory-pipeline.ts';
import { silentMetrics } from '../support/metrics.ts';

const QUEUE = 'http://127.0.0.1/000000000000/strongbox-test-capture-failures';
const batch = () =>
  JSON.parse(readFileSync(new URL('../../events/dynamodb-stream/batch.json', import.meta.url), 'utf8')) as {
    Records: { dynamodb: { SequenceNumber: string } }[];
  };
const context = { getRemainingTimeInMillis: () => 60_000 } as Context;

/** The `orders` table's description (customer/order key); `fail` makes describe throw. */
function tables(fail?: Error): TableStore {
  const description: TableDescription = {
    definition: {
      tableName: 'orders',
      region: 'us-east-1',
      key: { hash: { name: 'customer', type: 'S' }, range: { name: 'order', type: 'N' } },
      attributeDefinitions: [],
      globalSecondaryIndexes: [],
      localSecondaryIndexes: [],
      billingMode: 'PAY_PER_REQUEST',
      streamViewType: 'NEW_AND_OLD_IMAGES',
    },
    status: 'ACTIVE',
    itemCount: 0,
    sizeBytes: 0,
  };
  return {
    describe: async () => {
      if (fail) throw fail;
      return description;
    },
    getItem: async () => undefined,
  } as unknown as TableStore;
}

async function setup(fail?: Error) {
  const p = memoryPipeline('2026-12-06T07:10:00.000Z');
  await p.catalog.putPlans([plan({ id: 'orders', source: { table: 'orders' }, copyRegions: [] })]);
  const sent: string[] = [];
  const container = {
    config: testConfig({ dlqUrl: QUEUE }),
    pipeline: { ...p.deps, tables: () => tables(fail) },
    sqs: {
      send: async (c: SendMessageCommand) => {
        sent.push(c.input.MessageBody ?? '');
        return {};
      },
    } as unknown as SQSClient,
    logger: new Logger({ serviceName: 'strongbox-test', logLevel: 'SILENT' }),
    metrics: silentMetrics(),
  } as unknown as Container;
  return { p, sent, handler: makeHandler(container) };
}

describe('captureTable', () => {
  it('journals every record of the batch in order and reports no failure', async () => {
    const { p, handler } = await setup();
    const out = await handler(batch(), context);
    expect(out).toEqual({ batchItemFailures: [] });
    // One entry per record (listed by capture time: the clock stands still, so sorted here).
    const journal = (await p.catalog.listJournal('orders')).sort((a, b) =>
      BigInt(a.sequencer) < BigInt(b.sequencer) ? -1 : 1,
    );
    expect(journal.map((e) => [e.bucket, e.outcome, e.sequencer])).toEqual(
      batch().Records.map((r, i) => [
        'dynamodb:orders',
        i === 2 ? 'removed' : 'captured',
        r.dynamodb.SequenceNumber,
      ]),
    );
  });

  it('sends a record that is not a stream record to the failure queue with the reason, and journals the rest', async () => {
    const { p, sent, handler } = await setup();
    const event = batch() as { Records: unknown[] };
    event.Records.splice(1, 0, { eventID: 'x', eventName: 'UPSERT' });
    const out = await handler(event, context);
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0] as string)).toMatchObject({
      kind: 'dynamodb-stream-record',
      record: { eventID: 'x', eventName: 'UPSERT' },
    });
    expect(await p.catalog.listJournal('orders')).toHaveLength(3);
  });

  it('answers the first record that fails retryably, journaling nothing after it', async () => {
    const { p, handler } = await setup(new TransientError('DescribeTable throttled'));
    const out = await handler(batch(), context);
    expect(out).toEqual({
      batchItemFailures: [{ itemIdentifier: batch().Records[0]?.dynamodb.SequenceNumber }],
    });
    expect(await p.catalog.listJournal('orders')).toEqual([]);
  });
});
