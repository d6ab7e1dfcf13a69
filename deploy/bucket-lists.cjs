// Turns the comma-separated bucket parameters of serverless.yml into what the template needs: the
// S3 notifications that feed capture and the ARNs the function roles may touch. Serverless v3
// variables cannot split a string, so serverless.yml reads this file once:
//   custom.buckets: ${file(./deploy/bucket-lists.cjs)}
// It runs inside `osls print` / `osls package` (offline) and the embedded stack's config reader.
//
// Notifications on existing buckets: osls's `existing: true` S3 event adds capture's notification
// configurations to a bucket and keeps every other one it finds there, but accepts one bucket per
// function. So the first protected bucket is capture's `existing` event, and each further bucket
// gets the same custom resource (same handler, same properties) written out here.
'use strict';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Uploads, deletes, and the deletes S3 Lifecycle makes (expirations are not ObjectRemoved events).
const CAPTURED_EVENTS = ['s3:ObjectCreated:*', 's3:ObjectRemoved:*', 's3:LifecycleExpiration:*'];
// osls's logical ids of capture's function and of its existing-bucket notification handler.
const CAPTURE_FUNCTION = 'CaptureLambdaFunction';
const NOTIFICATION_HANDLER = 'CustomDashresourceDashexistingDashs3LambdaFunction';

/** `'a, b,,c'` → `['a', 'b', 'c']`, every entry a valid bucket name, at least one. */
function bucketList(parameter, raw) {
  const names = [
    ...new Set(
      String(raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  if (names.length === 0) throw new Error(`--param ${parameter} must name at least one bucket`);
  for (const name of names) {
    if (!BUCKET_NAME.test(name))
      throw new Error(`--param ${parameter}: '${name}' is not a valid bucket name`);
  }
  return names;
}

const bucketArn = (name) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${name}` });
const objectsArn = (name) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${name}/*` });

module.exports = async ({ resolveVariable }) => {
  const protectedBuckets = bucketList('protectedBuckets', await resolveVariable('param:protectedBuckets'));
  const restoreBuckets = bucketList('restoreBuckets', await resolveVariable('param:restoreBuckets'));
  // Restore drills' scratch bucket: the drillBucket parameter, or the first restore bucket.
  const drillParam = String((await resolveVariable('param:drillBucket')) ?? '').trim();
  const [drillBucket] = drillParam ? bucketList('drillBucket', drillParam) : restoreBuckets;
  const service = await resolveVariable('self:service');
  const stage = await resolveVariable('sls:stage');
  const [first, ...others] = protectedBuckets;
  return {
    protectedBuckets,
    restoreBuckets,
    captureEvents: CAPTURED_EVENTS.map((event) => ({ s3: { bucket: first, event, existing: true } })),
    // Merged into serverless.yml's resources (osls names its own resource CaptureCustomS31).
    moreCaptureNotifications: {
      Resources: Object.fromEntries(
        others.map((bucket, i) => [
          `CaptureCustomS3${i + 2}`,
          {
            Type: 'Custom::S3',
            DependsOn: [CAPTURE_FUNCTION, NOTIFICATION_HANDLER],
            Properties: {
              ServiceToken: { 'Fn::GetAtt': [NOTIFICATION_HANDLER, 'Arn'] },
              FunctionName: `${service}-${stage}-capture`,
              BucketName: bucket,
              BucketConfigs: CAPTURED_EVENTS.map((event) => ({ Event: event, Rules: [] })),
            },
          },
        ]),
      ),
    },
    protectedBucketArns: protectedBuckets.map(bucketArn),
    protectedObjectArns: protectedBuckets.map(objectsArn),
    restoreBucketArns: restoreBuckets.map(bucketArn),
    restoreObjectArns: restoreBuckets.map(objectsArn),
    drillBucket,
    // The drill role may write and delete only its scratch prefix.
    drillScratchArn: { 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${drillBucket}/strongbox-drill/*` },
  };
};
