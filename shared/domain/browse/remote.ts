/**
 * Browsing a deployed stage: the requests the browse function answers (`strongbox ls`, `diff`,
 * `find` and `versions` with `--stage`), so that manifests are opened with the function's role, the only principals
 * the vault key lets decrypt, and the operator needs no more than `lambda:InvokeFunction` on it.
 * Answers come in pages that fit a Lambda response (6 MB): the caller asks again from `next`.
 * @see ../../../docs/format.md#manifests
 */
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { PipelineDeps } from '../pipeline.ts';
import { type KeyVersion, listVersions } from '../restore/versions.ts';
import { compareKeys, type ManifestEntry } from '../vault.ts';
import { type FindResult, findVersions } from './find.ts';
import { type ListPage, ServedTree } from './served-tree.ts';
import { diffTrees, type TreeChange, type TreeEntry, type TreeSource } from './tree.ts';

/** Entries or changes in one answer, unless the request asks for fewer: about 1.5 MB of JSON. */
export const DEFAULT_PAGE = 5000;
/** Bytes of content in one `read` answer: 4 MiB, about 5.6 MB as base64 in a 6 MB Lambda response. */
export const MAX_READ_BYTES = 4 * 1024 * 1024;
/** How long a function keeps a tree it opened for the next requests (serve-s3's), in milliseconds. */
export const TREE_CACHE_MS = 60_000;
/** Versions in one `find` answer: about 2 MB of JSON, well inside a Lambda response. */
export const MAX_FOUND_VERSIONS = 5000;

const isoTime = z.iso.datetime({ offset: true });
const TreeAtSchema = z.strictObject({
  plan: z.string().min(1),
  snapshot: z.string().min(1).optional(),
  pointInTime: isoTime.optional(),
  region: z.string().min(1).optional(),
});
const page = {
  prefix: z.string().min(1).optional(),
  /** Resume after this key (the `next` of the previous answer). */
  after: z.string().min(1).optional(),
  limit: z.number().int().min(1).max(DEFAULT_PAGE).default(DEFAULT_PAGE),
};

/** A request of the browse function. */
export const BrowseRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('ls'), tree: TreeAtSchema, ...page }),
  z.strictObject({ op: z.literal('diff'), a: TreeAtSchema, b: TreeAtSchema, ...page }),
  z.strictObject({
    op: z.literal('find'),
    plan: z.string().min(1),
    pattern: z.string().min(1),
    since: isoTime.optional(),
    until: isoTime.optional(),
    minSizeBytes: z.number().int().nonnegative().optional(),
    maxSizeBytes: z.number().int().nonnegative().optional(),
    etag: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
  }),
  z.strictObject({
    op: z.literal('list'),
    tree: TreeAtSchema,
    prefix: z.string().min(1).optional(),
    delimiter: z.string().min(1).optional(),
    after: z.string().min(1).optional(),
    afterPrefix: z.boolean().optional(),
    maxKeys: z.number().int().min(0).max(1000),
  }),
  z.strictObject({ op: z.literal('entry'), tree: TreeAtSchema, key: z.string().min(1) }),
  z.strictObject({
    op: z.literal('read'),
    tree: TreeAtSchema,
    key: z.string().min(1),
    /** The version expected (its ETag): a tree that moved on (`latest`) answers with an error. */
    etag: z.string().min(1),
    start: z.number().int().nonnegative(),
    /** Inclusive; at most {@link MAX_READ_BYTES} from `start`. */
    end: z.number().int().nonnegative(),
  }),
  z.strictObject({
    op: z.literal('versions'),
    plan: z.string().min(1),
    key: z.string().min(1),
    region: z.string().min(1).optional(),
    limit: z.number().int().min(1).max(1000).default(20),
  }),
]);
export type BrowseRequest = z.input<typeof BrowseRequestSchema>;

/** One page of a tree: its objects in key order, and the key to resume after when there are more. */
export interface TreePage {
  source: TreeSource;
  entries: TreeEntry[];
  next?: string;
}

/** One page of a diff. */
export interface DiffPage {
  a: TreeSource;
  b: TreeSource;
  sharedParts: number;
  changes: TreeChange[];
  next?: string;
}

/** A `find`, with at most {@link MAX_FOUND_VERSIONS} versions (`truncated` when there were more). */
export type FindAnswer = FindResult & { truncated?: boolean };

/** One object's entry (`serve-s3`'s HEAD), or none. */
export interface EntryAnswer {
  entry?: ManifestEntry;
}

/** A range of one object's bytes, base64. */
export interface ReadAnswer {
  base64: string;
}

/**
 * The trees a warm browse function opened, kept {@link TREE_CACHE_MS} for the requests that follow
 * (a serve-s3 client lists a page, then reads its objects), with the index it shares between
 * invocations. `latest` may so be up to a minute old.
 */
export class TreeCache {
  readonly #trees = new Map<string, { tree: Promise<ServedTree>; openedAt: number }>();

