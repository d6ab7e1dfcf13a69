/**
 * `strongbox restore --to-table T | --to-original` of a table plan: the table restore request of the
 * options, run in the deployed restore function or in-process with a progress line, and its report.
 */
import { InvalidArgumentError } from 'commander';
import { StrongboxError } from '#domain/errors.ts';
import { isolatedLocation } from '#domain/pipeline.ts';
import type { RestoreRequest } from '#domain/restore/request.ts';
import type { AttributeValue } from '#domain/table/attribute-value.ts';
import { restoreTable } from '#domain/table/restore.ts';
import type { TableRestoreReport, TableRestoreRequest } from '#domain/table/restore-request.ts';
import { connect } from './context.ts';
import { type Deployment, invokeRestore, restoreFunctionName } from './deployed.ts';

/** The options of `strongbox restore` a table restore reads. */
export interface TableRestoreCliOptions {
  snapshot: string;
  pointInTime?: string;
  at?: string;
  toTable?: string;
  toOriginal?: boolean;
  key?: string[];
  keyPrefix?: string;
  filter?: string;
  values?: string;
  names?: string;
  overwrite: string;
  region?: string;
  vault?: string;
  targetRegion?: string;
  dryRun: boolean;
}

function json<T>(flag: string, text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new InvalidArgumentError(`${flag} is not JSON: ${(error as Error).message}`);
  }
}

/** The table restore request of the options (validated by the use case). */
export function tableRestoreRequest(plan: string, opts: TableRestoreCliOptions): TableRestoreRequest {
  if (opts.toTable && opts.toOriginal)
    throw new InvalidArgumentError('give --to-table or --to-original, not both');
  if (opts.at && opts.pointInTime)
    throw new InvalidArgumentError('--at and --point-in-time are the same option');
  const at = opts.at ?? opts.pointInTime;
  const values = json<Record<string, AttributeValue>>('--values', opts.values);
  const names = json<Record<string, string>>('--names', opts.names);
  const select = {
    ...(opts.key?.length ? { keys: opts.key } : {}),
    ...(opts.keyPrefix ? { keyPrefix: opts.keyPrefix } : {}),
    ...(opts.filter ? { filter: opts.filter } : {}),
    ...(values ? { values } : {}),
    ...(names ? { names } : {}),
  };
  return {
    kind: 'table',
    plan,
    snapshot: opts.snapshot,
    ...(at ? { pointInTime: at } : {}),
    ...(opts.toTable ? { toTable: opts.toTable } : { toOriginal: true }),
    ...(Object.keys(select).length > 0 ? { select } : {}),
    overwrite: opts.overwrite as TableRestoreRequest['overwrite'],
    dryRun: opts.dryRun,
    ...(opts.region ? { region: opts.region } : {}),
    // An isolated vault is read as the location its copies are recorded under.
    ...(opts.vault ? { region: isolatedLocation(opts.vault) } : {}),
    ...(opts.targetRegion ? { targetRegion: opts.targetRegion } : {}),
  };
}

/** The report's last line: `Restored 59 of 59 items into table orders-0230 (as of …) in 1.2 s`. */
export function tableRestoreLine(r: TableRestoreReport): string {
  const what = r.pointInTime
    ? `as of ${r.pointInTime}, base snapshot ${r.snapshotId}`
    : `snapshot ${r.snapshotId}`;
  const written = r.selected - r.expired;
  if (r.dryRun)
    return `Dry run: would restore ${r.restored} of ${r.selected} items into table ${r.table} (${what})${r.created ? ', creating it' : ''}`;
  return `Restored ${r.restored} of ${written} items into table ${r.table} (${what}) in ${r.seconds.toFixed(1)} s`;
}

/** The report as lines: warnings, the counts beyond the last line, errors, and the last line. */
export function formatTableRestoreReport(r: TableRestoreReport): string {
  const lines = r.warnings.map((w) => `warning: ${w}`);
  for (const key of r.keys ?? []) lines.push(key);
  const counts = [
    r.skipped ? `${r.skipped} kept (already in the table, policy never)` : '',
    r.expired ? `${r.expired} left out (TTL past)` : '',
    r.failed ? `${r.failed} failed` : '',
    r.throttled ? `${r.throttled} throttled attempt(s) retried` : '',
  ].filter(Boolean);
  if (counts.length > 0) lines.push(counts.join(', '));
  for (const e of r.errors) lines.push(`error: ${e}`);
  lines.push(tableRestoreLine(r));
  return lines.join('\n');
}

/**
 * Run a table restore: in the deployed restore function (with its role), or in-process with a
 * progress line on stderr every 2 s. Prints the report; failed items set the exit code.
 */
export async function runTableRestore(
  dataDir: string,
  deployed: Deployment | undefined,
  request: TableRestoreRequest,
): Promise<TableRestoreReport> {
  let report: TableRestoreReport;
  if (deployed) {
    process.stderr.write(`invoking ${restoreFunctionName(deployed.stage)} in ${deployed.region}…\n`);
    // The restore function tells a table request by its `toTable`/`toOriginal` (functions/restore.ts).
    const payload = (await invokeRestore(deployed, request as unknown as RestoreRequest)) as unknown as {
      kind?: string;
    };
    if (payload.kind !== 'table')
      throw new StrongboxError(
        `the restore function returned no table restore report: ${JSON.stringify(payload).slice(0, 500)}`,
      );
    report = payload as unknown as TableRestoreReport;
  } else {
    const c = await connect(dataDir);
    let last = 0;
    report = await restoreTable(c.pipeline, request, {
      onProgress: (p) => {
        const now = performance.now();
        if (now - last < 2000) return;
        last = now;
        process.stderr.write(
          `restoring: ${p.restored} written, ${p.skipped} kept, ${p.failed} failed of ${p.selected} selected (snapshot holds ${p.total})\n`,
        );
      },
    });
  }
  console.log(formatTableRestoreReport(report));
  if (report.failed > 0 || !report.complete) process.exitCode = 1;
  return report;
}
