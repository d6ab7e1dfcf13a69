/**
 * A table snapshot's partitions are the segments of one parallel Scan (docs/format.md#table-snapshots):
 * partition i scans segment i of N, turns each item into its manifest entry, and stores them in
 * sorted runs of manifest parts. When its time budget runs low it stores the run it holds, records
 * where the Scan goes on (`scanKey`, the page's LastEvaluatedKey) with the runs so far, and
 * re-enqueues itself; a crash before that goes on from the last checkpoint (runs written since are
 * named by nothing, and garbage collection removes them). The seal merges every segment's runs into
 * the snapshot's parts (table/seal.ts).
 */
import { SourceUnavailableError } from '../errors.ts';
import { nowIso, type PipelineDeps, throttled, tuningOf } from '../pipeline.ts';
import { DEFAULT_PARTITION_OBJECTS, isTableSource, type TableSourceSpec } from '../plan.ts';
import type { PartitionSummary, PlanRecord, SnapshotRecord } from '../records.ts';
import { writePart } from '../repository/write.ts';
import { afterPartition, startPartition } from '../snapshot/partition.ts';
import { cutParts } from '../snapshot/parts.ts';
import type { SnapshotResult } from '../snapshot/result.ts';
import { type PartitionResume, partitionTask, type SnapshotTask } from '../tasks.ts';
import { compareKeys, type ManifestEntry, type PartRef } from '../vault.ts';
import { type Item, ItemSchema, itemEntryOf } from './item.ts';
import type { TableDescription, TableStore } from './ports.ts';

/** Entries a segment holds before it stores them as a sorted run of parts. */
export const RUN_ENTRIES = 20_000;
/** The most segments a snapshot scans in when the plan does not say. */
export const MAX_DEFAULT_SEGMENTS = 64;

/** The table source of a plan. @throws Error for a bucket plan (a caller's mistake). */
export function tableSpecOf(plan: Pick<PlanRecord, 'id' | 'source'>): TableSourceSpec {
  if (!isTableSource(plan.source)) throw new Error(`plan '${plan.id}' does not protect a table`);
  return plan.source;
}

/**
 * The DynamoDB of the table's region.
 * @throws SourceUnavailableError (not retryable) when this deployment reads no tables.
 */
export function tableStoreOf(deps: Pick<PipelineDeps, 'tables'>, spec: TableSourceSpec): TableStore {
  if (!deps.tables)
    throw new SourceUnavailableError(`this deployment reads no DynamoDB tables (dynamodb://${spec.table})`);
  return deps.tables(spec.region);
}

/**
 * The table as DescribeTable tells it now.
 * @throws SourceUnavailableError (not retryable) when the table does not exist or is not readable.
 */
export async function describeSource(
  deps: Pick<PipelineDeps, 'tables'>,
  spec: TableSourceSpec,
): Promise<TableDescription> {
  const description = await tableStoreOf(deps, spec).describe(spec.table);
  if (!description) throw new SourceUnavailableError(`table '${spec.table}' does not exist`);
  return description;
}

/**
 * The partition plan of a table snapshot: one partition per Scan segment. The plan records N − 1
 * boundaries that name segments (`segment/1` … `segment/N-1`), not key ranges, so the catalog and
 * the fan-out count partitions as for a bucket. N is the plan's `snapshot.scanSegments`, else one
 * segment per `partitionObjects` items of DynamoDB's estimate (at most 64).
 * @throws SourceUnavailableError (not retryable) when the table does not exist.
 */
export async function segmentBoundaries(deps: PipelineDeps, plan: PlanRecord): Promise<string[]> {
  const { itemCount } = await describeSource(deps, tableSpecOf(plan));
  const per = plan.snapshot?.partitionObjects ?? DEFAULT_PARTITION_OBJECTS;
  const segments =
    plan.snapshot?.scanSegments ?? Math.min(MAX_DEFAULT_SEGMENTS, Math.max(1, Math.ceil(itemCount / per)));
  return Array.from({ length: segments - 1 }, (_, i) => `segment/${i + 1}`);
}

/** The Scan's start key a checkpoint recorded. */
function startKeyOf(resume: PartitionResume | undefined): Item | undefined {
  return resume?.scanKey === undefined ? undefined : ItemSchema.parse(JSON.parse(resume.scanKey));
}

