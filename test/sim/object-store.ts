/**
 * Source buckets (and restore targets) for the simulator, with S3's versioning semantics: a versioned
 * bucket keeps every version; a DELETE without a version id adds a delete marker
 * (`ObjectRemoved:DeleteMarkerCreated`); a DELETE of one version removes that version
 * (`ObjectRemoved:Delete`), and when it was the current one the previous version becomes current.
 * Timestamps come from the store's own clock (S3's, which never goes back), at S3's one-second
 * resolution for `LastModified`.
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
import { MultipartUploads } from '../support/memory/multipart.ts';

export interface Version extends FetchedObject {
  versionId: string;
  deleteMarker?: boolean;
}

interface Bucket {
  versioned: boolean;
  keys: Map<string, Version[]>;
}

export class SimObjectStore implements ObjectStore {
  readonly buckets = new Map<string, Bucket>();
  readonly #clock: Clock;
  #versions = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** S3 reports LastModified to the second. */
  #lastModified(): string {
    return new Date(Math.floor(this.#clock.now().getTime() / 1000) * 1000).toISOString();
  }

  createBucket(name: string, versioned = false): void {
    if (!this.buckets.has(name)) this.buckets.set(name, { versioned, keys: new Map() });
  }

  /** The current version of a key (undefined when absent or a delete marker is current). */
  current(bucket: string, key: string): Version | undefined {
    const v = this.buckets.get(bucket)?.keys.get(key)?.at(-1);
    return v && !v.deleteMarker ? v : undefined;
  }

  /** Every version (and delete marker) of a key, oldest first. */
  versionsOf(bucket: string, key: string): readonly Version[] {
    return this.buckets.get(bucket)?.keys.get(key) ?? [];
  }

  async *list(
    bucket: string,
    prefix: string,
    options: { startAfter?: string } = {},
  ): AsyncIterable<SourceObject> {
    const b = this.buckets.get(bucket);
    if (!b) throw new SourceUnavailableError(`bucket ${bucket} does not exist`);
    const keys = [...b.keys.keys()]
      .filter(
        (k) =>
          k.startsWith(prefix) &&
          (options.startAfter === undefined || compareKeys(k, options.startAfter) > 0),
      )
      .sort(compareKeys);
    for (const key of keys) {
      const o = this.current(bucket, key);
      if (o) yield { key, sizeBytes: o.sizeBytes, etag: o.etag, lastModified: o.lastModified };
    }
  }

  #read(bucket: string, key: string, options: ReadOptions): Version {
    const o =
      options.versionId === undefined
        ? this.current(bucket, key)
        : this.versionsOf(bucket, key).find((v) => v.versionId === options.versionId && !v.deleteMarker);
    if (!o)
      throw new NotFoundError(
        `no such key ${key}${options.versionId ? ` version ${options.versionId}` : ''} in ${bucket}`,
      );
    if (options.ifMatch !== undefined && options.ifMatch !== o.etag)
      throw new ConflictError(`${bucket}/${key} changed since it was listed (precondition failed)`);
    return o;
  }

  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<FetchedObject> {
    const o = this.#read(bucket, key, options);
    return { ...o, body: Uint8Array.from(o.body) };
  }

  async getRange(bucket: string, key: string, range: ByteRange): Promise<FetchedObject> {
    const o = this.#read(bucket, key, range);
    return {
      ...o,
      body: Uint8Array.from(o.body.subarray(range.offsetBytes, range.offsetBytes + range.lengthBytes)),
    };
  }

  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    const o = this.current(bucket, key);
    return (
      o && { sizeBytes: o.sizeBytes, etag: o.etag, ...(o.metadata ? { metadata: { ...o.metadata } } : {}) }
    );
  }

  /** S3's multipart uploads (see {@link MultipartUploads}). */
  readonly uploads = new MultipartUploads(
    (bucket) => this.buckets.has(bucket),
    (bucket, key) => this.current(bucket, key) !== undefined,
    (bucket, key, body, attributes) => this.put(bucket, key, body, attributes),
  );
  readonly createUpload = this.uploads.create.bind(this.uploads);
  readonly uploadPart = this.uploads.uploadPart.bind(this.uploads);
  readonly completeUpload = this.uploads.complete.bind(this.uploads);
  readonly abortUpload = this.uploads.abort.bind(this.uploads);

  async putStream(
    bucket: string,
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    attributes: { contentType?: string; metadata?: Record<string, string> },
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    return this.put(bucket, key, Buffer.concat(parts), attributes, conditions);
  }

  async put(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> } = {},
    conditions: WriteConditions = {},
  ): Promise<WriteOutcome> {
    // S3's If-None-Match: * is checked against the current version when the write takes effect.
    if (conditions.ifNoneMatch && this.current(bucket, key)) return 'exists';
    this.putVersion(bucket, key, body, attributes);
    return 'written';
  }

  async currentVersion(bucket: string, key: string): Promise<CurrentVersion | undefined> {
    const o = this.current(bucket, key);
    if (!o) return undefined;
    return {
      key,
      sizeBytes: o.sizeBytes,
      etag: o.etag,
      lastModified: o.lastModified,
      ...(o.versionId !== 'null' ? { versionId: o.versionId } : {}),
    };
  }

  /** Store a new version (the current one); @returns it. */
  putVersion(
    bucket: string,
    key: string,
    body: Uint8Array,
    attributes: { contentType?: string; metadata?: Record<string, string> } = {},
  ): Version {
    const b = this.buckets.get(bucket);
    if (!b) throw new NotFoundError(`bucket ${bucket} does not exist`);
    const v: Version = {
      key,
      body: Uint8Array.from(body),
      sizeBytes: body.length,
      etag: contentIdOf(body).slice(0, 32),
      lastModified: this.#lastModified(),
      versionId: b.versioned ? `v${String(++this.#versions).padStart(6, '0')}` : 'null',
      ...attributes,
    };
    if (b.versioned) b.keys.set(key, [...(b.keys.get(key) ?? []), v]);
    else b.keys.set(key, [v]);
    return v;
  }

  async delete(bucket: string, keys: readonly string[]): Promise<void> {
    for (const key of keys) this.deleteKey(bucket, key);
  }

  /** DELETE without a version id: removes the key (unversioned) or adds a delete marker (versioned). */
  deleteKey(bucket: string, key: string): Version | undefined {
    const b = this.buckets.get(bucket);
    if (!b) return undefined;
    if (!b.versioned) {
      b.keys.delete(key);
      return undefined;
    }
    const marker: Version = {
      key,
      body: new Uint8Array(),
      sizeBytes: 0,
      etag: '',
      lastModified: this.#lastModified(),
      versionId: `v${String(++this.#versions).padStart(6, '0')}`,
      deleteMarker: true,
    };
    b.keys.set(key, [...(b.keys.get(key) ?? []), marker]);
    return marker;
  }

  /** DELETE of one version (versioned buckets): the previous version becomes current when it was. */
  deleteVersion(bucket: string, key: string, versionId: string): void {
    const b = this.buckets.get(bucket);
    const all = b?.keys.get(key);
    if (!b || !all) return;
    const rest = all.filter((v) => v.versionId !== versionId);
    if (rest.length > 0) b.keys.set(key, rest);
    else b.keys.delete(key);
  }
}