  open(deps: PipelineDeps, at: z.infer<typeof TreeAtSchema>): Promise<ServedTree> {
    const key = JSON.stringify([at.plan, at.snapshot, at.pointInTime, at.region]);
    const now = deps.clock.now().getTime();
    for (const [k, t] of this.#trees) if (now - t.openedAt > TREE_CACHE_MS) this.#trees.delete(k);
    let cached = this.#trees.get(key);
    if (!cached) {
      cached = { tree: ServedTree.open(deps, at, { sharedIndex: true }), openedAt: now };
      cached.tree.catch(() => this.#trees.delete(key));
      this.#trees.set(key, cached);
    }
    return cached.tree;
  }
}

/** The versions of one object, newest first (`strongbox versions`). */
export interface VersionsAnswer {
  versions: KeyVersion[];
}

/**
 * Answer a browse request.
 * @throws ValidationError (not retryable) for a request that does not parse, naming the field.
 * @throws NotFoundError (not retryable) as {@link openTree} and {@link findVersions}.
 * @example
 * ```ts
 * const first = await answerBrowse(deps, { op: 'ls', tree: { plan: 'photos' }, prefix: 'raw/' });
 * if ('next' in first && first.next) await answerBrowse(deps, { op: 'ls', tree: { plan: 'photos' }, after: first.next });
 * ```
 */
export async function answerBrowse(
  deps: PipelineDeps,
  input: unknown,
  trees: TreeCache = new TreeCache(),
): Promise<TreePage | DiffPage | FindAnswer | VersionsAnswer | ListPage | EntryAnswer | ReadAnswer> {
  const parsed = BrowseRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid browse request', issue?.path.join('.') ?? '');
  }
  const request = parsed.data;
  if (request.op === 'list' || request.op === 'entry' || request.op === 'read')
    return answerServe(deps, request, trees);
  if (request.op === 'ls') return answerLs(deps, request, trees);
  if (request.op === 'diff') return answerDiff(deps, request);
  if (request.op === 'versions') {
    const { op: _op, ...query } = request;
    return { versions: await listVersions(deps, { ...query, journal: true }) };
  }
  const { op: _op, ...find } = request;
  const result = await findVersions(deps, find);
  if (result.versions.length <= MAX_FOUND_VERSIONS) return result;
  return { ...result, versions: result.versions.slice(0, MAX_FOUND_VERSIONS), truncated: true };
}

type RequestOf<Op> = Extract<z.infer<typeof BrowseRequestSchema>, { op: Op }>;

/** A page of a tree (`ls`), from the tree a warm function opened for the pages before it. */
async function answerLs(deps: PipelineDeps, request: RequestOf<'ls'>, trees: TreeCache): Promise<TreePage> {
  const tree = await trees.open(deps, request.tree);
  const listed = await tree.list({
    ...(request.prefix ? { prefix: request.prefix } : {}),
    ...(request.after ? { after: request.after } : {}),
    maxKeys: request.limit,
  });
  return { source: tree.source, entries: listed.entries, ...(listed.next ? { next: listed.next } : {}) };
}

/** A page of a diff: its changes after `after`, the shared parts skipped as in any diff. */
async function answerDiff(deps: PipelineDeps, request: RequestOf<'diff'>): Promise<DiffPage> {
  const diff = await diffTrees(deps, request.a, request.b, request.prefix);
  const changes: TreeChange[] = [];
  let next: string | undefined;
  for await (const change of diff.changes) {
    if (request.after !== undefined && compareKeys(change.key, request.after) <= 0) continue;
    if (changes.length === request.limit) {
      next = changes.at(-1)?.key;
      break;
    }
    changes.push(change);
  }
  return { a: diff.a, b: diff.b, sharedParts: diff.sharedParts, changes, ...(next ? { next } : {}) };
}

/** serve-s3's requests: a page of a listing, an entry, a range of content. */
async function answerServe(
  deps: PipelineDeps,
  request: RequestOf<'list' | 'entry' | 'read'>,
  trees: TreeCache,
): Promise<ListPage | EntryAnswer | ReadAnswer> {
  const tree = await trees.open(deps, request.tree);
  if (request.op === 'list') {
    const { op: _op, tree: _tree, ...list } = request;
    return tree.list(list);
  }
  const entry = await tree.entry(request.key);
  if (request.op === 'entry') return entry ? { entry } : {};
  if (!entry || entry.etag !== request.etag) {
    throw new NotFoundError(`'${request.key}' (ETag ${request.etag}) is not in the tree any more`);
  }
  if (request.end < request.start || request.end - request.start + 1 > MAX_READ_BYTES) {
    throw new ValidationError(`a read is 1 to ${MAX_READ_BYTES} bytes`, 'end');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of tree.content(entry, { start: request.start, end: request.end }))
    chunks.push(chunk);
  return { base64: Buffer.concat(chunks).toString('base64') };
}
