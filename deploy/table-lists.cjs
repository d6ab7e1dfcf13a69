// Turns the table parameters of serverless.yml into what the template needs: captureTable's stream
// event per protected table, and the ARNs the function roles may touch. Serverless v3 variables can
// neither split a string nor loop, so serverless.yml reads this file once:
//   custom.tables: ${file(./deploy/table-lists.cjs)}
// It runs inside `osls print` / `osls package` (offline) and the embedded stack's config reader.
//
// Each stream event is serverless.yml's `custom.tableStream` (batch size, retries, bisection,
// ReportBatchItemFailures, the on-failure queue) with the stream's ARN: one event source mapping
// per protected table's stream.
'use strict';

// DynamoDB table names: 3-255 of [a-zA-Z0-9_.-].
const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
// A name pattern may end in `*` (restoreTables: the tables restore may create, by prefix).
const TABLE_PATTERN = /^[a-zA-Z0-9_.-]{1,254}\*?$/;
// arn:<partition>:dynamodb:<region>:<account>:table/<name>/stream/<label>; the label may be `*`
// locally (the embedded stack resolves it with DescribeTable), never on AWS.
const STREAM_ARN = /^arn:[a-z-]+:dynamodb:[a-z0-9-]*:[0-9]*:table\/([a-zA-Z0-9_.-]{3,255})\/stream\/[^/]+$/;

/** `'a, b,,c'` → `['a', 'b', 'c']` (no duplicates). */
function list(raw) {
  return [
    ...new Set(
      String(raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

function tableList(parameter, raw, pattern) {
  const names = list(raw);
  if (names.length === 0) throw new Error(`--param ${parameter} must name at least one table`);
  for (const name of names) {
    if (!pattern.test(name)) throw new Error(`--param ${parameter}: '${name}' is not a valid table name`);
  }
  return names;
}

const tableArn = (name) => ({
  'Fn::Sub': `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${name}`,
});
const streamsArn = (name) => ({
  'Fn::Sub': `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${name}/stream/*`,
});

module.exports = async ({ resolveVariable }) => {
  const protectedTables = tableList(
    'protectedTables',
    await resolveVariable('param:protectedTables'),
    TABLE_NAME,
  );
  const restoreTables = tableList(
    'restoreTables',
    await resolveVariable('param:restoreTables'),
    TABLE_PATTERN,
  );
  const streams = list(await resolveVariable('param:protectedTableStreams'));
  for (const arn of streams) {
    const table = STREAM_ARN.exec(arn)?.[1];
    if (!table) throw new Error(`--param protectedTableStreams: '${arn}' is not a DynamoDB stream ARN`);
    if (!protectedTables.includes(table))
      throw new Error(`--param protectedTableStreams: table '${table}' is not one of protectedTables`);
  }
  for (const name of restoreTables) {
    const prefix = name.replace(/\*$/, '');
    // A protected table named exactly is an operator's explicit choice (restore --to-original writes
    // it back); a pattern never covers one.
    const clash = protectedTables.find((t) => name.endsWith('*') && t.startsWith(prefix));
    if (clash) throw new Error(`--param restoreTables: '${name}' covers the protected table '${clash}'`);
  }
  const settings = await resolveVariable('self:custom.tableStream');
  const service = await resolveVariable('self:service');
  const stage = await resolveVariable('sls:stage');
  return {
    protectedTables,
    restoreTables,
    streamEvents: streams.map((arn) => ({ stream: { ...settings, type: 'dynamodb', arn } })),
    protectedTableArns: protectedTables.map(tableArn),
    protectedStreamArns: protectedTables.map(streamsArn),
    restoreTableArns: restoreTables.map(tableArn),
    // Restore drills of table plans restore into scratch tables of this prefix, and delete them.
    drillTableArn: tableArn(`${service}-${stage}-drill-*`),
  };
};
