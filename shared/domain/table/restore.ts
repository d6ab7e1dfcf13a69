/**
 * Table restore: write a table snapshot's items (all, or those item keys, a key prefix and a filter
 * select), or the table's state at a point in time, into a new table created with the recorded
 * definition, or back into the original table under an overwrite policy. Runs in one process (the
 * restore function's one invocation, or the CLI), streaming the manifest part by part.
 * @see ../../../docs/format.md#table-restore
 * @see ../../../docs/format.md#point-in-time-state
 */

import { setTimeout as delay } from 'node:timers/promises';
import { NotFoundError, ValidationError } from '../errors.ts';
import { type PipelineDeps, tuningOf } from '../pipeline.ts';
import { isTableSource, type TableSourceSpec } from '../plan.ts';
import type { PlanRecord } from '../records.ts';
import { type SnapshotSource, snapshotSourceOf } from '../restore/restore.ts';
import { type SelectionSummary, streamSelection } from '../restore/selection.ts';
import type { TableDefinition } from './definition.ts';
import { compileFilter, type ItemFilter } from './filter.ts';
import { type Item, keyOfItemKey } from './item.ts';
import type { TableStore } from './ports.ts';
import {
  type ParsedTableRestoreRequest,
  parseTableRestoreRequest,
  type TableRestoreProgress,
  type TableRestoreReport,
  type TableRestoreRequest,
} from './restore-request.ts';
import { TableItemWriter } from './write-items.ts';

/** Hooks of one table restore call. */
export interface TableRestoreOptions {
  onProgress?: (p: TableRestoreProgress) => void;
  /** Waits between write attempts. @default a timer */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) for the backoff's jitter. @default Math.random */
  random?: () => number;
}

/** Item keys a dry run lists. */
const DRY_RUN_KEYS = 10;

/**
 * A dry run's counts. With `exists` (the original table under `never`), each item's key is looked up
 * (GetItem, 16 at a time) so the items the table holds count as skipped, as the restore would.
 */
class DryRunCount {
  readonly keys: string[] = [];
  restored = 0;
  skipped = 0;
  readonly #exists: ((key: string) => Promise<boolean>) | undefined;
  readonly #pending = new Set<Promise<void>>();
  #error: unknown;

  constructor(exists?: (key: string) => Promise<boolean>) {
    this.#exists = exists;
  }

