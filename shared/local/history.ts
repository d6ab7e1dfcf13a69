/**
 * History without a restore, wherever it is read: the embedded stack's (or any pipeline's) in this
 * process, or a deployed stage's through its browse function (which alone may open the vault). What
 * `strongbox ls|diff|find` and the web console read through.
 */
import type { FindRequest } from '#domain/browse/find.ts';
import { findVersions } from '#domain/browse/find.ts';
import type { DiffPage, FindAnswer, TreePage } from '#domain/browse/remote.ts';
import {
  diffTrees,
  openTree,
  type TreeAt,
  type TreeChange,
  type TreeEntry,
  type TreeSource,
} from '#domain/browse/tree.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import { type Deployment, invokeBrowse } from './cli/deployed.ts';

/** A tree, opened: where it was read from, and its objects in key order. */
export type OpenedTree = { source: TreeSource; entries: AsyncGenerator<TreeEntry> };
/** A diff, opened: its two sides, the parts they share, and its changes in key order. */
export type OpenedDiff = Awaited<ReturnType<typeof diffTrees>>;

/** What `ls`, `diff` and `find` read. */
export interface History {
  openTree(at: TreeAt, prefix?: string): Promise<OpenedTree>;
  diffTrees(a: TreeAt, b: TreeAt, prefix?: string): Promise<OpenedDiff>;
  /** A find; a deployed stage answers at most 5,000 versions (`truncated`). */
  findVersions(request: FindRequest): Promise<FindAnswer>;
}

/** The history of a pipeline this process reaches (the embedded stack). */
export function localHistory(deps: PipelineDeps): History {
  return {
    openTree: (at, prefix) => openTree(deps, at, prefix),
    diffTrees: (a, b, prefix) => diffTrees(deps, a, b, prefix),
    findVersions: (request) => findVersions(deps, request),
  };
}

/**
 * A deployed stage's history, through its browse function, page by page.
 * @example
 * ```ts
 * const tree = await remoteHistory({ stage: 'prod', region: 'us-east-1' }).openTree({ plan: 'photos' });
 * for await (const e of tree.entries) console.log(e.key);
 * ```
 */
export function remoteHistory(deployed: Deployment, pageSize?: number): History {
  const limit = pageSize ? { limit: pageSize } : {};
  return {
    openTree: (at, prefix) => remoteTree(deployed, at, prefix, limit),
    diffTrees: (a, b, prefix) => remoteDiff(deployed, a, b, prefix, limit),
    findVersions: (request) => invokeBrowse<FindAnswer>(deployed, { op: 'find', ...request }),
  };
}

/**
 * A tree at a time stays that tree; one named `latest` (or by default) is pinned to the snapshot
 * the first page read, so a snapshot committed between two pages does not mix into the listing.
 */
function pinned(at: TreeAt, source: TreeSource): TreeAt {
  return at.pointInTime ? at : { ...at, snapshot: source.snapshot.snapshotId };
}

/**
 * A deployed stage's tree, page by page through its browse function (the first page read now, for
 * its source; the next ones, of the same snapshot, as the entries are read).
 */
async function remoteTree(
  deployed: Deployment,
  at: TreeAt,
  prefix: string | undefined,
  limit: { limit?: number },
): Promise<OpenedTree> {
  const ask = (tree: TreeAt, after?: string) =>
    invokeBrowse<TreePage>(deployed, {
      op: 'ls',
      tree,
      ...limit,
      ...(prefix ? { prefix } : {}),
      ...(after ? { after } : {}),
    });
  const first = await ask(at);
  const tree = pinned(at, first.source);
  async function* entries(): AsyncGenerator<TreeEntry> {
    for (
      let page: TreePage | undefined = first;
      page;
      page = page.next ? await ask(tree, page.next) : undefined
    )
      yield* page.entries;
  }
  return { source: first.source, entries: entries() };
}

/** A deployed stage's diff, page by page through its browse function. */
async function remoteDiff(
  deployed: Deployment,
  a: TreeAt,
  b: TreeAt,
  prefix: string | undefined,
  limit: { limit?: number },
): Promise<OpenedDiff> {
  const ask = (sides: [TreeAt, TreeAt], after?: string) =>
    invokeBrowse<DiffPage>(deployed, {
      op: 'diff',
      a: sides[0],
      b: sides[1],
      ...limit,
      ...(prefix ? { prefix } : {}),
      ...(after ? { after } : {}),
    });
  const first = await ask([a, b]);
  const sides: [TreeAt, TreeAt] = [pinned(a, first.a), pinned(b, first.b)];
  async function* changes(): AsyncGenerator<TreeChange> {
    for (
      let page: DiffPage | undefined = first;
      page;
      page = page.next ? await ask(sides, page.next) : undefined
    )
      yield* page.changes;
  }
  return { a: first.a, b: first.b, sharedParts: first.sharedParts, changes: changes() };
}
