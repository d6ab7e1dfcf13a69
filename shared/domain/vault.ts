/**
 * The vault format: where each document lives in a vault bucket and what it contains.
 * Names here match docs/format.md word for word.
 *
 * @see ../../docs/format.md
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { IntegrityError, ValidationError } from './errors.ts';
import { ItemSchema } from './table/attribute-value.ts';
import { type TableDefinition, TableDefinitionSchema } from './table/definition.ts';

/** A manifest's source: an S3 bucket and prefix, or a DynamoDB table (plan.ts's `SourceSpec`). */
type SourceSpec = { bucket: string; prefix: string } | { table: string; region?: string | undefined };

/** Version written into every blob header and manifest; readers refuse any other. */
export const VAULT_FORMAT_VERSION = 2;

/** A blob, part, index or manifest id: the lowercase hex SHA-256 of the plaintext (a pack id: of the pack's bytes). @see docs/format.md#terminology */
export type ContentId = string;

const CONTENT_ID = /^[0-9a-f]{64}$/;

/**
 * Upload part size of multipart uploads to a vault, in bytes (8 MiB; an S3 upload part, not a
 * manifest part). A document up to this size is stored in one PutObject (`FULL_OBJECT` checksum); a
 * larger one in upload parts of this size (`COMPOSITE`). Copies use the same upload part size, so a
 * copy's checksum equals the primary's. @see docs/format.md#packs
 */
export const VAULT_UPLOAD_PART_SIZE_BYTES = 8 * 1024 * 1024;

/**
 * The S3 SHA-256 checksum a vault records for `body` uploaded in upload parts of
 * `uploadPartSizeBytes`: the base64 SHA-256 of the whole body when it fits in one upload part
 * (`FULL_OBJECT`), otherwise the base64 SHA-256 of the concatenated raw SHA-256 digests of the
 * upload parts, followed by `-<upload part count>` (`COMPOSITE`).
 * @example
 * ```ts
 * storedChecksumOf(Buffer.from('abc')); // { sizeBytes: 3, checksumSha256: 'ungWv48B…=', checksumType: 'FULL_OBJECT' }
 * ```
 * @see docs/format.md#manifests
 */
export function storedChecksumOf(
  body: Uint8Array,
  uploadPartSizeBytes: number = VAULT_UPLOAD_PART_SIZE_BYTES,
): StoredBlob {
  if (body.length <= uploadPartSizeBytes) {
    return {
      sizeBytes: body.length,
      checksumSha256: createHash('sha256').update(body).digest('base64'),
      checksumType: 'FULL_OBJECT',
    };
  }
  const digests: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += uploadPartSizeBytes) {
    digests.push(
      createHash('sha256')
        .update(body.subarray(offset, offset + uploadPartSizeBytes))
        .digest(),
    );
  }
  return {
    sizeBytes: body.length,
    checksumSha256: `${createHash('sha256').update(Buffer.concat(digests)).digest('base64')}-${digests.length}`,
    checksumType: 'COMPOSITE',
  };
}

/** Lowercase hex SHA-256 of `data`. */
export function contentIdOf(data: Uint8Array | string): ContentId {
  return createHash('sha256').update(data).digest('hex');
}

/** Whether `id` has the shape of a content id (64 lowercase hex digits). */
export function isContentId(id: string): boolean {
  return CONTENT_ID.test(id);
}

/**
 * Vault layout. Every key is relative to the root of the vault bucket.
 * @see docs/format.md#layout
 */
