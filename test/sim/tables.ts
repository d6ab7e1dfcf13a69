/**
 * Table sources in the simulation (fault kind `tables`; issue 17): one DynamoDB table (the memory
 * twin) protected by two plans — `orders`, plain incrementals copied to the copy region, and `ledger`,
 * differential with a full Scan every third snapshot (`fullEvery: 3`) — and the model the checks
 * judge their snapshots by.
 *
 * The world changes items of a small key space (put new, modify, delete) at S3's clock; each change
 * is one stream record (DynamoDB JSON, a SequenceNumber increasing over the whole stream,
 * ApproximateCreationDateTime in whole seconds) that reaches `captureTableRecord` with the S3 event
 * faults where they make sense: `event-loss` (the stream's 24 hours passed: the record is never
 * delivered), `event-dup` (Lambda retries or bisects a batch: delivered again, maybe after newer
 * ones), `event-reorder` (records captured in any order and concurrently, across keys and within
 * one), and `capture-lag` (a record reaches capture up to {@link MAX_LAG_MS} after its change).
 * Capture lag stays under `settleSeconds` ({@link TABLE_SETTLE_SECONDS}): the design's assumption
 * (docs/format.md#table-snapshots, step 3; the `CaptureLag` alarm watches it), so the world never
 * lets time pass a record's deadline while it is not captured (a failing capture can still be late:
 * the checks then exempt what it touches, below).
 *
 * Invariants (checked once per committed snapshot, see {@link TableModel.judge}):
 * - `[table]`: a committed snapshot's items equal the model's table at its `time` (the cut H), key by
 *   key, except a key (a) with a change within {@link AMBIGUOUS_MS} of H (the clocks' skew and the
 *   record's whole second make its side of the cut undecidable), or (b) whose newest change by H is
 *   not journaled by H — lost, captured after H (a change within the settle window before the cut
 *   captured past it: `capturedUntil` is the cut), or written more than `settleSeconds` after its
 *   `capturedAt` — unless the snapshot's newest full Scan began after that change (it read it, and
 *   the seal keeps what it read over an older journaled change: test/unit/table-seal-older-change.test.ts);
 * - `[table-reconcile]`: a reconcile's `reconcileMissed` is the number of keys it holds unlike its
 *   parent plus the journal since the parent's horizon (less the skew) says: every lost record is
 *   repaired and counted by the next reconcile;
 * - `[table-pit]`: the table restored as of a time T between the snapshot and the one before it
 *   (`restoreTable` with `pointInTime`, into a fresh memory table) equals the model at T, key by key,
 *   for every key whose changes up to T are journaled (same exemptions as above, around T);
 * - `[table-restore]`: `restoreTable` of the snapshot into a new table writes exactly its items.
 */
import { createHash } from 'node:crypto';
import { reasonOf } from '#domain/errors.ts';
import { CLOCK_SKEW_MS, latestByKey } from '#domain/journal.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { JournalEntry, PlanRecord, SnapshotRecord } from '#domain/records.ts';
import type { TableDefinition } from '#domain/table/definition.ts';
import { canonicalItemJson, type Item, itemKeyOf } from '#domain/table/item.ts';
import { restoreTable } from '#domain/table/restore.ts';
import { type DynamoDBStreamRecord, DynamoDBStreamRecordSchema } from '#domain/table/stream.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';

/** The protected table. */
export const TABLE = 'orders';
/** The table plans' `settleSeconds`. */
export const TABLE_SETTLE_SECONDS = 30;
/** The most capture lag `capture-lag` injects, and the deadline a record is captured by: under the settle window. */
export const MAX_LAG_MS = 20_000;
/**
 * How near a cut or a point in time a change's side of it is undecidable: the functions' clock is up
 * to 5 s off S3's (`clock-skew`), a record's time is rounded down to its second, and a call takes
 * 100 ms.
 */
export const AMBIGUOUS_MS = 7_000;

