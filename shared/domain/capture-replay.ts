/**
 * Replaying capture's failures. S3 invokes capture asynchronously; an event capture still fails
 * after Lambda's retries goes to capture's on-failure destination, the capture failure queue, as
 * Lambda's invocation record (the event as `requestPayload`, the error as `responsePayload`).
 * {@link replayCaptureFailures} runs capture again on each event and deletes its message only once
 * capture succeeded, so a failed replay loses nothing either.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
 * @see ../../docs/format.md#journal
 */
import { z } from 'zod';
import { reasonOf } from './errors.ts';

/** One message of the capture failure queue, as received. */
export interface ReceivedFailure {
  messageId: string;
  /** Handle to delete or release the message with (valid while it is received). */
  receiptHandle: string;
  /** The message body: Lambda's invocation record (JSON). */
  body: string;
}

/**
 * Capture's failure queue (an SQS queue on AWS and on the embedded stack).
 * Contract: a received message is hidden from other receivers for `visibilityTimeoutSeconds`;
 * `delete` removes it for good; `release` makes it visible again at once.
 */
export interface CaptureFailureQueue {
  /**
   * Receive up to `max` messages (1–10), hiding them for `visibilityTimeoutSeconds`.
   * @returns [] when the queue has none visible.
   * @throws TransientError (retryable) when the queue may answer later.
   */
  receive(max: number, visibilityTimeoutSeconds: number): Promise<ReceivedFailure[]>;
  /** Delete a received message. */
  delete(receiptHandle: string): Promise<void>;
  /** Make received messages visible again now (what a dry run or a failed replay leaves). */
  release(receiptHandles: readonly string[]): Promise<void>;
}

/**
 * Runs capture on one event, synchronously (the deployed function through `Invoke`, or the embedded
 * stack's through its dispatcher).
 * @throws any error when capture failed on the event (the message is kept).
 */
export type CaptureInvoker = (event: unknown) => Promise<void>;

/** Lambda's invocation record of a failed asynchronous invocation (the fields replay reads). */
export const AsyncFailureRecordSchema = z.looseObject({
  timestamp: z.string().optional(),
  requestContext: z
    .looseObject({ condition: z.string().optional(), approximateInvokeCount: z.number().optional() })
    .optional(),
  requestPayload: z.looseObject({ Records: z.array(z.unknown()).min(1) }),
  responsePayload: z
    .looseObject({ errorType: z.string().optional(), errorMessage: z.string().optional() })
    .nullish(),
});

/** One failed event: what it named and what happened to it in this replay. */
export interface ReplayedFailure {
  messageId: string;
  /** `s3://bucket/key` of each record of the event (as S3 encodes keys). */
  objects: string[];
  /** The error Lambda recorded when capture gave up. */
  error: string;
  /** When Lambda gave up (ISO-8601), when recorded. */
  failedAt?: string;
  /**
   * `replayed`: capture succeeded, the message is deleted; `failed`: capture failed again, the
   * message stays (with `replayError`); `listed`: a dry run; `unreadable`: not an invocation record of
   * an S3 event, kept for a person to look at.
   */
  status: 'replayed' | 'failed' | 'listed' | 'unreadable';
  replayError?: string;
}

/** What {@link replayCaptureFailures} did. */
export interface CaptureReplayReport {
  dryRun: boolean;
  received: number;
  replayed: number;
  failed: number;
  unreadable: number;
  /** One line per message received, in order. */
  messages: ReplayedFailure[];
}

/** Seconds a received message stays hidden while capture runs on it (capture's timeout is 900 s). @default 960 */
export const REPLAY_VISIBILITY_TIMEOUT_SECONDS = 960;

/**
 * Run capture again on the events in its failure queue, oldest first as SQS returns them: each event
 * capture succeeds on is deleted from the queue; one it fails on again stays there (visible again
 * when the replay ends, so the alarm stays raised), with the new error in the report. A message that
 * is not Lambda's record of an S3 event is kept and reported `unreadable`.
 * @param deps `failures`: the capture failure queue; `capture`: runs capture on one event.
 * @param options `max`: replay at most this many messages (@default all); `dryRun`: list them,
 *   run and delete nothing.
 * @returns counts, and one line per message.
 * @throws TransientError (retryable) when the queue cannot be read; what was replayed stays replayed.
 * @example
 * ```ts
 * const report = await replayCaptureFailures({ failures, capture: (e) => invokeCapture(e) }, { max: 50 });
 * ```
 */
export async function replayCaptureFailures(
  deps: { failures: CaptureFailureQueue; capture: CaptureInvoker },
  options: { max?: number; dryRun?: boolean } = {},
): Promise<CaptureReplayReport> {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const dryRun = options.dryRun ?? false;
  const report: CaptureReplayReport = {
    dryRun,
    received: 0,
    replayed: 0,
    failed: 0,
    unreadable: 0,
    messages: [],
  };
  const keep: string[] = [];
  const seen = new Set<string>();
  try {
    while (report.received < max) {
      const batch = await deps.failures.receive(
        Math.min(10, max - report.received),
        dryRun ? 60 : REPLAY_VISIBILITY_TIMEOUT_SECONDS,
      );
      const fresh = batch.filter((m) => !seen.has(m.messageId));
      if (fresh.length === 0) break;
      for (const message of fresh) {
        seen.add(message.messageId);
        report.received += 1;
        const line = await replayOne(deps, message, dryRun);
        report.messages.push(line);
        if (line.status === 'replayed') {
          report.replayed += 1;
          await deps.failures.delete(message.receiptHandle);
          continue;
        }
        if (line.status === 'failed') report.failed += 1;
        if (line.status === 'unreadable') report.unreadable += 1;
        keep.push(message.receiptHandle);
      }
    }
  } finally {
    if (keep.length > 0) await deps.failures.release(keep);
  }
  return report;
}

async function replayOne(
  deps: { capture: CaptureInvoker },
  message: ReceivedFailure,
  dryRun: boolean,
): Promise<ReplayedFailure> {
  let parsed: z.infer<typeof AsyncFailureRecordSchema>;
  try {
    parsed = AsyncFailureRecordSchema.parse(JSON.parse(message.body));
  } catch (error) {
    return {
      messageId: message.messageId,
      objects: [],
      error: `not Lambda's record of a failed S3 event: ${reasonOf(error).slice(0, 300)}`,
      status: 'unreadable',
    };
  }
  const line: ReplayedFailure = {
    messageId: message.messageId,
    objects: parsed.requestPayload.Records.map(objectOf),
    error:
      [parsed.responsePayload?.errorType, parsed.responsePayload?.errorMessage].filter(Boolean).join(': ') ||
      (parsed.requestContext?.condition ?? 'unknown'),
    ...(parsed.timestamp ? { failedAt: parsed.timestamp } : {}),
    status: dryRun ? 'listed' : 'replayed',
  };
  if (dryRun) return line;
  try {
    await deps.capture(parsed.requestPayload);
    return line;
  } catch (error) {
    return { ...line, status: 'failed', replayError: reasonOf(error) };
  }
}

function objectOf(record: unknown): string {
  const s3 = (record as { s3?: { bucket?: { name?: unknown }; object?: { key?: unknown } } })?.s3;
  return `s3://${String(s3?.bucket?.name ?? '?')}/${String(s3?.object?.key ?? '?')}`;
}
