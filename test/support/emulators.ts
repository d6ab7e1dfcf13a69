/** Start the emulators a contract suite needs, on loopback, and stop them after. */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { startDynamoDbLocal } from '#local/dynamodb-local.ts';

process.env.AWS_ACCESS_KEY_ID ??= 'local';
process.env.AWS_SECRET_ACCESS_KEY ??= 'local';

export async function startS3(region = 'us-east-1') {
  const server = await startFauxqs({ port: 0, logger: false, defaultRegion: region });
  const client = new S3Client({ region, endpoint: server.address, forcePathStyle: true });
  return {
    client,
    async bucket(name: string) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    stop: () => server.stop(),
  };
}

export async function startSqs(region = 'us-east-1') {
  const server = await startFauxqs({ port: 0, logger: false, defaultRegion: region });
  // An explicit endpoint keeps SQSClient from switching to the QueueUrl's host.
  const client = new SQSClient({ region, endpoint: server.address });
  return {
    client,
    /** Create the queue `name` (a no-op when it exists); its URL. */
    async queue(name: string): Promise<string> {
      const out = await client.send(new CreateQueueCommand({ QueueName: name }));
      return out.QueueUrl as string;
    },
    stop: () => server.stop(),
  };
}

export async function startDynamoDb() {
  const ddb = await startDynamoDbLocal();
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint: ddb.endpoint });
  let n = 0;
  return {
    client,
    /** A fresh table with the catalog's key schema. */
    async table(): Promise<string> {
      n += 1;
      const name = `catalog-${process.pid}-${n}`;
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
      return name;
    },
    stop: () => ddb.stop(),
  };
}
