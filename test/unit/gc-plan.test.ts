// planGc on hand-built inputs: what a garbage-collection run would do, and why, without a vault.
// The end-to-end behaviour (and the safety argument under concurrency) is prune.test.ts's and
// gc-concurrency.test.ts's; this pins each planning rule of docs/format.md#garbage-collection.
import { describe, expect, it } from 'vitest';
import { withRetry } from '#adapters/retrying.ts';
import { Envelope } from '#domain/envelope.ts';
import { collectGarbage, planGcRun } from '#domain/gc/collect.ts';
import { formatGcPlan } from '#domain/gc/format.ts';
import type { LiveSet } from '#domain/gc/live-set.ts';
import {
  INDEX_COMPACT_BLOBS,
  INDEX_COMPACT_PACKS,
  INDEX_COMPACT_THRESHOLD,
  keptBlobs,
  planGc,
  planIndexRewrite,
  settleOrphans,
} from '#domain/gc/plan.ts';
import type { GcInputs, GcPlan } from '#domain/gc/types.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { StoredObject } from '#domain/ports.ts';
import type { SnapshotRecord } from '#domain/records.ts';
import { PackWriter, writeIndex } from '#domain/repository/write.ts';
import {
  type ContentId,
  contentIdOf,
  type IndexedPack,
  type PackedBlob,
  VaultLayout,
} from '#domain/vault.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { memoryKeyProvider } from '../support/memory/key-provider.ts';
import { MemoryObjectStore } from '../support/memory/object-store.ts';
import { MemoryScratchSpace } from '../support/memory/scratch.ts';
import { MemoryTaskQueue } from '../support/memory/task-queue.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

const NOW = Date.parse('2025-06-01T00:00:00.000Z');
const HOUR = 3_600_000;
const GRACE_SECONDS = 86_400;
const OLD = new Date(NOW - 2 * 24 * HOUR).toISOString(); // before the grace period
const YOUNG = new Date(NOW - HOUR).toISOString(); // within it
const OPTIONS = { graceSeconds: GRACE_SECONDS, maxUnusedPercent: 5 };

const id = (name: string): ContentId => contentIdOf(name);

function stored(key: string, lastModified = OLD, sizeBytes = 1000): StoredObject {
  return { key, sizeBytes, lastModified };
}

/** A pack named `name` holding blobs named `blobs`, each `len` sealed bytes. */
function pack(name: string, blobs: readonly string[], len = 100): IndexedPack {
  return {
    packId: id(name),
    stored: { sizeBytes: blobs.length * len, checksumSha256: 'x', checksumType: 'FULL_OBJECT' },
    blobs: blobs.map((b, i) => ({ blobId: id(b), offsetBytes: i * len, lengthBytes: len, sizeBytes: len })),
  };
}

function live(over: Partial<LiveSet> = {}): LiveSet {
  return {
    plans: [],
    roots: new Set(),
    garbageRoots: new Map(),
    unknownRoots: new Set(),
    tombstones: [],
    parts: new Set(),
    blobs: new Set(),
    ...over,
  };
}

interface Vault {
  /** Packs an index names: [pack, stored (lastModified) or undefined when gone]. */
  indexed?: [IndexedPack, string | undefined][];
  /** Packs no index names, by name → lastModified. */
  orphans?: Record<string, string>;
  /** Marks, by pack name → markedAt. */
  marks?: Record<string, string>;
  liveBlobs?: readonly string[];
}

/** Inputs for a vault whose index documents name `indexed` (one document each). */
function inputs(v: Vault, over: Partial<GcInputs> = {}): GcInputs {
  const packObjects = new Map<ContentId, StoredObject>();
  for (const [p, at] of v.indexed ?? [])
    if (at) packObjects.set(p.packId, stored(VaultLayout.packKey(p.packId), at));
  for (const [name, at] of Object.entries(v.orphans ?? {}))
    packObjects.set(id(name), stored(VaultLayout.packKey(id(name)), at));
  return {
    vault: { region: 'eu-west-1', bucket: 'vault-bucket' },
    startedMs: NOW,
    live: live({ blobs: new Set((v.liveBlobs ?? []).map(id)) }),
    marks: new Map(Object.entries(v.marks ?? {}).map(([name, at]) => [id(name), at])),
    indexes: (v.indexed ?? []).map(([p], i) => ({
      indexId: id(`index-${i}`),
      object: stored(VaultLayout.indexKey(id(`index-${i}`)), OLD, 200),
      packs: [p],
    })),
    packObjects,
    rootObjects: [],
    partObjects: [],
    ...over,
  };
}

