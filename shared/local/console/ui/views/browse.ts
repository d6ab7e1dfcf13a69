/// <reference lib="dom" />
/**
 * The tree browser: any snapshot (an id or latest) or any point in time (ISO-8601) of a plan, one
 * folder at a time, with links to restore a folder or an object through the wizard.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Timeline, TreeLevel, TreeSource } from '../../api-types.ts';
import { query, useApi } from '../client.ts';
import {
  formatBytes,
  formatCount,
  formatTime,
  go,
  href,
  LoadState,
  PlanSelect,
  TextField,
  usePlanIds,
} from '../common.ts';

/** Which tree was read, in words (as `strongbox ls` says it). */
export function describeSource(s: TreeSource): string {
  const at = s.pointInTime
    ? ` as of ${formatTime(s.pointInTime.at)} (${s.pointInTime.changes} journaled change(s) since it)`
    : '';
  return `snapshot ${s.snapshot.snapshotId}${at} of plan ${s.planId} (${s.region})`;
}

/** A datalist of `latest` and a plan's committed snapshots, for the "snapshot or time" fields. */
export function SnapshotOptions({ id, plan }: { id: string; plan: string }): VNode {
  const loaded = useApi<Timeline>(plan ? `/api/plans/${encodeURIComponent(plan)}/timeline` : undefined);
  const ids = (loaded.data?.snapshots ?? []).filter((s) => s.status === 'COMMITTED').map((s) => s.snapshotId);
  return html`<datalist id=${id}><option value="latest"></option>${ids.reverse().map((s) => html`<option value=${s}></option>`)}</datalist>`;
}

function Breadcrumbs({ prefix, open }: { prefix: string; open: (prefix: string) => void }): VNode {
  const parts = prefix.split('/').filter((p) => p !== '');
  const crumbs = [
    { label: 'root', prefix: '' },
    ...parts.map((p, i) => ({ label: `${p}/`, prefix: `${parts.slice(0, i + 1).join('/')}/` })),
  ];
  return html`<nav aria-label="Folder path"><ol class="crumbs">${crumbs.map(
    (c, i) =>
      html`<li>${
        i === crumbs.length - 1
          ? html`<span aria-current="location">${c.label}</span>`
          : html`<button type="button" class="link" onClick=${() => open(c.prefix)}>${c.label}</button>`
      }</li>`,
  )}</ol></nav>`;
}

function Level({
  level,
  plan,
  at,
  open,
}: {
  level: TreeLevel;
  plan: string;
  at: string;
  open: (prefix: string) => void;
}): VNode {
  return html`
    <p>${formatCount(level.objects)} object(s), ${formatBytes(level.bytes)} under <code>${level.prefix || '/'}</code> in ${describeSource(level.source)}.${' '}
      ${level.objects > 0 ? html`<a href=${href('restore', { plan, at, prefix: level.prefix })}>Restore ${level.prefix ? 'this folder' : 'everything'}…</a>` : null}</p>
    <${Breadcrumbs} prefix=${level.prefix} open=${open} />
    <table>
      <caption>Contents of ${level.prefix || 'the root'}${level.truncated ? ` (the first ${level.files.length} objects)` : ''}</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Last modified</th><th scope="col">ETag</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>
        ${level.folders.map(
          (f) => html`<tr key=${f.prefix}>
            <th scope="row"><button type="button" class="link" onClick=${() => open(f.prefix)} aria-label=${`Open folder ${f.name}`}>${f.name}</button></th>
            <td class="num">${formatBytes(f.bytes)} in ${formatCount(f.objects)} object(s)</td><td>-</td><td>-</td>
            <td><a href=${href('restore', { plan, at, prefix: f.prefix })} aria-label=${`Restore folder ${f.name}`}>Restore…</a></td>
          </tr>`,
        )}
        ${level.files.map(
          (e) => html`<tr key=${e.key}>
            <th scope="row">${e.key.slice(level.prefix.length)}</th>
            <td class="num">${formatBytes(e.sizeBytes)}</td><td>${formatTime(e.lastModified)}</td><td><code>${e.etag}</code></td>
            <td><a href=${href('restore', { plan, at, keys: e.key })} aria-label=${`Restore ${e.key}`}>Restore…</a></td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}

/** `#/browse?plan&at&prefix&region`. */
export function BrowseView({ params }: { params: URLSearchParams }): VNode {
  const plans = usePlanIds();
  const plan = params.get('plan') ?? '';
  const at = params.get('at') ?? '';
  const prefix = params.get('prefix') ?? '';
  const region = params.get('region') ?? '';
  const [form, setForm] = useState({ plan, at, prefix, region });
  // A link or a folder opened: the form shows what is shown.
  useEffect(() => setForm({ plan, at, prefix, region }), [plan, at, prefix, region]);
  const chosen = form.plan || plans[0] || '';
  const loaded = useApi<TreeLevel>(plan ? `/api/tree?${query({ plan, at, prefix, region })}` : undefined);
  const open = (p: string) => go('browse', { plan, at, prefix: p, region });
  return html`<section aria-labelledby="browse-title">
    <h2 id="browse-title" tabindex="-1">Browse</h2>
    <form class="fields" onSubmit=${(e: Event) => {
      e.preventDefault();
      go('browse', { ...form, plan: chosen });
    }}>
      <${PlanSelect} id="browse-plan" value=${chosen} plans=${plans} onChange=${(p: string) => setForm((f) => ({ ...f, plan: p }))} />
      <${TextField} id="browse-at" label="Snapshot or time" value=${form.at} list="browse-snapshots"
        hint="A snapshot id, latest (the default), or an ISO-8601 time such as 2026-12-01T10:00:00Z"
        onInput=${(v: string) => setForm((f) => ({ ...f, at: v }))} />
      <${SnapshotOptions} id="browse-snapshots" plan=${chosen} />
      <${TextField} id="browse-prefix" label="Prefix" value=${form.prefix} hint="Only keys under this prefix, e.g. photos/2026/"
        onInput=${(v: string) => setForm((f) => ({ ...f, prefix: v }))} />
      <${TextField} id="browse-region" label="Region" value=${form.region} hint="A copy region's vault; empty: the primary"
        onInput=${(v: string) => setForm((f) => ({ ...f, region: v }))} />
      <button type="submit">Open</button>
    </form>
    ${plan ? html`<${LoadState} loaded=${loaded} what="the tree" />` : null}
    ${loaded.data ? html`<${Level} level=${loaded.data} plan=${plan} at=${at} open=${open} />` : null}
  </section>`;
}
