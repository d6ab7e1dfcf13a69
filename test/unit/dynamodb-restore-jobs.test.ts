// What DynamoDbCatalog stores for a restore job: slices were called parts before, and a job in flight
// across the upgrade must read and count the same, so the stored names stay the old ones (the job's
// `partsTotal`, `partsDone`, `partSize`; its slices' done markers `PART#<slice>`). DynamoDB is mocked.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDbCatalog } from '#adapters/dynamodb-catalog/index.ts';
import { restoreJob } from '../contract/catalog/fixtures.ts';

const dynamo = mockClient(DynamoDBDocumentClient);
const catalog = () => new DynamoDbCatalog(new DynamoDBClient({ region: 'us-east-1' }), 'state');

/** A restore job item as the code before the rename wrote it. */
const storedBeforeTheRename = {
  pk: 'RESTORE',
  sk: 'JOB#R1',
  ...(({ slicesTotal: _t, slicesDone: _d, sliceSize: _s, ...rest }) => rest)(restoreJob('R1', 4)),
  partsTotal: 4,
  partsDone: 1,
  partSize: 5,
};

describe('DynamoDbCatalog restore jobs, stored under the names before slices were called so', () => {
  afterEach(() => dynamo.reset());

  it('reads a job the old code wrote: its parts counters are the slices counters', async () => {
    dynamo.on(GetCommand).resolves({ Item: storedBeforeTheRename });
    dynamo.on(QueryCommand).resolves({ Items: [storedBeforeTheRename] });
    const expected = { ...restoreJob('R1', 4), slicesDone: 1 };
    const job = await catalog().getRestoreJob('R1');
    expect(job).toEqual(expected);
    expect(job).not.toHaveProperty('partsTotal');
    expect(await catalog().listRestoreJobs()).toEqual([expected]);
  });

  it('writes a job with the old attribute names, and nothing under the new ones', async () => {
    dynamo.on(PutCommand).resolves({});
    expect(await catalog().createRestoreJob(restoreJob('R1', 4))).toBe(true);
    const [put] = dynamo.commandCalls(PutCommand);
    expect(put?.args[0].input.Item).toEqual({ ...storedBeforeTheRename, partsDone: 0 });
  });

  it('marks a slice done under PART#<slice> and counts it in partsDone; lists the PART# markers', async () => {
    dynamo.on(TransactWriteCommand).resolves({});
    dynamo.on(GetCommand).resolves({ Item: { ...storedBeforeTheRename, partsDone: 2 } });
    const counts = { objects: 5, bytes: 500, skippedExists: 0, skippedUnchanged: 0 };
    const done = await catalog().completeRestoreSlice('R1', 3, counts, '2026-01-01T00:00:05.000Z');
    expect(done).toMatchObject({ counted: true, job: { slicesDone: 2, slicesTotal: 4 } });
    const [marker, job] = dynamo.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(marker?.Put?.Item).toMatchObject({ pk: 'RESTORE#R1', sk: 'PART#3' });
    expect(job?.Update?.UpdateExpression).toMatch(/ADD .*partsDone :one/);

    dynamo.on(QueryCommand).resolves({ Items: [{ sk: 'PART#3' }, { sk: 'PART#0' }] });
    expect(await catalog().listRestoreSlicesDone('R1')).toEqual([0, 3]);
    const [query] = dynamo.commandCalls(QueryCommand);
    expect(query?.args[0].input.ExpressionAttributeValues).toMatchObject({ ':p': 'PART#' });
  });

  it('ends a job SUCCEEDED only under the stored condition partsDone = partsTotal', async () => {
    dynamo.on(UpdateCommand).resolves({});
    await catalog().finishRestoreJob('R1', { status: 'SUCCEEDED', at: '2026-01-01T00:00:09.000Z' });
    const [update] = dynamo.commandCalls(UpdateCommand);
    expect(update?.args[0].input.ConditionExpression).toMatch(/partsDone = partsTotal/);
  });
});
