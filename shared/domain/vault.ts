/**
 * The vault format: where each document lives in a vault bucket and what it contains.
 * Names here match docs/format.md word for word.
 *
 * @see ../../docs/format.md
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { IntegrityError, ValidationError } from './errors.ts';

/** Version written into every blob header and manifest; readers refuse any other. */
export const VAULT_FORMAT_VERSION = 1;

/** A blob id or manifest id: the lowercase hex SHA-256 of the plaintext. @see docs/format.md#terminology */
export type ContentId = string;

const CONTENT_ID = /^[0-9a-f]{64}$/;

/**
 * Part size of multipart uploads to a vault, in bytes (8 MiB). A document up to this size is stored
 * in one part (`FULL_OBJECT` checksum); a larger one in parts of this size (`COMPOSITE`). Copies use
 * the same part size, so a copy's checksum equals the primary's. @see docs/format.md#manifests
 */
export const VAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;

/**
 * The S3 SHA-256 checksum a vault records for `body` uploaded in parts of `partSizeBytes`: the
 * base64 SHA-256 of the whole body when it fits in one part (`FULL_OBJECT`), otherwise the base64
 * SHA-256 of the concatenated raw SHA-256 digests of the parts, followed by `-<parts>` (`COMPOSITE`).
 * @example
 * ```ts
 * storedChecksumOf(Buffer.from('abc')); // { sizeBytes: 3, checksumSha256: 'ungWv48B…=', checksumType: 'FULL_OBJECT' }
 * ```
 * @see docs/format.md#manifests
 */
