import { afterAll, beforeAll } from 'vitest';
import { DynamoDbCatalog } from '#adapters/dynamodb-catalog.ts';
import { startDynamoDb } from '../support/emulators.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { catalogContract } from './catalog.contract.ts';

let ddb: Awaited<ReturnType<typeof startDynamoDb>>;
beforeAll(async () => {
  ddb = await startDynamoDb();
});
afterAll(async () => {
  await ddb.stop();
});

catalogContract('MemoryCatalog', async () => new MemoryCatalog());
catalogContract(
  'DynamoDbCatalog on DynamoDB Local',
  async () => new DynamoDbCatalog(ddb.client, await ddb.table()),
);
