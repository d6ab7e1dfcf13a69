// The in-memory filter expressions of table restores, the adaptive concurrency and the item writer.
import { describe, expect, it } from 'vitest';
import { TransientError, ValidationError } from '#domain/errors.ts';
import { compareDecimals, compileFilter, type FilterInput } from '#domain/table/filter.ts';
import type { Item } from '#domain/table/item.ts';
import { AdaptiveConcurrency, backoffMs } from '#domain/table/throttle.ts';
import { TableItemWriter } from '#domain/table/write-items.ts';
import { MemoryTableStore } from '../support/memory/table-store.ts';

const item: Item = {
  pk: { S: 'customer#42' },
  sk: { S: 'order#007' },
  status: { S: 'open' },
  total: { N: '250.50' },
  tags: { SS: ['gift', 'rush'] },
  lines: {
    L: [{ M: { sku: { S: 'A-1' }, qty: { N: '2' } } }, { M: { sku: { S: 'B-2' }, qty: { N: '1' } } }],
  },
  address: { M: { city: { S: 'Lyon' }, zip: { S: '69001' } } },
  paid: { BOOL: false },
  blob: { B: Buffer.from('hello').toString('base64') },
};

const values: FilterInput['values'] = {
  ':open': { S: 'open' },
  ':closed': { S: 'closed' },
  ':n100': { N: '100' },
  ':n250': { N: '250.5' },
  ':n1000': { N: '1e3' },
  ':cust': { S: 'customer#' },
  ':gift': { S: 'gift' },
  ':lyon': { S: 'Lyon' },
  ':two': { N: '2' },
  ':false': { BOOL: false },
  ':M': { S: 'M' },
  ':he': { B: Buffer.from('he').toString('base64') },
  ':a1': { S: 'A-1' },
};
const test = (expression: string, names?: Record<string, string>) =>
  compileFilter({ expression, values, ...(names ? { names } : {}) })(item);

describe('compileFilter', () => {
  it.each([
    ['status = :open', true],
    ['status <> :open', false],
    ['status = :closed', false],
    ['total > :n100', true],
    ['total = :n250', true], // numbers compare as numbers: 250.50 = 250.5
    ['total < :n1000', true],
    ['total >= :n1000', false],
    ['total BETWEEN :n100 AND :n1000', true],
    ['status IN (:closed, :open)', true],
    ['begins_with(pk, :cust)', true],
    ['begins_with(blob, :he)', true],
    ['contains(tags, :gift)', true],
    ['contains(status, :open)', true],
    ['attribute_exists(address.city)', true],
    ['attribute_not_exists(address.country)', true],
    ['address.city = :lyon', true],
    ['lines[0].sku = :a1', true],
    ['lines[5].sku = :a1', false],
    ['size(lines) = :two', true],
    ['size(tags) > :two', false],
    ['paid = :false', true],
    ['attribute_type(address, :M)', true],
    ['missing = :open', false],
    ['missing <> :open', true], // a missing attribute is not equal
    ['total = :open', false], // values of different types are never equal
    ['total > :open', false],
    ['NOT status = :closed AND total > :n100', true],
    ['status = :closed OR total > :n100 AND paid = :false', true], // AND binds tighter
    ['(status = :closed OR total > :n100) AND NOT paid = :false', false],
    ['STATUS = :open', false], // names are case-sensitive, keywords are not
    ['status = :open and total between :n100 and :n1000', true],
  ])('%s → %s', (expression, expected) => {
    expect(test(expression)).toBe(expected);
  });

  it('substitutes #names', () => {
    expect(test('#s = :open AND #a.#c = :lyon', { '#s': 'status', '#a': 'address', '#c': 'city' })).toBe(
      true,
    );
  });

  it.each([
    ['status = ', /expected an attribute name, found 'the end' at position 10/],
    ['status == :open', /expected an attribute name, found '=' at position 9/],
    ['status = :nope', /no value given for ':nope' at position 10/],
    ['#x = :open', /no name given for '#x' at position 1/],
    ['(status = :open', /expected '\)', found 'the end' at position 16/],
    ['status = :open)', /unexpected '\)' at position 15/],
    ['status ~ :open', /unexpected character '~' at position 8/],
    ['status :open', /expected a comparator, BETWEEN or IN, found ':open' at position 8/],
    ['total BETWEEN :n100 :n1000', /expected 'AND', found ':n1000' at position 21/],
    ['lines[x] = :a1', /expected a list index, found 'x' at position 7/],
    ['attribute_type(address, :open)', /attribute_type needs a value of S naming a type at position 25/],
    ['', /empty filter/],
  ])('refuses %j', (expression, message) => {
    const compile = () => compileFilter({ expression, values });
    expect(compile).toThrow(ValidationError);
    expect(compile).toThrow(message);
  });
});

