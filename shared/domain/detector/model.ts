/**
 * What the detector stores in the catalog: a plan's change counts per minute, written by capture,
 * and its findings. @see ../../../docs/format.md#detector
 */
import type { FindingKind } from './settings.ts';

/**
 * What capture counted in one minute for one plan (each field a count of changes; absent = 0).
 * Only changes capture journaled for the first time count, so a redelivered event counts once.
 */
export interface ChangeCounts {
  /** `ObjectCreated` changes journaled: new keys and overwrites. */
  created: number;
  /** Created changes of a key that held an object before (the journal or the newest snapshot says so). */
  overwrites: number;
  /** Changes that left the key without an object. */
  removals: number;
  /** Overwrites whose new content did not compress (sealed ≥ incompressibleRatio × plaintext). */
  incompressibleOverwrites: number;
  /** Created changes capture could not read because of their encryption (SSE-C: S3 wants the customer's key). */
  unreadable: number;
  /** New keys with a ransomware extension, or that add an extension to a key that existed. */
  extensionChanges: number;
  /**
   * Overwrites whose new version S3 encrypts at rest differently from the key's previous one (another
   * KMS key, SSE-S3 to SSE-KMS), when the journal recorded both (`JournalEntry.encryption`).
   */
  encryptionChanges: number;
  /**
   * Changes of the protected bucket's lifecycle rules or bucket policy, seen by the scheduler's
   * settings watch (./source-settings.ts), not by capture.
   */
  settingsChanges: number;
}

export const COUNT_FIELDS = [
  'created',
  'overwrites',
  'removals',
  'incompressibleOverwrites',
  'unreadable',
  'extensionChanges',
  'settingsChanges',
  'encryptionChanges',
] as const satisfies readonly (keyof ChangeCounts)[];

/** One minute's counts of a plan, as stored. */
export interface MinuteCounts extends Partial<ChangeCounts> {
  planId: string;
  /** The minute, `YYYY-MM-DDTHH:MM` (UTC). */
  minute: string;
  /**
   * The prefix these counts are of (the first path segment below the plan's prefix, with its `/`);
   * absent: the whole plan. Capture counts each change twice: for the plan and for its prefix.
   */
  prefix?: string;
}

/** The prefix a key counts under for the detector: its first path segment below `planPrefix`, or none. */
export function detectorPrefixOf(key: string, planPrefix: string): string | undefined {
  const slash = key.indexOf('/', planPrefix.length);
  return slash < 0 ? undefined : key.slice(0, slash + 1);
}

/**
 * A finding: a kind of change whose count over the plan's window reached its threshold and the
 * factor times its baseline. Recorded once per plan, kind and first minute; a later, higher count
 * of the same anomaly raises `count` and `lastSeenAt`.
 * @example
 * ```ts
 * const f: AnomalyFinding = { planId: 'photos', kind: 'encryptedOverwrites', firstSeenAt: '2026-12-06T03:41:00.000Z',
 *   lastSeenAt: '2026-12-06T03:42:10.000Z', count: 412, peakPerMinute: 380, baseline: 0.4, threshold: 50,
 *   windowMinutes: 5 };
 * ```
 */
export interface AnomalyFinding {
  planId: string;
  kind: FindingKind;
  /** ISO-8601 UTC: the start of the first minute of the window with a change of this kind. */
  firstSeenAt: string;
  /** ISO-8601 UTC: when the detector last saw it (its clock). */
  lastSeenAt: string;
  /** Changes of this kind in the window. */
  count: number;
  /** The most changes of this kind in one minute of the window. */
  peakPerMinute: number;
  /** The baseline: the mean count per window over the `baselineMinutes` before the window. */
  baseline: number;
  /** The plan's threshold for this kind (count per window). */
  threshold: number;
  windowMinutes: number;
  /**
   * With `perPrefix`: the prefix whose own counts and baseline the finding is of. Without: the prefix
   * (first path segment with its `/`) most of the window's changes fell under, when known.
   */
  prefix?: string;
  /**
   * The finding is of one prefix's counts against that prefix's own baseline (an attack on one
   * prefix of a bucket whose other prefixes are busy): reported only for kinds the plan's counts as a
   * whole do not already find.
   */
  perPrefix?: boolean;
}

/** What {@link DetectorCatalog.recordFinding} did: a new finding, a higher count on it, or nothing. */
export type FindingWrite = 'created' | 'raised' | 'unchanged';

/** The minute (`YYYY-MM-DDTHH:MM`, UTC) an instant falls in. */
export function minuteOf(at: Date | string): string {
  return new Date(at).toISOString().slice(0, 16);
}

/** The minute `delta` minutes after `minute` (negative: before). */
export function addMinutes(minute: string, delta: number): string {
  return minuteOf(new Date(Date.parse(`${minute}:00.000Z`) + delta * 60_000));
}

/** The ISO-8601 UTC start of a minute. */
export function minuteStart(minute: string): string {
  return `${minute}:00.000Z`;
}
