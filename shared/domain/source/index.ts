/**
 * Protected sources: the {@link Source} of a plan's `source`, and the change a notification names.
 * The one place that knows which kinds of sources exist: a DynamoDB table source (issue 17) adds a
 * kind to `kindOf`, a case to {@link sourceOf} (over a table port in PipelineDeps) and its stream
 * records to {@link changeOf}; snapshots and capture need no change.
 * @see ../../../docs/format.md#plans
 */
import type { PipelineDeps } from '../pipeline.ts';
import { isTableSource } from '../plan.ts';
import type { PlanRecord } from '../records.ts';
import { DynamoDBTableSource } from './dynamodb-table.ts';
import { S3BucketSource } from './s3-bucket.ts';
import { s3ChangeOf } from './s3-events.ts';
import type { ChangeNotification, Source, SourceChange, SourceKind } from './source.ts';

export { DynamoDBTableSource, tableContainerOf } from './dynamodb-table.ts';
export { S3BucketSource } from './s3-bucket.ts';
export type {
  ChangeNotification,
  ItemToRead,
  Source,
  SourceChange,
  SourceItem,
  SourceKind,
  SourceRead,
} from './source.ts';

/** A plan's `source`, as plans.yml gives it: today an S3 bucket and a key prefix (`''`: all of it). */
export type SourceSpec = PlanRecord['source'];

/** The kind of source a spec names. */
function kindOf(spec: SourceSpec): SourceKind {
  return isTableSource(spec) ? 'dynamodb-table' : 's3-bucket';
}

/**
 * The source a plan protects, built over the deps' ports: an S3 bucket (whole or a prefix) reads
 * through `deps.objects`. Cheap (no I/O): build one where it is needed.
 * @example
 * ```ts
 * for await (const item of sourceOf(deps, plan.source).list()) console.log(item.key);
 * ```
 */
export function sourceOf(deps: Pick<PipelineDeps, 'objects'>, spec: SourceSpec): Source {
  const kind = kindOf(spec);
  switch (kind) {
    case 's3-bucket':
      if (isTableSource(spec)) throw new Error('unreachable: a table spec of kind s3-bucket');
      return new S3BucketSource(deps.objects, spec.bucket, spec.prefix);
    case 'dynamodb-table':
      if (!isTableSource(spec)) throw new Error('unreachable: a bucket spec of kind dynamodb-table');
      return new DynamoDBTableSource(spec);
    default:
      return kind satisfies never;
  }
}

/**
 * What a change notification says happened, read by the kind of source that sent it (S3:
 * {@link s3ChangeOf}). Capture then journals it for every plan whose source {@link Source.covers} it.
 * @throws ValidationError (not retryable) when the notification names a malformed key.
 * @see ../../../docs/format.md#journal
 */
export function changeOf(notification: ChangeNotification): SourceChange {
  return s3ChangeOf(notification);
}
