/**
 * Restore drills of a table plan (docs/format.md#restore-drills, "Table plans"): in each region
 * holding the snapshot, the sampled items are read from that region's vault (the manifest parts that
 * hold them), checked against the snapshot's entries, written with BatchWriteItem into a scratch
 * table created from the recorded definition, read back one by one (GetItem) and compared with the
 * vault's item (canonical JSON), and the scratch table is deleted again, also when the drill fails
 * or throws. Scratch tables a crashed drill left behind are deleted by the plan's next drill.
 * @see ../../docs/format.md#restore-drills
 */
import { createHash } from 'node:crypto';
import type { DrillDeps } from './drill.ts';
import { IntegrityError, NotFoundError, reasonOf, TransientError, ValidationError } from './errors.ts';
import { vaultIn } from './pipeline.ts';
import type { DrillHistory, DrillRegion } from './records.ts';
import { readPart } from './repository/read-documents.ts';
import type { TableDefinition } from './table/definition.ts';
import { canonicalItemJson, type Item, keyOfItemKey } from './table/item.ts';
import type { TableStore } from './table/ports.ts';
import type { DrillTask } from './tasks.ts';
import { compareKeys, type Manifest, type ManifestEntry } from './vault.ts';
import { itemEntryProblem } from './verify/items.ts';

/** The deployment prefix a table drill names its scratch tables with when DrillDeps gives none. */
export const DEFAULT_DRILL_TABLE_PREFIX = 'strongbox';

/** At most this many failed keys are recorded per region. */
const MAX_LISTED = 100;

/** Writes per BatchWriteItem (DynamoDB's limit). */
const BATCH_WRITES = 25;

/** How a batch's unprocessed writes are sent again (through `deps.retry`). */
const UNPROCESSED_RETRY = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5_000, maxTotalDelayMs: 60_000 };

/**
 * The name prefix of a plan's scratch tables: `<deployment prefix>-drill-<plan>-` (the drill role's
 * IAM grant covers `<service>-<stage>-drill-*`).
 */
export function scratchTablePrefix(deploymentPrefix: string, planId: string): string {
  return `${deploymentPrefix}-drill-${planId}-`;
}

/**
 * The scratch table of one drill in one region: {@link scratchTablePrefix} and a short id, the first
 * 10 hex digits of SHA-256 of `<drillId>:<region>` (so a redelivery of the drill names the same
 * table, and the name stays within DynamoDB's 255 characters and `[A-Za-z0-9_.-]`).
 * @example
 * ```ts
 * scratchTableName('strongbox-dev', 'orders', '20261206T010000Z', 'us-east-1'); // 'strongbox-dev-drill-orders-3f0c…'
 * ```
 */
export function scratchTableName(
  deploymentPrefix: string,
  planId: string,
  drillId: string,
  region: string,
): string {
  const short = createHash('sha256').update(`${drillId}:${region}`).digest('hex').slice(0, 10);
  return `${scratchTablePrefix(deploymentPrefix, planId)}${short}`;
}

/**
 * The definition a scratch table is created from: the recorded one (key, attribute definitions,
 * secondary indexes) on demand, without a stream, TTL (which could expire items before they are read
 * back), deletion protection (the drill deletes it) or a customer KMS key (the drill role is granted
 * none).
 */
export function scratchDefinition(definition: TableDefinition): TableDefinition {
  const {
    provisionedThroughput: _throughput,
    timeToLiveAttribute: _ttl,
    streamViewType: _stream,
    deletionProtection: _protection,
    sse: _sse,
    ...kept
  } = definition;
  return {
    ...kept,
    billingMode: 'PAY_PER_REQUEST',
    globalSecondaryIndexes: kept.globalSecondaryIndexes.map(
      ({ ProvisionedThroughput: _p, ...index }) => index,
    ),
  };
}

/** The TableStore of the table's region. @throws ValidationError (not retryable) when the deployment has no DynamoDB access. */
export function drillTables(deps: DrillDeps, manifest: Manifest): TableStore {
  if (!deps.tables)
    throw new ValidationError(
      `plan '${manifest.planId}' protects a table, but this drill has no DynamoDB access`,
    );
  return deps.tables('table' in manifest.source ? manifest.source.region : undefined);
}

/**
 * Delete the scratch tables earlier drills of the plan left behind (a worker killed between create
 * and delete): every table `store.listTables` lists under the plan's {@link scratchTablePrefix}, and
 * the scratch tables of the drills in the plan's history (when the store cannot list), except those
 * of drills still RUNNING (the reaper re-drives them, under the same names) and of this drill.
 * @returns the names deleted (attempted: deleting an absent table does nothing).
 */
