/**
 * Adapters of `strongbox capture replay`: the capture failure queue on SQS, and capture invoked
 * synchronously as a deployed Lambda function.
 * @see ../domain/capture-replay.ts
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { CaptureFailureQueue, CaptureInvoker, ReceivedFailure } from '#domain/capture-replay.ts';
import { StrongboxError, TransientError } from '#domain/errors.ts';

/**
 * {@link CaptureFailureQueue} on SQS.
 * @example
 * ```ts
 * const failures = new SqsCaptureFailureQueue(new SQSClient({}), env.STRONGBOX_CAPTURE_FAILURE_QUEUE_URL);
 * ```
 */
export class SqsCaptureFailureQueue implements CaptureFailureQueue {
  readonly #client: SQSClient;
  readonly #url: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.#client = client;
    this.#url = queueUrl;
  }

  async receive(max: number, visibilityTimeoutSeconds: number): Promise<ReceivedFailure[]> {
    try {
      const out = await this.#client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.#url,
          MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
          VisibilityTimeout: visibilityTimeoutSeconds,
          WaitTimeSeconds: 1,
        }),
      );
      return (out.Messages ?? []).map((m) => ({
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
      }));
    } catch (error) {
      throw new TransientError(`receive capture failures: ${(error as Error).message}`, { cause: error });
    }
  }

  async delete(receiptHandle: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteMessageCommand({ QueueUrl: this.#url, ReceiptHandle: receiptHandle }),
      );
    } catch (error) {
      throw new TransientError(`delete a capture failure: ${(error as Error).message}`, { cause: error });
    }
  }

  async release(receiptHandles: readonly string[]): Promise<void> {
    const failed: string[] = [];
    for (let i = 0; i < receiptHandles.length; i += 10) {
      const out = await this.#client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.#url,
          Entries: receiptHandles
            .slice(i, i + 10)
            .map((handle, j) => ({ Id: String(i + j), ReceiptHandle: handle, VisibilityTimeout: 0 })),
        }),
      );
      for (const f of out.Failed ?? []) failed.push(`${f.Code}: ${f.Message ?? ''}`);
    }
    // A batch answers 200 with its failed entries: those messages come back only when their
    // visibility timeout runs out, which the caller should know.
    if (failed.length > 0)
      throw new TransientError(
        `${failed.length} capture failure(s) not released at once (visible again after their visibility timeout): ${failed[0]}`,
      );
  }
}

/**
 * Capture invoked synchronously (`RequestResponse`) as a deployed function, so it runs with its own
 * role; a synchronous invocation that fails is not sent to the on-failure destination again.
 * @param functionName e.g. `strongbox-prod-capture`.
 * @returns an invoker that throws StrongboxError (not retryable by itself: the message stays) with
 *   the function's error when capture failed.
 */
export function lambdaCaptureInvoker(client: LambdaClient, functionName: string): CaptureInvoker {
  return async (event) => {
    const out = await client.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
    if (out.FunctionError) {
      const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
      let reason = text;
      try {
        const payload = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        reason = [payload.errorType, payload.errorMessage].filter(Boolean).join(': ') || text;
      } catch {
        // not JSON: the raw text
      }
      throw new StrongboxError(`${functionName} failed: ${reason.slice(0, 500)}`);
    }
  };
}