const ids = (steps: readonly { packId: ContentId }[]) => steps.map((s) => s.packId);

describe('planGc: consolidating small packs (step 6)', () => {
  // Packs are stored in 1,000 bytes (stored()): small under 2,000.
  const SMALL = { ...OPTIONS, smallPacks: { packBytes: 2000, minPacks: 3, maxPacks: 4 } };
  const smalls = ['s1', 's2', 's3', 's4', 's5'].map((n) => pack(n, [`${n}-a`, `${n}-b`]));
  const liveOf = (packs: readonly IndexedPack[]) => packs.flatMap((p) => p.blobs.map((b) => b.blobId));
  const vaultOf = (packs: readonly IndexedPack[], at = OLD): GcInputs => {
    const i = inputs({ indexed: packs.map((p) => [p, at]) });
    return { ...i, live: live({ blobs: new Set(liveOf(packs)) }) };
  };

  it('repacks old small live packs together, at most maxPacks a run, and shrinks their entries to nothing', () => {
    const plan = planGc(vaultOf(smalls), SMALL);
    expect(plan.repack.map((r) => r.pack.packId)).toEqual(smalls.slice(0, 4).map((p) => p.packId));
    expect(plan.repack.every((r) => r.consolidated && r.unusedBytes === 0)).toBe(true);
    expect(plan.repack[0]?.reason).toMatch(
      /^small: stored in fewer than 2000 bytes \(gcSmallPackBytes\), consolidated with 3 other small pack\(s\); 1 more wait for the next run$/,
    );
    expect(plan.repack[0]?.live.map((b) => b.blobId)).toEqual(liveOf([smalls[0] as IndexedPack]));
    // Each repacked pack's entry keeps only its unreferenced blobs: none. The fifth waits.
    const entries = plan.indexRewrite.writes.flat();
    expect(entries.map((p) => [p.packId, p.blobs.length])).toEqual(
      smalls.slice(0, 4).map((p) => [p.packId, 0]),
    );
    expect(plan.mark).toEqual([]); // execution marks what it repacked
    expect(formatGcPlan(plan)).toContain('repack 4 pack(s) (4 small, consolidated)');
  });

  it('leaves small packs alone when fewer than minPacks are old: a young pack, a marked one and a large one do not count', () => {
    const [a, b, c] = smalls as [IndexedPack, IndexedPack, IndexedPack];
    const young = pack('young', ['y1']);
    const large = pack('large', ['l1']);
    const i = vaultOf([a, b, c, large]);
    i.indexes = [
      ...i.indexes,
      { ...(i.indexes[0] as GcInputs['indexes'][number]), indexId: id('i-young'), packs: [young] },
    ];
    (i.packObjects as Map<ContentId, StoredObject>).set(
      young.packId,
      stored(VaultLayout.packKey(young.packId), YOUNG),
    );
    (i.packObjects as Map<ContentId, StoredObject>).set(
      large.packId,
      stored(VaultLayout.packKey(large.packId), OLD, 5000),
    );
    i.marks = new Map([[c.packId, OLD]]);
    i.live = live({ blobs: new Set(liveOf([a, b, c, young, large])) });
    const plan = planGc(i, SMALL);
    expect(plan.repack).toEqual([]); // a and b only: 2 < 3
    expect(ids(plan.rescue)).toEqual([c.packId]);
    // With a third old unmarked small pack, they go, and only they.
    const d = smalls[3] as IndexedPack;
    const more = planGc(
      {
        ...i,
        indexes: [
          ...i.indexes,
          { ...(i.indexes[0] as GcInputs['indexes'][number]), indexId: id('i-d'), packs: [d] },
        ],
        packObjects: new Map([...i.packObjects, [d.packId, stored(VaultLayout.packKey(d.packId))]]),
        live: live({ blobs: new Set(liveOf([a, b, c, d, young, large])) }),
      },
      SMALL,
    );
    expect(more.repack.map((r) => r.pack.packId).sort()).toEqual([a.packId, b.packId, d.packId].sort());
  });

  it('repacks a small pack that is mostly unreferenced for its unused bytes, not as a consolidation', () => {
    const partly = pack('partly', ['p1', 'p2', 'p3', 'p4']);
    const i = vaultOf([...smalls.slice(0, 3), partly]);
    i.live = live({ blobs: new Set([...liveOf(smalls.slice(0, 3)), id('p1')]) });
    const plan = planGc(i, SMALL);
    const mine = plan.repack.filter((r) => r.pack.packId === partly.packId);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.consolidated).toBeUndefined();
    expect(plan.repack.filter((r) => r.consolidated)).toHaveLength(3);
  });

  it('consolidates nothing without smallPacks, however many small packs', () => {
    expect(planGc(vaultOf(smalls), OPTIONS).repack).toEqual([]);
  });
});