export async function deleteLeftoverScratchTables(
  store: TableStore,
  deploymentPrefix: string,
  planId: string,
  history: DrillHistory | undefined,
  current: { drillId: string; regions: readonly string[] },
): Promise<string[]> {
  const names = (id: string, regions: readonly string[]) =>
    regions.map((region) => scratchTableName(deploymentPrefix, planId, id, region));
  const keep = new Set(names(current.drillId, current.regions));
  const regionsOf = (regions: Record<string, unknown>) => [
    ...new Set([...Object.keys(regions), ...current.regions]),
  ];
  for (const d of history?.drills ?? [])
    if (d.status === 'RUNNING') for (const n of names(d.drillId, regionsOf(d.regions))) keep.add(n);
  const candidates = new Set<string>();
  for (const d of history?.drills ?? [])
    if (d.status !== 'RUNNING') for (const n of names(d.drillId, regionsOf(d.regions))) candidates.add(n);
  if (store.listTables)
    for (const n of await store.listTables(scratchTablePrefix(deploymentPrefix, planId))) candidates.add(n);
  const doomed = [...candidates].filter(
    (n) => !keep.has(n) && n.startsWith(scratchTablePrefix(deploymentPrefix, planId)),
  );
  for (const name of doomed) await store.deleteTable(name);
  return doomed;
}

/** Failures of the data (not of storage): they fail the item, and the drill, and are not retried. */
function isDataFailure(error: unknown): boolean {
  return (
    error instanceof NotFoundError || error instanceof IntegrityError || error instanceof ValidationError
  );
}

/**
 * The sampled entries as the region's vault holds them: the parts whose key range holds a sampled key
 * are read (a part that is missing or does not open fails its keys). `onFirstPart` is called when the
 * first part has arrived.
 */
async function storedEntries(
  deps: DrillDeps,
  region: string,
  manifest: Manifest,
  sample: readonly ManifestEntry[],
  onFirstPart: () => void,
): Promise<{ entries: Map<string, ManifestEntry>; reasons: string[] }> {
  const vault = vaultIn(deps.vaults, region);
  const keys = sample.map((e) => e.key);
  const entries = new Map<string, ManifestEntry>();
  const reasons: string[] = [];
  let first = true;
  for (const ref of manifest.parts) {
    const inPart = keys.filter((k) => compareKeys(ref.firstKey, k) <= 0 && compareKeys(k, ref.lastKey) <= 0);
    if (inPart.length === 0) continue;
    try {
      const part = await readPart(vault, deps.envelope, manifest.planId, ref.partId);
      for (const e of part.entries) if (inPart.includes(e.key)) entries.set(e.key, e);
    } catch (error) {
      if (!isDataFailure(error)) throw error;
      reasons.push(`part ${ref.partId} does not read from ${vault.bucket}: ${reasonOf(error)}`);
    } finally {
      if (first) onFirstPart();
      first = false;
    }
  }
  return { entries, reasons };
}

/**
 * Write items into `tableName` with BatchWriteItem, 25 at a time, sending each batch's unprocessed
 * writes again through `deps.retry` (backoff) until none is left.
 * @throws TransientError (retryable) when writes stay unprocessed past the retries.
 */
export async function batchWriteAll(
  deps: Pick<DrillDeps, 'retry'>,
  store: TableStore,
  tableName: string,
  items: readonly Item[],
): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH_WRITES) {
    let left = items.slice(i, i + BATCH_WRITES).map((put) => ({ put }));
    await deps.retry(async () => {
      left = (await store.batchWrite(tableName, left)) as typeof left;
      if (left.length > 0)
        throw new TransientError(`${left.length} write(s) to ${tableName} left unprocessed`);
    }, UNPROCESSED_RETRY);
  }
}

function failedRegion(reason: string): DrillRegion {
  return {
    status: 'FAILED',
    objects: 0,
    bytes: 0,
    seconds: 0,
    throughputBytesPerSecond: 0,
    timeToFirstByteMs: 0,
    estimatedRtoSeconds: 0,
    reason,
  };
}

/**
 * Prepare the drill of a table plan: the table's region's store, the deployment prefix, and the
 * scratch tables of earlier drills deleted ({@link deleteLeftoverScratchTables}).
 * @throws ValidationError (not retryable) when the deployment has no DynamoDB access.
 */