export const TABLE_DEFINITION: TableDefinition = {
  tableName: TABLE,
  region: 'us-east-1',
  key: { hash: { name: 'pk', type: 'S' }, range: { name: 'sk', type: 'N' } },
  attributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'N' },
  ],
  globalSecondaryIndexes: [],
  localSecondaryIndexes: [],
  billingMode: 'PAY_PER_REQUEST',
  streamViewType: 'NEW_AND_OLD_IMAGES',
};

/** The key space: a partition key with `/` and `%` (escaped in item keys) among them. */
const ITEM_KEYS: readonly { pk: string; sk: number }[] = [
  { pk: 'a', sk: 1 },
  { pk: 'a', sk: 2 },
  { pk: 'b', sk: 1 },
  { pk: 'c/x%', sk: 1 },
  { pk: 'c/x%', sk: 10 },
  { pk: 'd', sk: 3 },
];

const keyItemOf = (k: { pk: string; sk: number }): Item => ({ pk: { S: k.pk }, sk: { N: String(k.sk) } });

/** The item keys of the key space (`itemKeyOf`). */
export const TABLE_KEYS: readonly string[] = ITEM_KEYS.map((k) =>
  itemKeyOf(keyItemOf(k), TABLE_DEFINITION.key),
);

/** The two table plans beside the bucket plans (`base`: what every simulated plan has). */
export function tablePlans(base: Record<string, unknown>, copyRegion: string): PlanRecord[] {
  const continuous = { reconcileSchedule: 'rate(2 hours)', settleSeconds: TABLE_SETTLE_SECONDS };
  return [
    {
      ...base,
      schedule: 'rate(1 hour)',
      id: 'orders',
      source: { table: TABLE },
      retention: { keepLast: 2 },
      copyRegions: [copyRegion],
      snapshot: { scanSegments: 2, maxParallelPartitions: 2 },
      continuous,
    },
    {
      ...base,
      schedule: 'rate(1 hour)',
      id: 'ledger',
      source: { table: TABLE },
      retention: { keepLast: 3 },
      copyRegions: [],
      snapshot: { scanSegments: 3, maxParallelPartitions: 2 },
      continuous: { ...continuous, fullEvery: 3, differential: true },
    },
  ] as PlanRecord[];
}

/** One change of an item, as the model keeps it. */
export interface TableChange {
  /** The stream's SequenceNumber ('' for the state the table was created with). */
  sequencer: string;
  /** S3's (and DynamoDB's) clock, ms. */
  t: number;
  /** The item's canonical JSON after the change; null: absent. */
  after: string | null;
  /** The record was never delivered (`event-loss`). */
  lost: boolean;
}

/** A stream record on its way to capture. */
export interface StreamDelivery {
  name: string;
  record: DynamoDBStreamRecord;
  /** Capture may take it from then (`capture-lag`). */
  notBefore: number;
  /** Time may not pass this while it is not captured (the settle window's assumption). */
  deadline: number;
  /** A capture of it is running. */
  running: boolean;
  attempts: number;
}

/** When and how an entry was journaled: its `capturedAt`, and when the catalog first held it (both by the functions' clock, ms). */
export interface Journaled {
  capturedAt: number;
  appendedAt: number;
}

/** What the checks need of the world. */
export interface TableCheckContext {
  /** Deps on the raw stores (no scheduling, no faults), with `tables` giving `store`. */
  deps: (store: MemoryTableStore) => PipelineDeps;
  /** The first append of a plan's entry of (key, sequencer), or undefined. */
  journaled: (planId: string, key: string, sequencer: string) => Journaled | undefined;
  /** Every append of a plan's entries: key → capturedAt (ms) of each. */
  captures: (planId: string) => ReadonlyMap<string, readonly number[]>;
  /** A plan's journal entries now. */
  journal: (planId: string) => JournalEntry[];
  /** The committed snapshot checked before (its restored contents), if any. */
  contentsOf: (planId: string, snapshotId: string) => ReadonlyMap<string, string> | undefined;
  snapshots: () => readonly SnapshotRecord[];
  count: (what: string, n?: number) => void;
}

