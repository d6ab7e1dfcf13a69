/// <reference lib="dom" />
/**
 * Search across time (`strongbox find`: every version of the keys matching a glob, in every snapshot
 * and the journal) and diff (`strongbox diff`: what changed between two snapshots or times).
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import type { DiffResult, FindResult, TreeChange } from '../../api-types.ts';
import { api, query } from '../client.ts';
import { ErrorLine, formatBytes, formatTime, href, PlanSelect, TextField, usePlanIds } from '../common.ts';
import { describeSource, SnapshotOptions } from './browse.ts';

function sighting(s: { in: string; time: string }): string {
  return `${formatTime(s.time)} (${s.in === 'journal' ? 'journal' : `snapshot ${s.in}`})`;
}

function FindResults({ result, plan }: { result: FindResult; plan: string }): VNode {
  const keys = [...new Set(result.versions.map((v) => v.key))];
  return html`<div>
    <p role="status">${result.versions.length} version(s) of ${keys.length} key(s); searched ${result.snapshotsSearched} snapshot(s),
      read ${result.partsRead} manifest part(s) (${result.partsSkipped} skipped) and ${result.journalEntriesSearched} journal entries.</p>
    ${keys.length > 0 ? html`<p><a href=${href('restore', { plan, keys: keys.join('\n') })}>Restore these ${keys.length} key(s)…</a></p>` : null}
    ${
      result.versions.length > 0
        ? html`<table>
      <caption>Versions found, by key, then by when first seen</caption>
      <thead><tr><th scope="col">Key</th><th scope="col">Size</th><th scope="col">ETag</th><th scope="col">First seen</th>
        <th scope="col">Last seen</th><th scope="col">Snapshots</th><th scope="col">Captures</th></tr></thead>
      <tbody>${result.versions.map(
        (v) => html`<tr key=${`${v.key} ${v.etag}`}>
          <th scope="row">${v.key}</th><td class="num">${formatBytes(v.sizeBytes)}</td><td><code>${v.etag}</code></td>
          <td>${sighting(v.firstSeen)}</td><td>${sighting(v.lastSeen)}</td>
          <td class="num">${v.snapshots}</td><td class="num">${v.captures}</td>
        </tr>`,
      )}</tbody>
    </table>`
        : null
    }
  </div>`;
}

function FindForm({ plans, initialPlan }: { plans: string[]; initialPlan: string }): VNode {
  const [form, setForm] = useState({ plan: initialPlan, pattern: '', since: '', until: '', size: '' });
  const [state, setState] = useState<{ result?: FindResult; error?: string; busy?: boolean }>({});
  const plan = form.plan || plans[0] || '';
  const submit = async (e: Event) => {
    e.preventDefault();
    setState({ busy: true });
    try {
      setState({ result: await api<FindResult>(`/api/find?${query({ ...form, plan })}`) });
    } catch (error) {
      setState({ error: (error as Error).message });
    }
  };
  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  return html`<section aria-labelledby="find-title">
    <h3 id="find-title">Find every version</h3>
    <form class="fields" onSubmit=${submit} aria-labelledby="find-title">
      <${PlanSelect} id="find-plan" value=${plan} plans=${plans} onChange=${set('plan')} />
      <${TextField} id="find-pattern" label="Pattern" value=${form.pattern} required=${true}
        hint="A glob over the keys (** crosses /), e.g. photos/**/*.jpg, or one key" onInput=${set('pattern')} />
      <${TextField} id="find-since" label="Since" value=${form.since} hint="Optional ISO-8601 time" onInput=${set('since')} />
      <${TextField} id="find-until" label="Until" value=${form.until} hint="Optional ISO-8601 time" onInput=${set('until')} />
      <${TextField} id="find-size" label="Size" value=${form.size} hint="Optional: N exactly, +N at least, -N at most (K, M, G)" onInput=${set('size')} />
      <button type="submit" disabled=${state.busy}>Search</button>
    </form>
    ${state.busy ? html`<p role="status">Searching…</p>` : null}
    <${ErrorLine} error=${state.error} />
    ${state.result ? html`<${FindResults} result=${state.result} plan=${plan} />` : null}
  </section>`;
}

function changeCells(c: TreeChange): [string, string] {
  if (c.change === 'added') return ['-', formatBytes(c.after.sizeBytes)];
  if (c.change === 'removed') return [formatBytes(c.before.sizeBytes), '-'];
  return [formatBytes(c.before.sizeBytes), formatBytes(c.after.sizeBytes)];
}

function DiffForm({ plans, initialPlan }: { plans: string[]; initialPlan: string }): VNode {
  const [form, setForm] = useState({ plan: initialPlan, a: '', b: 'latest', prefix: '' });
  const [state, setState] = useState<{ result?: DiffResult; error?: string; busy?: boolean }>({});
  const plan = form.plan || plans[0] || '';
  const submit = async (e: Event) => {
    e.preventDefault();
    setState({ busy: true });
    try {
      setState({ result: await api<DiffResult>(`/api/diff?${query({ ...form, plan })}`) });
    } catch (error) {
      setState({ error: (error as Error).message });
    }
  };
  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  const r = state.result;
  return html`<section aria-labelledby="diff-title">
    <h3 id="diff-title">Diff</h3>
    <form class="fields" onSubmit=${submit} aria-labelledby="diff-title">
      <${PlanSelect} id="diff-plan" value=${plan} plans=${plans} onChange=${set('plan')} />
      <${TextField} id="diff-a" label="From" value=${form.a} required=${true} list="diff-snapshots"
        hint="A snapshot id, latest, or an ISO-8601 time" onInput=${set('a')} />
      <${TextField} id="diff-b" label="To" value=${form.b} required=${true} list="diff-snapshots"
        hint="A snapshot id, latest, or an ISO-8601 time" onInput=${set('b')} />
      <${SnapshotOptions} id="diff-snapshots" plan=${plan} />
      <${TextField} id="diff-prefix" label="Prefix" value=${form.prefix} hint="Optional: only keys under it" onInput=${set('prefix')} />
      <button type="submit" disabled=${state.busy}>Compare</button>
    </form>
    ${state.busy ? html`<p role="status">Comparing…</p>` : null}
    <${ErrorLine} error=${state.error} />
    ${
      r
        ? html`<p role="status">${r.counts.added} added, ${r.counts.removed} removed, ${r.counts.modified} modified from ${describeSource(r.a)} to ${describeSource(r.b)}${' '}
        (${r.sharedParts} manifest part(s) shared, not read).</p>
      ${
        r.changes.length > 0
          ? html`<table>
        <caption>Changes in key order${r.truncated ? ` (the first ${r.changes.length})` : ''}</caption>
        <thead><tr><th scope="col">Key</th><th scope="col">Change</th><th scope="col">Size before</th><th scope="col">Size after</th></tr></thead>
        <tbody>${r.changes.map((c) => {
          const [before, after] = changeCells(c);
          return html`<tr key=${c.key}><th scope="row">${c.key}</th><td>${c.change}</td><td class="num">${before}</td><td class="num">${after}</td></tr>`;
        })}</tbody>
      </table>`
          : null
      }`
        : null
    }
  </section>`;
}

/** `#/search?plan`. */
export function SearchView({ params }: { params: URLSearchParams }): VNode {
  const plans = usePlanIds();
  const plan = params.get('plan') ?? '';
  return html`<section aria-labelledby="search-title">
    <h2 id="search-title" tabindex="-1">Search and diff</h2>
    <${FindForm} plans=${plans} initialPlan=${plan} />
    <${DiffForm} plans=${plans} initialPlan=${plan} />
  </section>`;
}
