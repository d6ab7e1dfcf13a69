/**
 * Capture: every upload and delete in a protected bucket becomes a journal entry for each plan that
 * protects the key, within seconds of the event.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see ../../docs/format.md#journal
 */
import { z } from 'zod';
import { ValidationError } from './errors.ts';
import type { PipelineDeps } from './pipeline.ts';
import type { JournalEntry } from './ports.ts';

/** One record of an S3 event notification (event structure version 2.x). */
export const S3EventRecordSchema = z.looseObject({
  eventVersion: z.string().startsWith('2.'),
  eventSource: z.literal('aws:s3'),
  awsRegion: z.string(),
  eventTime: z.iso.datetime({ offset: true }),
  eventName: z.string().regex(/^Object(Created|Removed):/),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    object: z.looseObject({
      key: z.string().min(1),
      size: z.number().int().nonnegative().optional(),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
      sequencer: z.string().min(1),
    }),
  }),
});
export type S3EventRecord = z.infer<typeof S3EventRecordSchema>;

/** What capture did with one record. */
export type CaptureOutcome =
  | { status: 'journaled'; bucket: string; key: string; plans: string[] }
  | { status: 'duplicate'; bucket: string; key: string; plans: string[] }
  | { status: 'ignored'; bucket: string; key: string; reason: string };

/**
 * Decode an S3 event key: S3 URL-encodes keys in notifications, with `+` for a space.
 * @throws ValidationError (not retryable) for a malformed percent-encoding.
 * @example decodeS3Key('photos/my+cat%C3%A9.jpg') === 'photos/my caté.jpg'
 */
export function decodeS3Key(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch (cause) {
    throw new ValidationError(`S3 event key '${encoded}' is not URL-encoded`, 's3.object.key', { cause });
  }
}

/**
 * Journal one S3 event record for every plan protecting its bucket and key.
 * @throws TransientError (retryable) when the catalog write fails; appending twice is harmless.
 * @example
 * ```ts
 * for (const record of event.Records) await captureChange(deps, S3EventRecordSchema.parse(record));
 * ```
 */
export async function captureChange(
  deps: Pick<PipelineDeps, 'catalog'>,
  record: S3EventRecord,
): Promise<CaptureOutcome> {
  const bucket = record.s3.bucket.name;
  const key = decodeS3Key(record.s3.object.key);
  const plans = (await deps.catalog.listPlans()).filter(
    (p) => p.source.bucket === bucket && key.startsWith(p.source.prefix),
  );
  if (plans.length === 0)
    return { status: 'ignored', bucket, key, reason: 'no plan protects this bucket and prefix' };
  let fresh = false;
  for (const plan of plans) {
    const entry: JournalEntry = {
      planId: plan.id,
      bucket,
      key,
      event: record.eventName.startsWith('ObjectCreated:') ? 'created' : 'removed',
      eventTime: new Date(record.eventTime).toISOString(),
      sequencer: record.s3.object.sequencer,
      ...(record.s3.object.size === undefined ? {} : { sizeBytes: record.s3.object.size }),
      ...(record.s3.object.eTag === undefined ? {} : { etag: record.s3.object.eTag }),
      ...(record.s3.object.versionId === undefined ? {} : { versionId: record.s3.object.versionId }),
    };
    if (await deps.catalog.appendJournal(entry)) fresh = true;
  }
  return { status: fresh ? 'journaled' : 'duplicate', bucket, key, plans: plans.map((p) => p.id) };
}
