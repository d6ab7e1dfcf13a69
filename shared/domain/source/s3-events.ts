/**
 * S3 event notifications, as the S3 bucket source reads them: the record schema, key decoding, and
 * what one record says happened to its key ({@link s3ChangeOf}). Everything S3-specific about change
 * events lives here: event names, Lifecycle expirations, `null` version ids, quoted ETags and the
 * sequencer's form; capture sees only the {@link SourceChange}.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see ../../../docs/format.md#journal
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { SEQUENCER_MAX_DIGITS } from '../journal.ts';
import type { SourceChange } from './source.ts';

/**
 * An S3 Lifecycle expiration as the removal it is: `LifecycleExpiration:Delete` (S3 removed an
 * object, or a version, for good) as `ObjectRemoved:Delete`, `LifecycleExpiration:DeleteMarkerCreated`
 * (a versioned bucket's current version expired behind a delete marker) as
 * `ObjectRemoved:DeleteMarkerCreated`; every other event name unchanged.
 * @example objectEventName('LifecycleExpiration:Delete') === 'ObjectRemoved:Delete'
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html#supported-notification-event-types
 */
export function objectEventName(eventName: string): string {
  return eventName.replace(/^LifecycleExpiration:/, 'ObjectRemoved:');
}

/**
 * One record of an S3 event notification (event structure version 2.x). `eventName` is parsed to its
 * object event: a Lifecycle expiration reads as the `ObjectRemoved:*` removal it is
 * ({@link objectEventName}).
 */
export const S3EventRecordSchema = z.looseObject({
  eventVersion: z.string().startsWith('2.'),
  eventSource: z.literal('aws:s3'),
  awsRegion: z.string(),
  eventTime: z.iso.datetime({ offset: true }),
  eventName: z
    .string()
    .regex(/^(Object(Created|Removed):|LifecycleExpiration:(Delete|DeleteMarkerCreated)$)/)
    .transform(objectEventName),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    object: z.looseObject({
      key: z.string().min(1),
      size: z.number().int().nonnegative().optional(),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
      sequencer: z
        .string()
        .regex(new RegExp(`^[0-9A-Fa-f]{1,${SEQUENCER_MAX_DIGITS}}$`), 'a sequencer is 1 to 64 hex digits'),
    }),
  }),
});
export type S3EventRecord = z.infer<typeof S3EventRecordSchema>;

/**
 * The message S3 sends to a destination when a notification configuration is saved:
 * `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":…,"Bucket":…,"RequestId":…,"HostId":…}`.
 * It has no `Records` and names no object.
 */
export const S3TestEventSchema = z.looseObject({
  Service: z.literal('Amazon S3'),
  Event: z.literal('s3:TestEvent'),
});

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
 * What one S3 event record says happened to its key:
 * - `ObjectCreated:*`: `written`, the bytes named by the record's version (versioned bucket) or
 *   else its ETag (quotes dropped), with the size the record reports;
 * - `ObjectRemoved:Delete` with a version id: `unknown`. S3 sends it for deleting any one version —
 *   a noncurrent one (nothing visible changes), the current one (the newest remaining one becomes
 *   current) or a delete marker (the version under it comes back) — so only the source's current
 *   version says what the key holds now;
 * - every other removal (`ObjectRemoved:DeleteMarkerCreated`, `ObjectRemoved:Delete` without a
 *   version, Lifecycle expirations as their removals): `gone`.
 * A version id of `null` (S3's for an unversioned object) is no version. `eventTime` is normalised to
 * ISO-8601 UTC with milliseconds.
 * @throws ValidationError (not retryable) for a malformed key.
 * @example
 * ```ts
 * const change = s3ChangeOf(S3EventRecordSchema.parse(raw)); // { bucket, key, after: 'written', … }
 * ```
 * @see ../../../docs/format.md#journal
 */
export function s3ChangeOf(record: S3EventRecord): SourceChange {
  const object = record.s3.object;
  const versionId = object.versionId && object.versionId !== 'null' ? object.versionId : undefined;
  const common = {
    bucket: record.s3.bucket.name,
    key: decodeS3Key(object.key),
    eventTime: new Date(record.eventTime).toISOString(),
    sequencer: object.sequencer,
    ...(versionId === undefined ? {} : { versionId }),
  };
  if (record.eventName.startsWith('ObjectCreated:')) {
    const etag = object.eTag ? object.eTag.replace(/"/g, '') : undefined;
    return {
      ...common,
      after: 'written',
      ...(object.size === undefined ? {} : { sizeBytes: object.size }),
      ...(etag === undefined ? {} : { etag }),
    };
  }
  if (record.eventName === 'ObjectRemoved:Delete' && versionId !== undefined) {
    return { ...common, after: 'unknown' };
  }
  return { ...common, after: 'gone' };
}
