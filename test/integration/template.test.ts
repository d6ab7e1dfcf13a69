// The deployment, as a security reviewer and an operator read it: runs the real `npm run package`
// (offline) for two stages with different parameters and checks the CloudFormation it writes —
// least privilege per function against an allow-list, encryption, TLS-only buckets, the vault's
// Object Lock, queues and their DLQs, alarms, the dashboard, outputs — and the copy region's
// template (deploy/copy-vault.yml) against it.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS, METRICS_SERVICE } from '#runtime/metrics.ts';
import {
  asList,
  type Bindings,
  evaluate,
  grants,
  pseudoParameters,
  type Resource,
  readYaml,
  roleStatements,
  type Statement,
  type Template,
} from '../support/cloudformation.ts';
import { type Packaged, PROJECT_ROOT, runPackage } from '../support/package.ts';

const ACCOUNT = '123456789012';
const FUNCTIONS = [
  'scheduler',
  'capture',
  'captureTable',
  'snapshot',
  'copy',
  'verify',
  'prune',
  'restore',
  'restoreWorker',
  'drill',
  'browse',
] as const;
type FunctionName = (typeof FUNCTIONS)[number];
const logicalId = (fn: string) => fn.charAt(0).toUpperCase() + fn.slice(1);

interface Case {
  stage: string;
  region: string;
  copyRegion: string;
  protectedBuckets: string[];
  restoreBuckets: string[];
  /** DynamoDB tables plans may protect, the streams captureTable hears, the tables restore may write. */
  protectedTables: string[];
  protectedTableStreams: string[];
  restoreTables: string[];
  /** Where restore drills write their scratch copies. */
  drillBucket: string;
  rpoMinutes: number;
  captureLagSeconds: number;
  alarmEmail: string;
  /** The functions' Object Lock and pack storage class settings ('' = none). */
  objectLockMode: string;
  objectLockDays: string;
  packStorageClasses: string;
  /** The one role that may change, disable, delete or replicate the stage's keys. */
  keyCustodianArn: string;
  args: string[];
}

const CASES: Case[] = [
  {
    // serverless.yml's defaults
    stage: 'dev',
    region: 'us-east-1',
    copyRegion: 'eu-west-1',
    protectedBuckets: ['strongbox-dev-source'],
    restoreBuckets: ['strongbox-dev-restore'],
    protectedTables: ['strongbox-dev-source-table'],
    protectedTableStreams: [],
    restoreTables: ['strongbox-dev-restore-*'],
    drillBucket: 'strongbox-dev-restore',
    rpoMinutes: 1440,
    captureLagSeconds: 900,
    alarmEmail: '',
    objectLockMode: '',
    objectLockDays: '',
    packStorageClasses: '',
    keyCustodianArn: `arn:aws:iam::${ACCOUNT}:role/strongbox-dev-key-custodian`,
    args: ['--stage', 'dev'],
  },
  {
    stage: 'prod',
    region: 'us-west-2',
    copyRegion: 'eu-central-1',
    protectedBuckets: ['photos-prod', 'logs-prod'],
    restoreBuckets: ['photos-restored'],
    protectedTables: ['orders-prod', 'carts-prod'],
    protectedTableStreams: [
      `arn:aws:dynamodb:us-west-2:${ACCOUNT}:table/orders-prod/stream/2026-01-01T00:00:00.000`,
      `arn:aws:dynamodb:us-west-2:${ACCOUNT}:table/carts-prod/stream/2026-02-01T00:00:00.000`,
    ],
    restoreTables: ['orders-restored', 'strongbox-prod-restore-*'],
    drillBucket: 'photos-drills',
    rpoMinutes: 120,
    captureLagSeconds: 300,
    alarmEmail: 'ops@example.com',
    objectLockMode: 'COMPLIANCE',
    objectLockDays: '35',
    packStorageClasses: 'eu-central-1=GLACIER_IR',
    // A break-glass role in a separate security account
    keyCustodianArn: 'arn:aws:iam::999988887777:role/security/strongbox-break-glass',
    args: [
      '--stage',
      'prod',
      '--region',
      'us-west-2',
      '--param',
      'copyRegion=eu-central-1',
      '--param',
      'protectedBuckets=photos-prod, logs-prod',
      '--param',
      'restoreBuckets=photos-restored',
      '--param',
      'protectedTables=orders-prod, carts-prod',
      '--param',
      `protectedTableStreams=arn:aws:dynamodb:us-west-2:${ACCOUNT}:table/orders-prod/stream/2026-01-01T00:00:00.000,arn:aws:dynamodb:us-west-2:${ACCOUNT}:table/carts-prod/stream/2026-02-01T00:00:00.000`,
      '--param',
      'restoreTables=orders-restored,strongbox-prod-restore-*',
      '--param',
      'drillBucket=photos-drills',
      '--param',
      'rpoMinutes=120',
      '--param',
      'captureLagSeconds=300',
      '--param',
      'alarmEmail=ops@example.com',
      '--param',
      'objectLockMode=COMPLIANCE',
      '--param',
      'objectLockDays=35',
      '--param',
      'packStorageClasses=eu-central-1=GLACIER_IR',
      '--param',
      'keyCustodianArn=arn:aws:iam::999988887777:role/security/strongbox-break-glass',
    ],
  },
];

