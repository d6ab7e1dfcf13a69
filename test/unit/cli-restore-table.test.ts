// `strongbox restore --to-table | --to-original`: the request its options make, and its report's lines.
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseTableRestoreRequest, type TableRestoreReport } from '#domain/table/restore-request.ts';
import { formatTableRestoreReport, tableRestoreRequest } from '#local/cli/restore-table.ts';

const base = { snapshot: 'latest', overwrite: 'never', dryRun: false };

describe('tableRestoreRequest', () => {
  it('maps the flags onto a valid table restore request', () => {
    const request = tableRestoreRequest('orders', {
      ...base,
      at: '2026-12-06T02:30:00Z',
      toOriginal: true,
      key: ['customer#1/order#001', 'customer#2/order#002'],
      keyPrefix: 'customer#',
      filter: '#s = :s',
      values: '{":s":{"S":"open"}}',
      names: '{"#s":"status"}',
      overwrite: 'always',
    });
    expect(parseTableRestoreRequest(request)).toEqual({
      kind: 'table',
      plan: 'orders',
      snapshot: 'latest',
      pointInTime: '2026-12-06T02:30:00Z',
      toOriginal: true,
      select: {
        keys: ['customer#1/order#001', 'customer#2/order#002'],
        keyPrefix: 'customer#',
        filter: '#s = :s',
        values: { ':s': { S: 'open' } },
        names: { '#s': 'status' },
      },
      overwrite: 'always',
      dryRun: false,
    });
  });

  it('refuses both targets, and --values that are not JSON', () => {
    expect(() => tableRestoreRequest('orders', { ...base, toTable: 'x', toOriginal: true })).toThrow(
      InvalidArgumentError,
    );
    expect(() =>
      tableRestoreRequest('orders', { ...base, toTable: 'xyz', filter: 'a = :v', values: "{':v'}" }),
    ).toThrow(/--values is not JSON/);
  });
});

describe('formatTableRestoreReport', () => {
  const report: TableRestoreReport = {
    kind: 'table',
    planId: 'orders',
    snapshotId: 's1',
    pointInTime: '2026-12-06T02:30:00Z',
    region: 'us-east-1',
    table: 'orders-0230',
    created: true,
    toOriginal: false,
    overwrite: 'never',
    dryRun: false,
    selected: 60,
    restored: 59,
    skipped: 0,
    expired: 0,
    failed: 1,
    errors: ['1 item(s) still unprocessed after 12 attempts'],
    throttled: 14,
    seconds: 2.25,
    complete: true,
    warnings: [],
  };

  it('ends with the line the demo reads', () => {
    const lines = formatTableRestoreReport(report).split('\n');
    expect(lines.at(-1)).toBe(
      'Restored 59 of 60 items into table orders-0230 (as of 2026-12-06T02:30:00Z, base snapshot s1) in 2.3 s',
    );
    expect(lines).toContain('1 failed, 14 throttled attempt(s) retried');
    expect(lines).toContain('error: 1 item(s) still unprocessed after 12 attempts');
  });
});