describe('planGc: packs', () => {
  const dead = pack('dead', ['d1', 'd2']);
  const used = pack('used', ['u1', 'u2']);
  const partly = pack('partly', ['p1', 'p2', 'p3', 'p4']);

  it.each<{ name: string; vault: Vault; expect: (plan: GcPlan) => void }>([
    {
      name: 'a dead pack not yet marked is marked',
      vault: { indexed: [[dead, OLD]] },
      expect: (plan) => {
        expect(ids(plan.mark)).toEqual([dead.packId]);
        expect(plan.mark[0]?.reason).toContain('none of its 2 indexed blobs is live');
        expect(plan.sweep).toEqual([]);
      },
    },
    {
      name: 'a dead pack marked before the grace period is swept, against the mark read',
      vault: { indexed: [[dead, OLD]], marks: { dead: OLD } },
      expect: (plan) => {
        expect(plan.sweep).toMatchObject([{ packId: dead.packId, markedAt: OLD, blobs: 2, orphan: false }]);
        expect(plan.mark).toEqual([]);
        expect(plan.keptPacks).toEqual([]);
      },
    },
    {
      name: 'a dead pack marked within the grace period waits',
      vault: { indexed: [[dead, OLD]], marks: { dead: YOUNG } },
      expect: (plan) => {
        expect(plan.sweep).toEqual([]);
        expect(ids(plan.waiting)).toEqual([dead.packId]);
      },
    },
    {
      name: 'a marked pack referenced again is rescued, never swept',
      vault: { indexed: [[used, OLD]], marks: { used: OLD }, liveBlobs: ['u1'] },
      expect: (plan) => {
        expect(ids(plan.rescue)).toEqual([used.packId]);
        expect(plan.rescue[0]?.reason).toContain('1 of its 2 blobs are live');
        expect(plan.sweep).toEqual([]);
        expect(plan.stats.packsLive).toBe(1);
      },
    },
    {
      name: 'an old pack mostly unreferenced is repacked with its live blobs',
      vault: { indexed: [[partly, OLD]], liveBlobs: ['p1'] },
      expect: (plan) => {
        expect(plan.repack).toMatchObject([{ totalBytes: 400, unusedBytes: 300 }]);
        expect(plan.repack[0]?.live.map((b) => b.blobId)).toEqual([id('p1')]);
        expect(plan.stats).toMatchObject({ packsLive: 1, packsPartlyUnused: 1, unusedBytesInLivePacks: 300 });
        // Its index entry will shrink to its unreferenced blobs.
        expect(plan.indexRewrite.writes[0]?.[0]?.blobs.map((b) => b.blobId)).toEqual(
          ['p2', 'p3', 'p4'].map(id),
        );
      },
    },
    {
      name: 'a young pack is never repacked (its blobs may be about to be referenced)',
      vault: { indexed: [[partly, YOUNG]], liveBlobs: ['p1'] },
      expect: (plan) => {
        expect(plan.repack).toEqual([]);
        expect(plan.stats.packsPartlyUnused).toBe(1);
        expect(plan.indexRewrite.writes).toEqual([]);
      },
    },
    {
      name: 'a rescued pack that is also repacked is said to be marked afresh',
      vault: { indexed: [[partly, OLD]], marks: { partly: OLD }, liveBlobs: ['p1'] },
      expect: (plan) => {
        expect(plan.repack).toHaveLength(1);
        expect(plan.rescue[0]?.reason).toContain('marked afresh instead');
      },
    },
    {
      name: 'a live pack the vault does not hold is missing, and stays indexed',
      vault: { indexed: [[used, undefined]], liveBlobs: ['u1', 'u2'] },
      expect: (plan) => {
        expect(plan.stats.packsMissing).toBe(1);
        expect(plan.gone).toEqual([]);
        expect(plan.indexRewrite.obsolete).toEqual([]);
      },
    },
    {
      name: 'a dead pack already gone leaves every index, and its mark goes',
      vault: { indexed: [[dead, undefined]], marks: { dead: YOUNG } },
      expect: (plan) => {
        expect(plan.gone).toEqual([dead.packId]);
        expect(ids(plan.staleMarks)).toEqual([dead.packId]);
        expect(plan.indexRewrite).toMatchObject({ writes: [], deleted: 1, rewritten: 0 });
      },
    },
    {
      name: 'a pack no index names is marked; once its mark is old, its header decides',
      vault: { orphans: { fresh: OLD, stale: OLD }, marks: { stale: OLD } },
      expect: (plan) => {
        expect(ids(plan.mark)).toEqual([id('fresh')]);
        expect(ids(plan.orphans)).toEqual([id('stale')]);
        expect(plan.sweep).toEqual([]);
      },
    },
    {
      name: 'a mark of a pack neither stored nor indexed is stale',
      vault: { marks: { vanished: OLD } },
      expect: (plan) => expect(ids(plan.staleMarks)).toEqual([id('vanished')]),
    },
  ])('$name', ({ vault, expect: check }) => {
    check(planGc(inputs(vault), OPTIONS));
  });

  it('counts a pack named twice by its shortest entry (the newest shrink of a repacked pack)', () => {
    const full = pack('twice', ['t1', 't2', 't3']);
    const shrunk = { ...full, blobs: full.blobs.slice(1) };
    const input = inputs({ marks: { twice: OLD }, liveBlobs: ['t1'] });
    const plan = planGc(
      {
        ...input,
        indexes: [full, shrunk].map((p, i) => ({
          indexId: id(`i${i}`),
          object: stored(VaultLayout.indexKey(id(`i${i}`))),
          packs: [p],
        })),
        packObjects: new Map([[full.packId, stored(VaultLayout.packKey(full.packId))]]),
      },
      OPTIONS,
    );
    // t1 (live) is only in the long entry: by the short one the pack is dead.
    expect(plan.sweep).toMatchObject([{ packId: full.packId, blobs: 2 }]);
    expect(plan.rescue).toEqual([]);
  });
});

