/**
 * Restore: write a snapshot's objects (all, or those a key, a prefix and include/exclude globs
 * select) into a target bucket — the plan's source bucket unless another is named — each under its
 * original key below an optional prefix, with its content type and metadata, after checking that
 * every chunk hashes to its blob id and the whole object to the manifest's SHA-256. An overwrite
 * policy decides what happens to keys the target already holds; packs in archive storage classes are
 * restored from the archive first.
 *
 * Reading (format version 2): the manifest root names its parts; only the parts whose key range can
 * hold selected entries are read. The region's index (loaded once per task) locates each blob in
 * its pack. An object of several chunks is read chunk by chunk (one ranged GET per blob) and
 * streamed as a multipart upload, so a restore holds about one chunk per such object in flight,
 * never a whole large object. Objects of one chunk are read many at a time: their blobs, grouped by
 * pack, in runs of up to one chunk of pack bytes, one ranged GET per run
 * ({@link RESTORE_COALESCE_LIMITS}); each is then written with one PUT.
 *
 * Small selections are restored in one call ({@link restoreSnapshot}); large ones fan out
 * ({@link startRestore}): a restore job in the catalog and one restore-part task per slice of the
 * selection, each run by {@link restorePart} with the same per-object work.
 * @see ../../docs/format.md#manifests
 * @see ../../docs/format.md#index
 * @see ../../docs/format.md#read-and-write-ordering
 * @see ../../docs/format.md#catalog (the restore job record)
 */

import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import picomatch from 'picomatch';
import { z } from 'zod';
import type { Envelope } from './envelope.ts';
import {
  ConflictError,
  IntegrityError,
  NotFoundError,
  reasonOf,
  StrongboxError,
  ValidationError,
} from './errors.ts';
import { compareSequencers } from './journal.ts';
import { nowIso, type PipelineDeps, vaultBuckets, vaultIn } from './pipeline.ts';
import { applyChanges, changesAt, type KeyChange, lostChangeWarnings } from './point-in-time.ts';
import type {
  ArchiveTier,
  ObjectStore,
  StorageState,
  VaultStore,
  WriteConditions,
  WriteOutcome,
} from './ports.ts';
import type { JournalEntry, RestoreJobRecord, SnapshotRecord } from './records.ts';
import {
  type BlobLocation,
  type CoalesceLimits,
  coalesceBlobReads,
  entryContent,
  readBlobsOfPack,
  readManifest,
  readPart,
  VaultIndex,
} from './repository.ts';
import type { RestorePartTask } from './tasks.ts';
import {
  CHUNK_SIZE_BYTES,
  type ContentId,
  compareKeys,
  contentIdOf,
  contentSha256Of,
  type Manifest,
  type ManifestEntry,
  type ManifestPart,
  type PartRef,
  VaultLayout,
} from './vault.ts';

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
  /** With `pointInTime`: the time restored (as requested); `snapshotId` is the base snapshot. */
  pointInTime?: string;
  /**
   * With `pointInTime`: selected objects whose version came from the journal (captured after the
   * base snapshot, at or before the point in time) rather than from the base snapshot.
   */
  fromJournal?: number;
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
  /**
   * Archive storage this restore needed: `packs` archived packs (the unit S3 restores) holding
   * `blobs` of the blobs to write, and `requested` packs it asked the archive to restore (a pack
   * asked for earlier is not asked for again).
   */
  archive?: { packs: number; blobs: number; requested: number; tier: ArchiveTier };
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

/** Storage classes whose objects cannot be read until restored. GLACIER_IR reads directly. */
export const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/**
 * Archived packs are still being restored: nothing was written. Retryable — the restores already
 * asked for keep running, so running the same restore later proceeds once they are ready.
 */
export class ArchivePendingError extends StrongboxError {
  /** Vault keys (`packs/<2hex>/<pack id>`) of the packs not readable yet. */
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

/** The part of a restore request that selects entries. */
export type EntrySelection = Pick<ParsedRestoreRequest, 'key' | 'prefix' | 'include' | 'exclude'>;

/** A compiled include or exclude glob, and whether it matched an entry under the prefix yet. */
interface Glob {
  glob: string;
  match: (key: string) => boolean;
  hit: boolean;
}

/**
 * Decides, entry by entry in manifest (key) order, what a request selects, and gathers the warnings
 * of {@link selectEntries} as it goes, so a selection can be made while streaming a manifest's parts.
 * From the key range of a part ({@link PartRef}) it also tells whether the part can hold selected
 * entries at all, and whether it is selected whole, so those parts need not be read.
 */
export class EntrySelector {
  readonly #request: EntrySelection;
  readonly #snapshotId: string;
  readonly #includes: Glob[];
  readonly #excludes: Glob[];
  /** Entries under the prefix (all entries without one). */
  #underPrefix = 0;
  /** Entries selected so far. */
  selected = 0;

  constructor(request: EntrySelection, snapshotId: string) {
    this.#request = request;
    this.#snapshotId = snapshotId;
    const globs = (list: readonly string[] | undefined) =>
      (list ?? []).map((glob) => ({ glob, match: picomatch(glob, { dot: true }), hit: false }));
    this.#includes = globs(request.include);
    this.#excludes = globs(request.exclude);
  }

  /** Whether a part whose keys run from `firstKey` to `lastKey` can hold a selected entry. */
  mayHold(ref: Pick<PartRef, 'firstKey' | 'lastKey'>): boolean {
    const { key, prefix } = this.#request;
    if (key !== undefined) return compareKeys(ref.firstKey, key) <= 0 && compareKeys(key, ref.lastKey) <= 0;
    if (prefix === undefined) return true;
    // The keys under a prefix are one run in binary order, starting at the prefix itself.
    return (
      compareKeys(ref.lastKey, prefix) >= 0 &&
      (ref.firstKey.startsWith(prefix) || compareKeys(ref.firstKey, prefix) < 0)
    );
  }