/** Exactly what each function's role may do: `"action resource"`, resources evaluated. */
function allowList(c: Case): Record<FunctionName, string[]> {
  const table = '<StateTable.Arn>';
  const key = '<VaultKey.Arn>';
  const vault = '<VaultBucket.Arn>';
  const vaultObjects = '<VaultBucket.Arn>/*';
  const copyVault = `arn:aws:s3:::strongbox-${c.stage}-vault-${ACCOUNT}-${c.copyRegion}`;
  const copyVaultObjects = `${copyVault}/*`;
  const copyKey = `arn:aws:kms:${c.copyRegion}:${ACCOUNT}:key/<VaultKey>`;
  /** Write-only keys: writers fetch its public key, readers alone Decrypt (docs/format.md#keyring). */
  const contentKey = '<ContentKey.Arn>';
  /** Its replica in the copy region (deploy/copy-vault.yml): blobs there open through a primary outage. */
  const copyContentKey = `arn:aws:kms:${c.copyRegion}:${ACCOUNT}:key/<ContentKey>`;
  /** The layout's prefixes of a vault bucket ARN (docs/format.md#layout): what its writers may write. */
  const under = (bucket: string, ...prefixes: string[]) => prefixes.map((p) => `${bucket}/${p}/*`);
  const layout = ['packs', 'index', 'parts', 'manifests', 'keys'];
  const sources = c.protectedBuckets.map((b) => `arn:aws:s3:::${b}`);
  const tableArn = (name: string) => `arn:aws:dynamodb:${c.region}:${ACCOUNT}:table/${name}`;
  const protectedTables = c.protectedTables.map(tableArn);
  const restoreTables = c.restoreTables.map(tableArn);
  const g = (actions: string[], resources: string[]) =>
    actions.flatMap((a) => resources.map((r) => `${a} ${r}`));
  const logs = (fn: string) =>
    g(['logs:CreateLogStream', 'logs:PutLogEvents'], [`<${logicalId(fn)}LogGroup.Arn>`]);
  const poll = (queue: string) =>
    g(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'], [`<${queue}.Arn>`]);
  const send = (...queues: string[]) =>
    g(
      ['sqs:SendMessage'],
      queues.map((q) => `<${q}.Arn>`),
    );
  /** Restore and its workers: read both vaults (and ask for archived blobs), write only the restore buckets. */
  const readVaultsWriteRestoreTargets = [
    // Table restores: create the target table and write items; never a Scan, never a protected table.
    ...g(
      [
        'dynamodb:BatchWriteItem',
        'dynamodb:PutItem',
        'dynamodb:CreateTable',
        'dynamodb:DescribeTable',
        // DescribeTable and DescribeTimeToLive: the adapter's describe (does the target exist?).
        'dynamodb:DescribeTimeToLive',
        'dynamodb:UpdateTimeToLive',
      ],
      restoreTables,
    ),
    ...g(['s3:ListBucket'], [vault, copyVault]),
    ...g(['s3:GetObject'], [vaultObjects, copyVaultObjects]),
    ...g(['kms:Decrypt'], [key, copyKey]),
    ...g(['kms:Decrypt'], [contentKey, copyContentKey]),
    ...g(['s3:RestoreObject'], [vaultObjects, copyVaultObjects]),
    ...g(
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      c.restoreBuckets.map((b) => `arn:aws:s3:::${b}/*`),
    ),
    ...g(
      ['s3:GetObject'],
      c.restoreBuckets.map((b) => `arn:aws:s3:::${b}/*`),
    ),
    ...g(
      ['s3:ListBucket'],
      c.restoreBuckets.map((b) => `arn:aws:s3:::${b}`),
    ),
  ];
  return {
    scheduler: [
      ...logs('scheduler'),
      ...g(
        [
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:BatchGetItem',
          'dynamodb:DeleteItem',
        ],
        [table],
      ),
      // The reaper re-drives snapshot, copy, verify and prune tasks, restore slices and drills of dead
      // workers (Query and UpdateItem: a restore job's done slices and its conditional redrive mark).
      ...send('SnapshotQueue', 'CopyQueue', 'VerifyQueue', 'PruneQueue', 'DrillQueue', 'RestoreQueue'),
      // The detector's settings watch: each protected bucket's lifecycle rules and policy, read only,
      // and its findings announced on the default event bus.
      ...g(['s3:GetLifecycleConfiguration', 's3:GetBucketPolicy'], sources),
      ...g(['events:PutEvents'], [`arn:aws:events:${c.region}:${ACCOUNT}:event-bus/default`]),
    ],
    // Capture stores uploads: reads protected objects (exact versions), writes packs and index documents.
    capture: [
      ...logs('capture'),
      // GetItem, UpdateItem: the detector's counts and findings, and the quarantine it places.
      ...g(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [table]),
      // The detector: did an uploaded key exist in the newest snapshot (its manifest root and parts)?
      ...g(['s3:GetObject'], [`${vault}/manifests/*`, `${vault}/parts/*`]),
      // The detector announces new findings on the default event bus.
      ...g(['events:PutEvents'], [`arn:aws:events:${c.region}:${ACCOUNT}:event-bus/default`]),
      ...g(
        ['s3:GetObject', 's3:GetObjectVersion'],
        sources.map((s) => `${s}/*`),
      ),
      ...g(['s3:ListBucket'], [vault]),
      // keys/: the key documents (docs/format.md#keyring) of the data keys it reads and issues.
      ...g(['s3:GetObject'], [`${vault}/index/*`, `${vault}/keys/*`]),
      ...g(
        ['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload'],
        [`${vault}/packs/*`, `${vault}/index/*`, `${vault}/keys/*`],
      ),
      ...g(['kms:GenerateDataKey', 'kms:Decrypt'], [key]),
      ...g(['kms:GetPublicKey'], [contentKey]),
      // Lambda sends an event capture failed for good to its on-failure queue as this role.
      ...send('CaptureFailureQueue'),
    ],
    // Table capture: the protected tables' streams (read by Lambda's event source mapping as this
    // role), their key schema and items, the journal; poison records and failed batches to the queue.
    captureTable: [
      ...logs('captureTable'),
      ...g(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [table]),
      ...g(
        [
          'dynamodb:DescribeStream',
          'dynamodb:GetRecords',
          'dynamodb:GetShardIterator',
          'dynamodb:ListStreams',
        ],
        protectedTables.map((t) => `${t}/stream/*`),
      ),
      // The key schema: the adapter's describe is DescribeTable and DescribeTimeToLive.
      ...g(['dynamodb:DescribeTable', 'dynamodb:DescribeTimeToLive', 'dynamodb:GetItem'], protectedTables),
      ...send('CaptureFailureQueue'),
    ],
    snapshot: [
      ...logs('snapshot'),
      // Table plans: a parallel Scan of a protected table, its definition and TTL; never a write.
      ...g(['dynamodb:Scan', 'dynamodb:DescribeTable', 'dynamodb:DescribeTimeToLive'], protectedTables),
      // PutItem: a partition's summary, in the transaction that counts it, and its checkpoint.
      // DeleteItem: a checkpoint's replaced chunks, and a partition reset. UpdateItem: also the
      // sealer's hold on the vault (acquireVaultHold/releaseVaultHold), from its part check to its commit.
      // PutItem also: a first listing's legs. BatchWriteItem: overflow items of long lists (a partition
      // plan's or a listing leg's boundaries, a partition summary's parts).
      ...g(
        [
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:BatchWriteItem',
        ],
        [table],
      ),
      ...g(['s3:ListBucket'], sources),
      ...g(
        ['s3:GetObject'],
        sources.map((s) => `${s}/*`),
      ),
      ...g(['s3:ListBucket'], [vault]),
      ...g(['s3:GetObject'], [vaultObjects]),
      // PutObjectRetention: a PUT with Object Lock headers needs it. Only the layout's prefixes.
      ...g(['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload'], under(vault, ...layout)),
      ...g(['kms:GenerateDataKey', 'kms:Decrypt'], [key]),
      ...g(['kms:GetPublicKey'], [contentKey]),
      ...poll('SnapshotQueue'),
      // Its own queue: partitions, and a partition's continuation.
      ...send('SnapshotQueue', 'CopyQueue', 'VerifyQueue', 'SnapshotDLQ'),
    ],
    copy: [
      ...logs('copy'),
      // Query, BatchWriteItem: a copy rescues its packs from the region's GC marks. UpdateItem: also
      // its hold on the region's vault (acquireVaultHold/releaseVaultHold), which no GC run overlaps.
      ...g(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'], [table]),
      ...g(['s3:ListBucket'], [vault, copyVault]),
      ...g(['s3:GetObject'], [vaultObjects, copyVaultObjects]),
      ...g(['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload'], under(copyVault, ...layout)),
      ...g(['kms:GenerateDataKey', 'kms:Decrypt'], [key]),
      ...g(['kms:GenerateDataKey', 'kms:Decrypt'], [copyKey]),
      ...g(['kms:GetPublicKey'], [contentKey]),
      ...poll('CopyQueue'),
      ...send('VerifyQueue', 'CopyDLQ'),
    ],
    verify: [
      ...logs('verify'),
      ...g(['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table]),
      ...g(['s3:ListBucket'], [vault, copyVault]),
      ...g(['s3:GetObject'], [vaultObjects, copyVaultObjects]),
      ...g(['kms:Decrypt'], [key, copyKey]),
      ...g(['kms:Decrypt'], [contentKey, copyContentKey]),
      ...poll('VerifyQueue'),
      ...send('PruneQueue', 'VerifyQueue', 'VerifyDLQ'),
    ],
    prune: [
      ...logs('prune'),
      // PutItem: the per-vault GC lease; BatchWriteItem: GC marks, and journal expiry's deletes
      // (after a Query of the plan's journal by time).
      ...g(
        [
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:BatchWriteItem',
        ],
        [table],
      ),
      ...g(['s3:ListBucket'], [vault, copyVault]),
      // Put: index documents rewritten without the packs garbage collection deletes.
      ...g(['s3:GetObject'], [vaultObjects, copyVaultObjects]),
      // Writes only packs (repacks), index documents (rewrites) and the key documents of the data
      // keys it seals them with: never a part or a root.
      ...g(
        ['s3:PutObject', 's3:AbortMultipartUpload'],
        [...under(vault, 'packs', 'index', 'keys'), ...under(copyVault, 'packs', 'index', 'keys')],
      ),
      // Deletes what garbage collection deletes: never a key document.
      ...g(
        ['s3:DeleteObject'],
        [
          ...under(vault, 'packs', 'index', 'parts', 'manifests'),
          ...under(copyVault, 'packs', 'index', 'parts', 'manifests'),
        ],
      ),
      // Object Lock: read retain-until dates, extend those of documents kept snapshots reference.
      ...g(['s3:GetObjectRetention', 's3:PutObjectRetention'], [vaultObjects, copyVaultObjects]),
      ...g(['kms:GenerateDataKey', 'kms:Decrypt'], [key]),
      ...g(['kms:GenerateDataKey', 'kms:Decrypt'], [copyKey]),
      ...g(['kms:GetPublicKey'], [contentKey]),
      ...poll('PruneQueue'),
      ...send('PruneDLQ'),
    ],
    restore: [
      ...logs('restore'),
      // PutItem: a fanned-out restore's job record (and its slice counts, when cut by bytes); its
      // slices go to the restore queue (SendMessageBatch, which sqs:SendMessage allows).
      ...g(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'], [table]),
      ...send('RestoreQueue'),
      ...readVaultsWriteRestoreTargets,
    ],
    // Slices of restore jobs: what restore may do with vaults and targets, no job creation, no delete.
    restoreWorker: [
      ...logs('restoreWorker'),
      // Query: a point-in-time slice re-reads the journal up to its job's capture horizon.
      ...g(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:PutItem'], [table]),
      ...readVaultsWriteRestoreTargets,
      ...poll('RestoreQueue'),
      // A slice whose one large object paused between upload parts sends itself on (resumable restore).
      ...send('RestoreQueue'),
      ...send('RestoreDLQ'),
    ],
    // Restore drills: read the vaults, write and delete scratch copies under one prefix of one bucket.
    drill: [
      ...logs('drill'),
      ...g(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:PutItem'], [table]),
      ...g(['s3:ListBucket'], [vault, copyVault]),
      ...g(['s3:GetObject'], [vaultObjects, copyVaultObjects]),
      ...g(['kms:Decrypt'], [key, copyKey]),
      ...g(['kms:Decrypt'], [contentKey, copyContentKey]),
      ...g(['s3:PutObject', 's3:DeleteObject'], [`arn:aws:s3:::${c.drillBucket}/strongbox-drill/*`]),
      // Drills of table plans: scratch tables of one prefix, created, written, read back, deleted.
      ...g(
        [
          'dynamodb:CreateTable',
          'dynamodb:DeleteTable',
          'dynamodb:BatchWriteItem',
          'dynamodb:GetItem',
          'dynamodb:DescribeTable',
        ],
        [tableArn(`strongbox-${c.stage}-drill-*`)],
      ),
      ...poll('DrillQueue'),
      ...send('DrillDLQ'),
    ],
    // ls, diff and find for an operator (--stage): read the catalog and the vaults, open them; nothing else.
    browse: [
      ...logs('browse'),
      ...g(['dynamodb:GetItem', 'dynamodb:Query'], [table]),
      ...g(['s3:ListBucket'], [vault, copyVault]),
      ...g(['s3:GetObject'], [vaultObjects, copyVaultObjects]),
      ...g(['kms:Decrypt'], [key, copyKey]),
      ...g(['kms:Decrypt'], [contentKey, copyContentKey]),
    ],
  };
}

/** Key administration must not include any use of the key (or a way to hand one out). */
const KEY_USE = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GenerateDataKeyPair',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:CreateGrant',
];

/** Only captureTable reads streams; protected tables are only read; restore tables are never scanned. */
function expectTableGrantApart(c: Case, fn: FunctionName, grant: string): void {
  const tableArn = (name: string) => `arn:aws:dynamodb:${c.region}:${ACCOUNT}:table/${name}`;
  const [action, resource] = grant.split(' ') as [string, string];
  const onProtected = c.protectedTables.some(
    (name) => resource === tableArn(name) || resource.startsWith(`${tableArn(name)}/`),
  );
  if (onProtected) expect(TABLE_READS.has(action), `${fn}: ${grant}`).toBe(true);
  if (/^dynamodb:(DescribeStream|GetRecords|GetShardIterator|ListStreams)$/.test(action))
    expect(fn, grant).toBe('captureTable');
  if (c.restoreTables.some((name) => resource === tableArn(name)))
    expect(action, `${fn}: ${grant}`).not.toBe('dynamodb:Scan');
  // Every table grant names the state table, or a protected, restore or scratch table: no '*' table.
  if (action.startsWith('dynamodb:')) expect(resource, `${fn}: ${grant}`).not.toMatch(/:table\/\*/);
}

/** What a role may do on a protected table: read it, its definition and its stream; never write. */
const TABLE_READS = new Set([
  'dynamodb:DescribeTable',
  'dynamodb:DescribeTimeToLive',
  'dynamodb:Scan',
  'dynamodb:GetItem',
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:ListStreams',
]);

const packaged: Record<string, Packaged> = {};

beforeAll(async () => {
  for (const c of CASES) packaged[c.stage] = await runPackage(c.args);
}, 600_000);

afterAll(async () => {
  for (const p of Object.values(packaged)) await p.dispose();
});

const resourcesOf = (t: Template, type: string) =>
  Object.entries(t.Resources).filter(([, r]) => r.Type === type) as [string, Resource][];

/** The role of a function, by the Lambda function's `Role: !GetAtt <X>.Arn`. */
function roleOf(t: Template, fn: string, b: Bindings): [string, Resource] {
  const lambda = t.Resources[`${logicalId(fn)}LambdaFunction`];
  expect(lambda?.Type, `${fn} Lambda function`).toBe('AWS::Lambda::Function');
  const arn = evaluate(lambda?.Properties?.Role, b) as string;
  const id = /^<(\w+)\.Arn>$/.exec(arn)?.[1];
  expect(id, `${fn}'s role is a role of this stack`).toBeDefined();
  const role = t.Resources[id as string];
  expect(role?.Type).toBe('AWS::IAM::Role');
  return [id as string, role as Resource];
}

/** A function's environment variables, evaluated. */
function envOf(t: Template, fn: string, b: Bindings): Record<string, string> {
  const environment = t.Resources[`${logicalId(fn)}LambdaFunction`]?.Properties?.Environment as
    | { Variables?: unknown }
    | undefined;
  return evaluate(environment?.Variables ?? {}, b) as Record<string, string>;
}

function roleArn(role: Resource, b: Bindings): string {
  return `arn:aws:iam::${ACCOUNT}:role/${evaluate(role.Properties?.RoleName, b)}`;
}

/** Statements of every identity policy in the template (inline in roles, or standalone). */
function identityStatements(t: Template, b: Bindings): [string, Statement[]][] {
  return Object.entries(t.Resources).flatMap(([id, r]): [string, Statement[]][] => {
    if (r.Type === 'AWS::IAM::Role') return [[id, roleStatements(r, b)]];
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      const doc = r.Properties?.PolicyDocument as { Statement: unknown };
      return [[id, asList(evaluate(doc.Statement, b) as Statement[])]];
    }
    return [];
  });
}

/** Which principals (role ARNs) a key policy lets use the key, by action. */
function keyUse(keyPolicy: unknown, b: Bindings): Record<string, string[]> {
  const statements = asList((evaluate(keyPolicy, b) as { Statement: Statement[] }).Statement);
  const use: Record<string, string[]> = {};
  for (const s of statements) {
    const actions = asList(s.Action);
    if (s.Effect !== 'Allow' || !actions.some((a) => KEY_USE.includes(a))) continue;
    const principal = (s.Principal as { AWS?: unknown; Service?: unknown }) ?? {};
    if (principal.Service) continue; // a service principal: checked where it is expected
    // Use is delegated to the account's IAM only for the named function roles.
    expect(principal.AWS, `${s.Sid}: principal`).toBe(`arn:aws:iam::${ACCOUNT}:root`);
    const roles = asList(s.Condition?.ArnEquals?.['aws:PrincipalArn'] as string | string[] | undefined);
    expect(roles.length, `${s.Sid}: limited to named roles`).toBeGreaterThan(0);
    // Besides the roles, a statement may narrow use further (an EncryptionContext, S3, no context).
    expect(Object.keys(s.Condition ?? {})[0]).toBe('ArnEquals');
    for (const k of Object.keys(s.Condition ?? {}).slice(1)) expect(['StringEquals', 'Null']).toContain(k);
    for (const a of actions) use[a] = [...new Set([...(use[a] ?? []), ...roles])].sort();
  }
  return use;
}

/**
 * A vault key's policy binds every data key the functions make to the vault (docs/format.md#keyring):
 * each statement letting a role GenerateDataKey or Decrypt requires the EncryptionContext
 * `strongbox:vault` = `vaultName`, or is S3's own use for SSE-KMS (`kms:ViaService`), or (Decrypt
 * alone) opens data keys wrapped before contexts, which carry none.
 */
function expectBoundToVault(keyPolicy: unknown, b: Bindings, vaultName: string, region: string): void {
  const statements = asList((evaluate(keyPolicy, b) as { Statement: Statement[] }).Statement);
  const conditions = statements
    .filter((s) => asList(s.Action).some((a) => a === 'kms:GenerateDataKey' || a === 'kms:Decrypt'))
    .map((s) => ({ actions: asList(s.Action), rest: { ...s.Condition, ArnEquals: undefined } }));
  const bound = { StringEquals: { 'kms:EncryptionContext:strongbox:vault': vaultName } };
  const viaS3 = { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` } };
  const noContext = { Null: { 'kms:EncryptionContextKeys': 'true' } };
  for (const { actions, rest } of conditions) {
    const narrowed = JSON.parse(JSON.stringify(rest)) as unknown;
    if (actions.includes('kms:GenerateDataKey')) expect([bound, viaS3]).toContainEqual(narrowed);
    else expect([bound, viaS3, noContext]).toContainEqual(narrowed);
  }
  for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
    const kinds = conditions.filter((c) => c.actions.includes(action)).map((c) => JSON.stringify(c.rest));
    expect(kinds, action).toContain(JSON.stringify(bound));
  }
}

/** Which function roles the identity policies let use a key, by action. */
function roleKeyUse(t: Template, b: Bindings, keyArn: string): Record<string, string[]> {
  const use: Record<string, string[]> = {};
  for (const fn of FUNCTIONS) {
    const [, role] = roleOf(t, fn, b);
    for (const grant of grants(roleStatements(role, b))) {
      const [action, resource] = grant.split(' ') as [string, string];
      if (resource === keyArn) use[action] = [...(use[action] ?? []), roleArn(role, b)].sort();
    }
  }
  return use;
}

/** What could grant any use of a key, or destroy it: the key custodian's alone (README, "Key custody"). */
const KEY_CUSTODY = [
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:PutKeyPolicy',
  'kms:ReplicateKey',
  'kms:ScheduleKeyDeletion',
  'kms:UpdatePrimaryRegion',
];

/**
 * A key's policy: the account's administrators may administer it but neither use it nor do what
 * {@link KEY_CUSTODY} lists, which only `custodian` may (`custody`: those that apply to the key).
 */
function expectKeyAdministration(
  keyPolicy: unknown,
  b: Bindings,
  custodian: string,
  custody: string[] = KEY_CUSTODY,
): void {
  const statements = asList((evaluate(keyPolicy, b) as { Statement: Statement[] }).Statement);
  for (const s of statements) {
    expect(
      asList(s.Action).filter((a) => a.includes('*')),
      `${s.Sid}: wildcard actions`,
    ).toEqual([]);
    // In a key policy "*" is the key itself: AWS requires exactly that.
    expect(s.Resource).toBe('*');
  }
  const admin = statements.find((s) => s.Sid === 'KeyAdministration');
  expect(admin?.Principal).toEqual({ AWS: `arn:aws:iam::${ACCOUNT}:root` });
  expect(asList(admin?.Action).filter((a) => KEY_USE.includes(a))).toEqual([]);
  for (const s of statements.filter((s) => s.Sid !== 'KeyCustody'))
    expect(
      asList(s.Action).filter((a) => KEY_CUSTODY.includes(a)),
      `${s.Sid}: custody`,
    ).toEqual([]);
  const custodyStatement = statements.find((s) => s.Sid === 'KeyCustody');
  expect(custodyStatement?.Effect).toBe('Allow');
  expect(custodyStatement?.Principal).toEqual({ AWS: `arn:aws:iam::${custodian.split(':')[4]}:root` });
  expect(custodyStatement?.Condition).toEqual({ ArnEquals: { 'aws:PrincipalArn': custodian } });
  expect(asList(custodyStatement?.Action).sort()).toEqual([...custody].sort());
}

function expectHardenedBucket(t: Template, id: string, b: Bindings): void {
  const bucket = t.Resources[id];
  const p = bucket?.Properties ?? {};
  expect(p.PublicAccessBlockConfiguration, `${id}: Block Public Access`).toEqual({
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  const sse = (
    p.BucketEncryption as
      | {
          ServerSideEncryptionConfiguration?: { ServerSideEncryptionByDefault?: { SSEAlgorithm?: string } }[];
        }
      | undefined
  )?.ServerSideEncryptionConfiguration?.[0]?.ServerSideEncryptionByDefault?.SSEAlgorithm;
  expect(['aws:kms', 'AES256'], `${id}: default encryption`).toContain(sse);
  const arns = [`<${id}.Arn>`, `arn:aws:s3:::<${id}>`];
  const tlsOnly = resourcesOf(t, 'AWS::S3::BucketPolicy')
    .filter(([, policy]) => evaluate(policy.Properties?.Bucket, b) === `<${id}>`)
    .flatMap(([, policy]) =>
      asList(
        evaluate(
          (policy.Properties?.PolicyDocument as { Statement?: unknown } | undefined)?.Statement,
          b,
        ) as Statement[],
      ),
    )
    .filter(
      (s) =>
        s.Effect === 'Deny' &&
        (s.Principal === '*' || (s.Principal as { AWS?: unknown })?.AWS === '*') &&
        asList(s.Action).includes('s3:*') &&
        String(s.Condition?.Bool?.['aws:SecureTransport']) === 'false',
    );
  expect(tlsOnly.length, `${id}: a TLS-only bucket policy`).toBeGreaterThan(0);
  const covered = tlsOnly.flatMap((s) => asList(s.Resource));
  expect(
    arns.some((arn) => covered.includes(arn)),
    `${id}: TLS-only covers the bucket`,
  ).toBe(true);
  expect(
    arns.some((arn) => covered.includes(`${arn}/*`)),
    `${id}: TLS-only covers its objects`,
  ).toBe(true);
}

function expectVault(t: Template, id: string, keyArn: string): void {
  const vault = t.Resources[id];
  const p = vault?.Properties ?? {};
  expect(p.ObjectLockEnabled, `${id}: Object Lock`).toBe(true);
  expect(p.ObjectLockConfiguration, `${id}: no default retention (a later decision)`).toBeUndefined();
  expect(p.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  expect(p.BucketEncryption).toMatchObject({
    ServerSideEncryptionConfiguration: [
      { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn } },
    ],
  });
  expect(vault?.DeletionPolicy).toBe('Retain');
  expect(vault?.UpdateReplacePolicy).toBe('Retain');
}

describe.each(CASES)('npm run package $args', (c) => {
  const t = () => (packaged[c.stage] as Packaged).template;
  const b = pseudoParameters(c.region, ACCOUNT);
  const allowed = allowList(c);
  const evaluated = (id: string) => evaluate(t().Resources[id], b) as Resource;

  it('gives every function its own role, allowed exactly what its allow-list says', () => {
    const roles = new Set<string>();
    for (const fn of FUNCTIONS) {
      const [id, role] = roleOf(t(), fn, b);
      roles.add(id);
      expect(evaluate(role.Properties?.RoleName, b)).toBe(`strongbox-${c.stage}-${c.region}-${fn}`);
      expect(role.Properties?.ManagedPolicyArns, `${fn}: no managed policies`).toBeUndefined();
      expect(role.Properties?.AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      });
      const statements = roleStatements(role, b);
      expect(
        statements.filter((s) => s.Effect !== 'Allow' || s.NotAction || s.NotResource),
        fn,
      ).toEqual([]);
      expect(grants(statements), `${fn}'s grants`).toEqual([...allowed[fn]].sort());
    }
    expect(roles.size).toBe(FUNCTIONS.length);
    // No other role can be attached to a function: the only other role is osls's notification helper.
    expect(resourcesOf(t(), 'AWS::IAM::Role').map(([id]) => id)).toEqual(
      expect.arrayContaining([...roles, 'IamRoleCustomResourcesLambdaExecution']),
    );
    expect(resourcesOf(t(), 'AWS::IAM::Role')).toHaveLength(FUNCTIONS.length + 1);
  });

  it('keeps the issue’s separations: only prune deletes in vaults, only snapshot and capture read sources (the scheduler reads their settings), restore writes only targets, drills write and delete only scratch, verify and browse only read', () => {
    const byFunction = Object.fromEntries(
      FUNCTIONS.map((fn) => [fn, grants(roleStatements(roleOf(t(), fn, b)[1], b))]),
    ) as Record<FunctionName, string[]>;
    const sources = c.protectedBuckets.map((s) => `arn:aws:s3:::${s}`);
    const onSources = (fn: FunctionName) => [
      ...new Set(
        byFunction[fn].filter((g) => sources.some((s) => g.includes(s))).map((g) => g.split(' ')[0]),
      ),
    ];
    // Snapshot lists and reads them; capture reads the uploads it is told of (exact versions); the
    // scheduler's settings watch reads their lifecycle rules and policy; no other function touches them.
    const allowedOnSources: Partial<Record<FunctionName, string[]>> = {
      capture: ['s3:GetObject', 's3:GetObjectVersion'],
      scheduler: ['s3:GetBucketPolicy', 's3:GetLifecycleConfiguration'],
    };
    for (const fn of FUNCTIONS) {
      if (fn !== 'prune' && fn !== 'drill')
        expect(
          byFunction[fn].filter((g) => /^s3:Delete/.test(g)),
          fn,
        ).toEqual([]);
      if (fn !== 'snapshot') expect(onSources(fn), fn).toEqual(allowedOnSources[fn] ?? []);
    }
    for (const fn of ['restore', 'restoreWorker'] as const) {
      const restoreWrites = byFunction[fn].filter((g) => g.startsWith('s3:PutObject '));
      expect(
        restoreWrites.map((g) => g.split(' ')[1]),
        fn,
      ).toEqual(c.restoreBuckets.map((r) => `arn:aws:s3:::${r}/*`).sort());
    }
    // A drill writes and deletes only its scratch prefix of the drill bucket (never a vault).
    const scratch = `arn:aws:s3:::${c.drillBucket}/strongbox-drill/*`;
    expect(byFunction.drill.filter((g) => /^s3:(Put|Delete)/.test(g))).toEqual([
      `s3:DeleteObject ${scratch}`,
      `s3:PutObject ${scratch}`,
    ]);
    expect(envOf(t(), 'drill', b).STRONGBOX_DRILL_BUCKET).toBe(c.drillBucket);
    const verifyStorage = byFunction.verify.filter((g) => /^(s3|kms):/.test(g)).map((g) => g.split(' ')[0]);
    expect([...new Set(verifyStorage)].sort()).toEqual(['kms:Decrypt', 's3:GetObject', 's3:ListBucket']);
    // Browse answers an operator's ls, diff and find: it reads and opens, and writes nothing anywhere.
    expect([...new Set(byFunction.browse.map((g) => g.split(' ')[0]))].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'kms:Decrypt',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:GetObject',
      's3:ListBucket',
    ]);
    // Every grant on a vault is limited to vault buckets of this account (no bucket sniping).
    for (const fn of FUNCTIONS) {
      for (const s of roleStatements(roleOf(t(), fn, b)[1], b)) {
        const onVault = asList(s.Resource).some((r) => r.includes('<VaultBucket') || r.includes('-vault-'));
        if (onVault)
          expect(s.Condition, `${fn} ${s.Sid}`).toEqual({ StringEquals: { 's3:ResourceAccount': ACCOUNT } });
      }
    }
  });

  it('lets no role delete a key document: garbage collection deletes only under the four other prefixes', () => {
    // A key document unwraps every document sealed with its data key (docs/format.md#keyring).
    for (const fn of FUNCTIONS) {
      const deletes = grants(roleStatements(roleOf(t(), fn, b)[1], b)).filter((g) =>
        g.startsWith('s3:DeleteObject '),
      );
      for (const resource of deletes.map((g) => g.split(' ')[1] as string)) {
        if (resource.includes('<VaultBucket') || resource.includes('-vault-'))
          expect(resource, fn).toMatch(/\/(packs|index|parts|manifests)\/\*$/);
      }
    }
  });

  it('writes a vault only under the layout prefixes each role writes: prune never a part or a root', () => {
    // A role that never deletes still cannot overwrite what it never writes, and prune, which
    // deletes, writes packs (repacks) and index documents (rewrites) only.
    for (const fn of FUNCTIONS) {
      const writes = grants(roleStatements(roleOf(t(), fn, b)[1], b)).filter((g) =>
        g.startsWith('s3:PutObject '),
      );
      for (const resource of writes.map((g) => g.split(' ')[1] as string)) {
        if (resource.includes('<VaultBucket') || resource.includes('-vault-'))
          expect(resource, fn).toMatch(
            fn === 'prune' ? /\/(packs|index|keys)\/\*$/ : /\/(packs|index|parts|manifests|keys)\/\*$/,
          );
      }
    }
  });

  it('grants no wildcard action and no "*" resource in any role or policy', () => {
    // The only "*" characters allowed: the object part of a named bucket ("<bucket ARN>/*"), or of
    // the drills' scratch prefix in one ("<bucket ARN>/strongbox-drill/*"), or of a vault's layout
    // prefix ("<bucket ARN>/packs/*"); the streams of a named table ("<table ARN>/stream/*"), or
    // the tables of a named prefix (restoreTables' and the drills' scratch tables: "…-restore-*").
    const namedTableStreamsOrPrefix =
      /^arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table\/([a-zA-Z0-9_.-]{3,255}\/stream\/\*|[a-zA-Z0-9_.-]+-\*)$/;
    const objectsOfNamedBucket =
      /^(arn:aws:s3:::[a-z0-9][a-z0-9.-]+[a-z0-9]|<\w+\.Arn>)\/(strongbox-drill\/|index\/|packs\/|parts\/|manifests\/|keys\/)?\*$/;
    for (const [id, statements] of identityStatements(t(), b)) {
      for (const s of statements) {
        expect(s.NotAction, id).toBeUndefined();
        expect(s.NotResource, id).toBeUndefined();
        for (const action of asList(s.Action)) expect(action, `${id}: action`).not.toContain('*');
        for (const resource of asList(s.Resource)) {
          expect(typeof resource, `${id}: resource ${JSON.stringify(resource)}`).toBe('string');
          if (resource.includes('*') && resource.startsWith('arn:aws:dynamodb:'))
            expect(resource, `${id}: resource`).toMatch(namedTableStreamsOrPrefix);
          else if (resource.includes('*')) expect(resource, `${id}: resource`).toMatch(objectsOfNamedBucket);
        }
      }
    }
    // osls's notification helper: the protected buckets' notifications and the capture function only.
    expect(
      grants(roleStatements(t().Resources.IamRoleCustomResourcesLambdaExecution as Resource, b)),
    ).toEqual(
      [
        ...c.protectedBuckets.flatMap((s) => [
          `s3:GetBucketNotification arn:aws:s3:::${s}`,
          `s3:PutBucketNotification arn:aws:s3:::${s}`,
        ]),
        `lambda:AddPermission arn:aws:lambda:${c.region}:${ACCOUNT}:function:strongbox-${c.stage}-capture`,
        `lambda:RemovePermission arn:aws:lambda:${c.region}:${ACCOUNT}:function:strongbox-${c.stage}-capture`,
      ].sort(),
    );
  });

  it("gives writers only the content key's public key, and lets only readers open content with it (write-only keys)", () => {
    // docs/format.md#keyring: a stolen writer credential seals blobs it cannot read.
    const key = t().Resources.ContentKey as Resource;
    expect(key.Properties?.KeySpec).toBe('RSA_4096');
    expect(key.Properties?.KeyUsage).toBe('ENCRYPT_DECRYPT');
    expect(key.Properties?.MultiRegion).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    expectKeyAdministration(key.Properties?.KeyPolicy, b, c.keyCustodianArn);
    const role = (fn: string) => `arn:aws:iam::${ACCOUNT}:role/strongbox-${c.stage}-${c.region}-${fn}`;
    const writers = ['capture', 'copy', 'prune', 'snapshot'].map(role).sort();
    const readers = ['browse', 'drill', 'restore', 'restoreWorker', 'verify'].map(role).sort();
    const statements = asList(
      (evaluate(key.Properties?.KeyPolicy, b) as { Statement: Statement[] }).Statement,
    );
    expect(statements.map((s) => s.Sid).sort()).toEqual(
      ['KeyAdministration', 'KeyCustody', 'ReadersDecrypt', 'WritersGetPublicKey'].sort(),
    );
    const wrap = statements.find((s) => s.Sid === 'WritersGetPublicKey');
    expect(wrap?.Action).toBe('kms:GetPublicKey');
    expect(asList(wrap?.Condition?.ArnEquals?.['aws:PrincipalArn'] as string[]).sort()).toEqual(writers);
    const open = statements.find((s) => s.Sid === 'ReadersDecrypt');
    expect(open?.Action).toBe('kms:Decrypt');
    expect(asList(open?.Condition?.ArnEquals?.['aws:PrincipalArn'] as string[]).sort()).toEqual(readers);
    expect(open?.Condition?.StringEquals).toEqual({ 'kms:EncryptionAlgorithm': 'RSAES_OAEP_SHA_256' });
    // The roles' own policies say the same, and nothing more.
    expect(roleKeyUse(t(), b, '<ContentKey.Arn>')).toEqual({
      'kms:GetPublicKey': writers,
      'kms:Decrypt': readers,
    });
    for (const fn of FUNCTIONS) {
      const env = envOf(t(), fn, b);
      expect(env.STRONGBOX_CONTENT_KEY_ID, fn).toBe('<ContentKey.Arn>');
      expect(env.STRONGBOX_CONTENT_KEY_UNWRAP === 'true', fn).toBe(readers.includes(role(fn)));
    }
  });

  it('lets only the function roles use the vault key, each for what its role grants', () => {
    const key = t().Resources.VaultKey as Resource;
    expect(key.Properties?.MultiRegion).toBe(true);
    expect(key.Properties?.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    expectKeyAdministration(key.Properties?.KeyPolicy, b, c.keyCustodianArn);
    // Its policy names the custodian alone for PutKeyPolicy, so KMS's lockout check must be skipped.
    expect(key.Properties?.BypassPolicyLockoutSafetyCheck).toBe(true);
    const role = (fn: string) => `arn:aws:iam::${ACCOUNT}:role/strongbox-${c.stage}-${c.region}-${fn}`;
    const byKeyPolicy = keyUse(key.Properties?.KeyPolicy, b);
    expect(byKeyPolicy).toEqual({
      'kms:GenerateDataKey': ['capture', 'copy', 'prune', 'snapshot'].map(role),
      'kms:Decrypt': [
        'capture',
        'snapshot',
        'copy',
        'verify',
        'prune',
        'restore',
        'restoreWorker',
        'drill',
        'browse',
      ]
        .map(role)
        .sort(),
    });
    expect(byKeyPolicy).toEqual(roleKeyUse(t(), b, '<VaultKey.Arn>'));
    // Its data keys are bound to the vault's name, which every function is told.
    expectBoundToVault(key.Properties?.KeyPolicy, b, `strongbox-${c.stage}`, c.region);
    for (const fn of FUNCTIONS)
      expect(envOf(t(), fn, b).STRONGBOX_VAULT_NAME, fn).toBe(`strongbox-${c.stage}`);
    // The functions wrap the format's data keys with it.
    for (const fn of FUNCTIONS) {
      const env = envOf(t(), fn, b);
      expect(env.STRONGBOX_KMS_KEY_ID, fn).toBe('<VaultKey.Arn>');
      expect(env.STRONGBOX_VAULT_BUCKET, fn).toBe('<VaultBucket>');
      expect(env.STRONGBOX_COPY_VAULTS, fn).toBe(
        `${c.copyRegion}=strongbox-${c.stage}-vault-${ACCOUNT}-${c.copyRegion}`,
      );
    }
  });

  it('gives the functions that load a vault index 10,240 MiB of /tmp to spill it to, and no other', () => {
    // docs/format.md#reading-the-index: past STRONGBOX_INDEX_MEMORY_BLOBS an index moves to /tmp;
    // #garbage-collection: so do prune's live set and the index documents it reads.
    const loadsIndex = [
      'capture',
      'snapshot',
      'copy',
      'verify',
      'prune',
      'drill',
      'restore',
      'restoreWorker',
      'browse',
    ];
    for (const fn of FUNCTIONS) {
      const storage = t().Resources[`${logicalId(fn)}LambdaFunction`]?.Properties?.EphemeralStorage;
      expect(storage, fn).toEqual(loadsIndex.includes(fn) ? { Size: 10240 } : undefined);
    }
  });

  it('encrypts every queue; every task queue has a DLQ and a visibility timeout ≥ 6 × its function’s', () => {
    for (const [id, queue] of resourcesOf(t(), 'AWS::SQS::Queue')) {
      const p = queue.Properties ?? {};
      expect(p.SqsManagedSseEnabled === true || p.KmsMasterKeyId !== undefined, `${id}: SSE`).toBe(true);
    }
    // The task queues' mappings (the table streams' are checked with captureTable).
    const mappings = resourcesOf(t(), 'AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => !String(evaluate(m.Properties?.EventSourceArn, b)).includes(':dynamodb:'),
    );
    expect(mappings).toHaveLength(6);
    for (const [id, mapping] of mappings) {
      const m = evaluate(mapping.Properties, b) as Record<string, string>;
      const fnId = /^<(\w+)\.Arn>$/.exec(m.FunctionName as string)?.[1] as string;
      const queueId = /^<(\w+)\.Arn>$/.exec(m.EventSourceArn as string)?.[1] as string;
      const timeout = t().Resources[fnId]?.Properties?.Timeout as number;
      const queue = evaluated(queueId).Properties ?? {};
      expect(queue.VisibilityTimeout as number, `${id}: visibility timeout`).toBeGreaterThanOrEqual(
        6 * timeout,
      );
      const redrive = queue.RedrivePolicy as { deadLetterTargetArn: string; maxReceiveCount: number };
      const dlqId = /^<(\w+)\.Arn>$/.exec(redrive?.deadLetterTargetArn ?? '')?.[1] as string;
      expect(t().Resources[dlqId]?.Type, `${queueId}: DLQ`).toBe('AWS::SQS::Queue');
      expect(redrive.maxReceiveCount).toBe(3);
      expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    }
  });

  it('sends an S3 event capture failed after Lambda’s two async retries to an encrypted failure queue, never drops it', () => {
    // Capture's asynchronous invocation settings: the only EventInvokeConfig of the stack.
    const configs = resourcesOf(t(), 'AWS::Lambda::EventInvokeConfig');
    expect(configs.map(([id]) => id)).toEqual(['CaptureLambdaEvConf']);
    expect(evaluated('CaptureLambdaEvConf').Properties).toEqual({
      FunctionName: '<CaptureLambdaFunction>',
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: '<CaptureFailureQueue.Arn>' } },
    });
    // The queue: encrypted, 14 days, no redrive (nothing polls it), polled by no function.
    const queue = evaluated('CaptureFailureQueue');
    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(queue.Properties).toEqual({
      QueueName: `strongbox-${c.stage}-capture-failures`,
      MessageRetentionPeriod: 1209600,
      SqsManagedSseEnabled: true,
    });
    const polled = resourcesOf(t(), 'AWS::Lambda::EventSourceMapping').map(
      ([, m]) => (evaluate(m.Properties, b) as Record<string, unknown>).EventSourceArn,
    );
    expect(polled).not.toContain('<CaptureFailureQueue.Arn>');
    // Capture's role may send to it (the destination uses the function's role), and so may
    // captureTable's (its poison records, and its stream mappings' failed batches); no other role.
    expect(allowed.capture).toContain('sqs:SendMessage <CaptureFailureQueue.Arn>');
    expect(allowed.captureTable).toContain('sqs:SendMessage <CaptureFailureQueue.Arn>');
    for (const fn of FUNCTIONS.filter((f) => f !== 'capture' && f !== 'captureTable')) {
      expect(grants(roleStatements(roleOf(t(), fn, b)[1], b)).join('\n'), fn).not.toContain(
        'CaptureFailureQueue',
      );
    }
    // `strongbox capture replay` finds it in capture's configuration.
    expect(envOf(t(), 'capture', b).STRONGBOX_CAPTURE_FAILURE_QUEUE_URL).toBe('<CaptureFailureQueue>');
  });

  it('feeds captureTable from each protected table’s stream: partial batch failures, bisection, then the capture failure queue', () => {
    const mappings = resourcesOf(t(), 'AWS::Lambda::EventSourceMapping')
      .map(([, m]) => evaluate(m.Properties, b) as Record<string, unknown>)
      .filter((p) => String(p.EventSourceArn).includes(':dynamodb:'));
    // One mapping per stream parameter (the defaults name none), each onto captureTable alone.
    expect(mappings.map((m) => m.EventSourceArn).sort()).toEqual([...c.protectedTableStreams].sort());
    for (const m of mappings) {
      expect(m).toEqual({
        BatchSize: 100,
        Enabled: true,
        EventSourceArn: m.EventSourceArn,
        FunctionName: '<CaptureTableLambdaFunction.Arn>',
        StartingPosition: 'TRIM_HORIZON',
        MaximumRetryAttempts: 10,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: '<CaptureFailureQueue.Arn>' } },
      });
    }
    // The handler parks poison records (with their reason) on the same queue.
    expect(envOf(t(), 'captureTable', b).STRONGBOX_DLQ_URL).toBe('<CaptureFailureQueue>');
  });

  it('keeps tables apart: only captureTable reads streams, no role writes a protected table, none scans a restore table, drills touch only scratch tables', () => {
    const tableArn = (name: string) => `arn:aws:dynamodb:${c.region}:${ACCOUNT}:table/${name}`;
    const byFunction = FUNCTIONS.map((fn) => [fn, grants(roleStatements(roleOf(t(), fn, b)[1], b))] as const);
    for (const [fn, list] of byFunction) for (const grant of list) expectTableGrantApart(c, fn, grant);
    // No other identity policy (the isolated vaults' grants) touches a table.
    for (const [id, statements] of identityStatements(t(), b)) {
      if (t().Resources[id]?.Type === 'AWS::IAM::Role') continue;
      expect(
        grants(statements).filter((g) => g.startsWith('dynamodb:')),
        id,
      ).toEqual([]);
    }
    const scans = byFunction.flatMap(([fn, list]) =>
      list.filter((g) => g.startsWith('dynamodb:Scan ')).map((g) => `${fn} ${g.split(' ')[1]}`),
    );
    // Only snapshot scans, and only protected tables (a drill reads its items back one by one).
    expect(scans.sort()).toEqual(c.protectedTables.map((name) => `snapshot ${tableArn(name)}`).sort());
    // Who may create a table: restore and its workers (restore tables), drills (scratch tables).
    const creators = byFunction.flatMap(([fn, list]) =>
      list.filter((g) => g.startsWith('dynamodb:CreateTable ')).map((g) => `${fn} ${g.split(' ')[1]}`),
    );
    expect(creators.sort()).toEqual(
      [
        ...c.restoreTables.flatMap((name) => [
          `restore ${tableArn(name)}`,
          `restoreWorker ${tableArn(name)}`,
        ]),
        `drill ${tableArn(`strongbox-${c.stage}-drill-*`)}`,
      ].sort(),
    );
  });

  it('bounds parallel snapshot partitions with the snapshot queue’s maximumConcurrency', () => {
    const snapshot = resourcesOf(t(), 'AWS::Lambda::EventSourceMapping')
      .map(([, mapping]) => evaluate(mapping.Properties, b) as Record<string, unknown>)
      .find((m) => m.EventSourceArn === '<SnapshotQueue.Arn>');
    expect(snapshot?.ScalingConfig).toEqual({ MaximumConcurrency: 4 });
  });

  it('blocks public access, encrypts and accepts only TLS on every bucket', () => {
    const buckets = resourcesOf(t(), 'AWS::S3::Bucket').map(([id]) => id);
    expect(buckets.sort()).toEqual(['ServerlessDeploymentBucket', 'VaultBucket']);
    for (const id of buckets) expectHardenedBucket(t(), id, b);
  });

  it('keeps the vault versioned with Object Lock, SSE-KMS under the vault key, named for the account', () => {
    expectVault(evaluate(t(), b) as Template, 'VaultBucket', '<VaultKey.Arn>');
    expect(evaluated('VaultBucket').Properties?.BucketName).toBe(
      `strongbox-${c.stage}-vault-${ACCOUNT}-${c.region}`,
    );
    expect(evaluated('VaultBucket').Properties?.BucketEncryption).toMatchObject({
      ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: true }],
    });
  });

  it('locks vault documents only through retention the functions set: no bypass, no bucket-wide lock changes', () => {
    for (const fn of FUNCTIONS) {
      const mine = grants(roleStatements(roleOf(t(), fn, b)[1], b));
      expect(
        mine.filter((g) =>
          /^s3:(BypassGovernanceRetention|PutObjectLegalHold|PutBucketObjectLockConfiguration|PutLifecycleConfiguration) /.test(
            g,
          ),
        ),
        fn,
      ).toEqual([]);
      const retention = mine.filter((g) => g.startsWith('s3:PutObjectRetention '));
      expect(retention.length > 0, fn).toBe(['capture', 'snapshot', 'copy', 'prune'].includes(fn));
    }
    // Every function reads the same settings (the CLI reads the restore function's).
    for (const fn of FUNCTIONS) {
      expect(envOf(t(), fn, b)).toMatchObject({
        STRONGBOX_OBJECT_LOCK_MODE: c.objectLockMode,
        STRONGBOX_OBJECT_LOCK_DAYS: c.objectLockDays,
        STRONGBOX_PACK_STORAGE_CLASSES: c.packStorageClasses,
      });
      // A prune after a snapshot collects garbage at most every 6 hours on AWS (gcIntervalSeconds).
      expect(String(envOf(t(), fn, b).STRONGBOX_GC_INTERVAL_SECONDS), fn).toBe('21600');
    }
  });

  it('keeps collected versions a week in the vault, and the copy vault moves only packs/ to a colder class', () => {
    const rules = (r: Resource | undefined) =>
      ((r?.Properties?.LifecycleConfiguration as { Rules?: unknown[] } | undefined)?.Rules ?? []) as Record<
        string,
        unknown
      >[];
    const expiry = {
      Id: 'expire-collected-versions',
      Status: 'Enabled',
      NoncurrentVersionExpiration: { NoncurrentDays: 7 },
      ExpiredObjectDeleteMarker: true,
    };
    expect(rules(evaluated('VaultBucket'))).toContainEqual(expiry);
    expect(rules(evaluated('VaultBucket')).some((r) => 'Transitions' in r)).toBe(false);
    const copy = readYaml<Template>(path.join(PROJECT_ROOT, 'deploy', 'copy-vault.yml'));
    expect(copy.Parameters?.PackStorageClass?.Default).toBe('GLACIER_IR');
    expect(copy.Parameters?.PackTransitionDays?.Default).toBe(30);
    expect(copy.Conditions?.TransitionPacks).toEqual({
      'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'PackStorageClass' }, 'STANDARD'] }],
    });
    const copyRules = rules(copy.Resources.VaultBucket);
    expect(copyRules).toContainEqual(expiry);
    expect(copyRules).toContainEqual({
      'Fn::If': [
        'TransitionPacks',
        {
          Id: 'packs-to-colder-storage',
          Status: 'Enabled',
          Prefix: 'packs/',
          Transitions: [
            { StorageClass: { Ref: 'PackStorageClass' }, TransitionInDays: { Ref: 'PackTransitionDays' } },
          ],
        },
        { Ref: 'AWS::NoValue' },
      ],
    });
  });

  it('encrypts the state table, keeps point-in-time recovery and refuses its deletion', () => {
    const tables = resourcesOf(t(), 'AWS::DynamoDB::Table');
    expect(tables.map(([id]) => id)).toEqual(['StateTable']);
    for (const [, table] of tables) {
      expect(table.Properties?.SSESpecification).toMatchObject({ SSEEnabled: true });
      expect(table.Properties?.PointInTimeRecoverySpecification).toEqual({
        PointInTimeRecoveryEnabled: true,
      });
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.Properties?.DeletionProtectionEnabled, 'DeleteTable refused').toBe(true);
      // The detector's per-minute counts expire (docs/format.md#detector).
      expect(table.Properties?.TimeToLiveSpecification).toEqual({
        AttributeName: 'expiresAt',
        Enabled: true,
      });
    }
  });

  it('lets only capture and the scheduler put events, and only on the default event bus (the detector’s findings)', () => {
    for (const fn of FUNCTIONS) {
      const events = grants(roleStatements(roleOf(t(), fn, b)[1], b)).filter((g) => g.startsWith('events:'));
      expect(events, fn).toEqual(
        fn === 'capture' || fn === 'scheduler'
          ? [`events:PutEvents arn:aws:events:${c.region}:${ACCOUNT}:event-bus/default`]
          : [],
      );
    }
  });

  it('alarms on every DLQ and capture’s failure queue, each function’s errors and throttles, snapshot age over the RPO, a plan past its own RPO, capture lag, failed verification and failed drills', () => {
    const alarms = resourcesOf(t(), 'AWS::CloudWatch::Alarm').map(
      ([id, a]) => [id, evaluate(a.Properties, b) as Record<string, unknown>] as const,
    );
    const find = (match: (a: Record<string, unknown>) => boolean) => alarms.filter(([, a]) => match(a));
    for (const [, a] of alarms) {
      expect(a.AlarmActions, String(a.AlarmName)).toEqual(['<AlarmTopic>']);
      expect(a.OKActions, String(a.AlarmName)).toEqual(['<AlarmTopic>']);
      expect(String(a.AlarmName)).toMatch(new RegExp(`^strongbox-${c.stage}-`));
    }
    const dlqs = resourcesOf(t(), 'AWS::SQS::Queue')
      .map(
        ([, q]) =>
          (evaluate(q.Properties?.RedrivePolicy, b) as { deadLetterTargetArn?: string } | undefined)
            ?.deadLetterTargetArn,
      )
      .filter((arn): arn is string => Boolean(arn))
      .map((arn) => /^<(\w+)\.Arn>$/.exec(arn)?.[1] as string);
    expect(dlqs).toHaveLength(6);
    for (const dlq of dlqs) {
      const found = find(
        (a) =>
          a.Namespace === 'AWS/SQS' &&
          a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
          JSON.stringify(a.Dimensions) ===
            JSON.stringify([{ Name: 'QueueName', Value: `<${dlq}.QueueName>` }]),
      );
      expect(found, `alarm on ${dlq}`).toHaveLength(1);
      expect(found[0]?.[1]).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    }
    for (const fn of FUNCTIONS) {
      for (const metric of ['Errors', 'Throttles']) {
        const found = find(
          (a) =>
            a.Namespace === 'AWS/Lambda' &&
            a.MetricName === metric &&
            JSON.stringify(a.Dimensions) ===
              JSON.stringify([{ Name: 'FunctionName', Value: `<${logicalId(fn)}LambdaFunction>` }]),
        );
        expect(found, `${metric} alarm of ${fn}`).toHaveLength(1);
        expect(found[0]?.[1]).toMatchObject({ Statistic: 'Sum', Threshold: 0 });
      }
    }
    // Capture's failure queue: any message in it raises an alarm, like a DLQ.
    const captureFailures = find(
      (a) =>
        a.Namespace === 'AWS/SQS' &&
        a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        JSON.stringify(a.Dimensions) ===
          JSON.stringify([{ Name: 'QueueName', Value: '<CaptureFailureQueue.QueueName>' }]),
    );
    expect(captureFailures, 'alarm on CaptureFailureQueue').toHaveLength(1);
    expect(captureFailures[0]?.[1]).toMatchObject({
      Statistic: 'Maximum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmName: `strongbox-${c.stage}-capture-failures-not-empty`,
    });
    // The application metrics: the names and namespace the functions emit them under.
    const namespace = `Strongbox/${c.stage}`;
    const env = envOf(t(), 'scheduler', b);
    expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe(namespace);
    const app = (name: string) => {
      const found = find((a) => a.Namespace === namespace && a.MetricName === name);
      expect(found, `alarm on ${name}`).toHaveLength(1);
      expect(found[0]?.[1].Dimensions).toEqual([{ Name: 'service', Value: METRICS_SERVICE }]);
      return found[0]?.[1] as Record<string, unknown>;
    };
    const age = app(METRICS.oldestSnapshotAge);
    expect(Number(age.Threshold)).toBe(c.rpoMinutes);
    expect(age).toMatchObject({ Statistic: 'Maximum', TreatMissingData: 'breaching' });
    expect(Number(app(METRICS.captureLag).Threshold)).toBe(c.captureLagSeconds);
    expect(app(METRICS.verificationFailed)).toMatchObject({ Statistic: 'Sum', Threshold: 0 });
    expect(app(METRICS.drillFailed)).toMatchObject({ Statistic: 'Sum', Threshold: 0 });
    // Any finding of the ransomware detector, within the minute.
    expect(app(METRICS.anomalyDetected)).toMatchObject({
      Statistic: 'Sum',
      Threshold: 0,
      Period: 60,
      AlarmName: `strongbox-${c.stage}-anomaly-detected`,
    });
    // Any plan past its own rpoMinutes (the scheduler counts them every tick).
    expect(app(METRICS.rpoExceededPlans)).toMatchObject({
      Statistic: 'Maximum',
      Threshold: 0,
      TreatMissingData: 'breaching',
    });
    expect(alarms).toHaveLength(dlqs.length + 1 + 2 * FUNCTIONS.length + 6);
  });

  it('sends alarms to an encrypted topic CloudWatch may publish to, and e-mails it when asked', () => {
    const topic = evaluated('AlarmTopic').Properties ?? {};
    expect(topic.KmsMasterKeyId).toBe('<NotificationKey.Arn>');
    const key = t().Resources.NotificationKey as Resource;
    expectKeyAdministration(key.Properties?.KeyPolicy, b, c.keyCustodianArn);
    expect(key.Properties?.BypassPolicyLockoutSafetyCheck).toBe(true);
    expect(keyUse(key.Properties?.KeyPolicy, b)).toEqual({});
    const statements = asList(
      (evaluate(key.Properties?.KeyPolicy, b) as { Statement: Statement[] }).Statement,
    );
    const cloudwatch = statements.find(
      (s) => (s.Principal as { Service?: string })?.Service === 'cloudwatch.amazonaws.com',
    );
    expect(asList(cloudwatch?.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(cloudwatch?.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': ACCOUNT } });
    const subscription = t().Resources.AlarmEmailSubscription as Resource;
    expect(subscription.Condition).toBe('HasAlarmEmail');
    expect(t().Conditions?.HasAlarmEmail).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [c.alarmEmail, ''] }] });
    expect(subscription.Properties?.Endpoint).toBe(c.alarmEmail);
  });

  it('has a dashboard over the functions, the queues and the application metrics', () => {
    const board = evaluated('Dashboard').Properties ?? {};
    expect(board.DashboardName).toBe(`strongbox-${c.stage}-${c.region}`);
    const body = JSON.parse(String(board.DashboardBody)) as {
      widgets: { properties: { region: string; metrics: unknown[][] } }[];
    };
    const metrics = body.widgets.flatMap((w) => w.properties.metrics.map((m) => JSON.stringify(m)));
    for (const w of body.widgets) expect(w.properties.region).toBe(c.region);
    const has = (...parts: string[]) => metrics.some((m) => parts.every((p) => m.includes(`"${p}"`)));
    for (const fn of FUNCTIONS) {
      for (const metric of ['Errors', 'Throttles', 'Duration'])
        expect(has('AWS/Lambda', metric, `strongbox-${c.stage}-${fn}`), `${metric} of ${fn}`).toBe(true);
    }
    for (const q of ['snapshot', 'copy', 'verify', 'prune', 'restore', 'drill']) {
      expect(has('ApproximateNumberOfMessagesVisible', `strongbox-${c.stage}-${q}-dlq`), q).toBe(true);
      expect(has('ApproximateAgeOfOldestMessage', `strongbox-${c.stage}-${q}`), q).toBe(true);
    }
    expect(has('ApproximateNumberOfMessagesVisible', `strongbox-${c.stage}-capture-failures`)).toBe(true);
    for (const name of [
      METRICS.oldestSnapshotAge,
      METRICS.captureLag,
      METRICS.verificationFailed,
      METRICS.drillFailed,
      METRICS.anomalyDetected,
    ])
      expect(has(`Strongbox/${c.stage}`, name), name).toBe(true);
    expect(metrics.some((m) => m.includes(METRICS.snapshotAge) && m.includes('SEARCH'))).toBe(true);
  });

  it('hears uploads, deletes and Lifecycle expirations of every protected bucket, added to the bucket’s other notifications', () => {
    const notifications = resourcesOf(t(), 'Custom::S3').map(
      ([, r]) => evaluate(r.Properties, b) as Record<string, unknown>,
    );
    expect(notifications.map((n) => n.BucketName).sort()).toEqual([...c.protectedBuckets].sort());
    for (const n of notifications) {
      // osls's existing-bucket helper reads the bucket's configuration and adds its own entries.
      expect(n.ServiceToken).toBe('<CustomDashresourceDashexistingDashs3LambdaFunction.Arn>');
      expect(n.FunctionName).toBe(`strongbox-${c.stage}-capture`);
      expect((n.BucketConfigs as { Event: string }[]).map((x) => x.Event).sort()).toEqual([
        's3:LifecycleExpiration:*',
        's3:ObjectCreated:*',
        's3:ObjectRemoved:*',
      ]);
    }
    // The stack never owns (and so never replaces) a protected bucket.
    const owned = resourcesOf(t(), 'AWS::S3::Bucket').map(([id]) => evaluated(id).Properties?.BucketName);
    for (const s of c.protectedBuckets) expect(owned).not.toContain(s);
  });

  it('outputs the restore function, the state table, the vault buckets and the vault key', () => {
    const outputs = Object.fromEntries(
      Object.entries(t().Outputs ?? {}).map(([k, o]) => [k, evaluate(o.Value, b)]),
    );
    expect(outputs).toMatchObject({
      RestoreFunctionName: '<RestoreLambdaFunction>',
      StateTableName: '<StateTable>',
      VaultBucketName: '<VaultBucket>',
      CopyVaultBucketName: `strongbox-${c.stage}-vault-${ACCOUNT}-${c.copyRegion}`,
      CopyRegion: c.copyRegion,
      VaultKeyArn: '<VaultKey.Arn>',
      AlarmTopicArn: '<AlarmTopic>',
      DashboardName: '<Dashboard>',
    });
    expect(evaluated('RestoreLambdaFunction').Properties?.FunctionName).toBe(`strongbox-${c.stage}-restore`);
    expect(evaluated('StateTable').Properties?.TableName).toBe(`strongbox-${c.stage}-state`);
  });

  it('matches deploy/copy-vault.yml: the copy vault, its replica keys and who may use them', () => {
    const copy = readYaml<Template>(path.join(PROJECT_ROOT, 'deploy', 'copy-vault.yml'));
    const contentArn = `arn:aws:kms:${c.region}:${ACCOUNT}:key/mrk-fedcba9876543210fedcba9876543210`;
    const cb: Bindings = {
      ...pseudoParameters(c.copyRegion, ACCOUNT),
      Service: 'strongbox',
      Stage: c.stage,
      PrimaryRegion: c.region,
      PrimaryKeyArn: `arn:aws:kms:${c.region}:${ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef`,
      ContentKeyArn: contentArn,
      KeyCustodianArn: c.keyCustodianArn,
    };
    const copyTemplate = evaluate(copy, cb) as Template;
    // The bucket the functions are granted and told about is the one the template creates.
    expect(copyTemplate.Resources.VaultBucket?.Properties?.BucketName).toBe(
      evaluate(t().Outputs?.CopyVaultBucketName?.Value, b),
    );
    expectVault(copyTemplate, 'VaultBucket', '<VaultKey.Arn>');
    expect(resourcesOf(copy, 'AWS::S3::Bucket').map(([id]) => id)).toEqual(['VaultBucket']);
    expectHardenedBucket(copy, 'VaultBucket', cb);
    const key = copy.Resources.VaultKey as Resource;
    expect(key.Type).toBe('AWS::KMS::ReplicaKey');
    expect(evaluate(key.Properties?.PrimaryKeyArn, cb)).toBe(cb.PrimaryKeyArn);
    // A replica neither rotates nor replicates on its own: the rest of custody applies.
    expectKeyAdministration(key.Properties?.KeyPolicy, cb, c.keyCustodianArn, [
      'kms:DisableKey',
      'kms:PutKeyPolicy',
      'kms:ScheduleKeyDeletion',
      'kms:UpdatePrimaryRegion',
    ]);
    const parameter = copy.Parameters?.KeyCustodianArn as { AllowedPattern?: string; Default?: unknown };
    expect(parameter.Default, 'the custodian is named when the copy vault is deployed').toBeUndefined();
    expect(new RegExp(parameter.AllowedPattern as string).test(c.keyCustodianArn)).toBe(true);
    // The replica has the primary's key id: the roles are granted it as that ARN.
    const role = (fn: string) => `arn:aws:iam::${ACCOUNT}:role/strongbox-${c.stage}-${c.region}-${fn}`;
    const byKeyPolicy = keyUse(key.Properties?.KeyPolicy, cb);
    expect(byKeyPolicy).toEqual({
      'kms:GenerateDataKey': ['copy', 'prune'].map(role),
      'kms:Decrypt': ['copy', 'verify', 'prune', 'restore', 'restoreWorker', 'drill', 'browse']
        .map(role)
        .sort(),
    });
    expect(byKeyPolicy).toEqual(roleKeyUse(t(), b, `arn:aws:kms:${c.copyRegion}:${ACCOUNT}:key/<VaultKey>`));
    // The same vault name as the primary's: a replica opens what the primary's key wrapped.
    expectBoundToVault(key.Properties?.KeyPolicy, cb, `strongbox-${c.stage}`, c.copyRegion);

    // The content key's replica: readers open blobs in the copy region without the primary's KMS.
    const content = copy.Resources.ContentKey as Resource;
    expect(content.Type).toBe('AWS::KMS::ReplicaKey');
    expect(content.DeletionPolicy).toBe('Retain');
    expect(evaluate(content.Properties?.PrimaryKeyArn, { ...cb, ContentKeyArn: contentArn })).toBe(
      contentArn,
    );
    expectKeyAdministration(content.Properties?.KeyPolicy, cb, c.keyCustodianArn, [
      'kms:DisableKey',
      'kms:PutKeyPolicy',
      'kms:ScheduleKeyDeletion',
      'kms:UpdatePrimaryRegion',
    ]);
    const readers = ['browse', 'drill', 'restore', 'restoreWorker', 'verify'].map(role).sort();
    const contentStatements = asList(
      (evaluate(content.Properties?.KeyPolicy, cb) as { Statement: Statement[] }).Statement,
    );
    const open = contentStatements.find((s) => s.Sid === 'ReadersDecrypt');
    expect(contentStatements.map((s) => s.Sid).sort()).toEqual([
      'KeyAdministration',
      'KeyCustody',
      'ReadersDecrypt',
    ]);
    expect(open?.Action).toBe('kms:Decrypt');
    expect(asList(open?.Condition?.ArnEquals?.['aws:PrincipalArn'] as string[]).sort()).toEqual(readers);
    expect(open?.Condition?.StringEquals).toEqual({ 'kms:EncryptionAlgorithm': 'RSAES_OAEP_SHA_256' });
    expect(keyUse(content.Properties?.KeyPolicy, cb)).toEqual({ 'kms:Decrypt': readers });
    expect(roleKeyUse(t(), b, `arn:aws:kms:${c.copyRegion}:${ACCOUNT}:key/<ContentKey>`)).toEqual({
      'kms:Decrypt': readers,
    });
    // Its parameter is the primary stack's output.
    expect(evaluate(t().Outputs?.ContentKeyArn?.Value, b)).toBe('<ContentKey.Arn>');
  });
});

it('two stages in one account and region have disjoint names', () => {
  const names = (c: Case): Set<string> => {
    const t = evaluate(
      (packaged[c.stage] as Packaged).template,
      pseudoParameters(c.region, ACCOUNT),
    ) as Template;
    const properties = [
      'FunctionName',
      'QueueName',
      'TableName',
      'BucketName',
      'RoleName',
      'AlarmName',
      'DashboardName',
      'TopicName',
      'AliasName',
      'LogGroupName',
      'Name',
    ];
    const found = Object.values(t.Resources).flatMap((r) =>
      properties
        .map((p) => r.Properties?.[p])
        // A reference to another resource is not a name of its own.
        .filter((v): v is string => typeof v === 'string' && !v.includes('<')),
    );
    found.push(...Object.values(t.Outputs ?? {}).flatMap((o) => (o.Export ? [String(o.Export.Name)] : [])));
    // As if both stages were deployed in the same region.
    return new Set(found.map((n) => n.replaceAll(c.region, '<region>')));
  };
  const [dev, prod] = CASES.map(names) as [Set<string>, Set<string>];
  expect(dev.size).toBeGreaterThan(30);
  expect([...dev].filter((n) => prod.has(n))).toEqual([]);
});
