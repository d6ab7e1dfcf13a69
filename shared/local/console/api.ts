/**
 * What the web console's API reads: each function takes the pipeline's dependencies (a
 * {@link Container}'s `pipeline`) and validated parameters, calls the same use cases as the CLI
 * (`status`, `ls`, `diff`, `find`, `cost`), and returns one JSON-able answer (./api-types.ts).
 */

import type { FindRequest } from '#domain/browse/find.ts';
import type { TreeAt, TreeEntry } from '#domain/browse/tree.ts';
import { costReport, gatherCostInputs } from '#domain/cost.ts';
import { NotFoundError } from '#domain/errors.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { SnapshotRecord } from '#domain/records.ts';
import { recoveryPoint } from '#domain/rpo.ts';
import type { History } from '../history.ts';
import type {
  CostReport,
  DiffResult,
  FindResult,
  Jobs,
  Overview,
  PlanSummary,
  Timeline,
  TreeFolder,
  TreeLevel,
} from './api-types.ts';

/** Finished jobs of each plan `GET /api/jobs` shows besides the running ones. */
const RECENT_JOBS_PER_PLAN = 3;
/** Restore jobs `GET /api/jobs` shows. */
const RECENT_RESTORE_JOBS = 10;

/**
 * Every plan with its recovery point against its RPO, measured at the clock's now.
 * @example
 * ```ts
 * const { plans } = await overview(container.pipeline, 'embedded stack', container.config);
 * plans[0]?.recoveryPoint.exceeded; // false
 * ```
 */
export async function overview(
  deps: PipelineDeps,
  target: string,
  regions: { primaryRegion: string; copyRegions: string[] },
): Promise<Overview> {
  const now = deps.clock.now();
  const plans = await deps.catalog.listPlans();
  const summaries = await Promise.all(
    plans.map(async (plan): Promise<PlanSummary> => {
      const snapshots = await deps.catalog.listSnapshots(plan.id);
      const counts: PlanSummary['snapshots'] = {};
      for (const s of snapshots) counts[s.status] = (counts[s.status] ?? 0) + 1;
      const newest = newestOf(snapshots);
      return {
        plan,
        recoveryPoint: recoveryPoint(plan, snapshots, now),
        snapshots: counts,
        ...(newest
          ? {
              newest: {
                snapshotId: newest.snapshotId,
                status: newest.status,
                scheduledAt: newest.scheduledAt,
                ...(newest.time ? { time: newest.time } : {}),
              },
            }
          : {}),
      };
    }),
  );
  return { now: now.toISOString(), target, ...regions, plans: summaries };
}

const timeOf = (s: SnapshotRecord) => Date.parse(s.time ?? s.scheduledAt);

function newestOf(snapshots: readonly SnapshotRecord[]): SnapshotRecord | undefined {
  return snapshots.reduce<SnapshotRecord | undefined>(
    (a, s) => (a === undefined || timeOf(s) > timeOf(a) ? s : a),
    undefined,
  );
}

/**
 * A plan's snapshots, oldest first, with their copies, verification and the plan's drills.
 * @throws NotFoundError when the plan does not exist.
 */
export async function timeline(deps: PipelineDeps, planId: string): Promise<Timeline> {
  const plan = await deps.catalog.getPlan(planId);
  if (!plan) throw new NotFoundError(`plan '${planId}' does not exist`);
  const snapshots = (await deps.catalog.listSnapshots(planId)).sort((a, b) => timeOf(a) - timeOf(b));
  const drills = (await deps.catalog.getDrillHistory(planId))?.drills ?? [];
  return {
    plan,
    recoveryPoint: recoveryPoint(plan, snapshots, deps.clock.now()),
    snapshots,
    drills,
  };
}

