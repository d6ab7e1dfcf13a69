// The isolated vault's deployment, as a security reviewer reads it: deploy/isolated-account.yml (the
// other account's bucket, key and two roles) and the primary stack's grants to reach it, from the
// real `npm run package` with an `isolatedVaults` parameter. The embedded stack enforces none of
// this (no Object Lock, no bucket policies, no STS): these assertions are the only proof of it.
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServerlessConfig } from '#local/serverless-config.ts';
import { type IsolatedVault, IsolatedVaultSchema } from '#runtime/isolated-vaults.ts';
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

const require = createRequire(import.meta.url);
const ACCOUNT = '123456789012';
const ISOLATED_ACCOUNT = '210987654321';
const STAGE = 'prod';
const REGION = 'us-west-2';
const ISOLATED_REGION = 'eu-central-1';
const CUSTODIAN = `arn:aws:iam::${ISOLATED_ACCOUNT}:role/security/isolated-break-glass`;
const EXTERNAL_ID = 'strongbox-prod-4f9c2a7e1b8d4c3a9e6f0b5d2c7a1e8f';
const BUCKET = `strongbox-${STAGE}-isolated-${ISOLATED_ACCOUNT}-${ISOLATED_REGION}`;
const COPY_ROLE = `arn:aws:iam::${ISOLATED_ACCOUNT}:role/strongbox-${STAGE}-isolated-copy`;
const READER_ROLE = `arn:aws:iam::${ISOLATED_ACCOUNT}:role/strongbox-${STAGE}-isolated-reader`;
const SECRET = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:strongbox-prod-b2-AbCdEf';
const READERS = ['verify', 'restore', 'restoreWorker', 'drill', 'browse'];
/** A primary stack function's role, by the name serverless.yml gives it. */
const role = (fn: string) => `arn:aws:iam::${ACCOUNT}:role/strongbox-${STAGE}-${REGION}-${fn}`;

/** The primary stack's isolatedVaults: the account above, and a second provider. */
const VAULTS: IsolatedVault[] = [
  {
    name: 'offsite',
    kind: 'account',
    region: ISOLATED_REGION,
    bucket: BUCKET,
    copyRoleArn: COPY_ROLE,
    readerRoleArn: READER_ROLE,
    externalId: EXTERNAL_ID,
  },
  {
    name: 'b2',
    kind: 's3-compatible',
    endpoint: 'https://s3.eu-central-003.backblazeb2.com',
    region: 'eu-central-003',
    bucket: 'strongbox-prod-b2',
    forcePathStyle: true,
    credentialsSecretArn: SECRET,
  },
];

/** Actions that would delete, expire, unlock, re-encrypt or re-open the isolated vault. */
const TAMPER = [
  's3:BypassGovernanceRetention',
  's3:DeleteBucket',
  's3:DeleteBucketPolicy',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:PutBucketObjectLockConfiguration',
  's3:PutBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutEncryptionConfiguration',
  's3:PutLifecycleConfiguration',
  's3:PutReplicationConfiguration',
];
const KEY_USE = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:CreateGrant',
];
const KEY_CUSTODY = [
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:PutKeyPolicy',
  'kms:ReplicateKey',
  'kms:ScheduleKeyDeletion',
  'kms:UpdatePrimaryRegion',
];

const raw = readYaml<Template>(path.join(PROJECT_ROOT, 'deploy', 'isolated-account.yml'));
const b: Bindings = {
  ...pseudoParameters(ISOLATED_REGION, ISOLATED_ACCOUNT),
  Service: 'strongbox',
  Stage: STAGE,
  VaultName: 'offsite',
  StrongboxAccountId: ACCOUNT,
  PrimaryRegion: REGION,
  ExternalId: EXTERNAL_ID,
  KeyCustodianArn: CUSTODIAN,
  RetentionDays: '90',
};
const t = evaluate(raw, b) as Template;
const resource = (id: string) => t.Resources[id] as Resource;
const statementsOf = (doc: unknown) => asList((doc as { Statement: Statement[] }).Statement);
const bucketPolicy = () => statementsOf(resource('VaultBucketPolicy').Properties?.PolicyDocument);
const keyPolicy = () => statementsOf(resource('IsolatedKey').Properties?.KeyPolicy);

