/**
 * DynamoDB Streams records as Lambda's event source mapping delivers them (a batch of one shard's
 * records in order), validated at the edge, and the batch response that reports partial failures.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Record.html
 */
import { z } from 'zod';
import { ItemSchema } from './item.ts';

/** One stream record (`Records[]` of the event). */
export const DynamoDBStreamRecordSchema = z.object({
  eventID: z.string().min(1),
  eventName: z.enum(['INSERT', 'MODIFY', 'REMOVE']),
  eventSource: z.literal('aws:dynamodb').optional(),
  eventVersion: z.string().optional(),
  awsRegion: z.string().min(1).optional(),
  /** `arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>`. */
  eventSourceARN: z.string().regex(/^arn:[^:]+:dynamodb:[^:]*:[^:]*:table\/[^/]+\/stream\/.+$/),
  dynamodb: z.object({
    /** Epoch seconds (a fraction possible) when the change was made, to the second. */
    ApproximateCreationDateTime: z.number().nonnegative().optional(),
    Keys: ItemSchema,
    NewImage: ItemSchema.optional(),
    OldImage: ItemSchema.optional(),
    /** Decimal digits: orders the changes of one item across its shard's lineage. */
    SequenceNumber: z.string().regex(/^[0-9]{1,64}$/),
    SizeBytes: z.number().int().nonnegative().optional(),
    StreamViewType: z.enum(['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES']).optional(),
  }),
  userIdentity: z.object({ type: z.string(), principalId: z.string() }).nullish(),
});
export type DynamoDBStreamRecord = z.infer<typeof DynamoDBStreamRecordSchema>;

/** The event: one batch. Records are checked one by one (a bad one fails alone), so `unknown` here. */
export const DynamoDBStreamEventSchema = z.object({ Records: z.array(z.unknown()).min(1) });

/**
 * What a handler with `functionResponseType: ReportBatchItemFailures` returns: the sequence number
 * of the first record that failed (Lambda retries from it; the ones before are done).
 * @see https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#services-ddb-batchfailurereporting
 */
export interface StreamBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** The table a stream ARN belongs to: `arn:…:table/orders/stream/2026-…` → `orders`. */
export function tableOfStreamArn(arn: string): string {
  const match = /:table\/([^/]+)\/stream\//.exec(arn);
  if (!match?.[1]) throw new Error(`not a DynamoDB stream ARN: ${arn}`);
  return match[1];
}