export const VaultLayout = {
  /** Prefix under which every pack lives. */
  packsPrefix: 'packs/',
  /** `packs/<first two hex digits>/<pack id>`. */
  packKey(packId: ContentId): string {
    return `packs/${packId.slice(0, 2)}/${packId}`;
  },
  /** The pack id of a key under `packs/`, or undefined for a key that is not a pack. */
  packIdOf(key: string): ContentId | undefined {
    const m = /^packs\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
    return m?.[2]?.startsWith(m[1] ?? '') ? m[2] : undefined;
  },
  /** Prefix under which every index document lives. */
  indexPrefix: 'index/',
  /** `index/<index id>`. */
  indexKey(indexId: ContentId): string {
    return `index/${indexId}`;
  },
  /** The index id of a key under `index/`, or undefined. */
  indexIdOf(key: string): ContentId | undefined {
    return /^index\/([0-9a-f]{64})$/.exec(key)?.[1];
  },
  /** Prefix of every manifest root of one plan. */
  manifestsPrefix(planId: string): string {
    return `manifests/${planId}/`;
  },
  /** `manifests/<plan id>/<manifest id>`: a manifest root. */
  manifestKey(planId: string, manifestId: ContentId): string {
    return `manifests/${planId}/${manifestId}`;
  },
  /** The manifest id of a key under `manifests/<plan>/`, or undefined. */
  manifestIdOf(key: string): ContentId | undefined {
    const m = /^manifests\/[^/]+\/([0-9a-f]{64})$/.exec(key);
    return m?.[1];
  },
  /** Prefix of every manifest part of one plan. */
  partsPrefix(planId: string): string {
    return `parts/${planId}/`;
  },
  /** `parts/<plan id>/<part id>`: one manifest part. */
  partKey(planId: string, partId: ContentId): string {
    return `parts/${planId}/${partId}`;
  },
  /** The part id of a key under `parts/<plan>/`, or undefined. */
  partIdOf(key: string): ContentId | undefined {
    return /^parts\/[^/]+\/([0-9a-f]{64})$/.exec(key)?.[1];
  },
} as const;

/**
 * Associated data bound into the encryption of a blob, so that a blob cannot be served under
 * another blob's id. @see docs/format.md#encrypted-envelope
 */
export function blobAssociatedData(blobId: ContentId): string {
  return `strongbox:blob:${blobId}`;
}

/** Associated data of a pack header (the pack id is the hash of the finished pack, so not in it). */
export const PACK_HEADER_ASSOCIATED_DATA = 'strongbox:pack-header';

/** Associated data of a manifest root. @see docs/format.md#encrypted-envelope */
export function manifestAssociatedData(planId: string, manifestId: ContentId): string {
  return `strongbox:manifest:${planId}/${manifestId}`;
}

/** Associated data of a manifest part. @see docs/format.md#encrypted-envelope */
export function partAssociatedData(planId: string, partId: ContentId): string {
  return `strongbox:part:${planId}/${partId}`;
}

/** Associated data of an index document. @see docs/format.md#encrypted-envelope */
export function indexAssociatedData(indexId: ContentId): string {
  return `strongbox:index:${indexId}`;
}

/**
 * Plaintext size of one chunk, in bytes (8 MiB): an object is cut into chunks of this size (the last
 * one shorter), each stored as one blob, so no object is ever held whole in memory.
 * @see docs/format.md#terminology
 */
export const CHUNK_SIZE_BYTES = 8 * 1024 * 1024;

/**
 * A pack is closed and stored once its sealed blobs reach this size, in bytes (16 MiB, as restic).
 * @see docs/format.md#packs
 */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;

/** Most entries one manifest part holds. @see docs/format.md#manifest-parts */
export const PART_MAX_ENTRIES = 2000;

const isoUtc = z.iso.datetime({ offset: false });
const contentId = z.string().regex(CONTENT_ID);

/**
 * A document as the vault stored it: its size and S3 SHA-256 checksum. What checksum
 * verification expects S3 to report. @see docs/format.md#index
 */
export const StoredBlobSchema = z.strictObject({
  sizeBytes: z.number().int().nonnegative(),
  checksumSha256: z.string().min(1),
  checksumType: z.enum(['FULL_OBJECT', 'COMPOSITE']),
});
export type StoredBlob = z.infer<typeof StoredBlobSchema>;