describe('deploy/isolated-account.yml', () => {
  it('makes one bucket: named for the account, COMPLIANCE Object Lock by default, versioned, SSE-KMS under its own key, kept', () => {
    expect(Object.values(t.Resources).filter((r) => r.Type === 'AWS::S3::Bucket')).toHaveLength(1);
    const bucket = resource('VaultBucket');
    const p = bucket.Properties ?? {};
    expect(p.BucketName).toBe(BUCKET);
    expect(p.ObjectLockEnabled).toBe(true);
    expect(p.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: '90' } },
    });
    expect(p.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(p.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: '<IsolatedKey.Arn>' },
          BucketKeyEnabled: true,
        },
      ],
    });
    expect(p.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(p.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    // No rule that expires a current or noncurrent version: nothing leaves but by its owner's hand.
    const rules = (p.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    for (const rule of rules) {
      expect(
        Object.keys(rule).filter((k) => /Expiration|Transition/.test(k)),
        String(rule.Id),
      ).toEqual([]);
    }
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    const parameter = raw.Parameters?.RetentionDays as { MinValue?: number };
    expect(parameter.MinValue).toBe(1);
  });

  it('denies every delete, lifecycle, policy, lock, versioning, encryption and replication change to everyone', () => {
    const tamper = bucketPolicy().find((s) => s.Sid === 'DenyTamper');
    expect(tamper?.Effect).toBe('Deny');
    expect(tamper?.Principal).toBe('*');
    expect(tamper?.Condition).toBeUndefined();
    expect(asList(tamper?.Action).sort()).toEqual([...TAMPER].sort());
    expect(asList(tamper?.Resource).sort()).toEqual(['<VaultBucket.Arn>', '<VaultBucket.Arn>/*']);
    // Nothing in the template allows what it denies (a Deny wins anyway; an Allow would mislead).
    const allowed = Object.values(t.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Role')
      .flatMap((r) => grants(roleStatements(r, b)))
      .map((g) => g.split(' ')[0]);
    expect(allowed.filter((a) => TAMPER.includes(a as string) || /Delete/.test(a as string))).toEqual([]);
    expect(resource('VaultBucketPolicy').DeletionPolicy).toBe('Retain');
  });

  it('refuses SSE-C and other keys on writes, and plain HTTP', () => {
    const byId = new Map(bucketPolicy().map((s) => [s.Sid, s]));
    expect(byId.get('DenySseC')).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:PutObject',
      Resource: '<VaultBucket.Arn>/*',
      Condition: { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': false } },
    });
    expect(byId.get('DenyForeignKeys')).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:PutObject',
      Condition: {
        StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': '<IsolatedKey.Arn>' },
      },
    });
    expect(byId.get('TlsOnly')).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': false } },
    });
  });

  it('admits only the copy role and the reader role to its objects and listing', () => {
    const admitted = { 'aws:PrincipalArn': ['<CopyRole.Arn>', '<ReaderRole.Arn>'] };
    const byId = new Map(bucketPolicy().map((s) => [s.Sid, s]));
    expect(byId.get('DenyOthersObjects')).toEqual({
      Sid: 'DenyOthersObjects',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: '<VaultBucket.Arn>/*',
      Condition: { ArnNotEquals: admitted },
    });
    expect(byId.get('DenyOthersListing')).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Resource: '<VaultBucket.Arn>',
      Condition: { ArnNotEquals: admitted },
    });
    expect(asList(byId.get('DenyOthersListing')?.Action)).toContain('s3:ListBucket');
    // The policy allows nothing itself: the two roles' own policies do.
    expect(bucketPolicy().filter((s) => s.Effect === 'Allow')).toEqual([]);
  });

  it('lets only the primary stack’s copy function assume the copy role, with the ExternalId; it lists, reads and writes the layout, never deletes', () => {
    const copy = resource('CopyRole');
    expect(copy.Properties?.RoleName).toBe(`strongbox-${STAGE}-isolated-copy`);
    expect(copy.Properties?.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: 'sts:AssumeRole',
          Condition: {
            StringEquals: { 'sts:ExternalId': EXTERNAL_ID },
            ArnEquals: { 'aws:PrincipalArn': role('copy') },
          },
        },
      ],
    });
    const layout = ['keys', 'packs', 'index', 'parts', 'manifests'].map((p) => `<VaultBucket.Arn>/${p}/*`);
    expect(grants(roleStatements(copy, b))).toEqual(
      [
        's3:ListBucket <VaultBucket.Arn>',
        's3:GetObject <VaultBucket.Arn>/*',
        ...layout.flatMap((r) => [`s3:PutObject ${r}`, `s3:AbortMultipartUpload ${r}`]),
        'kms:GenerateDataKey <IsolatedKey.Arn>',
        'kms:Decrypt <IsolatedKey.Arn>',
      ].sort(),
    );
  });

  it('lets only the primary stack’s readers assume the reader role, with the ExternalId; it only lists and reads', () => {
    const reader = resource('ReaderRole');
    const trust = statementsOf(reader.Properties?.AssumeRolePolicyDocument);
    expect(trust).toHaveLength(1);
    expect(trust[0]).toMatchObject({
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } },
    });
    expect(asList(trust[0]?.Condition?.ArnEquals?.['aws:PrincipalArn'] as string[]).sort()).toEqual(
      READERS.map(role).sort(),
    );
    expect(grants(roleStatements(reader, b))).toEqual(
      [
        's3:ListBucket <VaultBucket.Arn>',
        's3:GetObject <VaultBucket.Arn>/*',
        'kms:Decrypt <IsolatedKey.Arn>',
      ].sort(),
    );
  });

  it('keeps its key from every administrator: no use, no policy change, no deletion but the custodian’s; the roles use it only through S3, for this bucket', () => {
    const key = resource('IsolatedKey');
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties?.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    const statements = keyPolicy();
    for (const s of statements) {
      expect(s.Resource).toBe('*');
      expect(asList(s.Action).filter((a) => a.includes('*'))).toEqual([]);
    }
    const admin = statements.find((s) => s.Sid === 'KeyAdministration');
    expect(admin?.Principal).toEqual({ AWS: `arn:aws:iam::${ISOLATED_ACCOUNT}:root` });
    expect(admin?.Condition).toBeUndefined();
    expect(asList(admin?.Action).filter((a) => KEY_USE.includes(a) || KEY_CUSTODY.includes(a))).toEqual([]);
    const custody = statements.find((s) => s.Sid === 'KeyCustody');
    expect(custody?.Principal).toEqual({ AWS: `arn:aws:iam::${ISOLATED_ACCOUNT}:root` });
    expect(custody?.Condition).toEqual({ ArnEquals: { 'aws:PrincipalArn': CUSTODIAN } });
    expect(asList(custody?.Action).sort()).toEqual([...KEY_CUSTODY].sort());
    for (const s of statements.filter((s) => s.Sid !== 'KeyCustody')) {
      expect(
        asList(s.Action).filter((a) => KEY_CUSTODY.includes(a)),
        String(s.Sid),
      ).toEqual([]);
    }
    // Use: each statement names one role, through S3 in this region, for this bucket only.
    const use = statements.filter((s) => asList(s.Action).some((a) => KEY_USE.includes(a)));
    const through = {
      'kms:ViaService': `s3.${ISOLATED_REGION}.amazonaws.com`,
      'kms:EncryptionContext:aws:s3:arn': `arn:aws:s3:::${BUCKET}`,
    };
    expect(use.map((s) => [asList(s.Action).sort(), s.Condition])).toEqual([
      [
        ['kms:Decrypt', 'kms:GenerateDataKey'],
        { ArnEquals: { 'aws:PrincipalArn': COPY_ROLE }, StringEquals: through },
      ],
      [['kms:Decrypt'], { ArnEquals: { 'aws:PrincipalArn': READER_ROLE }, StringEquals: through }],
    ]);
    for (const s of use) expect(s.Principal).toEqual({ AWS: `arn:aws:iam::${ISOLATED_ACCOUNT}:root` });
  });

  it('outputs an isolatedVaults entry the functions accept, naming what it made', () => {
    const entry = JSON.parse(String(t.Outputs?.IsolatedVaultsParameter?.Value)) as unknown;
    const parsed = IsolatedVaultSchema.parse(
      // The output names the template's own resources; deployed, they are these.
      JSON.parse(
        JSON.stringify(entry)
          .replace('<VaultBucket>', BUCKET)
          .replace('<CopyRole.Arn>', COPY_ROLE)
          .replace('<ReaderRole.Arn>', READER_ROLE),
      ),
    );
    expect(parsed).toEqual(VAULTS[0]);
  });
});

