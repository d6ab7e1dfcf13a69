import { describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { ValidationError } from '#domain/errors.ts';
import { validatePlans } from '#domain/plan.ts';
import { validationErrorOf } from '../support/errors.ts';
import { MemoryCatalog } from '../support/memory/catalog.ts';
import { ManualClock } from '../support/memory/clock.ts';
import { MemoryVaultStore } from '../support/memory/vault-store.ts';

/** A plan as a user would write it, with only the required fields. */
function raw(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'photos',
    source: { bucket: 'photo-bucket' },
    schedule: 'rate(1 hour)',
    retention: { keepLast: 3 },
    ...overrides,
  };
}

describe('validatePlans', () => {
  it('accepts a minimal plan and fills in the defaults', () => {
    const [plan] = validatePlans({ plans: [raw()] }, []);
    expect(plan).toEqual({
      id: 'photos',
      source: { bucket: 'photo-bucket', prefix: '' },
      schedule: 'rate(1 hour)',
      retention: { keepLast: 3 },
      copyRegions: [],
      verification: { samplePercent: 5 },
      enabled: true,
    });
  });

  it('fills in a drill’s sample size and recent snapshots when only its schedule is given', () => {
    const [plan] = validatePlans({ plans: [raw({ drill: { schedule: 'rate(7 days)' } })] }, []);
    expect(plan?.drill).toEqual({ schedule: 'rate(7 days)', sampleObjects: 20, recentSnapshots: 3 });
  });

  it.each([
    [{ schedule: 'weekly' }, 'plans[0].drill.schedule'],
    [{ schedule: 'rate(7 days)', sampleObjects: 0 }, 'plans[0].drill.sampleObjects'],
    [{ schedule: 'rate(7 days)', sampleBytes: -1 }, 'plans[0].drill.sampleBytes'],
    [{ schedule: 'rate(7 days)', recentSnapshots: 0 }, 'plans[0].drill.recentSnapshots'],
    [{ schedule: 'rate(7 days)', extra: 1 }, 'plans[0].drill'],
  ])('rejects the drill %j naming %s', (drill, field) => {
    const error = validationErrorOf(() => validatePlans({ plans: [raw({ drill })] }, []));
    expect(error.field).toBe(field);
  });

  it('fills in samplePercent when verification is given without it', () => {
    const [plan] = validatePlans({ plans: [raw({ verification: {} })] }, []);
    expect(plan?.verification.samplePercent).toBe(5);
  });

  it('keeps what the user set', () => {
    const [plan] = validatePlans(
      {
        plans: [
          raw({
            source: { bucket: 'photo-bucket', prefix: 'albums/' },
            copyRegions: ['eu-west-1'],
            verification: { samplePercent: 100 },
            enabled: false,
            retention: { keepDaily: 7, keepWithin: '1y6m', keepLast: -1 },
          }),
        ],
      },
      ['eu-west-1'],
    );
    expect(plan).toMatchObject({
      source: { prefix: 'albums/' },
      copyRegions: ['eu-west-1'],
      verification: { samplePercent: 100 },
      enabled: false,
      retention: { keepDaily: 7, keepWithin: '1y6m', keepLast: -1 },
    });
  });

  it.each([
    ['a negative count other than -1', { retention: { keepDaily: -2 } }, 'plans[0].retention.keepDaily'],
    ['a fractional count', { retention: { keepDaily: 1.5 } }, 'plans[0].retention.keepDaily'],
    ['a count given as a string', { retention: { keepDaily: '7' } }, 'plans[0].retention.keepDaily'],
    ['a bad keepWithin', { retention: { keepWithin: 'a week' } }, 'plans[0].retention.keepWithin'],
    ['an unknown retention rule', { retention: { keepLast: 1, keepForever: true } }, 'plans[0].retention'],
    ['an empty retention', { retention: {} }, 'plans[0].retention'],
    ['a retention of zeros', { retention: { keepLast: 0, keepDaily: 0 } }, 'plans[0].retention'],
    ['a bucket name with capitals', { source: { bucket: 'Photos' } }, 'plans[0].source.bucket'],
    ['a bucket name with underscores', { source: { bucket: 'photo_bucket' } }, 'plans[0].source.bucket'],
    ['a two-letter bucket name', { source: { bucket: 'ab' } }, 'plans[0].source.bucket'],
    ['a bad schedule', { schedule: 'every hour' }, 'plans[0].schedule'],
    ['rate(1 minutes)', { schedule: 'rate(1 minutes)' }, 'plans[0].schedule'],
    ['a plan id with capitals', { id: 'Photos' }, 'plans[0].id'],
    ['a plan id with a slash', { id: 'a/b' }, 'plans[0].id'],
    ['a region that is not a region', { copyRegions: ['europe'] }, 'plans[0].copyRegions[0]'],
    ['a sample above 100%', { verification: { samplePercent: 101 } }, 'plans[0].verification.samplePercent'],
    [
      'a bad verification schedule',
      { verification: { schedules: { deep: 'monthly' } } },
      'plans[0].verification.schedules.deep',
    ],
    [
      'a schedule for an unknown tier',
      { verification: { schedules: { fast: 'rate(1 day)' } } },
      'plans[0].verification.schedules',
    ],
    ['a fractional sampleBytes', { verification: { sampleBytes: 1.5 } }, 'plans[0].verification.sampleBytes'],
    ['enabled given as a string', { enabled: 'yes' }, 'plans[0].enabled'],
  ])('names the field of %s', (_name, overrides, field) => {
    const error = validationErrorOf(() => validatePlans({ plans: [raw(overrides)] }, []));
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
  });

  it('names a missing field', () => {
    const { retention: _r, ...withoutRetention } = raw();
    const error = validationErrorOf(() => validatePlans({ plans: [withoutRetention] }, []));
    expect(error.field).toBe('plans[0].retention');
  });

  it('explains what a valid schedule looks like', () => {
    const error = validationErrorOf(() => validatePlans({ plans: [raw({ schedule: 'hourly' })] }, []));
    expect(error.message).toMatch(/rate\(N minutes\|hours\|days\)/);
  });

  it('explains that an empty retention would keep nothing safe to prune', () => {
    const error = validationErrorOf(() => validatePlans({ plans: [raw({ retention: {} })] }, []));
    expect(error.message).toMatch(/at least one rule/);
  });

  it('refuses an unknown field of a plan', () => {
    const error = validationErrorOf(() => validatePlans({ plans: [raw({ shedule: 'rate(1 hour)' })] }, []));
    expect(error.field).toBe('plans[0]');
    expect(error.message).toMatch(/shedule/);
  });

  it('names the second plan when it is the bad one', () => {
    const error = validationErrorOf(() =>
      validatePlans({ plans: [raw(), raw({ id: 'docs', source: { bucket: 'BAD' } })] }, []),
    );
    expect(error.field).toBe('plans[1].source.bucket');
  });

  it('refuses a region without a copy vault, naming the region and the configured ones', () => {
    const error = validationErrorOf(() =>
      validatePlans({ plans: [raw(), raw({ id: 'docs', copyRegions: ['eu-west-1', 'ap-south-1'] })] }, [
        'eu-west-1',
      ]),
    );
    expect(error.field).toBe('plans[1].copyRegions[1]');
    expect(error.message).toMatch(/ap-south-1/);
    expect(error.message).toMatch(/configured: eu-west-1/);
  });

  it("says 'none' when no copy vault is configured", () => {
    const error = validationErrorOf(() =>
      validatePlans({ plans: [raw({ copyRegions: ['eu-west-1'] })] }, []),
    );
    expect(error.field).toBe('plans[0].copyRegions[0]');
    expect(error.message).toMatch(/configured: none/);
  });

  it('refuses duplicate plan ids, naming the second', () => {
    const error = validationErrorOf(() =>
      validatePlans({ plans: [raw(), raw({ schedule: 'rate(1 day)' })] }, []),
    );
    expect(error.field).toBe('plans[1].id');
    expect(error.message).toMatch(/duplicate plan id 'photos'/);
  });

  it('refuses a file without plans', () => {
    expect(validationErrorOf(() => validatePlans({ plans: [] }, [])).field).toBe('plans');
    expect(validationErrorOf(() => validatePlans({}, [])).field).toBe('plans');
    expect(() => validatePlans(null, [])).toThrow(ValidationError);
  });

  it('reports errors as not retryable', () => {
    const error = validationErrorOf(() => validatePlans({ plans: [raw({ schedule: 'x' })] }, []));
    expect(error.retryable).toBe(false);
  });
});

