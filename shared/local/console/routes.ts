/**
 * The web console's JSON API: each route validates its parameters (zod) and calls one function of
 * ./api.ts, the dead-letter port, or the console's restores.
 *
 *   GET  /api/overview                  plans, recovery point against RPO
 *   GET  /api/plans/:plan/timeline      a plan's snapshots (sizes, copies, verification) and drills
 *   GET  /api/plans/:plan/efficiency    dedup and compression per snapshot and region (reads the vaults)
 *   GET  /api/jobs                      running and recent jobs, restore jobs, drills, console restores
 *   GET  /api/dlqs                      each task queue's DLQ and its depth
 *   GET  /api/dlqs/:queue?max=N         the messages of a DLQ with their reasons (left in place)
 *   POST /api/dlqs/:queue/redrive       {max?}: move messages back to their task queue
 *   GET  /api/tree?plan&at&prefix       one level of a snapshot's or a point in time's tree
 *   GET  /api/find?plan&pattern&since&until&size   every version of the matching keys
 *   GET  /api/diff?plan&a&b&prefix      what changed from a to b
 *   POST /api/restores                  {request}: a dry run's report, or a started restore
 *   GET  /api/restores/:id              a started restore as it stands
 *   GET  /api/cost?plan                 the cost report
 *
 * `at`, `a` and `b` are a snapshot id, `latest`, or an ISO-8601 time; `region` (optional) reads a
 * copy region's vault.
 */
import { z } from 'zod';
import type { DeadLetterQueues } from '#domain/dead-letters.ts';
import { describeDeadLetters } from '#domain/dead-letters.ts';
import { NotFoundError, ValidationError } from '#domain/errors.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { RestoreRequestSchema } from '#domain/restore/request.ts';
import { QUEUE_OF, type TaskQueueName } from '#domain/tasks.ts';
import { parseSizeFilter, treeOf } from '../cli/browse.ts';
import type { History } from '../history.ts';
import { cost, diff, jobs, overview, search, timeline, treeLevel } from './api.ts';
import { planEfficiency } from './efficiency.ts';
import type { ConsoleRestores } from './restores.ts';

/** What the routes work with. */
export interface ApiContext {
  deps: PipelineDeps;
  /** Trees, diffs and finds: in this process, or through a deployed stage's browse function. */
  history: History;
  /** What the console is connected to, in words. */
  target: string;
  regions: { primaryRegion: string; copyRegions: string[] };
  deadLetters: DeadLetterQueues;
  restores: ConsoleRestores;
}

/** A route's answer: its JSON body, and its status when not 200. */
export interface ApiAnswer {
  status?: number;
  body: unknown;
}

const id = z.string().trim().min(1).max(512);
const optional = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));
const isoTime = z.iso.datetime({ offset: true });
const limit = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const queueName = z.enum([...new Set(Object.values(QUEUE_OF))] as [TaskQueueName, ...TaskQueueName[]]);

const TreeQuery = z.object({
  plan: id,
  at: optional,
  prefix: z.string().default(''),
  region: optional,
  limit: limit(500, 5000),
});
const FindQuery = z.object({
  plan: id,
  pattern: z.string().min(1),
  since: isoTime.optional().or(z.literal('').transform(() => undefined)),
  until: isoTime.optional().or(z.literal('').transform(() => undefined)),
  size: optional,
  etag: optional,
  region: optional,
});
const DiffQuery = z.object({
  plan: id,
  a: id,
  b: id,
  prefix: optional,
  region: optional,
  limit: limit(1000, 10_000),
});
const RestoreBody = z.strictObject({ request: RestoreRequestSchema });
const RedriveBody = z.strictObject({ max: z.number().int().min(1).max(10_000).default(100) });

/** Parse with `schema`, or throw a ValidationError naming the field. */
function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ValidationError(issue?.message ?? 'invalid request', issue?.path.join('.') ?? '');
}

const regionOf = (region: string | undefined) => (region ? { region } : {});

/** `--size`'s syntax (`+10M`, `-1K`, `512`), as a ValidationError when it is not one. */
function sizeFilterOf(size: string | undefined): ReturnType<typeof parseSizeFilter> {
  if (size === undefined) return {};
  try {
    return parseSizeFilter(size);
  } catch (error) {
    throw new ValidationError((error as Error).message, 'size');
  }
}

type Handler = (c: ApiContext, match: string[], query: URLSearchParams, body: unknown) => Promise<unknown>;

