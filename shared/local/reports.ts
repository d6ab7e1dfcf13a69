/**
 * What `strongbox cost` and `strongbox prune` print, and how `prune` follows its tasks. Kept out of
 * cli/ so the commands there stay small registrations.
 */
import type { CostReport, PlanRegionCost } from '#domain/cost.ts';
import { NotFoundError, StrongboxError } from '#domain/errors.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { TaskRecord } from '#domain/records.ts';
import { formatBytes, formatTable } from './format.ts';

const usd = (n: number) => `$${n < 0.01 && n > 0 ? n.toFixed(6) : n.toFixed(2)}`;
const times = (r: number | null) => (r === null ? '-' : `${r.toFixed(2)}×`);
const classes = (c: PlanRegionCost['byStorageClass']) =>
  Object.entries(c)
    .map(([name, v]) => `${name} ${formatBytes(v.bytes)} (${v.objects}) ${usd(v.monthlyUsd)}`)
    .join('; ');

/** The cost report as tables: per plan and region, then per vault. */
export function formatCostReport(report: CostReport): string {
  const lines: string[] = [];
  lines.push(
    formatTable(
      [
        'plan',
        'region',
        'snapshots',
        'newest logical',
        'kept logical',
        'unique',
        'stored',
        'objects',
        'dedup',
        'compression',
        'USD/month',
      ],
      report.plans.flatMap((p) =>
        p.regions.map((r) => [
          p.planId,
          r.region,
          String(r.snapshots),
          formatBytes(r.newestLogicalBytes),
          formatBytes(r.keptLogicalBytes),
          formatBytes(r.uniquePlaintextBytes),
          formatBytes(r.storedBytes),
          String(r.objects),
          times(r.dedupRatio),
          times(r.compressionRatio),
          usd(r.monthlyUsd),
        ]),
      ),
    ),
  );
  for (const p of report.plans) {
    for (const r of p.regions) {
      const notes = [
        r.sharedPacks > 0 ? `${r.sharedPacks} pack(s) shared with other plans, counted whole` : '',
        r.unlocatedBlobs > 0 ? `${r.unlocatedBlobs} blob(s) not in the index` : '',
        r.missingObjects > 0 ? `${r.missingObjects} document(s) not listed` : '',
      ].filter(Boolean);
      lines.push(
        `  ${p.planId} ${r.region}: ${classes(r.byStorageClass)}${notes.length ? ` — ${notes.join(', ')}` : ''}`,
      );
    }
    if (p.unreadableSnapshots.length > 0)
      lines.push(`  ${p.planId}: left out, unreadable: ${p.unreadableSnapshots.join(', ')}`);
  }
  lines.push('');
  lines.push(
    formatTable(
      ['vault', 'region', 'objects', 'bytes', 'by storage class', 'USD/month'],
      report.vaults.map((v) => [
        v.bucket,
        v.region,
        String(v.objects),
        formatBytes(v.bytes),
        classes(v.byStorageClass),
        usd(v.monthlyUsd),
      ]),
    ),
  );
  lines.push(
    `Storage only, USD per GB-month: ${Object.entries(report.prices)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )} (us-east-1 list prices, https://aws.amazon.com/s3/pricing/; override with --price CLASS=USD).`,
  );
  return lines.join('\n');
}

/** `CLASS=USD` → [class, price]. @throws StrongboxError for anything else. */
export function parsePrice(value: string): [string, number] {
  const m = /^([A-Z_]+)=(\d+(?:\.\d+)?)$/.exec(value.trim());
  if (!m) throw new StrongboxError(`--price ${value}: use CLASS=USD per GB-month, e.g. GLACIER_IR=0.004`);
  return [m[1] as string, Number(m[2])];
}

/** What `strongbox prune` found: the prune task's record and each region's garbage-collection task. */
export interface PruneRun {
  jobId: string;
  prune: TaskRecord;
  regions: TaskRecord[];
}

/**
 * Enqueue a forget task for a plan now (in the job of its newest snapshot) and follow the task records
 * until the forget task (task id `prune`) and each region's gc task (`prune:<region>`, named by the
 * forget task's `gcRegions` result) have run. A task counts as run when its `attempts` grew past what
 * it was before the send and it is not RUNNING.
 * @throws NotFoundError for an unknown plan or one without snapshots; StrongboxError on timeout.
 */
export async function pruneNow(
  deps: Pick<PipelineDeps, 'catalog' | 'queue' | 'vaults'>,
  planId: string,
  options: { pollMs?: number; timeoutMs?: number; onWait?: (tasks: TaskRecord[]) => void } = {},
): Promise<PruneRun> {
  const { catalog } = deps;
  if (!(await catalog.getPlan(planId))) throw new NotFoundError(`plan '${planId}' does not exist`);
  const snapshots = await catalog.listSnapshots(planId);
  const newest = snapshots.filter((s) => s.status === 'COMMITTED').at(-1) ?? snapshots.at(-1);
  if (!newest) throw new NotFoundError(`plan '${planId}' has no snapshot: nothing to prune`);
  const jobId = `${planId}/${newest.snapshotId}`;
  const attemptsOf = (tasks: TaskRecord[]) => new Map(tasks.map((t) => [t.taskId, t.attempts]));
  const before = attemptsOf(await catalog.listTasks(jobId));
  const ran = (t: TaskRecord | undefined): t is TaskRecord =>
    !!t && t.attempts > (before.get(t.taskId) ?? 0) && t.status !== 'RUNNING';
  // An operator's prune collects garbage whatever `gcIntervalSeconds` says (force).
  await deps.queue.send({ kind: 'forget', planId, snapshotId: newest.snapshotId, force: true });
  const deadline = Date.now() + (options.timeoutMs ?? 15 * 60_000);
  const pollMs = options.pollMs ?? 1000;
  for (;;) {
    const tasks = await catalog.listTasks(jobId);
    const byId = new Map(tasks.map((t) => [t.taskId, t]));
    const prune = byId.get('prune');
    if (ran(prune)) {
      const named = String(prune.result?.gcRegions ?? '')
        .split(',')
        .filter(Boolean);
      const regionTasks = named.map((r) => byId.get(`prune:${r}`));
      if (prune.status === 'FAILED' || regionTasks.every(ran)) {
        return { jobId, prune, regions: regionTasks.filter((t): t is TaskRecord => !!t) };
      }
    }
    if (Date.now() > deadline) {
      throw new StrongboxError(`prune of ${planId} did not finish in time; see 'strongbox status ${planId}'`);
    }
    options.onWait?.(tasks);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** A task's result as `key: value` lines (the shape of GC results may grow: printed as found). */
function resultLines(t: TaskRecord, indent: string): string[] {
  const lines = [`${indent}status: ${t.status}${t.error ? ` (${t.error})` : ''}`];
  for (const [k, v] of Object.entries(t.result ?? {})) {
    lines.push(
      `${indent}${k}: ${typeof v === 'number' && /bytes/i.test(k) ? `${v} (${formatBytes(v)})` : v}`,
    );
  }
  return lines;
}

/** The prune run: what retention forgot, then each region's garbage collection. */
export function formatPruneRun(run: PruneRun): string {
  return [
    `prune ${run.jobId}:`,
    ...resultLines(run.prune, '  '),
    ...run.regions.flatMap((t) => [`${t.taskId.replace(/^prune:/, 'region ')}:`, ...resultLines(t, '  ')]),
  ].join('\n');
}
