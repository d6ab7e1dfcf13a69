/**
 * A plan's detector settings (`detector:` in the plans YAML): which change rates count as an attack
 * on its source, and whether a finding quarantines the plan. Every field has a default, so a plan
 * without `detector:` is watched with the defaults.
 * @see ../../../docs/format.md#detector
 */
import { z } from 'zod';

/** Per-window counts at or above which a kind of change is a finding (0 turns the kind off). */
export const DetectorThresholdsSchema = z.strictObject({
  /**
   * Overwrites of existing keys whose new content does not compress (sealed ≥ `incompressibleRatio`
   * × plaintext), plus objects capture could not read because of their encryption (SSE-C): what
   * re-encryption in place leaves. The key signal of an attack. @default 50
   */
  encryptedOverwrites: z.number().int().min(0).default(50),
  /** Keys removed. @default 1000 */
  removals: z.number().int().min(0).default(1000),
  /**
   * New keys whose extension is a ransomware extension (`extensions`), or that add an extension to
   * a key that existed (`a.jpg` → `a.jpg.locked`). @default 20
   */
  extensionChanges: z.number().int().min(0).default(20),
  /**
   * Overwrites re-encrypted at rest with another key than the key's previous version (SSE-KMS with
   * an attacker's key, to be deleted later). @default 20
   */
  encryptionChanges: z.number().int().min(0).default(20),
  /** Overwrites of existing keys, whatever their content (deploys overwrite many). @default 0 (off) */
  overwrites: z.number().int().min(0).default(0),
  /**
   * Changes of the protected bucket's lifecycle rules or bucket policy (an attacker's expiry rule,
   * or a policy that shuts Strongbox out), read every scheduler tick. @default 1
   */
  sourceSettings: z.number().int().min(0).default(1),
});
export type DetectorThresholds = z.infer<typeof DetectorThresholdsSchema>;

/** The kinds of findings: one per threshold. */
export type FindingKind = keyof DetectorThresholds;
export const FINDING_KINDS = [
  'encryptedOverwrites',
  'removals',
  'extensionChanges',
  'encryptionChanges',
  'overwrites',
  'sourceSettings',
] as const satisfies readonly FindingKind[];

/** Extensions ransomware commonly gives the files it encrypts (lowercase, with the dot). */
export const DEFAULT_RANSOM_EXTENSIONS = [
  '.locked',
  '.encrypted',
  '.enc',
  '.crypt',
  '.crypted',
  '.cry',
  '.lock',
  '.ransom',
  '.pay',
  '.wncry',
  '.locky',
  '.cerber',
] as const;

/** A plan's detector settings, as the plans YAML gives them (every field optional). */
export const DetectorSettingsSchema = z.strictObject({
  /** Count changes and look for anomalies after each capture batch. @default true */
  enabled: z.boolean().default(true),
  /** Put the plan in quarantine (by: detector) on a finding. @default true */
  quarantine: z.boolean().default(true),
  /** Minutes a rate is counted over (the window ends with the current minute). @default 5 */
  windowMinutes: z.number().int().min(1).max(60).default(5),
  /** Minutes before the window whose mean is the baseline. @default 60 */
  baselineMinutes: z.number().int().min(5).max(1440).default(60),
  /** A count must also reach this many times its baseline (the baseline's count per window). @default 10 */
  factor: z.number().min(1).max(1000).default(10),
  /**
   * New content whose sealed size is at least this share of its plaintext counts as incompressible
   * (zstd finds nothing to squeeze: encrypted or random bytes). @default 0.97
   */
  incompressibleRatio: z.number().gt(0).max(2).default(0.97),
  /** New content smaller than this is never judged incompressible (the envelope's overhead). @default 1024 */
  incompressibleMinBytes: z.number().int().min(0).default(1024),
  /** Ransomware extensions (lowercase, with the dot). @default DEFAULT_RANSOM_EXTENSIONS */
  extensions: z
    .array(z.string().regex(/^\.[a-z0-9_-]{1,32}$/, "use a lowercase extension with its dot, like '.locked'"))
    .default([...DEFAULT_RANSOM_EXTENSIONS]),
  thresholds: DetectorThresholdsSchema.default(DetectorThresholdsSchema.parse({})),
});
export type DetectorSettings = z.infer<typeof DetectorSettingsSchema>;

/**
 * The settings of a plan's `detector` field as stored (plans applied before it existed have none):
 * every default filled in.
 * @throws ZodError never for a stored plan (validated when applied).
 */
export function detectorSettingsOf(plan: { detector?: unknown }): DetectorSettings {
  return DetectorSettingsSchema.parse(plan.detector ?? {});
}