const ROUTES: { method: 'GET' | 'POST'; path: RegExp; handler: Handler }[] = [
  { method: 'GET', path: /^\/api\/overview$/, handler: (c) => overview(c.deps, c.target, c.regions) },
  {
    method: 'GET',
    path: /^\/api\/plans\/([^/]+)\/timeline$/,
    handler: (c, [plan]) => timeline(c.deps, parse(id, plan)),
  },
  {
    method: 'GET',
    path: /^\/api\/plans\/([^/]+)\/efficiency$/,
    handler: (c, [plan]) => planEfficiency(c.deps, parse(id, plan)),
  },
  {
    method: 'GET',
    path: /^\/api\/jobs$/,
    handler: async (c) => ({ ...(await jobs(c.deps)), consoleRestores: c.restores.list() }),
  },
  { method: 'GET', path: /^\/api\/dlqs$/, handler: async (c) => ({ queues: await c.deadLetters.list() }) },
  {
    method: 'GET',
    path: /^\/api\/dlqs\/([^/]+)$/,
    handler: async (c, [queue], query) => {
      const name = parse(queueName, queue);
      const max = parse(limit(20, 100), query.get('max') ?? undefined);
      return { queue: name, letters: await describeDeadLetters(c.deadLetters, c.deps.catalog, name, max) };
    },
  },
  {
    method: 'POST',
    path: /^\/api\/dlqs\/([^/]+)\/redrive$/,
    handler: (c, [queue], _query, body) =>
      c.deadLetters.redrive(parse(queueName, queue), parse(RedriveBody, body).max),
  },
  {
    method: 'GET',
    path: /^\/api\/tree$/,
    handler: (c, _m, query) => {
      const q = parse(TreeQuery, Object.fromEntries(query));
      return treeLevel(c.history, { ...treeOf(q.plan, q.at), ...regionOf(q.region) }, q.prefix, q.limit);
    },
  },
  {
    method: 'GET',
    path: /^\/api\/find$/,
    handler: (c, _m, query) => {
      const q = parse(FindQuery, Object.fromEntries(query));
      return search(c.history, {
        plan: q.plan,
        pattern: q.pattern,
        ...(q.since ? { since: q.since } : {}),
        ...(q.until ? { until: q.until } : {}),
        ...(q.etag ? { etag: q.etag } : {}),
        ...sizeFilterOf(q.size),
        ...regionOf(q.region),
      });
    },
  },
  {
    method: 'GET',
    path: /^\/api\/diff$/,
    handler: (c, _m, query) => {
      const q = parse(DiffQuery, Object.fromEntries(query));
      const side = (at: string) => ({ ...treeOf(q.plan, at), ...regionOf(q.region) });
      return diff(c.history, side(q.a), side(q.b), q.prefix, q.limit);
    },
  },
  {
    method: 'POST',
    path: /^\/api\/restores$/,
    handler: async (c, _m, _q, body) => {
      const { request } = parse(RestoreBody, body);
      if (request.dryRun) return { report: await c.restores.dryRun(request) };
      return c.restores.start(request);
    },
  },
  {
    method: 'GET',
    path: /^\/api\/restores\/([^/]+)$/,
    handler: async (c, [restoreId]) => {
      const restore = await c.restores.get(parse(id, restoreId));
      if (!restore) throw new NotFoundError(`no restore '${restoreId}' was started from this console`);
      return restore;
    },
  },
  {
    method: 'GET',
    path: /^\/api\/cost$/,
    handler: (c, _m, query) => cost(c.deps, parse(optional, query.get('plan') ?? undefined)),
  },
];

/**
 * Answer one API request.
 * @throws ValidationError (400), NotFoundError (404), or what the use case throws.
 * @example
 * ```ts
 * await routeApi(context, 'GET', '/api/overview', new URLSearchParams(), undefined); // { body: { plans: […] } }
 * ```
 */
export async function routeApi(
  context: ApiContext,
  method: string,
  pathname: string,
  query: URLSearchParams,
  body: unknown,
): Promise<ApiAnswer> {
  let pathMatched = false;
  for (const route of ROUTES) {
    const match = route.path.exec(pathname);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== method) continue;
    const params = match.slice(1).map((p) => decodeURIComponent(p));
    return { body: await route.handler(context, params, query, body) };
  }
  if (pathMatched) return { status: 405, body: { error: `${method} is not allowed on ${pathname}` } };
  throw new NotFoundError(`no API ${pathname}`);
}
