/**
 * Plans: what to back up, when, how long to keep it and where to copy it.
 * Applied from a YAML file by `strongbox plans apply`; stored in the catalog.
 * @see ../../docs/format.md#plans
 */
import { z } from 'zod';
import { DetectorSettingsSchema } from './detector/settings.ts';
import { ValidationError } from './errors.ts';
import type { ForgetPolicy } from './forget.ts';
import { isEmptyPolicy, parseKeepWithin, parseTagList } from './retention/policy.ts';
import { checkTimeZone } from './retention/zoned-time.ts';
import { parseSchedule } from './schedule.ts';

const count = z.number().int().min(-1, 'use a positive count, or -1 for unlimited');

/** A restic duration (`2y5m7d3h`); `rule` names it in the message. */
const duration = (rule: string) =>
  z.string().refine((s) => {
    try {
      parseKeepWithin(s);
      return true;
    } catch {
      return false;
    }
  }, `${rule}: use a duration of y (years), m (months), d (days) and h (hours), like '7d', '1y6m' or '12h' (no 'w': write 7d)`);

/** One `keepTag` entry: a tag, or a comma-separated list of tags a snapshot must all hold. */
const tagList = z.string().refine((s) => {
  try {
    parseTagList(s);
    return true;
  } catch {
    return false;
  }
}, "use a tag (letters, digits, . _ - : @ + = /) or a comma-separated list of tags a snapshot must all hold, like 'release' or 'monthly,audited'");

/**
 * Retention rules with restic's semantics, plus the calendar's time zone and a minimum retention.
 * @see docs/format.md#retention
 */
export const RetentionPolicySchema = z
  .strictObject({
    keepLast: count.optional(),
    keepHourly: count.optional(),
    keepDaily: count.optional(),
    keepWeekly: count.optional(),
    keepMonthly: count.optional(),
    keepYearly: count.optional(),
    keepWithin: duration('keepWithin').optional(),
    keepTag: z.array(tagList).optional(),
    keepWithinHourly: duration('keepWithinHourly').optional(),
    keepWithinDaily: duration('keepWithinDaily').optional(),
    keepWithinWeekly: duration('keepWithinWeekly').optional(),
    keepWithinMonthly: duration('keepWithinMonthly').optional(),
    keepWithinYearly: duration('keepWithinYearly').optional(),
    /** IANA zone of the hour/day/week/month/year buckets; UTC when absent. */
    timeZone: z
      .string()
      .refine((s) => {
        try {
          checkTimeZone(s);
          return true;
        } catch {
          return false;
        }
      }, "unknown time zone: use an IANA name like 'UTC', 'Europe/Paris' or 'America/New_York'")
      .optional(),
    /** A COMMITTED snapshot younger than this (from now) is always kept. */
    minimumRetention: duration('minimumRetention').optional(),
  })
  .refine((p) => !isEmptyPolicy(p), {
    message:
      'set at least one rule (keepLast, keepDaily, keepWithin, keepTag, keepWithinDaily, …): an empty policy would keep nothing safe to prune',
  }) satisfies z.ZodType<ForgetPolicy>;

const scheduleSchema = z.string().refine((s) => {
  try {
    parseSchedule(s);
    return true;
  } catch {
    return false;
  }
}, "use rate(N minutes|hours|days) or cron(min hour day-of-month month day-of-week year), e.g. 'rate(1 hour)'");

/**
 * How a plan's snapshots are verified. The pipeline's verify step runs the catalog and checksum
 * tiers and a deep check of the sample; `schedules` run a tier again on the plan's newest committed
 * snapshot. @see docs/format.md#verification
 */
export const VerificationSettingsSchema = z.strictObject({
  /** Percent (0–100) of the referenced blobs the deep tier downloads and checks. */
  samplePercent: z.number().min(0).max(100).default(5),
  /** Also deep-check blobs, in sample order, until this many stored bytes are covered. */
  sampleBytes: z.number().int().nonnegative().optional(),
  /** EventBridge `rate(…)`/`cron(…)` per tier; a scheduled `deep` run checks every blob. */
  schedules: z
    .strictObject({
      catalog: scheduleSchema.optional(),
      checksum: scheduleSchema.optional(),
      deep: scheduleSchema.optional(),
    })
    .optional(),
});

/**
 * Restore drills: on a schedule, restore a random sample of a recent snapshot's objects to a scratch
 * prefix, check them, measure throughput and time to first byte, and estimate the plan's RTO.
 * @see docs/format.md#plans
 */
export const DrillSettingsSchema = z.strictObject({
  /** EventBridge `rate(…)`/`cron(…)`: when the scheduler enqueues a drill. */
  schedule: scheduleSchema,
  /** Objects restored per region (at most). */
  sampleObjects: z.number().int().min(1).max(1000).default(20),
  /** Optional cap on the sample's bytes (the first object drawn always counts). */
  sampleBytes: z.number().int().positive().optional(),
  /** Draw the snapshot among this many newest committed snapshots. */
  recentSnapshots: z.number().int().min(1).max(100).default(3),
});
export type DrillSettings = z.infer<typeof DrillSettingsSchema>;

