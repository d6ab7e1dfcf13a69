/**
 * Restore: write a snapshot's objects (all, or those a key, a prefix and include/exclude globs
 * select) into a target bucket — the plan's source bucket unless another is named — each under its
 * original key below an optional prefix, with its content type and metadata, after checking that the
 * blob hashes to its address. An overwrite policy decides what happens to keys the target already
 * holds; blobs in archive storage classes are restored from the archive first.
 *
 * Small selections are restored in one call ({@link restoreSnapshot}); large ones fan out
 * ({@link startRestore}): a restore job in the catalog and one restore-part task per slice of the
 * selection, each run by {@link restorePart} with the same per-object work.
 * @see ../../docs/format.md#read-and-write-ordering
 * @see ../../docs/format.md#catalog (the restore job record)
 */

import pLimit from 'p-limit';
import picomatch from 'picomatch';
import { z } from 'zod';
import { IntegrityError, NotFoundError, reasonOf, StrongboxError, ValidationError } from './errors.ts';
import { readManifest } from './manifests.ts';
import { nowIso, type PipelineDeps, vaultBuckets, vaultIn } from './pipeline.ts';
import type {
  ArchiveTier,
  ObjectStore,
  RestoreJobRecord,
  SnapshotRecord,
  StorageState,
  VaultStore,
} from './ports.ts';
import type { RestorePartTask } from './tasks.ts';
import { blobAssociatedData, contentIdOf, type ManifestEntry, VaultLayout } from './vault.ts';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** What to do with a key the target already holds. */
export const OVERWRITE_POLICIES = ['never', 'ifChanged', 'always'] as const;
export type OverwritePolicy = (typeof OVERWRITE_POLICIES)[number];

/** How many skipped objects (and, with `dryRun`, keys) a report lists. */
export const REPORT_LIST_LIMIT = 1000;

