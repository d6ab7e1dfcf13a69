/**
 * What capture counts for the detector: for each change it journaled for the first time, whether it
 * overwrote a key that held an object, whether the new content compressed, whether it could be read
 * at all, and whether it looks like a ransom rename; added to the plan's counts of the minute.
 * @see ../../../docs/format.md#detector
 */
import type { PipelineDeps } from '../pipeline.ts';
import type { PlanRecord, SnapshotRecord } from '../records.ts';
import { readManifest, readPart } from '../repository/read-documents.ts';
import { compareKeys, type Manifest } from '../vault.ts';
import { type ChangeCounts, detectorPrefixOf, minuteOf } from './model.ts';
import { type DetectorSettings, detectorSettingsOf } from './settings.ts';

/** How long a plan's counts of one minute are kept (DynamoDB TTL): two days, past any baseline. */
export const COUNTS_TTL_MS = 2 * 86_400_000;

/** What capture knows of one change once it has journaled it. */
export interface CapturedChange {
  key: string;
  sequencer: string;
  /** `created`: the key has new bytes (or capture could not read them); `removed`: it has none. */
  event: 'created' | 'removed';
  /** Whether capture stored the bytes (`captured`), or why not. */
  outcome: 'captured' | 'removed' | 'lost-before-capture';
  /** Capture could not read the object because of its encryption (SSE-C). */
  unreadable?: boolean;
  /** Plaintext and sealed bytes of the blobs this change added to the vault (0 when all were there). */
  plaintextBytes: number;
  sealedBytes: number;
  /** How S3 encrypts the new version at rest, when its response said (`AES256`, `aws:kms:<key>`). */
  encryption?: string;
}

type CountDeps = Pick<PipelineDeps, 'catalog' | 'clock' | 'vaults' | 'envelope'>;

/**
 * Count one change for each plan that journaled it for the first time (`plans`; a redelivered event
 * journals nothing and counts nothing), in the minute of the clock: one `ADD` per plan whose
 * detector is enabled. A change is counted after its journal entry, so a failure between the two
 * loses its count (never counts it twice).
 * @returns the plans counted.
 * @throws TransientError (retryable) from the catalog or the vault (reading the newest snapshot's
 *   manifest to tell whether the key existed).
 */
export async function countChange(
  deps: CountDeps,
  plans: readonly PlanRecord[],
  change: CapturedChange,
): Promise<string[]> {
  const counted: string[] = [];
  const now = deps.clock.now();
  for (const plan of plans) {
    const settings = detectorSettingsOf(plan);
    if (!settings.enabled) continue;
    const counts = await countsOf(deps, plan.id, settings, change);
    const expiresAt = new Date(now.getTime() + COUNTS_TTL_MS).toISOString();
    await deps.catalog.addChangeCounts(plan.id, minuteOf(now), counts, expiresAt);
    // And the same counts for the key's prefix, its own baseline (./detect.ts, per prefix).
    const prefix = detectorPrefixOf(change.key, 'prefix' in plan.source ? plan.source.prefix : '');
    if (prefix !== undefined)
      await deps.catalog.addChangeCounts(plan.id, minuteOf(now), counts, expiresAt, prefix);
    counted.push(plan.id);
  }
  return counted;
}

/** The counts one change adds to a plan's minute. */
export async function countsOf(
  deps: CountDeps,
  planId: string,
  settings: DetectorSettings,
  change: CapturedChange,
): Promise<Partial<ChangeCounts>> {
  if (change.event === 'removed' && change.outcome === 'removed') return { removals: 1 };
  if (change.event !== 'created') return {};
  const counts: Partial<ChangeCounts> = { created: 1 };
  if (change.unreadable) counts.unreadable = 1;
  const prior = await priorVersion(deps, planId, change.key, change.sequencer);
  if (prior.existed) {
    counts.overwrites = 1;
    // Re-encrypted at rest (another KMS key, SSE-S3 to KMS): both versions' encryption known, and different.
    if (change.encryption && prior.encryption && change.encryption !== prior.encryption) {
      counts.encryptionChanges = 1;
    }
    if (
      change.outcome === 'captured' &&
      isIncompressible(change.plaintextBytes, change.sealedBytes, settings)
    ) {
      counts.incompressibleOverwrites = 1;
    }
  } else if (await isRansomRename(deps, planId, change.key, settings)) {
    counts.extensionChanges = 1;
  }
  return counts;
}

/**
 * Whether new content did not compress: at least `incompressibleMinBytes` of it, sealed to at least
 * `incompressibleRatio` of its plaintext (zstd then AES-GCM: encrypted or random bytes stay as large).
 */
