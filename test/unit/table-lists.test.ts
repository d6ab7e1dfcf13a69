// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are CloudFormation Fn::Sub templates
// deploy/table-lists.cjs: serverless.yml's table parameters → captureTable's stream events and the
// ARNs the roles may touch, refusing what would give a role a table it must not have.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

type TableLists = (options: { resolveVariable: (name: string) => Promise<unknown> }) => Promise<{
  protectedTables: string[];
  restoreTables: string[];
  streamEvents: { stream: Record<string, unknown> }[];
  protectedTableArns: unknown[];
  protectedStreamArns: unknown[];
  restoreTableArns: unknown[];
  drillTableArn: unknown;
}>;
const tableLists = createRequire(import.meta.url)('../../deploy/table-lists.cjs') as TableLists;

/** The start of the table ARNs' Fn::Sub. */
const SUB = 'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/';
const SETTINGS = { batchSize: 100, bisectBatchOnFunctionError: true };
const STREAM = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000';

function lists(params: Record<string, string>) {
  const values: Record<string, unknown> = {
    'param:protectedTables': 'orders, carts',
    'param:protectedTableStreams': '',
    'param:restoreTables': 'strongbox-dev-restore-*',
    'self:custom.tableStream': SETTINGS,
    'self:service': 'strongbox',
    'sls:stage': 'dev',
    ...Object.fromEntries(Object.entries(params).map(([k, v]) => [`param:${k}`, v])),
  };
  return tableLists({ resolveVariable: async (name) => values[name] });
}

describe('deploy/table-lists.cjs', () => {
  it('makes one stream event per stream, with serverless.yml’s settings, and the ARNs of every list', async () => {
    const out = await lists({ protectedTableStreams: ` ${STREAM} ,` });
    expect(out.protectedTables).toEqual(['orders', 'carts']);
    expect(out.streamEvents).toEqual([{ stream: { ...SETTINGS, type: 'dynamodb', arn: STREAM } }]);
    expect(out.protectedStreamArns).toEqual([
      { 'Fn::Sub': `${SUB}orders/stream/*` },
      { 'Fn::Sub': `${SUB}carts/stream/*` },
    ]);
    expect(out.drillTableArn).toEqual({
      'Fn::Sub': `${SUB}strongbox-dev-drill-*`,
    });
    expect((await lists({})).streamEvents).toEqual([]);
  });

  it('refuses a stream of a table that is not protected, and what is not a stream ARN', async () => {
    await expect(lists({ protectedTableStreams: STREAM.replace('orders', 'users') })).rejects.toThrow(
      /table 'users' is not one of protectedTables/,
    );
    await expect(
      lists({ protectedTableStreams: 'arn:aws:dynamodb:us-east-1:1:table/orders' }),
    ).rejects.toThrow(/not a DynamoDB stream ARN/);
  });

  it('refuses restore table patterns that would cover a protected table, and invalid names', async () => {
    await expect(lists({ restoreTables: 'car*' })).rejects.toThrow(/covers the protected table 'carts'/);
    await expect(lists({ protectedTables: 'a b' })).rejects.toThrow(/not a valid table name/);
    await expect(lists({ protectedTables: '' })).rejects.toThrow(/must name at least one table/);
  });

  it('lets restore write a protected table named exactly (an explicit opt-in for --to-original), never by a pattern', async () => {
    const named = await lists({ restoreTables: 'orders,strongbox-dev-restore-*' });
    expect(named.restoreTableArns).toContainEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/orders',
    });
  });
});
