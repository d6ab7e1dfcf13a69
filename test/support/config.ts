import type { Config } from '#runtime/config.ts';

/** A complete configuration for handler tests (no environment read), with overrides. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    primaryRegion: 'us-east-1',
    stateTable: 'strongbox-state',
    vaultBucket: 'vault-use1',
    copyVaults: new Map([['eu-west-1', 'vault-euw1']]),
    localKeyFile: '/nonexistent/master.key',
    queueUrls: {
      snapshot: 'https://sqs.us-east-1.amazonaws.com/111122223333/snapshot',
      copy: 'https://sqs.us-east-1.amazonaws.com/111122223333/copy',
      verify: 'https://sqs.us-east-1.amazonaws.com/111122223333/verify',
      prune: 'https://sqs.us-east-1.amazonaws.com/111122223333/prune',
    },
    concurrency: 4,
    gcGraceSeconds: 3600,
    gcMaxUnusedPercent: 5,
    timeReserveSeconds: 120,
    resumableObjectBytes: 1024 ** 3,
    indexMemoryBlobs: 1_000_000,
    sdkMaxAttempts: 3,
    // Handler tests mock the SDK client (aws-sdk-client-mock): every request goes through it.
    s3ObjectClient: 'sdk',
    maxReceiveCount: 3,
    reaper: { heartbeatSeconds: 30, staleSeconds: 180, maxRedrives: 3 },
    endpoints: { s3: new Map() },
    ...overrides,
  };
}
