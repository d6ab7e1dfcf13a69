/**
 * Browsing a deployed stage: the requests the browse function answers (`strongbox ls`, `diff`,
 * `find` and `versions` with `--stage`), so that manifests are opened with the function's role, the only principals
 * the vault key lets decrypt, and the operator needs no more than `lambda:InvokeFunction` on it.
 * Answers come in pages that fit a Lambda response (6 MB): the caller asks again from `next`.
 * @see ../../../docs/format.md#manifests
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { PipelineDeps } from '../pipeline.ts';
import { type KeyVersion, listVersions } from '../restore/versions.ts';
import { compareKeys } from '../vault.ts';
import { type FindResult, findVersions } from './find.ts';
import { ServedTree } from './served-tree.ts';
import { diffTrees, type TreeChange, type TreeEntry, type TreeSource } from './tree.ts';

/** Entries or changes in one answer, unless the request asks for fewer: about 1.5 MB of JSON. */
export const DEFAULT_PAGE = 5000;
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
): Promise<TreePage | DiffPage | FindAnswer | VersionsAnswer> {
  const parsed = BrowseRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(issue?.message ?? 'invalid browse request', issue?.path.join('.') ?? '');
  }
  const request = parsed.data;
  if (request.op === 'ls') {
    const tree = await ServedTree.open(deps, request.tree);
    try {
      const listed = await tree.list({
        ...(request.prefix ? { prefix: request.prefix } : {}),
        ...(request.after ? { after: request.after } : {}),
        maxKeys: request.limit,
      });
      return { source: tree.source, entries: listed.entries, ...(listed.next ? { next: listed.next } : {}) };
    } finally {
      tree.close();
    }
  }
  if (request.op === 'diff') {
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
  if (request.op === 'versions') {
    const { op: _op, ...query } = request;
    return { versions: await listVersions(deps, { ...query, journal: true }) };
  }
  const { op: _op, ...find } = request;
  const result = await findVersions(deps, find);
  if (result.versions.length <= MAX_FOUND_VERSIONS) return result;
  return { ...result, versions: result.versions.slice(0, MAX_FOUND_VERSIONS), truncated: true };
}
