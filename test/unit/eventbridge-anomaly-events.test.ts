// The detector's announcements on EventBridge, against a mocked EventBridgeClient: one PutEvents
// entry on the default bus, source strongbox, detail-type 'Strongbox Anomaly Detected'.
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ANOMALY_DETAIL_TYPE,
  ANOMALY_EVENT_SOURCE,
  EventBridgeAnomalyEvents,
  LoggedAnomalyEvents,
} from '#adapters/eventbridge-anomaly-events.ts';
import type { AnomalyEvent } from '#domain/detector/run.ts';
import { isRetryable, TransientError } from '#domain/errors.ts';

const eventbridge = mockClient(EventBridgeClient);
const event: AnomalyEvent = {
  finding: {
    planId: 'photos',
    kind: 'encryptedOverwrites',
    firstSeenAt: '2026-12-06T03:41:00.000Z',
    lastSeenAt: '2026-12-06T03:41:30.000Z',
    count: 412,
    peakPerMinute: 412,
    baseline: 0,
    threshold: 50,
    windowMinutes: 5,
  },
  summary: 'plan photos: encrypted overwrites 412 in 5 min …',
  quarantine: { since: '2026-12-06T03:40:00.000Z', by: 'detector', heldSnapshotId: '20261206T030000Z' },
};

beforeEach(() => {
  eventbridge.reset();
});

describe('EventBridgeAnomalyEvents', () => {
  it('puts one entry on the default bus with the finding as detail', async () => {
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    await new EventBridgeAnomalyEvents(new EventBridgeClient({ region: 'us-east-1' }), {
      stage: 'prod',
    }).publish(event);
    const [call] = eventbridge.commandCalls(PutEventsCommand);
    const [entry] = call?.args[0].input.Entries ?? [];
    expect(entry).toMatchObject({ Source: ANOMALY_EVENT_SOURCE, DetailType: ANOMALY_DETAIL_TYPE });
    expect(ANOMALY_DETAIL_TYPE).toBe('Strongbox Anomaly Detected');
    expect(entry?.EventBusName).toBeUndefined(); // the default bus
    expect(JSON.parse(entry?.Detail ?? '{}')).toEqual({ ...event, stage: 'prod' });
  });

  it('fails retryably when the bus refuses the entry or the call fails', async () => {
    const events = new EventBridgeAnomalyEvents(new EventBridgeClient({ region: 'us-east-1' }));
    eventbridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });
    const refused = await events.publish(event).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TransientError);
    expect(String(refused)).toMatch(/InternalFailure: try again/);
    eventbridge.on(PutEventsCommand).rejects(new Error('socket hang up'));
    expect(isRetryable(await events.publish(event).catch((e: unknown) => e))).toBe(true);
  });
});

describe('LoggedAnomalyEvents', () => {
  it('writes the event it would put as one log line (the embedded stack has no EventBridge)', async () => {
    const lines: unknown[][] = [];
    await new LoggedAnomalyEvents((...args) => void lines.push(args)).publish(event);
    expect(lines).toEqual([[ANOMALY_DETAIL_TYPE, { source: ANOMALY_EVENT_SOURCE, detail: event }]]);
  });
});
