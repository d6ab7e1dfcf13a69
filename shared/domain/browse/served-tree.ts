/**
 * A tree of history served as a read-only bucket (`strongbox serve-s3`): S3's listing semantics
 * (prefix, delimiter, pages), one object's entry, and its bytes in any range, straight from the vault.
 * @see ../../../docs/format.md#manifests
 */
import { NotFoundError } from '../errors.ts';
import type { PipelineDeps } from '../pipeline.ts';
import type { VaultStore } from '../ports.ts';
import { readBlob } from '../repository/read-blobs.ts';
import { parseRestoreRequest } from '../restore/request.ts';
import { indexOnce, type RestoreSource, resolveRestoreSource } from '../restore/restore.ts';
import { type EntrySelection, type SelectionSummary, streamSelection } from '../restore/selection.ts';
import { itemObjectOf } from '../restore/write.ts';
import { CHUNK_SIZE_BYTES, compareKeys, type ManifestEntry, VaultLayout } from '../vault.ts';
import { type TreeAt, type TreeEntry, type TreeSource, treeEntryOf } from './tree.ts';

/** One page of a listing, as ListObjectsV2 asks for it. */
export interface ListRequest {
  /** Only keys under this prefix. */
  prefix?: string;
  /** Roll keys up to the first `delimiter` after the prefix into common prefixes. */
  delimiter?: string;
  /** Resume after this key, or after every key under it when `afterPrefix` (a common prefix listed last). */
  after?: string;
  afterPrefix?: boolean;
  /** Keys plus common prefixes in the page, at most. */
  maxKeys: number;
}

/** A page: objects and common prefixes in key order, and where the next one starts. */
export interface ListPage {
  entries: TreeEntry[];
  commonPrefixes: string[];
  truncated: boolean;
  /** When truncated: the last key or common prefix listed (a common prefix: `nextIsPrefix`). */
  next?: string;
  nextIsPrefix?: boolean;
}