export function storedChecksumOf(
  body: Uint8Array,
  partSizeBytes: number = VAULT_PART_SIZE_BYTES,
): StoredBlob {
  if (body.length <= partSizeBytes) {
    return {
      sizeBytes: body.length,
      checksumSha256: createHash('sha256').update(body).digest('base64'),
      checksumType: 'FULL_OBJECT',
    };
  }
  const digests: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += partSizeBytes) {
    digests.push(
      createHash('sha256')
        .update(body.subarray(offset, offset + partSizeBytes))
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
  /** Prefix under which every blob lives. */
  blobsPrefix: 'blobs/',
  /** `blobs/<first two hex digits>/<blob id>`. */
  blobKey(blobId: ContentId): string {
    return `blobs/${blobId.slice(0, 2)}/${blobId}`;
  },
  /** The blob id of a key under `blobs/`, or undefined for a key that is not a blob. */
  blobIdOf(key: string): ContentId | undefined {
    const m = /^blobs\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
    return m?.[2]?.startsWith(m[1] ?? '') ? m[2] : undefined;
  },
  /** Prefix of every manifest of one plan. */
  manifestsPrefix(planId: string): string {
    return `manifests/${planId}/`;
  },
  /** `manifests/<plan id>/<manifest id>`. */
  manifestKey(planId: string, manifestId: ContentId): string {
    return `manifests/${planId}/${manifestId}`;
  },
  /** The manifest id of a key under `manifests/<plan>/`, or undefined. */
  manifestIdOf(key: string): ContentId | undefined {
    const m = /^manifests\/[^/]+\/([0-9a-f]{64})$/.exec(key);
    return m?.[1];
  },
} as const;

/**
 * Associated data bound into the encryption of a document, so that a blob cannot be served
 * under another blob's address. @see docs/format.md#encrypted-envelope
 */
export function blobAssociatedData(blobId: ContentId): string {
  return `strongbox:blob:${blobId}`;
}

/** Associated data of a manifest. @see docs/format.md#encrypted-envelope */
export function manifestAssociatedData(planId: string, manifestId: ContentId): string {
  return `strongbox:manifest:${planId}/${manifestId}`;
}

const isoUtc = z.iso.datetime({ offset: false });

/**
 * A sealed blob as the vault stored it: its size and S3 SHA-256 checksum. What checksum
 * verification expects S3 to report. @see docs/format.md#manifests
 */
export const StoredBlobSchema = z.strictObject({
  sizeBytes: z.number().int().nonnegative(),
  checksumSha256: z.string().min(1),
  checksumType: z.enum(['FULL_OBJECT', 'COMPOSITE']),
});
export type StoredBlob = z.infer<typeof StoredBlobSchema>;

/** One object of the source as a snapshot saw it. @see docs/format.md#manifests */
export const ManifestEntrySchema = z.object({
  key: z.string().min(1),
  sizeBytes: z.number().int().nonnegative(),
  etag: z.string(),
  lastModified: isoUtc,
  contentType: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  blobId: z.string().regex(CONTENT_ID),
  /** The sealed blob as stored; absent in manifests written before checksums were recorded. */
  stored: StoredBlobSchema.optional(),
});
export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;

/**
 * A manifest: the immutable list of what one snapshot holds. Stored encrypted at
 * `manifests/<planId>/<manifestId>`, where the manifest id is the SHA-256 of its canonical JSON.
 * @see docs/format.md#manifests
 */
export const ManifestSchema = z.object({
  version: z.literal(VAULT_FORMAT_VERSION),
  type: z.literal('manifest'),
  planId: z.string().min(1),
  snapshotId: z.string().min(1),
  parentSnapshotId: z.string().nullable(),
  source: z.object({ bucket: z.string().min(1), prefix: z.string() }),
  scheduledAt: isoUtc,
  time: isoUtc,
  completedAt: isoUtc,
  totals: z.object({
    objectCount: z.number().int().nonnegative(),
    logicalBytes: z.number().int().nonnegative(),
  }),
  entries: z.array(ManifestEntrySchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** Compare two keys in UTF-8 binary order, the order S3 lists keys in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Serialise a manifest canonically (entries sorted by key in UTF-8 binary order, fixed field order)
 * and return its bytes and id.
 * @example
 * ```ts
 * const { bytes, manifestId } = encodeManifest(manifest);
 * ```
 */
export function encodeManifest(manifest: Manifest): { bytes: Uint8Array; manifestId: ContentId } {
  const entries = [...manifest.entries].sort((a, b) => compareKeys(a.key, b.key));
  const canonical: Manifest = {
    version: manifest.version,
    type: manifest.type,
    planId: manifest.planId,
    snapshotId: manifest.snapshotId,
    parentSnapshotId: manifest.parentSnapshotId,
    source: { bucket: manifest.source.bucket, prefix: manifest.source.prefix },
    scheduledAt: manifest.scheduledAt,
    time: manifest.time,
    completedAt: manifest.completedAt,
    totals: { objectCount: manifest.totals.objectCount, logicalBytes: manifest.totals.logicalBytes },
    entries: entries.map((e) => ({
      key: e.key,
      sizeBytes: e.sizeBytes,
      etag: e.etag,
      lastModified: e.lastModified,
      ...(e.contentType === undefined ? {} : { contentType: e.contentType }),
      ...(e.metadata === undefined
        ? {}
        : { metadata: Object.fromEntries(Object.entries(e.metadata).sort(([a], [b]) => compareKeys(a, b))) }),
      blobId: e.blobId,
      ...(e.stored === undefined
        ? {}
        : {
            stored: {
              sizeBytes: e.stored.sizeBytes,
              checksumSha256: e.stored.checksumSha256,
              checksumType: e.stored.checksumType,
            },
          }),
    })),
  };
  const bytes = Buffer.from(JSON.stringify(canonical), 'utf8');
  return { bytes, manifestId: contentIdOf(bytes) };
}

/**
 * Parse manifest bytes, checking that they hash to `expectedId` and follow the schema.
 * @throws IntegrityError (not retryable) when the bytes hash to another id.
 * @throws ValidationError (not retryable) when the document is not a version-1 manifest.
 */
export function decodeManifest(bytes: Uint8Array, expectedId: ContentId): Manifest {
  const actual = contentIdOf(bytes);
  if (actual !== expectedId) {
    throw new IntegrityError(`manifest ${expectedId} hashes to ${actual}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new ValidationError(`manifest ${expectedId} is not JSON`, '', { cause });
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new ValidationError(
      `manifest ${expectedId} is not a version-${VAULT_FORMAT_VERSION} manifest: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

/**
 * The snapshot id for a plan's job scheduled at `scheduledAt`: the compact ISO-8601 UTC time,
 * e.g. `20261121T234500Z`, so ids sort by time and one scheduled time maps to one snapshot.
 * @see docs/format.md#terminology
 */
export function snapshotIdFor(scheduledAt: Date): string {
  return scheduledAt
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}