/** Running snapshot jobs with their tasks' progress, the latest finished ones, restore jobs and drills. */
export async function jobs(deps: PipelineDeps): Promise<Omit<Jobs, 'consoleRestores'>> {
  const { catalog } = deps;
  const plans = await catalog.listPlans();
  const perPlan = await Promise.all(
    plans.map(async (plan) => {
      const all = (await catalog.listJobs(plan.id)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      const running = all.filter((j) => j.status === 'RUNNING');
      const recent = all.filter((j) => j.status !== 'RUNNING').slice(-RECENT_JOBS_PER_PLAN);
      const drills = ((await catalog.getDrillHistory(plan.id))?.drills ?? []).filter(
        (d) => d.status === 'RUNNING',
      );
      return { jobs: [...running, ...recent.reverse()], drills };
    }),
  );
  const withTasks = await Promise.all(
    perPlan.flatMap((p) => p.jobs).map(async (job) => ({ job, tasks: await catalog.listTasks(job.jobId) })),
  );
  // Running first, then the newest.
  withTasks.sort(
    (a, b) =>
      Number(b.job.status === 'RUNNING') - Number(a.job.status === 'RUNNING') ||
      b.job.createdAt.localeCompare(a.job.createdAt),
  );
  return {
    now: deps.clock.now().toISOString(),
    jobs: withTasks,
    restoreJobs: await catalog.listRestoreJobs(RECENT_RESTORE_JOBS),
    drills: perPlan.flatMap((p) => p.drills),
  };
}

/**
 * One level of the tree of `at` under `prefix`: the folders (the next `/`-separated segment, with
 * how many objects and bytes each holds) and at most `limit` objects directly under the prefix. Every
 * object under the prefix is read (manifest parts outside it are not).
 * Through `history`: the embedded stack's, or a deployed stage's browse function (shared/local/history.ts).
 * @throws as openTree: NotFoundError, ValidationError.
 */
export async function treeLevel(
  history: History,
  at: TreeAt,
  prefix: string,
  limit: number,
): Promise<TreeLevel> {
  const tree = await history.openTree(at, prefix || undefined);
  const folders = new Map<string, TreeFolder>();
  const files: TreeEntry[] = [];
  let objects = 0;
  let bytes = 0;
  let truncated = false;
  for await (const e of tree.entries) {
    objects += 1;
    bytes += e.sizeBytes;
    const rest = e.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) {
      if (files.length < limit) files.push(e);
      else truncated = true;
      continue;
    }
    const name = rest.slice(0, slash + 1);
    const folder = folders.get(name) ?? { name, prefix: prefix + name, objects: 0, bytes: 0 };
    folder.objects += 1;
    folder.bytes += e.sizeBytes;
    folders.set(name, folder);
  }
  return { source: tree.source, prefix, folders: [...folders.values()], files, truncated, objects, bytes };
}

/**
 * The first `limit` changes from `a` to `b` under `prefix`, and how many of each kind there are.
 * @throws as diffTrees.
 */
export async function diff(
  history: History,
  a: TreeAt,
  b: TreeAt,
  prefix: string | undefined,
  limit: number,
): Promise<DiffResult> {
  const d = await history.diffTrees(a, b, prefix);
  const counts = { added: 0, removed: 0, modified: 0 };
  const changes: DiffResult['changes'] = [];
  for await (const c of d.changes) {
    counts[c.change] += 1;
    if (changes.length < limit) changes.push(c);
  }
  const total = counts.added + counts.removed + counts.modified;
  return { a: d.a, b: d.b, sharedParts: d.sharedParts, changes, counts, truncated: total > changes.length };
}

/** `strongbox find`'s search. @throws as findVersions. */
export function search(history: History, request: FindRequest): Promise<FindResult> {
  return history.findVersions(request);
}

/**
 * `strongbox cost`'s report (reads the catalog, each vault's listing and index).
 * @throws as {@link gatherCostInputs}.
 */
export async function cost(deps: PipelineDeps, planId?: string): Promise<CostReport> {
  return costReport(await gatherCostInputs(deps, planId));
}
