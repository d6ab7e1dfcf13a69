/**
 * The detector's watch on a protected bucket's own settings: an attacker who cannot delete fast
 * enough shortens the bucket's lifecycle (every object expires tomorrow) or rewrites its bucket
 * policy, and S3 sends no event notification for either. The scheduler reads each protected
 * bucket's settings on every tick (two GETs a bucket a minute), compares their fingerprints with
 * the ones it saw last, and counts each change in the plan's minute like capture counts changes
 * (`settingsChanges`), so the detector decides on it with the same thresholds, findings, events and
 * quarantine. @see ../../../docs/format.md#detector
 */
import { createHash } from 'node:crypto';
import type { PipelineDeps } from '../pipeline.ts';
import type { PlanRecord } from '../records.ts';
import { COUNTS_TTL_MS } from './count.ts';
import { minuteOf } from './model.ts';
import { type AnomalyEvents, type DetectorRun, runDetector } from './run.ts';
import { detectorSettingsOf } from './settings.ts';

/** The settings of a bucket the watch compares, by name. */
export const WATCHED_SETTINGS = ['lifecycle', 'policy'] as const;
export type WatchedSetting = (typeof WATCHED_SETTINGS)[number];

/**
 * A bucket's watched settings as read: each a canonical text (the configuration as S3 returned it,
 * JSON with sorted keys), `null` when the bucket has none, absent when it could not be read (an
 * endpoint that does not implement it, or access denied): an unreadable setting is never a change.
 */
export type SourceSettings = Partial<Record<WatchedSetting, string | null>>;

/** Reads a bucket's watched settings (S3: GetBucketLifecycleConfiguration, GetBucketPolicy). */
export interface SourceSettingsReader {
  /**
   * @throws TransientError (retryable) when S3 could not answer; a setting S3 refuses or does not
   *   implement is left out of the result instead.
   */
  readSettings(bucket: string): Promise<SourceSettings>;
}

/** What the watch last saw of a plan's bucket: each setting's fingerprint (SHA-256 hex, or `none`). */
export interface SourceSettingsRecord {
  planId: string;
  bucket: string;
  fingerprints: Partial<Record<WatchedSetting, string>>;
  /** ISO-8601 UTC: when these were read. */
  seenAt: string;
}

/** The fingerprint of one setting as read: `none` for no configuration. */
export function fingerprintOf(value: string | null): string {
  return value === null ? 'none' : createHash('sha256').update(value).digest('hex');
}

/**
 * The settings whose fingerprint changed: only settings read both times count (a first reading,
 * or a setting that could not be read either time, is not a change).
 */
export function changedSettings(
  previous: SourceSettingsRecord['fingerprints'] | undefined,
  current: SourceSettingsRecord['fingerprints'],
): WatchedSetting[] {
  if (!previous) return [];
  return WATCHED_SETTINGS.filter(
    (name) => previous[name] !== undefined && current[name] !== undefined && previous[name] !== current[name],
  );
}

/** What {@link watchSourceSettings} saw for one plan. */
export interface SettingsWatch {
  planId: string;
  bucket: string;
  changed: WatchedSetting[];
  /** The detector's run after counting the changes (only when some changed). */
  detector?: DetectorRun;
}

type WatchDeps = Pick<PipelineDeps, 'catalog' | 'clock'> & { sourceSettings: SourceSettingsReader };

/**
 * Read every watched plan's bucket settings, record them, and count a change in the plan's minute
 * (`settingsChanges`), then run the detector for the plans with a change. Plans whose detector is
 * disabled, or that protect no bucket, are skipped; one bucket that cannot be read does not stop
 * the others.
 * @returns one entry per plan watched; `failed` names the plans whose bucket could not be read.
 * @throws TransientError (retryable) from the catalog.
 * @example
 * ```ts
 * const { watched } = await watchSourceSettings({ ...pipeline, sourceSettings }, await catalog.listPlans(), { events });
 * for (const w of watched.filter((x) => x.changed.length)) console.log(`${w.bucket}: ${w.changed.join(', ')} changed`);
 * ```
 */
export async function watchSourceSettings(
  deps: WatchDeps,
  plans: readonly PlanRecord[],
  options: { events?: AnomalyEvents } = {},
): Promise<{ watched: SettingsWatch[]; failed: { planId: string; reason: string }[] }> {
  const watched: SettingsWatch[] = [];
  const failed: { planId: string; reason: string }[] = [];
  for (const plan of plans) {
    const bucket = 'bucket' in plan.source ? plan.source.bucket : undefined;
    if (!bucket || !detectorSettingsOf(plan).enabled) continue;
    let read: SourceSettings;
    try {
      read = await deps.sourceSettings.readSettings(bucket);
    } catch (error) {
      failed.push({ planId: plan.id, reason: error instanceof Error ? error.message : String(error) });
      continue;
    }
    const fingerprints: SourceSettingsRecord['fingerprints'] = {};
    for (const name of WATCHED_SETTINGS) {
      const value = read[name];
      if (value !== undefined) fingerprints[name] = fingerprintOf(value);
    }
    const previous = await deps.catalog.getSourceSettings(plan.id);
    const changed = previous?.bucket === bucket ? changedSettings(previous.fingerprints, fingerprints) : [];
    const now = deps.clock.now();
    const entry: SettingsWatch = { planId: plan.id, bucket, changed };
    if (changed.length > 0) {
      // Counted before the new fingerprints are stored: a crash between the two counts it again on
      // the next tick (a finding is recorded once), never loses it.
      await deps.catalog.addChangeCounts(
        plan.id,
        minuteOf(now),
        { settingsChanges: changed.length },
        new Date(now.getTime() + COUNTS_TTL_MS).toISOString(),
      );
      entry.detector = await runDetector(deps, plan.id, options);
    }
    const same =
      previous?.bucket === bucket &&
      WATCHED_SETTINGS.every((name) => previous.fingerprints[name] === fingerprints[name]);
    // Written only when something differs: a tick with no change costs two GETs and one read.
    if (!same) {
      await deps.catalog.putSourceSettings({
        planId: plan.id,
        bucket,
        fingerprints,
        seenAt: now.toISOString(),
      });
    }
    watched.push(entry);
  }
  return { watched, failed };
}
