// Turns serverless.yml's `isolatedVaults` parameter (a JSON list, '' = none; README, "Isolated
// vault") into what the template needs: the functions' STRONGBOX_ISOLATED_VAULTS, and the grants
// that reach the isolated vaults, as policies attached to the function roles:
//   custom.isolated: ${file(./deploy/isolated-vaults.cjs)}
// - the copy role may assume each `account` vault's copy role (deploy/isolated-account.yml's
//   CopyRoleArn output) and read each `s3-compatible` vault's credentials secret;
// - the readers (verify, restore, restoreWorker, drill, browse) may assume each `account` vault's
//   reader role and read the same secrets.
// Nothing else: the isolated account's bucket policy and key policy decide what those roles may do
// there; this account's roles never touch the isolated bucket or its key directly.
// It runs inside `osls print` / `osls package` (offline) and the embedded stack's config reader.
// The functions validate the same JSON again, fully, at start (shared/runtime/isolated-vaults.ts).
'use strict';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/;
/** The functions that read isolated vaults (restore, verification, drills, browse). */
const READER_ROLES = ['VerifyRole', 'RestoreRole', 'RestoreWorkerRole', 'DrillRole', 'BrowseRole'];

/** One entry's fields the grants depend on; throws naming the first that is wrong. */
function check(v, at) {
  if (v.kind === 'account') {
    for (const field of ['copyRoleArn', 'readerRoleArn']) {
      if (!ROLE_ARN.test(String(v[field]))) throw new Error(`${at}.${field}: not an IAM role ARN`);
    }
    if (!v.externalId) throw new Error(`${at}.externalId: required`);
  } else if (v.kind === 's3-compatible') {
    // Deployed, a provider's key always comes from a secret (the embedded stack may go without).
    if (!SECRET_ARN.test(String(v.credentialsSecretArn)))
      throw new Error(`${at}.credentialsSecretArn: not a Secrets Manager secret ARN`);
  } else {
    throw new Error(`${at}.kind: 'account' or 's3-compatible'`);
  }
}

/** The parameter's list, checked as far as the grants depend on it. */
function parse(raw) {
  const text = String(raw ?? '').trim();
  if (!text) return [];
  let list;
  try {
    list = JSON.parse(text);
  } catch {
    throw new Error('--param isolatedVaults: not JSON (a list of isolated vaults)');
  }
  if (!Array.isArray(list)) throw new Error('--param isolatedVaults: not a JSON list');
  const names = new Set();
  for (const [i, v] of list.entries()) {
    const at = `--param isolatedVaults[${i}]`;
    if (!NAME.test(String(v?.name))) throw new Error(`${at}.name: lowercase letters, digits and dashes`);
    if (names.has(v.name)) throw new Error(`${at}.name: '${v.name}' repeats`);
    names.add(v.name);
    check(v, at);
  }
  return list;
}

/** An identity policy on `roles` with the statements that have resources; none when none has. */
function policy(name, roles, statements) {
  const used = statements.filter((s) => s.Resource.length > 0);
  if (used.length === 0) return {};
  return {
    [name]: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: name,
        Roles: roles.map((r) => ({ Ref: r })),
        PolicyDocument: { Version: '2012-10-17', Statement: used },
      },
    },
  };
}

module.exports = async ({ resolveVariable }) => {
  const vaults = parse(await resolveVariable('param:isolatedVaults'));
  const accounts = vaults.filter((v) => v.kind === 'account');
  const secrets = vaults.filter((v) => v.kind === 's3-compatible').map((v) => v.credentialsSecretArn);
  const readSecrets = {
    Sid: 'ReadIsolatedProviderCredentials',
    Effect: 'Allow',
    Action: 'secretsmanager:GetSecretValue',
    Resource: secrets,
  };
  return {
    environment: vaults.length > 0 ? JSON.stringify(vaults) : '',
    // Merged into serverless.yml's resources.
    resources: {
      Resources: {
        ...policy(
          'IsolatedVaultCopyPolicy',
          ['CopyRole'],
          [
            {
              Sid: 'AssumeIsolatedCopyRole',
              Effect: 'Allow',
              Action: 'sts:AssumeRole',
              Resource: accounts.map((v) => v.copyRoleArn),
            },
            readSecrets,
          ],
        ),
        ...policy('IsolatedVaultReadPolicy', READER_ROLES, [
          {
            Sid: 'AssumeIsolatedReaderRole',
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Resource: accounts.map((v) => v.readerRoleArn),
          },
          readSecrets,
        ]),
      },
    },
  };
};