describe('planGc: deferral', () => {
  const dead = pack('dead', ['d1']);

  it('defers every pack step when an index document does not read, but still deletes condemned roots', () => {
    const root = VaultLayout.manifestKey('photos', id('root'));
    const plan = planGc(
      inputs(
        { indexed: [[dead, OLD]], marks: { dead: OLD } },
        {
          unreadableIndex: 'index 3b7c is unreadable: bad tag',
          rootObjects: [stored(root)],
          live: live({ garbageRoots: new Map([[root, 'a tombstone names it']]) }),
        },
      ),
      OPTIONS,
    );
    expect(plan.deferred).toBe('index 3b7c is unreadable: bad tag');
    expect([plan.mark, plan.sweep, plan.rescue, plan.repack, plan.orphans, plan.staleMarks]).toEqual([
      [],
      [],
      [],
      [],
      [],
      [],
    ]);
    expect(plan.indexRewrite.obsolete).toEqual([]);
    expect(plan.roots.map((r) => r.key)).toEqual([root]);
  });

  it('deletes no part, and no pack, when the live set is incomplete', () => {
    const part = VaultLayout.partKey('photos', id('part'));
    const plan = planGc(
      inputs(
        { indexed: [[dead, OLD]] },
        { partObjects: [stored(part)], live: live({ incomplete: 'manifest root x is unreadable' }) },
      ),
      OPTIONS,
    );
    expect(plan.deferred).toBe('manifest root x is unreadable');
    expect(plan.parts).toEqual([]);
    expect(plan.mark).toEqual([]);
  });
});

