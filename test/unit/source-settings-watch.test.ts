// The detector's watch on a protected bucket's lifecycle rules and policy: a first reading is not a
// change, an attacker's expiry rule is a finding that quarantines the plan, an unreadable setting
// never is, and a tick with nothing changed writes nothing.
import { beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '#adapters/s3/source-settings.ts';
import { type AnomalyEvent, runDetector } from '#domain/detector/run.ts';
import {
  changedSettings,
  fingerprintOf,
  type SourceSettings,
  watchSourceSettings,
} from '#domain/detector/source-settings.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { type MemoryPipeline, memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

describe('changedSettings', () => {
  it('is empty on a first reading and for settings not read both times', () => {
    expect(changedSettings(undefined, { lifecycle: 'none' })).toEqual([]);
    expect(changedSettings({ lifecycle: 'none' }, {})).toEqual([]);
    expect(changedSettings({}, { policy: 'x' })).toEqual([]);
    expect(changedSettings({ lifecycle: 'none', policy: 'a' }, { lifecycle: 'b', policy: 'a' })).toEqual([
      'lifecycle',
    ]);
  });

  it('fingerprints equal configurations equally whatever their key order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe(canonicalJson({ a: [{ c: 3, d: 2 }], b: 1 }));
    expect(fingerprintOf(null)).toBe('none');
  });
});

describe('watchSourceSettings', () => {
  let p: MemoryPipeline;
  let settings: SourceSettings;
  let reads = 0;
  const published: AnomalyEvent[] = [];
  const events = { publish: async (e: AnomalyEvent) => void published.push(e) };
  const reader = {
    readSettings: async (bucket: string) => {
      reads += 1;
      if (bucket !== 'source') throw new Error(`unexpected bucket ${bucket}`);
      return { ...settings };
    },
  };

  beforeEach(async () => {
    p = memoryPipeline('2026-12-06T03:00:00Z');
    published.length = 0;
    reads = 0;
    settings = { lifecycle: null };
    await p.catalog.putPlans([plan({ copyRegions: [] })]);
    await putText(p, 'a.txt', 'hello');
    await startSnapshotNow(p.deps, 'photos');
    await p.drain();
  });

  const tick = async (at: string) => {
    p.clock.set(at);
    return watchSourceSettings({ ...p.deps, sourceSettings: reader }, await p.catalog.listPlans(), {
      events,
    });
  };

  it('quarantines the plan when the lifecycle gains an expiry rule, holding the snapshot before it', async () => {
    expect((await tick('2026-12-06T03:10:00Z')).watched).toEqual([
      { planId: 'photos', bucket: 'source', changed: [] },
    ]);
    expect(await tick('2026-12-06T03:11:00Z')).toMatchObject({ watched: [{ changed: [] }] });
    expect(await p.catalog.getQuarantine('photos')).toBeUndefined();

    settings = { lifecycle: canonicalJson([{ ID: 'x', Status: 'Enabled', Expiration: { Days: 1 } }]) };
    const { watched } = await tick('2026-12-06T03:12:30Z');
    expect(watched[0]?.changed).toEqual(['lifecycle']);
    expect(watched[0]?.detector?.created.map((f) => f.kind)).toEqual(['sourceSettings']);
    const q = await p.catalog.getQuarantine('photos');
    // From a minute before the change's minute: the watch reads once a minute, so the edit may be that old.
    expect(q).toMatchObject({ by: 'detector', since: '2026-12-06T03:11:00.000Z' });
    expect(q?.heldSnapshotId).toBe((await p.catalog.listSnapshots('photos'))[0]?.snapshotId);
    expect(published.map((e) => e.summary)).toEqual([
      expect.stringMatching(/lifecycle or bucket-policy changes 1 in 5 min/),
    ]);

    // The next tick sees the same rule: no new change, no new finding.
    expect((await tick('2026-12-06T03:13:00Z')).watched[0]?.changed).toEqual([]);
    expect(await p.catalog.listFindings('photos')).toHaveLength(1);
  });

  it('never takes a setting it could not read for a change, and writes only what differs', async () => {
    settings = { lifecycle: null, policy: canonicalJson({ Statement: [] }) };
    await tick('2026-12-06T03:10:00Z');
    const stored = await p.catalog.getSourceSettings('photos');
    settings = { lifecycle: null }; // the policy could not be read this time
    expect((await tick('2026-12-06T03:11:00Z')).watched[0]?.changed).toEqual([]);
    settings = { lifecycle: null, policy: canonicalJson({ Statement: [] }) };
    expect((await tick('2026-12-06T03:12:00Z')).watched[0]?.changed).toEqual([]);
    expect(await p.catalog.getSourceSettings('photos')).toEqual({
      ...stored,
      seenAt: '2026-12-06T03:12:00.000Z',
    });
    // Nothing differs from the last stored reading: nothing written.
    await tick('2026-12-06T03:13:00Z');
    expect((await p.catalog.getSourceSettings('photos'))?.seenAt).toBe('2026-12-06T03:12:00.000Z');
    expect(reads).toBe(4);
    expect((await runDetector(p.deps, 'photos')).findings).toEqual([]);
  });

  it('skips plans whose detector is disabled, and reports a bucket it cannot read without stopping', async () => {
    await p.catalog.putPlans([
      plan({ copyRegions: [] }),
      plan({ id: 'off', copyRegions: [], detector: { enabled: false } } as never),
      plan({ id: 'other', source: { bucket: 'elsewhere', prefix: '' }, copyRegions: [] }),
    ]);
    const { watched, failed } = await tick('2026-12-06T03:10:00Z');
    expect(watched.map((w) => w.planId)).toEqual(['photos']);
    expect(failed).toEqual([{ planId: 'other', reason: 'unexpected bucket elsewhere' }]);
  });
});
