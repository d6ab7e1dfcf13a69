/**
 * What the garbage-collection concurrency tests assert, independent of how GC decides: every
 * committed snapshot restores byte-identically in every region holding it (against a model of what
 * the source held), and no unreferenced pack outlives the grace period plus one GC cycle.
 * @see ../../docs/format.md#garbage-collection
 */
import { withRetry } from '#adapters/retrying.ts';
import type { Envelope } from '#domain/envelope.ts';
import { NotFoundError } from '#domain/errors.ts';
import { regionsHolding, type Vaults, vaultIn } from '#domain/pipeline.ts';
import type { Catalog, VaultStore } from '#domain/ports.ts';
import type { SnapshotRecord } from '#domain/records.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readEntryContent } from '#domain/repository/read-blobs.ts';
import { readIndex, readManifest, readPackHeader, readPart } from '#domain/repository/read-documents.ts';
import { VaultIndex } from '#domain/repository/vault-index.ts';
import { keepsWork } from '#domain/retry.ts';
import { type ContentId, type IndexedPack, VaultLayout } from '#domain/vault.ts';

/** What a source held when a snapshot of it was taken: `<plan>/<snapshotId>` → key → content. */
export type SourceModel = Map<string, ReadonlyMap<string, string>>;

/**
 * Restore every COMMITTED snapshot of `planIds` from every region holding it (root, parts, a fresh
 * index, each entry's blobs) and compare with the model.
 * @returns the problems found (empty when every snapshot restores whole); how many snapshot copies were read.
 */
export async function checkRestores(
  catalog: Catalog,
  vaults: Vaults,
  envelope: Envelope,
  planIds: readonly string[],
  model: SourceModel,
): Promise<{ problems: string[]; checked: number }> {
  const problems: string[] = [];
  let checked = 0;
  for (const planId of planIds) {
    for (const s of await catalog.listSnapshots(planId)) {
      if (s.status !== 'COMMITTED' || !s.manifestId) continue;
      const expected = model.get(`${planId}/${s.snapshotId}`);
      if (!expected) {
        problems.push(`${planId}/${s.snapshotId}: not in the model`);
        continue;
      }
      for (const region of regionsHolding(vaults, s)) {
        const vault = vaultIn(vaults, region);
        const where = `${planId}/${s.snapshotId} in ${region}`;
        try {
          const root = await readManifest(vault, envelope, planId, s.manifestId);
          const entries = await readAllEntries(vault, envelope, root);
          const keys = entries.map((e) => e.key);
          const want = [...expected.keys()].sort();
          if (JSON.stringify(keys) !== JSON.stringify(want)) {
            problems.push(`${where}: keys ${keys.length} ≠ model ${want.length}`);
          }
          const index = await VaultIndex.load(vault, envelope, { retry: withRetry });
          for (const e of entries) {
            const content = (await readEntryContent(vault, envelope, index, e)).toString('utf8');
            if (content !== expected.get(e.key)) problems.push(`${where}: ${e.key} differs`);
          }
          checked += 1;
        } catch (error) {
          // Forgotten by retention meanwhile (its root goes at once when old enough): expired, not lost.
          if ((await catalog.getSnapshot(planId, s.snapshotId))?.status !== 'COMMITTED') continue;
          problems.push(`${where}: ${(error as Error).message}`);
        }
      }
    }
  }
  return { problems, checked };
}

/**
 * The blobs live as garbage collection defines them (docs/format.md, Garbage Collection): every
 * COMMITTED manifest of every plan; the uncommitted work (partition summaries and checkpoints) of
 * every snapshot that may still commit — RUNNING, or FAILED and retryable (`keepsWork`); and, when
 * `collected` is given, every root that vault holds which no COMMITTED record names and no COMMITTED or
 * FORGOTTEN record of its snapshot condemns (an unknown root after a state-table restore, a RUNNING or
 * FAILED sealer's), with its parts. Parts and roots are read from the primary, else from a copy; a part
 * only uncommitted work names that no vault holds is lost work, which keeps nothing.
 * @throws the read error when a document that keeps blobs live is unreadable everywhere.
 */