describe('compareDecimals', () => {
  it.each([
    ['1', '1.0', 0],
    ['-1', '1', -1],
    ['10', '9', 1],
    ['0.001', '1e-3', 0],
    ['12345678901234567890123456789012345678', '12345678901234567890123456789012345677', 1],
    ['-5', '-50', 1],
    ['0', '-0', 0],
  ])('%s vs %s', (a, b, sign) => {
    expect(Math.sign(compareDecimals(a, b))).toBe(sign);
  });
});

describe('AdaptiveConcurrency', () => {
  it('halves on throttling (not below min) and grows by one per window of successes (not above max)', () => {
    const aimd = new AdaptiveConcurrency({ initial: 8, max: 10 });
    aimd.throttled();
    expect(aimd.limit).toBe(4);
    aimd.throttled();
    aimd.throttled();
    aimd.throttled();
    expect(aimd.limit).toBe(1);
    // 1 → 2 → 2.5 → 2.9 → 3.24: additive, slower as the limit grows.
    for (let i = 0; i < 3; i++) aimd.succeeded();
    expect(aimd.limit).toBe(2);
    aimd.succeeded();
    expect(aimd.limit).toBe(3);
    for (let i = 0; i < 100; i++) aimd.succeeded();
    expect(aimd.limit).toBe(10);
  });

  it('holds callers at the limit until a slot is released', async () => {
    const aimd = new AdaptiveConcurrency({ initial: 2, max: 2 });
    await aimd.acquire();
    await aimd.acquire();
    let third = false;
    const waiting = aimd.acquire().then(() => {
      third = true;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    aimd.release();
    await waiting;
    expect(third).toBe(true);
    expect(aimd.inFlight).toBe(2);
  });

  it('backs off exponentially with full jitter, capped', () => {
    expect(backoffMs(1, () => 0.999)).toBe(49);
    expect(backoffMs(4, () => 0.5)).toBe(200);
    expect(backoffMs(30, () => 0.999)).toBe(4995);
    expect(backoffMs(3, () => 0)).toBe(0);
  });
});

describe('TableItemWriter', () => {
  const schema = {
    tableName: 't1',
    region: 'us-east-1',
    key: { hash: { name: 'pk', type: 'S' as const } },
    attributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' as const }],
    globalSecondaryIndexes: [],
    localSecondaryIndexes: [],
    billingMode: 'PAY_PER_REQUEST' as const,
  };
  const items = Array.from({ length: 100 }, (_, i): Item => ({ pk: { S: `k${i}` } }));

  it('retries unprocessed writes and lowers its concurrency when throttled', async () => {
    const store = new MemoryTableStore({ unprocessed: { fraction: 0.3, seed: 3 } });
    await store.createTable(schema, 't1');
    const writer = new TableItemWriter(store, 't1', {
      mode: 'batch',
      sleep: async () => {},
      maxConcurrency: 8,
    });
    for (const i of items) await writer.add(i);
    const outcome = await writer.finish();
    expect(outcome).toMatchObject({ written: 100, failed: 0 });
    expect(outcome.throttled).toBeGreaterThan(0);
    expect(writer.concurrency.decreases).toBe(outcome.throttled);
    expect(store.itemsOf('t1')).toHaveLength(100);
  });

  it('counts as failed what stays unprocessed after its attempts, or fails for good', async () => {
    const store = new MemoryTableStore({ unprocessed: { fraction: 1 } });
    await store.createTable(schema, 't1');
    const writer = new TableItemWriter(store, 't1', { mode: 'batch', sleep: async () => {}, maxAttempts: 3 });
    for (const i of items.slice(0, 30)) await writer.add(i);
    const outcome = await writer.finish();
    expect(outcome).toMatchObject({ written: 0, failed: 30 });
    expect(store.calls.batchWrite).toBe(6); // 2 batches × 3 attempts
    expect(outcome.errors[0]).toMatch(/unprocessed after 3 attempts/);
  });

  it('retries a throttled conditional put, and keeps existing items', async () => {
    const store = new MemoryTableStore();
    await store.createTable(schema, 't1');
    store.seed('t1', [{ pk: { S: 'k1' }, old: { BOOL: true } }]);
    let throttles = 2;
    const put = store.putItem.bind(store);
    store.putItem = async (...args) => {
      if (throttles-- > 0) throw new TransientError('ProvisionedThroughputExceededException');
      return put(...args);
    };
    const writer = new TableItemWriter(store, 't1', { mode: 'ifAbsent', sleep: async () => {} });
    for (const i of items.slice(0, 3)) await writer.add(i);
    const outcome = await writer.finish();
    expect(outcome).toMatchObject({ written: 2, skipped: 1, failed: 0, throttled: 2 });
    expect(store.itemsOf('t1').find((i) => 'old' in i)).toBeDefined();
  });
});