export function isIncompressible(
  plaintextBytes: number,
  sealedBytes: number,
  settings: Pick<DetectorSettings, 'incompressibleRatio' | 'incompressibleMinBytes'>,
): boolean {
  return (
    plaintextBytes > 0 &&
    plaintextBytes >= settings.incompressibleMinBytes &&
    sealedBytes >= settings.incompressibleRatio * plaintextBytes
  );
}

/** The last extension of a key's last path segment, lowercase with its dot (`''` when none). */
export function extensionOf(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}

/**
 * Whether a new key looks like a ransom rename: its extension is one of `settings.extensions`, or it
 * adds an extension to a key that existed (`a.jpg.x` where `a.jpg` existed).
 */
async function isRansomRename(
  deps: CountDeps,
  planId: string,
  key: string,
  settings: DetectorSettings,
): Promise<boolean> {
  const ext = extensionOf(key);
  if (ext === '') return false;
  if (settings.extensions.includes(ext)) return true;
  const stem = key.slice(0, key.length - ext.length);
  if (extensionOf(stem) === '') return false;
  return keyExisted(deps, planId, stem, undefined);
}

/**
 * Whether a key of the plan held an object before the change `sequencer` names (undefined: now):
 * the key's newest journal entry before it says so; without one, the newest committed snapshot's
 * manifest (cached).
 */
export async function keyExisted(
  deps: CountDeps,
  planId: string,
  key: string,
  sequencer: string | undefined,
): Promise<boolean> {
  return (await priorVersion(deps, planId, key, sequencer)).existed;
}

/**
 * What a key of the plan held before the change `sequencer` names: whether an object, and how S3
 * encrypted it when the journal recorded that (a key known only from a snapshot: unknown).
 */
async function priorVersion(
  deps: CountDeps,
  planId: string,
  key: string,
  sequencer: string | undefined,
): Promise<{ existed: boolean; encryption?: string }> {
  const last = await deps.catalog.latestJournalEntryBefore(planId, key, sequencer);
  if (last) {
    if (last.outcome === 'removed') return { existed: false };
    return { existed: true, ...(last.encryption ? { encryption: last.encryption } : {}) };
  }
  return { existed: await inNewestSnapshot(deps, planId, key) };
}

/** Snapshot lists (per catalog and plan) kept this long before they are read again. */
const SNAPSHOT_LIST_TTL_MS = 60_000;
const snapshotLists = new WeakMap<object, Map<string, { at: number; newest?: SnapshotRecord }>>();
/** Manifests and parts kept per vault store (the oldest read is dropped first). */
const CACHED_MANIFESTS = 8;
const CACHED_PARTS = 64;
const manifests = new WeakMap<object, Map<string, Manifest>>();
const parts = new WeakMap<object, Map<string, string[]>>();

async function inNewestSnapshot(deps: CountDeps, planId: string, key: string): Promise<boolean> {
  const snapshot = await newestCommitted(deps, planId);
  if (!snapshot?.manifestId) return false;
  const vault = deps.vaults.primary;
  const manifest = await cached(manifests, vault, snapshot.manifestId, CACHED_MANIFESTS, () =>
    readManifest(vault, deps.envelope, planId, snapshot.manifestId as string),
  );
  const ref = manifest.parts.find(
    (p) => compareKeys(p.firstKey, key) <= 0 && compareKeys(key, p.lastKey) <= 0,
  );
  if (!ref) return false;
  const keys = await cached(parts, vault, ref.partId, CACHED_PARTS, async () =>
    (await readPart(vault, deps.envelope, planId, ref.partId)).entries.map((e) => e.key),
  );
  return keys.includes(key);
}

async function newestCommitted(deps: CountDeps, planId: string): Promise<SnapshotRecord | undefined> {
  let byPlan = snapshotLists.get(deps.catalog);
  if (!byPlan) {
    byPlan = new Map();
    snapshotLists.set(deps.catalog, byPlan);
  }
  const now = deps.clock.now().getTime();
  const hit = byPlan.get(planId);
  if (hit && now - hit.at < SNAPSHOT_LIST_TTL_MS) return hit.newest;
  const newest = (await deps.catalog.listSnapshots(planId))
    .filter((s) => s.status === 'COMMITTED' && s.manifestId)
    .at(-1);
  byPlan.set(planId, { at: now, ...(newest ? { newest } : {}) });
  return newest;
}

async function cached<T>(
  caches: WeakMap<object, Map<string, T>>,
  owner: object,
  id: string,
  limit: number,
  read: () => Promise<T>,
): Promise<T> {
  let cache = caches.get(owner);
  if (!cache) {
    cache = new Map();
    caches.set(owner, cache);
  }
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const value = await read();
  cache.set(id, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value as string);
  return value;
}