/** A plan as users write it. @see docs/format.md#plans */
/**
 * How a plan's snapshots fan out: partitions of about `partitionObjects` objects, at most
 * `maxParallelPartitions` of them running at once (so a backup cannot starve the source bucket).
 * @see docs/format.md#partitions
 */
export const SnapshotSettingsSchema = z.strictObject({
  partitionObjects: z.number().int().min(100).max(1_000_000).optional(),
  maxParallelPartitions: z.number().int().min(1).max(1000).optional(),
  /**
   * A table source: the Scan segments a full snapshot reads in parallel, one partition each
   * (DynamoDB's TotalSegments, at most 1,000,000). @default one per `partitionObjects` items, at most 64
   */
  scanSegments: z.number().int().min(1).max(1_000_000).optional(),
});
export type SnapshotSettings = z.infer<typeof SnapshotSettingsSchema>;

/**
 * Continuous protection (docs/format.md#journal-built-snapshots): capture stores every change of the
 * source as it happens, and the plan's snapshots are built from the previous snapshot plus the
 * journal, without listing the source. `reconcileSchedule` (default daily) makes the first snapshot
 * after each of its occurrences list the source instead, repair what the events missed, and count it.
 */
export const ContinuousSettingsSchema = z.strictObject({
  reconcileSchedule: scheduleSchema.optional(),
  /** Seconds a journal entry must have been captured before a snapshot includes it. @default 30 */
  settleSeconds: z.number().int().min(0).max(3600).optional(),
  /**
   * Differential snapshots: each journal-built snapshot is built from the last full one (a listing
   * or reconcile: for a table, a Scan) plus the whole journal since, not from the last snapshot. A
   * restore then needs one full snapshot and one differential, and a damaged journal-built
   * snapshot spoils no later one; each differential grows with the changes since the full one.
   * @see docs/format.md#journal-built-snapshots
   */
  differential: z.boolean().optional(),
  /** Every Nth snapshot is a full one (a reconcile: lists or scans the source and counts repairs). */
  fullEvery: z.number().int().min(1).max(10_000).optional(),
});
export type ContinuousSettings = z.infer<typeof ContinuousSettingsSchema>;

/** How often a continuously protected plan reconciles when it does not say. */
export const DEFAULT_RECONCILE_SCHEDULE = 'rate(1 day)';

/**
 * A plan's own S3 Object Lock period, overriding the deployment's (`STRONGBOX_OBJECT_LOCK_MODE` and
 * `_DAYS`) when prune extends the retention of the documents its kept snapshots reference. Documents
 * are written with the deployment's lock. @see ./immutability.ts
 */
export const ImmutabilitySchema = z.strictObject({
  mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
  /** Days each snapshot stays undeletable after its time. */
  days: z.number().int().min(1).max(36_500),
});

/** Objects per partition when a plan does not say. */
export const DEFAULT_PARTITION_OBJECTS = 10_000;
/** Partitions of one snapshot running at once when a plan does not say. */
export const DEFAULT_MAX_PARALLEL_PARTITIONS = 4;

/** An S3 bucket source: the whole bucket, or the keys under `prefix`. */
export const BucketSourceSchema = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name'),
  prefix: z.string().default(''),
});
export type BucketSourceSpec = z.infer<typeof BucketSourceSchema>;

/**
 * A DynamoDB table source (docs/format.md#table-items): the table's name and, when not the
 * deployment's region, its region. Its stream (NEW_IMAGE or NEW_AND_OLD_IMAGES) feeds capture.
 */
export const TableSourceSchema = z.strictObject({
  table: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'not a valid DynamoDB table name'),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'not an AWS region name')
    .optional(),
});
export type TableSourceSpec = z.infer<typeof TableSourceSchema>;

/** A plan's source, either kind. */
export type SourceSpec = BucketSourceSpec | TableSourceSpec;

/** Whether a source spec names a DynamoDB table. */
export function isTableSource(spec: SourceSpec): spec is TableSourceSpec {
  return 'table' in spec;
}

/** A source for messages: `s3://bucket/prefix` or `dynamodb://table` (`dynamodb://region/table`). */
export function sourceUriOf(spec: SourceSpec): string {
  if (isTableSource(spec)) return `dynamodb://${spec.region ? `${spec.region}/` : ''}${spec.table}`;
  return `s3://${spec.bucket}/${spec.prefix}`;
}

