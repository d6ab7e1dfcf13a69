// The vault format, version 2 (docs/format.md): where each document lives, and the canonical
// encoding that makes equal documents have equal bytes and ids.
import { describe, expect, it } from 'vitest';
import { IntegrityError, type StrongboxError, ValidationError } from '#domain/errors.ts';
import {
  compareKeys,
  contentIdOf,
  contentSha256Of,
  decodeIndex,
  decodeManifest,
  decodePackHeader,
  decodePart,
  encodeIndex,
  encodeManifest,
  encodePart,
  type IndexDocument,
  isContentId,
  type Manifest,
  type ManifestEntry,
  type ManifestPart,
  snapshotIdFor,
  storedChecksumOf,
  VAULT_FORMAT_VERSION,
  VaultLayout,
} from '#domain/vault.ts';

const idA = contentIdOf('alpha');
const idB = contentIdOf('bravo');
const idC = contentIdOf('charlie');

function entry(key: string, overrides: Partial<ManifestEntry> = {}): ManifestEntry {
  return {
    key,
    sizeBytes: 5,
    etag: 'abc123',
    lastModified: '2026-03-01T00:00:00.000Z',
    blobs: [idA],
    ...overrides,
  };
}

function part(entries: ManifestEntry[], overrides: Partial<ManifestPart> = {}): ManifestPart {
  return { version: VAULT_FORMAT_VERSION, type: 'manifest-part', planId: 'photos', entries, ...overrides };
}

function manifest(overrides: Partial<Manifest> = {}): Manifest {
  return {
    version: VAULT_FORMAT_VERSION,
    type: 'manifest',
    planId: 'photos',
    snapshotId: '20260301T000000Z',
    parentSnapshotId: null,
    source: { bucket: 'source', prefix: '' },
    scheduledAt: '2026-03-01T00:00:00.000Z',
    time: '2026-03-01T00:00:01.000Z',
    completedAt: '2026-03-01T00:00:02.000Z',
    totals: { objectCount: 3, logicalBytes: 15 },
    parts: [
      { partId: idA, firstKey: 'a.txt', lastKey: 'b.txt', objectCount: 2, logicalBytes: 10 },
      { partId: idB, firstKey: 'c.txt', lastKey: 'c.txt', objectCount: 1, logicalBytes: 5 },
    ],
    ...overrides,
  };
}

function index(overrides: Partial<IndexDocument> = {}): IndexDocument {
  return {
    version: VAULT_FORMAT_VERSION,
    type: 'index',
    packs: [
      {
        packId: idC,
        stored: {
          sizeBytes: 300,
          checksumSha256: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
          checksumType: 'FULL_OBJECT',
        },
        blobs: [
          { blobId: idA, offsetBytes: 0, lengthBytes: 100, sizeBytes: 5 },
          { blobId: idB, offsetBytes: 100, lengthBytes: 120, sizeBytes: 5 },
        ],
      },
    ],
    ...overrides,
  };
}

const bytesOf = (doc: unknown) => Buffer.from(JSON.stringify(doc), 'utf8');

