// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are CloudFormation Fn::Sub templates
// How the embedded stack resolves the CloudFormation intrinsics serverless.yml's environment uses.
import { describe, expect, it } from 'vitest';
import { type LocalRefs, localPseudoParameters, resolveIntrinsics } from '#local/serverless-config.ts';

const refs: LocalRefs = {
  ref: {
    ...localPseudoParameters('us-east-1', 'strongbox-local'),
    VaultBucket: 'strongbox-local-vault-000000000000-us-east-1',
    SnapshotQueue: 'http://127.0.0.1:4566/000000000000/strongbox-local-snapshot',
    VaultKey: '',
  },
  arn: { SnapshotQueue: 'arn:aws:sqs:us-east-1:000000000000:strongbox-local-snapshot', VaultKey: '' },
};

describe('resolveIntrinsics', () => {
  it('resolves Ref and Fn::GetAtt … Arn of local resources and pseudo parameters', () => {
    expect(resolveIntrinsics({ Ref: 'SnapshotQueue' }, refs)).toBe(refs.ref.SnapshotQueue);
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['SnapshotQueue', 'Arn'] }, refs)).toBe(refs.arn.SnapshotQueue);
    expect(resolveIntrinsics({ Ref: 'AWS::AccountId' }, refs)).toBe('000000000000');
  });

  it('resolves a KMS key to an empty string, so the functions use the local key file', () => {
    expect(resolveIntrinsics({ STRONGBOX_KMS_KEY_ID: { 'Fn::GetAtt': ['VaultKey', 'Arn'] } }, refs)).toEqual({
      STRONGBOX_KMS_KEY_ID: '',
    });
  });

  it('substitutes pseudo parameters, resources, attributes, variables and literals in Fn::Sub', () => {
    expect(
      resolveIntrinsics({ 'Fn::Sub': 'eu-west-1=strongbox-local-vault-${AWS::AccountId}-eu-west-1' }, refs),
    ).toBe('eu-west-1=strongbox-local-vault-000000000000-eu-west-1');
    expect(resolveIntrinsics({ 'Fn::Sub': '${VaultBucket}/${SnapshotQueue.Arn}/${!Literal}' }, refs)).toBe(
      `${refs.ref.VaultBucket}/${refs.arn.SnapshotQueue}/\${Literal}`,
    );
    expect(
      resolveIntrinsics({ 'Fn::Sub': ['${A}-${AWS::Region}', { A: { Ref: 'VaultBucket' } }] }, refs),
    ).toBe(`${refs.ref.VaultBucket}-us-east-1`);
  });

  it('joins Fn::Join lists', () => {
    expect(resolveIntrinsics({ 'Fn::Join': [',', ['a', { Ref: 'AWS::Region' }]] }, refs)).toBe('a,us-east-1');
  });

  it('names what it cannot resolve', () => {
    expect(() => resolveIntrinsics({ Ref: 'AlarmTopic' }, refs)).toThrow(
      'serverless.yml: cannot resolve { Ref: AlarmTopic } locally',
    );
    expect(() => resolveIntrinsics({ 'Fn::Sub': '${Dashboard.Name}' }, refs)).toThrow(
      'cannot resolve { Fn::GetAtt: [Dashboard, Name] } locally',
    );
  });
});
