/// <reference lib="dom" />
/**
 * The task queues' dead-letter queues: how many messages each holds, each message's task and the
 * reason it failed, and a redrive (after a confirmation) that moves them back to their task queue.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type {
  DeadLetterList,
  DeadLetterOverview,
  DeadLetterQueueState,
  RedriveResult,
} from '../../api-types.ts';
import { api, useApi } from '../client.ts';
import { ErrorLine, formatCount, formatTime, LoadState } from '../common.ts';

function Letters({ queue }: { queue: string }): VNode {
  const loaded = useApi<DeadLetterList>(`/api/dlqs/${queue}?max=50`);
  const letters = loaded.data?.letters ?? [];
  return html`<div id=${`letters-${queue}`}>
    <${LoadState} loaded=${loaded} what=${`the ${queue} DLQ's messages`} />
    ${
      loaded.data && letters.length === 0
        ? html`<p>The ${queue} DLQ holds no message now.</p>`
        : letters.length > 0
          ? html`<table>
      <caption>Messages in the ${queue} DLQ (read without removing them)</caption>
      <thead><tr><th scope="col">Task</th><th scope="col">Of</th><th scope="col">Reason</th><th scope="col">Receives</th><th scope="col">Sent</th><th scope="col">Message id</th></tr></thead>
      <tbody>${letters.map(
        (l) => html`<tr key=${l.messageId}>
          <th scope="row">${l.kind ?? 'not a task'}</th>
          <td>${l.subject ?? html`<code>${l.body.slice(0, 80)}</code>`}</td>
          <td class="reason">${l.reason}</td>
          <td class="num">${l.receives}</td>
          <td>${formatTime(l.sentAt)}</td>
          <td><code>${l.messageId}</code></td>
        </tr>`,
      )}</tbody>
    </table>`
          : null
    }
  </div>`;
}

function QueueRow({
  q,
  shown,
  onShow,
  onRedrive,
}: {
  q: DeadLetterQueueState;
  shown: boolean;
  onShow: () => void;
  onRedrive: () => void;
}): VNode {
  return html`<tr>
    <th scope="row">${q.queue}</th>
    <td><code>${q.dlqName}</code></td>
    <td class="num">${formatCount(q.messages)}</td>
    <td class="num">${formatCount(q.inFlight)}</td>
    <td>
      <button type="button" aria-expanded=${shown} aria-controls=${`letters-${q.queue}`} onClick=${onShow}
        aria-label=${`${shown ? 'Hide' : 'Show'} the messages of the ${q.queue} DLQ`}>${shown ? 'Hide messages' : 'Show messages'}</button>
      <button type="button" disabled=${q.messages + q.inFlight === 0} onClick=${onRedrive}
        aria-label=${`Redrive the ${q.queue} DLQ`}>Redrive…</button>
    </td>
  </tr>`;
}

/** `#/dlq`. */
export function DeadLettersView(): VNode {
  const loaded = useApi<DeadLetterOverview>('/api/dlqs', 5000);
  const [shown, setShown] = useState<string | undefined>();
  const [confirming, setConfirming] = useState<DeadLetterQueueState | undefined>();
  const [outcome, setOutcome] = useState<{ text?: string; error?: string }>({});
  const [busy, setBusy] = useState(false);
  const confirmButton = useRef<HTMLButtonElement>(null);
  // The question asked: the focus goes to its answer.
  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
  }, [confirming?.queue]);
  const redrive = async (q: DeadLetterQueueState) => {
    setBusy(true);
    try {
      const r = await api<RedriveResult>(`/api/dlqs/${q.queue}/redrive`, { max: 1000 });
      const failed = r.failed.length
        ? `; ${r.failed.length} left in the DLQ: ${r.failed.map((f) => f.reason).join('; ')}`
        : '';
      setOutcome({ text: `Moved ${r.moved} message(s) back to the ${r.queue} queue${failed}.` });
      setShown(undefined);
    } catch (error) {
      setOutcome({ error: `Redrive of the ${q.queue} DLQ failed: ${(error as Error).message}` });
    } finally {
      setBusy(false);
      setConfirming(undefined);
      loaded.reload();
    }
  };
  const queues = loaded.data?.queues ?? [];
  return html`<section aria-labelledby="dlq-title">
    <h2 id="dlq-title" tabindex="-1">Dead letters</h2>
    <p>Tasks each queue gave up on: poison messages at once (with their reason), others after their last retry
    (the reason is the failure their job recorded). A redrive sends them back to their task queue to run again.</p>
    <${LoadState} loaded=${loaded} what="the dead-letter queues" />
    <p role="status">${outcome.text ?? ''}</p>
    <${ErrorLine} error=${outcome.error} />
    ${
      confirming
        ? html`<div class="confirm" role="group" aria-labelledby="redrive-question">
      <p id="redrive-question">Move the messages of the ${confirming.queue} DLQ (${formatCount(confirming.messages)} waiting${confirming.inFlight ? `, ${formatCount(confirming.inFlight)} being read` : ''}) back to the ${confirming.queue} queue? Each task runs again.</p>
      <button type="button" ref=${confirmButton} disabled=${busy} onClick=${() => redrive(confirming)}>Confirm redrive</button>
      <button type="button" disabled=${busy} onClick=${() => setConfirming(undefined)}>Cancel</button>
    </div>`
        : null
    }
    ${
      queues.length > 0
        ? html`<table>
      <caption>Dead-letter queue of each task queue</caption>
      <thead><tr><th scope="col">Task queue</th><th scope="col">DLQ</th><th scope="col">Messages</th><th scope="col">In flight</th><th scope="col">Actions</th></tr></thead>
      <tbody>${queues.map(
        (q) => html`<${QueueRow} key=${q.queue} q=${q} shown=${shown === q.queue}
          onShow=${() => setShown(shown === q.queue ? undefined : q.queue)}
          onRedrive=${() => setConfirming(q)} />`,
      )}</tbody>
    </table>`
        : null
    }
    ${shown ? html`<${Letters} key=${shown} queue=${shown} />` : null}
  </section>`;
}
