/**
 * The table restore request: which snapshot (or point in time) of a table plan, which items, and
 * where to (a new table, or the original one with an overwrite policy); and what it reports.
 * @see ../../../docs/format.md#table-restore
 */

import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { AttributeValueSchema } from './attribute-value.ts';

/**
 * What a table restore does with an item whose key the target table already holds: `never` keeps it
 * (a conditional PutItem per item, `attribute_not_exists` on the key), `always` replaces it
 * (BatchWriteItem puts). The object restore's `ifChanged` has no table counterpart here (it would
 * read every item first), nor has an "if newer" (items carry no modification time).
 */
export const TABLE_OVERWRITE_POLICIES = ['never', 'always'] as const;
export type TableOverwritePolicy = (typeof TABLE_OVERWRITE_POLICIES)[number];

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/** A table restore request, as the restore function and the CLI accept it. */
export const TableRestoreRequestSchema = z
  .strictObject({
    /** Optional discriminator: a request naming `toTable` or `toOriginal` is a table restore anyway. */
    kind: z.literal('table').optional(),
    plan: z.string().min(1),
    /** A snapshot id, or "latest". @default "latest" */
    snapshot: z.string().min(1).default('latest'),
    /**
     * ISO-8601: the table as it was at this time: the newest snapshot at or before it plus the
     * journaled item changes up to it (docs/format.md#point-in-time-state).
     */
    pointInTime: z.iso.datetime({ offset: true }).optional(),
    /** The region (or `isolated:<name>`) whose vault to read. @default the primary region */
    region: z.string().min(1).optional(),
    /** Restore into this new table (refused when it exists), created with the recorded definition. */
    toTable: z.string().regex(TABLE_NAME, 'not a valid DynamoDB table name').optional(),
    /** Restore into the plan's own table (created with the recorded definition if it is gone). */
    toOriginal: z.literal(true).optional(),
    /** The target table's region. @default the plan's source table's region */
    targetRegion: z.string().min(1).optional(),
    select: z
      .strictObject({
        /** These item keys only (`itemKeyOf`: `pk`, or `pk/sk`, `%` and `/` escaped). */
        keys: z.array(z.string().min(1)).min(1).optional(),
        /** Item keys under this prefix: `customer#42/` selects one partition key's items. */
        keyPrefix: z.string().min(1).optional(),
        /** A filter expression on the items' attributes (table/filter.ts). */
        filter: z.string().min(1).optional(),
        /** The filter's `:placeholder` values, in DynamoDB JSON. */
        values: z.record(z.string().regex(/^:[A-Za-z0-9_]+$/), AttributeValueSchema).optional(),
        /** The filter's `#placeholder` attribute names. */
        names: z.record(z.string().regex(/^#[A-Za-z0-9_]+$/), z.string().min(1)).optional(),
      })
      .optional(),
    /** Items the target table already holds (original table only). @default "never" */
    overwrite: z.enum(TABLE_OVERWRITE_POLICIES).default('never'),
    /** Count and list what would be restored; create and write nothing. */
    dryRun: z.boolean().default(false),
  })
  .superRefine((r, ctx) => {
    if ((r.toTable === undefined) === (r.toOriginal === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['toTable'],
        message: 'give exactly one of toTable and toOriginal',
      });
    if (r.select && (r.select.values || r.select.names) && r.select.filter === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['select', 'values'],
        message: 'values and names go with a filter',
      });
  });
export type TableRestoreRequest = z.input<typeof TableRestoreRequestSchema>;
export type ParsedTableRestoreRequest = z.output<typeof TableRestoreRequestSchema>;

/**
 * Whether a restore request is a table restore: it says `kind: 'table'`, or names `toTable` or
 * `toOriginal` (which an object restore never has).
 */
export function isTableRestoreRequest(input: unknown): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const r = input as Record<string, unknown>;
  return r.kind === 'table' || 'toTable' in r || 'toOriginal' in r;
}

/** Parse a table restore request. @throws ValidationError (not retryable) naming the field. */
export function parseTableRestoreRequest(input: unknown): ParsedTableRestoreRequest {
  const parsed = TableRestoreRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid table restore request', issue?.path.join('.') ?? '');
  }
  return parsed.data;
}

/** What a table restore did (or, with `dryRun`, would do). */
export interface TableRestoreReport {
  kind: 'table';
  planId: string;
  snapshotId: string;
  /** ISO-8601: the snapshot's time. */
  snapshotTime?: string;
  /** With `pointInTime`: the time restored; `snapshotId` is the base snapshot. */
  pointInTime?: string;
  /** With `pointInTime`: selected items whose state came from the journal. */
  fromJournal?: number;
  /** The region whose vault was read. */
  region: string;
  /** The table written. */
  table: string;
  /** The target table's region (`undefined`: the deployment's). */
  targetRegion?: string;
  /** Whether the restore created the table (a new table; an original that was gone). */
  created: boolean;
  toOriginal: boolean;
  overwrite: TableOverwritePolicy;
  dryRun: boolean;
  /** Items selected (keys, key prefix and filter), TTL-expired ones included. */
  selected: number;
  /** Items written (with `dryRun`: that would be written). */
  restored: number;
  /** Items kept because the table held one with their key (policy `never`). */
  skipped: number;
  /** Items left out because their TTL attribute was already past. */
  expired: number;
  /** Items not written (attempts exhausted, or a non-retryable error); `errors` says why. */
  failed: number;
  errors: string[];
  /** Write attempts throttled or left partly unprocessed (each retried after a backoff). */
  throttled: number;
  /** Wall-clock seconds by the injected clock. */
  seconds: number;
  /**
   * False when the invocation's time ran low (less than `timeReserveSeconds` left) and the restore
   * stopped reading items: those written stay, the rest were not restored (a warning says so).
   */
  complete: boolean;
  warnings: string[];
  /** With `dryRun`: the first 10 item keys that would be written. */
  keys?: string[];
}

/** Progress of a table restore, after each batch. */
export interface TableRestoreProgress {
  /** Items selected so far. */
  selected: number;
  restored: number;
  skipped: number;
  failed: number;
  /** Items the snapshot holds (an upper bound of what is selected, journal inserts aside). */
  total: number;
}