describe('planGc: roots, parts and tombstones', () => {
  const condemnedOld = VaultLayout.manifestKey('photos', id('old-root'));
  const condemnedYoung = VaultLayout.manifestKey('photos', id('young-root'));
  const unknown = VaultLayout.manifestKey('photos', id('unknown-root'));
  const committed = VaultLayout.manifestKey('photos', id('committed-root'));
  const tombstone = (name: string, forgottenAt: string): SnapshotRecord => ({
    planId: 'photos',
    snapshotId: name,
    status: 'FORGOTTEN',
    scheduledAt: OLD,
    forgottenAt,
    manifestId: id(`${name}-root`),
  });

  const plan = planGc(
    inputs(
      {},
      {
        rootObjects: [
          stored(condemnedOld, OLD, 10),
          stored(condemnedYoung, YOUNG, 10),
          stored(unknown, OLD, 10),
          stored(committed, OLD, 10),
        ],
        partObjects: [
          stored(VaultLayout.partKey('photos', id('dead-part')), OLD, 20),
          stored(VaultLayout.partKey('photos', id('young-part')), YOUNG, 20),
          stored(VaultLayout.partKey('photos', id('live-part')), OLD, 20),
        ],
        live: live({
          roots: new Set([unknown, committed]),
          unknownRoots: new Set([unknown]),
          garbageRoots: new Map([
            [condemnedOld, 'a tombstone names it: photos/old was forgotten'],
            [condemnedYoung, 'a tombstone names it: photos/young was forgotten'],
          ]),
          parts: new Set([VaultLayout.partKey('photos', id('live-part'))]),
          tombstones: [tombstone('old', OLD), tombstone('young', OLD), tombstone('recent', YOUNG)],
        }),
      },
    ),
    OPTIONS,
  );

  it('deletes a condemned root older than the grace period, keeps a young one and an unknown one', () => {
    expect(plan.roots).toEqual([
      { key: condemnedOld, sizeBytes: 10, reason: 'a tombstone names it: photos/old was forgotten' },
    ]);
    expect(plan.stats.rootsUnknown).toBe(1);
    expect(plan.warning).toContain("run 'strongbox repair catalog'");
    expect(plan.warning).toContain(unknown);
  });

  it('deletes an old part no live root, summary or checkpoint names', () => {
    expect(plan.parts.map((p) => p.key)).toEqual([VaultLayout.partKey('photos', id('dead-part'))]);
  });

  it('plans a tombstone whose root this run deletes; keeps one whose root stays, and one forgotten lately', () => {
    expect(plan.tombstones.map((t) => [t.record.snapshotId, t.root])).toEqual([['old', condemnedOld]]);
  });
});