export async function liveBlobs(
  catalog: Catalog,
  vaults: Vaults,
  envelope: Envelope,
  options: {
    /** The vault being collected: its roots no COMMITTED record names are read (see above). */
    collected?: VaultStore;
    /** The clock, for `keepsWork` (when a FAILED snapshot is abandoned); default: never abandoned by age. */
    now?: Date;
  } = {},
): Promise<Set<ContentId>> {
  const { collected, now = new Date(0) } = options;
  const blobs = new Set<ContentId>();
  const read = fromAnyVault(vaults);
  /** Parts, and whether only uncommitted work names them. */
  const parts = new Map<string, { planId: string; partId: ContentId; workOnly: boolean }>();
  const named = (planId: string, partId: ContentId, workOnly: boolean) => {
    const key = `${planId}/${partId}`;
    const seen = parts.get(key);
    parts.set(key, { planId, partId, workOnly: workOnly && (seen?.workOnly ?? true) });
  };
  for (const plan of await catalog.listPlans()) {
    const snapshots = await catalog.listSnapshots(plan.id);
    for (const s of snapshots) {
      if (s.status === 'COMMITTED' && s.manifestId) {
        const root = await read((v) => readManifest(v, envelope, plan.id, s.manifestId as string));
        for (const ref of root.parts) named(plan.id, ref.partId, false);
      } else if (keepsWork(s, snapshots, now)) {
        const work = [
          ...(await catalog.listPartitions(plan.id, s.snapshotId)),
          ...(await catalog.listPartitionCheckpoints(plan.id, s.snapshotId)),
        ];
        for (const ref of work.flatMap((w) => w.parts)) named(plan.id, ref.partId, true);
      }
    }
  }
  if (collected)
    for (const blob of await keptRootBlobs(catalog, vaults, envelope, collected)) blobs.add(blob);
  for (const { planId, partId, workOnly } of parts.values()) {
    const key = VaultLayout.partKey(planId, partId);
    if (
      workOnly &&
      !(await Promise.all([vaults.primary, ...vaults.copies.values()].map((v) => held(v, key)))).some(Boolean)
    )
      continue;
    const part = await read((v) => readPart(v, envelope, planId, partId));
    for (const e of part.entries) for (const b of e.blobs) blobs.add(b);
  }
  return blobs;
}

/**
 * The blobs of the roots `collected` holds which no COMMITTED record names and no record of their
 * snapshot condemns — a FORGOTTEN one, or a COMMITTED one whose root names every part this one names
 * (so: unknown roots, RUNNING or FAILED sealers', earlier committed runs a state-table restore set
 * back) — and of their parts: garbage collection of that vault keeps them (see {@link liveBlobs}).
 * @throws the read error when such a root or part is unreadable everywhere.
 */
export async function keptRootBlobs(
  catalog: Catalog,
  vaults: Vaults,
  envelope: Envelope,
  collected: VaultStore,
): Promise<Set<ContentId>> {
  const blobs = new Set<ContentId>();
  const read = fromAnyVault(vaults);
  const records = new Map<string, SnapshotRecord>();
  const committedRoots = new Set<string>();
  const snapshotsOf = new Map<string, SnapshotRecord[]>();
  const parts = new Map<string, { planId: string; partId: ContentId }>();
  for await (const o of collected.list('manifests/')) {
    const manifestId = VaultLayout.manifestIdOf(o.key);
    if (!manifestId) continue;
    const planId = o.key.split('/')[1] as string;
    if (!snapshotsOf.has(planId)) {
      const snapshots = await catalog.listSnapshots(planId);
      snapshotsOf.set(planId, snapshots);
      for (const s of snapshots) {
        records.set(`${planId}/${s.snapshotId}`, s);
        if (s.status === 'COMMITTED' && s.manifestId)
          committedRoots.add(VaultLayout.manifestKey(planId, s.manifestId));
      }
    }
    if (committedRoots.has(o.key)) continue;
    const root = await read((v) => readManifest(v, envelope, planId, manifestId));
    const record = records.get(`${planId}/${root.snapshotId}`);
    if (record?.status === 'FORGOTTEN') continue; // condemned by its tombstone
    if (record?.status === 'COMMITTED' && record.manifestId) {
      // A losing sealer's, unless it names a part the winner lacks (an earlier committed run a
      // state-table restore set back: kept).
      const winner = await read((v) => readManifest(v, envelope, planId, record.manifestId as string));
      const named = new Set(winner.parts.map((p) => p.partId));
      if (root.parts.every((p) => named.has(p.partId))) continue;
    }
    for (const ref of root.parts) parts.set(`${planId}/${ref.partId}`, { planId, partId: ref.partId });
  }
  for (const { planId, partId } of parts.values()) {
    const part = await read((v) => readPart(v, envelope, planId, partId));
    for (const e of part.entries) for (const b of e.blobs) blobs.add(b);
  }
  return blobs;
}

/** Whether `vault` holds `key` (an unreadable answer counts as held). */
async function held(vault: VaultStore, key: string): Promise<boolean> {
  try {
    await vault.checksum(key);
    return true;
  } catch (error) {
    return !(error instanceof NotFoundError);
  }
}

/**
 * The packs of a vault nobody needs: a pack an index names none of whose blobs is live, or a pack
 * no index names none of whose live blobs is missing from the named packs.
 */
