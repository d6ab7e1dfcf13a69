/**
 * A deployed stage's tree read through its browse function (`strongbox serve-s3 --stage`): each
 * listing page, entry and range of content is one invocation, so the vault is opened with the
 * function's read-only role, never the operator's credentials (the vault key lets only function
 * roles decrypt).
 */
import { type EntryAnswer, MAX_READ_BYTES, type ReadAnswer, type TreePage } from '#domain/browse/remote.ts';
import type { ByteRange, ListPage, ListRequest, TreeReader } from '#domain/browse/served-tree.ts';
import type { TreeAt, TreeSource } from '#domain/browse/tree.ts';
import type { ManifestEntry } from '#domain/vault.ts';
import { type Deployment, invokeBrowse } from './cli/deployed.ts';

/**
 * A {@link TreeReader} over a deployed stage's browse function.
 * @example
 * ```ts
 * const tree = await RemoteTree.open({ stage: 'prod', region: 'us-east-1' }, { plan: 'photos' });
 * const page = await tree.list({ delimiter: '/', maxKeys: 1000 });
 * ```
 */
export class RemoteTree implements TreeReader {
  readonly source: TreeSource;
  readonly #deployed: Deployment;
  readonly #tree: TreeAt;

  private constructor(deployed: Deployment, tree: TreeAt, source: TreeSource) {
    this.#deployed = deployed;
    this.#tree = tree;
    this.source = source;
  }

  /**
   * The tree, as the function resolves it: a `latest` is pinned to the snapshot it names now, so
   * every later request reads that snapshot.
   * @throws StrongboxError with the function's error (an unknown plan or snapshot, say).
   */
  static async open(deployed: Deployment, tree: TreeAt): Promise<RemoteTree> {
    const first = await invokeBrowse<TreePage>(deployed, { op: 'ls', tree, limit: 1 });
    const pinned = tree.pointInTime ? tree : { ...tree, snapshot: first.source.snapshot.snapshotId };
    return new RemoteTree(deployed, pinned, first.source);
  }

  list(request: ListRequest): Promise<ListPage> {
    return invokeBrowse<ListPage>(this.#deployed, { op: 'list', tree: this.#tree, ...request });
  }

  async entry(key: string): Promise<ManifestEntry | undefined> {
    return (await invokeBrowse<EntryAnswer>(this.#deployed, { op: 'entry', tree: this.#tree, key })).entry;
  }

  /** The range, {@link MAX_READ_BYTES} an invocation. */
  async *content(entry: ManifestEntry, range?: ByteRange): AsyncGenerator<Buffer> {
    const end = Math.min(range?.end ?? entry.sizeBytes - 1, entry.sizeBytes - 1);
    for (let start = range?.start ?? 0; start <= end; start += MAX_READ_BYTES) {
      const answer = await invokeBrowse<ReadAnswer>(this.#deployed, {
        op: 'read',
        tree: this.#tree,
        key: entry.key,
        etag: entry.etag,
        start,
        end: Math.min(end, start + MAX_READ_BYTES - 1),
      });
      yield Buffer.from(answer.base64, 'base64');
    }
  }

  close(): void {}
}