  /** Whether every entry of such a part is selected (no key, no glob, the range under the prefix). */
  selectsAll(ref: Pick<PartRef, 'firstKey' | 'lastKey'>): boolean {
    const { key, prefix } = this.#request;
    if (key !== undefined || this.#includes.length > 0 || this.#excludes.length > 0) return false;
    return prefix === undefined || (ref.firstKey.startsWith(prefix) && ref.lastKey.startsWith(prefix));
  }

  /** Count `objectCount` entries of a part {@link selectsAll} selects, without looking at them. */
  acceptAll(objectCount: number): void {
    this.#underPrefix += objectCount;
    this.selected += objectCount;
  }

  /**
   * Whether the request's key, prefix and globs select `key`, without counting it (and without
   * marking globs as matching).
   */
  matches(key: string): boolean {
    const r = this.#request;
    if (r.key !== undefined) return key === r.key;
    if (r.prefix !== undefined && !key.startsWith(r.prefix)) return false;
    const any = (globs: readonly Glob[]) => globs.some((g) => g.match(key));
    return (this.#includes.length === 0 || any(this.#includes)) && !any(this.#excludes);
  }

  /** Whether the request selects `entry` (entries come in manifest order). */
  accept(entry: Pick<ManifestEntry, 'key'>): boolean {
    const { key, prefix } = this.#request;
    if (key !== undefined) {
      if (entry.key !== key || this.selected > 0) return false;
      this.selected += 1;
      return true;
    }
    if (prefix !== undefined && !entry.key.startsWith(prefix)) return false;
    this.#underPrefix += 1;
    // Every glob is matched (not only until one selects or excludes): a warning names each that matches nothing.
    const matches = (globs: readonly Glob[]) => {
      let any = false;
      for (const g of globs) {
        if (g.match(entry.key)) {
          g.hit = true;
          any = true;
        }
      }
      return any;
    };
    const included = matches(this.#includes) || this.#includes.length === 0;
    const excluded = matches(this.#excludes);
    if (!included || excluded) return false;
    this.selected += 1;
    return true;
  }

  /**
   * The warnings of the whole selection, once every entry was offered.
   * @param totalEntries entries of the snapshot.
   * @throws NotFoundError (not retryable) when a single `key` is not in the snapshot.
   */
  finish(totalEntries: number): string[] {
    const { key, prefix } = this.#request;
    const snapshotId = this.#snapshotId;
    if (key !== undefined) {
      if (this.selected === 0) {
        throw new NotFoundError(
          `snapshot ${snapshotId} does not hold '${key}' ('strongbox versions' lists the snapshots that do)`,
        );
      }
      return [];
    }
    const warnings: string[] = [];
    if (prefix !== undefined && this.#underPrefix === 0) {
      warnings.push(`prefix '${prefix}' matches no object of snapshot ${snapshotId}`);
    }
    if (this.#underPrefix > 0) {
      for (const [kind, list] of [
        ['include', this.#includes],
        ['exclude', this.#excludes],
      ] as const) {
        for (const g of list) {
          if (!g.hit) warnings.push(`${kind} glob '${g.glob}' matches no object of snapshot ${snapshotId}`);
        }
      }
    }
    if (this.selected === 0 && totalEntries > 0) {
      warnings.push(`nothing to restore: the request selects no object of snapshot ${snapshotId}`);
    }
    if (totalEntries === 0) warnings.push(`snapshot ${snapshotId} holds no object`);
    return warnings;
  }
}

/**
 * The entries of a snapshot a request selects (key, prefix, include, exclude), and a warning for
 * each part of the request that matches nothing.
 * @param entries the snapshot's entries in manifest (key) order.
 * @throws NotFoundError (not retryable) when a single `key` is not in the snapshot.
 * @see selectFromManifest to select while reading a stored manifest part by part.
 */
export function selectEntries(
  entries: readonly ManifestEntry[],
  request: EntrySelection,
  snapshotId: string,
): { selected: ManifestEntry[]; warnings: string[] } {
  const selector = new EntrySelector(request, snapshotId);
  const selected = entries.filter((e) => selector.accept(e));
  return { selected, warnings: selector.finish(entries.length) };
}

/**
 * Read the given parts of a manifest in order, up to `window` reads ahead (memory: `window` parts).
 * @throws NotFoundError when a part is missing; IntegrityError, ValidationError (not retryable).
 */
async function* partsInOrder(
  vault: VaultStore,
  envelope: Envelope,
  planId: string,
  refs: readonly PartRef[],
  window = 4,
): AsyncIterable<ManifestPart> {
  const reads: Promise<ManifestPart>[] = [];
  const start = (i: number) => {
    const ref = refs[i];
    if (!ref) return;
    const read = readPart(vault, envelope, planId, ref.partId);
    read.catch(() => {}); // surfaced when its turn comes
    reads[i] = read;
  };
  for (let i = 0; i < Math.min(window, refs.length); i++) start(i);
  for (let i = 0; i < refs.length; i++) {
    const part = await (reads[i] as Promise<ManifestPart>);
    delete reads[i];
    start(i + window);
    yield part;
  }
}

/**
 * The selection of a stored manifest, reading only the parts that can hold selected entries (a
 * single key: the one part whose key range holds it; a prefix: the parts whose range meets it).
 *
 * With `range`, only the selected entries numbered `first` to `first + count - 1` (in manifest
 * order, from 0) are returned — what one restore part restores; parts selected whole that lie before
 * the range are counted without being read, reading stops after the range, and no warning is made.
 *
 * With `pointInTime` (the changes of a point-in-time selection, in key order: see
 * point-in-time.ts), the entries selected are the manifest's with the changes applied; a part that a
 * change falls into (its key lies after the previous part's last key, up to this part's last key) is
 * read whatever the range. A warning names each selected key whose change was lost before capture;
 * with changes, warnings and errors name the selection `<snapshotId> as of <at>`.
 * @returns the selected entries (of the range), how many the selection holds (with `range`: at
 *   least up to its end), the warnings of {@link selectEntries}, and how many of the entries
 *   returned are changes (`fromJournal`).
 * @throws NotFoundError (not retryable) when a single `key` is not in the selection, or a part is missing.
 * @throws IntegrityError, ValidationError (not retryable) when a part does not match its id.
 * @see docs/format.md#manifests
 */
export async function selectFromManifest(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
  request: EntrySelection,
  snapshotId: string,
  range?: { first: number; count: number },
  pointInTime?: { at: string; changes: readonly KeyChange[] },
): Promise<{ selected: ManifestEntry[]; selectedCount: number; warnings: string[]; fromJournal: number }> {
  const changes = pointInTime?.changes ?? [];
  const label = changes.length > 0 ? `${snapshotId} as of ${pointInTime?.at}` : snapshotId;
  const selector = new EntrySelector(request, label);
  const end = range ? range.first + range.count : Number.POSITIVE_INFINITY;
  const selected: ManifestEntry[] = [];
  // The changes falling into each part's span (after the previous part's last key, up to its own);
  // those after the last part come after every part.
  const spans: KeyChange[][] = manifest.parts.map(() => []);
  const trailing: KeyChange[] = [];
  let p = 0;
  for (const change of changes) {
    while (p < manifest.parts.length && compareKeys((manifest.parts[p] as PartRef).lastKey, change.key) < 0)
      p += 1;
    (spans[p] ?? trailing).push(change);
  }
  type Step =
    | { kind: 'count'; ref: PartRef }
    | { kind: 'read'; changes: KeyChange[] }
    | { kind: 'changes'; changes: KeyChange[] };
  // Parts decided from their ref alone are not read; the others are read ahead in order.
  const toRead: PartRef[] = [];
  const plan: Step[] = [];
  // Selected entries before the part at hand: exact until the first part that must be read, a lower
  // bound after it (a part read may select fewer than its count).
  let counted = 0;
  let exact = true;
  let complete = true;
  for (const [i, ref] of manifest.parts.entries()) {
    const touched = spans[i] as KeyChange[];
    if (!selector.mayHold(ref)) {
      // None of its entries is selected; a change between parts may be.
      if (touched.length > 0) {
        plan.push({ kind: 'changes', changes: touched });
        exact = false;
      }
      continue;
    }
    if (
      range &&
      exact &&
      touched.length === 0 &&
      selector.selectsAll(ref) &&
      counted + ref.objectCount <= range.first
    ) {
      plan.push({ kind: 'count', ref });
      counted += ref.objectCount;
      continue;
    }
    if (range && counted >= end) {
      complete = false;
      break;
    }
    plan.push({ kind: 'read', changes: touched });
    toRead.push(ref);
    exact = false;
    counted += selector.selectsAll(ref) && touched.length === 0 ? ref.objectCount : 0;
  }
  if (complete && trailing.length > 0) plan.push({ kind: 'changes', changes: trailing });
  const fromChanges = new Set(changes.flatMap((c) => (c.state === 'present' ? [c.entry] : [])));
  let fromJournal = 0;
  const parts = partsInOrder(vault, envelope, manifest.planId, toRead)[Symbol.asyncIterator]();
  for (const step of plan) {
    if (selector.selected >= end) break;
    if (step.kind === 'count') {
      selector.acceptAll(step.ref.objectCount);
      continue;
    }
    let base: readonly ManifestEntry[] = [];
    if (step.kind === 'read') {
      const next = await parts.next();
      if (next.done) break;
      base = next.value.entries;
    }
    for (const entry of step.changes.length > 0 ? applyChanges(base, step.changes) : base) {
      const index = selector.selected;
      if (!selector.accept(entry)) continue;
      if (!range || (index >= range.first && index < end)) {
        selected.push(entry);
        if (fromChanges.has(entry)) fromJournal += 1;
      }
      if (selector.selected >= end) break;
    }
  }
  await parts.return?.();
  const total =
    manifest.parts.reduce((sum, p) => sum + p.objectCount, 0) +
    changes.filter((c) => c.state === 'present').length;
  const warnings = range ? [] : selector.finish(total);
  if (!range) {
    const lost = changes.filter((c) => c.state === 'lost' && selector.matches(c.key));
    warnings.push(...lostChangeWarnings(lost, snapshotId));
  }
  return { selected, selectedCount: selector.selected, warnings, fromJournal };
}

/**
 * The entry a manifest holds for `key`, reading only the part whose key range holds it.
 * @returns undefined when the snapshot does not hold `key`.
 * @throws NotFoundError when the part is missing; IntegrityError, ValidationError (not retryable).
 */
export async function findEntry(
  vault: VaultStore,
  envelope: Envelope,
  manifest: Pick<Manifest, 'planId' | 'parts'>,
  key: string,
): Promise<ManifestEntry | undefined> {
  const ref = manifest.parts.find(
    (p) => compareKeys(p.firstKey, key) <= 0 && compareKeys(key, p.lastKey) <= 0,
  );
  if (!ref) return undefined;
  const part = await readPart(vault, envelope, manifest.planId, ref.partId);
  return part.entries.find((e) => e.key === key);
}

/**
 * SHA-256 (lowercase hex) of an object of a bucket: one GET up to one chunk
 * ({@link CHUNK_SIZE_BYTES}), ranged GETs of one chunk each above (pinned to the first one's ETag),
 * so memory stays at one chunk.
 * @throws ConflictError (not retryable here) when the object changes between two ranged GETs.
 * @throws NotFoundError when it vanished.
 */
async function sha256OfObject(
  objects: ObjectStore,
  bucket: string,
  key: string,
  sizeBytes: number,
): Promise<ContentId> {
  if (sizeBytes <= CHUNK_SIZE_BYTES) return contentIdOf((await objects.get(bucket, key)).body);
  const hash = createHash('sha256');
  let etag: string | undefined;
  for (let offset = 0; offset < sizeBytes; offset += CHUNK_SIZE_BYTES) {
    const lengthBytes = Math.min(CHUNK_SIZE_BYTES, sizeBytes - offset);
    const got = await objects.getRange(bucket, key, {
      offsetBytes: offset,
      lengthBytes,
      ...(etag === undefined ? {} : { ifMatch: etag }),
    });
    etag ??= got.etag;
    hash.update(got.body);
  }
  return hash.digest('hex');
}

/**
 * Whether to write one entry at `targetKey` under an overwrite policy.
 *
 * `ifChanged` compares content, not ETags (a multipart or SSE-KMS ETag is no content hash): a HEAD
 * first; a target of another size is changed; one of the same size is read (chunk by chunk above
 * 8 MiB) and hashed, and is `unchanged` when its SHA-256 equals the snapshot's
 * ({@link contentSha256Of} the entry). A target that changes while it is read counts as changed.
 * Restores write no marker metadata, so restored objects keep exactly their original metadata.
 * @param listed what a listing of the target reported for `targetKey` (`null`: not there), instead
 *   of a HEAD; undefined to HEAD it.
 * @returns `write`, or the reason to skip.
 * @throws TransientError (retryable) when the target cannot be read.
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
  try {
    const current = await sha256OfObject(objects, bucket, targetKey, entry.sizeBytes);
    return current === contentSha256Of(entry) ? 'unchanged' : 'write';
  } catch (error) {
    // Gone or being rewritten since the HEAD: write the snapshot's version.
    if (error instanceof NotFoundError || error instanceof ConflictError) return 'write';
    throw error;
  }
}

/**
 * Make the archived packs among `packIds` readable: ask the archive to restore those not asked for
 * yet (each pack once, however many of the restore's objects it holds), then look again every
 * `archivePollMs` (through the injected `sleep`) until all are ready. GLACIER_IR and STANDARD need
 * nothing. A vault without the storage-state capability is taken as having no archived packs.
 * `options.classes` (vault key → storage class, from a listing) spares a HEAD for each pack it shows
 * in a class that reads directly.
 * @param packIds pack ids (not keys), each once.
 * @returns the archived packs among them (ids) and how many were asked for now; undefined when none
 *   is archived.
 * @throws ValidationError (not retryable), before anything is asked for, for `Expedited` with a
 *   DEEP_ARCHIVE pack.
 * @throws ArchivePendingError (retryable) when packs are not ready within the wait, or no `sleep` was given.
 * @see docs/format.md#layout
 */
export async function prepareArchivedPacks(
  vault: VaultStore,
  packIds: readonly ContentId[],
  request: { archiveTier: ArchiveTier; archiveDays: number; dryRun: boolean },
  options: RestoreOptions & { concurrency: number; classes?: ReadonlyMap<string, string> },
): Promise<{ archived: ContentId[]; requested: number } | undefined> {
  const stateOf = vault.storageStateOf?.bind(vault);
  if (!stateOf) return undefined;
  const limit = pLimit(options.concurrency);
  // Packs a listing showed in a class that reads directly need no HEAD.
  const { classes } = options;
  const keys = packIds
    .map((id) => VaultLayout.packKey(id))
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
  const result = {
    archived: archived.map((s) => VaultLayout.packIdOf(s.key) as ContentId),
    requested: 0,
  };
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
      `${pending.length} of ${archived.length} archived pack(s) are still being restored (tier ${tier}), e.g. ${pending[0]?.key}: nothing was written; run the same restore again later`,
      pending.map((s) => s.key),
    );
  }
  return result;
}

/** `load()` once, on first use: the region's index, loaded only when some object is to be written. */
function indexOnce(vault: VaultStore, envelope: Envelope): () => Promise<VaultIndex> {
  let loading: Promise<VaultIndex> | undefined;
  return () => {
    loading ??= VaultIndex.load(vault, envelope);
    return loading;
  };
}

/** Where a restore reads and writes, resolved from a request before anything is written. */
interface ResolvedRestore {
  request: ParsedRestoreRequest;
  planId: string;
  snapshot: SnapshotRecord;
  region: string;
  vault: VaultStore;
  /** The region's index, loaded once (on first use) for the whole task. */
  index: () => Promise<VaultIndex>;
  targetBucket: string;
  manifestId: string;
  selected: ManifestEntry[];
  warnings: string[];
  /** With `pointInTime`: the capture horizon the journal was read to, and the selected journal versions. */
  journal?: { capturedUntil: string; fromJournal: number };
}

/**
 * Capture time is at or after event time; this much earlier than the base's time the journal is read
 * from, for clocks that disagree a little (entries are then filtered by event time).
 */
const JOURNAL_SKEW_MS = 5 * 60_000;

/**
 * The journaled changes a point-in-time request applies to its base snapshot, in key order: of the
 * one key (its history, by sequencer) or of every key (entries captured since shortly before the
 * base, up to `capturedUntil`), filtered and reduced by {@link changesAt}.
 * @param capturedUntil ISO-8601: entries captured later are left out (the restore's horizon).
 * @throws TransientError (retryable) when the catalog fails.
 */
export async function pointInTimeChanges(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  request: { key?: string | undefined; pointInTime: string },
  base: Pick<SnapshotRecord, 'time' | 'journalUntil'>,
  capturedUntil: string,
): Promise<KeyChange[]> {
  const { catalog } = deps;
  const baseTime = base.time as string;
  const from = Math.min(Date.parse(baseTime), Date.parse(base.journalUntil ?? baseTime)) - JOURNAL_SKEW_MS;
  const entries =
    request.key !== undefined
      ? await catalog.listJournalForKey(planId, request.key)
      : await catalog.listJournal(planId, {
          capturedAfter: new Date(from).toISOString(),
          capturedUntil,
        });
  const ofKey = request.key === undefined ? entries : entries.filter((e) => e.key === request.key);
  const window = {
    baseTime,
    ...(base.journalUntil === undefined ? {} : { baseJournalUntil: base.journalUntil }),
    at: request.pointInTime,
    capturedUntil,
  };
  const changes = changesAt(ofKey, window);
  if (request.key !== undefined) return changes;
  // A late capture (its event at or before the base's time) may be older than an entry the base
  // holds that was captured before the query's start: such keys are decided on their whole history.
  const late = new Set(
    changes.filter((c) => Date.parse(c.journal.eventTime) <= Date.parse(baseTime)).map((c) => c.key),
  );
  if (late.size === 0) return changes;
  const limit = pLimit(16);
  const histories = await Promise.all(
    [...late].map((key) => limit(() => catalog.listJournalForKey(planId, key))),
  );
  const decided = new Map(changesAt(histories.flat(), window).map((c) => [c.key, c]));
  return changes.flatMap((c) => {
    if (!late.has(c.key)) return [c];
    const change = decided.get(c.key);
    return change ? [change] : [];
  });
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
  const capturedUntil = nowIso(deps.clock);
  const pointInTime = request.pointInTime
    ? {
        at: request.pointInTime,
        changes: await pointInTimeChanges(
          deps,
          plan.id,
          { ...request, pointInTime: request.pointInTime },
          snapshot,
          capturedUntil,
        ),
      }
    : undefined;
  const { selected, warnings, fromJournal } = await selectFromManifest(
    vault,
    envelope,
    manifest,
    request,
    snapshot.snapshotId,
    undefined,
    pointInTime,
  );
  return {
    ...(pointInTime ? { journal: { capturedUntil, fromJournal } } : {}),
    request,
    planId: plan.id,
    snapshot,
    region,
    vault,
    index: indexOnce(vault, envelope),
    targetBucket,
    manifestId,
    selected,
    warnings,
  };
}

/**
 * Above this many objects a restore lists the target once (existence and size for the overwrite
 * policy); above this many packs, the vault's packs once (storage classes) instead of a HEAD each.
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

/** Storage classes of the given packs, from one listing of the vault's packs (keys the listing shows). */
async function storageClassesOf(
  vault: VaultStore,
  packIds: readonly ContentId[],
): Promise<Map<string, string>> {
  const wanted = new Set(packIds.map((id) => VaultLayout.packKey(id)));
  const classes = new Map<string, string>();
  for await (const o of vault.list(commonPrefix([...wanted]))) {
    if (o.storageClass !== undefined && wanted.has(o.key)) classes.set(o.key, o.storageClass);
  }
  return classes;
}

/**
 * The packs holding the blobs of `entries`, located with the region's index: pack id → how many of
 * those blobs it holds.
 * @throws NotFoundError (not retryable), before anything is written, for a blob no index locates.
 */
function packsOf(
  vault: VaultStore,
  index: VaultIndex,
  entries: readonly ManifestEntry[],
): Map<ContentId, number> {
  const seen = new Set<ContentId>();
  const packs = new Map<ContentId, number>();
  for (const entry of entries) {
    for (const blobId of entry.blobs) {
      if (seen.has(blobId)) continue;
      seen.add(blobId);
      const where = index.locate(blobId);
      if (!where) {
        throw new NotFoundError(
          `blob ${blobId} of '${entry.key}' is in no index of ${vault.bucket}: the vault lacks it`,
        );
      }
      packs.set(where.packId, (packs.get(where.packId) ?? 0) + 1);
    }
  }
  return packs;
}

/**
 * Make the archived packs holding the blobs of `entries` readable (see {@link prepareArchivedPacks}).
 * @returns what the restore report says of the archive, or undefined when nothing is archived.
 */
async function prepareArchive(
  deps: PipelineDeps,
  vault: VaultStore,
  index: VaultIndex,
  entries: readonly ManifestEntry[],
  request: ParsedRestoreRequest,
  options: RestoreOptions & { listVault?: boolean },
): Promise<{ packs: number; blobs: number; requested: number } | undefined> {
  const packs = packsOf(vault, index, entries);
  const packIds = [...packs.keys()];
  const classes =
    packIds.length > LISTING_THRESHOLD && options.listVault !== false && vault.storageStateOf
      ? await storageClassesOf(vault, packIds)
      : undefined;
  const prepared = await prepareArchivedPacks(vault, packIds, request, {
    ...options,
    concurrency: deps.concurrency ?? 16,
    ...(classes ? { classes } : {}),
  });
  if (!prepared) return undefined;
  return {
    packs: prepared.archived.length,
    blobs: prepared.archived.reduce((sum, id) => sum + (packs.get(id) ?? 0), 0),
    requested: prepared.requested,
  };
}

/**
 * The content of the object `entry` describes, chunk by chunk, checked: each chunk hashes to its
 * blob id (as the repository reads it), and the whole to {@link contentSha256Of} the entry with the
 * entry's size. The check of the whole comes after the last chunk and before the iteration ends, so
 * a consumer that stores the chunks (a multipart upload) fails before completing.
 * @param onChunk called with each chunk's size as it arrives (time to first byte, progress).
 * @throws NotFoundError when a blob's pack is gone or no index locates the blob.
 * @throws IntegrityError (not retryable) when a chunk or the whole does not match the manifest.
 * @see docs/format.md#manifest-parts
 */
export async function* verifiedEntryContent(
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: ManifestEntry,
  onChunk?: (sizeBytes: number) => void,
): AsyncIterable<Buffer> {
  // With one chunk the blob id is the object's SHA-256, and the repository checks it already.
  const hash = entry.blobs.length > 1 || entry.contentSha256 !== undefined ? createHash('sha256') : undefined;
  let sizeBytes = 0;
  for await (const chunk of entryContent(vault, envelope, index, entry)) {
    hash?.update(chunk);
    sizeBytes += chunk.length;
    onChunk?.(chunk.length);
    if (sizeBytes > entry.sizeBytes) break;
    yield chunk;
  }
  checkWholeObject(vault, entry, sizeBytes, hash?.digest('hex'));
}

/**
 * The checks of a whole object read from a vault: the manifest's size, and the object's SHA-256
 * when one was computed (`sha256`, hex).
 * @throws IntegrityError (not retryable)
 */
function checkWholeObject(
  vault: VaultStore,
  entry: ManifestEntry,
  sizeBytes: number,
  sha256: string | undefined,
): void {
  if (sizeBytes !== entry.sizeBytes) {
    throw new IntegrityError(
      `'${entry.key}' reads as ${sizeBytes} byte(s) from ${vault.bucket}; its manifest entry says ${entry.sizeBytes}`,
    );
  }
  if (sha256 !== undefined && sha256 !== contentSha256Of(entry)) {
    throw new IntegrityError(
      `'${entry.key}' hashes to ${sha256}, not to its manifest's SHA-256 ${contentSha256Of(entry)}`,
    );
  }
}

/**
 * Write the object an entry describes to `bucket`/`key`, with its content type and metadata, from
 * a vault: one PUT for an object of one chunk, a streamed multipart upload for a larger one (so
 * memory stays at about one chunk). Nothing is stored at `key` when a check fails.
 * @returns the bytes written.
 * @throws as {@link verifiedEntryContent}; TransientError (retryable) when the target fails.
 */
export async function writeEntry(
  objects: ObjectStore,
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: ManifestEntry,
  bucket: string,
  key: string,
  onChunk?: (sizeBytes: number) => void,
): Promise<number> {
  return (await putEntry(objects, vault, envelope, index, entry, bucket, key, {}, onChunk)).bytes;
}

/**
 * {@link writeEntry} under write `conditions`: with `ifNoneMatch`, an object found at `key` when
 * the write takes effect is kept, and the outcome is `exists` (0 bytes written).
 * @throws as {@link writeEntry}.
 */
async function putEntry(
  objects: ObjectStore,
  vault: VaultStore,
  envelope: Envelope,
  index: VaultIndex,
  entry: ManifestEntry,
  bucket: string,
  key: string,
  conditions: WriteConditions,
  onChunk?: (sizeBytes: number) => void,
): Promise<{ outcome: WriteOutcome; bytes: number }> {
  const attributes = attributesOf(entry);
  const content = verifiedEntryContent(vault, envelope, index, entry, onChunk);
  if (entry.blobs.length > 1) {
    const outcome = await objects.putStream(bucket, key, content, attributes, conditions);
    return { outcome, bytes: outcome === 'written' ? entry.sizeBytes : 0 };
  }
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk);
  const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  const outcome = await objects.put(bucket, key, body, attributes, conditions);
  return { outcome, bytes: outcome === 'written' ? body.length : 0 };
}

/** What {@link restoreEntries} did with a list of entries. */
interface EntriesOutcome {
  objects: number;
  bytes: number;
  skipped: Record<SkipReason, number>;
  skippedObjects: { key: string; reason: SkipReason }[];
  archive?: { packs: number; blobs: number; requested: number };
  /** With `dryRun`: the first 1000 target keys that would be written. */
  keys: string[];
}

/**
 * The per-entry work of every restore, synchronous or one part of a fanned-out one: decide each
 * entry under the overwrite policy, locate the blobs to write in the region's index (loaded once),
 * make archived packs readable, then (unless `dryRun`) read each object chunk by chunk, check it
 * and write it. Under `never` each write is conditional (`ifNoneMatch`): an object that appeared at
 * its key after the decision is kept and counted as skipped because it exists.
 * @throws NotFoundError (not retryable), before anything is written, for a blob no index locates.
 * @throws IntegrityError (not retryable) for content that does not match the manifest.
 * @throws ArchivePendingError (retryable) when archived packs are not readable yet.
 */
async function restoreEntries(
  deps: PipelineDeps,
  at: Pick<ResolvedRestore, 'request' | 'vault' | 'index' | 'targetBucket'> & { listVault?: boolean },
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

  // 2. Every blob to write must be in the region's index, and archived packs readable, before the
  //    first write. Above LISTING_THRESHOLD packs a restore learns the storage classes from one
  //    listing of the vault's packs (unless `at.listVault` is false: a restore part, whose packs are
  //    cheaper to HEAD than a whole vault is to list, once per part).
  const index = toWrite.length > 0 ? await at.index() : undefined;
  if (index) {
    const archive = await prepareArchive(deps, vault, index, toWrite, request, {
      ...opts,
      ...(at.listVault === undefined ? {} : { listVault: at.listVault }),
    });
    if (archive) out.archive = archive;
  }

  if (request.dryRun || !index) {
    out.objects = toWrite.length;
    out.bytes = totalBytes;
    out.keys = toWrite.slice(0, REPORT_LIST_LIMIT).map(targetKey);
    return out;
  }

  // 3. Write: objects of several chunks read chunk by chunk and streamed; objects of one chunk read
  //    many at a time (one ranged GET per run of their blobs in a pack) and written with one PUT each.
  //    Under `never` the target is live between the decision and the write: each write stores only
  //    while the key has no object, so a newer write there is never replaced.
  const conditions: WriteConditions = { ifNoneMatch: request.overwrite === 'never' };
  const skippedAtWrite = (entry: ManifestEntry) => {
    out.skipped.exists += 1;
    if (out.skippedObjects.length < REPORT_LIST_LIMIT) {
      out.skippedObjects.push({ key: targetKey(entry), reason: 'exists' });
    }
  };
  const written = (bytes: number) => {
    out.objects += 1;
    out.bytes += bytes;
    opts.onProgress?.({
      phase: 'write',
      objects: out.objects,
      bytes: out.bytes,
      total: toWrite.length,
      totalBytes,
    });
  };
  const chunked = toWrite.filter((entry) => entry.blobs.length !== 1);
  const byBlob = new Map<ContentId, ManifestEntry[]>();
  for (const entry of toWrite) {
    if (entry.blobs.length !== 1) continue;
    const blobId = entry.blobs[0] as ContentId;
    const list = byBlob.get(blobId);
    if (list) list.push(entry);
    else byBlob.set(blobId, [entry]);
  }
  // Every blob was located before the first write (packsOf, in prepareArchive).
  const reads = coalesceBlobReads(
    [...byBlob.keys()].map((blobId) => index.locate(blobId) as BlobLocation),
    RESTORE_COALESCE_LIMITS,
  );
  // Memory: at most this many coalesced reads (each ≤ maxSpanBytes) in flight at once.
  const readLimit = pLimit(Math.max(2, Math.ceil((deps.concurrency ?? 16) / 8)));
  await Promise.all([
    ...chunked.map((entry) =>
      limit(async () => {
        const key = targetKey(entry);
        const put = await putEntry(objects, vault, envelope, index, entry, targetBucket, key, conditions);
        if (put.outcome === 'exists') skippedAtWrite(entry);
        else written(put.bytes);
      }),
    ),
    ...reads.map((read) =>
      readLimit(async () => {
        const bodies = await readBlobsOfPack(vault, envelope, read);
        await Promise.all(
          read.flatMap((where, i) =>
            (byBlob.get(where.blobId) ?? []).map((entry) =>
              limit(async () => {
                const body = bodies[i] as Buffer;
                // Its blob was checked against its id (the object's SHA-256); a recorded
                // contentSha256 is checked too, as verifiedEntryContent does.
                const sha256 =
                  entry.contentSha256 === undefined
                    ? undefined
                    : createHash('sha256').update(body).digest('hex');
                checkWholeObject(vault, entry, body.length, sha256);
                const outcome = await objects.put(
                  targetBucket,
                  targetKey(entry),
                  body,
                  attributesOf(entry),
                  conditions,
                );
                if (outcome === 'exists') skippedAtWrite(entry);
                else written(body.length);
              }),
            ),
          ),
        );
      }),
    ),
  ]);
  return out;
}

/**
 * How a restore coalesces the reads of one-chunk objects' blobs: spans up to 8 MiB (one chunk) of a
 * pack, skipping at most 256 KiB of blobs it does not need between two it does.
 */
export const RESTORE_COALESCE_LIMITS: CoalesceLimits = {
  maxSpanBytes: CHUNK_SIZE_BYTES,
  maxGapBytes: 256 * 1024,
};

/** The content type and metadata an entry's object is written with. */
function attributesOf(entry: ManifestEntry): { contentType?: string; metadata?: Record<string, string> } {
  return {
    ...(entry.contentType === undefined ? {} : { contentType: entry.contentType }),
    ...(entry.metadata === undefined ? {} : { metadata: entry.metadata }),
  };
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
    ...(request.pointInTime ? { pointInTime: request.pointInTime } : {}),
    ...(resolved.journal ? { fromJournal: resolved.journal.fromJournal } : {}),
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
        `${outcome.archive.blobs} blob(s) are in ${outcome.archive.packs} archived pack(s): a real restore first restores them with tier ${request.archiveTier}`,
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
 * Memory: the selected entries, about one chunk (8 MiB) per object of several chunks being written,
 * and up to max(2, concurrency / 8) coalesced reads of one-chunk objects (8 MiB each at most).
 * @param options progress callbacks and the injected `sleep` for archived packs; a bare function is
 *   taken as `onProgress`.
 * @throws ValidationError (not retryable) for a bad request, a target that is a vault bucket, or
 *   `Expedited` for a DEEP_ARCHIVE pack.
 * @throws NotFoundError (not retryable) for an unknown plan, snapshot, region or key, a point in time
 *   before the first snapshot, or a blob the region's index does not locate (checked before any
 *   write), or a pack gone since.
 * @throws IntegrityError (not retryable) when a chunk does not hash to its blob id, or the object to
 *   the manifest's SHA-256 and size: nothing is stored at its key (a multipart upload is not completed).
 * @throws ArchivePendingError (retryable) when archived packs are not readable yet.
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
 * job at once. Every check of the request happens before the job is created, including that the
 * region's index locates every blob of the selection; the archived packs holding them are asked
 * for first (as a synchronous restore does), so parts find them readable.
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
  // Every blob located and every archived pack asked for before the job exists.
  await prepareArchive(deps, vault, await resolved.index(), selected, request, options);
  const partSize = deps.restorePartSize ?? DEFAULT_PART_SIZE;
  const at = started.toISOString();
  const job: RestoreJobRecord = {
    restoreJobId: restoreJobIdOf(request, started),
    status: 'RUNNING',
    planId: resolved.planId,
    snapshotId: snapshot.snapshotId,
    ...(snapshot.time ? { snapshotTime: snapshot.time } : {}),
    manifestId: resolved.manifestId,
    ...(resolved.journal ? { journalUntil: resolved.journal.capturedUntil } : {}),
    ...(resolved.journal && snapshot.journalUntil ? { snapshotJournalUntil: snapshot.journalUntil } : {}),
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
 * Restore one part of a restore job: replay the job's request over the part's entries (the
 * selected entries `first` to `first + count - 1` in manifest order, reading only the manifest parts
 * needed for them; the same per-entry work as a synchronous restore, with the region's index loaded
 * once for the part), add what it did to the job's counters once, and — when
 * every part is done — mark the job SUCCEEDED (once, whoever gets there first). A part of a job
 * that has ended does nothing.
 * @throws NotFoundError (not retryable) for an unknown job or a selection that no longer has the
 *   part's range.
 * @throws NotFoundError (not retryable) for a blob no index of the region locates.
 * @throws IntegrityError (not retryable) for content that does not match the manifest.
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
  // A job the reaper re-drove may get a part again that a dead worker had finished: skip its writes.
  if (job.redrives && (await catalog.listRestorePartsDone(job.restoreJobId)).includes(task.part)) {
    if (job.partsDone >= job.partsTotal) {
      result.finishedJob = await catalog.finishRestoreJob(job.restoreJobId, {
        status: 'SUCCEEDED',
        at: nowIso(clock),
      });
    }
    return result;
  }
  const request = parseRestoreRequest(job.request);
  const vault = vaultIn(vaults, job.region);
  const manifest = await readManifest(vault, envelope, job.planId, task.manifestId);
  // A point-in-time job replays the journal up to the capture horizon it recorded: every part
  // derives the same selection, however late it runs.
  const pointInTime =
    request.pointInTime && job.journalUntil && job.snapshotTime
      ? {
          at: request.pointInTime,
          changes: await pointInTimeChanges(
            deps,
            job.planId,
            { ...request, pointInTime: request.pointInTime },
            {
              time: job.snapshotTime,
              ...(job.snapshotJournalUntil === undefined ? {} : { journalUntil: job.snapshotJournalUntil }),
            },
            job.journalUntil,
          ),
        }
      : undefined;
  const { selected: entries, selectedCount } = await selectFromManifest(
    vault,
    envelope,
    manifest,
    request,
    job.snapshotId,
    { first: task.first, count: task.count },
    pointInTime,
  );
  if (entries.length !== task.count) {
    throw new NotFoundError(
      `restore job ${job.restoreJobId} selects ${selectedCount} object(s): part ${task.part} (${task.first}+${task.count}) is out of range`,
    );
  }
  const outcome = await restoreEntries(
    deps,
    {
      request,
      vault,
      index: indexOnce(vault, envelope),
      targetBucket: job.targetBucket,
      listVault: false,
    },
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
    ...(request.pointInTime ? { pointInTime: request.pointInTime } : {}),
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
  source: 'snapshot';
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
 * One journaled change of an object (continuous protection): an upload captured between snapshots,
 * a removal, or an upload lost before capture.
 */
export interface JournalVersion {
  source: 'journal';
  /** None: a journaled change is in no snapshot (so `v.snapshotId` reads on any version). */
  snapshotId?: undefined;
  firstSnapshotId?: undefined;
  /** ISO-8601 UTC: when the change happened (the S3 event's time). */
  time: string;
  /** S3's sequencer: orders the changes of the key. */
  sequencer: string;
  /** ISO-8601 UTC: when capture journaled it. */
  capturedAt: string;
  event: JournalEntry['event'];
  outcome: JournalEntry['outcome'];
  /** Size and ETag (captured: of the bytes stored; lost: as the event reported them). */
  sizeBytes?: number;
  etag?: string;
  lastModified?: string;
  /** Why the bytes were lost (lost-before-capture). */
  reason?: string;
  /**
   * A captured version a point-in-time restore reaches: restore it with `pointInTime` = this (its
   * event time) and `key`. Absent when no committed snapshot precedes it (a point-in-time restore
   * needs one) or the version was not captured.
   */
  pointInTime?: string;
}

/** A version of one object, from the snapshots or from the journal. */
export type KeyVersion = CapturedVersion | JournalVersion;

/**
 * The versions of one object, newest first: those a plan's committed snapshots captured (a run of
 * snapshots holding one ETag is one version) and, with `journal` and in the primary region, its
 * journaled changes (uploads captured between snapshots, removals, uploads lost before capture; a
 * duplicate entry once). Reads manifests newest-first (of each, the root and the one part whose key range holds the
 * key) and stops as soon as `limit` snapshot versions are complete (a version is complete when an
 * older snapshot holds another ETag, or none of it); the key's journal is one catalog query.
 * Versions are ordered by time (a snapshot version: its newest snapshot's time; a journaled change:
 * its event time), then cut to `limit`.
 * @param request.limit most versions to list. @default 20
 * @param request.journal also list the journaled changes. @default false (snapshot versions only)
 * @throws NotFoundError (not retryable) for an unknown plan or a region without a vault.
 * @throws TransientError (retryable) when the catalog or the vault fails.
 * @example
 * ```ts
 * const versions = await listVersions(deps, { plan: 'photos', key: '2026/03/cat.jpg', journal: true });
 * const v = versions[1];
 * await restoreSnapshot(deps, {
 *   plan: 'photos', key: '2026/03/cat.jpg', targetBucket: 'restored',
 *   ...(v?.source === 'journal' ? { pointInTime: v.pointInTime } : { snapshot: v?.snapshotId }),
 * });
 * ```
 */
export async function listVersions(
  deps: PipelineDeps,
  request: { plan: string; key: string; region?: string; limit?: number; journal?: boolean },
): Promise<KeyVersion[]> {
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
    const entry = await findEntry(vault, envelope, manifest, request.key);
    if (entry && current && entry.etag === current.etag) {
      current.firstSnapshotId = snapshot.snapshotId;
      current.firstTime = snapshot.time as string;
      continue;
    }
    if (versions.length === limit) break; // the last version is complete
    current = entry && {
      source: 'snapshot',
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
  // Captured bytes are in the primary vault only: the journal counts there.
  const journaled =
    request.journal && region === vaults.primary.region
      ? await journalVersions(deps, plan.id, request.key, snapshots)
      : [];
  if (journaled.length === 0) return versions;
  const at = (v: KeyVersion) => Date.parse(v.time);
  return [...versions, ...journaled]
    .sort((a, b) => at(b) - at(a) || (a.source === b.source ? 0 : a.source === 'snapshot' ? -1 : 1))
    .slice(0, limit);
}

/** The journaled changes of one key, newest first (by sequencer), each sequencer once. */
async function journalVersions(
  deps: Pick<PipelineDeps, 'catalog'>,
  planId: string,
  key: string,
  committed: readonly SnapshotRecord[],
): Promise<JournalVersion[]> {
  const entries = await deps.catalog.listJournalForKey(planId, key);
  const bySequencer = new Map<string, JournalEntry>();
  for (const entry of entries) {
    if (entry.key !== key) continue;
    const seen = bySequencer.get(entry.sequencer);
    // A duplicate: keep the captured one (or the first).
    if (!seen || (seen.outcome !== 'captured' && entry.outcome === 'captured'))
      bySequencer.set(entry.sequencer, entry);
  }
  const firstSnapshotTime = Math.min(...committed.map((s) => Date.parse(s.time as string)));
  return [...bySequencer.values()]
    .sort((a, b) => compareSequencers(b.sequencer, a.sequencer))
    .map((e) => ({
      source: 'journal' as const,
      time: e.eventTime,
      sequencer: e.sequencer,
      capturedAt: e.capturedAt,
      event: e.event,
      outcome: e.outcome,
      ...(e.sizeBytes === undefined ? {} : { sizeBytes: e.sizeBytes }),
      ...(e.etag === undefined ? {} : { etag: e.etag }),
      ...(e.lastModified === undefined ? {} : { lastModified: e.lastModified }),
      ...(e.reason === undefined ? {} : { reason: e.reason }),
      ...(e.outcome === 'captured' && e.blobs?.length && firstSnapshotTime < Date.parse(e.eventTime)
        ? { pointInTime: e.eventTime }
        : {}),
    }));
}