export async function prepareTableDrill(
  deps: DrillDeps,
  task: DrillTask,
  manifest: Manifest,
  regions: readonly string[],
  drawn: { sample: readonly ManifestEntry[]; latestLogicalBytes: number },
): Promise<TableDrillRun> {
  const store = drillTables(deps, manifest);
  const deploymentPrefix = deps.drillTablePrefix ?? DEFAULT_DRILL_TABLE_PREFIX;
  const history = await deps.catalog.getDrillHistory(task.planId);
  await deleteLeftoverScratchTables(store, deploymentPrefix, task.planId, history, {
    drillId: task.drillId,
    regions,
  });
  return { task, manifest, store, deploymentPrefix, ...drawn };
}

/** What {@link drillTableRegion} needs of the drill. */
export interface TableDrillRun {
  task: DrillTask;
  manifest: Manifest;
  /** The entries drawn (from the primary's parts). */
  sample: readonly ManifestEntry[];
  latestLogicalBytes: number;
  store: TableStore;
  deploymentPrefix: string;
}

/**
 * Drill one region of a table plan: create the scratch table (a leftover of an earlier delivery of
 * this drill is deleted first), read the sampled items from the region's vault, check each against
 * the snapshot's entry (etag, hash, size, key), write the good ones, read each back and compare, and
 * delete the table whatever happened. `objects`/`bytes`: items written and read back equal, and their
 * canonical bytes; `seconds`: from the first part read to the last write; `timeToFirstByteMs`: the
 * first part's read. A missing or corrupt item, or one read back different, fails the region by key.
 * @throws TransientError (retryable) when DynamoDB or storage fails (after the table is deleted).
 */
export async function drillTableRegion(
  deps: DrillDeps,
  run: TableDrillRun,
  region: string,
): Promise<DrillRegion> {
  const { manifest, sample, store } = run;
  const definition = manifest.table;
  if (!definition)
    throw new ValidationError(`snapshot ${manifest.snapshotId} of a table records no table definition`);
  const name = scratchTableName(run.deploymentPrefix, run.task.planId, run.task.drillId, region);
  const failed: string[] = [];
  let objects = 0;
  let bytes = 0;
  let timeToFirstByteMs = 0;
  let started = 0;
  let ended = 0;
  let reasons: string[] = [];
  try {
    await store.deleteTable(name);
    try {
      await store.createTable(scratchDefinition(definition), name);
    } catch (error) {
      if (!isDataFailure(error)) throw error;
      return failedRegion(
        `the scratch table ${name} cannot be created from the recorded definition: ${reasonOf(error)}`,
      );
    }
    started = deps.elapsedMs();
    const stored = await storedEntries(deps, region, manifest, sample, () => {
      timeToFirstByteMs = deps.elapsedMs() - started;
    });
    reasons = stored.reasons;
    const good: ManifestEntry[] = [];
    for (const expected of sample) {
      const got = stored.entries.get(expected.key);
      if (!got || got.etag !== expected.etag || itemEntryProblem(got, definition.key) !== undefined)
        failed.push(expected.key);
      else good.push(got);
    }
    await batchWriteAll(
      deps,
      store,
      name,
      good.map((e) => e.item as Item),
    );
    ended = deps.elapsedMs();
    for (const entry of good) {
      const back = await store.getItem(name, keyOfItemKey(entry.key, definition.key));
      if (back && canonicalItemJson(back) === canonicalItemJson(entry.item as Item)) {
        objects += 1;
        bytes += entry.sizeBytes;
      } else failed.push(entry.key);
    }
  } finally {
    // The scratch table goes whatever happened (a redelivery would create it again).
    await store.deleteTable(name);
  }
  const seconds = Math.max(0, (ended - started) / 1000);
  const throughputBytesPerSecond = seconds > 0 ? bytes / seconds : 0;
  const listed = [...new Set(failed)].sort(compareKeys);
  if (listed.length > 0)
    reasons.push(`${listed.length} item(s) missing, corrupt or not read back equal (${listed[0]}…)`);
  return {
    status: reasons.length > 0 ? 'FAILED' : 'PASSED',
    objects,
    bytes,
    seconds,
    throughputBytesPerSecond,
    timeToFirstByteMs,
    estimatedRtoSeconds: throughputBytesPerSecond > 0 ? run.latestLogicalBytes / throughputBytesPerSecond : 0,
    scratchTable: name,
    ...(listed.length > 0 ? { failedObjects: listed.slice(0, MAX_LISTED) } : {}),
    ...(reasons.length > 0 ? { reason: reasons.join(', ') } : {}),
  };
}
