/**
 * {@link AnomalyEvents} on Amazon EventBridge: one `PutEvents` entry per finding on the account's
 * default event bus, source `strongbox`, detail-type `Strongbox Anomaly Detected`, the
 * {@link AnomalyEvent} as detail. A rule on the bus routes it (SNS, a pager, a SOAR playbook).
 * The embedded stack has no EventBridge: {@link LoggedAnomalyEvents} writes the event as a log line.
 * @see https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 * @see ../../docs/format.md#detector
 */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
} from '@aws-sdk/client-eventbridge';
import type { AnomalyEvent, AnomalyEvents } from '#domain/detector/run.ts';
import { TransientError } from '#domain/errors.ts';

/** The event's `source`. */
export const ANOMALY_EVENT_SOURCE = 'strongbox';
/** The event's `detail-type`. */
export const ANOMALY_DETAIL_TYPE = 'Strongbox Anomaly Detected';

/**
 * Announce findings on an EventBridge bus (the default bus unless `busName`).
 * @example
 * ```ts
 * const events = new EventBridgeAnomalyEvents(new EventBridgeClient({}), { stage: 'prod' });
 * await events.publish({ finding, summary });
 * ```
 */
export class EventBridgeAnomalyEvents implements AnomalyEvents {
  readonly #client: EventBridgeClient;
  readonly #busName: string | undefined;
  readonly #stage: string | undefined;

  constructor(client: EventBridgeClient, options: { busName?: string; stage?: string } = {}) {
    this.#client = client;
    this.#busName = options.busName;
    this.#stage = options.stage;
  }

  /** @throws TransientError (retryable) when the call fails or the bus refused the entry. */
  async publish(event: AnomalyEvent): Promise<void> {
    let out: PutEventsCommandOutput;
    try {
      out = await this.#client.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: ANOMALY_EVENT_SOURCE,
              DetailType: ANOMALY_DETAIL_TYPE,
              Detail: JSON.stringify({ ...event, ...(this.#stage ? { stage: this.#stage } : {}) }),
              Resources: [],
              ...(this.#busName ? { EventBusName: this.#busName } : {}),
            },
          ],
        }),
      );
    } catch (error) {
      throw new TransientError(`PutEvents (anomaly of plan ${event.finding.planId}): ${String(error)}`, {
        cause: error,
      });
    }
    if (out.FailedEntryCount) {
      const entry = out.Entries?.[0];
      throw new TransientError(
        `PutEvents (anomaly of plan ${event.finding.planId}): ${entry?.ErrorCode ?? 'failed'}: ${entry?.ErrorMessage ?? ''}`,
      );
    }
  }
}

/** The embedded stack's {@link AnomalyEvents}: the event that would be put, as a warning log line. */
export class LoggedAnomalyEvents implements AnomalyEvents {
  readonly #log: (message: string, fields: Record<string, unknown>) => void;
  constructor(log: (message: string, fields: Record<string, unknown>) => void) {
    this.#log = log;
  }
  async publish(event: AnomalyEvent): Promise<void> {
    this.#log(ANOMALY_DETAIL_TYPE, { source: ANOMALY_EVENT_SOURCE, detail: event });
  }
}