/** A restore request, as the restore function and the CLI accept it. */
export const RestoreRequestSchema = z
  .strictObject({
    plan: z.string().min(1),
    /** A snapshot id, or "latest". @default "latest" */
    snapshot: z.string().min(1).default('latest'),
    /** ISO-8601: restore the newest snapshot taken at or before this time (instead of `snapshot`). */
    pointInTime: z.iso.datetime({ offset: true }).optional(),
    /** One object: its original key. With `snapshot` or `pointInTime`, the version that snapshot captured. */
    key: z.string().min(1).optional(),
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
    /** Retrieval tier for blobs in GLACIER or DEEP_ARCHIVE. @default "Standard" */
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

/** Why an object was not written. */
export type SkipReason = 'exists' | 'unchanged';

/** What a restore did (or, with `dryRun`, would do). */
export interface RestoreReport {
  planId: string;
  snapshotId: string;
  /** ISO-8601 UTC: the snapshot's time. */
  snapshotTime?: string;
  region: string;
  targetBucket: string;
  targetPrefix: string;
  overwrite: OverwritePolicy;
  dryRun: boolean;
  /** Objects selected from the snapshot. */
  selected: number;
  /** Objects written (with `dryRun`: that would be written). */
  objects: number;
  /** Bytes written (with `dryRun`: that would be written). */
  bytes: number;
  /** Objects not written, by reason: `exists` (policy never), `unchanged` (policy ifChanged). */
  skipped: Record<SkipReason, number>;
  /** The first 1000 skipped objects (target keys) and why. */
  skippedObjects: { key: string; reason: SkipReason }[];
  /** Archived blobs this restore needed, and how many it asked the archive to restore. */
  archive?: { blobs: number; requested: number; tier: ArchiveTier };
  /** Wall-clock seconds by the injected clock. */
  seconds: number;
  /** Requests that select nothing, globs that match nothing: the restore still succeeds. */
  warnings: string[];
  /** With `dryRun`: the first 1000 target keys that would be written. */
  keys?: string[];
}

/** Progress of a restore: `check` while it looks at the target, `write` while it writes. */
export interface RestoreProgress {
  phase: 'check' | 'write';
  /** Objects checked (phase check) or written (phase write) so far. */
  objects: number;
  /** Bytes written so far. */
  bytes: number;
  /** Objects the phase has to go through. */
  total: number;
  /** Bytes the write phase has to write. */
  totalBytes: number;
}

/** Hooks and timing of one restore call. */
export interface RestoreOptions {
  /** Called after each object with the running totals. */
  onProgress?: (p: RestoreProgress) => void;
  /** Called after each look at archived blobs: how many are still being restored. */
  onArchive?: (p: { pending: number; total: number; tier: ArchiveTier }) => void;
  /**
   * Waits between looks at archived blobs. Without it a restore that needs archived blobs asks for
   * them and fails with {@link ArchivePendingError} (retryable): run it again later.
   */
  sleep?: (ms: number) => Promise<void>;
  /** Milliseconds between looks at archived blobs. @default 300000 (5 minutes) */
  archivePollMs?: number;
  /** Longest wait for archived blobs, in milliseconds. @default 172800000 (48 hours) */
  archiveMaxWaitMs?: number;
}

/** Storage classes whose objects cannot be read until restored. GLACIER_IR reads directly. */
export const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/**
 * Archived blobs are still being restored: nothing was written. Retryable — the restores already
 * asked for keep running, so running the same restore later proceeds once they are ready.
 */
export class ArchivePendingError extends StrongboxError {
  /** Vault keys of the blobs not readable yet. */
  readonly pending: string[];
  constructor(message: string, pending: string[]) {
    super(message, { retryable: true });
    this.pending = pending;
  }
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

/**
 * Choose the snapshot a request names among a plan's snapshots.
 * @throws NotFoundError (not retryable): an unknown or unrestorable snapshot, or a point in time
 *   before the first committed snapshot (the message names that snapshot's time).
 */
export function selectSnapshot(
  snapshots: readonly SnapshotRecord[],
  request: { plan: string; snapshot: string; pointInTime?: string | undefined },
): SnapshotRecord {
  const committed = snapshots.filter((s) => s.status === 'COMMITTED' && s.time);
  if (request.pointInTime) {
    const at = Date.parse(request.pointInTime);
    const found = committed.filter((s) => Date.parse(s.time as string) <= at).at(-1);
    if (!found) {
      const first = committed[0];
      throw new NotFoundError(
        `plan '${request.plan}' has no committed snapshot at or before ${request.pointInTime}` +
          (first
            ? `: its first snapshot (${first.snapshotId}) was taken at ${first.time}`
            : ': it has no committed snapshot yet'),
      );
    }
    return found;
  }
  if (request.snapshot === 'latest') {
    const found = committed.at(-1);
    if (!found) throw new NotFoundError(`plan '${request.plan}' has no committed snapshot yet`);
    return found;
  }
  const found = snapshots.find((s) => s.snapshotId === request.snapshot);
  if (!found) throw new NotFoundError(`plan '${request.plan}' has no snapshot '${request.snapshot}'`);
  if (found.status !== 'COMMITTED') {
    throw new NotFoundError(
      `snapshot '${request.snapshot}' of plan '${request.plan}' is ${found.status}, not restorable`,
    );
  }
  return found;
}

/**
 * The entries of a snapshot a request selects (key, prefix, include, exclude), and a warning for
 * each part of the request that matches nothing.
 * @throws NotFoundError (not retryable) when a single `key` is not in the snapshot.
 */
export function selectEntries(
  entries: readonly ManifestEntry[],
  request: Pick<ParsedRestoreRequest, 'key' | 'prefix' | 'include' | 'exclude'>,
  snapshotId: string,
): { selected: ManifestEntry[]; warnings: string[] } {
  const warnings: string[] = [];
  if (request.key !== undefined) {
    const found = entries.find((e) => e.key === request.key);
    if (!found) {
      throw new NotFoundError(
        `snapshot ${snapshotId} does not hold '${request.key}' ('strongbox versions' lists the snapshots that do)`,
      );
    }
    return { selected: [found], warnings };
  }
  const { prefix } = request;
  let selected = prefix === undefined ? [...entries] : entries.filter((e) => e.key.startsWith(prefix));
  if (prefix !== undefined && selected.length === 0) {
    warnings.push(`prefix '${prefix}' matches no object of snapshot ${snapshotId}`);
  }
  const globs = (list: readonly string[] | undefined) =>
    (list ?? []).map((glob) => ({ glob, match: picomatch(glob, { dot: true }) }));
  const includes = globs(request.include);
  const excludes = globs(request.exclude);
  for (const { glob, match } of [...includes, ...excludes]) {
    if (selected.length > 0 && !selected.some((e) => match(e.key))) {
      warnings.push(
        `${includes.some((i) => i.glob === glob) ? 'include' : 'exclude'} glob '${glob}' matches no object of snapshot ${snapshotId}`,
      );
    }
  }
  if (includes.length > 0) selected = selected.filter((e) => includes.some((i) => i.match(e.key)));
  if (excludes.length > 0) selected = selected.filter((e) => !excludes.some((x) => x.match(e.key)));
  if (selected.length === 0 && entries.length > 0) {
    warnings.push(`nothing to restore: the request selects no object of snapshot ${snapshotId}`);
  }
  if (entries.length === 0) warnings.push(`snapshot ${snapshotId} holds no object`);
  return { selected, warnings };
}

/**
 * Whether to write one entry at `targetKey` under an overwrite policy.
 *
 * `ifChanged` compares content, not ETags (a multipart or SSE-KMS ETag is no content hash): a HEAD
 * first; a target of another size is changed; one of the same size is read and hashed, and is
 * `unchanged` when its SHA-256 equals the entry's blob id (the SHA-256 of the snapshot's bytes).
 * Restores write no marker metadata, so restored objects keep exactly their original metadata.
 * @param listed what a listing of the target reported for `targetKey` (`null`: not there), instead
 *   of a HEAD; undefined to HEAD it.
 * @returns `write`, or the reason to skip.
 */
export async function overwriteDecision(
  objects: ObjectStore,
  bucket: string,
  targetKey: string,
  entry: ManifestEntry,
  policy: OverwritePolicy,
  listed?: { sizeBytes: number } | null,
): Promise<'write' | SkipReason> {
  if (policy === 'always') return 'write';
  const head = listed === undefined ? await objects.head(bucket, targetKey) : listed;
  if (!head) return 'write';
  if (policy === 'never') return 'exists';
  if (head.sizeBytes !== entry.sizeBytes) return 'write';
  const current = await objects.get(bucket, targetKey);
  return contentIdOf(current.body) === entry.blobId ? 'unchanged' : 'write';
}

/**
 * Make the archived blobs among `blobIds` readable: ask the archive to restore those not asked for
 * yet, then look again every `archivePollMs` (through the injected `sleep`) until all are ready.
 * GLACIER_IR and STANDARD need nothing. A vault without the storage-state capability is taken as
 * having no archived blobs. `options.classes` (vault key → storage class, from a listing) spares a
 * HEAD for each blob it shows in a class that reads directly.
 * @throws ValidationError (not retryable), before anything is asked for, for `Expedited` with a
 *   DEEP_ARCHIVE blob.
 * @throws ArchivePendingError (retryable) when blobs are not ready within the wait, or no `sleep` was given.
 */
export async function prepareArchivedBlobs(
  vault: VaultStore,
  blobIds: readonly string[],
  request: { archiveTier: ArchiveTier; archiveDays: number; dryRun: boolean },
  options: RestoreOptions & { concurrency: number; classes?: ReadonlyMap<string, string> },
): Promise<{ blobs: number; requested: number } | undefined> {
  const stateOf = vault.storageStateOf?.bind(vault);
  if (!stateOf) return undefined;
  const limit = pLimit(options.concurrency);
  // Blobs a listing showed in a class that reads directly need no HEAD.
  const { classes } = options;
  const keys = blobIds
    .map((id) => VaultLayout.blobKey(id))
    .filter((key) => {
      const storageClass = classes?.get(key);
      return storageClass === undefined || ARCHIVE_CLASSES.has(storageClass);
    });
  const look = async (among: readonly string[]) => {
    const states = await Promise.all(
      among.map((key) => limit(async () => ({ key, ...(await stateOf(key)) }))),
    );
    return states.filter((s) => ARCHIVE_CLASSES.has(s.storageClass));
  };
  const archived = await look(keys);
  if (archived.length === 0) return undefined;
  const tier = request.archiveTier;
  if (tier === 'Expedited' && archived.some((s) => s.storageClass === 'DEEP_ARCHIVE')) {
    throw new ValidationError(
      'DEEP_ARCHIVE has no Expedited tier; use Standard (≤ 12 h) or Bulk (≤ 48 h)',
      'archiveTier',
    );
  }
  const notReady = (states: readonly ({ key: string } & StorageState)[]) =>
    states.filter((s) => s.restore !== 'ready');
  let pending = notReady(archived);
  const result = { blobs: archived.length, requested: 0 };
  if (request.dryRun || pending.length === 0) return result;
  const ask = pending.filter((s) => s.restore === 'none');
  const requestRestore = vault.requestRestore?.bind(vault);
  if (!requestRestore) throw new StrongboxError(`vault ${vault.bucket} cannot restore archived objects`);
  await Promise.all(ask.map((s) => limit(() => requestRestore(s.key, tier, request.archiveDays))));
  result.requested = ask.length;
  options.onArchive?.({ pending: pending.length, total: archived.length, tier });
  const pollMs = options.archivePollMs ?? 300_000;
  const maxWaitMs = options.archiveMaxWaitMs ?? 172_800_000;
  for (let waited = 0; options.sleep && pending.length > 0 && waited < maxWaitMs; waited += pollMs) {
    await options.sleep(pollMs);
    pending = notReady(await look(pending.map((s) => s.key)));
    options.onArchive?.({ pending: pending.length, total: archived.length, tier });
  }
  if (pending.length > 0) {
    throw new ArchivePendingError(
      `${pending.length} of ${archived.length} archived blob(s) are still being restored (tier ${tier}), e.g. ${pending[0]?.key}: nothing was written; run the same restore again later`,
      pending.map((s) => s.key),
    );
  }
  return result;
}

/** Where a restore reads and writes, resolved from a request before anything is written. */
interface ResolvedRestore {
  request: ParsedRestoreRequest;
  planId: string;
  snapshot: SnapshotRecord;
  region: string;
  vault: VaultStore;
  targetBucket: string;
  manifestId: string;
  selected: ManifestEntry[];
  warnings: string[];
}

/**
 * Resolve a request: plan, target (never a vault), snapshot, region, manifest and selection.
 * @throws ValidationError, NotFoundError (not retryable), as {@link restoreSnapshot}.
 */
async function resolveRestore(deps: PipelineDeps, request: ParsedRestoreRequest): Promise<ResolvedRestore> {
  const { catalog, envelope, vaults } = deps;
  const plan = await catalog.getPlan(request.plan);
  if (!plan) throw new NotFoundError(`plan '${request.plan}' does not exist`);
  const targetBucket = request.targetBucket ?? plan.source.bucket;
  if (vaultBuckets(vaults).has(targetBucket)) {
    throw new ValidationError(
      `'${targetBucket}' is a vault bucket: restore refuses to write into a vault`,
      'targetBucket',
    );
  }
  const snapshot = selectSnapshot(await catalog.listSnapshots(plan.id), request);
  const region = request.region ?? vaults.primary.region;
  if (region !== vaults.primary.region && snapshot.regions?.[region]?.status !== 'COPIED') {
    throw new NotFoundError(`snapshot ${snapshot.snapshotId} has not been copied to ${region}`);
  }
  const vault = vaultIn(vaults, region);
  const manifestId = snapshot.manifestId as string;
  const manifest = await readManifest(vault, envelope, plan.id, manifestId);
  const { selected, warnings } = selectEntries(manifest.entries, request, snapshot.snapshotId);
  return { request, planId: plan.id, snapshot, region, vault, targetBucket, manifestId, selected, warnings };
}

/**
 * Above this many objects a restore lists the target once (existence and size for the overwrite
 * policy) and the vault's blobs once (storage classes) instead of a HEAD per object.
 */
export const LISTING_THRESHOLD = 100;

/** The longest prefix every key shares: what to list to see them all. */
export function commonPrefix(keys: readonly string[]): string {
  let prefix = keys[0] ?? '';
  for (const key of keys) {
    let i = 0;
    while (i < prefix.length && i < key.length && prefix.charCodeAt(i) === key.charCodeAt(i)) i += 1;
    prefix = prefix.slice(0, i);
    if (!prefix) break;
  }
  return prefix;
}

/** Storage classes of the given blobs, from one listing of the vault's blobs (keys the listing shows). */
async function storageClassesOf(vault: VaultStore, blobIds: readonly string[]): Promise<Map<string, string>> {
  const wanted = new Set(blobIds.map((id) => VaultLayout.blobKey(id)));
  const classes = new Map<string, string>();
  for await (const o of vault.list(commonPrefix([...wanted]))) {
    if (o.storageClass !== undefined && wanted.has(o.key)) classes.set(o.key, o.storageClass);
  }
  return classes;
}

/** What {@link restoreEntries} did with a list of entries. */
interface EntriesOutcome {
  objects: number;
  bytes: number;
  skipped: Record<SkipReason, number>;
  skippedObjects: { key: string; reason: SkipReason }[];
  archive?: { blobs: number; requested: number };
  /** With `dryRun`: the first 1000 target keys that would be written. */
  keys: string[];
}

/**
 * The per-entry work of every restore, synchronous or one part of a fanned-out one: decide each
 * entry under the overwrite policy, make archived blobs readable, then (unless `dryRun`) open each
 * blob, check it hashes to its address and write it.
 * @throws IntegrityError (not retryable) for a blob that does not hash to its address.
 * @throws ArchivePendingError (retryable) when archived blobs are not readable yet.
 */
async function restoreEntries(
  deps: PipelineDeps,
  at: Pick<ResolvedRestore, 'request' | 'vault' | 'targetBucket'> & { listVault?: boolean },
  entries: readonly ManifestEntry[],
  opts: RestoreOptions,
): Promise<EntriesOutcome> {
  const { envelope, objects } = deps;
  const { request, vault, targetBucket } = at;
  const out: EntriesOutcome = {
    objects: 0,
    bytes: 0,
    skipped: { exists: 0, unchanged: 0 },
    skippedObjects: [],
    keys: [],
  };
  const limit = pLimit(deps.concurrency ?? 16);
  const targetKey = (entry: ManifestEntry) => request.targetPrefix + entry.key;
  const listing = entries.length > LISTING_THRESHOLD;

  // 1. What the target already holds decides what to write: one listing of the part of the target
  //    the entries fall under for a large selection, a HEAD per key for a small one.
  let listed: Map<string, number> | undefined;
  if (listing && request.overwrite !== 'always') {
    listed = new Map();
    for await (const o of objects.list(targetBucket, commonPrefix(entries.map(targetKey)))) {
      listed.set(o.key, o.sizeBytes);
    }
  }
  const listedAt = (key: string) => {
    if (!listed) return undefined;
    const sizeBytes = listed.get(key);
    return sizeBytes === undefined ? null : { sizeBytes };
  };
  let checked = 0;
  const decisions = await Promise.all(
    entries.map((entry) =>
      limit(async () => {
        const decision = await overwriteDecision(
          objects,
          targetBucket,
          targetKey(entry),
          entry,
          request.overwrite,
          listedAt(targetKey(entry)),
        );
        if (request.overwrite !== 'always') {
          checked += 1;
          opts.onProgress?.({
            phase: 'check',
            objects: checked,
            bytes: 0,
            total: entries.length,
            totalBytes: 0,
          });
        }
        return { entry, decision };
      }),
    ),
  );
  const toWrite: ManifestEntry[] = [];
  for (const { entry, decision } of decisions) {
    if (decision === 'write') {
      toWrite.push(entry);
      continue;
    }
    out.skipped[decision] += 1;
    if (out.skippedObjects.length < REPORT_LIST_LIMIT) {
      out.skippedObjects.push({ key: targetKey(entry), reason: decision });
    }
  }
  const totalBytes = toWrite.reduce((sum, e) => sum + e.sizeBytes, 0);

  // 2. Archived blobs must be readable before the first write. A large restore learns the storage
  //    classes from one listing of the vault's blobs (unless `at.listVault` is false: a restore part,
  //    whose few hundred blobs are cheaper to HEAD than a whole vault is to list, once per part).
  const blobIds = [...new Set(toWrite.map((e) => e.blobId))];
  const classes =
    blobIds.length > LISTING_THRESHOLD && at.listVault !== false && vault.storageStateOf
      ? await storageClassesOf(vault, blobIds)
      : undefined;
  const archive = await prepareArchivedBlobs(vault, blobIds, request, {
    ...opts,
    concurrency: deps.concurrency ?? 16,
    ...(classes ? { classes } : {}),
  });
  if (archive) out.archive = archive;

  if (request.dryRun) {
    out.objects = toWrite.length;
    out.bytes = totalBytes;
    out.keys = toWrite.slice(0, REPORT_LIST_LIMIT).map(targetKey);
    return out;
  }

  // 3. Write.
  await Promise.all(
    toWrite.map((entry) =>
      limit(async () => {
        const sealed = await vault.get(VaultLayout.blobKey(entry.blobId));
        const body = await envelope.open(sealed, blobAssociatedData(entry.blobId));
        if (contentIdOf(body) !== entry.blobId) {
          throw new IntegrityError(`blob ${entry.blobId} of '${entry.key}' does not hash to its address`);
        }
        await objects.put(targetBucket, targetKey(entry), body, {
          ...(entry.contentType === undefined ? {} : { contentType: entry.contentType }),
          ...(entry.metadata === undefined ? {} : { metadata: entry.metadata }),
        });
        out.objects += 1;
        out.bytes += body.length;
        opts.onProgress?.({
          phase: 'write',
          objects: out.objects,
          bytes: out.bytes,
          total: toWrite.length,
          totalBytes,
        });
      }),
    ),
  );
  return out;
}

/** Run a resolved restore in this process and report it. */
async function restoreResolved(
  deps: PipelineDeps,
  resolved: ResolvedRestore,
  opts: RestoreOptions,
  started: Date,
): Promise<RestoreReport> {
  const { request, snapshot, selected, warnings } = resolved;
  const outcome = await restoreEntries(deps, resolved, selected, opts);
  const report: RestoreReport = {
    planId: resolved.planId,
    snapshotId: snapshot.snapshotId,
    ...(snapshot.time ? { snapshotTime: snapshot.time } : {}),
    region: resolved.region,
    targetBucket: resolved.targetBucket,
    targetPrefix: request.targetPrefix,
    overwrite: request.overwrite,
    dryRun: request.dryRun,
    selected: selected.length,
    objects: outcome.objects,
    bytes: outcome.bytes,
    skipped: outcome.skipped,
    skippedObjects: outcome.skippedObjects,
    seconds: 0,
    warnings,
  };
  if (outcome.archive) {
    report.archive = { ...outcome.archive, tier: request.archiveTier };
    if (request.dryRun) {
      warnings.push(
        `${outcome.archive.blobs} blob(s) are in archive storage: a real restore first restores them with tier ${request.archiveTier}`,
      );
    }
  }
  if (request.dryRun) report.keys = outcome.keys;
  report.seconds = (deps.clock.now().getTime() - started.getTime()) / 1000;
  return report;
}

/**
 * Restore a snapshot (or part of it) in this process. Everything that can make a request bad is
 * checked before anything is written or asked of the archive.
 * @param options progress callbacks and the injected `sleep` for archived blobs; a bare function is
 *   taken as `onProgress`.
 * @throws ValidationError (not retryable) for a bad request, a target that is a vault bucket, or
 *   `Expedited` for a DEEP_ARCHIVE blob.
 * @throws NotFoundError (not retryable) for an unknown plan, snapshot, region or key, a point in time
 *   before the first snapshot, or a missing blob.
 * @throws IntegrityError (not retryable) when a blob does not hash to its address: nothing is written for it.
 * @throws ArchivePendingError (retryable) when archived blobs are not readable yet.
 * @see startRestore for restores that fan out through the restore queue.
 * @example
 * ```ts
 * await restoreSnapshot(deps, { plan: 'photos', include: ['2026/**'], exclude: ['**\/*.tmp'], overwrite: 'ifChanged' });
 * ```
 */
export async function restoreSnapshot(
  deps: PipelineDeps,
  input: RestoreRequest,
  options: RestoreOptions | RestoreOptions['onProgress'] = {},
): Promise<RestoreReport> {
  const opts: RestoreOptions = typeof options === 'function' ? { onProgress: options } : (options ?? {});
  const request = parseRestoreRequest(input);
  const resolved = await resolveRestore(deps, request);
  return restoreResolved(deps, resolved, opts, deps.clock.now());
}

/** Selected objects above which a restore fans out, unless configured. */
export const DEFAULT_FANOUT_THRESHOLD = 500;
/** Selected objects per restore part, unless configured. */
export const DEFAULT_PART_SIZE = 500;

/** What {@link startRestore} did: restored at once (`report`) or created a restore job (`job`). */
export type RestoreStart =
  | { report: RestoreReport; job?: undefined }
  | { job: RestoreJobRecord; report?: undefined };

/** `restore-<yyyymmddThhmmssZ>-<8 hex of the request>`: the same request in the same second is the same job. */
export function restoreJobIdOf(request: ParsedRestoreRequest, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `restore-${stamp}-${contentIdOf(JSON.stringify(request)).slice(0, 8)}`;
}

/**
 * Start a restore: small selections (≤ `deps.restoreFanOutThreshold`, 500 by default) and dry runs
 * are restored at once, as {@link restoreSnapshot}; larger ones (or any with `fanOut: true`) become
 * a RUNNING restore job in the catalog whose selection is split into parts of
 * `deps.restorePartSize` entries (manifest order), one restore-part task each, and this returns the
 * job at once. Every check of the request happens before the job is created; archived blobs of the
 * selection are asked for first (as a synchronous restore does), so parts find them readable.
 * @throws as {@link restoreSnapshot}; ArchivePendingError (retryable) before any job is created.
 * @throws TransientError (retryable) when the catalog or the queue fails: start it again — a job
 *   whose parts could not all be sent is marked FAILED, and a part enqueued twice counts once.
 * @example
 * ```ts
 * const started = await startRestore(deps, { plan: 'photos', targetBucket: 'photos-restored' });
 * if (started.job) console.log(`restore job ${started.job.restoreJobId}: ${started.job.partsTotal} parts`);
 * ```
 */
export async function startRestore(
  deps: PipelineDeps,
  input: RestoreRequest,
  options: RestoreOptions = {},
): Promise<RestoreStart> {
  const request = parseRestoreRequest(input);
  const started = deps.clock.now();
  const resolved = await resolveRestore(deps, request);
  const threshold = deps.restoreFanOutThreshold ?? DEFAULT_FANOUT_THRESHOLD;
  const fanOut = request.fanOut ?? resolved.selected.length > threshold;
  if (request.dryRun || !fanOut || resolved.selected.length === 0) {
    return { report: await restoreResolved(deps, resolved, options, started) };
  }
  const { selected, snapshot, vault } = resolved;
  const blobIds = [...new Set(selected.map((e) => e.blobId))];
  const classes =
    blobIds.length > LISTING_THRESHOLD && vault.storageStateOf
      ? await storageClassesOf(vault, blobIds)
      : undefined;
  await prepareArchivedBlobs(vault, blobIds, request, {
    ...options,
    concurrency: deps.concurrency ?? 16,
    ...(classes ? { classes } : {}),
  });
  const partSize = deps.restorePartSize ?? DEFAULT_PART_SIZE;
  const at = started.toISOString();
  const job: RestoreJobRecord = {
    restoreJobId: restoreJobIdOf(request, started),
    status: 'RUNNING',
    planId: resolved.planId,
    snapshotId: snapshot.snapshotId,
    ...(snapshot.time ? { snapshotTime: snapshot.time } : {}),
    manifestId: resolved.manifestId,
    region: resolved.region,
    targetBucket: resolved.targetBucket,
    request: { ...request },
    selected: selected.length,
    selectedBytes: selected.reduce((sum, e) => sum + e.sizeBytes, 0),
    objects: 0,
    bytes: 0,
    skippedExists: 0,
    skippedUnchanged: 0,
    partsTotal: Math.ceil(selected.length / partSize),
    partsDone: 0,
    partSize,
    warnings: resolved.warnings,
    createdAt: at,
    updatedAt: at,
  };
  await deps.catalog.createRestoreJob(job);
  try {
    for (let part = 0; part < job.partsTotal; part += 1) {
      const first = part * partSize;
      await deps.queue.send({
        kind: 'restore-part',
        restoreJobId: job.restoreJobId,
        manifestId: job.manifestId,
        part,
        first,
        count: Math.min(partSize, selected.length - first),
      });
    }
  } catch (error) {
    // A job whose parts were not all sent would stay RUNNING for ever.
    await deps.catalog.finishRestoreJob(job.restoreJobId, {
      status: 'FAILED',
      at: nowIso(deps.clock),
      error: `could not send every part: ${reasonOf(error)}`,
    });
    throw error;
  }
  return { job };
}

/** What one restore part did. */
export interface RestorePartResult {
  restoreJobId: string;
  part: number;
  /** False when the part had been counted already (a redelivery) or the job had ended. */
  counted: boolean;
  objects: number;
  bytes: number;
  /** Whether this part ended the job (it was the last to finish). */
  finishedJob: boolean;
}

/**
 * Restore one part of a restore job: replay the job's request over the part's entries (the same
 * per-entry work as a synchronous restore), add what it did to the job's counters once, and — when
 * every part is done — mark the job SUCCEEDED (once, whoever gets there first). A part of a job
 * that has ended does nothing.
 * @throws NotFoundError (not retryable) for an unknown job or a selection that no longer has the
 *   part's range.
 * @throws IntegrityError (not retryable) for a blob that does not hash to its address.
 * @throws ArchivePendingError, TransientError (retryable): SQS delivers the part again.
 * @example
 * ```ts
 * await restorePart(deps, { kind: 'restore-part', restoreJobId, manifestId, part: 0, first: 0, count: 500 });
 * ```
 */
export async function restorePart(deps: PipelineDeps, task: RestorePartTask): Promise<RestorePartResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const job = await catalog.getRestoreJob(task.restoreJobId);
  if (!job) throw new NotFoundError(`restore job ${task.restoreJobId} does not exist`);
  const result: RestorePartResult = {
    restoreJobId: job.restoreJobId,
    part: task.part,
    counted: false,
    objects: 0,
    bytes: 0,
    finishedJob: false,
  };
  if (job.status !== 'RUNNING') return result;
  const request = parseRestoreRequest(job.request);
  const vault = vaultIn(vaults, job.region);
  const manifest = await readManifest(vault, envelope, job.planId, task.manifestId);
  const { selected } = selectEntries(manifest.entries, request, job.snapshotId);
  const entries = selected.slice(task.first, task.first + task.count);
  if (entries.length !== task.count) {
    throw new NotFoundError(
      `restore job ${job.restoreJobId} selects ${selected.length} object(s): part ${task.part} (${task.first}+${task.count}) is out of range`,
    );
  }
  const outcome = await restoreEntries(
    deps,
    { request, vault, targetBucket: job.targetBucket, listVault: false },
    entries,
    {},
  );
  const done = await catalog.completeRestorePart(
    job.restoreJobId,
    task.part,
    {
      objects: outcome.objects,
      bytes: outcome.bytes,
      skippedExists: outcome.skipped.exists,
      skippedUnchanged: outcome.skipped.unchanged,
    },
    nowIso(clock),
  );
  result.counted = done.counted;
  result.objects = outcome.objects;
  result.bytes = outcome.bytes;
  if (done.job.partsDone >= done.job.partsTotal) {
    result.finishedJob = await catalog.finishRestoreJob(job.restoreJobId, {
      status: 'SUCCEEDED',
      at: nowIso(clock),
    });
  }
  return result;
}

/**
 * A restore job as a restore report (what the CLI prints when the job ends or is re-attached to).
 * `seconds` runs from creation to the end (or the last update of a running job).
 */
export function reportOfRestoreJob(job: RestoreJobRecord): RestoreReport {
  const request = parseRestoreRequest(job.request);
  const end = Date.parse(job.finishedAt ?? job.updatedAt);
  return {
    planId: job.planId,
    snapshotId: job.snapshotId,
    ...(job.snapshotTime ? { snapshotTime: job.snapshotTime } : {}),
    region: job.region,
    targetBucket: job.targetBucket,
    targetPrefix: request.targetPrefix,
    overwrite: request.overwrite,
    dryRun: false,
    selected: job.selected,
    objects: job.objects,
    bytes: job.bytes,
    skipped: { exists: job.skippedExists, unchanged: job.skippedUnchanged },
    skippedObjects: [],
    seconds: Math.max(0, (end - Date.parse(job.createdAt)) / 1000),
    warnings: [...job.warnings, ...(job.error ? [`restore job ${job.status}: ${job.error}`] : [])],
  };
}

/** One captured version of an object: a run of consecutive snapshots that hold the same ETag. */
export interface CapturedVersion {
  /** The newest snapshot holding this version: restore it with `snapshot` = this and `key`. */
  snapshotId: string;
  /** ISO-8601 UTC: that snapshot's time. */
  time: string;
  /** The oldest snapshot of the run, i.e. when this version was first captured. */
  firstSnapshotId: string;
  firstTime: string;
  sizeBytes: number;
  etag: string;
  /** ISO-8601 UTC: the object's LastModified when captured. */
  lastModified: string;
}

/**
 * The versions of one object that a plan's committed snapshots captured, newest first. Reads
 * manifests newest-first and stops as soon as `limit` versions are complete (a version is complete
 * when an older snapshot holds another ETag, or none of it).
 * @param request.limit most versions to list. @default 20
 * @throws NotFoundError (not retryable) for an unknown plan or a region without a vault.
 * @example
 * ```ts
 * const versions = await listVersions(deps, { plan: 'photos', key: '2026/03/cat.jpg' });
 * await restoreSnapshot(deps, { plan: 'photos', key: '2026/03/cat.jpg', snapshot: versions[1].snapshotId, targetBucket: 'restored' });
 * ```
 */
export async function listVersions(
  deps: PipelineDeps,
  request: { plan: string; key: string; region?: string; limit?: number },
): Promise<CapturedVersion[]> {
  const { catalog, envelope, vaults } = deps;
  const plan = await catalog.getPlan(request.plan);
  if (!plan) throw new NotFoundError(`plan '${request.plan}' does not exist`);
  const region = request.region ?? vaults.primary.region;
  const vault = vaultIn(vaults, region);
  const limit = request.limit ?? 20;
  const snapshots = (await catalog.listSnapshots(plan.id))
    .filter((s) => s.status === 'COMMITTED' && s.time && s.manifestId)
    .filter((s) => region === vaults.primary.region || s.regions?.[region]?.status === 'COPIED')
    .reverse();
  const versions: CapturedVersion[] = [];
  let current: CapturedVersion | undefined;
  for (const snapshot of snapshots) {
    const manifest = await readManifest(vault, envelope, plan.id, snapshot.manifestId as string);
    const entry = manifest.entries.find((e) => e.key === request.key);
    if (entry && current && entry.etag === current.etag) {
      current.firstSnapshotId = snapshot.snapshotId;
      current.firstTime = snapshot.time as string;
      continue;
    }
    if (versions.length === limit) break; // the last version is complete
    current = entry && {
      snapshotId: snapshot.snapshotId,
      time: snapshot.time as string,
      firstSnapshotId: snapshot.snapshotId,
      firstTime: snapshot.time as string,
      sizeBytes: entry.sizeBytes,
      etag: entry.etag,
      lastModified: entry.lastModified,
    };
    if (current) versions.push(current);
  }
  return versions;
}
