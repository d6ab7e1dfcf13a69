import { describe, expect, it } from 'vitest';
import { IntegrityError, ValidationError } from '#domain/errors.ts';
import {
  compareKeys,
  contentIdOf,
  decodeManifest,
  encodeManifest,
  isContentId,
  type Manifest,
  type ManifestEntry,
  snapshotIdFor,
  VaultLayout,
} from '#domain/vault.ts';

const idA = contentIdOf('alpha');
const idB = contentIdOf('bravo');

function entry(key: string, overrides: Partial<ManifestEntry> = {}): ManifestEntry {
  return {
    key,
    sizeBytes: 5,
    etag: 'abc123',
    lastModified: '2026-03-01T00:00:00.000Z',
    blobId: idA,
    ...overrides,
  };
}

function manifest(entries: ManifestEntry[], overrides: Partial<Manifest> = {}): Manifest {
  return {
    version: 1,
    type: 'manifest',
    planId: 'photos',
    snapshotId: '20260301T000000Z',
    parentSnapshotId: null,
    source: { bucket: 'source', prefix: '' },
    scheduledAt: '2026-03-01T00:00:00.000Z',
    time: '2026-03-01T00:00:01.000Z',
    completedAt: '2026-03-01T00:00:02.000Z',
    totals: { objectCount: entries.length, logicalBytes: entries.reduce((s, e) => s + e.sizeBytes, 0) },
    entries,
    ...overrides,
  };
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
  it('stores a blob under blobs/<first two hex digits>/<id>', () => {
    expect(VaultLayout.blobKey(idA)).toBe(`blobs/${idA.slice(0, 2)}/${idA}`);
    expect(VaultLayout.blobKey(idA).startsWith(VaultLayout.blobsPrefix)).toBe(true);
  });

  it('reads the blob id back from a blob key', () => {
    for (const id of [idA, idB, contentIdOf(''), '0'.repeat(64), 'f'.repeat(64)]) {
      expect(VaultLayout.blobIdOf(VaultLayout.blobKey(id))).toBe(id);
    }
  });

  it.each([
    ['a shard that does not match the id', `blobs/00/${'1'.repeat(64)}`],
    ['an uppercase id', `blobs/${idA.slice(0, 2).toUpperCase()}/${idA.toUpperCase()}`],
    ['a short id', `blobs/${idA.slice(0, 2)}/${idA.slice(0, 63)}`],
    ['a long id', `blobs/${idA.slice(0, 2)}/${idA}0`],
    ['a missing shard', `blobs/${idA}`],
    ['a nested path', `blobs/${idA.slice(0, 2)}/x/${idA}`],
    ['another prefix', `manifests/${idA.slice(0, 2)}/${idA}`],
    ['a leading slash', `/blobs/${idA.slice(0, 2)}/${idA}`],
    ['a trailing slash', `blobs/${idA.slice(0, 2)}/${idA}/`],
    ['the prefix alone', 'blobs/'],
  ])('rejects a key that is not a blob: %s', (_name, key) => {
    expect(VaultLayout.blobIdOf(key)).toBeUndefined();
  });

  it('stores a manifest under manifests/<plan id>/<manifest id>', () => {
    expect(VaultLayout.manifestKey('photos', idB)).toBe(`manifests/photos/${idB}`);
    expect(VaultLayout.manifestKey('photos', idB).startsWith(VaultLayout.manifestsPrefix('photos'))).toBe(
      true,
    );
    expect(VaultLayout.manifestsPrefix('photos')).toBe('manifests/photos/');
  });

  it('reads the manifest id back from a manifest key', () => {
    expect(VaultLayout.manifestIdOf(VaultLayout.manifestKey('photos', idB))).toBe(idB);
    expect(VaultLayout.manifestIdOf(VaultLayout.manifestKey('a-1', idA))).toBe(idA);
  });

  it.each([
    ['a missing plan', `manifests/${idA}`],
    ['an empty plan', `manifests//${idA}`],
    ['a nested plan', `manifests/a/b/${idA}`],
    ['a short id', `manifests/photos/${idA.slice(1)}`],
    ['an uppercase id', `manifests/photos/${idA.toUpperCase()}`],
    ['a blob key', VaultLayout.blobKey(idA)],
  ])('rejects a key that is not a manifest: %s', (_name, key) => {
    expect(VaultLayout.manifestIdOf(key)).toBeUndefined();
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

describe('encodeManifest', () => {
  it('gives the id of its bytes', () => {
    const { bytes, manifestId } = encodeManifest(manifest([entry('a.txt')]));
    expect(manifestId).toBe(contentIdOf(bytes));
  });

  it('gives the same id whatever the order of the entries', () => {
    const entries = [entry('b.txt'), entry('a.txt', { blobId: idB }), entry('dir/c.txt')];
    const one = encodeManifest(manifest(entries));
    const other = encodeManifest(manifest([...entries].reverse()));
    expect(other.manifestId).toBe(one.manifestId);
    expect(Buffer.from(other.bytes).equals(Buffer.from(one.bytes))).toBe(true);
  });

  it('sorts entries by key in UTF-8 binary order', () => {
    // Prepare
    const m = manifest([entry('é'), entry('a'), entry('B'), entry('\ud83d\ude00'), entry('\uffff')]);
    // Act
    const { bytes } = encodeManifest(m);
    // Assess
    const keys = (JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest).entries.map((e) => e.key);
    expect(keys).toEqual(['B', 'a', 'é', '\uffff', '\ud83d\ude00']);
  });

  it('gives the same id whatever the order of the fields', () => {
    // Prepare
    const m = manifest([entry('a.txt', { contentType: 'text/plain', metadata: { k: 'v' } })]);
    const shuffled = Object.fromEntries(Object.entries(m).reverse()) as Manifest;
    shuffled.source = { prefix: m.source.prefix, bucket: m.source.bucket };
    shuffled.totals = { logicalBytes: m.totals.logicalBytes, objectCount: m.totals.objectCount };
    shuffled.entries = m.entries.map((e) => Object.fromEntries(Object.entries(e).reverse()) as ManifestEntry);
    // Act
    const one = encodeManifest(m);
    const other = encodeManifest(shuffled);
    // Assess
    expect(Object.keys(shuffled)[0]).toBe('entries');
    expect(other.manifestId).toBe(one.manifestId);
  });

  it('gives the same id whatever the order of the metadata keys', () => {
    const one = encodeManifest(manifest([entry('a.txt', { metadata: { a: '1', b: '2' } })]));
    const other = encodeManifest(manifest([entry('a.txt', { metadata: { b: '2', a: '1' } })]));
    expect(other.manifestId).toBe(one.manifestId);
  });

  it('leaves out absent optional fields rather than writing null', () => {
    const { bytes } = encodeManifest(manifest([entry('a.txt')]));
    const text = Buffer.from(bytes).toString('utf8');
    expect(text).not.toContain('contentType');
    expect(text).not.toContain('metadata');
  });

  it('drops fields that are not part of the format', () => {
    const m = { ...manifest([entry('a.txt')]), extra: 'ignored' } as Manifest;
    const { manifestId } = encodeManifest(m);
    expect(manifestId).toBe(encodeManifest(manifest([entry('a.txt')])).manifestId);
  });

  it('gives another id when any entry changes', () => {
    const one = encodeManifest(manifest([entry('a.txt')]));
    const other = encodeManifest(manifest([entry('a.txt', { blobId: idB })]));
    expect(other.manifestId).not.toBe(one.manifestId);
  });
});

describe('decodeManifest', () => {
  it('decodes what encodeManifest wrote', () => {
    const m = manifest([entry('b.txt', { contentType: 'text/plain', metadata: { k: 'v' } }), entry('a.txt')]);
    const { bytes, manifestId } = encodeManifest(m);
    const decoded = decodeManifest(bytes, manifestId);
    expect(decoded.entries.map((e) => e.key)).toEqual(['a.txt', 'b.txt']);
    expect(decoded.entries[1]).toEqual(m.entries[0]);
    expect(encodeManifest(decoded).manifestId).toBe(manifestId);
  });

  it('refuses bytes that hash to another id with an IntegrityError', () => {
    const { bytes } = encodeManifest(manifest([entry('a.txt')]));
    const { manifestId: otherId } = encodeManifest(manifest([entry('b.txt')]));
    expect(() => decodeManifest(bytes, otherId)).toThrow(IntegrityError);
    expect(() => decodeManifest(bytes, otherId)).toThrow(/hashes to/);
  });

  it('refuses a manifest of another version with a ValidationError', () => {
    const bytes = Buffer.from(JSON.stringify({ ...manifest([entry('a.txt')]), version: 2 }), 'utf8');
    const error = (() => {
      try {
        decodeManifest(bytes, contentIdOf(bytes));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).retryable).toBe(false);
  });

  it('refuses a document that is not a manifest with a ValidationError', () => {
    const bytes = Buffer.from(JSON.stringify({ ...manifest([entry('a.txt')]), type: 'index' }), 'utf8');
    expect(() => decodeManifest(bytes, contentIdOf(bytes))).toThrow(ValidationError);
  });

  it('refuses an entry whose blob id is not a content id', () => {
    const bytes = Buffer.from(JSON.stringify(manifest([entry('a.txt', { blobId: 'XYZ' })])), 'utf8');
    expect(() => decodeManifest(bytes, contentIdOf(bytes))).toThrow(ValidationError);
  });

  it('refuses bytes that are not JSON with a ValidationError', () => {
    const bytes = Buffer.from('not json', 'utf8');
    expect(() => decodeManifest(bytes, contentIdOf(bytes))).toThrow(ValidationError);
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
});