/** What a comparison with the model is about. */
interface Basis {
  planId: string;
  /** The cut or point in time (the functions' clock, ms). */
  at: number;
  /** When the newest full Scan the contents descend from began (ms; +Infinity: unknown). */
  fullStart: number;
  /** A full snapshot: when its own Scan began. */
  scanStart?: number;
  /** The keys the parent (or base) was left out for. */
  inherited?: ReadonlyMap<string, string> | undefined;
  /** 'cut': a snapshot (journaled by the cut); 'pit': a point in time (journaled by now). */
  mode: 'cut' | 'pit';
}

/** A fraction in [0, 1) from a string (the point in time a check picks: independent of the scheduler's draws). */
function fractionOf(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0) / 4_294_967_296;
}

/** The table, its history, and its stream. */
export class TableModel {
  readonly store = new MemoryTableStore({ region: 'us-east-1' });
  /** By item key: every change, in order. */
  readonly history = new Map<string, TableChange[]>();
  /** Records not captured yet, oldest first. */
  readonly stream: StreamDelivery[] = [];
  /** When each table snapshot's newest full Scan began (ms; +Infinity: unknown), by `<plan>/<snapshot>`. */
  readonly #fullStart = new Map<string, number>();
  /**
   * The keys each judged snapshot was not judged on for an unjournaled change (key → its
   * sequencer): a snapshot built on it inherits them while that change is still the key's newest.
   */
  readonly #exempt = new Map<string, ReadonlyMap<string, string>>();
  #n = 0;
  #restores = 0;

  async setUp(pick: () => string, at: number): Promise<void> {
    await this.store.createTable(TABLE_DEFINITION, TABLE);
    for (const k of ITEM_KEYS) {
      const item = itemOf(k, pick());
      this.store.seed(TABLE, [item]);
      const key = itemKeyOf(item, TABLE_DEFINITION.key);
      this.history.set(key, [{ sequencer: '', t: at - 1, after: canonicalItemJson(item), lost: false }]);
    }
  }

  /** The key space, as `{ name, key }` for the scheduler's candidates. */
  keys(): { name: string; pk: string; sk: number; present: boolean }[] {
    return ITEM_KEYS.map((k) => {
      const name = itemKeyOf(keyItemOf(k), TABLE_DEFINITION.key);
      return { name, ...k, present: this.#items().has(name) };
    });
  }

  #items(): Map<string, Item> {
    return (this.store.tables.get(TABLE) as { items: Map<string, Item> }).items;
  }