describe('the primary stack with isolatedVaults', () => {
  let packaged: Packaged;
  const pb = pseudoParameters(REGION, ACCOUNT);
  const tpl = () => packaged.template;

  beforeAll(async () => {
    packaged = await runPackage([
      '--stage',
      STAGE,
      '--region',
      REGION,
      '--param',
      `isolatedVaults=${JSON.stringify(VAULTS)}`,
    ]);
  }, 300_000);

  afterAll(async () => {
    await packaged?.dispose();
  });

  /** Which function roles a standalone policy is attached to, and what it grants. */
  function attached(id: string): { roles: string[]; grants: string[] } {
    const policy = evaluate(tpl().Resources[id], pb) as Resource;
    expect(policy.Type).toBe('AWS::IAM::Policy');
    return {
      roles: asList(policy.Properties?.Roles as string[]).sort(),
      grants: grants(statementsOf(policy.Properties?.PolicyDocument)),
    };
  }

  it('tells every function the isolated vaults, and only the copy function writes them', () => {
    const functions = Object.entries(tpl().Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(5);
    for (const [id, fn] of functions) {
      const variables = (fn.Properties?.Environment as { Variables?: unknown } | undefined)?.Variables;
      const env = evaluate(variables ?? {}, pb) as Record<string, string>;
      if (!('STRONGBOX_STATE_TABLE' in env)) continue; // osls's own helper functions
      expect(JSON.parse(env.STRONGBOX_ISOLATED_VAULTS as string), id).toEqual(VAULTS);
      expect(env.STRONGBOX_ISOLATED_VAULT_ACCESS, id).toBe(id === 'CopyLambdaFunction' ? 'write' : undefined);
    }
  });

  it('lets the copy role assume the isolated copy role and read the provider’s secret, nothing more', () => {
    expect(attached('IsolatedVaultCopyPolicy')).toEqual({
      roles: ['<CopyRole>'],
      grants: [`secretsmanager:GetSecretValue ${SECRET}`, `sts:AssumeRole ${COPY_ROLE}`],
    });
  });

  it('lets the readers assume the isolated reader role and read the provider’s secret, nothing more', () => {
    expect(attached('IsolatedVaultReadPolicy')).toEqual({
      roles: READERS.map((fn) => `<${fn.charAt(0).toUpperCase()}${fn.slice(1)}Role>`).sort(),
      grants: [`secretsmanager:GetSecretValue ${SECRET}`, `sts:AssumeRole ${READER_ROLE}`],
    });
  });

  it('grants the roles the isolated account trusts, under the names it trusts them by', () => {
    const nameOf = (id: string) =>
      `arn:aws:iam::${ACCOUNT}:role/${evaluate(tpl().Resources[id]?.Properties?.RoleName, pb)}`;
    const copyTrust = statementsOf(resource('CopyRole').Properties?.AssumeRolePolicyDocument)[0];
    expect(copyTrust?.Condition?.ArnEquals?.['aws:PrincipalArn']).toBe(nameOf('CopyRole'));
    const readerTrust = statementsOf(resource('ReaderRole').Properties?.AssumeRolePolicyDocument)[0];
    expect(asList(readerTrust?.Condition?.ArnEquals?.['aws:PrincipalArn'] as string[]).sort()).toEqual(
      ['VerifyRole', 'RestoreRole', 'RestoreWorkerRole', 'DrillRole', 'BrowseRole'].map(nameOf).sort(),
    );
  });

  it('grants nothing for isolated vaults when the parameter is empty (the default)', async () => {
    const config = await readServerlessConfig(PROJECT_ROOT, { stage: STAGE });
    expect(Object.keys(config.resources.Resources).filter((id) => id.startsWith('Isolated'))).toEqual([]);
    expect(config.provider.environment.STRONGBOX_ISOLATED_VAULTS).toBe('');
  });

  it('refuses a deployment whose isolated vault names no role or no secret', async () => {
    const grantsOf = require(path.join(PROJECT_ROOT, 'deploy', 'isolated-vaults.cjs')) as (sls: {
      resolveVariable: (name: string) => Promise<unknown>;
    }) => Promise<unknown>;
    const withParam = (list: unknown[]) => grantsOf({ resolveVariable: async () => JSON.stringify(list) });
    await expect(withParam([{ ...VAULTS[0], copyRoleArn: 'arn:aws:iam::1:role/x' }])).rejects.toThrow(
      /isolatedVaults\[0\]\.copyRoleArn: not an IAM role ARN/,
    );
    await expect(withParam([{ ...VAULTS[1], credentialsSecretArn: undefined }])).rejects.toThrow(
      /isolatedVaults\[0\]\.credentialsSecretArn: not a Secrets Manager secret ARN/,
    );
    await expect(withParam([VAULTS[1], VAULTS[1]])).rejects.toThrow(/'b2' repeats/);
  });
});