describe('settleOrphans and the index rewrite', () => {
  const kept = pack('kept', ['k1', 'k2']);
  const base = inputs(
    {
      indexed: [[kept, OLD]],
      orphans: { a: OLD, b: OLD, c: OLD, d: OLD },
      marks: { a: OLD, b: OLD, c: OLD, d: OLD },
    },
    { live: live({ blobs: new Set(['k1', 'x', 'y'].map(id)) }) },
  );
  const plan = planGc(base, OPTIONS);
  const header = (names: string[]) =>
    names.map((n) => ({ blobId: id(n), offsetBytes: 0, lengthBytes: 1, sizeBytes: 1 }));

  it('rescues an orphan holding a live blob no kept pack holds; the next one holding it is swept', () => {
    const verdicts = settleOrphans(
      plan,
      keptBlobs(plan, new Map(), []),
      new Map<ContentId, PackedBlob[] | 'gone'>([
        [id('a'), header(['k1'])], // live, but located in a kept pack
        [id('b'), header(['x', 'dead'])], // x is located nowhere else: rescued
        [id('c'), header(['x'])], // x is now located in b
        [id('d'), 'gone'],
      ]),
    );
    expect(verdicts.map((v) => v.action)).toEqual(['sweep', 'rescue', 'sweep', 'stale']);
  });

  it('counts the blobs of the new packs as kept, and not those a repack moved out', () => {
    const moved = new Map([[kept.packId, new Set([id('k1')])]]);
    expect(keptBlobs(plan, moved, []).has(id('k1'))).toBe(false);
    expect(keptBlobs(plan, moved, [id('k1')]).has(id('k1'))).toBe(true);
  });

  it('refuses to settle an orphan whose header was not read', () => {
    expect(() => settleOrphans(plan, new Set(), new Map())).toThrow(/was not read/);
  });

  it('rewrites a document that keeps packs, deletes one that keeps none, leaves the others', () => {
    const one = pack('one', ['o1']);
    const two = pack('two', ['t1']);
    const three = pack('three', ['h1']);
    const docs = [
      { indexId: id('x1'), object: stored('index/x1', OLD, 5), packs: [one, two] },
      { indexId: id('x2'), object: stored('index/x2', OLD, 7), packs: [three] },
      { indexId: id('x3'), object: stored('index/x3', OLD, 9), packs: [pack('four', ['f1'])] },
    ];
    const rewrite = planIndexRewrite(docs, new Set([one.packId, three.packId]), new Map());
    expect(rewrite.writes).toEqual([[two]]);
    expect(rewrite.obsolete.map((d) => d.sizeBytes)).toEqual([5, 7]);
    expect(rewrite).toMatchObject({ rewritten: 1, deleted: 1 });
  });

  it(`merges more than ${INDEX_COMPACT_THRESHOLD} documents, and deletes them all`, () => {
    const docs = Array.from({ length: INDEX_COMPACT_THRESHOLD + 1 }, (_, i) => ({
      indexId: id(`m${i}`),
      object: stored(`index/m${i}`),
      packs: [pack(`p${i}`, [`b${i}`])],
    }));
    const rewrite = planIndexRewrite(docs, new Set(), new Map());
    expect(rewrite.writes).toHaveLength(1);
    expect(rewrite.writes[0]).toHaveLength(INDEX_COMPACT_THRESHOLD + 1);
    expect(rewrite).toMatchObject({ rewritten: 1, deleted: INDEX_COMPACT_THRESHOLD + 1 });
  });

  it('leaves a merged document of 2,000 packs alone, however few its blobs: merged again it would come out the same', () => {
    // Two documents of 2,000 one-blob packs (an earlier merge of large objects) and 33 small ones.
    // Merged again, the first would be cut byte for byte as it is: written (the same id), then
    // deleted as obsolete, leaving its packs in no index.
    const full = (name: string) => ({
      indexId: id(name),
      object: stored(`index/${name}`),
      packs: Array.from({ length: INDEX_COMPACT_PACKS }, (_, i) => pack(`${name}p${i}`, [`${name}b${i}`])),
    });
    const docs = [
      full('full1'),
      full('full2'),
      ...Array.from({ length: INDEX_COMPACT_THRESHOLD + 1 }, (_, i) => ({
        indexId: id(`t${i}`),
        object: stored(`index/t${i}`),
        packs: [pack(`tp${i}`, [`tb${i}`])],
      })),
    ];
    const rewrite = planIndexRewrite(docs, new Set(), new Map());
    const obsolete = new Set(rewrite.obsolete.map((o) => o.key));
    expect(obsolete.has(VaultLayout.indexKey(id('full1')))).toBe(false);
    expect(obsolete.has(VaultLayout.indexKey(id('full2')))).toBe(false);
    expect(rewrite).toMatchObject({ rewritten: 1, deleted: INDEX_COMPACT_THRESHOLD + 1 });
  });

  /** `blobs` blob names `<prefix>0…`: a pack of many small objects. */
  const many = (prefix: string, blobs: number) => Array.from({ length: blobs }, (_, i) => `${prefix}${i}`);

  it(`merges into documents of at most ${INDEX_COMPACT_BLOBS} blobs, however few packs`, () => {
    // 33 small documents of one 4,000-blob pack each: 132,000 blobs (one document of them all was
    // what a million-object vault's functions could not decode within 1024 MB)
    const docs = Array.from({ length: INDEX_COMPACT_THRESHOLD + 1 }, (_, i) => ({
      indexId: id(`s${i}`),
      object: stored(`index/s${i}`),
      packs: [pack(`sp${i}`, many(`s${i}-`, 4000))],
    }));
    const rewrite = planIndexRewrite(docs, new Set(), new Map());
    const sizes = rewrite.writes.map((w) => w.reduce((n, p) => n + p.blobs.length, 0));
    expect(sizes).toEqual([100_000, 32_000]);
    expect(rewrite).toMatchObject({ rewritten: 2, deleted: INDEX_COMPACT_THRESHOLD + 1 });
  });

  it(`splits a document over ${INDEX_COMPACT_BLOBS} blobs (an earlier merge's), and leaves full ones alone`, () => {
    const big = [
      pack('b1', many('b1-', 50_000)),
      pack('b2', many('b2-', 50_000)),
      pack('b3', many('b3-', 10)),
    ];
    const docs = [
      { indexId: id('big'), object: stored('index/big'), packs: big },
      // Many documents of more than half the cap each: not merged again on every run
      ...Array.from({ length: INDEX_COMPACT_THRESHOLD + 8 }, (_, i) => ({
        indexId: id(`f${i}`),
        object: stored(`index/f${i}`),
        packs: [pack(`fp${i}`, [`f${i}`])],
        blobCount: 60_000,
      })),
    ];
    const rewrite = planIndexRewrite(docs, new Set(), new Map());
    expect(rewrite.writes.map((w) => w.map((p) => p.packId))).toEqual([[id('b1'), id('b2')], [id('b3')]]);
    expect(rewrite.obsolete.map((o) => o.key)).toEqual([VaultLayout.indexKey(id('big'))]);
    expect(rewrite.obsolete[0]?.reason).toMatch(/^split: it names 100010 blobs/);
    expect(rewrite).toMatchObject({ rewritten: 2, deleted: 1 });
  });
});

