/**
 * Immutability and storage classes: how vault documents are written (S3 Object Lock retention, the
 * storage class of packs per region) and how the retention of the documents kept snapshots need is
 * extended, so that every kept snapshot stays undeletable for the lock period after its time.
 *
 * - {@link withWritePolicy} wraps a region's {@link VaultStore}: every put gets the deployment's lock
 *   (`retainUntil` = now + `days`, in `mode`) and, for packs only, the region's pack storage class;
 *   index documents, manifest parts and roots stay STANDARD (instantly readable, small).
 * - {@link extendRetainedDocuments} (called by prune after retention decided what it keeps) moves
 *   the retain-until of each document a kept snapshot references to at least the snapshot's time +
 *   the plan's lock period, with half a period of slack so that it is not sent on every run.
 *
 * The embedded emulator does not enforce Object Lock; the memory twin and the S3 adapter's unit
 * tests (aws-sdk-client-mock) pin the behaviour.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html
 */
import pLimit from 'p-limit';
import type { Envelope } from './envelope.ts';
import { NotFoundError, ValidationError } from './errors.ts';
import { tuningOf } from './pipeline.ts';
import type {
  ArchiveTier,
  Clock,
  LockMode,
  PutOptions,
  StorageState,
  StoredChecksum,
  StoredObject,
  VaultStore,
} from './ports.ts';
import type { SnapshotRecord } from './records.ts';
import { readIndex, readManifest, readPart } from './repository/read-documents.ts';
import { type ContentId, VaultLayout } from './vault.ts';

const DAY_MS = 86_400_000;

/**
 * `ms` as ISO-8601 UTC, rounded up to a whole second: S3 keeps retain-until dates to the second (the
 * SDK sends `2027-01-01T00:00:00Z`), and rounding up never shortens a lock.
 */
function isoSecond(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString();
}

/** An Object Lock retention policy: every document is retained `days` days in `mode`. */
export interface LockPolicy {
  mode: LockMode;
  /** Whole days, 1 to 36,500. */
  days: number;
}

/** How one region's vault writes documents. */
export interface WritePolicy {
  /** Object Lock retention of every document written (none when absent). */
  lock?: LockPolicy;
  /** Storage class of packs (manifests, parts and index documents are always STANDARD). @default 'STANDARD' */
  packStorageClass?: string;
}

/**
 * Storage classes a pack may be written in: the instantly readable ones. Archive classes (GLACIER,
 * DEEP_ARCHIVE) would make copy, verification, drills and prune's reads fail until a restore; a
 * lifecycle rule may still move packs there deliberately.
 */
export const PACK_STORAGE_CLASSES = [
  'STANDARD',
  'INTELLIGENT_TIERING',
  'STANDARD_IA',
  'ONEZONE_IA',
  'GLACIER_IR',
] as const;

/**
 * The put options of one document under a policy, at `now`: the lock for every document, the pack
 * class for packs only.
 * @example
 * ```ts
 * putOptionsFor('packs/ab/ab…', { lock: { mode: 'COMPLIANCE', days: 30 }, packStorageClass: 'GLACIER_IR' }, now);
 * // { retainUntil: now + 30 days, lockMode: 'COMPLIANCE', storageClass: 'GLACIER_IR' }
 * ```
 */
export function putOptionsFor(key: string, policy: WritePolicy, now: Date): PutOptions {
  const options: PutOptions = {};
  if (policy.lock) {
    options.lockMode = policy.lock.mode;
    options.retainUntil = isoSecond(now.getTime() + policy.lock.days * DAY_MS);
  }
  if (VaultLayout.packIdOf(key) && policy.packStorageClass && policy.packStorageClass !== 'STANDARD') {
    options.storageClass = policy.packStorageClass;
  }
  return options;
}

/** A vault that writes under a {@link WritePolicy}; everything else goes to the wrapped vault. */
class PolicyVaultStore implements VaultStore {
  readonly region: string;
  readonly bucket: string;
  readonly policy: WritePolicy;
  readonly inner: VaultStore;
  readonly #clock: Clock;
  storageStateOf?: (key: string) => Promise<StorageState>;
  requestRestore?: (key: string, tier: ArchiveTier, days: number) => Promise<void>;

  constructor(inner: VaultStore, policy: WritePolicy, clock: Clock) {
    this.inner = inner;
    this.region = inner.region;
    this.bucket = inner.bucket;
    this.policy = policy;
    this.#clock = clock;
    const { storageStateOf, requestRestore } = inner;
    if (storageStateOf) this.storageStateOf = (key) => storageStateOf.call(inner, key);
    if (requestRestore)
      this.requestRestore = (key, tier, days) => requestRestore.call(inner, key, tier, days);
  }

