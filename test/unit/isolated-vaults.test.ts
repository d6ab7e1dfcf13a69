/**
 * Isolated vaults without the network: their configuration (STRONGBOX_ISOLATED_VAULTS), the
 * container's stores and locations, the credentials of each kind (an assumed role with its
 * ExternalId, a provider key from Secrets Manager, each cached and fetched again before it
 * expires), the plan field and the copy task's target, and the keyring's copy before packs.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { assumedRoleCredentials, SECRET_TTL_MS, secretCredentials } from '#adapters/isolated-credentials.ts';
import { copyKeyDocuments } from '#domain/copy.ts';
import { StrongboxError, TransientError } from '#domain/errors.ts';
import {
  copyTargetsOf,
  hasVault,
  isolatedLocation,
  isolatedNameOf,
  regionsHolding,
  vaultBuckets,
  vaultIn,
} from '#domain/pipeline.ts';
import { validatePlans } from '#domain/plan.ts';
import { repairCatalog } from '#domain/repair.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { CopyTaskSchema } from '#domain/tasks.ts';
import { VaultLayout } from '#domain/vault.ts';
import { loadConfig } from '#runtime/config.ts';
import { createContainer } from '#runtime/container.ts';
import { type IsolatedVault, isolatedS3Client } from '#runtime/isolated-vaults.ts';
import { validationErrorOf } from '../support/errors.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';
import { memoryPipeline, plan, putText } from '../support/memory-pipeline.ts';

const clock = new ManualClock(new Date('2026-12-06T04:00:00Z'));
const sts = mockClient(STSClient);
const secrets = mockClient(SecretsManagerClient);
afterEach(() => {
  sts.reset();
  secrets.reset();
});

const ACCOUNT_VAULT: IsolatedVault = {
  name: 'offsite',
  kind: 'account',
  region: 'eu-central-1',
  bucket: 'strongbox-prod-isolated-210987654321-eu-central-1',
  copyRoleArn: 'arn:aws:iam::210987654321:role/strongbox-prod-isolated-copy',
  readerRoleArn: 'arn:aws:iam::210987654321:role/strongbox-prod-isolated-reader',
  externalId: 'strongbox-prod-4f9c2a7e1b8d4c3a',
};
const PROVIDER_VAULT: IsolatedVault = {
  name: 'b2',
  kind: 's3-compatible',
  endpoint: 'https://s3.eu-central-003.backblazeb2.com',
  region: 'eu-central-003',
  bucket: 'strongbox-prod-b2',
  forcePathStyle: true,
  credentialsSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:strongbox-b2-AbCdEf',
};

const minimalEnv = {
  STRONGBOX_PRIMARY_REGION: 'us-east-1',
  STRONGBOX_STATE_TABLE: 'strongbox-state',
  STRONGBOX_VAULT_BUCKET: 'strongbox-vault-use1',
  STRONGBOX_LOCAL_KEY_FILE: '/tmp/strongbox-isolated-unit.key',
  STRONGBOX_SNAPSHOT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/snapshot',
  STRONGBOX_COPY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/copy',
  STRONGBOX_VERIFY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/verify',
  STRONGBOX_PRUNE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/prune',
};

describe('STRONGBOX_ISOLATED_VAULTS', () => {
  it('reads none when absent or empty', () => {
    expect(loadConfig(minimalEnv).isolatedVaults).toBeUndefined();
    expect(loadConfig({ ...minimalEnv, STRONGBOX_ISOLATED_VAULTS: '' }).isolatedVaults).toBeUndefined();
  });

  it('reads both kinds; functions read them, unless told to write (the copy function)', () => {
    const env = { ...minimalEnv, STRONGBOX_ISOLATED_VAULTS: JSON.stringify([ACCOUNT_VAULT, PROVIDER_VAULT]) };
    expect(loadConfig(env)).toMatchObject({
      isolatedVaults: [ACCOUNT_VAULT, PROVIDER_VAULT],
      isolatedAccess: 'read',
    });
    expect(loadConfig({ ...env, STRONGBOX_ISOLATED_VAULT_ACCESS: 'write' }).isolatedAccess).toBe('write');
  });

  it.each([
    ['not JSON', '[{', /not JSON/],
    ['an unknown kind', JSON.stringify([{ ...PROVIDER_VAULT, kind: 'ftp' }]), /.+/],
    [
      'a role that is no role ARN',
      JSON.stringify([{ ...ACCOUNT_VAULT, copyRoleArn: 'copy' }]),
      /not an IAM role ARN/,
    ],
    ['a repeated name', JSON.stringify([PROVIDER_VAULT, PROVIDER_VAULT]), /names repeat/],
    ['an unknown field', JSON.stringify([{ ...PROVIDER_VAULT, accessKeyId: 'AKIA…' }]), /.+/],
  ])('refuses %s, naming the variable', (_what, value, message) => {
    const error = validationErrorOf(() => loadConfig({ ...minimalEnv, STRONGBOX_ISOLATED_VAULTS: value }));
    expect(error.field).toBe('STRONGBOX_ISOLATED_VAULTS');
    expect(error.message).toMatch(message);
  });
});

describe('the container', () => {
  it('builds each isolated vault at its location `vault:<name>`, apart from the copy regions', () => {
    const c = createContainer(
      loadConfig({
        ...minimalEnv,
        STRONGBOX_ISOLATED_VAULTS: JSON.stringify([ACCOUNT_VAULT, PROVIDER_VAULT]),
      }),
    );
    const { vaults } = c.pipeline;
    expect([...(vaults.isolated?.keys() ?? [])]).toEqual(['offsite', 'b2']);
    expect(vaultIn(vaults, 'vault:offsite')).toMatchObject({
      region: 'vault:offsite',
      bucket: ACCOUNT_VAULT.bucket,
    });
    expect(vaultIn(vaults, 'vault:b2').bucket).toBe(PROVIDER_VAULT.bucket);
    expect(vaults.copies.size).toBe(0);
    expect(vaultBuckets(vaults).has(PROVIDER_VAULT.bucket)).toBe(true);
  });

  it('has none without the variable', () => {
    expect(createContainer(loadConfig(minimalEnv)).pipeline.vaults.isolated).toBeUndefined();
  });
});

describe('isolatedS3Client', () => {
  const options = { sdkMaxAttempts: 1, primaryRegion: 'us-east-1' };
  const assumed = {
    Credentials: {
      AccessKeyId: 'ASIAISOLATED',
      SecretAccessKey: 'secret',
      SessionToken: 'token',
      Expiration: new Date(Date.now() + 3600_000),
    },
  };

  it('assumes the copy role with the ExternalId for writing, the reader role for reading', async () => {
    sts.on(AssumeRoleCommand).resolves(assumed);
    const writer = isolatedS3Client(ACCOUNT_VAULT, 'write', options);
    const reader = isolatedS3Client(ACCOUNT_VAULT, 'read', options);
    expect((await writer.config.credentials()).accessKeyId).toBe('ASIAISOLATED');
    await reader.config.credentials();
    const calls = sts.commandCalls(AssumeRoleCommand).map((call) => call.args[0].input);
    expect(calls).toEqual([
      expect.objectContaining({ RoleArn: ACCOUNT_VAULT.copyRoleArn, ExternalId: ACCOUNT_VAULT.externalId }),
      expect.objectContaining({ RoleArn: ACCOUNT_VAULT.readerRoleArn, ExternalId: ACCOUNT_VAULT.externalId }),
    ]);
    expect(await writer.config.region()).toBe('eu-central-1');
  });

  it('signs a provider’s requests with the key its secret holds, at its endpoint, path-style', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ accessKeyId: 'B2KEY', secretAccessKey: 'b2secret' }),
    });
    const client = isolatedS3Client(PROVIDER_VAULT, 'read', options);
    expect(await client.config.credentials()).toMatchObject({
      accessKeyId: 'B2KEY',
      secretAccessKey: 'b2secret',
    });
    expect(secrets.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({
      SecretId: PROVIDER_VAULT.credentialsSecretArn,
    });
    expect(client.config.forcePathStyle).toBe(true);
    expect((await client.config.endpoint?.())?.hostname).toBe('s3.eu-central-003.backblazeb2.com');
  });
});

describe('assumedRoleCredentials', () => {
  const role = { roleArn: ACCOUNT_VAULT.copyRoleArn, externalId: 'x-123', sessionName: 'strongbox-copy' };

  it('assumes once while the session lasts, again in its last five minutes', async () => {
    let now = 1_000_000;
    sts.on(AssumeRoleCommand).callsFake(() => ({
      Credentials: {
        AccessKeyId: `ASIA${now}`,
        SecretAccessKey: 's',
        SessionToken: 't',
        Expiration: new Date(now + 3600_000),
      },
    }));
    const credentials = assumedRoleCredentials(new STSClient({}), role, () => now);
    const first = await credentials();
    await Promise.all([credentials(), credentials()]);
    now += 54 * 60_000;
    expect((await credentials()).accessKeyId).toBe(first.accessKeyId);
    now += 2 * 60_000;
    expect((await credentials()).accessKeyId).not.toBe(first.accessKeyId);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });

  it('fails retryably when STS refuses (a trust policy not in place yet), and asks again next time', async () => {
    sts
      .on(AssumeRoleCommand)
      .rejectsOnce(new Error('AccessDenied'))
      .resolves({
        Credentials: {
          AccessKeyId: 'A',
          SecretAccessKey: 's',
          SessionToken: 't',
          Expiration: new Date(Date.now() + 3600_000),
        },
      });
    const credentials = assumedRoleCredentials(new STSClient({}), role);
    const error = await credentials().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).retryable).toBe(true);
    expect((await credentials()).accessKeyId).toBe('A');
  });
});

describe('secretCredentials', () => {
  const arn = PROVIDER_VAULT.kind === 's3-compatible' ? (PROVIDER_VAULT.credentialsSecretArn as string) : '';

  it('reads the secret again once its key is older than the TTL (a rotated key is picked up)', async () => {
    let now = 0;
    let n = 0;
    secrets.on(GetSecretValueCommand).callsFake(() => {
      n += 1;
      return { SecretString: JSON.stringify({ accessKeyId: `KEY${n}`, secretAccessKey: 's' }) };
    });
    const credentials = secretCredentials(new SecretsManagerClient({}), arn, () => now);
    expect((await credentials()).accessKeyId).toBe('KEY1');
    now += SECRET_TTL_MS - 6 * 60_000;
    expect((await credentials()).accessKeyId).toBe('KEY1');
    now += 2 * 60_000;
    expect((await credentials()).accessKeyId).toBe('KEY2');
  });

  it('refuses a secret of another shape without repeating its value', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'hunter2' });
    const error = await secretCredentials(new SecretsManagerClient({}), arn)().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StrongboxError);
    expect((error as StrongboxError).retryable).toBe(false);
    expect((error as Error).message).toContain(arn);
    expect((error as Error).message).not.toContain('hunter2');
  });
});

describe('locations of isolated vaults', () => {
  const primary = new MemoryVaultStore('us-east-1', 'vault-use1', clock);
  const copy = new MemoryVaultStore('eu-west-1', 'vault-euw1', clock);
  const offsite = new MemoryVaultStore('vault:offsite', 'isolated-bucket', clock);
  const vaults = {
    primary,
    copies: new Map([['eu-west-1', copy]]),
    isolated: new Map([['offsite', offsite]]),
  };

  it('names an isolated vault `vault:<name>`, which no region name can be', () => {
    expect(isolatedLocation('offsite')).toBe('vault:offsite');
    expect(isolatedNameOf('vault:offsite')).toBe('offsite');
    expect(isolatedNameOf('eu-west-1')).toBeUndefined();
    expect(vaultIn(vaults, 'vault:offsite')).toBe(offsite);
    expect(() => vaultIn(vaults, 'vault:elsewhere')).toThrow(/no isolated vault named 'elsewhere'/);
    expect(hasVault(vaults, 'vault:offsite')).toBe(true);
    expect(hasVault(vaults, 'vault:elsewhere')).toBe(false);
  });

  it('copies a plan’s snapshots to its copy regions, then its isolated vaults', () => {
    expect(copyTargetsOf({ copyRegions: ['eu-west-1'], isolatedVaults: ['offsite'] })).toEqual([
      'eu-west-1',
      'vault:offsite',
    ]);
    expect(copyTargetsOf({ copyRegions: [] })).toEqual([]);
    expect(
      CopyTaskSchema.safeParse({ kind: 'copy', planId: 'p', snapshotId: 's', region: 'vault:offsite' })
        .success,
    ).toBe(true);
    expect(
      CopyTaskSchema.safeParse({ kind: 'copy', planId: 'p', snapshotId: 's', region: 'vault:' }).success,
    ).toBe(false);
  });

  it('verifies and drills where a snapshot was copied, leaving out an isolated vault no longer configured', () => {
    const regions = {
      'eu-west-1': { status: 'COPIED' as const },
      'vault:offsite': { status: 'COPIED' as const },
      'vault:retired': { status: 'COPIED' as const },
    };
    expect(regionsHolding(vaults, { regions })).toEqual(['us-east-1', 'eu-west-1', 'vault:offsite']);
  });

  it('lets a plan name only the isolated vaults the deployment configures', () => {
    const plan = {
      id: 'p',
      source: { bucket: 'photos' },
      schedule: 'rate(1 day)',
      retention: { keepLast: 1 },
    };
    expect(
      validatePlans({ plans: [{ ...plan, isolatedVaults: ['offsite'] }] }, [], new Map(), ['offsite'])[0],
    ).toMatchObject({ isolatedVaults: ['offsite'] });
    const error = validationErrorOf(() =>
      validatePlans({ plans: [{ ...plan, isolatedVaults: ['offsite'] }] }, [], new Map(), []),
    );
    expect(error.field).toBe('plans[0].isolatedVaults[0]');
  });
});

describe('copyKeyDocuments', () => {
  it('copies the keyring documents a target lacks or holds with other bytes, and no others', async () => {
    const primary = new MemoryVaultStore('us-east-1', 'vault', clock);
    const target = new MemoryVaultStore('vault:offsite', 'isolated', clock);
    await primary.put('keys/a', Buffer.from('wrapped a'));
    await primary.put('keys/b', Buffer.from('wrapped b, rewrapped'));
    await primary.put('packs/00/00aa', Buffer.from('a pack'));
    await target.put('keys/b', Buffer.from('wrapped b'));
    expect(await copyKeyDocuments(primary, target)).toBe('wrapped a'.length + 'wrapped b, rewrapped'.length);
    expect(Buffer.from(await target.get('keys/b')).toString()).toBe('wrapped b, rewrapped');
    expect(Buffer.from(await target.get('keys/a')).toString()).toBe('wrapped a');
    const listed: string[] = [];
    for await (const o of target.list('')) listed.push(o.key);
    expect(listed.sort()).toEqual(['keys/a', 'keys/b']);
    expect(await copyKeyDocuments(primary, target)).toBe(0);
  });
});

describe('an isolated vault on the memory pipeline', () => {
  it('gets every snapshot copied, survives the primary vault and the catalog record, and restores', async () => {
    // Prepare: a plan copying to the copy region and to isolated vault `offsite`.
    const p = memoryPipeline();
    const offsite = new MemoryVaultStore('vault:offsite', 'isolated-offsite', p.clock);
    p.deps.vaults = { ...p.deps.vaults, isolated: new Map([['offsite', offsite]]) };
    await p.catalog.putPlans([plan({ isolatedVaults: ['offsite'], retention: { keepLast: 10 } })]);
    await putText(p, 'a.txt', 'alpha');
    await putText(p, 'dir/b.txt', 'bravo');
    p.objects.createBucket('restored');
    // Act: a snapshot and every task it leads to (copies, verification, prune).
    const { snapshotId } = await startSnapshotNow(p.deps, 'photos');
    await p.drain();
    // Assess: copied and verified there; never collected there (no GC task names it).
    const record = await p.catalog.getSnapshot('photos', snapshotId);
    expect(Object.keys(record?.regions ?? {}).sort()).toEqual(['eu-west-1', 'vault:offsite']);
    expect(record?.regions?.['vault:offsite']?.status).toBe('COPIED');
    expect(Object.keys(record?.verification?.tiers.catalog?.regions ?? {})).toContain('vault:offsite');
    const manifestKey = VaultLayout.manifestKey('photos', record?.manifestId as string);
    expect(offsite.objects.has(manifestKey)).toBe(true);
    // The primary vault and the snapshot's record are lost; repair brings the record back from the
    // copies, and the isolated vault restores it.
    await p.primary.delete([...p.primary.objects.keys()]);
    p.catalog.snapshots.delete(`photos/${snapshotId}`);
    p.catalog.jobs.delete(`photos/${snapshotId}`);
    await repairCatalog(p.deps);
    expect((await p.catalog.getSnapshot('photos', snapshotId))?.regions?.['vault:offsite']?.status).toBe(
      'COPIED',
    );
    const report = await restoreSnapshot(p.deps, {
      plan: 'photos',
      region: 'vault:offsite',
      targetBucket: 'restored',
    });
    expect(report).toMatchObject({ objects: 2 });
    expect(Buffer.from((await p.objects.get('restored', 'dir/b.txt')).body).toString()).toBe('bravo');
  });

  it('restores `latest` from it as the newest snapshot copied there, not a newer one still being copied', async () => {
    // Prepare: S1 copied everywhere; S2 committed, its copies not run yet.
    const p = memoryPipeline();
    const offsite = new MemoryVaultStore('vault:offsite', 'isolated-offsite', p.clock);
    p.deps.vaults = { ...p.deps.vaults, isolated: new Map([['offsite', offsite]]) };
    await p.catalog.putPlans([plan({ isolatedVaults: ['offsite'], retention: { keepLast: 10 } })]);
    await putText(p, 'a.txt', 'first');
    const s1 = (await startSnapshotNow(p.deps, 'photos')).snapshotId;
    await p.drain();
    p.clock.advance(3600_000);
    await putText(p, 'a.txt', 'second');
    const s2 = (await startSnapshotNow(p.deps, 'photos')).snapshotId;
    for (let tasks = p.queue.drain(); tasks.length > 0; tasks = p.queue.drain()) {
      for (const task of tasks) if (task.kind !== 'copy') await p.run(task);
    }
    expect((await p.catalog.getSnapshot('photos', s2))?.status).toBe('COMMITTED');
    p.objects.createBucket('restored');
    // Act
    const fromIsolated = await restoreSnapshot(p.deps, {
      plan: 'photos',
      region: 'vault:offsite',
      targetBucket: 'restored',
    });
    const fromPrimary = await restoreSnapshot(p.deps, {
      plan: 'photos',
      targetBucket: 'restored',
      targetPrefix: 'primary/',
    });
    // Assess
    expect(fromIsolated.snapshotId).toBe(s1);
    expect(fromPrimary.snapshotId).toBe(s2);
    await expect(
      restoreSnapshot(p.deps, {
        plan: 'photos',
        snapshot: s2,
        region: 'vault:offsite',
        targetBucket: 'restored',
      }),
    ).rejects.toThrow(/has not been copied to vault:offsite/);
  });
});