  /**
   * Change an item (put: INSERT or MODIFY; delete: REMOVE) at `t` and emit its stream record:
   * `lost` never delivered, else once per entry of `lags` (ms of capture lag each).
   */
  change(
    k: { pk: string; sk: number },
    op: 'put' | 'delete',
    value: string,
    t: number,
    lost: boolean,
    lags: readonly number[],
  ): void {
    const keys = keyItemOf(k);
    const key = itemKeyOf(keys, TABLE_DEFINITION.key);
    const items = this.#items();
    const old = items.get(key);
    const item = op === 'put' ? itemOf(k, value) : undefined;
    // Through the store's writes (they reset its cached scan order); the memory twin applies a
    // batch before it resolves, so the table has changed when this returns.
    if (item) this.store.seed(TABLE, [item]);
    else void this.store.batchWrite(TABLE, [{ delete: keys }]);
    if (items.has(key) !== (op === 'put')) throw new Error(`the table did not take the ${op} of ${key}`);
    this.#n += 1;
    const sequencer = `4${String(this.#n).padStart(20, '0')}`;
    const arn = this.store.tables.get(TABLE)?.streamArn as string;
    const record = DynamoDBStreamRecordSchema.parse({
      eventID: `ev${this.#n}`,
      eventName: op === 'delete' ? 'REMOVE' : old ? 'MODIFY' : 'INSERT',
      eventSource: 'aws:dynamodb',
      eventVersion: '1.1',
      awsRegion: 'us-east-1',
      eventSourceARN: arn,
      dynamodb: {
        ApproximateCreationDateTime: Math.floor(t / 1000),
        Keys: keys,
        ...(item ? { NewImage: item } : {}),
        ...(old ? { OldImage: old } : {}),
        SequenceNumber: sequencer,
        SizeBytes: 100,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    });
    const list = this.history.get(key) ?? [];
    list.push({ sequencer, t, after: item ? canonicalItemJson(item) : null, lost });
    this.history.set(key, list);
    if (lost) return;
    lags.forEach((lag, i) => {
      this.stream.push({
        name: `${TABLE}/${key}@${this.#n}${i > 0 ? 'd' : ''}`,
        record,
        notBefore: t + lag,
        deadline: t + MAX_LAG_MS,
        running: false,
        attempts: 0,
      });
    });
  }

  /** The model's state of `key` at `t` (S3's clock): canonical JSON, or null. */
  newestBy(key: string, t: number): TableChange | undefined {
    return (this.history.get(key) ?? []).filter((c) => c.t <= t).at(-1);
  }

  /**
   * Judge a committed table snapshot (restored: item key → canonical JSON) once: its items at the
   * cut, its reconcile count, a point in time before it, and a restore of it into a new table.
   */
  async judge(
    s: SnapshotRecord,
    restored: ReadonlyMap<string, string>,
    ctx: TableCheckContext,
  ): Promise<string[]> {
    const id = `${s.planId}/${s.snapshotId}`;
    const parent = `${s.planId}/${s.parentSnapshotId}`;
    const full = s.mode !== 'journal';
    const scanStart = full ? Date.parse(s.startedAt ?? s.time ?? '') : Number.NaN;
    const fullStart = full ? scanStart : (this.#fullStart.get(parent) ?? Number.POSITIVE_INFINITY);
    this.#fullStart.set(id, Number.isNaN(fullStart) ? Number.POSITIVE_INFINITY : fullStart);
    const judged = this.#compare(`${id} (${s.mode ?? 'full'}, cut ${s.time})`, restored, ctx, {
      planId: s.planId,
      at: Date.parse(s.time as string),
      fullStart: this.#fullStart.get(id) as number,
      ...(full ? { scanStart } : { inherited: this.#exempt.get(parent) }),
      mode: 'cut',
    });
    this.#exempt.set(id, judged.exempt);
    const out = judged.violations.map((v) => `[table] ${v}`);
    if (s.mode === 'reconcile') out.push(...this.#reconcileCount(s, restored, ctx));
    out.push(...(await this.#restoreInto(s, restored, ctx)));
    out.push(...(await this.#pointInTime(s, ctx)));
    return out;
  }

  /**
   * Compare `contents` with the model at `basis.at`, key by key, leaving out the keys whose state
   * the design does not decide (see the module comment).
   * @returns the violations, and the keys left out for an unjournaled change (key → its sequencer).
   */
  #compare(
    what: string,
    contents: ReadonlyMap<string, string>,
    ctx: TableCheckContext,
    basis: Basis,
  ): { violations: string[]; exempt: Map<string, string> } {
    const violations: string[] = [];
    const exempt = new Map<string, string>();
    for (const key of contents.keys())
      if (!this.history.has(key)) violations.push(`${what} holds ${key}, which the table never had`);
    for (const key of TABLE_KEYS) {
      const changes = this.history.get(key) ?? [];
      if (changes.some((c) => c.sequencer !== '' && Math.abs(c.t - basis.at) <= AMBIGUOUS_MS)) {
        ctx.count(`table.${basis.mode}.ambiguous`);
        continue;
      }
      const m = this.newestBy(key, basis.at);
      const why = m && m.sequencer !== '' ? this.#undecided(key, m, basis, ctx) : undefined;
      if (why) {
        ctx.count(`table.${basis.mode}.${why}`);
        exempt.set(key, (m as TableChange).sequencer);
        continue;
      }
      const expected = m?.after ?? null;
      const got = contents.get(key) ?? null;
      if (got !== expected)
        violations.push(
          `${what} has ${key} = ${got ?? '(absent)'}, the table had ${expected ?? '(absent)'} (its change ${m?.sequencer || 'at creation'} at ${m ? new Date(m.t).toISOString() : '-'})`,
        );
      else ctx.count(`table.${basis.mode}.checked`);
    }
    return { violations, exempt };
  }

  /**
   * Why the key's newest change `m` by `basis.at` does not decide what the snapshot (or point in
   * time) holds; undefined: it does. Only an unjournaled change can fail to: one after the newest
   * full Scan began (the Scan may have read it or not); one the snapshot's parent (or a point in
   * time's base) was left out for.
   */
  #undecided(key: string, m: TableChange, basis: Basis, ctx: TableCheckContext): string | undefined {
    const why = this.#unjournaled(basis.planId, key, m, basis.at, basis.mode, ctx);
    if (!why) return undefined;
    if (m.t > basis.fullStart - AMBIGUOUS_MS) return why;
    // A lost newest change within the journal's 5-minute skew of the newest full Scan: an older
    // journaled change of the key may win over what the Scan read (a journal-built snapshot counts
    // an entry of a key its parent lacks; docs/format.md#table-snapshots, "Limits").
    if (why === 'lost' && m.t > basis.fullStart - CLOCK_SKEW_MS) return `${why}-near-scan`;
    if (basis.inherited?.get(key) === m.sequencer) return `${why}-inherited`;
    return undefined;
  }

  /** Why a change is not one the snapshot (or point in time) could hold; undefined: it could. */
  #unjournaled(
    planId: string,
    key: string,
    m: TableChange,
    at: number,
    mode: 'cut' | 'pit',
    ctx: TableCheckContext,
  ): string | undefined {
    if (m.lost) return 'lost';
    const j = ctx.journaled(planId, key, m.sequencer);
    if (!j) return 'not-captured';
    if (j.appendedAt > j.capturedAt + TABLE_SETTLE_SECONDS * 1000) return 'written-late';
    if (mode === 'cut' && j.capturedAt > at) return 'captured-after-cut';
    return undefined;
  }

  /**
   * `reconcileMissed` counts the keys the reconcile holds unlike the parent plus the journal since
   * its horizon says (the key's newest entry captured from the horizon less the skew, else the
   * parent's state); a key whose newest entry was lost before capture is not counted.
   */
  #reconcileCount(
    s: SnapshotRecord,
    restored: ReadonlyMap<string, string>,
    ctx: TableCheckContext,
  ): string[] {
    const parent = ctx.snapshots().find((x) => x.planId === s.planId && x.snapshotId === s.parentSnapshotId);
    const before = parent ? ctx.contentsOf(s.planId, parent.snapshotId) : undefined;
    if (!parent?.journalUntil || !before) return [];
    const from = Date.parse(parent.journalUntil) - CLOCK_SKEW_MS;
    const until = Date.parse(s.time as string);
    const newest = latestByKey(
      ctx
        .journal(s.planId)
        .filter((e) => Date.parse(e.capturedAt) > from && Date.parse(e.capturedAt) <= until),
    );
    let expected = 0;
    for (const key of new Set([...before.keys(), ...restored.keys(), ...newest.keys()])) {
      const change = newest.get(key);
      if (change?.outcome === 'lost-before-capture') continue;
      const says =
        change === undefined
          ? (before.get(key) ?? null)
          : change.outcome === 'removed'
            ? null
            : canonicalItemJson(change.item as Item);
      if (says !== (restored.get(key) ?? null)) expected += 1;
    }
    ctx.count('table.reconcileMissed', s.reconcileMissed ?? 0);
    if ((s.reconcileMissed ?? -1) === expected) return [];
    return [
      `[table-reconcile] ${s.planId}/${s.snapshotId} records reconcileMissed ${s.reconcileMissed ?? '(none)'}, but it holds ${expected} key(s) unlike its parent ${parent.snapshotId} plus the journal since its horizon`,
    ];
  }

  /** Restore the snapshot into a new (memory) table: exactly its items. */
  async #restoreInto(
    s: SnapshotRecord,
    restored: ReadonlyMap<string, string>,
    ctx: TableCheckContext,
  ): Promise<string[]> {
    const store = new MemoryTableStore({ region: 'us-east-1' });
    const table = `check-${++this.#restores}`;
    try {
      const report = await restoreTable(
        ctx.deps(store),
        { plan: s.planId, snapshot: s.snapshotId, toTable: table },
        { sleep: async () => {}, random: () => 0 },
      );
      const got = itemsOf(store, table);
      ctx.count('table.restores');
      if (report.failed > 0 || !sameMap(got, restored))
        return [
          `[table-restore] ${s.planId}/${s.snapshotId} restored into a new table holds ${got.size} item(s) (${report.failed} failed), the snapshot ${restored.size}${firstDifference(got, restored)}`,
        ];
      return [];
    } catch (error) {
      return [
        `[table-restore] ${s.planId}/${s.snapshotId} does not restore into a new table: ${reasonOf(error)}`,
      ];
    }
  }

  /** The table as of a time between the snapshot before `s` and `s`, by restoreTable's point in time. */
  async #pointInTime(s: SnapshotRecord, ctx: TableCheckContext): Promise<string[]> {
    const end = Date.parse(s.time as string);
    const before = ctx
      .snapshots()
      .filter((x) => x.planId === s.planId && x.status === 'COMMITTED' && x.time && Date.parse(x.time) < end)
      .map((x) => Date.parse(x.time as string))
      .sort((a, b) => a - b)
      .at(-1);
    if (before === undefined) return [];
    const at = before + Math.floor(fractionOf(`${s.planId}/${s.snapshotId}`) * (end - before));
    const store = new MemoryTableStore({ region: 'us-east-1' });
    const table = `pit-${++this.#restores}`;
    const iso = new Date(at).toISOString();
    let base: string;
    try {
      const report = await restoreTable(
        ctx.deps(store),
        { plan: s.planId, pointInTime: iso, toTable: table },
        { sleep: async () => {}, random: () => 0 },
      );
      base = report.snapshotId;
    } catch (error) {
      return [`[table-pit] ${s.planId} as of ${iso} does not restore: ${reasonOf(error)}`];
    }
    ctx.count('table.pit');
    const judged = this.#compare(`${s.planId} as of ${iso} (base ${base})`, itemsOf(store, table), ctx, {
      planId: s.planId,
      at,
      fullStart: this.#fullStart.get(`${s.planId}/${base}`) ?? Number.POSITIVE_INFINITY,
      inherited: this.#exempt.get(`${s.planId}/${base}`),
      mode: 'pit',
    });
    return judged.violations.map((v) => `[table-pit] ${v}`);
  }
}

/** An item of the key space with a value (a string set, unsorted, on some: canonical JSON sorts it). */
function itemOf(k: { pk: string; sk: number }, value: string): Item {
  return {
    ...keyItemOf(k),
    v: { S: value },
    n: { N: String(value.length * 1.5) },
    ...(value.length % 2 === 0 ? { tags: { SS: ['z', value] } } : { m: { M: { at: { S: value } } } }),
  };
}

/** A memory table's items: item key → canonical JSON. */
function itemsOf(store: MemoryTableStore, table: string): Map<string, string> {
  return new Map(
    store.itemsOf(table).map((item) => [itemKeyOf(item, TABLE_DEFINITION.key), canonicalItemJson(item)]),
  );
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function firstDifference(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): string {
  for (const k of new Set([...a.keys(), ...b.keys()]))
    if (a.get(k) !== b.get(k))
      return `: ${k} is ${a.get(k) ?? '(absent)'} there, ${b.get(k) ?? '(absent)'} in the snapshot`;
  return '';
}