/** Reverse the key order of an object (and of every object inside it). */
function reversedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversedKeys) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversedKeys(v)]),
    ) as T;
  }
  return value;
}

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('contentIdOf', () => {
  it('is the lowercase hex SHA-256 of the data', () => {
    expect(contentIdOf('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(contentIdOf(Buffer.from('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('recognises content ids by shape', () => {
    expect(isContentId(idA)).toBe(true);
    expect(isContentId(idA.toUpperCase())).toBe(false);
    expect(isContentId(idA.slice(1))).toBe(false);
  });
});

describe('VaultLayout', () => {
  const ids = [idA, idB, contentIdOf(''), '0'.repeat(64), 'f'.repeat(64)];

  it('stores a pack under packs/<first two hex digits>/<pack id>, and reads the id back', () => {
    expect(VaultLayout.packKey(idA)).toBe(`packs/${idA.slice(0, 2)}/${idA}`);
    expect(VaultLayout.packKey(idA).startsWith(VaultLayout.packsPrefix)).toBe(true);
    for (const id of ids) expect(VaultLayout.packIdOf(VaultLayout.packKey(id))).toBe(id);
  });

  it.each([
    ['a shard that does not match the id', `packs/00/${'1'.repeat(64)}`],
    ['an uppercase id', `packs/${idA.slice(0, 2).toUpperCase()}/${idA.toUpperCase()}`],
    ['a short id', `packs/${idA.slice(0, 2)}/${idA.slice(0, 63)}`],
    ['a long id', `packs/${idA.slice(0, 2)}/${idA}0`],
    ['a missing shard', `packs/${idA}`],
    ['a nested path', `packs/${idA.slice(0, 2)}/x/${idA}`],
    ['a v1 blob key', `blobs/${idA.slice(0, 2)}/${idA}`],
    ['a leading slash', `/packs/${idA.slice(0, 2)}/${idA}`],
    ['a trailing slash', `packs/${idA.slice(0, 2)}/${idA}/`],
    ['the prefix alone', 'packs/'],
  ])('rejects a key that is not a pack: %s', (_name, key) => {
    expect(VaultLayout.packIdOf(key)).toBeUndefined();
  });

  it('stores an index document under index/<index id>, and reads the id back', () => {
    expect(VaultLayout.indexKey(idB)).toBe(`index/${idB}`);
    expect(VaultLayout.indexKey(idB).startsWith(VaultLayout.indexPrefix)).toBe(true);
    for (const id of ids) expect(VaultLayout.indexIdOf(VaultLayout.indexKey(id))).toBe(id);
  });

  it.each([
    ['a sharded key', `index/${idA.slice(0, 2)}/${idA}`],
    ['a short id', `index/${idA.slice(1)}`],
    ['an uppercase id', `index/${idA.toUpperCase()}`],
    ['a pack key', VaultLayout.packKey(idA)],
  ])('rejects a key that is not an index document: %s', (_name, key) => {
    expect(VaultLayout.indexIdOf(key)).toBeUndefined();
  });

  it('stores a manifest root under manifests/<plan id>/<manifest id>, and reads the id back', () => {
    expect(VaultLayout.manifestKey('photos', idB)).toBe(`manifests/photos/${idB}`);
    expect(VaultLayout.manifestsPrefix('photos')).toBe('manifests/photos/');
    expect(VaultLayout.manifestKey('photos', idB).startsWith(VaultLayout.manifestsPrefix('photos'))).toBe(
      true,
    );
    expect(VaultLayout.manifestIdOf(VaultLayout.manifestKey('photos', idB))).toBe(idB);
    expect(VaultLayout.manifestIdOf(VaultLayout.manifestKey('a-1', idA))).toBe(idA);
  });

  it('stores a manifest part under parts/<plan id>/<part id>, and reads the id back', () => {
    expect(VaultLayout.partKey('photos', idB)).toBe(`parts/photos/${idB}`);
    expect(VaultLayout.partsPrefix('photos')).toBe('parts/photos/');
    expect(VaultLayout.partKey('photos', idB).startsWith(VaultLayout.partsPrefix('photos'))).toBe(true);
    expect(VaultLayout.partIdOf(VaultLayout.partKey('photos', idB))).toBe(idB);
  });

  it.each([
    ['a missing plan', `manifests/${idA}`],
    ['an empty plan', `manifests//${idA}`],
    ['a nested plan', `manifests/a/b/${idA}`],
    ['a short id', `manifests/photos/${idA.slice(1)}`],
    ['an uppercase id', `manifests/photos/${idA.toUpperCase()}`],
    ['a part key', `parts/photos/${idA}`],
    ['a pack key', VaultLayout.packKey(idA)],
  ])('rejects a key that is not a manifest root: %s', (_name, key) => {
    expect(VaultLayout.manifestIdOf(key)).toBeUndefined();
  });

  it.each([
    ['a missing plan', `parts/${idA}`],
    ['an empty plan', `parts//${idA}`],
    ['a nested plan', `parts/a/b/${idA}`],
    ['a short id', `parts/photos/${idA.slice(1)}`],
    ['a root key', `manifests/photos/${idA}`],
  ])('rejects a key that is not a manifest part: %s', (_name, key) => {
    expect(VaultLayout.partIdOf(key)).toBeUndefined();
  });
});

describe('storedChecksumOf', () => {
  it('is the base64 SHA-256 of a body that fits in one upload part (FULL_OBJECT)', () => {
    expect(storedChecksumOf(Buffer.from('abc'))).toEqual({
      sizeBytes: 3,
      checksumSha256: Buffer.from(contentIdOf('abc'), 'hex').toString('base64'),
      checksumType: 'FULL_OBJECT',
    });
  });

  it('is the SHA-256 of the upload parts’ digests and their count for a larger body (COMPOSITE)', () => {
    const body = Buffer.from('abcdefgh');
    const digests = ['abc', 'def', 'gh'].map((p) => Buffer.from(contentIdOf(p), 'hex'));
    expect(storedChecksumOf(body, 3)).toEqual({
      sizeBytes: 8,
      checksumSha256: `${Buffer.from(contentIdOf(Buffer.concat(digests)), 'hex').toString('base64')}-3`,
      checksumType: 'COMPOSITE',
    });
    expect(storedChecksumOf(body, 8).checksumType).toBe('FULL_OBJECT');
  });
});

describe('contentSha256Of', () => {
  it('is the only blob’s id for a one-chunk object, else the recorded whole-object hash', () => {
    expect(contentSha256Of({ blobs: [idA] })).toBe(idA);
    expect(contentSha256Of({ blobs: [idA, idB], contentSha256: idC })).toBe(idC);
  });
});

describe('compareKeys', () => {
  const tricky = [
    '',
    'a',
    'a/',
    'a/b',
    'a-b',
    'a.b',
    'A',
    'B',
    'Z',
    '_',
    '~',
    'é',
    'e\u0301',
    '\u007f',
    '\u0080',
    '\u07ff',
    '\u0800',
    '\uffff',
    '\ud83d\ude00', // 😀 U+1F600: UTF-16 sorts it before U+FFFF, UTF-8 after
    '日本',
    'a\u0000',
  ];

  it('orders keys as Buffer.compare orders their UTF-8 bytes', () => {
    for (const a of tricky) {
      for (const b of tricky) {
        const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        expect(Math.sign(compareKeys(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(expected);
      }
    }
  });

  it('sorts uppercase before lowercase before accented letters', () => {
    expect(['é', 'a', 'B'].sort(compareKeys)).toEqual(['B', 'a', 'é']);
  });

  it('sorts a character outside the BMP after U+FFFF, unlike JavaScript string order', () => {
    expect('\ud83d\ude00' < '\uffff').toBe(true);
    expect(compareKeys('\ud83d\ude00', '\uffff')).toBeGreaterThan(0);
  });

  it('sorts a key before its extensions', () => {
    expect(compareKeys('a', 'a/')).toBeLessThan(0);
    expect(compareKeys('a/b', 'a/')).toBeGreaterThan(0);
    expect(compareKeys('same', 'same')).toBe(0);
  });
});

describe('encodePart', () => {
  it('gives the id of its bytes', () => {
    const { bytes, partId } = encodePart(part([entry('a.txt')]));
    expect(partId).toBe(contentIdOf(bytes));
  });

  it('gives equal bytes and ids to equal parts, whatever the order of the entries', () => {
    const entries = [entry('b.txt'), entry('a.txt', { blobs: [idB] }), entry('dir/c.txt')];
    const one = encodePart(part(entries));
    const other = encodePart(part([...entries].reverse()));
    expect(other.partId).toBe(one.partId);
    expect(Buffer.from(other.bytes).equals(Buffer.from(one.bytes))).toBe(true);
  });

  it('sorts entries by key in UTF-8 binary order', () => {
    const { bytes } = encodePart(
      part([entry('é'), entry('a'), entry('B'), entry('\ud83d\ude00'), entry('\uffff')]),
    );
    const keys = (JSON.parse(Buffer.from(bytes).toString('utf8')) as ManifestPart).entries.map((e) => e.key);
    expect(keys).toEqual(['B', 'a', 'é', '\uffff', '\ud83d\ude00']);
  });

  it('gives the same id whatever the order of the fields', () => {
    const p = part([entry('a.txt', { contentType: 'text/plain', metadata: { k: 'v' } })]);
    const shuffled = reversedKeys(p);
    expect(Object.keys(shuffled)[0]).toBe('entries');
    expect(Object.keys(shuffled.entries[0] as object)[0]).toBe('metadata');
    expect(encodePart(shuffled).partId).toBe(encodePart(p).partId);
  });

  it('gives the same id whatever the order of the metadata keys', () => {
    const one = encodePart(part([entry('a.txt', { metadata: { a: '1', b: '2', é: '3' } })]));
    const other = encodePart(part([entry('a.txt', { metadata: { é: '3', b: '2', a: '1' } })]));
    expect(other.partId).toBe(one.partId);
  });

  it('leaves out absent optional fields rather than writing null', () => {
    const text = Buffer.from(encodePart(part([entry('a.txt')])).bytes).toString('utf8');
    expect(text).not.toContain('contentType');
    expect(text).not.toContain('metadata');
    expect(text).not.toContain('contentSha256');
  });

  it('refuses to encode fields that are not part of the format', () => {
    const p = { ...part([entry('a.txt')]), extra: 'ignored' } as ManifestPart;
    expect(() => encodePart(p)).toThrow(/extra/);
  });

  it('gives another id when an entry, its chunks or the plan changes', () => {
    const one = encodePart(part([entry('a.txt')])).partId;
    expect(encodePart(part([entry('a.txt', { blobs: [idB] })])).partId).not.toBe(one);
    expect(encodePart(part([entry('a.txt', { blobs: [idA, idB], contentSha256: idC })])).partId).not.toBe(
      one,
    );
    expect(encodePart(part([entry('a.txt')], { planId: 'docs' })).partId).not.toBe(one);
  });

  it('keeps the order of an entry’s chunks', () => {
    const ab = encodePart(part([entry('a.txt', { blobs: [idA, idB], contentSha256: idC })])).partId;
    const ba = encodePart(part([entry('a.txt', { blobs: [idB, idA], contentSha256: idC })])).partId;
    expect(ab).not.toBe(ba);
  });
});

describe('encodeManifest', () => {
  it('gives the id of its bytes, the same for equal roots whatever their key order', () => {
    const { bytes, manifestId } = encodeManifest(manifest());
    expect(manifestId).toBe(contentIdOf(bytes));
    const other = encodeManifest(reversedKeys(manifest()));
    expect(other.manifestId).toBe(manifestId);
    expect(Buffer.from(other.bytes).equals(Buffer.from(bytes))).toBe(true);
  });

  it('keeps the order of the parts (they are in key order already)', () => {
    const m = manifest();
    const swapped = encodeManifest({ ...m, parts: [...m.parts].reverse() });
    expect(swapped.manifestId).not.toBe(encodeManifest(m).manifestId);
  });

  it('refuses to encode fields that are not part of the format, and changes with any field', () => {
    const id = encodeManifest(manifest()).manifestId;
    expect(() => encodeManifest({ ...manifest(), entries: [] } as Manifest)).toThrow(/entries/);
    expect(encodeManifest(manifest({ snapshotId: '20260301T010000Z' })).manifestId).not.toBe(id);
  });
});

describe('encodeIndex', () => {
  it('gives the id of its bytes, the same for equal indexes whatever their key order', () => {
    const { bytes, indexId } = encodeIndex(index());
    expect(indexId).toBe(contentIdOf(bytes));
    const other = encodeIndex(reversedKeys(index()));
    expect(other.indexId).toBe(indexId);
    expect(Buffer.from(other.bytes).equals(Buffer.from(bytes))).toBe(true);
  });

  it('gives another id for another pack', () => {
    const [pack] = index().packs;
    const other = index({ packs: [{ ...(pack as IndexDocument['packs'][number]), packId: idA }] });
    expect(encodeIndex(other).indexId).not.toBe(encodeIndex(index()).indexId);
  });
});

describe('decoding', () => {
  const cases = [
    {
      what: 'a manifest root',
      encode: () => encodeManifest(manifest()),
      idOf: (e: { manifestId: string }) => e.manifestId,
      decode: decodeManifest,
      doc: () => manifest() as unknown as Record<string, unknown>,
    },
    {
      what: 'a manifest part',
      encode: () => encodePart(part([entry('a.txt', { metadata: { k: 'v' } }), entry('b.txt')])),
      idOf: (e: { partId: string }) => e.partId,
      decode: decodePart,
      doc: () => part([entry('a.txt')]) as unknown as Record<string, unknown>,
    },
    {
      what: 'an index document',
      encode: () => encodeIndex(index()),
      idOf: (e: { indexId: string }) => e.indexId,
      decode: decodeIndex,
      doc: () => index() as unknown as Record<string, unknown>,
    },
  ] as const;

  describe.each(cases)('$what', (c) => {
    const encode = c.encode as () => { bytes: Uint8Array };
    const idOf = c.idOf as (e: unknown) => string;
    const decode = c.decode as (bytes: Uint8Array, id: string) => unknown;

    it('decodes what was encoded, and encodes again to the same id', () => {
      const encoded = encode();
      const decoded = decode(encoded.bytes, idOf(encoded));
      expect(bytesOf(decoded).equals(Buffer.from(encoded.bytes))).toBe(true);
    });

    it('refuses bytes that hash to another id with an IntegrityError (not retryable)', () => {
      const { bytes } = encode();
      const error = thrown(() => decode(bytes, idC));
      expect(error).toBeInstanceOf(IntegrityError);
      expect((error as StrongboxError).retryable).toBe(false);
      expect((error as Error).message).toMatch(/hashes to/);
    });

    it.each([
      ['version 1', { version: 1 }],
      ['version 3', { version: 3 }],
      ['another type', { type: 'something-else' }],
    ])('refuses %s with a ValidationError (not retryable)', (_name, patch) => {
      const bytes = bytesOf({ ...c.doc(), ...patch });
      const error = thrown(() => decode(bytes, contentIdOf(bytes)));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as StrongboxError).retryable).toBe(false);
    });

    it('refuses bytes that are not JSON with a ValidationError', () => {
      const bytes = Buffer.from('not json', 'utf8');
      expect(() => decode(bytes, contentIdOf(bytes))).toThrow(ValidationError);
    });
  });

  it.each([
    ['an entry without chunks', part([entry('a.txt', { blobs: [] })])],
    ['a chunk id that is not a content id', part([entry('a.txt', { blobs: ['XYZ'] })])],
    ['a v1 entry (blobId)', part([{ ...entry('a.txt'), blobs: undefined, blobId: idA } as never])],
    ['no entries', part([])],
    ['an unknown field', { ...part([entry('a.txt')]), extra: 1 }],
    ['a bad last-modified', part([entry('a.txt', { lastModified: 'yesterday' })])],
  ])('refuses a manifest part with %s', (_name, doc) => {
    const bytes = bytesOf(doc);
    expect(() => decodePart(bytes, contentIdOf(bytes))).toThrow(ValidationError);
  });

  it.each([
    [
      'a part ref with no objects',
      manifest({ parts: [{ partId: idA, firstKey: 'a', lastKey: 'a', objectCount: 0, logicalBytes: 0 }] }),
    ],
    ['a v1 root (entries)', { ...manifest(), parts: undefined, entries: [] }],
    [
      'a part id that is not a content id',
      manifest({ parts: [{ partId: 'x', firstKey: 'a', lastKey: 'a', objectCount: 1, logicalBytes: 0 }] }),
    ],
  ])('refuses a manifest root with %s', (_name, doc) => {
    const bytes = bytesOf(doc);
    expect(() => decodeManifest(bytes, contentIdOf(bytes))).toThrow(ValidationError);
  });

  it.each([
    ['a negative offset', { blobId: idA, offsetBytes: -1, lengthBytes: 10, sizeBytes: 1 }],
    ['an empty sealed blob', { blobId: idA, offsetBytes: 0, lengthBytes: 0, sizeBytes: 1 }],
    ['a bad blob id', { blobId: 'A'.repeat(64), offsetBytes: 0, lengthBytes: 10, sizeBytes: 1 }],
  ])('refuses an index whose pack lists %s', (_name, blob) => {
    const [pack] = index().packs;
    const bytes = bytesOf(index({ packs: [{ ...(pack as IndexDocument['packs'][number]), blobs: [blob] }] }));
    expect(() => decodeIndex(bytes, contentIdOf(bytes))).toThrow(ValidationError);
  });

  it('reads a pack header, and refuses one of another version', () => {
    const header = {
      version: VAULT_FORMAT_VERSION,
      type: 'pack-header',
      blobs: [{ blobId: idA, offsetBytes: 0, lengthBytes: 100, sizeBytes: 5 }],
    };
    expect(decodePackHeader(bytesOf(header))).toEqual(header);
    expect(() => decodePackHeader(bytesOf({ ...header, version: 1 }))).toThrow(ValidationError);
    expect(() => decodePackHeader(bytesOf({ ...header, type: 'index' }))).toThrow(ValidationError);
  });
});

describe('snapshotIdFor', () => {
  it('is the compact ISO-8601 UTC time without milliseconds', () => {
    expect(snapshotIdFor(new Date('2026-11-21T23:45:00Z'))).toBe('20261121T234500Z');
    expect(snapshotIdFor(new Date('2026-01-02T03:04:05.678Z'))).toBe('20260102T030405Z');
  });

  it('uses UTC whatever the offset of the input', () => {
    expect(snapshotIdFor(new Date('2026-03-01T02:30:00+02:00'))).toBe('20260301T003000Z');
  });

  it('sorts like the times it names', () => {
    const times = [
      '2026-03-01T09:00:00Z',
      '2026-03-01T10:00:00Z',
      '2026-12-31T23:59:59Z',
      '2027-01-01T00:00:00Z',
    ];
    const ids = times.map((t) => snapshotIdFor(new Date(t)));
    expect([...ids].sort()).toEqual(ids);
  });

  it("keeps the milliseconds at 'millisecond' precision (on-demand snapshots), sorting like the times", () => {
    expect(snapshotIdFor(new Date('2026-11-21T23:45:00.123Z'), 'millisecond')).toBe('20261121T234500.123Z');
    expect(snapshotIdFor(new Date('2026-11-21T23:45:00Z'), 'millisecond')).toBe('20261121T234500.000Z');
    const times = [
      '2026-03-01T09:00:00.000Z',
      '2026-03-01T09:00:00.001Z',
      '2026-03-01T09:00:00.999Z',
      '2026-03-01T09:00:01.000Z',
    ];
    const ids = times.map((t) => snapshotIdFor(new Date(t), 'millisecond'));
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts an id with milliseconds before the plain id of its second (the two forms mix only there)', () => {
    const scheduled = snapshotIdFor(new Date('2026-03-01T09:00:00Z'));
    const onDemand = snapshotIdFor(new Date('2026-03-01T09:00:00.500Z'), 'millisecond');
    const before = snapshotIdFor(new Date('2026-03-01T08:59:59.999Z'), 'millisecond');
    const after = snapshotIdFor(new Date('2026-03-01T09:00:01.000Z'), 'millisecond');
    expect([scheduled, onDemand, before, after].sort()).toEqual([before, onDemand, scheduled, after]);
  });
});