/** The common prefix `key` rolls up into: up to the first `delimiter` after `prefix`, if any. */
function commonPrefixOf(key: string, prefix: string, delimiter: string | undefined): string | undefined {
  if (!delimiter) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

/** Manifest parts a served tree keeps, most recently read: a page of a listing and the GETs after it. */
const CACHED_PARTS = 32;

/**
 * `vault` whose `get` of a manifest part answers from the `size` parts read last: parts are
 * content-addressed, so never change, and a client that lists a page and then reads its objects
 * one by one asks for the same part again and again.
 */
function cachingParts(vault: VaultStore, size: number): VaultStore {
  const cache = new Map<string, Promise<Uint8Array>>();
  const get = (key: string): Promise<Uint8Array> => {
    if (VaultLayout.partIdOf(key) === undefined) return vault.get(key);
    let read = cache.get(key);
    if (read)
      cache.delete(key); // moved to the end: the most recently used
    else {
      read = vault.get(key);
      read.catch(() => cache.delete(key)); // a failed read is not kept
    }
    cache.set(key, read);
    if (cache.size > size) cache.delete(cache.keys().next().value as string);
    return read;
  };
  return new Proxy(vault, {
    get(target, property) {
      if (property === 'get') return get;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** An inclusive byte range of an object. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What `serve-s3` reads a tree through: {@link ServedTree} in this process, or a deployed stage's
 * browse function (shared/local/remote-tree.ts).
 */
export interface TreeReader {
  readonly source: TreeSource;
  list(request: ListRequest): Promise<ListPage>;
  entry(key: string): Promise<ManifestEntry | undefined>;
  content(entry: ManifestEntry, range?: ByteRange): AsyncIterable<Buffer>;
  close(): void;
}

/**
 * A plan's tree at a snapshot or a point in time, resolved once and served read-only: listings read
 * only the manifest parts at and after where a page starts (and in its prefix), an object's entry
 * only the one part whose key range holds it, and content only the chunks a range covers.
 * @example
 * ```ts
 * const tree = await ServedTree.open(deps, { plan: 'photos', pointInTime: '2026-12-04T10:00:00Z' });
 * const page = await tree.list({ prefix: 'raw/', delimiter: '/', maxKeys: 1000 });
 * const entry = await tree.entry('raw/cat.jpg');
 * if (entry) for await (const chunk of tree.content(entry, { start: 0, end: 99 })) process.stdout.write(chunk);
 * ```
 */
export class ServedTree implements TreeReader {
  readonly source: TreeSource;
  readonly #deps: Pick<PipelineDeps, 'envelope'>;
  readonly #restore: RestoreSource;

  private constructor(deps: Pick<PipelineDeps, 'envelope'>, restore: RestoreSource, source: TreeSource) {
    this.#deps = deps;
    this.#restore = restore;
    this.source = source;
  }

  /**
   * Resolve the tree (its snapshot, manifest and, for a point in time, the journal's changes up to it).
   * @param options.sharedIndex read content through the index a warm function keeps between
   *   invocations ({@link VaultIndex.shared}), not one loaded for this tree alone.
   * @throws as {@link openTree}.
   */
  static async open(
    deps: PipelineDeps,
    at: TreeAt,
    options: { sharedIndex?: boolean } = {},
  ): Promise<ServedTree> {
    const resolved = await resolveRestoreSource(deps, parseRestoreRequest({ ...at, dryRun: true }), {
      browse: true,
    });
    const vault = cachingParts(resolved.vault, CACHED_PARTS);
    const restore = {
      ...resolved,
      vault,
      ...(options.sharedIndex
        ? { index: indexOnce(resolved.vault, deps.envelope, deps, { shared: true }) }
        : {}),
    };
    const source: TreeSource = {
      planId: restore.planId,
      snapshot: restore.snapshot,
      region: restore.region,
      ...(restore.pointInTime
        ? { pointInTime: { at: restore.pointInTime.at, changes: restore.pointInTime.changes.length } }
        : {}),
    };
    return new ServedTree(deps, restore, source);
  }

  /** The selection's entries in key order, from the first part that can hold a key after `after`. */
  #entries(selection: EntrySelection, after?: string): AsyncGenerator<ManifestEntry> {
    const { manifest, vault, snapshot, pointInTime } = this.#restore;
    const parts =
      after === undefined ? manifest.parts : manifest.parts.filter((p) => compareKeys(p.lastKey, after) > 0);
    const summary: SelectionSummary = { selectedCount: 0, warnings: [], fromJournal: 0 };
    return streamSelection(
      vault,
      this.#deps.envelope,
      { planId: manifest.planId, parts },
      selection,
      snapshot.snapshotId,
      summary,
      undefined,
      pointInTime,
    );
  }

  /**
   * One page of the listing, as S3 lists: keys in UTF-8 binary order; with a delimiter, each key
   * whose rest after the prefix holds it rolled up into one common prefix (counted once, like a key).
   * @throws NotFoundError, IntegrityError (not retryable): a part missing or corrupt.
   */
  async list(request: ListRequest): Promise<ListPage> {
    const { prefix = '', delimiter, after, afterPrefix, maxKeys } = request;
    const page: ListPage = { entries: [], commonPrefixes: [], truncated: false };
    if (maxKeys <= 0) return page;
    const listed = (e: ManifestEntry) =>
      after === undefined || (compareKeys(e.key, after) > 0 && !(afterPrefix && e.key.startsWith(after)));
    let last: { value: string; isPrefix: boolean } | undefined;
    for await (const e of this.#entries(prefix ? { prefix } : {}, after)) {
      if (!listed(e)) continue;
      const common = commonPrefixOf(e.key, prefix, delimiter);
      if (common !== undefined && last?.isPrefix && last.value === common) continue;
      if (page.entries.length + page.commonPrefixes.length === maxKeys) {
        page.truncated = true;
        break;
      }
      if (common !== undefined) page.commonPrefixes.push(common);
      else page.entries.push(treeEntryOf(e));
      last = { value: common ?? e.key, isPrefix: common !== undefined };
    }
    if (page.truncated && last) {
      page.next = last.value;
      if (last.isPrefix) page.nextIsPrefix = true;
    }
    return page;
  }

  /**
   * The entry of `key`, reading only the part whose range holds it (and the journal's change of it,
   * for a point in time), or undefined when the tree does not hold it.
   */
  async entry(key: string): Promise<ManifestEntry | undefined> {
    for await (const e of this.#entries({ keys: [key] })) return e;
    return undefined;
  }

  /**
   * An object's bytes in `range` (default: all), chunk by chunk: only the blobs the range covers are
   * read, each checked against its id. Memory: one chunk ({@link CHUNK_SIZE_BYTES}).
   * @throws NotFoundError (not retryable) for a blob no index of the region locates.
   * @throws IntegrityError (not retryable) for a blob that does not match its id.
   */
  async *content(entry: ManifestEntry, range?: ByteRange): AsyncGenerator<Buffer> {
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? entry.sizeBytes - 1, entry.sizeBytes - 1);
    if (end < start) return;
    if (entry.item !== undefined) {
      // A table item is served as its canonical DynamoDB JSON, from the part itself (no blob).
      const body = itemObjectOf(entry);
      yield body.subarray(start, end + 1);
      return;
    }
    const index = await this.#restore.index();
    const { vault } = this.#restore;
    for (let i = Math.floor(start / CHUNK_SIZE_BYTES); i <= Math.floor(end / CHUNK_SIZE_BYTES); i++) {
      const blobId = entry.blobs[i];
      const where = blobId === undefined ? undefined : index.locate(blobId);
      if (!where) throw new NotFoundError(`chunk ${i} of ${entry.key} is in no index of ${vault.bucket}`);
      const chunk = await readBlob(vault, this.#deps.envelope, where);
      const from = i * CHUNK_SIZE_BYTES;
      yield chunk.subarray(Math.max(0, start - from), Math.min(chunk.length, end - from + 1));
    }
  }

  /** Free the index's local disk, if it spilled. */
  close(): void {
    this.#restore.index.close?.();
  }
}
