/**
 * The detector's settings watch against S3's wire protocol (fauxqs): lifecycle rules read as none,
 * then as the rules an attacker set. fauxqs does not implement bucket policies, so the policy reads
 * as unknown here and is never taken for a change; what AWS answers is covered by the unit tests.
 */
import { DeleteBucketLifecycleCommand, PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3SourceSettingsReader } from '#adapters/s3/source-settings.ts';
import { fingerprintOf } from '#domain/detector/source-settings.ts';
import { startS3 } from '../support/emulators.ts';

describe('S3SourceSettingsReader on fauxqs', () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  beforeAll(async () => {
    s3 = await startS3();
    await s3.bucket('protected');
  });
  afterAll(() => s3?.stop());

  it('reads no lifecycle as null, the attacker’s expiry rule as a different text, and its removal as null again', async () => {
    const reader = new S3SourceSettingsReader(s3.client);
    const before = await reader.readSettings('protected');
    expect(before.lifecycle).toBeNull();
    await s3.client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'protected',
        LifecycleConfiguration: {
          Rules: [{ ID: 'expire', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
        },
      }),
    );
    const after = await reader.readSettings('protected');
    expect(after.lifecycle).toContain('"Days":1');
    expect(fingerprintOf(after.lifecycle as string)).not.toBe(fingerprintOf(null));
    await s3.client.send(new DeleteBucketLifecycleCommand({ Bucket: 'protected' }));
    expect((await reader.readSettings('protected')).lifecycle).toBeNull();
  });

  it('leaves out what the endpoint does not implement instead of failing the read', async () => {
    const settings = await new S3SourceSettingsReader(s3.client).readSettings('protected');
    expect(Object.keys(settings)).toContain('lifecycle');
    // fauxqs has no bucket policies: whatever it answers must not read as a policy.
    expect(typeof settings.policy === 'string').toBe(false);
  });
});