/** Where one blob lies in a pack. @see docs/format.md#index */
export const PackedBlobSchema = z.strictObject({
  blobId: contentId,
  /** Offset of the sealed blob in the pack, in bytes. */
  offsetBytes: z.number().int().nonnegative(),
  /** Length of the sealed blob, in bytes. */
  lengthBytes: z.number().int().positive(),
  /** Plaintext size, in bytes. */
  sizeBytes: z.number().int().nonnegative(),
});
export type PackedBlob = z.infer<typeof PackedBlobSchema>;

/** One pack and the blobs in it. @see docs/format.md#index */
export const IndexedPackSchema = z.strictObject({
  packId: contentId,
  stored: StoredBlobSchema,
  blobs: z.array(PackedBlobSchema),
});
export type IndexedPack = z.infer<typeof IndexedPackSchema>;

/**
 * An index document: which blobs each of some packs holds. Written after its packs, before any
 * manifest part that names their blobs. @see docs/format.md#index
 */
export const IndexDocumentSchema = z.strictObject({
  version: z.literal(VAULT_FORMAT_VERSION),
  type: z.literal('index'),
  packs: z.array(IndexedPackSchema),
});
export type IndexDocument = z.infer<typeof IndexDocumentSchema>;

/** The header at the end of a pack: the same list an index holds for it. @see docs/format.md#packs */
export const PackHeaderSchema = z.strictObject({
  version: z.literal(VAULT_FORMAT_VERSION),
  type: z.literal('pack-header'),
  blobs: z.array(PackedBlobSchema),
});
export type PackHeader = z.infer<typeof PackHeaderSchema>;

/** One object of the source as a snapshot saw it. @see docs/format.md#manifest-parts */
export const ManifestEntrySchema = z
  .strictObject({
    key: z.string().min(1),
    sizeBytes: z.number().int().nonnegative(),
    etag: z.string(),
    lastModified: isoUtc,
    contentType: z.string().optional(),
    metadata: z.record(z.string(), z.string()).optional(),
    /**
     * The object's chunks in order: one blob id per {@link CHUNK_SIZE_BYTES} (at least one); none for
     * a table item, which the entry holds itself (`item`).
     */
    blobs: z.array(contentId),
    /** SHA-256 of the whole object; present only when it has more than one chunk (else `blobs[0]`). */
    contentSha256: contentId.optional(),
    /**
     * A table source's item, in canonical DynamoDB JSON (table/item.ts): the entry's content, stored
     * in the part (sorted, content-addressed, encrypted with it), not in a blob. `etag` is its content
     * hash. @see docs/format.md#table-items
     */
    item: ItemSchema.optional(),
  })
  .refine((e) => (e.item === undefined ? e.blobs.length >= 1 : e.blobs.length === 0), {
    message: 'an entry has blobs (an object) or an item (a table item), not both and not neither',
  });
export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;

/**
 * The SHA-256 (lowercase hex) of the object an entry describes: `contentSha256`, else its one blob's
 * id; of a table item (no blobs), its `etag`, the SHA-256 of the item's canonical JSON, which is the
 * object a restore to a bucket writes and `serve-s3` serves. Never a blob id for an item entry.
 * @see docs/format.md#table-items
 */
export function contentSha256Of(
  entry: Pick<ManifestEntry, 'blobs' | 'contentSha256'> & Partial<Pick<ManifestEntry, 'item' | 'etag'>>,
): ContentId {
  if (entry.item !== undefined && entry.etag !== undefined) return entry.etag;
  return entry.contentSha256 ?? (entry.blobs[0] as ContentId);
}

/**
 * A manifest part: up to {@link PART_MAX_ENTRIES} entries, sorted by key in UTF-8 binary order.
 * Stored at `parts/<planId>/<partId>`; an unchanged part is shared by consecutive snapshots.
 * @see docs/format.md#manifest-parts
 */