  /** Explicit `options` win over the policy's, field by field. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<StoredChecksum> {
    return this.inner.put(key, body, { ...putOptionsFor(key, this.policy, this.#clock.now()), ...options });
  }
  get(key: string): Promise<Uint8Array> {
    return this.inner.get(key);
  }
  getRange(key: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    return this.inner.getRange(key, offsetBytes, lengthBytes);
  }
  checksum(key: string): Promise<StoredChecksum> {
    return this.inner.checksum(key);
  }
  list(prefix: string): AsyncIterable<StoredObject> {
    return this.inner.list(prefix);
  }
  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }
  extendRetention(key: string, retainUntil: string, mode: LockMode): Promise<boolean> {
    return this.inner.extendRetention(key, retainUntil, mode);
  }
  retainUntil(key: string): Promise<string | undefined> {
    return this.inner.retainUntil(key);
  }
}

/**
 * `vault`, writing every document under `policy` (the container wraps each region's vault with the
 * deployment's lock and that region's pack class). Wrapping a wrapped vault replaces its policy.
 * @example
 * ```ts
 * const vault = withWritePolicy(new S3VaultStore(client, 'eu-west-1', bucket), { packStorageClass: 'GLACIER_IR' }, clock);
 * ```
 */
export function withWritePolicy(vault: VaultStore, policy: WritePolicy, clock: Clock): VaultStore {
  const inner = vault instanceof PolicyVaultStore ? vault.inner : vault;
  return new PolicyVaultStore(inner, policy, clock);
}

/** The write policy a vault was wrapped with, or undefined. */
export function writePolicyOf(vault: VaultStore): WritePolicy | undefined {
  return vault instanceof PolicyVaultStore ? vault.policy : undefined;
}

/**
 * The lock period that applies to a plan's snapshots in a vault: the plan's `immutability` when it
 * has one, else the vault's write policy (the deployment's `STRONGBOX_OBJECT_LOCK_*`), else none.
 */
export function lockPolicyFor(
  plan: { immutability?: LockPolicy | undefined },
  vault: VaultStore,
): LockPolicy | undefined {
  return plan.immutability ?? writePolicyOf(vault)?.lock;
}

/**
 * The retain-until to set on a document, or undefined when its current one is enough. `needed` is
 * the newest referencing snapshot's time + the lock period; a document retained until then or later
 * is left alone, else it is extended to `needed` + half a period, so a document every snapshot
 * references is extended at most once per half period of snapshots (not on every run).
 * @param current the document's retain-until (ISO-8601 UTC), undefined when it has none.
 */
export function retentionDue(
  current: string | undefined,
  needed: string,
  lock: LockPolicy,
): string | undefined {
  const neededMs = Date.parse(needed);
  if (current !== undefined && Date.parse(current) >= neededMs) return undefined;
  return isoSecond(neededMs + (lock.days * DAY_MS) / 2);
}

/** What {@link extendRetainedDocuments} did in one vault. */
export interface RetentionExtension {
  region: string;
  /** Documents the kept snapshots reference in this vault: roots, parts, packs, index documents naming those packs. */
  documents: number;
  /** Documents whose retain-until was moved (one PutObjectRetention each). */
  extended: number;
  /** Kept snapshots whose root this vault does not hold (not copied there): skipped. */
  snapshotsAbsent: number;
  /** Referenced documents the vault does not hold (verification reports them): skipped. */
  documentsMissing: number;
  /** Blobs no index document of the vault locates: their packs cannot be extended. */
  unlocatedBlobs: number;
}

/**
 * Extend the Object Lock retention of every document the `kept` snapshots reference in `vault` to at
 * least each snapshot's time + `lock.days` (see {@link retentionDue}). Reads the vault's index
 * documents, each kept root, and each distinct part once (newest snapshot first); then reads each
 * document's retain-until (HeadObject) and extends the ones due. Idempotent; never shortens.
 * Call it after retention decided what it keeps, for each vault (primary and copies); prune does.
 * @param kept committed snapshots retention keeps (any order); those without a manifest are skipped.
 * @throws TransientError (retryable) when storage fails; IntegrityError when a document does not open.
 * @example
 * ```ts
 * const lock = lockPolicyFor(plan, vault);
 * if (lock) await extendRetainedDocuments(deps, vault, keptRecords, lock);
 * ```
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html
 */
export async function extendRetainedDocuments(
  deps: { envelope: Envelope; concurrency?: number },
  vault: VaultStore,
  kept: readonly Pick<SnapshotRecord, 'planId' | 'snapshotId' | 'manifestId' | 'time' | 'scheduledAt'>[],
  lock: LockPolicy,
): Promise<RetentionExtension> {
  if (!Number.isInteger(lock.days) || lock.days < 1) throw new ValidationError('must be at least 1', 'days');
  const limit = pLimit(Math.max(1, tuningOf(deps).concurrency));
  // The index: blob → pack, pack → the index documents naming it.
  const indexIds: ContentId[] = [];
  for await (const o of vault.list(VaultLayout.indexPrefix)) {
    const id = VaultLayout.indexIdOf(o.key);
    if (id) indexIds.push(id);
  }
  const blobPack = new Map<ContentId, ContentId>();
  const packIndexes = new Map<ContentId, string[]>();
  const docs = await Promise.all(
    indexIds.map((id) =>
      limit(async () => {
        try {
          return { id, doc: await readIndex(vault, deps.envelope, id) };
        } catch (error) {
          if (error instanceof NotFoundError) return undefined; // rewritten meanwhile
          throw error;
        }
      }),
    ),
  );
  for (const found of docs) {
    if (!found) continue;
    for (const pack of found.doc.packs) {
      packIndexes.set(pack.packId, [...(packIndexes.get(pack.packId) ?? []), VaultLayout.indexKey(found.id)]);
      for (const blob of pack.blobs) if (!blobPack.has(blob.blobId)) blobPack.set(blob.blobId, pack.packId);
    }
  }

  const needed = new Map<string, string>();
  const need = (key: string, until: string) => {
    if (!needed.has(key)) needed.set(key, until); // newest snapshot first: the first date is the latest
  };
  const timeOf = (s: (typeof kept)[number]) => s.time ?? s.scheduledAt;
  const newestFirst = kept
    .filter((s) => s.manifestId)
    .sort((a, b) => Date.parse(timeOf(b)) - Date.parse(timeOf(a)));
  const seenParts = new Set<string>();
  const unlocated = new Set<ContentId>();
  let snapshotsAbsent = 0;
  for (const s of newestFirst) {
    const until = isoSecond(Date.parse(timeOf(s)) + lock.days * DAY_MS);
    let manifest: Awaited<ReturnType<typeof readManifest>>;
    try {
      manifest = await readManifest(vault, deps.envelope, s.planId, s.manifestId as ContentId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      snapshotsAbsent += 1;
      continue;
    }
    need(VaultLayout.manifestKey(s.planId, s.manifestId as ContentId), until);
    const fresh = manifest.parts.filter((ref) => !seenParts.has(VaultLayout.partKey(s.planId, ref.partId)));
    for (const ref of manifest.parts) need(VaultLayout.partKey(s.planId, ref.partId), until);
    // A part seen for a newer snapshot already gave its blobs a later date.
    const parts = await Promise.all(
      fresh.map((ref) =>
        limit(async () => {
          seenParts.add(VaultLayout.partKey(s.planId, ref.partId));
          try {
            return await readPart(vault, deps.envelope, s.planId, ref.partId);
          } catch (error) {
            if (error instanceof NotFoundError) return undefined; // counted as missing below
            throw error;
          }
        }),
      ),
    );
    for (const part of parts) {
      for (const entry of part?.entries ?? []) {
        for (const blobId of entry.blobs) {
          const packId = blobPack.get(blobId);
          if (!packId) {
            unlocated.add(blobId);
            continue;
          }
          need(VaultLayout.packKey(packId), until);
          for (const indexKey of packIndexes.get(packId) ?? []) need(indexKey, until);
        }
      }
    }
  }

  let extended = 0;
  let documentsMissing = 0;
  await Promise.all(
    [...needed].map(([key, until]) =>
      limit(async () => {
        try {
          const due = retentionDue(await vault.retainUntil(key), until, lock);
          if (due && (await vault.extendRetention(key, due, lock.mode))) extended += 1;
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          documentsMissing += 1;
        }
      }),
    ),
  );
  return {
    region: vault.region,
    documents: needed.size,
    extended,
    snapshotsAbsent,
    documentsMissing,
    unlocatedBlobs: unlocated.size,
  };
}

/**
 * {@link extendRetainedDocuments} for one plan after retention: in the primary vault and each of the
 * plan's copy regions, with the plan's lock period there ({@link lockPolicyFor}), over the plan's
 * snapshots that are still COMMITTED (what retention kept, protected ones included). Nothing is read
 * when no lock applies. This is the one call prune makes, after forgetting and before garbage
 * collection.
 * @returns one result per vault extended (none without a lock).
 * @throws as {@link extendRetainedDocuments}.
 * @example
 * ```ts
 * await extendRetentionForPlan(deps, plan, await deps.catalog.listSnapshots(plan.id));
 * ```
 */
export async function extendRetentionForPlan(
  deps: {
    envelope: Envelope;
    concurrency?: number;
    vaults: { primary: VaultStore; copies: ReadonlyMap<string, VaultStore> };
  },
  plan: { id: string; copyRegions?: readonly string[]; immutability?: LockPolicy | undefined },
  snapshots: readonly SnapshotRecord[],
): Promise<RetentionExtension[]> {
  const kept = snapshots.filter((s) => s.planId === plan.id && s.status === 'COMMITTED' && s.manifestId);
  const vaults = [
    deps.vaults.primary,
    ...(plan.copyRegions ?? []).flatMap((r) => {
      const v = deps.vaults.copies.get(r);
      return v ? [v] : [];
    }),
  ];
  const results: RetentionExtension[] = [];
  for (const vault of vaults) {
    const lock = lockPolicyFor(plan, vault);
    if (lock && kept.length > 0) results.push(await extendRetainedDocuments(deps, vault, kept, lock));
  }
  return results;
}
