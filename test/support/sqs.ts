import type { SQSRecord } from 'aws-lambda';

/** An SQS record as Lambda delivers it, first receive, from the given queue. */
export function sqsRecord(
  messageId: string,
  body: string,
  queueArn = 'arn:aws:sqs:us-east-1:111122223333:strongbox-verify',
): SQSRecord {
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1772323200000',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1772323200000',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}