export const ManifestPartSchema = z.strictObject({
  version: z.literal(VAULT_FORMAT_VERSION),
  type: z.literal('manifest-part'),
  planId: z.string().min(1),
  entries: z.array(ManifestEntrySchema).min(1),
});
export type ManifestPart = z.infer<typeof ManifestPartSchema>;

/** What a root says of one of its parts. @see docs/format.md#manifests */
export const PartRefSchema = z.strictObject({
  partId: contentId,
  firstKey: z.string().min(1),
  lastKey: z.string().min(1),
  objectCount: z.number().int().positive(),
  logicalBytes: z.number().int().nonnegative(),
});
export type PartRef = z.infer<typeof PartRefSchema>;

/**
 * A manifest root: one snapshot, naming its parts in key order. Stored encrypted at
 * `manifests/<planId>/<manifestId>`, where the manifest id is the SHA-256 of its canonical JSON.
 * Written last, after every part, index and pack it depends on. @see docs/format.md#manifests
 */
export const ManifestSchema = z.strictObject({
  version: z.literal(VAULT_FORMAT_VERSION),
  type: z.literal('manifest'),
  planId: z.string().min(1),
  snapshotId: z.string().min(1),
  parentSnapshotId: z.string().nullable(),
  source: z.union([
    z.strictObject({ bucket: z.string().min(1), prefix: z.string() }),
    z.strictObject({ table: z.string().min(1), region: z.string().min(1).optional() }),
  ]),
  /** A table source's definition as the snapshot recorded it. @see docs/format.md#table-definition */
  table: TableDefinitionSchema.optional(),
  scheduledAt: isoUtc,
  time: isoUtc,
  completedAt: isoUtc,
  totals: z.strictObject({
    objectCount: z.number().int().nonnegative(),
    logicalBytes: z.number().int().nonnegative(),
  }),
  parts: z.array(PartRefSchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/**
 * The root of a snapshot over `parts` (in key order), with its totals summed from them.
 * @see docs/format.md#manifests
 */
export function manifestRoot(
  snapshot: {
    planId: string;
    snapshotId: string;
    parentSnapshotId: string | null;
    source: SourceSpec;
    /** A table source's definition (table sources only). */
    table?: TableDefinition;
    scheduledAt: string;
    time: string;
    completedAt: string;
  },
  parts: readonly PartRef[],
): Manifest {
  return {
    version: VAULT_FORMAT_VERSION,
    type: 'manifest',
    planId: snapshot.planId,
    snapshotId: snapshot.snapshotId,
    parentSnapshotId: snapshot.parentSnapshotId,
    source:
      'table' in snapshot.source
        ? {
            table: snapshot.source.table,
            ...(snapshot.source.region ? { region: snapshot.source.region } : {}),
          }
        : { bucket: snapshot.source.bucket, prefix: snapshot.source.prefix },
    ...(snapshot.table ? { table: snapshot.table } : {}),
    scheduledAt: snapshot.scheduledAt,
    time: snapshot.time,
    completedAt: snapshot.completedAt,
    totals: {
      objectCount: parts.reduce((n, p) => n + p.objectCount, 0),
      logicalBytes: parts.reduce((n, p) => n + p.logicalBytes, 0),
    },
    parts: [...parts],
  };
}

/** Compare two keys in UTF-8 binary order, the order S3 lists keys in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Canonical JSON: object keys in the schema's order, so equal documents have equal bytes and ids.
 * zod's parse output keeps the schema's key order, which is what makes this canonical.
 */
function canonicalBytes<T>(schema: z.ZodType<T>, doc: T): { bytes: Uint8Array; id: ContentId } {
  const parsed = schema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`not a valid document: ${issue?.message}`, issue?.path.join('.') ?? '');
  }
  const bytes = Buffer.from(JSON.stringify(parsed.data), 'utf8');
  return { bytes, id: contentIdOf(bytes) };
}

function sortedEntry(e: ManifestEntry): ManifestEntry {
  return e.metadata === undefined
    ? e
    : {
        ...e,
        metadata: Object.fromEntries(Object.entries(e.metadata).sort(([a], [b]) => compareKeys(a, b))),
      };
}

/**
 * Serialise a manifest root canonically and return its bytes and id.
 * @example
 * ```ts
 * const { bytes, manifestId } = encodeManifest(manifest);
 * ```
 */
export function encodeManifest(manifest: Manifest): { bytes: Uint8Array; manifestId: ContentId } {
  const { bytes, id } = canonicalBytes(ManifestSchema, manifest);
  return { bytes, manifestId: id };
}

/** Serialise a manifest part canonically (entries sorted by key) and return its bytes and id. */
export function encodePart(part: ManifestPart): { bytes: Uint8Array; partId: ContentId } {
  const entries = part.entries.map(sortedEntry).sort((a, b) => compareKeys(a.key, b.key));
  const { bytes, id } = canonicalBytes(ManifestPartSchema, { ...part, entries });
  return { bytes, partId: id };
}

/** Serialise an index document canonically and return its bytes and id. */
export function encodeIndex(index: IndexDocument): { bytes: Uint8Array; indexId: ContentId } {
  const { bytes, id } = canonicalBytes(IndexDocumentSchema, index);
  return { bytes, indexId: id };
}

function decodeDocument<T>(schema: z.ZodType<T>, what: string, bytes: Uint8Array, expectedId?: ContentId): T {
  if (expectedId !== undefined) {
    const actual = contentIdOf(bytes);
    if (actual !== expectedId) throw new IntegrityError(`${what} ${expectedId} hashes to ${actual}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new ValidationError(`${what} ${expectedId ?? ''} is not JSON`.trim(), '', { cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ValidationError(
      `${what} ${expectedId ?? ''} is not a version-${VAULT_FORMAT_VERSION} ${what}: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

/**
 * Parse manifest root bytes, checking that they hash to `expectedId` and follow the schema.
 * @throws IntegrityError (not retryable) when the bytes hash to another id.
 * @throws ValidationError (not retryable) when the document is not a manifest of this version.
 */
export function decodeManifest(bytes: Uint8Array, expectedId: ContentId): Manifest {
  return decodeDocument(ManifestSchema, 'manifest', bytes, expectedId);
}

/** Parse manifest part bytes against their id. @throws IntegrityError, ValidationError (not retryable) */
export function decodePart(bytes: Uint8Array, expectedId: ContentId): ManifestPart {
  return decodeDocument(ManifestPartSchema, 'manifest part', bytes, expectedId);
}

/** Parse index bytes against their id. @throws IntegrityError, ValidationError (not retryable) */
export function decodeIndex(bytes: Uint8Array, expectedId: ContentId): IndexDocument {
  return decodeDocument(IndexDocumentSchema, 'index', bytes, expectedId);
}

/** Parse the plaintext of a pack header. @throws ValidationError (not retryable) */
export function decodePackHeader(bytes: Uint8Array): PackHeader {
  return decodeDocument(PackHeaderSchema, 'pack header', bytes);
}

/**
 * The snapshot id for a plan's job at `at`: the compact ISO-8601 UTC time. A scheduled job passes
 * its schedule's occurrence at `'second'` precision, e.g. `20261121T234500Z` (milliseconds dropped),
 * so one scheduled time maps to one snapshot (a tick delivered twice starts one job). An on-demand
 * job passes the time it was asked for at `'millisecond'` precision, e.g. `20261121T234500.123Z`, so
 * two requests in one second are two snapshots (in one millisecond, one). Ids of one form sort by
 * time as strings; within one second an id with milliseconds sorts before the plain one (`.` < `Z`).
 * @see docs/format.md#terminology
 */
export function snapshotIdFor(at: Date, precision: 'second' | 'millisecond' = 'second'): string {
  const iso = at.toISOString();
  return (precision === 'second' ? iso.replace(/\.\d{3}Z$/, 'Z') : iso).replace(/[-:]/g, '');
}