describe('formatGcPlan', () => {
  it('says what would be marked, rescued, repacked and swept, with counts, bytes and reasons', () => {
    const text = formatGcPlan(
      planGc(
        inputs({
          indexed: [
            [pack('dead', ['d1', 'd2']), OLD],
            [pack('swept', ['s1']), OLD],
            [pack('used', ['u1']), OLD],
            [pack('partly', ['p1', 'p2']), OLD],
          ],
          marks: { swept: OLD, used: OLD },
          liveBlobs: ['u1', 'p1'],
        }),
        OPTIONS,
      ),
    );
    expect(text).toContain('garbage collection of vault-bucket (eu-west-1): a plan, nothing done');
    expect(text).toContain('mark 1 pack(s):');
    expect(text).toContain(`${id('dead').slice(0, 12)}…: none of its 2 indexed blobs is live`);
    expect(text).toContain('rescue (unmark) 1 pack(s):');
    expect(text).toContain(
      'repack 1 pack(s): 100 B of live blobs to new packs, 100 B unreferenced left behind:',
    );
    expect(text).toContain('sweep 1 pack(s), 1000 B, 1 blob(s)');
    expect(text).toContain('index: write 1 document(s), then delete 2 (1 without a replacement), 400 B:');
    expect(text).toContain('rewritten: 1 repacked pack(s) shrunk to their unreferenced blobs');
    expect(text).not.toContain(id('dead')); // ids are shortened
  });

  it('caps long lists and counts the rest', () => {
    const packs = Array.from({ length: 14 }, (_, i): [IndexedPack, string] => [
      pack(`dead${i}`, [`d${i}`]),
      OLD,
    ]);
    const text = formatGcPlan(planGc(inputs({ indexed: packs }), OPTIONS), { limit: 3 });
    expect(text).toContain('mark 14 pack(s):');
    expect(text).toContain('  … and 11 more');
    expect(text.split('\n').filter((l) => l.includes('indexed blobs is live'))).toHaveLength(3);
  });

  it('says why packs are left alone, and when there is nothing to do', () => {
    const deferred = formatGcPlan(
      planGc(inputs({}, { unreadableIndex: 'index 3b7c is unreadable' }), OPTIONS),
    );
    expect(deferred).toContain(
      'deferred: index 3b7c is unreadable; packs and index documents are left alone',
    );
    expect(formatGcPlan(planGc(inputs({}), OPTIONS))).toMatch(/nothing to do$/);
  });

  it('shows the orphans as a dry run settled them', () => {
    const plan = planGc(inputs({ orphans: { o: OLD }, marks: { o: OLD } }), OPTIONS);
    expect(formatGcPlan(plan)).toContain('read the header of 1 orphan pack(s)');
    const settled = { ...plan, settledOrphans: settleOrphans(plan, new Set(), new Map([[id('o'), []]])) };
    expect(formatGcPlan(settled)).toContain('0 to rescue and re-index, 1 to sweep, 0 gone');
  });
});

