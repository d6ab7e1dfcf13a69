/**
 * Table snapshots written straight into a memory pipeline's vault (manifest parts of item entries
 * and a root naming the table's definition), for tests of the readers of table snapshots while the
 * table snapshot use case is written elsewhere. Also: corrupting one item of a stored snapshot.
 */
import { TransientError } from '#domain/errors.ts';
import { nowIso } from '#domain/pipeline.ts';
import type { PlanRecord, SnapshotRecord } from '#domain/records.ts';
import { readAllEntries } from '#domain/repository/manifest-entries.ts';
import { readManifest, readPart } from '#domain/repository/read-documents.ts';
import { writeManifest, writePart } from '#domain/repository/write.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import { type Item, itemEntryOf } from '#domain/table/item.ts';
import type { Task } from '#domain/tasks.ts';
import { compareKeys, type ManifestEntry, type ManifestPart, manifestRoot } from '#domain/vault.ts';
import type { MemoryPipeline } from './memory-pipeline.ts';

/** A composite-key table: `pk` (S) and `sk` (N), on demand. */
export const ORDERS: TableDefinition = {
  tableName: 'orders',
  region: 'us-east-1',
  key: { hash: { name: 'pk', type: 'S' }, range: { name: 'sk', type: 'N' } },
  attributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'N' },
  ],
  globalSecondaryIndexes: [],
  localSecondaryIndexes: [],
  billingMode: 'PAY_PER_REQUEST',
};

/** `count` items of {@link ORDERS}: `customer#<i % 7>` / `<i>`, with a total, a set and a map. */
export function orderItems(count: number): Item[] {
  return Array.from({ length: count }, (_v, i) => ({
    pk: { S: `customer#${i % 7}` },
    sk: { N: String(i) },
    total: { N: `${i}.5` },
    tags: { SS: ['b', 'a'] },
    address: { M: { city: { S: 'Oslo' }, zip: { S: `0${i}` } } },
  }));
}

/** A table plan of {@link ORDERS}, no copy region. */
export function tablePlan(overrides: Partial<PlanRecord> = {}): PlanRecord {
  return {
    id: 'orders',
    source: { table: 'orders' },
    schedule: 'rate(1 hour)',
    retention: { keepLast: 2 },
    copyRegions: [],
    verification: { samplePercent: 100 },
    enabled: true,
    createdAt: '2026-03-01T00:00:00.000Z',
    updatedAt: '2026-03-01T00:00:00.000Z',
    ...overrides,
  };
}

/**
 * Write a committed snapshot of `items` to the primary vault (parts of `perPart` entries, sorted by
 * item key) and its job and COMMITTED record to the catalog.
 * @returns the snapshot record.
 */
export async function writeTableSnapshot(
  p: MemoryPipeline,
  planId: string,
  snapshotId: string,
  items: readonly Item[],
  options: { definition?: TableDefinition; perPart?: number } = {},
): Promise<SnapshotRecord> {
  const definition = options.definition ?? ORDERS;
  const now = nowIso(p.clock);
  const entries = items
    .map((item) => itemEntryOf(item, definition.key, now))
    .sort((a, b) => compareKeys(a.key, b.key));
  const perPart = options.perPart ?? 1000;
  const refs = [];
  for (let i = 0; i < entries.length; i += perPart) {
    const { ref } = await writePart(p.primary, p.deps.envelope, planId, entries.slice(i, i + perPart));
    refs.push(ref);
  }
  const manifest = manifestRoot(
    {
      planId,
      snapshotId,
      parentSnapshotId: null,
      source: { table: definition.tableName },
      table: definition,
      scheduledAt: now,
      time: now,
      completedAt: now,
    },
    refs,
  );
  const { manifestId } = await writeManifest(p.primary, p.deps.envelope, manifest);
  const record: SnapshotRecord = {
    planId,
    snapshotId,
    status: 'COMMITTED',
    scheduledAt: now,
    time: now,
    startedAt: now,
    committedAt: now,
    manifestId,
    parentSnapshotId: null,
    objectCount: manifest.totals.objectCount,
    logicalBytes: manifest.totals.logicalBytes,
    uniqueBlobs: 0,
  };
  await p.catalog.createJob(
    {
      jobId: `${planId}/${snapshotId}`,
      planId,
      snapshotId,
      status: 'SUCCEEDED',
      createdAt: now,
      updatedAt: now,
    },
    { ...record, status: 'RUNNING' },
  );
  await p.catalog.updateSnapshot(planId, snapshotId, record, ['RUNNING']);
  return record;
}

/**
 * Edit the stored snapshot the way a faulty writer would have: change entries of its parts
 * (`edit` returns the entry to store instead) and store the edited parts and a root naming them
 * (parts and roots are content-addressed, so an edited part is a new part). The snapshot's record
 * then names the new root. Parts are written as given, without sorting or checks.
 * @returns the new manifest id.
 */
export async function editTableSnapshot(
  p: MemoryPipeline,
  snapshot: SnapshotRecord,
  edit: (entry: ManifestEntry) => ManifestEntry,
  change: (manifest: ReturnType<typeof manifestRoot>) => ReturnType<typeof manifestRoot> = (m) => m,
): Promise<string> {
  const manifest = await readManifest(
    p.primary,
    p.deps.envelope,
    snapshot.planId,
    snapshot.manifestId as string,
  );
  const parts = [];
  for (const ref of manifest.parts) {
    const part: ManifestPart = await readPart(p.primary, p.deps.envelope, snapshot.planId, ref.partId);
    const { ref: edited } = await writePart(
      p.primary,
      p.deps.envelope,
      snapshot.planId,
      part.entries.map(edit),
    );
    parts.push({ ...ref, partId: edited.partId });
  }
  const { manifestId } = await writeManifest(p.primary, p.deps.envelope, change({ ...manifest, parts }));
  await p.catalog.updateSnapshot(snapshot.planId, snapshot.snapshotId, { manifestId }, ['COMMITTED']);
  return manifestId;
}

/**
 * Take a snapshot of a table plan on the memory pipeline to its end: the clock moved `advanceMs` on,
 * then every snapshot task queued (plan, segments, seal) run, a TransientError sent again as SQS
 * would, `beforeTask` awaited before each.
 * @returns the snapshot's record as the catalog ends with it.
 */
export async function runTableSnapshot(
  p: MemoryPipeline,
  planId: string,
  options: { advanceMs?: number; beforeTask?: (task: Task) => Promise<void> } = {},
): Promise<SnapshotRecord> {
  p.clock.advance(options.advanceMs ?? 60_000);
  const { snapshotId } = await startSnapshotNow(p.deps, planId);
  for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
    for (const task of tasks) {
      if (!task.kind.startsWith('snapshot')) continue;
      await options.beforeTask?.(task);
      try {
        await p.run(task);
      } catch (error) {
        if (!(error instanceof TransientError)) throw error;
        p.queue.send(task);
      }
    }
  }
  return (await p.catalog.getSnapshot(planId, snapshotId)) as SnapshotRecord;
}

/** A committed table snapshot's items by item key. */
export async function snapshotItems(p: MemoryPipeline, record: SnapshotRecord): Promise<Map<string, Item>> {
  const manifest = await readManifest(p.primary, p.deps.envelope, record.planId, record.manifestId as string);
  const entries = await readAllEntries(p.primary, p.deps.envelope, {
    planId: record.planId,
    parts: manifest.parts,
  });
  return new Map(entries.map((e) => [e.key, e.item as Item]));
}