export async function garbagePacks(
  vault: VaultStore,
  envelope: Envelope,
  live: ReadonlySet<ContentId>,
): Promise<Set<ContentId>> {
  const named = new Map<ContentId, IndexedPack>();
  for await (const o of vault.list(VaultLayout.indexPrefix)) {
    const id = VaultLayout.indexIdOf(o.key);
    if (!id) continue;
    for (const p of (await readIndex(vault, envelope, id)).packs) {
      const seen = named.get(p.packId);
      if (!seen || p.blobs.length < seen.blobs.length) named.set(p.packId, p); // as GC counts it
    }
  }
  const stored: ContentId[] = [];
  for await (const o of vault.list(VaultLayout.packsPrefix)) {
    const id = VaultLayout.packIdOf(o.key);
    if (id) stored.push(id);
  }
  const inNamed = new Set<ContentId>();
  for (const [packId, p] of named)
    if (stored.includes(packId)) for (const b of p.blobs) inNamed.add(b.blobId);
  const garbage = new Set<ContentId>();
  for (const packId of stored) {
    const pack = named.get(packId);
    if (pack) {
      if (!pack.blobs.some((b) => live.has(b.blobId))) garbage.add(packId);
      continue;
    }
    const header = await readPackHeader(vault, envelope, packId);
    if (!header.blobs.some((b) => live.has(b.blobId) && !inNamed.has(b.blobId))) garbage.add(packId);
  }
  return garbage;
}

/**
 * Follows unreferenced packs across observations and the GC runs between them. A pack garbage at
 * every observation since `t0` must be gone once a GC run started at or after `t0` (it marks the
 * pack, stamping the mark with its clock when it writes it, at the latest when it ends) and another
 * started a grace period after that one ended (it sweeps it): grace plus one GC cycle.
 */
export class GarbageWatch {
  /** Pack → when (clock, and order of events) it was first seen unreferenced in its current streak. */
  readonly #since = new Map<string, { ms: number; seq: number }>();
  readonly runs: { region: string; startedMs: number; endedMs: number; seq: number }[] = [];
  #seq = 0;
  readonly #graceMs: number;

  constructor(graceSeconds: number) {
    this.#graceMs = graceSeconds * 1000;
  }

  /** Call when a GC run starts (before it reads anything): its place in the order of events. */
  started(): number {
    return ++this.#seq;
  }

  /**
   * A GC run of `region` that started at `startedMs` (event `seq`, from {@link started}) and
   * completed at `endedMs` (its marks are stamped at or before then).
   */
  ran(region: string, startedMs: number, seq: number, endedMs = startedMs): void {
    this.runs.push({ region, startedMs, endedMs, seq });
  }

  /**
   * A task that holds a reference GC cannot see yet (a copy of a snapshot committed when the copy
   * started, which rescues the region's marks of its packs) touched these packs: their streaks start over.
   */
  touched(region: string, packIds: readonly string[]): void {
    for (const packId of packIds) this.#since.delete(`${region}:${packId}`);
  }

  /**
   * The GC marks were lost (a state table restored to an earlier point): no run so far counts as
   * having marked anything; streaks wait for runs from now on.
   */
  forgetRuns(): void {
    this.runs.length = 0;
  }

  /** Record this observation of a region's garbage; @returns the packs overdue (with how long). */
  observe(region: string, garbage: ReadonlySet<ContentId>, nowMs: number): string[] {
    const overdue: string[] = [];
    for (const key of [...this.#since.keys()]) {
      const [r, packId] = key.split(':') as [string, string];
      if (r === region && !garbage.has(packId)) this.#since.delete(key);
    }
    const runs = this.runs.filter((r) => r.region === region);
    const seq = ++this.#seq;
    for (const packId of garbage) {
      const key = `${region}:${packId}`;
      const since = this.#since.get(key) ?? { ms: nowMs, seq };
      this.#since.set(key, since);
      const t0 = since.ms;
      // A run that started after the observation (not merely at the same clock time) marks it.
      const marking = runs.find((r) => r.seq > since.seq);
      const sweeping = marking && runs.find((r) => r.startedMs >= marking.endedMs + this.#graceMs);
      if (sweeping) {
        overdue.push(
          `${region}: pack ${packId.slice(0, 12)} unreferenced since ${new Date(t0).toISOString()} outlived GC runs at ${new Date(marking.startedMs).toISOString()} and ${new Date(sweeping.startedMs).toISOString()}`,
        );
      }
    }
    return overdue;
  }
}

/** Read with `f` from the primary vault, else from each copy vault in turn; the last error if none answers. */
function fromAnyVault(vaults: Vaults) {
  const all = [vaults.primary, ...vaults.copies.values()];
  return async <T>(f: (v: VaultStore) => Promise<T>): Promise<T> => {
    let last: unknown;
    for (const v of all) {
      try {
        return await f(v);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  };
}
