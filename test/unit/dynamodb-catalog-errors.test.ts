// How DynamoDbCatalog maps DynamoDB's errors to retryable or not: a request DynamoDB refuses as
// invalid (ValidationException: an item over 400 KB, an empty key) fails the same way every time,
// so it must not be retried as if it were transient. DynamoDB is mocked.
import {
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDbCatalog } from '#adapters/dynamodb-catalog/index.ts';
import { isRetryable, TransientError, ValidationError } from '#domain/errors.ts';
import type { JournalEntry } from '#domain/records.ts';

const dynamo = mockClient(DynamoDBDocumentClient);
const catalog = () => new DynamoDbCatalog(new DynamoDBClient({ region: 'us-east-1' }), 'state');

const validation = () =>
  Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
    name: 'ValidationException',
    $fault: 'client',
    $metadata: {},
  });

const entry: JournalEntry = {
  planId: 'photos',
  bucket: 'src',
  key: 'a.jpg',
  event: 'removed',
  eventTime: '2026-12-01T00:00:00.000Z',
  sequencer: '0A',
  capturedAt: '2026-12-01T00:00:01.000Z',
  outcome: 'removed',
};

describe('DynamoDbCatalog error mapping', () => {
  afterEach(() => dynamo.reset());

  it('fails a request DynamoDB refuses with ValidationException for good: not retryable, with its message', async () => {
    dynamo.on(UpdateCommand).rejects(validation());
    const error = await catalog()
      .updateJob('photos/20261201T000000Z', { status: 'FAILED' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(isRetryable(error)).toBe(false);
    expect((error as Error).message).toContain('Item size has exceeded the maximum allowed size');
  });

  it('fails a transaction cancelled for ValidationError for good', async () => {
    dynamo.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [
          { Code: 'None' },
          { Code: 'ValidationError', Message: 'Item size has exceeded the maximum allowed size' },
          { Code: 'None' },
        ],
      }),
    );
    const error = await catalog()
      .appendJournal(entry)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(isRetryable(error)).toBe(false);
    expect((error as Error).message).toContain('maximum allowed size');
  });

  it('still retries throttling', async () => {
    dynamo
      .on(UpdateCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const error = await catalog()
      .updateJob('photos/20261201T000000Z', { status: 'FAILED' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect(isRetryable(error)).toBe(true);
  });
});

describe('DynamoDbCatalog reads and writes again', () => {
  afterEach(() => dynamo.reset());

  it('sends the items a BatchWriteItem left unprocessed again, after a wait', async () => {
    const mark = { packId: 'p1', markedAt: '2026-12-01T00:00:00.000Z' };
    const put = { PutRequest: { Item: { pk: 'GC#vault', sk: 'PACK#p1', ...mark } } };
    dynamo
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { state: [put] } })
      .resolves({});
    await catalog().putGcMarks('vault', [mark]);
    const sent = dynamo.commandCalls(BatchWriteCommand);
    expect(sent).toHaveLength(2);
    expect(sent[1]?.args[0].input.RequestItems?.state).toEqual([put]);
  });

  it('reads checkpoints again while a replacement tears them, and gives up after 5 reads', async () => {
    const head = 'CHECKPOINT#S1#000000';
    const checkpoint = { pk: 'PLAN#photos', sk: head, partition: 0, token: 't', chunks: 1 };
    const chunk = { pk: 'PLAN#photos', sk: `${head}#t#0000`, parts: [{ partId: 'a', entries: 1 }] };
    dynamo
      .on(QueryCommand)
      .resolvesOnce({ Items: [checkpoint] })
      .resolves({ Items: [checkpoint, chunk] });
    const read = await catalog().listPartitionCheckpoints('photos', 'S1');
    expect(read.map((c) => c.parts)).toEqual([chunk.parts]);
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(2);
    dynamo.reset();
    dynamo.on(QueryCommand).resolves({ Items: [checkpoint] });
    const error = await catalog()
      .listPartitionCheckpoints('photos', 'S1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe('checkpoints of photos/S1 keep changing while they are read');
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(5);
  });
});
