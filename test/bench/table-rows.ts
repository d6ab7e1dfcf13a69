/**
 * The table rows of `npm run bench` (issue 17), the part that runs in the bench's stack process
 * (stack-child.ts): the line table loaded from the corpus's text files (not a row), our full table
 * snapshot (`strongbox backup`: a parallel Scan of `segments` segments), the changes and capture's
 * journaling of them from the stream (not a row), and our stream-built incremental snapshot. The
 * floors (table-floor.ts) and the restore (the CLI) run from run.ts, in processes of their own.
 *
 * Our read capacity: the snapshot function's TableStore is wrapped for the row and sums the
 * `consumedCapacityUnits` of the Scan pages it reads (what DynamoDB reported for them).
 */
import { applyPlans } from '#domain/apply-plans.ts';
import { tableContainerOf } from '#domain/source/dynamodb-table.ts';
import type { Item } from '#domain/table/item.ts';
import type { TableStore } from '#domain/table/ports.ts';
import type { CorpusFile } from '#local/demo/corpus.ts';
import { missingFromJournal, STREAM_TIME_RESOLUTION_MS, stackTableNames } from '#local/demo/table.ts';
import {
  compareImages,
  comparisonProblem,
  linesOfFiles,
  pickTableRounds,
  TableImage,
} from '#local/demo/table-corpus.ts';
import {
  applyTableChanges,
  createLineTable,
  enableStream,
  putItems,
  scanTable,
} from '#local/demo/table-load.ts';
import { waitUntil } from '#local/demo/wait.ts';
import type { LocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import type { OurRow } from './stack-child.ts';

export const TABLE_PLAN = 'bench-table';

/** One table command of the stack process. */
export type TableCommand =
  | { step: 'load'; files: CorpusFile[]; items: number; concurrency: number }
  | { step: 'full'; segments: number }
  | { step: 'change'; perKind: number; concurrency: number }
  | { step: 'incremental' }
  | { step: 'compare'; table: string; segments: number };

/** What stack-child.ts lends the table rows. */
export interface TableKit {
  stack: LocalStack;
  c: Container;
  measure(work: () => Promise<{ seconds?: number; detail?: Record<string, unknown> }>): Promise<OurRow>;
  snapshotRow(planId: string): Promise<OurRow>;
}

let loaded: Item[] = [];
let now = new TableImage();
let firstSnapshotId = '';

/** Sum the capacity the snapshot function's Scan pages consumed while `work` runs. */
async function countingCapacity<T>(
  c: Container,
  work: () => Promise<T>,
): Promise<{ value: T; units: number; pages: number }> {
  const pipeline = c.pipeline as { tables?: (region?: string) => TableStore };
  const original = pipeline.tables;
  let units = 0;
  let pages = 0;
  if (original) {
    pipeline.tables = (region) => {
      const store = original(region);
      return new Proxy(store, {
        get(target, prop, receiver) {
          if (prop !== 'scanPage') return Reflect.get(target, prop, receiver);
          return async (...args: Parameters<TableStore['scanPage']>) => {
            const page = await target.scanPage(...args);
            units += page.consumedCapacityUnits;
            pages += 1;
            return page;
          };
        },
      });
    };
  }
  try {
    return { value: await work(), units, pages };
  } finally {
    if (original) pipeline.tables = original;
  }
}

/** Wait until a job of the table plan has ended (its verification and prune are not the row's). */
async function jobEnded(c: Container, snapshotId: string): Promise<void> {
  await waitUntil(async () => {
    const job = await c.pipeline.catalog.getJob(`${TABLE_PLAN}/${snapshotId}`);
    return job && job.status !== 'RUNNING' ? job.status : undefined;
  }, 1_800_000);
}

async function snapshotWithCapacity(kit: TableKit): Promise<OurRow> {
  const {
    value: row,
    units,
    pages,
  } = await countingCapacity(kit.stack.container('snapshot'), () => kit.snapshotRow(TABLE_PLAN));
  const snapshotId = String(row.detail.snapshotId);
  const snap = await kit.c.pipeline.catalog.getSnapshot(TABLE_PLAN, snapshotId);
  row.detail = {
    ...row.detail,
    capacityUnits: units,
    scanPages: pages,
    mode: snap?.mode,
    items: snap?.objectCount,
  };
  await jobEnded(kit.c, snapshotId);
  return row;
}

/** Run one table command. */
export async function tableStep(command: TableCommand, kit: TableKit): Promise<unknown> {
  const names = stackTableNames(kit.stack, 'bench');
  switch (command.step) {
    case 'load': {
      const corpus = await linesOfFiles(command.files, command.items);
      loaded = corpus.items;
      now = new TableImage(loaded);
      // The stream once loaded (as for the demo, table.ts): the load is the full snapshot's to read.
      await createLineTable(kit.stack.dynamodb, names.source, { stream: false });
      const t0 = performance.now();
      await putItems(kit.stack.dynamodb, names.source, loaded, command.concurrency);
      await enableStream(kit.stack.dynamodb, names.source);
      return {
        items: loaded.length,
        files: corpus.files,
        seconds: (performance.now() - t0) / 1000,
        names,
      };
    }
    case 'full': {
      await applyPlans(
        kit.c.pipeline,
        {
          plans: [
            {
              id: TABLE_PLAN,
              source: { table: names.source },
              schedule: 'rate(1 day)',
              retention: { keepLast: 10 },
              copyRegions: [],
              verification: { samplePercent: 0 },
              continuous: { settleSeconds: 1 },
              snapshot: { scanSegments: command.segments },
              // Disabled: the scheduler starts no snapshot of it beside the row's own (captureTable
              // journals a disabled plan's changes too).
              enabled: false,
            },
          ],
        },
        [],
      );
      const row = await snapshotWithCapacity(kit);
      firstSnapshotId = String(row.detail.snapshotId);
      return row;
    }
    case 'change': {
      // Round 1's updates, inserts and deletes, then capture's journaling of each from the stream.
      const { round1 } = pickTableRounds(loaded, command.perKind);
      const since = new Date(Date.now() - 1000).toISOString();
      const t0 = performance.now();
      await applyTableChanges(kit.stack.dynamodb, names.source, round1, command.concurrency);
      now.apply(round1);
      const container = tableContainerOf(names.source);
      // The stream dates changes to its resolution, rounded down (DynamoDB Local: the minute).
      const from = Date.parse(since) - STREAM_TIME_RESOLUTION_MS;
      const journaled = await waitUntil(async () => {
        // Entries of these changes (the load's, journaled late, are dated before them).
        const entries = (
          await kit.c.pipeline.catalog.listJournal(TABLE_PLAN, { capturedAfter: since })
        ).filter((e) => e.bucket === container && Date.parse(e.eventTime) >= from);
        return missingFromJournal(entries, { round1, round2: [] }, Number.POSITIVE_INFINITY).length === 0
          ? entries.length
          : undefined;
      }, 600_000);
      return { changes: round1.length, journaled, seconds: (performance.now() - t0) / 1000 };
    }
    case 'incremental':
      // Past the plan's settle window: the snapshot holds every change journaled.
      await new Promise((r) => setTimeout(r, 1500));
      return snapshotWithCapacity(kit);
    case 'compare': {
      // The restore of the first snapshot against the items loaded, item by item.
      const scan = await scanTable(kit.stack.dynamodb, command.table, command.segments);
      const comparison = compareImages(new TableImage(loaded), scan.items);
      return {
        identical: comparison.identical,
        expected: comparison.expected,
        problem: comparisonProblem(comparison),
        firstSnapshotId,
        itemsNow: now.items.size,
      };
    }
  }
}