/**
 * Scan segment `index` of a table snapshot (or the rest of it, from `resume`); the last partition to
 * finish seals. @throws TransientError (retryable) on throttling and storage failures: a redelivery
 * goes on from the last checkpoint. SourceUnavailableError (not retryable) when the table is gone.
 */
export async function runTablePartition(
  deps: PipelineDeps,
  plan: PlanRecord,
  record: SnapshotRecord,
  task: SnapshotTask,
  index: number,
  resume: PartitionResume | undefined,
): Promise<SnapshotResult> {
  const { catalog, clock, envelope, vaults } = deps;
  const start = await startPartition(deps, plan, record, task, index);
  if ('done' in start) return start.done;
  const { jobId, taskId, boundaries, started } = start;
  const spec = tableSpecOf(plan);
  const store = tableStoreOf(deps, spec);
  const { definition } = await describeSource(deps, spec);
  const segment = { index, total: boundaries.length + 1 };

  const parts: PartRef[] = [...(resume?.parts ?? [])];
  let run: ManifestEntry[] = [];
  let itemsRead = resume?.objectsRead ?? 0;
  let startKey = startKeyOf(resume);
  const reserveMs = tuningOf(deps).timeReserveSeconds * 1000;
  const outOfTime = () => deps.remainingTimeMs !== undefined && deps.remainingTimeMs() < reserveMs;
  const reportProgress = throttled(clock, tuningOf(deps).progressIntervalMs, () =>
    catalog.updateTask(jobId, taskId, { progress: { done: itemsRead } }),
  );
  /** Store the run held: sorted, cut into parts (an unchanged part is one the vault has). */
  const storeRun = async () => {
    run.sort((a, b) => compareKeys(a.key, b.key));
    for (const group of cutParts(run, [], true).complete) {
      parts.push((await writePart(vaults.primary, envelope, plan.id, group)).ref);
    }
    run = [];
  };
  const counters = (invocations: number) => ({
    parts,
    objectsRead: itemsRead,
    blobsWritten: 0,
    packsWritten: 0,
    storedBytesWritten: 0,
    objectsVanished: 0,
    invocations,
    seconds: (resume?.seconds ?? 0) + (clock.now().getTime() - started.getTime()) / 1000,
    ...(record.time ? { planTime: record.time } : {}),
  });

  do {
    const page = await store.scanPage(spec.table, segment, startKey, tuningOf(deps).partitionBatchObjects);
    const readAt = nowIso(clock);
    for (const item of page.items) run.push(itemEntryOf(item, definition.key, readAt));
    itemsRead += page.items.length;
    startKey = page.lastEvaluatedKey;
    if (run.length >= RUN_ENTRIES) await storeRun();
    await reportProgress();
    if (startKey && outOfTime()) {
      // Out of time: the run so far, then the checkpoint (it keeps the parts live), then the message.
      await storeRun();
      const next: PartitionResume = {
        ...counters((resume?.invocations ?? 1) + 1),
        scanKey: JSON.stringify(startKey),
      };
      const checkpoint = { ...next, partition: index, checkpointedAt: nowIso(clock) };
      if (!(await catalog.putPartitionCheckpoint(plan.id, record.snapshotId, checkpoint))) {
        return {
          status: 'SKIPPED',
          snapshotId: record.snapshotId,
          partition: index,
          reason: 'another delivery of this segment recorded its checkpoint first',
        };
      }
      await deps.queue.send(partitionTask(task, index, next));
      return { status: 'CONTINUED', snapshotId: record.snapshotId, partition: index };
    }
  } while (startKey);
  await storeRun();

  const { invocations, seconds, ...rest } = counters(resume?.invocations ?? 1);
  const summary: PartitionSummary = {
    partition: index,
    ...rest,
    objectCount: parts.reduce((n, p) => n + p.objectCount, 0),
    logicalBytes: parts.reduce((n, p) => n + p.logicalBytes, 0),
    invocations,
    seconds,
    doneAt: nowIso(clock),
  };
  const { counted } = await catalog.completePartition(plan.id, record.snapshotId, summary);
  await catalog.updateTask(jobId, taskId, {
    status: 'SUCCEEDED',
    finishedAt: nowIso(clock),
    progress: { done: summary.objectCount, total: summary.objectCount, bytes: summary.logicalBytes },
  });
  const result = await afterPartition(deps, plan, record, task, index, counted);
  return { objectCount: summary.objectCount, objectsRead: itemsRead, seconds, ...result };
}