export const PlanSchema = z.strictObject({
  /** Lowercase letters, digits and dashes; appears in vault keys. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes (at most 63)'),
  /** What the plan protects: an S3 bucket (whole or a prefix), or a DynamoDB table. */
  source: z.union([BucketSourceSchema, TableSourceSchema], {
    error: 'give a bucket ({ bucket, prefix }) or a DynamoDB table ({ table, region })',
  }),
  schedule: scheduleSchema,
  retention: RetentionPolicySchema,
  copyRegions: z.array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'not an AWS region name')).default([]),
  /**
   * Isolated vaults (another account or provider) each snapshot is copied to, by the names the
   * deployment configures them under (`STRONGBOX_ISOLATED_VAULTS`). @see docs/format.md#isolated-vaults
   */
  isolatedVaults: z
    .array(
      z
        .string()
        .regex(
          /^[a-z0-9][a-z0-9-]{0,62}$/,
          'use the isolated vault’s name: lowercase letters, digits and dashes',
        ),
    )
    .optional(),
  verification: VerificationSettingsSchema.default({ samplePercent: 5 }),
  /** Optional restore drills; none when absent. */
  drill: DrillSettingsSchema.optional(),
  snapshot: SnapshotSettingsSchema.optional(),
  continuous: ContinuousSettingsSchema.optional(),
  /**
   * The plan's recovery point objective, in minutes: its newest committed snapshot older than this
   * raises the RPO alarm (metric `RpoExceededPlans`) and a line in `strongbox status`.
   */
  rpoMinutes: z.number().int().min(1).max(525_600).optional(),
  /** Optional Object Lock period of this plan's snapshots (the deployment's when absent). */
  immutability: ImmutabilitySchema.optional(),
  /**
   * The ransomware detector's settings (every field has a default; the detector watches a plan
   * without them). @see ./detector/settings.ts
   */
  detector: DetectorSettingsSchema.optional(),
  enabled: z.boolean().default(true),
});
export type Plan = z.infer<typeof PlanSchema>;

/** A file of plans: `plans: [ ... ]`. */
export const PlansFileSchema = z.strictObject({ plans: z.array(PlanSchema).min(1) });

/**
 * Validate a parsed plans document (from YAML or JSON) against the schema and the deployment.
 * @param doc the parsed document.
 * @param copyRegions the regions this deployment has a copy vault in.
 * @param reservedBuckets buckets of the deployment no plan may protect, each with what it is (e.g.
 *   `strongbox-prod-vault-… → 'the primary vault'`): its vault buckets (primary and copies), whose
 *   documents a snapshot would back up into themselves, and the restore drills' scratch bucket.
 *   @default none
 * @param isolatedVaults the names of this deployment's isolated vaults. @default none
 * @throws ValidationError (not retryable) naming the field, e.g. `plans[0].retention.keepDaily`, or
 *   `plans[0].source.bucket` for a reserved bucket.
 *   `plans[0].isolatedVaults[0]` for an isolated vault the deployment does not configure.
 * @example
 * ```ts
 * const plans = validatePlans(YAML.parse(text), ['eu-west-1'], new Map([[vaultBucket, 'the primary vault']]));
 * ```
 */
export function validatePlans(
  doc: unknown,
  copyRegions: readonly string[],
  reservedBuckets: ReadonlyMap<string, string> = new Map(),
  isolatedVaults: readonly string[] = [],
): Plan[] {
  const parsed = PlansFileSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid plans file', formatPath(issue?.path ?? []));
  }
  const seen = new Set<string>();
  parsed.data.plans.forEach((plan, i) => {
    if (seen.has(plan.id)) throw new ValidationError(`duplicate plan id '${plan.id}'`, `plans[${i}].id`);
    seen.add(plan.id);
    const reserved = isTableSource(plan.source) ? undefined : reservedBuckets.get(plan.source.bucket);
    if (reserved !== undefined && !isTableSource(plan.source)) {
      throw new ValidationError(
        `'${plan.source.bucket}' is ${reserved} of this deployment: a plan may not protect a vault or the drill bucket`,
        `plans[${i}].source.bucket`,
      );
    }
    (plan.isolatedVaults ?? []).forEach((name, j) => {
      if (!isolatedVaults.includes(name)) {
        throw new ValidationError(
          `no isolated vault named '${name}' is configured (configured: ${isolatedVaults.join(', ') || 'none'})`,
          `plans[${i}].isolatedVaults[${j}]`,
        );
      }
    });
    plan.copyRegions.forEach((region, j) => {
      if (!copyRegions.includes(region)) {
        throw new ValidationError(
          `no copy vault is configured in ${region} (configured: ${copyRegions.join(', ') || 'none'})`,
          `plans[${i}].copyRegions[${j}]`,
        );
      }
    });
  });
  // A table's changes come from its stream: its plan is always under continuous protection.
  return parsed.data.plans.map((plan) =>
    isTableSource(plan.source) && !plan.continuous ? { ...plan, continuous: {} } : plan,
  );
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => {
    if (typeof part === 'number') return `${acc}[${part}]`;
    return acc ? `${acc}.${String(part)}` : String(part);
  }, '');
}
