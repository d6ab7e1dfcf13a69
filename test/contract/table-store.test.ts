/**
 * The TableStore contract, run against the memory twin and the DynamoDB adapter on DynamoDB Local
 * (one JVM for the file; a table name per case).
 */
import { afterAll, beforeAll } from 'vitest';
import { DynamoDBTableStore } from '#adapters/dynamodb-table/index.ts';
import { startDynamoDb } from '../support/emulators.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';
import { tableStoreContract } from './table-store.contract.ts';

let ddb: Awaited<ReturnType<typeof startDynamoDb>>;
let n = 0;
beforeAll(async () => {
  ddb = await startDynamoDb();
});
afterAll(async () => {
  await ddb?.stop();
});

tableStoreContract('MemoryTableStore', async () => {
  n += 1;
  return {
    store: new MemoryTableStore({ region: 'eu-west-1' }),
    tableName: `orders-${n}`,
    region: 'eu-west-1',
  };
});
tableStoreContract(
  'DynamoDBTableStore on DynamoDB Local',
  async () => {
    n += 1;
    return { store: new DynamoDBTableStore(ddb.client), tableName: `orders-${n}`, region: 'us-east-1' };
  },
  {
    // DynamoDB Local accepts SSESpecification and describes no SSEDescription.
    'sse-kms': 'DynamoDB Local ignores SSESpecification (DescribeTable has no SSEDescription)',
  },
);