describe('planGcRun: a dry run', () => {
  it.each([
    ['in memory', false],
    ['spilled to scratch files (freed when it returns)', true],
  ])('reads and plans without changing anything, and plans what the run then does: %s', async (_, spill) => {
    const scratch = new MemoryScratchSpace();
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const catalog = new MemoryCatalog();
    const primary = new MemoryVaultStore('us-east-1', 'vault-use1', clock);
    const envelope = new Envelope(memoryKeyProvider());
    const deps: PipelineDeps = {
      catalog,
      queue: new MemoryTaskQueue(),
      clock,
      envelope,
      vaults: { primary, copies: new Map() },
      objects: new MemoryObjectStore(clock),
      gcGraceSeconds: 3600,
      retry: withRetry,
      ...(spill ? { scratch, indexMemoryBlobs: 0 } : {}),
    };
    // A pack an index names (no snapshot references its blob), and a marked pack no index names.
    const indexedWriter = new PackWriter(primary, envelope);
    await indexedWriter.add(contentIdOf('dead'), Buffer.from('dead'));
    const [indexed] = await indexedWriter.flush();
    await writeIndex(primary, envelope, [indexed as IndexedPack]);
    const orphanWriter = new PackWriter(primary, envelope);
    await orphanWriter.add(contentIdOf('lost'), Buffer.from('lost'));
    const [orphan] = await orphanWriter.flush();
    await catalog.putGcMarks(primary.bucket, [
      { packId: orphan?.packId as string, markedAt: clock.now().toISOString() },
    ]);
    clock.advance(2 * HOUR);
    const keysBefore = [...primary.objects.keys()];
    const marksBefore = await catalog.listGcMarks(primary.bucket);

    const plan = await planGcRun(deps, 'us-east-1');

    expect(scratch.openFiles).toBe(0); // its live set, index and kept blobs, spilled or not, are freed
    expect(scratch.appendedBytes > 0).toBe(spill);
    expect(ids(plan.mark)).toEqual([indexed?.packId]);
    expect(plan.settledOrphans).toMatchObject([{ packId: orphan?.packId, action: 'sweep' }]);
    expect([...primary.objects.keys()]).toEqual(keysBefore);
    expect(await catalog.listGcMarks(primary.bucket)).toEqual(marksBefore);
    expect(formatGcPlan(plan)).toContain('0 to rescue and re-index, 1 to sweep, 0 gone');
    await expect(planGcRun(deps, 'ap-south-1')).rejects.toThrow(/no vault is configured/);
    // The run does what the dry run said.
    const result = await collectGarbage(deps, primary, clock.now().getTime());
    expect(result).toMatchObject({ packsMarked: 1, packsDeleted: 1, orphanPacksDeleted: 1 });
    expect(scratch.openFiles).toBe(0);
  });
});
