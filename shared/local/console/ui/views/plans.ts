/// <reference lib="dom" />
/** The plans: each one's source, schedule, newest snapshot and recovery point against its RPO. */

import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { sourceUriOf } from '#domain/plan.ts';
import type { Overview, PlanSummary } from '../../api-types.ts';
import { useApi } from '../client.ts';
import { formatAge, formatTime, href, LoadState, Status } from '../common.ts';

/** The recovery point in words: `within RPO`, `RPO exceeded`, `no RPO set`, `no snapshot yet`. */
export function rpoState(p: PlanSummary): { text: string; tone: string } {
  const r = p.recoveryPoint;
  if (r.rpoMinutes === undefined)
    return { text: r.newestSnapshotTime ? 'no RPO set' : 'no snapshot yet, no RPO set', tone: 'muted' };
  if (r.exceeded) return { text: 'RPO exceeded', tone: 'bad' };
  return { text: r.newestSnapshotTime ? 'within RPO' : 'no snapshot yet, within RPO', tone: 'ok' };
}

function PlanRow({ p }: { p: PlanSummary }): VNode {
  const r = p.recoveryPoint;
  const state = rpoState(p);
  const counts = Object.entries(p.snapshots)
    .map(([status, n]) => `${n} ${status.toLowerCase()}`)
    .join(', ');
  return html`<tr>
    <th scope="row"><a href=${href(`timeline/${encodeURIComponent(p.plan.id)}`)}>${p.plan.id}</a>${p.plan.enabled ? '' : ' (disabled)'}</th>
    <td><code>${sourceUriOf(p.plan.source)}</code></td>
    <td><code>${p.plan.schedule}</code></td>
    <td>${p.newest ? html`${formatTime(p.newest.time ?? p.newest.scheduledAt)} <${Status} status=${p.newest.status} />` : 'none'}</td>
    <td>${r.newestSnapshotTime ? formatAge(r.ageMinutes) : `${formatAge(r.ageMinutes)} since the plan was applied`}</td>
    <td>${r.rpoMinutes === undefined ? '-' : `${r.rpoMinutes} min`}</td>
    <td><span class=${`status ${state.tone}`}>${state.text}</span></td>
    <td>${counts || 'none'}</td>
    <td>${p.plan.copyRegions.join(', ') || 'none'}</td>
  </tr>`;
}

/** `#/plans`: the plans table, read again every 10 s. */
export function PlansView(): VNode {
  const loaded = useApi<Overview>('/api/overview', 10_000);
  const plans = loaded.data?.plans ?? [];
  return html`<section aria-labelledby="plans-title">
    <h2 id="plans-title" tabindex="-1">Plans</h2>
    <${LoadState} loaded=${loaded} what="the plans" />
    ${
      loaded.data && plans.length === 0
        ? html`<p>No plans yet: apply some with <code>strongbox plans apply FILE</code>.</p>`
        : null
    }
    ${
      plans.length > 0
        ? html`<table>
      <caption>Recovery point of each plan against its RPO, at ${formatTime(loaded.data?.now)}</caption>
      <thead><tr>
        <th scope="col">Plan</th><th scope="col">Source</th><th scope="col">Schedule</th>
        <th scope="col">Newest snapshot</th><th scope="col">Recovery point age</th><th scope="col">RPO</th>
        <th scope="col">RPO state</th><th scope="col">Snapshots</th><th scope="col">Copy regions</th>
      </tr></thead>
      <tbody>${plans.map((p) => html`<${PlanRow} key=${p.plan.id} p=${p} />`)}</tbody>
    </table>`
        : null
    }
  </section>`;
}
