/** The restore request: its schema, its parsing, and the hooks of one restore call. */

import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { ArchiveTier } from '../ports.ts';
import { OVERWRITE_POLICIES } from './overwrite.ts';
import type { RestoreProgress } from './report.ts';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A restore request, as the restore function and the CLI accept it. */
export const RestoreRequestSchema = z
  .strictObject({
    plan: z.string().min(1),
    /** A snapshot id, or "latest" (the committed snapshot with the newest `time`). @default "latest" */
    snapshot: z.string().min(1).default('latest'),
    /**
     * ISO-8601: restore the source as it was at this time (instead of `snapshot`), key by key: the
     * newest committed snapshot taken at or before it, with each key's latest journaled change
     * between that snapshot and this time applied (see point-in-time.ts). Without journaled changes:
     * exactly that snapshot.
     */
    pointInTime: z.iso.datetime({ offset: true }).optional(),
    /**
     * One object: its original key. With `snapshot`, the version that snapshot captured; with
     * `pointInTime`, the version the key had at that time (a captured version between snapshots too).
     */
    key: z.string().min(1).optional(),
    /**
     * These original keys only (a list from `strongbox find`, `diff` or `ls`), with no limit on their
     * number; with `snapshot` or `pointInTime`, the version each had there. A listed key the
     * snapshot does not hold is a warning, not an error. A restore job stores the list in the
     * catalog, one item per slice (see docs/format.md#catalog).
     */
    keys: z.array(z.string().min(1)).min(1).optional(),
    /** Only original keys under this prefix. */
    prefix: z.string().min(1).optional(),
    /** Globs over the original keys (picomatch syntax, `**` crosses `/`); none = everything. */
    include: z.array(z.string().min(1)).optional(),
    /** Globs over the original keys to leave out, applied after `include`. */
    exclude: z.array(z.string().min(1)).optional(),
    /** @default the plan's source bucket (a restore "to the original bucket") */
    targetBucket: z.string().regex(BUCKET_NAME, 'not a valid S3 bucket name').optional(),
    targetPrefix: z.string().default(''),
    /**
     * A key the target already holds: `never` skips it, `ifChanged` writes it only when its size or
     * SHA-256 differs from the snapshot's, `always` writes it. @default "never"
     */
    overwrite: z.enum(OVERWRITE_POLICIES).default('never'),
    /** Retrieval tier for packs in GLACIER or DEEP_ARCHIVE. @default "Standard" */
    archiveTier: z.enum(['Expedited', 'Standard', 'Bulk']).default('Standard'),
    /** Days an archive restore keeps its readable copy. @default 3 */
    archiveDays: z.number().int().min(1).max(365).default(3),
    /** The region whose vault to read. @default the primary region */
    region: z.string().optional(),
    dryRun: z.boolean().default(false),
    /**
     * `true`: fan out through the restore queue whatever the selection's size; `false`: restore in
     * this invocation. @default fan out above the configured threshold (500 objects)
     */
    fanOut: z.boolean().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.key !== undefined && r.keys !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['keys'],
        message: 'a single key cannot be combined with a list of keys',
      });
    }
    if (r.key !== undefined && (r.prefix !== undefined || r.include || r.exclude)) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: 'a single key cannot be combined with prefix, include or exclude',
      });
    }
  });
export type RestoreRequest = z.input<typeof RestoreRequestSchema>;
export type ParsedRestoreRequest = z.output<typeof RestoreRequestSchema>;

/** Hooks and timing of one restore call. */
export interface RestoreOptions {
  /** Called after each object with the running totals. */
  onProgress?: (p: RestoreProgress) => void;
  /** Called after each look at archived packs: how many of them are still being restored. */
  onArchive?: (p: { pending: number; total: number; tier: ArchiveTier }) => void;
  /**
   * Waits between looks at archived packs. Without it a restore that needs archived packs asks for
   * them and fails with {@link ArchivePendingError} (retryable): run it again later.
   */
  sleep?: (ms: number) => Promise<void>;
  /** Milliseconds between looks at archived packs. @default 300000 (5 minutes) */
  archivePollMs?: number;
  /** Longest wait for archived packs, in milliseconds. @default 172800000 (48 hours) */
  archiveMaxWaitMs?: number;
}

/**
 * Parse a restore request.
 * @throws ValidationError (not retryable) naming the field.
 */
export function parseRestoreRequest(input: unknown): ParsedRestoreRequest {
  const parsed = RestoreRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid restore request', issue?.path.join('.') ?? '');
  }
  return parsed.data;
}
