/**
 * A memory twin of the ObjectStore port, for unit tests and the contract suites: same contract as
 * the S3 adapter, no network.
 */

import { ConflictError, NotFoundError, SourceUnavailableError } from '#domain/errors.ts';
import type {
  ByteRange,
  Clock,
  CurrentVersion,
  FetchedObject,
  ObjectHead,
  ObjectStore,
  ReadOptions,
  SourceObject,
  WriteConditions,
  WriteOutcome,
} from '#domain/ports.ts';
import { compareKeys, contentIdOf } from '#domain/vault.ts';
import { MultipartUploads } from './multipart.ts';

/** Buckets of objects in memory (sources and restore targets). */
export class MemoryObjectStore implements ObjectStore {
  readonly buckets = new Map<string, Map<string, FetchedObject>>();
  readonly #clock: Clock;
  /** Called before each get: lets a test change or delete an object mid-snapshot. */
  beforeGet?: (bucket: string, key: string) => void;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  /** How many listings were started (a journal-built snapshot lists nothing). */
  listings = 0;

  async *list(
    bucket: string,
    prefix: string,
    options: { startAfter?: string } = {},
  ): AsyncIterable<SourceObject> {
    this.listings += 1;
    const objects = this.buckets.get(bucket);
    if (!objects) throw new SourceUnavailableError(`bucket ${bucket} does not exist`);
    const after = options.startAfter;
    const keys = [...objects.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0))
      .sort(compareKeys);
    for (const key of keys) {
      const o = objects.get(key);
      if (o) yield { key, sizeBytes: o.sizeBytes, etag: o.etag, lastModified: o.lastModified };
    }
  }

  /** Every `get` and `getRange` call, in order (what a test checks reads against). */
  readonly reads: { bucket: string; key: string; range?: ByteRange; options?: ReadOptions }[] = [];

  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<FetchedObject> {
    this.beforeGet?.(bucket, key);
    this.reads.push({ bucket, key, options: { ...options } });
    const o = this.#read(bucket, key, options);
    return { ...o, body: Uint8Array.from(o.body) };
  }

  async getRange(bucket: string, key: string, range: ByteRange): Promise<FetchedObject> {
    this.beforeGet?.(bucket, key);
    this.reads.push({ bucket, key, range: { ...range } });
    const o = this.#read(bucket, key, range);
    const body = o.body.subarray(range.offsetBytes, range.offsetBytes + range.lengthBytes);
    return { ...o, body: Uint8Array.from(body) };
  }

  /** The object (or version) a read names, after its conditions: S3's 404 and 412. */
  #read(bucket: string, key: string, options: ReadOptions): FetchedObject {
    const o =
      options.versionId === undefined
        ? this.buckets.get(bucket)?.get(key)
        : this.versions
            .get(`${bucket}/${key}`)
            ?.find((v) => v.versionId === options.versionId && !v.deleteMarker);
    if (!o) {
      throw new NotFoundError(
        `no such key ${key}${options.versionId === undefined ? '' : ` version ${options.versionId}`} in ${bucket}`,
      );
    }
    if (options.ifMatch !== undefined && options.ifMatch !== o.etag) {
      throw new ConflictError(`${bucket}/${key} changed since it was listed (precondition failed)`);
    }
    return o;
  }

  /**
   * Versioning, as S3 does it: buckets made versioned keep every version put, each with a new
   * `versionId`; a simple delete ({@link delete}) adds a delete marker (a version with no data) and
   * keeps the others; deleting one version ({@link deleteVersion}) removes it for good, and the key's
   * newest remaining version, unless it is a delete marker, becomes the current object.
   */
  readonly versioned = new Set<string>();
  /** Versions (delete markers included) by `<bucket>/<key>`, oldest first. */
  readonly versions = new Map<string, MemoryVersion[]>();
  #versionCount = 0;

  #nextVersionId(): string {
    this.#versionCount += 1;
    return `v${String(this.#versionCount).padStart(6, '0')}`;
  }

  /**
   * `DeleteObject` with a `VersionId`: remove that version (or delete marker) of `key` for good;
   * the key's newest remaining version becomes current, and when it is a delete marker or none is
   * left the key has no current object. Deleting a missing version succeeds (as S3's does).
   * @returns whether the deleted version was a delete marker (S3 answers `x-amz-delete-marker`).
   */
  async deleteVersion(bucket: string, key: string, versionId: string): Promise<{ deleteMarker: boolean }> {
    const all = this.versions.get(`${bucket}/${key}`) ?? [];
    const at = all.findIndex((v) => v.versionId === versionId);
    if (at < 0) return { deleteMarker: false };
    const [deleted] = all.splice(at, 1);
    const newest = all.at(-1);
    const objects = this.buckets.get(bucket);
    if (!newest || newest.deleteMarker) objects?.delete(key);
    else objects?.set(key, newest);
    return { deleteMarker: deleted?.deleteMarker === true };
  }

  /** What a GET without a version id reads now: the key's current version, or undefined (none, or a delete marker). */
  async currentVersion(bucket: string, key: string): Promise<CurrentVersion | undefined> {
    this.heads.push(`${bucket}/${key}`);
    const o = this.buckets.get(bucket)?.get(key);
    if (!o) return undefined;
    return {
      key,
      sizeBytes: o.sizeBytes,
      etag: o.etag,
      lastModified: o.lastModified,
      ...(o.versionId === undefined ? {} : { versionId: o.versionId }),
    };
  }

  /** Turn versioning on for a bucket (creating it). */
  enableVersioning(bucket: string): void {
    this.createBucket(bucket);
    this.versioned.add(bucket);
  }

  /** Every `putStream` call, as `bucket/key` and the size it declared (which sets S3's part size). */
  readonly streams: { key: string; sizeBytes?: number }[] = [];

  /**
   * As S3's multipart upload: `conditions` are checked once every chunk is in (CompleteMultipartUpload).
   * A declared `sizeBytes` the stream does not match is an error (the adapter sizes parts from it).
   */
  async putStream(
    bucket: string,
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    attributes: { contentType?: string; metadata?: Record<string, string>; sizeBytes?: number },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    const { sizeBytes, ...stored } = attributes;
    this.streams.push({ key: `${bucket}/${key}`, ...(sizeBytes === undefined ? {} : { sizeBytes }) });
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    const body = Buffer.concat(parts);
    if (sizeBytes !== undefined && body.length !== sizeBytes)
      throw new Error(`putStream ${bucket}/${key}: declared ${sizeBytes} bytes, streamed ${body.length}`);
    return this.put(bucket, key, body, stored, conditions);
  }

  /** Multipart uploads begun and neither completed nor aborted (S3's, see {@link MultipartUploads}). */
  readonly uploads = new MultipartUploads(
    (bucket) => this.buckets.has(bucket),
    (bucket, key) => this.buckets.get(bucket)?.has(key) === true,
    (bucket, key, body, attributes) => this.put(bucket, key, body, attributes),
  );
  readonly createUpload = this.uploads.create.bind(this.uploads);
  uploadPart = this.uploads.uploadPart.bind(this.uploads);
  readonly completeUpload = this.uploads.complete.bind(this.uploads);
  readonly abortUpload = this.uploads.abort.bind(this.uploads);

  /** Every `head` call, as `bucket/key`. */
  readonly heads: string[] = [];

  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    this.heads.push(`${bucket}/${key}`);
    const o = this.buckets.get(bucket)?.get(key);
    if (!o) return undefined;
    return { sizeBytes: o.sizeBytes, etag: o.etag, ...(o.metadata ? { metadata: { ...o.metadata } } : {}) };
  }

  /** With `conditions.ifNoneMatch`, stores nothing and answers `exists` when the key has an object (S3's 412). */
  async put(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    const objects = this.buckets.get(bucket);
    if (!objects) throw new NotFoundError(`bucket ${bucket} does not exist`);
    if (conditions.ifNoneMatch && objects.has(key)) return 'exists';
    const object: FetchedObject = {
      key,
      body: Uint8Array.from(body),
      sizeBytes: body.length,
      etag: contentIdOf(body).slice(0, 32),
      lastModified: this.#clock.now().toISOString(),
      ...attributes,
    };
    if (this.versioned.has(bucket)) {
      object.versionId = this.#nextVersionId();
      const all = this.versions.get(`${bucket}/${key}`) ?? [];
      all.push(object);
      this.versions.set(`${bucket}/${key}`, all);
    }
    objects.set(key, object);
    return 'written';
  }
  /** A simple delete: on a versioned bucket it adds a delete marker, keeping the versions. */
  async delete(bucket: string, keys: readonly string[]): Promise<void> {
    const objects = this.buckets.get(bucket);
    for (const key of keys) {
      objects?.delete(key);
      if (!this.versioned.has(bucket)) continue;
      const all = this.versions.get(`${bucket}/${key}`) ?? [];
      all.push({
        key,
        body: new Uint8Array(),
        sizeBytes: 0,
        etag: '',
        lastModified: this.#clock.now().toISOString(),
        versionId: this.#nextVersionId(),
        deleteMarker: true,
      });
      this.versions.set(`${bucket}/${key}`, all);
    }
  }
}

/** A version {@link MemoryObjectStore} keeps: an object's, or a delete marker (no data). */
export type MemoryVersion = FetchedObject & { deleteMarker?: true };