  async add(key: string): Promise<void> {
    const exists = this.#exists;
    if (!exists) return this.#count(key, false);
    while (this.#pending.size >= 16) await Promise.race(this.#pending);
    const run: Promise<void> = exists(key)
      .then((found) => this.#count(key, found))
      .catch((error: unknown) => {
        this.#error ??= error;
      })
      .finally(() => this.#pending.delete(run));
    this.#pending.add(run);
  }

  /** Wait for the lookups; @throws the first lookup's error. */
  async finish(): Promise<void> {
    await Promise.all(this.#pending);
    if (this.#error !== undefined) throw this.#error;
  }

  #count(key: string, exists: boolean): void {
    if (exists) this.skipped += 1;
    else {
      this.restored += 1;
      if (this.keys.length < DRY_RUN_KEYS) this.keys.push(key);
    }
  }
}

/** The table a restore writes, resolved and checked before anything is written. */
interface Target {
  table: string;
  region: string | undefined;
  store: TableStore;
  /** Whether the table exists now. */
  exists: boolean;
}

function sameTable(source: TableSourceSpec, table: string, region: string | undefined): boolean {
  return (
    source.table === table &&
    (source.region === undefined || region === undefined || source.region === region)
  );
}

/**
 * Resolve and check the target: never a table another plan protects, never the plan's own table but
 * with `toOriginal`, never an existing table with `toTable`.
 * @throws ValidationError (not retryable) for a refused target, or no DynamoDB configured.
 */
async function targetOf(
  deps: PipelineDeps,
  plan: PlanRecord & { source: TableSourceSpec },
  request: ParsedTableRestoreRequest,
): Promise<Target> {
  if (!deps.tables) throw new ValidationError('this deployment has no DynamoDB access configured');
  const table = request.toOriginal ? plan.source.table : (request.toTable as string);
  const region = request.targetRegion ?? plan.source.region;
  if (!request.toOriginal) {
    for (const other of await deps.catalog.listPlans()) {
      if (isTableSource(other.source) && sameTable(other.source, table, region)) {
        const hint = other.id === plan.id ? ': restore into it with toOriginal' : '';
        throw new ValidationError(
          `table '${table}' is protected by plan '${other.id}'${hint}; a restore writes into a new table or its plan's own table only`,
          'toTable',
        );
      }
    }
  }
  const store = deps.tables(region);
  const exists = (await store.describe(table)) !== undefined;
  if (exists && !request.toOriginal)
    throw new ValidationError(
      `table '${table}' exists: a restore creates a new table (name another, or delete it first)`,
      'toTable',
    );
  return { table, region, store, exists };
}

/** Whether an item's TTL attribute (epoch seconds) is past `nowSeconds`: DynamoDB would delete it. */
function expiredAt(item: Item, definition: TableDefinition, nowSeconds: number): boolean {
  const attribute = definition.timeToLiveAttribute;
  const value = attribute === undefined ? undefined : item[attribute];
  if (!value || !('N' in value)) return false;
  const expiry = Number(value.N);
  return Number.isFinite(expiry) && expiry > 0 && expiry < nowSeconds;
}

/**
 * Restore a table snapshot, or a table as of a point in time, in this process.
 *
 * 1. Checks, before anything is created or written: the plan protects a table; the target is not a
 *    table any plan protects (but the plan's own, with `toOriginal`); a new target does not exist;
 *    the snapshot (or the base snapshot at `pointInTime`) exists in the region read and recorded a
 *    definition; the filter parses.
 * 2. Creates the target with the recorded definition (keys, attributes, GSIs and LSIs, billing, TTL,
 *    SSE) when it is new, or when the original table is gone.
 * 3. Streams the selection part by part (the journal applied for a point in time; only the parts
 *    whose key range meets `keys` or `keyPrefix` are read), filters it, and writes it: a new table
 *    (or `always`) with BatchWriteItem, 25 items a call; the original under `never` with one
 *    conditional PutItem per item (an item with the key is kept). Unprocessed items are sent again
 *    with exponential backoff and jitter; the calls in flight adapt to throttling (AIMD). Items whose
 *    TTL is already past are left out.
 * Memory: the few manifest parts read ahead and the batches in flight (never the whole table).
 * @returns the report; items that could not be written are counted in `failed` (never thrown).
 * @throws ValidationError (not retryable) for a bad request, a plan of a bucket, a refused target, an
 *   invalid filter (naming the position).
 * @throws NotFoundError (not retryable) for an unknown plan, snapshot or region, a point in time
 *   before the first snapshot, or a snapshot with no table definition.
 * @throws TransientError (retryable) when the catalog, the vault or DynamoDB's control plane fails.
 * @example
 * ```ts
 * await restoreTable(deps, { plan: 'orders', pointInTime: '2026-12-06T06:00:00Z', toTable: 'orders-0600' });
 * await restoreTable(deps, { plan: 'orders', toOriginal: true, select: { keyPrefix: 'customer#42/' }, overwrite: 'always' });
 * ```
 */
export async function restoreTable(
  deps: PipelineDeps,
  input: TableRestoreRequest,
  options: TableRestoreOptions = {},
): Promise<TableRestoreReport> {
  const started = deps.clock.now();
  const resolved = await resolveTableRestore(deps, parseTableRestoreRequest(input));
  const { request, target, source, definition } = resolved;
  const report = initialReport(resolved);
  if (!target.exists) {
    if (!request.dryRun) await target.store.createTable(definition, target.table);
    report.created = true;
    if (request.toOriginal)
      report.warnings.push(`table '${target.table}' did not exist: created from the snapshot's definition`);
  }
  // A table just created holds nothing: batch puts; the original under `never`: conditional puts.
  const mode = target.exists && request.overwrite === 'never' ? 'ifAbsent' : 'batch';
  const total = source.manifest.totals.objectCount;
  const progress = () =>
    options.onProgress?.({
      selected: report.selected,
      restored: writer.outcome.written,
      skipped: writer.outcome.skipped,
      failed: writer.outcome.failed,
      total,
    });
  const writer = new TableItemWriter(target.store, target.table, {
    mode,
    sleep: options.sleep ?? ((ms) => delay(ms).then(() => undefined)),
    ...(options.random ? { random: options.random } : {}),
    maxConcurrency: tuningOf(deps).concurrency,
    onProgress: progress,
  });
  const summary: SelectionSummary = { selectedCount: 0, warnings: [], fromJournal: 0 };
  const dry = new DryRunCount(
    mode === 'ifAbsent'
      ? async (key) =>
          (await target.store.getItem(target.table, keyOfItemKey(key, definition.key))) !== undefined
      : undefined,
  );
  await writeSelection(deps, resolved, summary, report, started, request.dryRun ? dry : writer);
  if (request.dryRun) {
    await dry.finish();
    report.keys = dry.keys;
    report.restored = dry.restored;
    report.skipped = dry.skipped;
  } else {
    const outcome = await writer.finish();
    report.restored = outcome.written;
    report.skipped = outcome.skipped;
    report.failed = outcome.failed;
    report.errors = outcome.errors;
    report.throttled = outcome.throttled;
  }
  progress();
  if (request.pointInTime) report.fromJournal = summary.fromJournal;
  // The selection's own warnings speak of objects; say it of items.
  report.warnings.push(...summary.warnings.map((w) => w.replaceAll('object', 'item')));
  if (resolved.filter && report.selected === 0 && summary.selectedCount > 0)
    report.warnings.push(`the filter selects none of the ${summary.selectedCount} item(s) of the selection`);
  report.seconds = (deps.clock.now().getTime() - started.getTime()) / 1000;
  return report;
}

/** A table restore resolved before anything is created or written. */
interface ResolvedTableRestore {
  request: ParsedTableRestoreRequest;
  planId: string;
  filter: ItemFilter | undefined;
  target: Target;
  source: SnapshotSource;
  definition: TableDefinition;
}

/** Everything that can make a request bad, checked before anything is created or written. */
async function resolveTableRestore(
  deps: PipelineDeps,
  request: ParsedTableRestoreRequest,
): Promise<ResolvedTableRestore> {
  const select = request.select ?? {};
  const filter =
    select.filter === undefined
      ? undefined
      : compileFilter({ expression: select.filter, values: select.values, names: select.names });
  const plan = await deps.catalog.getPlan(request.plan);
  if (!plan) throw new NotFoundError(`plan '${request.plan}' does not exist`);
  if (!isTableSource(plan.source))
    throw new ValidationError(
      `plan '${plan.id}' protects a bucket, not a table: restore it without toTable/toOriginal`,
      'plan',
    );
  const target = await targetOf(deps, plan as PlanRecord & { source: TableSourceSpec }, request);
  const source = await snapshotSourceOf(deps, plan.id, request);
  const definition = source.manifest.table;
  if (!definition)
    throw new NotFoundError(
      `snapshot ${source.snapshot.snapshotId} of plan '${plan.id}' recorded no table definition`,
    );
  return { request, planId: plan.id, filter, target, source, definition };
}

function initialReport({ request, planId, target, source }: ResolvedTableRestore): TableRestoreReport {
  const { snapshot } = source;
  return {
    kind: 'table',
    planId,
    snapshotId: snapshot.snapshotId,
    ...(snapshot.time ? { snapshotTime: snapshot.time } : {}),
    ...(request.pointInTime ? { pointInTime: request.pointInTime } : {}),
    region: source.region,
    table: target.table,
    ...(target.region ? { targetRegion: target.region } : {}),
    created: false,
    toOriginal: request.toOriginal === true,
    overwrite: request.overwrite,
    dryRun: request.dryRun,
    selected: 0,
    restored: 0,
    skipped: 0,
    expired: 0,
    failed: 0,
    errors: [],
    throttled: 0,
    seconds: 0,
    complete: true,
    warnings: [],
  };
}

/**
 * Stream the selection (part by part, the journal applied), filter it, leave out expired items, and
 * hand the rest to the writer (a dry run counts them instead).
 */
async function writeSelection(
  deps: PipelineDeps,
  { request, source, filter, definition }: ResolvedTableRestore,
  summary: SelectionSummary,
  report: TableRestoreReport,
  started: Date,
  sink: TableItemWriter | DryRunCount,
): Promise<void> {
  const select = request.select ?? {};
  const { snapshot } = source;
  const entries = streamSelection(
    source.vault,
    deps.envelope,
    source.manifest,
    {
      ...(select.keys ? { keys: select.keys } : {}),
      ...(select.keyPrefix ? { prefix: select.keyPrefix } : {}),
    },
    snapshot.snapshotId,
    summary,
    undefined,
    source.pointInTime,
  );
  const nowSeconds = started.getTime() / 1000;
  const { timeReserveSeconds } = tuningOf(deps);
  for await (const entry of entries) {
    // Inside a Lambda invocation: stop reading while there is time to finish the batches in flight.
    if (deps.remainingTimeMs && deps.remainingTimeMs() < timeReserveSeconds * 1000) {
      report.complete = false;
      report.warnings.push(
        `the invocation's time ran low after ${report.selected} selected item(s): the rest (from '${entry.key}' on) was not restored; restore it from the CLI, or by key prefix in several requests`,
      );
      break;
    }
    const item = entry.item;
    if (!item)
      throw new NotFoundError(`entry '${entry.key}' of snapshot ${snapshot.snapshotId} holds no item`);
    if (filter && !filter(item)) continue;
    report.selected += 1;
    if (expiredAt(item, definition, nowSeconds)) report.expired += 1;
    else if (sink instanceof DryRunCount) await sink.add(entry.key);
    else await sink.add(item);
  }
}