describe('applyPlans', () => {
  function setup(now = '2026-03-01T12:34:56.789Z') {
    const clock = new ManualClock(now);
    const catalog = new MemoryCatalog();
    return { clock, catalog, deps: { clock, catalog } };
  }

  it('stores every plan with createdAt and updatedAt in whole seconds', async () => {
    // Prepare
    const { catalog, deps } = setup();
    // Act
    const records = await applyPlans(deps, { plans: [raw(), raw({ id: 'docs' })] }, []);
    // Assess
    expect(records.map((r) => r.id)).toEqual(['photos', 'docs']);
    const stored = await catalog.getPlan('docs');
    expect(stored?.createdAt).toBe('2026-03-01T12:34:56.000Z');
    expect(stored?.updatedAt).toBe('2026-03-01T12:34:56.000Z');
    expect(stored?.verification.samplePercent).toBe(5);
    expect(catalog.plans.size).toBe(2);
  });

  it('keeps the createdAt of a plan that exists, and moves its updatedAt', async () => {
    // Prepare
    const { clock, catalog, deps } = setup();
    await applyPlans(deps, { plans: [raw()] }, []);
    clock.advance(3 * 86_400_000 + 500);
    // Act
    await applyPlans(deps, { plans: [raw({ schedule: 'rate(1 day)' }), raw({ id: 'docs' })] }, []);
    // Assess
    const photos = await catalog.getPlan('photos');
    expect(photos?.schedule).toBe('rate(1 day)');
    expect(photos?.createdAt).toBe('2026-03-01T12:34:56.000Z');
    expect(photos?.updatedAt).toBe('2026-03-04T12:34:57.000Z');
    expect((await catalog.getPlan('docs'))?.createdAt).toBe('2026-03-04T12:34:57.000Z');
  });

  it('writes nothing when any plan is invalid', async () => {
    // Prepare
    const { clock, catalog, deps } = setup();
    await applyPlans(deps, { plans: [raw()] }, []);
    const before = structuredClone(catalog.plans.get('photos'));
    clock.advance(60_000);
    // Act
    const applying = applyPlans(
      deps,
      { plans: [raw({ schedule: 'rate(1 day)' }), raw({ id: 'docs' }), raw({ id: 'bad', retention: {} })] },
      [],
    );
    // Assess
    await expect(applying).rejects.toThrow(ValidationError);
    expect([...catalog.plans.keys()]).toEqual(['photos']);
    expect(catalog.plans.get('photos')).toEqual(before);
  });

  it.each([
    ['strongbox-prod-vault-123-us-east-1', 'the primary vault'],
    ['strongbox-prod-vault-123-eu-west-1', 'the copy vault in eu-west-1'],
    ['photos-drills', 'the restore drills’ scratch bucket'],
  ])('refuses a plan whose source is %s (%s), and writes nothing', async (bucket, what) => {
    // Prepare: a deployment with a primary vault, a copy vault and a drill bucket
    const { catalog, clock } = setup();
    const vaults = {
      primary: new MemoryVaultStore('us-east-1', 'strongbox-prod-vault-123-us-east-1', clock),
      copies: new Map([
        ['eu-west-1', new MemoryVaultStore('eu-west-1', 'strongbox-prod-vault-123-eu-west-1', clock)],
      ]),
    };
    // Act
    const applying = applyPlans(
      { catalog, clock, vaults },
      { plans: [raw({ id: 'docs' }), raw({ id: 'vault', source: { bucket } })] },
      ['eu-west-1'],
      { drillBucket: 'photos-drills' },
    );
    // Assess
    const error = await applying.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('plans[1].source.bucket');
    expect((error as Error).message).toContain(`'${bucket}' is ${what} of this deployment`);
    expect(catalog.plans.size).toBe(0);
  });

  it('writes nothing when a plan names a region without a copy vault', async () => {
    const { catalog, deps } = setup();
    await expect(
      applyPlans(deps, { plans: [raw({ copyRegions: ['eu-west-1'] })] }, ['us-west-2']),
    ).rejects.toThrow(/plans\[0\]\.copyRegions\[0\]/);
    expect(catalog.plans.size).toBe(0);
  });
});
